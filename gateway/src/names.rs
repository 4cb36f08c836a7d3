//! Validated names: bucket names (the seed's naming rules) and object keys, checked once at
//! the edge so the inside never re-validates.

use std::fmt;

/// S3 caps object keys at 1,024 bytes of UTF-8.
pub const MAX_KEY_BYTES: usize = 1024;

/// Prefixes and names reserved for internal use (seed 002, "Bucket naming rules").
const RESERVED_PREFIXES: [&str; 4] = ["xn--", "cw-", "vip-", "log-stitcher-ch-"];
const RESERVED_NAMES: [&str; 1] = ["int"];

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct BucketName(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidBucketName {
    #[error("bucket names must be 3 to 63 characters long")]
    Length,
    #[error("bucket names may contain only lowercase letters, digits and hyphens")]
    Characters,
    #[error("bucket names must begin and end with a letter or digit")]
    Edges,
    #[error("bucket names must not begin with '{0}'")]
    ReservedPrefix(&'static str),
    #[error("the bucket name '{0}' is reserved")]
    ReservedName(&'static str),
}

impl BucketName {
    pub fn parse(name: &str) -> Result<Self, InvalidBucketName> {
        if !(3..=63).contains(&name.len()) {
            return Err(InvalidBucketName::Length);
        }
        if !name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        {
            return Err(InvalidBucketName::Characters);
        }
        let edge_ok = |b: Option<u8>| b.is_some_and(|b| b != b'-');
        if !edge_ok(name.bytes().next()) || !edge_ok(name.bytes().last()) {
            return Err(InvalidBucketName::Edges);
        }
        if let Some(p) = RESERVED_PREFIXES.iter().find(|p| name.starts_with(*p)) {
            return Err(InvalidBucketName::ReservedPrefix(p));
        }
        if let Some(n) = RESERVED_NAMES.iter().find(|n| name == **n) {
            return Err(InvalidBucketName::ReservedName(n));
        }
        Ok(Self(name.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for BucketName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_valid_names() {
        for n in [
            "abc",
            "my-bucket-1",
            "0ab",
            "a".repeat(63).as_str(),
            "in-t",
            "intx",
            "xn-a",
        ] {
            assert!(BucketName::parse(n).is_ok(), "{n}");
        }
    }

    #[test]
    fn rejects_each_seed_rule() {
        assert_eq!(BucketName::parse("ab"), Err(InvalidBucketName::Length));
        assert_eq!(BucketName::parse(&"a".repeat(64)), Err(InvalidBucketName::Length));
        for n in ["My-bucket", "a.b.c", "a_b", "a b", "ünï"] {
            assert_eq!(BucketName::parse(n), Err(InvalidBucketName::Characters), "{n}");
        }
        assert_eq!(BucketName::parse("-abc"), Err(InvalidBucketName::Edges));
        assert_eq!(BucketName::parse("abc-"), Err(InvalidBucketName::Edges));
        assert_eq!(
            BucketName::parse("xn--abc"),
            Err(InvalidBucketName::ReservedPrefix("xn--"))
        );
        assert_eq!(
            BucketName::parse("cw-data"),
            Err(InvalidBucketName::ReservedPrefix("cw-"))
        );
        assert_eq!(
            BucketName::parse("vip-x"),
            Err(InvalidBucketName::ReservedPrefix("vip-"))
        );
        assert_eq!(
            BucketName::parse("log-stitcher-ch-1"),
            Err(InvalidBucketName::ReservedPrefix("log-stitcher-ch-"))
        );
        assert_eq!(
            BucketName::parse("int"),
            Err(InvalidBucketName::ReservedName("int"))
        );
    }
}
