//! Policy JSON to the statement model, with the validation S3 applies on PutBucketPolicy.
//!
//! Two spellings of the same model are accepted:
//! - AWS: `{"Version", "Id", "Statement": [{"Sid", "Effect", "Principal" | "NotPrincipal",
//!   "Action" | "NotAction", "Resource" | "NotResource", "Condition"}]}`; `Statement` may be a
//!   single object.
//! - CoreWeave's (seed 004), optionally wrapped in `{"policy": {...}}`: `{"version", "name",
//!   "Statement": [{"name", "effect", "principals", "actions", "resources", "conditions"}]}`,
//!   where a resource may omit the `arn:aws:s3:::` prefix.
//!
//! The JSON is walked by hand rather than derived so that every error names the element at
//! fault, in the spelling the author used.

use std::collections::HashSet;

use serde_json::{Map, Value};

use super::condition::{Condition, Operator};
use super::principal::PrincipalPattern;
use super::wildcard::{Case, Wildcard};
use super::{Effect, Element, PolicyError, Statement};

/// S3's limit on a bucket policy document (20 KiB); it also bounds evaluation cost.
const MAX_POLICY_BYTES: usize = 20 * 1024;
const VERSIONS: &[&str] = &["2012-10-17", "2008-10-17"];
const S3_ARN_PREFIX: &str = "arn:aws:s3:::";

/// The element names of one document shape.
struct Vocabulary {
    top_level: &'static [&'static str],
    statement: &'static [&'static str],
    version: &'static str,
    sid: &'static str,
    effect: &'static str,
    principal: &'static str,
    not_principal: Option<&'static str>,
    action: &'static str,
    not_action: Option<&'static str>,
    resource: &'static str,
    not_resource: Option<&'static str>,
    condition: &'static str,
    /// Whether resources may be written as `bucket/key` without the ARN prefix.
    bare_resources: bool,
    /// Whether principals may be listed as plain strings rather than `{"AWS": [...]}`.
    listed_principals: bool,
    /// Whether `version` must be one of the AWS policy language versions.
    aws_version: bool,
}

const AWS: Vocabulary = Vocabulary {
    top_level: &["Version", "Id", "Statement"],
    statement: &[
        "Sid",
        "Effect",
        "Principal",
        "NotPrincipal",
        "Action",
        "NotAction",
        "Resource",
        "NotResource",
        "Condition",
    ],
    version: "Version",
    sid: "Sid",
    effect: "Effect",
    principal: "Principal",
    not_principal: Some("NotPrincipal"),
    action: "Action",
    not_action: Some("NotAction"),
    resource: "Resource",
    not_resource: Some("NotResource"),
    condition: "Condition",
    bare_resources: false,
    listed_principals: false,
    aws_version: true,
};

const COREWEAVE: Vocabulary = Vocabulary {
    top_level: &["version", "name", "Statement", "statement"],
    statement: &[
        "name",
        "effect",
        "principals",
        "actions",
        "resources",
        "conditions",
    ],
    version: "version",
    sid: "name",
    effect: "effect",
    principal: "principals",
    not_principal: None,
    action: "actions",
    not_action: None,
    resource: "resources",
    not_resource: None,
    condition: "conditions",
    bare_resources: true,
    listed_principals: true,
    // Its examples use "v1alpha1"; the field is informational.
    aws_version: false,
};

pub(super) fn parse(document: &str, bucket: &str) -> Result<Vec<Statement>, PolicyError> {
    if document.len() > MAX_POLICY_BYTES {
        return Err(PolicyError::TooLarge {
            size: document.len(),
            max: MAX_POLICY_BYTES,
        });
    }
    let root: Value = serde_json::from_str(document)?;
    let (root, wrapped) = match root {
        Value::Object(mut map) if map.len() == 1 && map.contains_key("policy") => {
            match map.remove("policy") {
                Some(Value::Object(inner)) => (inner, true),
                _ => return Err(wrong_type("policy", "an object")),
            }
        }
        Value::Object(map) => (map, false),
        _ => return Err(wrong_type("Policy", "a JSON object")),
    };
    let vocabulary = if wrapped || is_coreweave_shape(&root) {
        &COREWEAVE
    } else {
        &AWS
    };
    Parser { vocabulary, bucket }.policy(&root)
}

/// CoreWeave's shape is recognised by its lower-case element names.
fn is_coreweave_shape(root: &Map<String, Value>) -> bool {
    if ["version", "name", "statement"]
        .iter()
        .any(|k| root.contains_key(*k))
    {
        return true;
    }
    match root.get("Statement") {
        Some(Value::Array(statements)) => statements.iter().any(|s| s.get("effect").is_some()),
        Some(statement) => statement.get("effect").is_some(),
        None => false,
    }
}

fn wrong_type(path: impl Into<String>, expected: &'static str) -> PolicyError {
    PolicyError::WrongType {
        path: path.into(),
        expected,
    }
}

fn reject_unknown(path: &str, map: &Map<String, Value>, known: &[&str]) -> Result<(), PolicyError> {
    match map.keys().find(|k| !known.contains(&k.as_str())) {
        Some(unknown) => Err(PolicyError::UnknownElement {
            path: path.to_owned(),
            element: unknown.clone(),
        }),
        None => Ok(()),
    }
}

/// A string or a non-empty list of strings.
fn string_list(path: &str, value: &Value) -> Result<Vec<String>, PolicyError> {
    const EXPECTED: &str = "a string or a list of strings";
    let items = match value {
        Value::String(s) => return Ok(vec![s.clone()]),
        Value::Array(items) => items,
        _ => return Err(wrong_type(path, EXPECTED)),
    };
    if items.is_empty() {
        return Err(PolicyError::Empty {
            path: path.to_owned(),
        });
    }
    items
        .iter()
        .map(|item| match item {
            Value::String(s) => Ok(s.clone()),
            _ => Err(wrong_type(path, EXPECTED)),
        })
        .collect()
}

/// Condition values may also be written as JSON numbers or booleans (`"aws:SecureTransport": false`).
fn condition_values(path: &str, value: &Value) -> Result<Vec<String>, PolicyError> {
    const EXPECTED: &str = "a string, number or boolean, or a list of them";
    let scalar = |v: &Value| match v {
        Value::String(s) => Ok(s.clone()),
        Value::Number(n) => Ok(n.to_string()),
        Value::Bool(b) => Ok(b.to_string()),
        _ => Err(wrong_type(path, EXPECTED)),
    };
    match value {
        Value::Array(items) => items.iter().map(scalar).collect(),
        other => Ok(vec![scalar(other)?]),
    }
}

struct Parser<'a> {
    vocabulary: &'static Vocabulary,
    bucket: &'a str,
}

impl Parser<'_> {
    fn policy(&self, root: &Map<String, Value>) -> Result<Vec<Statement>, PolicyError> {
        let v = self.vocabulary;
        reject_unknown("Policy", root, v.top_level)?;
        match root.get(v.version) {
            Some(Value::String(version)) if v.aws_version && !VERSIONS.contains(&version.as_str()) => {
                return Err(PolicyError::InvalidVersion {
                    value: version.clone(),
                });
            }
            None | Some(Value::String(_)) => {}
            Some(_) => return Err(wrong_type(v.version, "a string")),
        }
        for name in ["Id", "name"] {
            if v.top_level.contains(&name) && root.get(name).is_some_and(|n| !n.is_string()) {
                return Err(wrong_type(name, "a string"));
            }
        }
        let (key, statements) = match (root.get("Statement"), root.get("statement")) {
            (Some(_), Some(_)) => {
                return Err(PolicyError::ConflictingElements {
                    path: "Policy".to_owned(),
                    first: "Statement",
                    second: "statement",
                });
            }
            (Some(s), None) => ("Statement", s),
            (None, Some(s)) => ("statement", s),
            (None, None) => return Err(PolicyError::NoStatements),
        };
        let statements = match statements {
            Value::Array(items) if items.is_empty() => return Err(PolicyError::NoStatements),
            Value::Array(items) => items.as_slice(),
            single @ Value::Object(_) => std::slice::from_ref(single),
            _ => return Err(wrong_type(key, "an object or a list of objects")),
        };
        let mut sids = HashSet::new();
        statements
            .iter()
            .enumerate()
            .map(|(index, statement)| {
                let path = format!("{key}[{index}]");
                let Value::Object(statement) = statement else {
                    return Err(wrong_type(path, "an object"));
                };
                if let Some(sid) = self.sid(&path, statement)?
                    && !sids.insert(sid.to_owned())
                {
                    return Err(PolicyError::DuplicateSid { sid: sid.to_owned() });
                }
                self.statement(&path, statement)
            })
            .collect()
    }

    fn sid<'m>(&self, path: &str, statement: &'m Map<String, Value>) -> Result<Option<&'m str>, PolicyError> {
        match statement.get(self.vocabulary.sid) {
            None => Ok(None),
            Some(Value::String(sid)) => Ok(Some(sid)),
            Some(_) => Err(wrong_type(format!("{path}.{}", self.vocabulary.sid), "a string")),
        }
    }

    fn statement(&self, path: &str, statement: &Map<String, Value>) -> Result<Statement, PolicyError> {
        let v = self.vocabulary;
        reject_unknown(path, statement, v.statement)?;
        let effect = match statement.get(v.effect) {
            None => {
                return Err(PolicyError::MissingElement {
                    path: path.to_owned(),
                    element: v.effect.to_owned(),
                });
            }
            Some(Value::String(e)) if e == "Allow" => Effect::Allow,
            Some(Value::String(e)) if e == "Deny" => Effect::Deny,
            Some(Value::String(e)) => {
                return Err(PolicyError::InvalidEffect {
                    path: format!("{path}.{}", v.effect),
                    value: e.clone(),
                });
            }
            Some(_) => return Err(wrong_type(format!("{path}.{}", v.effect), "a string")),
        };
        let (name, negated, value) = pick_pair(path, statement, v.principal, v.not_principal)?;
        let principals = Element {
            negated,
            items: self.principals(&format!("{path}.{name}"), value)?,
        };
        let (name, negated, value) = pick_pair(path, statement, v.action, v.not_action)?;
        let actions = Element {
            negated,
            items: actions(&format!("{path}.{name}"), value)?,
        };
        let (name, negated, value) = pick_pair(path, statement, v.resource, v.not_resource)?;
        let resources = Element {
            negated,
            items: self.resources(&format!("{path}.{name}"), value)?,
        };
        let conditions = match statement.get(v.condition) {
            None => Vec::new(),
            Some(block) => conditions(&format!("{path}.{}", v.condition), block)?,
        };
        Ok(Statement {
            effect,
            principals,
            actions,
            resources,
            conditions,
        })
    }

    /// `"*"`, `{"AWS": "..." | [...]}`, or (CoreWeave shape) a list of principal strings.
    fn principals(&self, path: &str, value: &Value) -> Result<Vec<PrincipalPattern>, PolicyError> {
        let parse = |s: &str| {
            PrincipalPattern::parse(s).ok_or_else(|| PolicyError::InvalidPrincipal {
                path: path.to_owned(),
                value: s.to_owned(),
            })
        };
        match value {
            Value::Object(by_type) => {
                if by_type.is_empty() {
                    return Err(PolicyError::Empty {
                        path: path.to_owned(),
                    });
                }
                let mut patterns = Vec::new();
                for (kind, names) in by_type {
                    if kind != "AWS" {
                        return Err(PolicyError::UnsupportedPrincipalType {
                            path: path.to_owned(),
                            kind: kind.clone(),
                        });
                    }
                    for name in string_list(&format!("{path}.AWS"), names)? {
                        patterns.push(parse(&name)?);
                    }
                }
                Ok(patterns)
            }
            // AWS allows only the lone "*" outside {"AWS": ...}; CoreWeave's shape lists names.
            Value::String(s) if s == "*" => Ok(vec![PrincipalPattern::Everyone]),
            Value::String(s) if self.vocabulary.listed_principals => Ok(vec![parse(s)?]),
            Value::String(s) => Err(PolicyError::InvalidPrincipal {
                path: path.to_owned(),
                value: s.clone(),
            }),
            Value::Array(_) if self.vocabulary.listed_principals => {
                string_list(path, value)?.iter().map(|s| parse(s)).collect()
            }
            _ => Err(wrong_type(path, "\"*\" or an object such as {\"AWS\": [...]}")),
        }
    }

    fn resources(&self, path: &str, value: &Value) -> Result<Vec<Wildcard>, PolicyError> {
        let bucket_arn = format!("{S3_ARN_PREFIX}{}", self.bucket);
        string_list(path, value)?
            .into_iter()
            .map(|written| {
                let arn = if self.vocabulary.bare_resources && !written.starts_with(S3_ARN_PREFIX) {
                    format!("{S3_ARN_PREFIX}{written}")
                } else {
                    written.clone()
                };
                let in_bucket = arn.starts_with(S3_ARN_PREFIX) && covers(&arn, &bucket_arn);
                if !in_bucket {
                    return Err(PolicyError::InvalidResource {
                        path: path.to_owned(),
                        value: written,
                        bucket: self.bucket.to_owned(),
                    });
                }
                Ok(Wildcard::new(&arn, Case::Sensitive))
            })
            .collect()
    }
}

/// Whether a resource pattern covers the bucket (`arn`) or objects in it (`arn/...`): AWS
/// accepts a resource that applies to the bucket, however widely it is written
/// (`arn:aws:s3:::*`, `arn:aws:s3:::logs-*/*`), and refuses one that cannot.
fn covers(pattern: &str, bucket_arn: &str) -> bool {
    Wildcard::new(pattern, Case::Sensitive).matches(bucket_arn)
        || can_match_a_string_starting_with(pattern, &format!("{bucket_arn}/"))
}

/// Whether some string that starts with `prefix` matches the `*`/`?` pattern: run the pattern
/// as an automaton over the prefix; any state left alive can be completed.
fn can_match_a_string_starting_with(pattern: &str, prefix: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    // A `*` may match nothing: a state at a `*` is also a state just after it.
    let close = |states: &mut Vec<usize>| {
        let mut i = 0;
        while i < states.len() {
            let s = states[i];
            if p.get(s) == Some(&'*') && !states.contains(&(s + 1)) {
                states.push(s + 1);
            }
            i += 1;
        }
    };
    let mut states = vec![0];
    close(&mut states);
    for c in prefix.chars() {
        let mut next = Vec::new();
        for &s in &states {
            let to = match p.get(s) {
                Some('*') => Some(s),
                Some('?') => Some(s + 1),
                Some(&l) if l == c => Some(s + 1),
                _ => None,
            };
            if let Some(t) = to
                && !next.contains(&t)
            {
                next.push(t);
            }
        }
        close(&mut next);
        if next.is_empty() {
            return false;
        }
        states = next;
    }
    true
}

/// Returns the element of a `X` / `NotX` pair that the statement has: (name, negated, value).
fn pick_pair<'m>(
    path: &str,
    statement: &'m Map<String, Value>,
    positive: &'static str,
    negative: Option<&'static str>,
) -> Result<(&'static str, bool, &'m Value), PolicyError> {
    let negative_value = negative.and_then(|n| statement.get(n).map(|v| (n, v)));
    match (statement.get(positive), negative_value) {
        (Some(_), Some((negative, _))) => Err(PolicyError::ConflictingElements {
            path: path.to_owned(),
            first: positive,
            second: negative,
        }),
        (Some(value), None) => Ok((positive, false, value)),
        (None, Some((negative, value))) => Ok((negative, true, value)),
        (None, None) => Err(PolicyError::MissingElement {
            path: path.to_owned(),
            element: match negative {
                Some(negative) => format!("{positive} or {negative}"),
                None => positive.to_owned(),
            },
        }),
    }
}

fn actions(path: &str, value: &Value) -> Result<Vec<Wildcard>, PolicyError> {
    string_list(path, value)?
        .into_iter()
        .map(|action| {
            let is_s3 = action.get(..3).is_some_and(|p| p.eq_ignore_ascii_case("s3:"));
            if action != "*" && !is_s3 {
                return Err(PolicyError::InvalidAction {
                    path: path.to_owned(),
                    value: action,
                });
            }
            Ok(Wildcard::new(&action, Case::AsciiInsensitive))
        })
        .collect()
}

/// `{"Operator": {"key": value | [values], ...}, ...}`: every entry must hold.
fn conditions(path: &str, block: &Value) -> Result<Vec<Condition>, PolicyError> {
    let Value::Object(operators) = block else {
        return Err(wrong_type(path, "an object of condition operators"));
    };
    let mut conditions = Vec::new();
    for (name, keys) in operators {
        let operator = Operator::parse(path, name)?;
        let operator_path = format!("{path}.{name}");
        let Value::Object(keys) = keys else {
            return Err(wrong_type(operator_path, "an object of condition keys"));
        };
        for (key, values) in keys {
            let values = condition_values(&format!("{operator_path}.{key}"), values)?;
            conditions.push(Condition::new(&operator_path, operator, key, &values)?);
        }
    }
    Ok(conditions)
}
