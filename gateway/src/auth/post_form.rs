//! A POST form's key and signature as access decides them (`s3::post_form` reads the file's
//! name off the body; s3s checks the form's signature and policy).
//!
//! The key is resolved here, before the upload is authorized: `${filename}` in the `key` field
//! is the file's own name, and it is that key, not the form's literal, that the bucket's policy
//! must allow.

use std::sync::{Arc, OnceLock};

use s3s::{S3Error, S3ErrorCode, S3Result};

/// The file name of a POST form, once its part's header has streamed past.
#[derive(Clone, Debug, Default)]
pub struct FormFileName(Arc<OnceLock<String>>);

impl FormFileName {
    pub fn found(&self, name: String) {
        let _ = self.0.set(name);
    }
}

/// The key of a POST upload, `${filename}` replaced by the file's name.
pub fn form_key(key: &str, name: Option<&FormFileName>) -> S3Result<String> {
    const VARIABLE: &str = "${filename}";
    if !key.contains(VARIABLE) {
        return Ok(key.to_owned());
    }
    match name.and_then(|n| n.0.get()) {
        Some(file) => Ok(key.replace(VARIABLE, file)),
        None => Err(S3Error::with_message(
            S3ErrorCode::InvalidArgument,
            "The key uses ${filename} but the file field names no file.",
        )),
    }
}

/// Refuses a POST form signed with Signature Version 2, as every SigV2 request is refused
/// (`s3::signature_gate`; s3s would accept it). Its credentials carry no region: a SigV4
/// signature's scope always names one, and this gateway's hosts never supply one.
pub fn refuse_signature_v2(signed: bool, region: Option<&s3s::region::Region>) -> S3Result<()> {
    if signed && region.is_none() {
        return Err(S3Error::with_message(
            S3ErrorCode::InvalidRequest,
            "The authorization mechanism you have provided is not supported. Please use AWS4-HMAC-SHA256.",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_variable_is_replaced_or_refused_without_a_name() {
        let named = FormFileName::default();
        named.found("a.txt".to_owned());
        assert_eq!(form_key("up/${filename}", Some(&named)).unwrap(), "up/a.txt");
        assert_eq!(form_key("plain", None).unwrap(), "plain");
        let refused = form_key("up/${filename}", Some(&FormFileName::default())).unwrap_err();
        assert_eq!(*refused.code(), S3ErrorCode::InvalidArgument);
    }
}
