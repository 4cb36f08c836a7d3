//! Who may sign requests: the access keys the gateway knows and their secrets.

use std::collections::HashMap;

use s3s::auth::{S3Auth, SecretKey};
use s3s::{S3Error, S3ErrorCode, S3Result};

use crate::credentials::AccessKey;

pub struct KeyRing {
    secrets: HashMap<String, String>,
}

impl KeyRing {
    pub fn new(keys: impl IntoIterator<Item = AccessKey>) -> Self {
        Self {
            secrets: keys
                .into_iter()
                .map(|k| (k.access_key_id, k.secret_access_key))
                .collect(),
        }
    }
}

#[async_trait::async_trait]
impl S3Auth for KeyRing {
    async fn get_secret_key(&self, access_key: &str) -> S3Result<SecretKey> {
        self.secrets
            .get(access_key)
            .map(|s| SecretKey::from(s.clone()))
            .ok_or_else(|| {
                S3Error::with_message(
                    S3ErrorCode::InvalidAccessKeyId,
                    "The AWS Access Key Id you provided does not exist in our records.",
                )
            })
    }
}
