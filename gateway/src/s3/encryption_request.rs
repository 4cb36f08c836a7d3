//! Server-side encryption of writes at the S3 boundary: what a request asks for (with AWS's
//! validation of the headers), what it gets (the request's choice, else the bucket's default,
//! else the store's), and what responses report.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use s3s::dto::ServerSideEncryption;
use s3s::{S3Error, S3ErrorCode, S3Result};

use crate::errors::from_kms;
use crate::kms::{KeyRef, KeyService, KmsError, key_ref};
use crate::model::{BucketRecord, ServerSide};
use crate::ops::Sealing;
use crate::sse::{CustomerKey, KeyFingerprint};

pub const AES256: &str = "AES256";
pub const AWS_KMS: &str = "aws:kms";

fn invalid(message: &str) -> S3Error {
    S3Error::with_message(S3ErrorCode::InvalidArgument, message.to_owned())
}

/// A read's headers name no server-side encryption: an object's encryption is chosen when it is
/// written, and AWS refuses the write-side headers on GET and HEAD rather than ignore them
/// (SSE-C's key headers are the read's own, and are not these).
pub fn refuse_on_read(headers: &http::HeaderMap) -> S3Result<()> {
    const WRITE_SIDE: [&str; 3] = [
        "x-amz-server-side-encryption",
        "x-amz-server-side-encryption-aws-kms-key-id",
        "x-amz-server-side-encryption-context",
    ];
    match WRITE_SIDE.iter().find(|h| headers.contains_key(**h)) {
        Some(h) => Err(invalid(&format!(
            "{h} header is not supported for this operation."
        ))),
        None => Ok(()),
    }
}

/// What a write's headers ask for.
#[derive(Debug)]
pub enum Requested {
    Unspecified,
    Customer(CustomerKey),
    S3,
    Kms {
        key: Option<String>,
        context: Option<String>,
        bucket_key: bool,
    },
}

/// The encryption headers of a write (`x-amz-server-side-encryption`, `-aws-kms-key-id`,
/// `-context`, `-bucket-key-enabled`, and an SSE-C key already parsed), refused as AWS refuses
/// them when they contradict one another.
pub fn requested(
    algorithm: Option<&ServerSideEncryption>,
    kms_key_id: Option<&str>,
    context: Option<&str>,
    bucket_key: Option<bool>,
    customer: Option<CustomerKey>,
) -> S3Result<Requested> {
    let algorithm = algorithm.map(ServerSideEncryption::as_str);
    if customer.is_some() && algorithm.is_some() {
        return Err(invalid(
            "Server Side Encryption with Customer provided key is incompatible with the encryption method specified",
        ));
    }
    let kms = algorithm == Some(AWS_KMS);
    if !kms && (kms_key_id.is_some() || context.is_some()) {
        return Err(invalid(
            "Server Side Encryption with AWS KMS managed key requires HTTP header x-amz-server-side-encryption : aws:kms",
        ));
    }
    if let Some(c) = context {
        check_context(c)?;
    }
    match algorithm {
        None => Ok(customer.map_or(Requested::Unspecified, Requested::Customer)),
        Some(AES256) => Ok(Requested::S3),
        Some(AWS_KMS) => {
            if let Some(k) = kms_key_id {
                KeyRef::parse(k).map_err(from_kms)?;
            }
            Ok(Requested::Kms {
                key: kms_key_id.map(str::to_owned),
                context: context.map(str::to_owned),
                bucket_key: bucket_key.unwrap_or(false),
            })
        }
        // `aws:kms:dsse` (two layers) included: a single layer is all this store could give.
        Some(_) => Err(invalid("The encryption method specified is not supported")),
    }
}

/// `x-amz-server-side-encryption-context`: base64 of a JSON object of strings.
fn check_context(value: &str) -> S3Result<()> {
    let bad = || {
        invalid(
            "The header 'x-amz-server-side-encryption-context' shall be Base64-encoded UTF-8 string holding JSON which represents a string-string map",
        )
    };
    let raw = B64.decode(value.trim()).map_err(|_| bad())?;
    let map: serde_json::Map<String, serde_json::Value> = serde_json::from_slice(&raw).map_err(|_| bad())?;
    if map.values().all(serde_json::Value::is_string) {
        Ok(())
    } else {
        Err(bad())
    }
}

/// How a write is sealed.
#[derive(Debug)]
pub enum Target {
    Plain,
    Customer(CustomerKey),
    Managed(ServerSide),
}

impl Target {
    pub fn sealing(&self) -> Option<Sealing<'_>> {
        match self {
            Self::Plain => None,
            Self::Customer(k) => Some(Sealing::Customer(k)),
            Self::Managed(m) => Some(Sealing::Managed(m)),
        }
    }

    pub fn fingerprint(&self) -> Option<KeyFingerprint> {
        match self {
            Self::Customer(k) => Some(k.fingerprint()),
            _ => None,
        }
    }

    pub fn managed(&self) -> Option<ServerSide> {
        match self {
            Self::Managed(m) => Some(m.clone()),
            _ => None,
        }
    }

    /// Whether an object stored with `sse` / `encryption` is already sealed this way, so a copy
    /// can share its blobs.
    pub fn matches(&self, sse: Option<&KeyFingerprint>, encryption: Option<&ServerSide>) -> bool {
        match (self, sse, encryption) {
            (Self::Plain, None, None) => true,
            (Self::Customer(k), Some(f), None) => k.matches(f),
            (Self::Managed(m), None, Some(e)) => m == e,
            _ => false,
        }
    }
}

/// What a write gets: its request's choice, else its bucket's default, else SSE-S3 when the
/// store encrypts by default. A KMS key is looked up now, so an unknown or disabled key fails
/// before a byte of the body is read.
pub async fn target(
    requested: Requested,
    bucket: &BucketRecord,
    store_default: bool,
    keys: &dyn KeyService,
) -> S3Result<Target> {
    let (key, context, bucket_key) = match requested {
        Requested::Customer(k) => return Ok(Target::Customer(k)),
        Requested::S3 => return Ok(Target::Managed(ServerSide::S3)),
        Requested::Kms {
            key,
            context,
            bucket_key,
        } => (key, context, bucket_key),
        Requested::Unspecified => match &bucket.encryption {
            Some(d) if d.kms => (d.kms_key_id.clone(), None, d.bucket_key_enabled),
            Some(_) => return Ok(Target::Managed(ServerSide::S3)),
            None if store_default => return Ok(Target::Managed(ServerSide::S3)),
            None => return Ok(Target::Plain),
        },
    };
    let key = match key {
        Some(k) => KeyRef::parse(&k).map_err(from_kms)?,
        None => KeyRef::Alias(key_ref::DEFAULT_ALIAS.to_owned()),
    };
    let info = keys.describe(&key).await.map_err(from_kms)?;
    if !info.enabled {
        return Err(from_kms(KmsError::Disabled(key_ref::arn(
            &bucket.region,
            &info.id,
        ))));
    }
    Ok(Target::Managed(ServerSide::Kms {
        key_id: info.id,
        context,
        bucket_key,
    }))
}

/// What a response reports of an SSE-S3 / SSE-KMS object.
pub struct Report {
    pub algorithm: Option<ServerSideEncryption>,
    pub kms_key_id: Option<String>,
    pub bucket_key: Option<bool>,
    pub context: Option<String>,
}

pub fn report(encryption: Option<&ServerSide>, region: &str) -> Report {
    match encryption {
        None => Report {
            algorithm: None,
            kms_key_id: None,
            bucket_key: None,
            context: None,
        },
        Some(ServerSide::S3) => Report {
            algorithm: Some(ServerSideEncryption::from_static(ServerSideEncryption::AES256)),
            kms_key_id: None,
            bucket_key: None,
            context: None,
        },
        Some(ServerSide::Kms {
            key_id,
            context,
            bucket_key,
        }) => Report {
            algorithm: Some(ServerSideEncryption::from_static(ServerSideEncryption::AWS_KMS)),
            kms_key_id: Some(key_ref::arn(region, key_id)),
            bucket_key: bucket_key.then_some(true),
            context: context.clone(),
        },
    }
}

/// Sets the encryption fields every output of an object write or read has.
macro_rules! set_encryption {
    ($out:expr, $encryption:expr, $region:expr) => {{
        let r = $crate::s3::encryption_request::report($encryption, $region);
        $out.server_side_encryption = r.algorithm;
        $out.ssekms_key_id = r.kms_key_id;
        $out.bucket_key_enabled = r.bucket_key;
        r.context
    }};
}
pub(crate) use set_encryption;

#[cfg(test)]
mod tests {
    use super::*;

    fn sse(v: &'static str) -> ServerSideEncryption {
        ServerSideEncryption::from_static(v)
    }

    fn code(r: S3Result<Requested>) -> String {
        r.unwrap_err().code().as_str().to_owned()
    }

    fn customer() -> CustomerKey {
        CustomerKey::of_bytes(3)
    }

    #[test]
    fn contradicting_headers_are_invalid_arguments() {
        let kms = sse(AWS_KMS);
        let aes = sse(AES256);
        assert_eq!(
            code(requested(Some(&aes), None, None, None, Some(customer()))),
            "InvalidArgument"
        );
        assert_eq!(
            code(requested(Some(&aes), Some("alias/k"), None, None, None)),
            "InvalidArgument"
        );
        assert_eq!(
            code(requested(None, Some("alias/k"), None, None, None)),
            "InvalidArgument"
        );
        assert_eq!(
            code(requested(Some(&sse("AES128")), None, None, None, None)),
            "InvalidArgument"
        );
        assert_eq!(
            code(requested(Some(&sse("aws:kms:dsse")), None, None, None, None)),
            "InvalidArgument"
        );
        assert_eq!(
            code(requested(Some(&kms), None, Some("not base64!"), None, None)),
            "InvalidArgument"
        );
        let nested = B64.encode(br#"{"a":{"b":"c"}}"#);
        assert_eq!(
            code(requested(Some(&kms), None, Some(&nested), None, None)),
            "InvalidArgument"
        );
    }

    #[test]
    fn consistent_headers_say_what_is_asked() {
        assert!(matches!(
            requested(None, None, None, None, None).unwrap(),
            Requested::Unspecified
        ));
        assert!(matches!(
            requested(Some(&sse(AES256)), None, None, None, None).unwrap(),
            Requested::S3
        ));
        assert!(matches!(
            requested(None, None, None, None, Some(customer())).unwrap(),
            Requested::Customer(_)
        ));
        let context = B64.encode(br#"{"project":"x"}"#);
        match requested(
            Some(&sse(AWS_KMS)),
            Some("alias/app"),
            Some(&context),
            Some(true),
            None,
        )
        .unwrap()
        {
            Requested::Kms {
                key,
                context: c,
                bucket_key,
            } => {
                assert_eq!(key.as_deref(), Some("alias/app"));
                assert_eq!(c, Some(context));
                assert!(bucket_key);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn reports_name_the_key_by_arn() {
        let r = report(
            Some(&ServerSide::Kms {
                key_id: "k1".into(),
                context: None,
                bucket_key: false,
            }),
            "us-east-1",
        );
        assert_eq!(r.algorithm.unwrap().as_str(), "aws:kms");
        assert_eq!(
            r.kms_key_id.as_deref(),
            Some("arn:aws:kms:us-east-1:000000000000:key/k1")
        );
        assert_eq!(
            report(Some(&ServerSide::S3), "r").algorithm.unwrap().as_str(),
            "AES256"
        );
        assert!(report(None, "r").algorithm.is_none());
    }
}
