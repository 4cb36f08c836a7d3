//! Naming a key as S3 clients do: a key id, `alias/<name>`, or either as an ARN
//! (`arn:aws:kms:<region>:<account>:key/<id>`, `...:alias/<name>`).

use super::KmsError;

/// The alias of the key `aws:kms` uses when neither the request nor the bucket names one (AWS's
/// managed `aws/s3` key); created on first use.
pub const DEFAULT_ALIAS: &str = "aws/s3";

/// The account ARNs name: the store's keys belong to the store, not to an org.
pub const ACCOUNT: &str = "000000000000";

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum KeyRef {
    /// The store's own key for SSE-S3; no client can name it.
    StoreSse,
    Id(String),
    Alias(String),
}

impl KeyRef {
    /// Parses a key named in a request or the admin API. Anything that is not an alias is taken
    /// for a key id (an unknown one is `NotFound` later, as in AWS).
    pub fn parse(text: &str) -> Result<Self, KmsError> {
        let text = text.trim();
        let name = match text.strip_prefix("arn:") {
            Some(arn) => {
                let parts: Vec<&str> = arn.splitn(5, ':').collect();
                match parts.as_slice() {
                    [_partition, "kms", _region, _account, resource] => *resource,
                    _ => return Err(KmsError::InvalidName(text.to_owned())),
                }
            }
            None => text,
        };
        if let Some(alias) = name.strip_prefix("alias/") {
            return valid_alias(alias).map(|a| Self::Alias(a.to_owned()));
        }
        let id = name.strip_prefix("key/").unwrap_or(name);
        if id.is_empty() || id.len() > 256 || text.starts_with("arn:") && !name.starts_with("key/") {
            return Err(KmsError::InvalidName(text.to_owned()));
        }
        Ok(Self::Id(id.to_owned()))
    }

    /// How a key is named in errors.
    pub fn display(&self) -> String {
        match self {
            Self::StoreSse => "the store's SSE-S3 key".to_owned(),
            Self::Id(id) => id.clone(),
            Self::Alias(a) => format!("alias/{a}"),
        }
    }
}

/// An alias name: what AWS allows (letters, digits, `/_-`), 1 to 256 characters.
pub fn valid_alias(name: &str) -> Result<&str, KmsError> {
    let ok = !name.is_empty()
        && name.len() <= 256
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'/' | b'_' | b'-'));
    ok.then_some(name)
        .ok_or_else(|| KmsError::InvalidName(format!("alias/{name}")))
}

/// The ARN a key is reported by (`x-amz-server-side-encryption-aws-kms-key-id`).
pub fn arn(region: &str, id: &str) -> String {
    format!("arn:aws:kms:{region}:{ACCOUNT}:key/{id}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_aliases_and_arns_name_keys() {
        let id = "1234abcd-12ab-34cd-56ef-1234567890ab";
        assert_eq!(KeyRef::parse(id).unwrap(), KeyRef::Id(id.into()));
        assert_eq!(
            KeyRef::parse(&arn("us-east-1", id)).unwrap(),
            KeyRef::Id(id.into())
        );
        assert_eq!(
            KeyRef::parse("alias/app-data").unwrap(),
            KeyRef::Alias("app-data".into())
        );
        assert_eq!(
            KeyRef::parse("arn:aws:kms:eu-west-1:111122223333:alias/app-data").unwrap(),
            KeyRef::Alias("app-data".into())
        );
        assert_eq!(
            KeyRef::parse("alias/aws/s3").unwrap(),
            KeyRef::Alias(DEFAULT_ALIAS.into())
        );
    }

    #[test]
    fn malformed_names_are_refused() {
        for bad in [
            "",
            "alias/",
            "alias/has space",
            "arn:aws:s3:::bucket",
            "arn:aws:kms:us-east-1:1:role/x",
        ] {
            assert!(KeyRef::parse(bad).is_err(), "{bad:?}");
        }
    }
}
