//! Who a statement names in Principal / NotPrincipal, and whether a request's caller is one of
//! them.
//!
//! Stowage identities are users inside organizations, so an AWS principal string means one of:
//! `*` (everyone, anonymous included), an org id or `arn:aws:iam::<org>:root` (every user of that
//! org), or `arn:aws:iam::<org>:user/<name>` (one user). Bare user names are refused: the same
//! name can exist in several orgs.

use super::Principal;

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum PrincipalPattern {
    Everyone,
    Org(String),
    User { org: String, name: String },
}

const IAM_ARN_PREFIX: &str = "arn:aws:iam::";

impl PrincipalPattern {
    /// Parses one principal string; `None` when it names nothing Stowage can match.
    pub(super) fn parse(value: &str) -> Option<Self> {
        if value == "*" {
            return Some(PrincipalPattern::Everyone);
        }
        // AWS has no wildcards in principal names other than the lone `*`.
        if value.is_empty() || value.contains(['*', '?']) {
            return None;
        }
        let Some(rest) = value.strip_prefix(IAM_ARN_PREFIX) else {
            // An org id: anything that is not an ARN and has no separators.
            return (!value.contains([':', '/'])).then(|| PrincipalPattern::Org(value.to_owned()));
        };
        let (org, resource) = rest.split_once(':')?;
        if org.is_empty() || org.contains('/') {
            return None;
        }
        if resource == "root" {
            return Some(PrincipalPattern::Org(org.to_owned()));
        }
        let name = resource.strip_prefix("user/")?;
        (!name.is_empty()).then(|| PrincipalPattern::User {
            org: org.to_owned(),
            name: name.to_owned(),
        })
    }

    pub(super) fn matches(&self, principal: &Principal<'_>) -> bool {
        match (self, principal) {
            (PrincipalPattern::Everyone, _) => true,
            (_, Principal::Anonymous) => false,
            (PrincipalPattern::Org(o), Principal::User { org, .. }) => o == org,
            (PrincipalPattern::User { org: o, name: n }, Principal::User { org, name }) => {
                o == org && n == name
            }
        }
    }
}
