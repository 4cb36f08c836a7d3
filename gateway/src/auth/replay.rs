//! An identity proven by one pass of a request through s3s, carried to a second pass of the same
//! request that s3s cannot verify because the gateway changed a signed header.
//!
//! Used only by `s3::lenient_range`: s3s 0.14 answers a syntactically invalid `Range` with
//! `400 InvalidArgument` after verifying the signature, while RFC 9110 (and AWS) ignore it. The
//! header is signed, so it cannot be dropped before s3s verifies it. The first pass verifies and
//! authorizes the request as sent and stops there ([`ReplayProbe`]); the second pass, without
//! the header and without its signature, runs as the caller the first pass proved
//! ([`ProvenCaller`]). Both are request extensions, which a client cannot set.

use std::sync::{Arc, OnceLock};

/// Asks the access check to record the caller once the request is verified and authorized, and
/// to stop the request there.
#[derive(Clone, Default)]
pub struct ReplayProbe(Arc<OnceLock<Option<String>>>);

impl ReplayProbe {
    /// Records the access key (`None`: anonymous) the request was verified and authorized as.
    pub fn prove(&self, access_key: Option<String>) {
        let _ = self.0.set(access_key);
    }

    /// The caller proved by the first pass; `None` if it was refused (or never got that far).
    pub fn proven(&self) -> Option<ProvenCaller> {
        self.0.get().cloned().map(ProvenCaller)
    }
}

/// The caller of a replayed request, verified by its first pass: the access check takes it
/// instead of the (stripped) signature's.
#[derive(Clone, Debug)]
pub struct ProvenCaller(pub Option<String>);
