//! Object Lock is not built: no bucket has it. A request that asks for it is refused rather
//! than given an unlocked bucket or object it would take for locked. CreateBucket with Object
//! Lock enabled is `501 NotImplemented`. A write carrying a retention or a legal hold gets
//! AWS's answer for a bucket without Object Lock: `400 InvalidRequest`. The Object Lock
//! configuration, retention and legal-hold calls themselves are s3s's `501 NotImplemented`.

use s3s::{S3Error, S3ErrorCode, S3Result};

/// CreateBucket's `x-amz-bucket-object-lock-enabled`.
pub fn refuse_bucket_lock(enabled: Option<bool>) -> S3Result<()> {
    if enabled == Some(true) {
        return Err(S3Error::with_message(
            S3ErrorCode::NotImplemented,
            "Object Lock is not supported by this store",
        ));
    }
    Ok(())
}

/// A write's `x-amz-object-lock-mode`, `-retain-until-date` or `-legal-hold`, any of them.
pub fn refuse_object_lock(requested: bool) -> S3Result<()> {
    if requested {
        return Err(S3Error::with_message(
            S3ErrorCode::InvalidRequest,
            "Bucket is missing ObjectLockConfiguration",
        ));
    }
    Ok(())
}

/// Whether any input with the Object Lock fields of a write asks for a lock.
macro_rules! object_lock_requested {
    ($input:expr) => {
        $input.object_lock_mode.is_some()
            || $input.object_lock_retain_until_date.is_some()
            || $input.object_lock_legal_hold_status.is_some()
    };
}
pub(crate) use object_lock_requested;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_request_for_a_lock_is_refused() {
        assert!(refuse_bucket_lock(None).is_ok());
        assert!(refuse_bucket_lock(Some(false)).is_ok());
        let err = refuse_bucket_lock(Some(true)).unwrap_err();
        assert_eq!(*err.code(), S3ErrorCode::NotImplemented);
        assert!(refuse_object_lock(false).is_ok());
        let err = refuse_object_lock(true).unwrap_err();
        assert_eq!(*err.code(), S3ErrorCode::InvalidRequest);
    }
}
