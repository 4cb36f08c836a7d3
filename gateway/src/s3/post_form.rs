//! POST Object, the browser upload: an HTML form whose fields carry the key, a policy and its
//! SigV4 signature, and then the file. s3s parses the form, checks the signature and the
//! policy, and hands the upload over as a PutObject; access resolves and authorizes its key
//! (`auth::post_form`). Two things are made as AWS does them here:
//!
//! - `${filename}` in the `key` field is the file's own name. s3s keeps only the form's fields,
//!   so the name is read off the file part's header as the body streams past.
//! - A form the policy does not allow is `403 AccessDenied` ("Invalid according to Policy"),
//!   where s3s answers `400 InvalidPolicyDocument`.

use axum::body::Body;
use axum::extract::Request;
use axum::middleware::Next;
use axum::response::Response;
use futures::StreamExt as _;
use http::header::{CONTENT_LENGTH, CONTENT_TYPE};
use http::{HeaderValue, Method, StatusCode};
use http_body_util::BodyExt as _;

use super::envelope::{MAX_ERROR_BODY, between};
use crate::auth::post_form::FormFileName;

/// The file part's header that names the file: browsers send exactly this form.
const FILE_HEADER: &[u8] = b"name=\"file\"; filename=\"";
/// Bytes kept between chunks, so that a header split across two is still found.
const CARRY: usize = 4096;

pub async fn post_form(mut req: Request, next: Next) -> Response {
    let is_form = req.method() == Method::POST
        && req
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.to_ascii_lowercase().starts_with("multipart/form-data"));
    if !is_form {
        return next.run(req).await;
    }
    let name = FormFileName::default();
    req.extensions_mut().insert(name.clone());
    let mut scanner = Scanner::default();
    let req = req.map(|body| {
        Body::from_stream(body.into_data_stream().inspect(move |chunk| {
            if let Ok(chunk) = chunk
                && let Some(found) = scanner.feed(chunk)
            {
                name.found(found);
            }
        }))
    });
    policy_refusal_as_access_denied(next.run(req).await).await
}

/// Finds the file part's name in a body fed chunk by chunk.
#[derive(Default)]
struct Scanner {
    carry: Vec<u8>,
    done: bool,
}

impl Scanner {
    fn feed(&mut self, chunk: &[u8]) -> Option<String> {
        if self.done {
            return None;
        }
        self.carry.extend_from_slice(chunk);
        if let Some(at) = find(&self.carry, FILE_HEADER) {
            let name = &self.carry[at + FILE_HEADER.len()..];
            if let Some(end) = name.iter().position(|b| *b == b'"') {
                self.done = true;
                let found = String::from_utf8_lossy(&name[..end]).into_owned();
                self.carry = Vec::new();
                return Some(found);
            }
            // The name itself is cut off: keep the header and wait for the rest.
            self.carry.drain(..at);
            if self.carry.len() <= CARRY {
                return None;
            }
        }
        let keep = self.carry.len().saturating_sub(CARRY);
        self.carry.drain(..keep);
        None
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// s3s answers a policy condition that fails with `400 InvalidPolicyDocument`; AWS with
/// `403 AccessDenied`, "Invalid according to Policy: Policy Condition failed".
async fn policy_refusal_as_access_denied(resp: Response) -> Response {
    if resp.status() != StatusCode::BAD_REQUEST {
        return resp;
    }
    let (mut parts, body) = resp.into_parts();
    let bytes = match http_body_util::Limited::new(body, MAX_ERROR_BODY).collect().await {
        Ok(c) => c.to_bytes(),
        Err(_) => return Response::from_parts(parts, Body::empty()),
    };
    let Some(document) = std::str::from_utf8(&bytes).ok().and_then(access_denied_document) else {
        return Response::from_parts(parts, Body::from(bytes));
    };
    parts.status = StatusCode::FORBIDDEN;
    parts
        .headers
        .insert(CONTENT_LENGTH, HeaderValue::from(document.len()));
    Response::from_parts(parts, Body::from(document))
}

/// The `AccessDenied` document for an s3s error document that reports a failed policy
/// condition; `None` for any other.
fn access_denied_document(xml: &str) -> Option<String> {
    let code = between(xml, "<Code>", "</Code>")?;
    let message = between(xml, "<Message>", "</Message>").unwrap_or_default();
    let condition_failed = code == "InvalidPolicyDocument"
        && (message.starts_with("Policy condition") || message.starts_with("Bucket in form field"));
    condition_failed.then(|| {
        format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>AccessDenied</Code>\
             <Message>Invalid according to Policy: Policy Condition failed: {message}</Message></Error>"
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_file_name_is_found_across_chunk_boundaries() {
        let body = b"--b\r\nContent-Disposition: form-data; name=\"key\"\r\n\r\nup/${filename}\r\n\
                     --b\r\nContent-Disposition: form-data; name=\"file\"; filename=\"report 1.txt\"\r\n\
                     Content-Type: text/plain\r\n\r\nbytes\r\n--b--\r\n";
        for split in [1, 7, 40, 90, 100, 110, body.len()] {
            let mut scanner = Scanner::default();
            let found: Vec<String> = body.chunks(split).filter_map(|c| scanner.feed(c)).collect();
            assert_eq!(found, ["report 1.txt"], "chunks of {split}");
        }
        let mut scanner = Scanner::default();
        assert_eq!(scanner.feed(b"name=\"key\"\r\n\r\nvalue"), None);
    }

    #[test]
    fn only_failed_policy_conditions_become_access_denied() {
        let failed = "<Error><Code>InvalidPolicyDocument</Code><Message>Policy condition &apos;eq&apos; failed</Message></Error>";
        let doc = access_denied_document(failed).expect("rewritten");
        assert!(doc.contains("<Code>AccessDenied</Code>"), "{doc}");
        assert!(doc.contains("Invalid according to Policy"), "{doc}");
        let malformed =
            "<Error><Code>InvalidPolicyDocument</Code><Message>failed to parse POST policy</Message></Error>";
        assert_eq!(access_denied_document(malformed), None);
        assert_eq!(
            access_denied_document("<Error><Code>EntityTooLarge</Code></Error>"),
            None
        );
    }
}
