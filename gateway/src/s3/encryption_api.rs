//! GetBucketEncryption, PutBucketEncryption, DeleteBucketEncryption: a bucket's default
//! encryption for writes that ask for none.

use s3s::dto::*;
use s3s::{S3Error, S3ErrorCode, S3Request, S3Response, S3Result};

use super::encryption_request::{AES256, AWS_KMS};
use super::service::Gateway;
use crate::errors::{custom, from_kms};
use crate::kms::KeyRef;
use crate::model::BucketEncryption;

fn malformed() -> S3Error {
    S3Error::with_message(
        S3ErrorCode::MalformedXML,
        "The XML you provided was not well-formed or did not validate against our published schema",
    )
}

fn not_found() -> S3Error {
    custom(
        "ServerSideEncryptionConfigurationNotFoundError",
        http::StatusCode::NOT_FOUND,
        "The server side encryption configuration was not found",
    )
}

/// The one rule of a configuration, checked as AWS checks it.
pub fn parse(config: &ServerSideEncryptionConfiguration) -> S3Result<BucketEncryption> {
    let [rule] = config.rules.as_slice() else {
        return Err(malformed());
    };
    let by_default = rule
        .apply_server_side_encryption_by_default
        .as_ref()
        .ok_or_else(malformed)?;
    let kms = match by_default.sse_algorithm.as_str() {
        AES256 => false,
        AWS_KMS => true,
        _ => return Err(malformed()),
    };
    let key = by_default.kms_master_key_id.clone().filter(|k| !k.is_empty());
    if key.is_some() && !kms {
        return Err(S3Error::with_message(
            S3ErrorCode::InvalidArgument,
            "a KMSMasterKeyID is not applicable if the default sse algorithm is not aws:kms or aws:kms:dsse",
        ));
    }
    Ok(BucketEncryption {
        kms,
        kms_key_id: key,
        bucket_key_enabled: rule.bucket_key_enabled.unwrap_or(false),
    })
}

pub fn to_dto(e: &BucketEncryption) -> ServerSideEncryptionConfiguration {
    ServerSideEncryptionConfiguration {
        rules: vec![ServerSideEncryptionRule {
            apply_server_side_encryption_by_default: Some(ServerSideEncryptionByDefault {
                sse_algorithm: ServerSideEncryption::from_static(if e.kms { AWS_KMS } else { AES256 }),
                kms_master_key_id: e.kms_key_id.clone(),
            }),
            bucket_key_enabled: Some(e.bucket_key_enabled),
        }],
    }
}

impl Gateway {
    pub(super) async fn put_encryption(
        &self,
        req: S3Request<PutBucketEncryptionInput>,
    ) -> S3Result<S3Response<PutBucketEncryptionOutput>> {
        let input = req.input;
        let config = parse(&input.server_side_encryption_configuration)?;
        if let Some(k) = &config.kms_key_id {
            // A default that names a key nobody can use would fail every later write.
            let key = KeyRef::parse(k).map_err(from_kms)?;
            self.store.keys.describe(&key).await.map_err(from_kms)?;
        }
        self.store
            .set_bucket_encryption(&input.bucket, Some(config))
            .await?;
        Ok(S3Response::new(PutBucketEncryptionOutput::default()))
    }

    pub(super) async fn get_encryption(
        &self,
        req: S3Request<GetBucketEncryptionInput>,
    ) -> S3Result<S3Response<GetBucketEncryptionOutput>> {
        let bucket = self.store.bucket(&req.input.bucket).await?;
        let config = bucket.encryption.as_ref().ok_or_else(not_found)?;
        Ok(S3Response::new(GetBucketEncryptionOutput {
            server_side_encryption_configuration: Some(to_dto(config)),
        }))
    }

    pub(super) async fn delete_encryption(
        &self,
        req: S3Request<DeleteBucketEncryptionInput>,
    ) -> S3Result<S3Response<DeleteBucketEncryptionOutput>> {
        self.store.set_bucket_encryption(&req.input.bucket, None).await?;
        Ok(S3Response::new(DeleteBucketEncryptionOutput::default()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(
        algorithm: &'static str,
        key: Option<&str>,
        bucket_key: Option<bool>,
    ) -> ServerSideEncryptionConfiguration {
        ServerSideEncryptionConfiguration {
            rules: vec![ServerSideEncryptionRule {
                apply_server_side_encryption_by_default: Some(ServerSideEncryptionByDefault {
                    sse_algorithm: ServerSideEncryption::from_static(algorithm),
                    kms_master_key_id: key.map(str::to_owned),
                }),
                bucket_key_enabled: bucket_key,
            }],
        }
    }

    #[test]
    fn configurations_are_checked_as_aws_checks_them() {
        let aes = parse(&config("AES256", None, None)).unwrap();
        assert_eq!(
            aes,
            BucketEncryption {
                kms: false,
                kms_key_id: None,
                bucket_key_enabled: false
            }
        );
        let kms = parse(&config("aws:kms", Some("alias/app"), Some(true))).unwrap();
        assert!(kms.kms && kms.bucket_key_enabled);
        assert_eq!(to_dto(&kms).rules[0].bucket_key_enabled, Some(true));
        let code = |c| parse(&c).unwrap_err().code().as_str().to_owned();
        assert_eq!(code(config("AES128", None, None)), "MalformedXML");
        assert_eq!(code(config("AES256", Some("alias/app"), None)), "InvalidArgument");
        assert_eq!(
            code(ServerSideEncryptionConfiguration { rules: vec![] }),
            "MalformedXML"
        );
    }
}
