//! ACLs as AWS runs them on new buckets: Object Ownership is `BucketOwnerEnforced`, so ACLs are
//! disabled. The bucket owner owns every object and has full control; policies grant the rest.
//! A request may still name the ACL that says exactly that (`private`,
//! `bucket-owner-full-control`, or FULL_CONTROL granted to the owner alone), which AWS accepts;
//! any other ACL would be silently ignored, so it is refused with
//! `400 AccessControlListNotSupported`, as AWS refuses it.

use http::StatusCode;
use s3s::dto::{AccessControlPolicy, BucketCannedACL, ObjectCannedACL, ObjectOwnership, Permission, Type};
use s3s::{S3Error, S3ErrorCode, S3Result};

use super::request::canonical_id;
use crate::errors::custom;

/// The one Object Ownership setting this store has.
pub const OWNERSHIP: &str = ObjectOwnership::BUCKET_OWNER_ENFORCED;

/// What a request says about ACLs: its canned ACL, its `x-amz-grant-*` headers and, for
/// PutBucketAcl and PutObjectAcl, an `AccessControlPolicy` body.
#[derive(Default)]
pub struct AclRequest<'a> {
    pub canned: Option<&'a str>,
    pub grant_full_control: Option<&'a str>,
    /// `x-amz-grant-read`, `-read-acp`, `-write`, `-write-acp`: each grants someone something
    /// beyond the owner's full control.
    pub other_grants: [Option<&'a str>; 4],
    pub policy: Option<&'a AccessControlPolicy>,
}

impl AclRequest<'_> {
    /// Whether the request says nothing about ACLs (most do not).
    pub fn is_empty(&self) -> bool {
        self.canned.is_none()
            && self.grant_full_control.is_none()
            && self.other_grants.iter().all(Option::is_none)
            && self.policy.is_none()
    }
}

/// Fills an [`AclRequest`] from any input with the canned ACL and grant fields.
macro_rules! acl_request {
    ($input:expr, write: $write:expr) => {
        $crate::s3::acl::AclRequest {
            canned: $input.acl.as_ref().map(|a| a.as_str()),
            grant_full_control: $input.grant_full_control.as_deref(),
            other_grants: [
                $input.grant_read.as_deref(),
                $input.grant_read_acp.as_deref(),
                $write,
                $input.grant_write_acp.as_deref(),
            ],
            policy: None,
        }
    };
}
pub(crate) use acl_request;

pub fn acl_not_supported() -> S3Error {
    custom(
        "AccessControlListNotSupported",
        StatusCode::BAD_REQUEST,
        "The bucket does not allow ACLs",
    )
}

/// Refuses an Object Ownership other than `BucketOwnerEnforced`: the store cannot honour it.
pub fn check_ownership(ownership: Option<&str>) -> S3Result<()> {
    match ownership {
        None | Some(OWNERSHIP) => Ok(()),
        Some(other) => Err(S3Error::with_message(
            S3ErrorCode::InvalidRequest,
            format!("Object Ownership {other} is not supported: buckets here are always {OWNERSHIP}."),
        )),
    }
}

/// Whether `req` asks for nothing but the bucket owner's full control (owner: its org).
pub fn check(req: &AclRequest<'_>, owner: &str) -> S3Result<()> {
    let owner_id = canonical_id(owner);
    let canned_ok = req
        .canned
        .is_none_or(|c| c == BucketCannedACL::PRIVATE || c == ObjectCannedACL::BUCKET_OWNER_FULL_CONTROL);
    let full_control_ok = req.grant_full_control.is_none_or(|g| names_only(g, &owner_id));
    let policy_ok = req.policy.is_none_or(|p| {
        p.owner
            .as_ref()
            .and_then(|o| o.id.as_deref())
            .is_none_or(|id| id == owner_id)
            && p.grants.iter().flatten().all(|g| {
                let grantee = g.grantee.as_ref();
                grantee.is_some_and(|e| {
                    e.type_.as_str() == Type::CANONICAL_USER && e.id.as_deref() == Some(owner_id.as_str())
                }) && g
                    .permission
                    .as_ref()
                    .is_some_and(|p| p.as_str() == Permission::FULL_CONTROL)
            })
    });
    if canned_ok && full_control_ok && policy_ok && req.other_grants.iter().all(Option::is_none) {
        Ok(())
    } else {
        Err(acl_not_supported())
    }
}

/// Whether a grant header (`id="..."`, comma-separated) names exactly the canonical id `id`.
fn names_only(grant: &str, id: &str) -> bool {
    grant.split(',').all(|g| {
        g.trim()
            .split_once('=')
            .is_some_and(|(k, v)| k.trim().eq_ignore_ascii_case("id") && v.trim().trim_matches('"') == id)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use s3s::dto::{Grant, Grantee};

    fn grant_to(id: &str, permission: &'static str) -> Grant {
        Grant {
            grantee: Some(Grantee {
                display_name: None,
                email_address: None,
                id: Some(id.to_owned()),
                type_: Type::from_static(Type::CANONICAL_USER),
                uri: None,
            }),
            permission: Some(Permission::from_static(permission)),
        }
    }

    #[test]
    fn only_the_owners_full_control_is_accepted() {
        let me = canonical_id("org");
        let ok = [
            AclRequest::default(),
            AclRequest {
                canned: Some("private"),
                ..Default::default()
            },
            AclRequest {
                canned: Some("bucket-owner-full-control"),
                ..Default::default()
            },
            AclRequest {
                grant_full_control: Some(&format!("id=\"{me}\"")),
                ..Default::default()
            },
        ];
        for r in &ok {
            assert!(check(r, "org").is_ok());
        }
        let refused = [
            AclRequest {
                canned: Some("public-read"),
                ..Default::default()
            },
            AclRequest {
                grant_full_control: Some("id=\"someone-else\""),
                ..Default::default()
            },
            AclRequest {
                other_grants: [
                    Some("uri=\"http://acs.amazonaws.com/groups/global/AllUsers\""),
                    None,
                    None,
                    None,
                ],
                ..Default::default()
            },
        ];
        for r in &refused {
            assert_eq!(
                check(r, "org").unwrap_err().code().as_str(),
                "AccessControlListNotSupported"
            );
        }
    }

    #[test]
    fn an_acl_body_may_grant_full_control_to_the_owner_only() {
        let me = canonical_id("org");
        let mine = AccessControlPolicy {
            grants: Some(vec![grant_to(&me, Permission::FULL_CONTROL)]),
            owner: None,
        };
        let shared = AccessControlPolicy {
            grants: Some(vec![
                grant_to(&me, Permission::FULL_CONTROL),
                grant_to(&canonical_id("other"), Permission::READ),
            ]),
            owner: None,
        };
        let body = |p| AclRequest {
            policy: Some(p),
            ..Default::default()
        };
        assert!(check(&body(&mine), "org").is_ok());
        assert!(check(&body(&shared), "org").is_err());
    }
}
