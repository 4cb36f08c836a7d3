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
