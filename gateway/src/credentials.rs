//! The root credentials: from the environment, or generated on first start and kept in the data
//! directory (mode 0600) so a restart keeps them.

use std::fs;
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use rand::Rng;
use rand::distr::Alphanumeric;
use serde::{Deserialize, Serialize};

const FILE_NAME: &str = "root-credentials.json";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AccessKey {
    pub access_key_id: String,
    pub secret_access_key: String,
}

pub enum Origin {
    Environment,
    Stored,
    Generated,
}

fn generate() -> AccessKey {
    let mut rng = rand::rng();
    let id: String = (0..20)
        .map(|_| rng.sample(Alphanumeric).to_ascii_uppercase() as char)
        .collect();
    let secret: String = (0..40).map(|_| rng.sample(Alphanumeric) as char).collect();
    AccessKey {
        access_key_id: id,
        secret_access_key: secret,
    }
}

/// Resolves the root key: `from_env` wins; else the stored file; else a new key is generated
/// and stored.
pub fn root(data_dir: &Path, from_env: Option<AccessKey>) -> io::Result<(AccessKey, Origin)> {
    if let Some(key) = from_env {
        return Ok((key, Origin::Environment));
    }
    let path = data_dir.join(FILE_NAME);
    match fs::read(&path) {
        Ok(raw) => {
            let key =
                serde_json::from_slice(&raw).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
            Ok((key, Origin::Stored))
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            let key = generate();
            let mut f = fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&path)?;
            f.write_all(&serde_json::to_vec_pretty(&key).map_err(io::Error::other)?)?;
            f.sync_all()?;
            Ok((key, Origin::Generated))
        }
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_key_is_stored_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let (first, origin) = root(dir.path(), None).unwrap();
        assert!(matches!(origin, Origin::Generated));
        assert_eq!(first.access_key_id.len(), 20);
        let (again, origin) = root(dir.path(), None).unwrap();
        assert!(matches!(origin, Origin::Stored));
        assert_eq!(first, again);
    }

    #[test]
    fn environment_wins() {
        let dir = tempfile::tempdir().unwrap();
        let env = AccessKey {
            access_key_id: "AK".into(),
            secret_access_key: "SK".into(),
        };
        let (key, origin) = root(dir.path(), Some(env.clone())).unwrap();
        assert!(matches!(origin, Origin::Environment));
        assert_eq!(key, env);
        assert!(!dir.path().join(FILE_NAME).exists());
    }
}
