//! Access control: identities (users, orgs, keys), what each call needs, bucket policies, and
//! the decision taken on every request.

pub mod access;
pub mod expected_owner;
pub mod identity;
pub mod master_keys;
pub mod missing_key;
pub mod permissions;
pub mod policy;
pub mod post_form;
pub mod replay;
pub mod secrets;
