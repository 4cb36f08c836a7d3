//! POST Object: browser uploads through an HTML form whose fields carry a policy signed with
//! SigV4. A policy that allows the form stores the file; one that does not is `403 AccessDenied`
//! (as AWS answers), and a form signed with Signature Version 2 is refused as every SigV2
//! request is.

mod common;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use common::post_form::{post, signed_form};
use common::*;

const B: &str = "forms";

#[tokio::test]
async fn a_form_its_policy_allows_stores_the_file() {
    let (gw, client) = with_bucket(B).await;
    let form = signed_form(
        (&gw.access_key, &gw.secret_key),
        serde_json::json!([{"bucket": B}, ["starts-with", "$key", "uploads/"]]),
        &[("key", "uploads/${filename}")],
    );

    let resp = post(&gw, B, &form, b"quarterly numbers").await;

    assert_eq!(resp.status, 204, "{}", resp.text());
    assert_eq!(get(&client, B, "uploads/report.txt").await, b"quarterly numbers");
}

#[tokio::test]
async fn a_form_its_policy_does_not_allow_is_access_denied_and_stores_nothing() {
    let (gw, client) = with_bucket(B).await;
    let policy = serde_json::json!([{"bucket": B}, ["starts-with", "$key", "uploads/"]]);
    let outside = signed_form(
        (&gw.access_key, &gw.secret_key),
        policy.clone(),
        &[("key", "elsewhere/report.txt")],
    );
    let too_big = signed_form(
        (&gw.access_key, &gw.secret_key),
        serde_json::json!([{"bucket": B}, ["starts-with", "$key", ""], ["content-length-range", 0, 4]]),
        &[("key", "big.txt")],
    );

    let resp = post(&gw, B, &outside, b"x").await;
    assert_raw_error(&resp, "AccessDenied", 403);
    let resp = post(&gw, B, &too_big, b"more than four bytes").await;
    assert_raw_error(&resp, "EntityTooLarge", 400);
    let mut tampered = signed_form(
        (&gw.access_key, &gw.secret_key),
        policy,
        &[("key", "uploads/a.txt")],
    );
    tampered.iter_mut().find(|(k, _)| k == "key").expect("key").1 = "elsewhere/a.txt".to_owned();
    let resp = post(&gw, B, &tampered, b"x").await;
    assert_raw_error(&resp, "AccessDenied", 403);

    assert!(snapshot(&client, B).await.is_empty(), "nothing was stored");
}

#[tokio::test]
async fn a_form_signed_with_signature_version_2_is_refused() {
    use hmac::{Hmac, KeyInit as _, Mac as _};
    let (gw, client) = with_bucket(B).await;
    let policy = B64.encode(
        serde_json::json!({
            "expiration": "2099-01-01T00:00:00Z",
            "conditions": [{"bucket": B}, ["starts-with", "$key", ""]]
        })
        .to_string(),
    );
    let mut mac = Hmac::<sha1::Sha1>::new_from_slice(gw.secret_key.as_bytes()).expect("hmac key");
    mac.update(policy.as_bytes());
    let signature = B64.encode(mac.finalize().into_bytes());
    let form = vec![
        ("key".to_owned(), "v2.txt".to_owned()),
        ("AWSAccessKeyId".to_owned(), gw.access_key.clone()),
        ("policy".to_owned(), policy),
        ("signature".to_owned(), signature),
    ];

    let resp = post(&gw, B, &form, b"x").await;

    assert_raw_error(&resp, "InvalidRequest", 400);
    assert!(resp.text().contains("AWS4-HMAC-SHA256"), "{}", resp.text());
    assert!(snapshot(&client, B).await.is_empty(), "nothing was stored");
}

/// The form parser holds a form's file in memory: past `--max-form-upload-size` a form is
/// refused before anything is stored, whatever its policy allows.
#[tokio::test]
async fn a_form_larger_than_the_gateway_takes_is_entity_too_large() {
    let (gw, client) = with_bucket_args(B, &["--max-form-upload-size", "1024"]).await;
    let any = serde_json::json!([{"bucket": B}, ["starts-with", "$key", ""]]);
    let form = signed_form((&gw.access_key, &gw.secret_key), any, &[("key", "big.bin")]);

    let resp = post(&gw, B, &form, &vec![7u8; 4096]).await;
    assert_raw_error(&resp, "EntityTooLarge", 400);
    let resp = post(&gw, B, &form, &[7u8; 1000]).await;
    assert_eq!(resp.status, 204, "{}", resp.text());

    let keys: Vec<String> = snapshot(&client, B).await.into_iter().map(|(k, _)| k).collect();
    assert_eq!(keys, ["big.bin"]);
    assert_eq!(get(&client, B, "big.bin").await, vec![7u8; 1000]);
}
