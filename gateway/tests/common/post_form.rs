//! POST Object forms: the fields of a SigV4-signed policy, and the `multipart/form-data` body.

use std::time::{Duration, SystemTime};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use http::Method;
use time::OffsetDateTime;
use time::macros::format_description;

use super::{Gateway, RawResponse};

pub const BOUNDARY: &str = "stowage-form-boundary";

/// The form fields of a SigV4-signed POST of `file` under the policy `conditions`.
pub fn signed_form(
    (access_key, secret_key): (&str, &str),
    conditions: serde_json::Value,
    fields: &[(&str, &str)],
) -> Vec<(String, String)> {
    let now = SystemTime::now();
    let at = OffsetDateTime::from(now);
    let date = at
        .format(format_description!("[year][month][day]"))
        .expect("date");
    let amz_date = at
        .format(format_description!("[year][month][day]T[hour][minute][second]Z"))
        .expect("timestamp");
    let credential = format!("{access_key}/{date}/us-east-1/s3/aws4_request");
    let expiration = OffsetDateTime::from(now + Duration::from_secs(600))
        .format(format_description!(
            "[year]-[month]-[day]T[hour]:[minute]:[second].000Z"
        ))
        .expect("expiration");
    let mut all = conditions.as_array().expect("conditions").clone();
    all.extend([
        serde_json::json!({"x-amz-algorithm": "AWS4-HMAC-SHA256"}),
        serde_json::json!({"x-amz-credential": credential}),
        serde_json::json!({"x-amz-date": amz_date}),
    ]);
    let policy = B64.encode(serde_json::json!({"expiration": expiration, "conditions": all}).to_string());
    let key = aws_sigv4::sign::v4::generate_signing_key(secret_key, now, "us-east-1", "s3");
    let signature = aws_sigv4::sign::v4::calculate_signature(key, policy.as_bytes());
    let mut form: Vec<(String, String)> = fields
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    form.extend([
        ("x-amz-algorithm".to_owned(), "AWS4-HMAC-SHA256".to_owned()),
        ("x-amz-credential".to_owned(), credential),
        ("x-amz-date".to_owned(), amz_date),
        ("policy".to_owned(), policy),
        ("x-amz-signature".to_owned(), signature),
    ]);
    form
}

/// A `multipart/form-data` body of `fields`, then the file.
pub fn multipart(fields: &[(String, String)], file: &[u8]) -> Vec<u8> {
    let mut body = Vec::new();
    for (name, value) in fields {
        body.extend(
            format!("--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n")
                .as_bytes(),
        );
    }
    body.extend(
        format!(
            "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"report.txt\"\r\n\
             Content-Type: text/plain\r\n\r\n"
        )
        .as_bytes(),
    );
    body.extend(file);
    body.extend(format!("\r\n--{BOUNDARY}--\r\n").as_bytes());
    body
}

pub async fn post(gw: &Gateway, bucket: &str, fields: &[(String, String)], file: &[u8]) -> RawResponse {
    gw.raw()
        .request(Method::POST, &format!("/{bucket}"))
        .anonymous()
        .header(
            "content-type",
            format!("multipart/form-data; boundary={BOUNDARY}"),
        )
        .body(multipart(fields, file))
        .send()
        .await
}
