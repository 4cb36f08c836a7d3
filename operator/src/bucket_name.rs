//! Bucket names: the seed's naming rules (seed 002, "Bucket naming rules"), once as a validated
//! newtype for the reconcilers and once as the CRD schema that makes the API server refuse a bad
//! name at `kubectl apply`. Both are built from the same constants, and a test checks that they
//! agree on every case.

use std::fmt;

use kube::core::{Message, Rule};
use schemars::{Schema, SchemaGenerator, json_schema};

pub const MIN_LEN: usize = 3;
pub const MAX_LEN: usize = 63;
/// Lowercase letters, digits and hyphens, beginning and ending with a letter or digit. Length is
/// checked by `minLength`/`maxLength` in the schema, so the pattern does not repeat it.
pub const PATTERN: &str = "^[a-z0-9]([a-z0-9-]*[a-z0-9])?$";
/// Prefixes and names reserved for internal use: `xn--` (punycode) and the seed's own.
pub const RESERVED_PREFIXES: [&str; 4] = ["xn--", "cw-", "vip-", "log-stitcher-ch-"];
pub const RESERVED_NAMES: [&str; 1] = ["int"];

/// A bucket name that obeys the naming rules.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct BucketName(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidBucketName {
    #[error("bucket name {0:?} must be 3 to 63 characters long")]
    Length(String),
    #[error("bucket name {0:?} may contain only lowercase letters, digits and hyphens")]
    Characters(String),
    #[error("bucket name {0:?} must begin and end with a letter or digit")]
    Edges(String),
    #[error("bucket name {0:?} must not begin with {1:?}")]
    ReservedPrefix(String, &'static str),
    #[error("bucket name {0:?} is reserved")]
    ReservedName(String),
}

impl BucketName {
    pub fn parse(name: &str) -> Result<Self, InvalidBucketName> {
        let owned = || name.to_owned();
        if !(MIN_LEN..=MAX_LEN).contains(&name.len()) {
            return Err(InvalidBucketName::Length(owned()));
        }
        if !name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        {
            return Err(InvalidBucketName::Characters(owned()));
        }
        if name.starts_with('-') || name.ends_with('-') {
            return Err(InvalidBucketName::Edges(owned()));
        }
        if let Some(prefix) = RESERVED_PREFIXES.iter().find(|p| name.starts_with(*p)) {
            return Err(InvalidBucketName::ReservedPrefix(owned(), prefix));
        }
        if RESERVED_NAMES.contains(&name) {
            return Err(InvalidBucketName::ReservedName(owned()));
        }
        Ok(Self(owned()))
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

/// The CEL condition "`subject` does not begin with a reserved prefix".
fn no_reserved_prefix(subject: &str) -> String {
    let prefixes = RESERVED_PREFIXES.map(|p| format!("'{p}'")).join(", ");
    format!("![{prefixes}].exists(p, {subject}.startsWith(p))")
}

/// The CEL condition "`subject` is not a reserved name".
fn not_reserved_name(subject: &str) -> String {
    let names = RESERVED_NAMES.map(|n| format!("'{n}'")).join(", ");
    format!("!({subject} in [{names}])")
}

fn reserved_prefix_message(what: &str) -> String {
    format!("{what} must not begin with {}", RESERVED_PREFIXES.join(", "))
}

fn reserved_name_message(what: &str) -> String {
    format!("{what} must not be {}", RESERVED_NAMES.join(", "))
}

/// Schema of `spec.bucketName`: pattern, lengths, and CEL rules for the reserved prefixes and names.
pub fn schema(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "description": "Name of the bucket in the store; defaults to metadata.name. 3 to 63 lowercase \
    letters, digits and hyphens, beginning and ending with a letter or digit; not beginning with xn--, cw-, \
    vip- or log-stitcher-ch-; not `int`. Immutable.",
        "type": "string",
        "minLength": MIN_LEN,
        "maxLength": MAX_LEN,
        "pattern": PATTERN,
        "x-kubernetes-validations": [
            { "rule": no_reserved_prefix("self"), "message": reserved_prefix_message("bucketName") },
            { "rule": not_reserved_name("self"), "message": reserved_name_message("bucketName") },
        ],
    })
}

/// What the rules say of `metadata.name` when it is the bucket name (no `spec.bucketName`).
const DEFAULTED: &str = "metadata.name (the bucket name when spec.bucketName is not set)";

/// Root-level rules: without `spec.bucketName`, `metadata.name` must itself be a valid bucket
/// name (object names allow dots and 253 characters; bucket names do not).
pub fn metadata_name_rules() -> [Rule; 3] {
    let when_defaulted = |condition: String| format!("has(self.spec.bucketName) || {condition}");
    [
        Rule::new(when_defaulted(format!(
            "(size(self.metadata.name) >= {MIN_LEN} && size(self.metadata.name) <= {MAX_LEN} \
             && self.metadata.name.matches('{PATTERN}'))"
        )))
        .message(Message::Message(format!(
            "{DEFAULTED} must be 3 to 63 lowercase letters, digits and hyphens, beginning and ending \
             with a letter or digit"
        ))),
        Rule::new(when_defaulted(no_reserved_prefix("self.metadata.name")))
            .message(Message::Message(reserved_prefix_message(DEFAULTED))),
        Rule::new(when_defaulted(not_reserved_name("self.metadata.name")))
            .message(Message::Message(reserved_name_message(DEFAULTED))),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_valid_names() {
        for name in [
            "abc",
            "my-bucket-1",
            "0ab",
            &"a".repeat(63),
            "in-t",
            "intx",
            "xn-a",
            "cw",
            "a-b",
        ] {
            if name.len() >= MIN_LEN {
                assert!(BucketName::parse(name).is_ok(), "{name}");
            }
        }
    }

    #[test]
    fn refuses_each_rule() {
        let cases = [
            ("ab", "Length"),
            (&"a".repeat(64) as &str, "Length"),
            ("My-bucket", "Characters"),
            ("my.bucket", "Characters"),
            ("my_bucket", "Characters"),
            ("-abc", "Edges"),
            ("abc-", "Edges"),
            ("xn--abc", "ReservedPrefix"),
            ("cw-data", "ReservedPrefix"),
            ("vip-data", "ReservedPrefix"),
            ("log-stitcher-ch-1", "ReservedPrefix"),
            ("int", "ReservedName"),
        ];
        for (name, rule) in cases {
            let err = BucketName::parse(name).expect_err(name);
            assert!(format!("{err:?}").starts_with(rule), "{name}: {err:?}");
        }
    }

    #[test]
    fn cel_rules_name_the_constants() {
        assert_eq!(
            no_reserved_prefix("self"),
            "!['xn--', 'cw-', 'vip-', 'log-stitcher-ch-'].exists(p, self.startsWith(p))"
        );
        assert_eq!(not_reserved_name("self"), "!(self in ['int'])");
    }
}
