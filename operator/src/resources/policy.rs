//! BucketPolicies -> one bucket policy document in the AWS policy grammar (Version 2012-10-17,
//! Statement[Sid, Effect, Principal, Action, Resource, Condition]). S3 holds one policy per
//! bucket, so the statements of every BucketPolicy of the bucket are concatenated, ordered by
//! policy name.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value, json};

use crate::crd::{BucketPolicySpec, PolicyStatement};

pub const POLICY_VERSION: &str = "2012-10-17";
const ARN_PREFIX: &str = "arn:";

/// A BucketPolicy by name, as input to the merge.
#[derive(Clone, Copy, Debug)]
pub struct Named<'a> {
    pub name: &'a str,
    pub spec: &'a BucketPolicySpec,
}

/// The merged document, and the policies left out because their statement ids collide with an
/// earlier policy's.
#[derive(Clone, Debug, PartialEq)]
pub struct Merged {
    /// `None` when no statements remain (the bucket's policy is deleted).
    pub document: Option<Value>,
    /// Left-out policy name -> the colliding statement id.
    pub conflicts: BTreeMap<String, String>,
}

/// A statement id: the given one, or `<policy name without non-alphanumerics><index>`.
pub fn sid(policy: &str, index: usize, statement: &PolicyStatement) -> String {
    statement.sid.clone().unwrap_or_else(|| {
        let base: String = policy.chars().filter(char::is_ascii_alphanumeric).collect();
        format!("{base}{index}")
    })
}

/// `*` stays `*`; an entry starting with `arn:` is used as it is; anything else is a key pattern
/// inside the bucket. No resources: the bucket and every object in it.
pub fn resource_arns(bucket: &str, resources: Option<&[String]>) -> Vec<String> {
    match resources {
        None => vec![
            format!("arn:aws:s3:::{bucket}"),
            format!("arn:aws:s3:::{bucket}/*"),
        ],
        Some(list) => list
            .iter()
            .map(|r| {
                if r.starts_with(ARN_PREFIX) {
                    r.clone()
                } else {
                    format!("arn:aws:s3:::{bucket}/{}", r.trim_start_matches('/'))
                }
            })
            .collect(),
    }
}

/// `["*"]` is the anonymous-and-everyone principal `"*"`; anything else is `{"AWS": [...]}`.
pub fn principal(principals: &[String]) -> Value {
    if principals.iter().any(|p| p == "*") {
        json!("*")
    } else {
        json!({ "AWS": principals })
    }
}

/// `[{operator, key, values}]` -> `{"<operator>": {"<key>": [values]}}`.
pub fn condition(statement: &PolicyStatement) -> Option<Value> {
    if statement.conditions.is_empty() {
        return None;
    }
    let mut by_operator: BTreeMap<&str, Map<String, Value>> = BTreeMap::new();
    for c in &statement.conditions {
        by_operator
            .entry(&c.operator)
            .or_default()
            .insert(c.key.clone(), json!(c.values));
    }
    Some(Value::Object(
        by_operator
            .into_iter()
            .map(|(op, keys)| (op.to_owned(), Value::Object(keys)))
            .collect(),
    ))
}

pub fn statement(bucket: &str, sid: String, s: &PolicyStatement) -> Value {
    let mut out = Map::new();
    out.insert("Sid".into(), json!(sid));
    out.insert("Effect".into(), json!(s.effect.as_str()));
    out.insert("Principal".into(), principal(&s.principals));
    out.insert("Action".into(), json!(s.actions));
    out.insert(
        "Resource".into(),
        json!(resource_arns(bucket, s.resources.as_deref())),
    );
    if let Some(c) = condition(s) {
        out.insert("Condition".into(), c);
    }
    Value::Object(out)
}

/// Every policy's statements in one document. A policy whose statement ids collide with an
/// earlier policy's (by name order) is left out whole and reported.
pub fn merge(bucket: &str, policies: &[Named<'_>]) -> Merged {
    let mut ordered: Vec<&Named<'_>> = policies.iter().collect();
    ordered.sort_by_key(|p| p.name);
    let mut seen = BTreeSet::new();
    let mut statements = Vec::new();
    let mut conflicts = BTreeMap::new();
    for policy in ordered {
        let sids: Vec<String> = policy
            .spec
            .statements
            .iter()
            .enumerate()
            .map(|(i, s)| sid(policy.name, i, s))
            .collect();
        let mut own = BTreeSet::new();
        if let Some(dup) = sids
            .iter()
            .find(|s| seen.contains(*s) || !own.insert((*s).clone()))
        {
            conflicts.insert(policy.name.to_owned(), dup.clone());
            continue;
        }
        for (sid, s) in sids.into_iter().zip(&policy.spec.statements) {
            seen.insert(sid.clone());
            statements.push(statement(bucket, sid, s));
        }
    }
    let document =
        (!statements.is_empty()).then(|| json!({ "Version": POLICY_VERSION, "Statement": statements }));
    Merged { document, conflicts }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::crd::{Effect, PolicyCondition};
    use crate::fixtures::statement;

    fn spec(statements: Vec<PolicyStatement>) -> BucketPolicySpec {
        BucketPolicySpec {
            bucket_ref: crate::crd::LocalRef { name: "logs".into() },
            statements,
        }
    }

    #[test]
    fn one_statement_in_the_aws_grammar() {
        let mut s = statement(Some("PublicRead"), Effect::Allow, &["s3:GetObject"]);
        s.resources = Some(vec!["public/*".into(), "arn:aws:s3:::logs".into()]);
        s.conditions = vec![
            PolicyCondition {
                operator: "StringEquals".into(),
                key: "cw:PrincipalOrgID".into(),
                values: vec!["org-1".into()],
            },
            PolicyCondition {
                operator: "IpAddress".into(),
                key: "aws:SourceIp".into(),
                values: vec!["10.0.0.0/8".into(), "192.168.0.0/16".into()],
            },
            PolicyCondition {
                operator: "StringEquals".into(),
                key: "s3:prefix".into(),
                values: vec!["public/".into()],
            },
        ];
        let spec = spec(vec![s]);
        let merged = merge(
            "logs",
            &[Named {
                name: "read",
                spec: &spec,
            }],
        );
        assert_eq!(
            merged.document,
            Some(json!({
                "Version": "2012-10-17",
                "Statement": [{
                    "Sid": "PublicRead",
                    "Effect": "Allow",
                    "Principal": "*",
                    "Action": ["s3:GetObject"],
                    "Resource": ["arn:aws:s3:::logs/public/*", "arn:aws:s3:::logs"],
                    "Condition": {
                        "IpAddress": {"aws:SourceIp": ["10.0.0.0/8", "192.168.0.0/16"]},
                        "StringEquals": {"cw:PrincipalOrgID": ["org-1"], "s3:prefix": ["public/"]},
                    },
                }],
            }))
        );
        assert!(merged.conflicts.is_empty());
    }

    #[test]
    fn named_principals_and_default_resources() {
        let mut s = statement(None, Effect::Deny, &["s3:DeleteObject", "s3:DeleteObjectVersion"]);
        s.principals = vec!["alice".into(), "arn:aws:iam::team-a:user/bob".into()];
        let spec = spec(vec![s]);
        let merged = merge(
            "logs",
            &[Named {
                name: "no-deletes",
                spec: &spec,
            }],
        );
        assert_eq!(
            merged.document.expect("document")["Statement"][0],
            json!({
                "Sid": "nodeletes0",
                "Effect": "Deny",
                "Principal": {"AWS": ["alice", "arn:aws:iam::team-a:user/bob"]},
                "Action": ["s3:DeleteObject", "s3:DeleteObjectVersion"],
                "Resource": ["arn:aws:s3:::logs", "arn:aws:s3:::logs/*"],
            })
        );
    }

    #[test]
    fn policies_are_concatenated_in_name_order() {
        let b = spec(vec![statement(Some("B"), Effect::Allow, &["s3:GetObject"])]);
        let a = spec(vec![
            statement(Some("A1"), Effect::Allow, &["s3:ListBucket"]),
            statement(Some("A2"), Effect::Deny, &["s3:PutObject"]),
        ]);
        let merged = merge(
            "logs",
            &[
                Named {
                    name: "z-b",
                    spec: &b,
                },
                Named { name: "a", spec: &a },
            ],
        );
        let sids: Vec<_> = merged.document.expect("document")["Statement"]
            .as_array()
            .expect("array")
            .iter()
            .map(|s| s["Sid"].as_str().expect("sid").to_owned())
            .collect();
        assert_eq!(sids, ["A1", "A2", "B"]);
    }

    #[test]
    fn a_policy_reusing_a_statement_id_is_left_out_and_reported() {
        let first = spec(vec![statement(Some("Read"), Effect::Allow, &["s3:GetObject"])]);
        let second = spec(vec![statement(Some("Read"), Effect::Deny, &["s3:GetObject"])]);
        let merged = merge(
            "logs",
            &[
                Named {
                    name: "b",
                    spec: &second,
                },
                Named {
                    name: "a",
                    spec: &first,
                },
            ],
        );
        assert_eq!(
            merged.conflicts,
            BTreeMap::from([("b".to_owned(), "Read".to_owned())])
        );
        let statements = merged.document.expect("document")["Statement"].clone();
        assert_eq!(statements.as_array().map(Vec::len), Some(1));
        assert_eq!(statements[0]["Effect"], "Allow");
    }

    #[test]
    fn duplicate_ids_inside_one_policy_are_a_conflict_too() {
        let twice = spec(vec![
            statement(Some("Same"), Effect::Allow, &["s3:GetObject"]),
            statement(Some("Same"), Effect::Allow, &["s3:PutObject"]),
        ]);
        let merged = merge(
            "logs",
            &[Named {
                name: "p",
                spec: &twice,
            }],
        );
        assert_eq!(merged.document, None);
        assert_eq!(merged.conflicts.get("p").map(String::as_str), Some("Same"));
    }

    #[test]
    fn no_policies_means_no_document() {
        assert_eq!(
            merge("logs", &[]),
            Merged {
                document: None,
                conflicts: BTreeMap::new()
            }
        );
    }
}
