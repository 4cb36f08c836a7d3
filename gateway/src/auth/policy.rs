//! Bucket policies: parsing an AWS policy document and deciding one request against it.
//!
//! Pure logic, no I/O: the gateway parses a policy once when it is stored or loaded, then calls
//! [`Policy::evaluate`] on every request with the caller's identity, the permission the API call
//! needs (seed 002's mapping) and the request's condition keys. Everything evaluation needs is
//! compiled at parse time (wildcards classified, condition values parsed to numbers, dates and
//! networks), so evaluation allocates only when a condition asks the [`Context`] for values.
//!
//! Evaluation follows AWS: an explicit Deny wins, then any Allow; otherwise the policy has
//! nothing to say ([`Decision::NotApplicable`]) and the caller applies its default (the owning
//! org is allowed, everyone else denied).

mod condition;
mod document;
mod principal;
#[cfg(test)]
mod tests;
mod wildcard;

use condition::Condition;
use principal::PrincipalPattern;
use wildcard::Wildcard;

/// Condition keys that make an Allow to everyone non-public: they pin the caller's network,
/// organization or identity to fixed values (the Stowage keys among those AWS lists for Block
/// Public Access).
const RESTRICTING_KEYS: &[&str] = &["aws:SourceIp", "aws:PrincipalOrgID", "aws:username"];

/// A parsed, validated bucket policy, ready to evaluate requests.
#[derive(Debug, Clone)]
pub struct Policy {
    statements: Vec<Statement>,
}

/// Why a policy document was refused. Each message names the element at fault, e.g.
/// `Statement[2].Effect must be Allow or Deny, not "Permit"`; the gateway returns it as the
/// message of a 400 `MalformedPolicy`.
#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    #[error("Policy is {size} bytes; bucket policies are limited to {max} bytes")]
    TooLarge { size: usize, max: usize },
    #[error("Policy is not valid JSON: {0}")]
    InvalidJson(#[from] serde_json::Error),
    #[error("{path} must be {expected}")]
    WrongType { path: String, expected: &'static str },
    #[error("{path} has unknown element {element:?}")]
    UnknownElement { path: String, element: String },
    #[error("Version must be \"2012-10-17\" or \"2008-10-17\", not {value:?}")]
    InvalidVersion { value: String },
    #[error("Policy has no statements")]
    NoStatements,
    #[error("{path} must not be empty")]
    Empty { path: String },
    #[error("{path} must have {element}")]
    MissingElement { path: String, element: String },
    #[error("{path} must not have both {first} and {second}")]
    ConflictingElements {
        path: String,
        first: &'static str,
        second: &'static str,
    },
    #[error("Statement ID {sid:?} is used by more than one statement")]
    DuplicateSid { sid: String },
    #[error("{path} must be Allow or Deny, not {value:?}")]
    InvalidEffect { path: String, value: String },
    #[error("{path} has invalid action {value:?}: an action must be \"*\" or start with \"s3:\"")]
    InvalidAction { path: String, value: String },
    #[error("Policy has invalid resource: {path} {value:?} is neither arn:aws:s3:::{bucket} nor under it")]
    InvalidResource {
        path: String,
        value: String,
        bucket: String,
    },
    #[error(
        "{path} has invalid principal {value:?}: expected \"*\", an org id, arn:aws:iam::<org>:root \
         or arn:aws:iam::<org>:user/<name>"
    )]
    InvalidPrincipal { path: String, value: String },
    #[error("{path} has unsupported principal type {kind:?}: only \"AWS\" principals are supported")]
    UnsupportedPrincipalType { path: String, kind: String },
    #[error("{path} has unknown condition operator {operator:?}")]
    UnknownConditionOperator { path: String, operator: String },
    #[error("{path} has invalid condition operator {operator:?}: {reason}")]
    InvalidConditionOperator {
        path: String,
        operator: String,
        reason: &'static str,
    },
    #[error("{path} has unsupported condition key {key:?}")]
    UnsupportedConditionKey { path: String, key: String },
    #[error("{path} has value {value:?}, which is not {expected}")]
    InvalidConditionValue {
        path: String,
        value: String,
        expected: &'static str,
    },
    #[error("{path} has NotPrincipal with Effect Allow: NotPrincipal must be used with Effect Deny")]
    AllowWithNotPrincipal { path: String },
}

/// Who is calling.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Principal<'a> {
    /// An unsigned request.
    Anonymous,
    /// An authenticated user of organization `org`.
    User { org: &'a str, name: &'a str },
}

/// One permission check: may `principal` perform `action` on `resource`?
#[derive(Clone, Copy)]
pub struct Request<'a> {
    pub principal: Principal<'a>,
    /// The permission needed, e.g. `"s3:GetObject"`.
    pub action: &'a str,
    /// `"arn:aws:s3:::bucket"` or `"arn:aws:s3:::bucket/key"`.
    pub resource: &'a str,
    /// The request's condition key values.
    pub context: &'a dyn Context,
}

/// Condition key values of a request, by key: `aws:SourceIp`, `s3:prefix`,
/// `s3:ExistingObjectTag/<tag-key>`, ... Keys are compared case-insensitively (the tag key
/// after `s3:ExistingObjectTag/` is an S3 tag key, which is case-sensitive). `None` means the key
/// is absent from the request; multi-valued keys return several values.
pub trait Context {
    fn values(&self, key: &str) -> Option<Vec<String>>;
}

/// What the policy says about a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// A statement explicitly allows it and none denies it.
    Allow,
    /// A statement explicitly denies it.
    Deny,
    /// No statement applies: the caller's default decides.
    NotApplicable,
}

impl Policy {
    /// Parses and validates an AWS policy document attached to `bucket`.
    ///
    /// Also accepts the shape of CoreWeave's examples (seed 004), optionally wrapped in
    /// `{"policy": {...}}`: lower-case `version`, `name` and per-statement `name`, `effect`,
    /// `principals`, `actions`, `resources` (which may omit the `arn:aws:s3:::` prefix) and
    /// `conditions`. Both shapes produce the same model.
    pub fn parse(document: &str, bucket: &str) -> Result<Policy, PolicyError> {
        let statements = document::parse(document, bucket)?;
        Ok(Policy { statements })
    }

    /// What PutBucketPolicy refuses beyond what parsing does. AWS no longer supports `Allow`
    /// with `NotPrincipal` (it grants everyone else, anonymous callers included); a policy an
    /// earlier release stored with one is still read and evaluated as it was.
    pub fn check_new(&self) -> Result<(), PolicyError> {
        let allows_everyone_else = |s: &Statement| s.effect == Effect::Allow && s.principals.negated;
        match self.statements.iter().position(allows_everyone_else) {
            Some(i) => Err(PolicyError::AllowWithNotPrincipal {
                path: format!("Statement[{i}]"),
            }),
            None => Ok(()),
        }
    }

    pub fn statement_count(&self) -> usize {
        self.statements.len()
    }

    /// Whether any statement has a condition on a key starting with `key_prefix`
    /// (case-insensitive; `cw:` is read as `aws:`), so the caller fetches expensive values such
    /// as `s3:ExistingObjectTag/...` only when a policy can look at them.
    pub fn mentions_condition_key(&self, key_prefix: &str) -> bool {
        self.statements
            .iter()
            .flat_map(|s| &s.conditions)
            .any(|c| condition::key_has_prefix(c.key(), key_prefix))
    }

    /// Whether the policy is public as Block Public Access defines it: some Allow statement
    /// applies to anonymous callers without a condition that pins who or where the caller is
    /// ([`RESTRICTING_KEYS`]).
    pub fn is_public(&self) -> bool {
        self.statements.iter().any(|s| {
            s.effect == Effect::Allow
                && s.principals.matches(|p| p.matches(&Principal::Anonymous))
                && !s
                    .conditions
                    .iter()
                    .any(|c| RESTRICTING_KEYS.iter().any(|k| c.key().eq_ignore_ascii_case(k)))
        })
    }

    pub fn evaluate(&self, request: &Request<'_>) -> Decision {
        let mut allowed = false;
        for statement in &self.statements {
            // Once allowed, only a Deny can change the answer.
            if allowed && statement.effect == Effect::Allow {
                continue;
            }
            if statement.applies_to(request) {
                match statement.effect {
                    Effect::Deny => return Decision::Deny,
                    Effect::Allow => allowed = true,
                }
            }
        }
        if allowed {
            Decision::Allow
        } else {
            Decision::NotApplicable
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Effect {
    Allow,
    Deny,
}

#[derive(Debug, Clone)]
struct Statement {
    effect: Effect,
    principals: Element<PrincipalPattern>,
    actions: Element<Wildcard>,
    resources: Element<Wildcard>,
    /// All must hold (AND across operators and keys).
    conditions: Vec<Condition>,
}

/// A list-valued element and whether it was written in its `Not...` form.
#[derive(Debug, Clone)]
struct Element<T> {
    negated: bool,
    items: Vec<T>,
}

impl<T> Element<T> {
    fn matches(&self, mut item_matches: impl FnMut(&T) -> bool) -> bool {
        self.items.iter().any(&mut item_matches) != self.negated
    }
}

impl Statement {
    /// Cheapest checks first: conditions may call into the context, which allocates.
    fn applies_to(&self, request: &Request<'_>) -> bool {
        self.actions.matches(|a| a.matches(request.action))
            && self.resources.matches(|r| r.matches(request.resource))
            && self.principals.matches(|p| p.matches(&request.principal))
            && self.conditions.iter().all(|c| c.holds(request.context))
    }
}
