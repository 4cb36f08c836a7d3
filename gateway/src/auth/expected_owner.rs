//! `x-amz-expected-bucket-owner` (and `x-amz-source-expected-bucket-owner` for a copy's source):
//! a caller's guard against acting on a bucket someone else owns, such as a bucket deleted and
//! created again by another owner under the same name. A request whose bucket is owned otherwise
//! is refused with 403 `AccessDenied`, as AWS does.
//!
//! AWS compares the value with the owner's account id. A bucket here is owned by an
//! organization, which callers know by its canonical id (the `Owner.ID` that ListBuckets,
//! listings and ACLs show) or by its name: either matches.

use http::HeaderMap;

use super::identity::canonical_id;

pub const HEADER: &str = "x-amz-expected-bucket-owner";
pub const SOURCE_HEADER: &str = "x-amz-source-expected-bucket-owner";

/// The expected owner a request states in `header`, if any.
pub fn stated<'a>(headers: &'a HeaderMap, header: &str) -> Option<&'a str> {
    headers.get(header).map(|v| v.to_str().unwrap_or_default())
}

/// Whether a bucket of `owner_org` is owned as `expected` says.
pub fn owned_by(owner_org: &str, expected: &str) -> bool {
    expected == owner_org || expected == canonical_id(owner_org)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_canonical_id_or_the_name_of_the_owning_org_matches() {
        assert!(owned_by("ml-team", &canonical_id("ml-team")));
        assert!(owned_by("ml-team", "ml-team"));
        assert!(!owned_by("ml-team", &canonical_id("other")));
        assert!(!owned_by("ml-team", "other"));
        assert!(!owned_by("ml-team", ""));
        assert!(!owned_by("ml-team", "123456789012"));
    }

    #[test]
    fn a_value_that_is_not_text_is_stated_and_matches_nothing() {
        let mut headers = HeaderMap::new();
        assert_eq!(stated(&headers, HEADER), None);
        headers.insert(HEADER, http::HeaderValue::from_bytes(b"\xff").unwrap());
        assert_eq!(stated(&headers, HEADER), Some(""));
    }
}
