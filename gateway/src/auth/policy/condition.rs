//! The Condition element: operators, the keys Stowage supplies, and AWS's evaluation rules.
//!
//! Rules (IAM User Guide, "Condition operators" and "Conditions with multiple context keys or
//! values"):
//! - Several values for one key in the policy are ORed; a negated operator (`StringNotEquals`,
//!   `NotIpAddress`, ...) is the negation of its positive form, so its values are NORed.
//! - A key absent from the request makes a condition false, except that negated operators are
//!   then true, `...IfExists` operators are then true, and `Null` tests presence itself.
//! - `ForAnyValue:` holds if some request value satisfies the operator (false for an absent or
//!   empty key); `ForAllValues:` holds if every request value does (true for an absent or empty
//!   key). With a set qualifier, a negated operator is applied to each request value.

use std::net::IpAddr;
use std::str::FromStr;

use ipnet::IpNet;
use time::format_description::well_known::{Iso8601, Rfc3339};
use time::{Date, OffsetDateTime, PrimitiveDateTime};

use super::Context;
use super::PolicyError;
use super::wildcard::{Case, Wildcard};

/// One operator applied to one key, e.g. `"StringLike": {"s3:prefix": ["logs/*", "tmp/*"]}`.
#[derive(Debug, Clone)]
pub(super) struct Condition {
    /// Canonical spelling, as passed to [`Context::values`].
    key: String,
    set: SetQualifier,
    if_exists: bool,
    negated: bool,
    test: Test,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SetQualifier {
    Single,
    ForAnyValue,
    ForAllValues,
}

/// The positive form of the operator with its policy values, parsed once.
#[derive(Debug, Clone)]
enum Test {
    StringEquals(Vec<String>),
    /// Values pre-lowercased character by character.
    StringEqualsIgnoreCase(Vec<String>),
    StringLike(Vec<Wildcard>),
    Numeric(Comparison, Vec<f64>),
    /// Unix time in nanoseconds.
    Date(Comparison, Vec<i128>),
    Bool(Vec<bool>),
    Ip(Vec<IpNet>),
    /// `true`: the key must be absent; `false`: it must be present.
    Null(Vec<bool>),
}

/// Request value compared to policy value: `NumericLessThan` holds when request < policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Comparison {
    Equals,
    LessThan,
    LessThanEquals,
    GreaterThan,
    GreaterThanEquals,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Family {
    String,
    StringIgnoreCase,
    StringLike,
    Numeric(Comparison),
    Date(Comparison),
    Bool,
    Ip,
    Null,
}

/// Every base operator: (name, family, negated). Names compare case-insensitively.
const OPERATORS: &[(&str, Family, bool)] = {
    use Comparison::*;
    &[
        ("StringEquals", Family::String, false),
        ("StringNotEquals", Family::String, true),
        ("StringEqualsIgnoreCase", Family::StringIgnoreCase, false),
        ("StringNotEqualsIgnoreCase", Family::StringIgnoreCase, true),
        ("StringLike", Family::StringLike, false),
        ("StringNotLike", Family::StringLike, true),
        ("NumericEquals", Family::Numeric(Equals), false),
        ("NumericNotEquals", Family::Numeric(Equals), true),
        ("NumericLessThan", Family::Numeric(LessThan), false),
        ("NumericLessThanEquals", Family::Numeric(LessThanEquals), false),
        ("NumericGreaterThan", Family::Numeric(GreaterThan), false),
        (
            "NumericGreaterThanEquals",
            Family::Numeric(GreaterThanEquals),
            false,
        ),
        ("DateEquals", Family::Date(Equals), false),
        ("DateNotEquals", Family::Date(Equals), true),
        ("DateLessThan", Family::Date(LessThan), false),
        ("DateLessThanEquals", Family::Date(LessThanEquals), false),
        ("DateGreaterThan", Family::Date(GreaterThan), false),
        ("DateGreaterThanEquals", Family::Date(GreaterThanEquals), false),
        ("Bool", Family::Bool, false),
        ("IpAddress", Family::Ip, false),
        ("NotIpAddress", Family::Ip, true),
        ("Null", Family::Null, false),
    ]
};

/// The condition keys whose values the gateway supplies, in their canonical spelling.
const KEYS: &[&str] = &[
    "aws:SourceIp",
    "aws:SecureTransport",
    "aws:CurrentTime",
    "aws:EpochTime",
    "aws:username",
    "aws:PrincipalOrgID",
    "s3:prefix",
    "s3:delimiter",
    "s3:max-keys",
    "s3:x-amz-server-side-encryption-customer-algorithm",
    "s3:x-amz-server-side-encryption",
    "s3:x-amz-server-side-encryption-aws-kms-key-id",
    "s3:x-amz-acl",
    "s3:x-amz-grant-read",
    "s3:x-amz-grant-write",
    "s3:x-amz-grant-read-acp",
    "s3:x-amz-grant-write-acp",
    "s3:x-amz-grant-full-control",
    "s3:x-amz-copy-source",
    "s3:x-amz-metadata-directive",
    "s3:RequestObjectTagKeys",
    "s3:VersionId",
    "aws:Referer",
    "aws:UserAgent",
];
/// `s3:ExistingObjectTag/<tag-key>`: one key per tag of the object the request acts on.
const EXISTING_OBJECT_TAG: &str = "s3:ExistingObjectTag/";
/// `s3:RequestObjectTag/<tag-key>`: one key per tag the request sets (`x-amz-tagging`).
const REQUEST_OBJECT_TAG: &str = "s3:RequestObjectTag/";
/// CoreWeave's name for the caller's org id; the same key as `aws:PrincipalOrgID`.
const ORG_ID_ALIAS: &str = "cw:PrincipalOrgID";
const ORG_ID: &str = "aws:PrincipalOrgID";

const SUFFIX_IF_EXISTS: &str = "IfExists";

/// The canonical spelling of a supported condition key, `None` if Stowage does not supply it.
fn canonical_key(key: &str) -> Option<String> {
    if key.eq_ignore_ascii_case(ORG_ID_ALIAS) {
        return Some(ORG_ID.to_owned());
    }
    if let Some(known) = KEYS.iter().find(|k| k.eq_ignore_ascii_case(key)) {
        return Some((*known).to_owned());
    }
    // The tag key keeps its spelling: S3 tag keys are case-sensitive.
    [EXISTING_OBJECT_TAG, REQUEST_OBJECT_TAG]
        .into_iter()
        .find_map(|prefix| {
            strip_prefix_ignore_ascii_case(key, prefix)
                .filter(|tag| !tag.is_empty())
                .map(|tag| format!("{prefix}{tag}"))
        })
}

/// Whether `key` (canonical) starts with `prefix`, case-insensitively, reading a `cw:` prefix
/// as `aws:` (the only `cw:` key is the org-id alias).
pub(super) fn key_has_prefix(key: &str, prefix: &str) -> bool {
    match strip_prefix_ignore_ascii_case(prefix, "cw:") {
        Some(rest) => strip_prefix_ignore_ascii_case(key, "aws:")
            .is_some_and(|k| strip_prefix_ignore_ascii_case(k, rest).is_some()),
        None => strip_prefix_ignore_ascii_case(key, prefix).is_some(),
    }
}

fn strip_prefix_ignore_ascii_case<'s>(s: &'s str, prefix: &str) -> Option<&'s str> {
    let head = s.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix).then(|| &s[prefix.len()..])
}

/// A parsed operator name such as `ForAnyValue:StringLikeIfExists`.
#[derive(Debug, Clone, Copy)]
pub(super) struct Operator {
    set: SetQualifier,
    family: Family,
    negated: bool,
    if_exists: bool,
}

impl Operator {
    /// `path` names the Condition element, e.g. `Statement[0].Condition`.
    pub(super) fn parse(path: &str, operator: &str) -> Result<Operator, PolicyError> {
        let unknown = || PolicyError::UnknownConditionOperator {
            path: path.to_owned(),
            operator: operator.to_owned(),
        };
        let (set, base) = match operator.split_once(':') {
            None => (SetQualifier::Single, operator),
            Some((q, base)) if q.eq_ignore_ascii_case("ForAnyValue") => (SetQualifier::ForAnyValue, base),
            Some((q, base)) if q.eq_ignore_ascii_case("ForAllValues") => (SetQualifier::ForAllValues, base),
            Some(_) => return Err(unknown()),
        };
        let (stem, if_exists) = match strip_suffix_ignore_ascii_case(base, SUFFIX_IF_EXISTS) {
            Some(stem) => (stem, true),
            None => (base, false),
        };
        let &(_, family, negated) = OPERATORS
            .iter()
            .find(|(name, ..)| name.eq_ignore_ascii_case(stem))
            .ok_or_else(unknown)?;
        if family == Family::Null && if_exists {
            return Err(PolicyError::InvalidConditionOperator {
                path: path.to_owned(),
                operator: operator.to_owned(),
                reason: "IfExists cannot be applied to Null, which itself tests whether the key exists",
            });
        }
        Ok(Operator {
            set,
            family,
            negated,
            if_exists,
        })
    }
}

fn strip_suffix_ignore_ascii_case<'s>(s: &'s str, suffix: &str) -> Option<&'s str> {
    let at = s.len().checked_sub(suffix.len())?;
    let tail = s.get(at..)?;
    tail.eq_ignore_ascii_case(suffix).then(|| &s[..at])
}

impl Condition {
    /// Compiles one `key: values` entry of an operator. `path` names the operator for errors,
    /// e.g. `Statement[0].Condition.StringLike`.
    pub(super) fn new(
        path: &str,
        operator: Operator,
        key: &str,
        values: &[String],
    ) -> Result<Condition, PolicyError> {
        let canonical = canonical_key(key).ok_or_else(|| PolicyError::UnsupportedConditionKey {
            path: path.to_owned(),
            key: key.to_owned(),
        })?;
        let value_path = format!("{path}.{key}");
        if values.is_empty() {
            return Err(PolicyError::Empty { path: value_path });
        }
        let test = match operator.family {
            Family::String => Test::StringEquals(values.to_vec()),
            Family::StringIgnoreCase => {
                Test::StringEqualsIgnoreCase(values.iter().map(|v| fold(v)).collect())
            }
            Family::StringLike => {
                Test::StringLike(values.iter().map(|v| Wildcard::new(v, Case::Sensitive)).collect())
            }
            Family::Numeric(cmp) => {
                Test::Numeric(cmp, parse_values(&value_path, values, parse_number, "a number")?)
            }
            Family::Date(cmp) => Test::Date(
                cmp,
                parse_values(
                    &value_path,
                    values,
                    parse_date,
                    "a date (ISO 8601, e.g. 2025-01-31T00:00:00Z, or epoch seconds)",
                )?,
            ),
            Family::Bool => Test::Bool(parse_values(&value_path, values, parse_bool, "true or false")?),
            Family::Ip => Test::Ip(parse_values(
                &value_path,
                values,
                parse_network,
                "an IP address or CIDR block",
            )?),
            Family::Null => Test::Null(parse_values(&value_path, values, parse_bool, "true or false")?),
        };
        let Operator {
            set,
            negated,
            if_exists,
            ..
        } = operator;
        Ok(Condition {
            key: canonical,
            set,
            if_exists,
            negated,
            test,
        })
    }

    pub(super) fn key(&self) -> &str {
        &self.key
    }

    pub(super) fn holds(&self, context: &dyn Context) -> bool {
        let values = context.values(&self.key);
        // An empty set is treated as an absent key.
        let values = values.as_deref().filter(|v| !v.is_empty());
        if let Test::Null(want_absent) = &self.test {
            let absent = values.is_none();
            return want_absent.contains(&absent);
        }
        let Some(values) = values else {
            return match self.set {
                SetQualifier::Single => self.if_exists || self.negated,
                SetQualifier::ForAnyValue => self.if_exists,
                SetQualifier::ForAllValues => true,
            };
        };
        match self.set {
            SetQualifier::Single => values.iter().any(|v| self.test.matches(v)) != self.negated,
            SetQualifier::ForAnyValue => values.iter().any(|v| self.test.matches(v) != self.negated),
            SetQualifier::ForAllValues => values.iter().all(|v| self.test.matches(v) != self.negated),
        }
    }
}

/// Parses every policy value of a typed operator, naming the first that does not parse.
fn parse_values<T>(
    path: &str,
    values: &[String],
    parse: fn(&str) -> Option<T>,
    expected: &'static str,
) -> Result<Vec<T>, PolicyError> {
    values
        .iter()
        .map(|v| {
            parse(v).ok_or_else(|| PolicyError::InvalidConditionValue {
                path: path.to_owned(),
                value: v.clone(),
                expected,
            })
        })
        .collect()
}

impl Test {
    /// Whether one request value matches any of the policy values. A request value that does not
    /// parse as the operator's type matches nothing.
    fn matches(&self, value: &str) -> bool {
        match self {
            Test::StringEquals(policy) => policy.iter().any(|p| p == value),
            Test::StringEqualsIgnoreCase(policy) => policy
                .iter()
                .any(|p| value.chars().flat_map(char::to_lowercase).eq(p.chars())),
            Test::StringLike(policy) => policy.iter().any(|p| p.matches(value)),
            Test::Numeric(cmp, policy) => {
                parse_number(value).is_some_and(|v| policy.iter().any(|p| cmp.holds(v, *p)))
            }
            Test::Date(cmp, policy) => {
                parse_date(value).is_some_and(|v| policy.iter().any(|p| cmp.holds(v, *p)))
            }
            Test::Bool(policy) => parse_bool(value).is_some_and(|v| policy.contains(&v)),
            Test::Ip(policy) => {
                IpAddr::from_str(value.trim()).is_ok_and(|ip| policy.iter().any(|net| net.contains(&ip)))
            }
            Test::Null(_) => unreachable!("Null is decided on presence in Condition::holds"),
        }
    }
}

impl Comparison {
    fn holds<T: PartialOrd>(self, request: T, policy: T) -> bool {
        match self {
            Comparison::Equals => request == policy,
            Comparison::LessThan => request < policy,
            Comparison::LessThanEquals => request <= policy,
            Comparison::GreaterThan => request > policy,
            Comparison::GreaterThanEquals => request >= policy,
        }
    }
}

/// Lowercases character by character, the same folding the comparison applies to request values.
fn fold(s: &str) -> String {
    s.chars().flat_map(char::to_lowercase).collect()
}

fn parse_number(s: &str) -> Option<f64> {
    // Rust also parses "NaN" and "inf", which are not numbers a policy can mean.
    s.trim().parse::<f64>().ok().filter(|n| n.is_finite())
}

fn parse_bool(s: &str) -> Option<bool> {
    let s = s.trim();
    if s.eq_ignore_ascii_case("true") {
        Some(true)
    } else if s.eq_ignore_ascii_case("false") {
        Some(false)
    } else {
        None
    }
}

/// A single address is the network of just that address.
fn parse_network(s: &str) -> Option<IpNet> {
    let s = s.trim();
    IpNet::from_str(s)
        .ok()
        .or_else(|| IpAddr::from_str(s).ok().map(IpNet::from))
}

/// ISO 8601 (with or without offset, which then means UTC; or a bare date, meaning midnight
/// UTC) or integer epoch seconds, as Unix nanoseconds.
fn parse_date(s: &str) -> Option<i128> {
    const NANOS_PER_SECOND: i128 = 1_000_000_000;
    let s = s.trim();
    if let Ok(seconds) = s.parse::<i64>() {
        return Some(i128::from(seconds) * NANOS_PER_SECOND);
    }
    let utc = OffsetDateTime::parse(s, &Rfc3339)
        .or_else(|_| OffsetDateTime::parse(s, &Iso8601::DEFAULT))
        .or_else(|_| PrimitiveDateTime::parse(s, &Iso8601::DEFAULT).map(PrimitiveDateTime::assume_utc))
        .or_else(|_| Date::parse(s, &Iso8601::DEFAULT).map(|d| d.midnight().assume_utc()))
        .ok()?;
    Some(utc.unix_timestamp_nanos())
}
