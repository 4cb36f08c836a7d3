//! The reconcilers' one error type. Each variant's name is its metric label (`error="..."`) and
//! the reason of the `Ready=False` condition it leads to, so a dashboard, `kubectl describe` and
//! the code all say the same word.

use crate::store_client::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("Kubernetes API call failed: {0}")]
    KubernetesError(#[source] kube::Error),
    #[error("ObjectStore {0:?} not found in this namespace")]
    StoreNotFound(String),
    #[error("ObjectStore {0:?} is not ready yet")]
    StoreNotReady(String),
    #[error("the admin Secret {0:?} of the store is missing or incomplete")]
    AdminSecretMissing(String),
    #[error("{0}")]
    TlsSecretInvalid(String),
    #[error("{0}")]
    StoreUnreachable(#[source] StoreError),
    #[error("{0}")]
    StoreRejected(#[source] StoreError),
    #[error("cannot issue credentials: {0}")]
    AdminApiUnavailable(#[source] StoreError),
    #[error("Bucket {0:?} not found in this namespace")]
    BucketNotFound(String),
    #[error("Bucket {0:?} is not ready: not created in its store yet, or being deleted")]
    BucketNotReady(String),
    #[error("{0}")]
    InvalidSpec(String),
    #[error("{0}")]
    Conflict(String),
    #[error(
        "bucket {0:?} still holds objects, so deletionPolicy Delete cannot delete it: delete them, or set \
         spec.forceDelete: true to have the operator empty the bucket"
    )]
    DeletionBlocked(String),
    #[error("{0}")]
    MasterKeyMissing(String),
    #[error("{0}")]
    MasterKeyMismatch(String),
    #[error("{0}")]
    MasterKeyMalformed(String),
}

impl Error {
    /// The variant's name: metric label and condition reason.
    pub fn reason(&self) -> &'static str {
        match self {
            Error::KubernetesError(_) => "KubernetesError",
            Error::StoreNotFound(_) => "StoreNotFound",
            Error::StoreNotReady(_) => "StoreNotReady",
            Error::AdminSecretMissing(_) => "AdminSecretMissing",
            Error::TlsSecretInvalid(_) => "TlsSecretInvalid",
            Error::StoreUnreachable(_) => "StoreUnreachable",
            Error::StoreRejected(_) => "StoreRejected",
            Error::AdminApiUnavailable(_) => "AdminApiUnavailable",
            Error::BucketNotFound(_) => "BucketNotFound",
            Error::BucketNotReady(_) => "BucketNotReady",
            Error::InvalidSpec(_) => "InvalidSpec",
            Error::Conflict(_) => "Conflict",
            Error::DeletionBlocked(_) => "DeletionBlocked",
            Error::MasterKeyMissing(_) => "MasterKeyMissing",
            Error::MasterKeyMismatch(_) => "MasterKeyMismatch",
            Error::MasterKeyMalformed(_) => "MasterKeyMalformed",
        }
    }
}

impl Error {
    /// The operator's refusal to hand `secret`'s key to the gateways.
    pub fn master_key(refusal: &crate::resources::master_key::Refusal, secret: &str) -> Self {
        use crate::resources::master_key::Refusal;
        let message = refusal.message(secret);
        match refusal {
            Refusal::Missing { .. } => Error::MasterKeyMissing(message),
            Refusal::Mismatch { .. } => Error::MasterKeyMismatch(message),
            Refusal::Malformed(_) => Error::MasterKeyMalformed(message),
        }
    }
}

impl From<kube::Error> for Error {
    fn from(e: kube::Error) -> Self {
        Error::KubernetesError(e)
    }
}

impl From<StoreError> for Error {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Unreachable { .. } => Error::StoreUnreachable(e),
            StoreError::AdminApiUnavailable { .. } => Error::AdminApiUnavailable(e),
            StoreError::InvalidEndpoint(_) => Error::InvalidSpec(e.to_string()),
            StoreError::InvalidCa(_) => Error::TlsSecretInvalid(e.to_string()),
            StoreError::Rejected { status, .. } if status >= 500 => Error::StoreUnreachable(e),
            StoreError::Rejected { .. } | StoreError::Protocol(_) => Error::StoreRejected(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_errors_are_classified() {
        let unreachable = StoreError::Unreachable {
            endpoint: "http://x".into(),
            reason: "refused".into(),
        };
        assert_eq!(Error::from(unreachable).reason(), "StoreUnreachable");
        let busy = StoreError::Rejected {
            status: 503,
            code: "SlowDown".into(),
            message: String::new(),
        };
        assert_eq!(Error::from(busy).reason(), "StoreUnreachable");
        let denied = StoreError::Rejected {
            status: 403,
            code: "AccessDenied".into(),
            message: String::new(),
        };
        assert_eq!(Error::from(denied).reason(), "StoreRejected");
        let no_admin = StoreError::AdminApiUnavailable {
            status: 400,
            code: "InvalidBucketName".into(),
        };
        assert_eq!(Error::from(no_admin).reason(), "AdminApiUnavailable");
    }

    #[test]
    fn deletion_blocked_says_how_to_proceed() {
        let message = Error::DeletionBlocked("logs".into()).to_string();
        assert!(message.contains("forceDelete: true"), "{message}");
    }
}
