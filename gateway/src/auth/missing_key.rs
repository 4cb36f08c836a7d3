//! What a read of a key that does not exist answers. As on AWS, `404 NoSuchKey` goes only to a
//! caller who may list the bucket under that key (`s3:ListBucket`, with the key as `s3:prefix`);
//! everyone else gets `403 AccessDenied`, whether or not they may read the key. Otherwise a
//! caller allowed to read `public/*` (an anonymous visitor of a public bucket, say) could probe
//! which other keys exist, and one allowed only to list could not tell a missing key from a
//! refusal of the one it names.

use s3s::{S3Error, S3ErrorCode, S3Result};

use super::access::{Access, FactsOf, denied};
use super::identity::Identity;
use super::permissions::{Needed, has_query};
use crate::errors::no_such_key;

/// The reads of one object whose answer for a missing key depends on the caller's listing.
pub const READS: [&str; 3] = ["GetObject", "HeadObject", "GetObjectAttributes"];

/// Whether the caller of one of [`READS`] may list the bucket under its key, decided by the
/// access check, for the operation to answer a missing key with.
#[derive(Debug, Clone, Copy)]
pub struct MayList(pub bool);

/// `result` of one of [`READS`] as its caller may see it: a missing key is refused to a caller
/// who may not list it.
pub fn as_seen<T>(result: S3Result<T>, may_list: Option<MayList>) -> S3Result<T> {
    match result {
        Err(e) if *e.code() == S3ErrorCode::NoSuchKey && matches!(may_list, Some(MayList(false))) => {
            Err(denied())
        }
        other => other,
    }
}

/// The query facts of a listing under `key`: its `s3:prefix`.
fn listing_under(key: &str) -> String {
    format!("prefix={}", urlencoding::encode(key))
}

impl Access {
    /// Whether `caller` may list `bucket` under `key`, under the request's other facts.
    pub(super) async fn may_list_under(
        &self,
        caller: Option<&Identity>,
        bucket: &str,
        key: &str,
        facts_of: &FactsOf<'_>,
    ) -> S3Result<bool> {
        let query = listing_under(key);
        let facts = FactsOf {
            query: Some(&query),
            body_tags: None,
            ..*facts_of
        };
        let need = Needed {
            action: "s3:ListBucket",
            bucket: bucket.to_owned(),
            key: None,
        };
        match self.authorize(caller, &need, &facts).await {
            Ok(()) => Ok(true),
            Err(e) if *e.code() == S3ErrorCode::AccessDenied => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// The answer to one of [`READS`] refused with `refusal`: `404` instead when the key (the
    /// current version; a named version keeps the refusal) does not exist and the caller may
    /// list it, which tells the caller nothing its listing would not. Read after the refusal, so
    /// an object created meanwhile is never served, only reported missing.
    pub(super) async fn refused_read(
        &self,
        caller: Option<&Identity>,
        need: &Needed,
        facts_of: &FactsOf<'_>,
        refusal: S3Error,
    ) -> S3Result<S3Error> {
        let Some(key) = need.key.as_deref() else {
            return Ok(refusal);
        };
        if *refusal.code() != S3ErrorCode::AccessDenied
            || has_query(facts_of.query, "versionId")
            || !self.may_list_under(caller, &need.bucket, key, facts_of).await?
        {
            return Ok(refusal);
        }
        Ok(match self.store.head_object(&need.bucket, key, None).await {
            Ok(head) if head.delete_marker => no_such_key(),
            Err(e) if *e.code() == S3ErrorCode::NoSuchKey => e,
            _ => refusal,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_key_is_refused_only_to_callers_who_may_not_list() {
        let missing = || -> S3Result<()> { Err(no_such_key()) };
        let code = |r: S3Result<()>| r.unwrap_err().code().clone();
        assert_eq!(
            code(as_seen(missing(), Some(MayList(false)))),
            S3ErrorCode::AccessDenied
        );
        assert_eq!(
            code(as_seen(missing(), Some(MayList(true)))),
            S3ErrorCode::NoSuchKey
        );
        assert_eq!(code(as_seen(missing(), None)), S3ErrorCode::NoSuchKey);
        let other = || -> S3Result<()> { Err(S3Error::new(S3ErrorCode::InvalidRange)) };
        assert_eq!(
            code(as_seen(other(), Some(MayList(false)))),
            S3ErrorCode::InvalidRange
        );
        assert!(as_seen(Ok(()), Some(MayList(false))).is_ok());
    }

    #[test]
    fn a_listing_under_a_key_is_prefixed_by_it_encoded() {
        assert_eq!(listing_under("public/a b&c"), "prefix=public%2Fa%20b%26c");
    }
}
