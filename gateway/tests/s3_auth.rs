//! Who may ask, and how: SigV4 failures, clock skew, anonymous requests, presigned URLs,
//! UNSIGNED-PAYLOAD, the S3 error document, virtual-host addressing and unimplemented operations.

mod common;

use std::time::{Duration, SystemTime};

use common::*;
use e2e::PayloadHash;
use http::Method;

/// SigV4's allowance for client clocks is 15 minutes either way.
const INSIDE_SKEW: Duration = Duration::from_secs(10 * 60);
const OUTSIDE_SKEW: Duration = Duration::from_secs(20 * 60);

#[tokio::test]
async fn a_wrong_secret_is_signature_does_not_match_and_writes_nothing() {
    let (gw, client, before) = bucket_with_original("auth").await;

    let resp = gw
        .raw()
        .request(Method::PUT, "/auth/k")
        .credentials(&gw.access_key, "not-the-secret")
        .body("forged")
        .send()
        .await;

    assert_raw_error(&resp, "SignatureDoesNotMatch", 403);
    assert_eq!(snapshot(&client, "auth").await, before);
}

#[tokio::test]
async fn an_unknown_access_key_is_invalid_access_key_id_and_writes_nothing() {
    let (gw, client, before) = bucket_with_original("auth").await;

    let resp = gw
        .raw()
        .request(Method::PUT, "/auth/k")
        .credentials("AKIDUNKNOWN000000000", &gw.secret_key)
        .body("forged")
        .send()
        .await;

    assert_raw_error(&resp, "InvalidAccessKeyId", 403);
    assert_eq!(snapshot(&client, "auth").await, before);
}

#[tokio::test]
async fn a_signature_20_minutes_old_is_request_time_too_skewed() {
    let (gw, client, before) = bucket_with_original("auth").await;

    let resp = gw
        .raw()
        .request(Method::PUT, "/auth/k")
        .signing_time(SystemTime::now() - OUTSIDE_SKEW)
        .body("replayed")
        .send()
        .await;

    assert_raw_error(&resp, "RequestTimeTooSkewed", 403);
    assert_eq!(snapshot(&client, "auth").await, before);
}

#[tokio::test]
async fn a_signature_20_minutes_ahead_is_request_time_too_skewed() {
    let (gw, client, before) = bucket_with_original("auth").await;

    let resp = gw
        .raw()
        .request(Method::PUT, "/auth/k")
        .signing_time(SystemTime::now() + OUTSIDE_SKEW)
        .body("from the future")
        .send()
        .await;

    assert_raw_error(&resp, "RequestTimeTooSkewed", 403);
    assert_eq!(snapshot(&client, "auth").await, before);
}

#[tokio::test]
async fn a_signature_10_minutes_off_either_way_is_accepted() {
    let (gw, client) = with_bucket("auth").await;
    for (key, time) in [
        ("behind", SystemTime::now() - INSIDE_SKEW),
        ("ahead", SystemTime::now() + INSIDE_SKEW),
    ] {
        let resp = gw
            .raw()
            .request(Method::PUT, &format!("/auth/{key}"))
            .signing_time(time)
            .body(key)
            .send()
            .await;
        assert_eq!(resp.status, 200, "{key}: {}", resp.text());
        assert_eq!(get(&client, "auth", key).await, key.as_bytes());
    }
}

#[tokio::test]
async fn anonymous_requests_are_access_denied() {
    let (gw, client, before) = bucket_with_original("auth").await;
    let create_body = create_bucket_xml("us-east-1");
    let requests = [
        (Method::GET, "/", String::new()),
        (Method::GET, "/auth", String::new()),
        (Method::GET, "/auth/k", String::new()),
        (Method::PUT, "/auth/k", "anonymous".to_owned()),
        (Method::DELETE, "/auth/k", String::new()),
        (Method::PUT, "/anonymous-bucket", create_body),
    ];
    for (method, path, body) in requests {
        let resp = gw
            .raw()
            .request(method.clone(), path)
            .anonymous()
            .body(body)
            .send()
            .await;
        assert_eq!(
            (resp.error_code().as_deref(), resp.status),
            (Some("AccessDenied"), 403),
            "{method} {path}: {}",
            resp.text()
        );
    }
    assert_eq!(snapshot(&client, "auth").await, before);
    let buckets = client.list_buckets().send().await.expect("list buckets");
    assert_eq!(buckets.buckets().len(), 1);
}

#[tokio::test]
async fn anonymous_requests_on_a_missing_bucket_are_no_such_bucket() {
    let gw = start();
    for (method, path) in [
        (Method::GET, "/nowhere"),
        (Method::GET, "/nowhere/k"),
        (Method::PUT, "/nowhere/k"),
        (Method::DELETE, "/nowhere/k"),
    ] {
        let resp = gw.raw().request(method.clone(), path).anonymous().send().await;

        assert_eq!(
            (resp.error_code().as_deref(), resp.status),
            (Some("NoSuchBucket"), 404),
            "{method} {path}: {}",
            resp.text()
        );
    }
    let head = gw
        .raw()
        .request(Method::HEAD, "/nowhere")
        .anonymous()
        .send()
        .await;
    assert_eq!(head.status, 404);
}

#[tokio::test]
async fn a_presigned_get_url_returns_the_object() {
    let (gw, client) = with_bucket("shared").await;
    put(&client, "shared", "report.csv", b"a,b\n1,2\n".to_vec()).await;
    let url = gw
        .raw()
        .request(Method::GET, "/shared/report.csv")
        .presign(Duration::from_secs(300));

    let resp = gw.raw().get_url(&url).await;

    assert_eq!(
        (resp.status, &resp.body[..]),
        (200, &b"a,b\n1,2\n"[..]),
        "{}",
        resp.text()
    );
}

#[tokio::test]
async fn a_presigned_put_url_stores_the_body() {
    let (gw, client) = with_bucket("shared").await;
    let url = gw
        .raw()
        .request(Method::PUT, "/shared/upload.bin")
        .presign(Duration::from_secs(300));

    let resp = gw.raw().put_url(&url, "uploaded through a URL").await;

    assert_eq!(resp.status, 200, "{}", resp.text());
    assert_eq!(
        get(&client, "shared", "upload.bin").await,
        b"uploaded through a URL"
    );
}

#[tokio::test]
async fn a_presigned_url_signed_long_ago_is_valid_until_it_expires() {
    let (gw, client) = with_bucket("shared").await;
    put(&client, "shared", "k", b"still valid".to_vec()).await;
    // Older than the 15-minute header skew allows: a presigned URL is bound by its expiry only.
    let url = gw
        .raw()
        .request(Method::GET, "/shared/k")
        .signing_time(SystemTime::now() - Duration::from_secs(30 * 60))
        .presign(Duration::from_secs(60 * 60));

    let resp = gw.raw().get_url(&url).await;

    assert_eq!(
        (resp.status, &resp.body[..]),
        (200, &b"still valid"[..]),
        "{}",
        resp.text()
    );
}

#[tokio::test]
async fn a_presigned_url_past_its_expiry_is_access_denied() {
    let (gw, client) = with_bucket("shared").await;
    put(&client, "shared", "k", b"secret".to_vec()).await;
    let url = gw
        .raw()
        .request(Method::GET, "/shared/k")
        .signing_time(SystemTime::now() - Duration::from_secs(2 * 60 * 60))
        .presign(Duration::from_secs(60 * 60));

    let resp = gw.raw().get_url(&url).await;

    assert_raw_error(&resp, "AccessDenied", 403);
}

#[tokio::test]
async fn an_unsigned_payload_put_is_stored() {
    let (gw, client) = with_bucket("auth").await;

    let resp = gw
        .raw()
        .request(Method::PUT, "/auth/k")
        .payload_hash(PayloadHash::Unsigned)
        .body("not hashed by the client")
        .send()
        .await;

    assert_eq!(resp.status, 200, "{}", resp.text());
    assert_eq!(get(&client, "auth", "k").await, b"not hashed by the client");
}

#[tokio::test]
async fn every_error_is_an_s3_error_document_with_the_request_id() {
    let (gw, _client) = with_bucket("errors").await;
    let raw = gw.raw();
    let cases = [
        (
            raw.request(Method::GET, "/errors/missing"),
            "NoSuchKey",
            "/errors/missing",
        ),
        (
            raw.request(Method::GET, "/nowhere/k"),
            "NoSuchBucket",
            "/nowhere/k",
        ),
        (
            raw.request(Method::GET, "/errors").anonymous(),
            "AccessDenied",
            "/errors",
        ),
        (
            raw.request(Method::GET, "/errors")
                .credentials(&gw.access_key, "wrong"),
            "SignatureDoesNotMatch",
            "/errors",
        ),
        (
            raw.request(Method::PUT, "/Bad_Name"),
            "InvalidBucketName",
            "/Bad_Name",
        ),
        (
            raw.request(Method::GET, "/errors?website"),
            "NotImplemented",
            "/errors",
        ),
    ];
    for (request, code, resource) in cases {
        let resp = request.send().await;
        let xml = resp.text();
        let request_id = resp.header("x-amz-request-id").unwrap_or_default();
        assert!(
            resp.header("content-type")
                .is_some_and(|t| t.starts_with("application/xml")),
            "{code}: {:?}",
            resp.headers
        );
        assert_eq!(
            (
                xml_values(&xml, "Error").len(),
                xml_values(&xml, "Code"),
                xml_values(&xml, "Resource"),
                xml_values(&xml, "RequestId"),
            ),
            (
                1,
                vec![code.to_owned()],
                vec![resource.to_owned()],
                vec![request_id.to_owned()]
            ),
            "{xml}"
        );
        assert!(!request_id.is_empty(), "{code}: no x-amz-request-id");
        let message = xml_values(&xml, "Message");
        assert!(message.len() == 1 && !message[0].is_empty(), "{code}: {xml}");
    }
}

#[tokio::test]
async fn virtual_host_style_addresses_the_bucket_by_host() {
    let gw = start_with_args(&["--domain", "s3.local"]);
    create_bucket(&gw.client(), "bkt").await;
    let raw = gw.raw();

    let put = raw
        .request(Method::PUT, "/notes/today.txt")
        .virtual_host("bkt.s3.local")
        .body("virtual")
        .send()
        .await;
    let got = raw
        .request(Method::GET, "/notes/today.txt")
        .virtual_host("bkt.s3.local")
        .send()
        .await;
    let listed = raw
        .request(Method::GET, "/?list-type=2")
        .virtual_host("bkt.s3.local")
        .send()
        .await;

    assert_eq!(put.status, 200, "{}", put.text());
    assert_eq!(
        (got.status, &got.body[..]),
        (200, &b"virtual"[..]),
        "{}",
        got.text()
    );
    assert_eq!(listed.status, 200, "{}", listed.text());
    assert_eq!(xml_values(&listed.text(), "Key"), ["notes/today.txt"]);
    assert_eq!(get(&gw.client(), "bkt", "notes/today.txt").await, b"virtual");
}

#[tokio::test]
async fn path_style_keeps_working_when_a_domain_is_set() {
    let gw = start_with_args(&["--domain", "s3.local"]);
    let client = gw.client();
    create_bucket(&client, "bkt").await;

    let put = gw
        .raw()
        .request(Method::PUT, "/bkt/k")
        .virtual_host("s3.local")
        .body("path style")
        .send()
        .await;

    assert_eq!(put.status, 200, "{}", put.text());
    assert_eq!(get(&client, "bkt", "k").await, b"path style");
}

#[tokio::test]
async fn an_unimplemented_operation_is_not_implemented() {
    let (gw, _client) = with_bucket("plain").await;
    let resp = gw.raw().request(Method::GET, "/plain?website").send().await;
    assert_raw_error(&resp, "NotImplemented", 501);
}

#[tokio::test]
async fn a_presigned_url_valid_for_more_than_a_week_is_refused() {
    let (gw, client) = with_bucket("week").await;
    put(&client, "week", "k", b"x".to_vec()).await;
    let week = gw
        .raw()
        .request(Method::GET, "/week/k")
        .presign(Duration::from_secs(7 * 24 * 3600));
    assert_eq!(
        gw.raw().get_url(&week).await.status,
        200,
        "seven days is the limit, and allowed"
    );
    let longer = gw
        .raw()
        .request(Method::GET, "/week/k")
        .presign(Duration::from_secs(7 * 24 * 3600 + 1));
    let resp = gw.raw().get_url(&longer).await;
    assert_eq!(resp.status, 400, "{}", resp.text());
    assert_eq!(
        resp.error_code().as_deref(),
        Some("AuthorizationQueryParametersError")
    );
}

#[tokio::test]
async fn signature_version_2_is_refused_as_aws_refuses_it() {
    use base64::Engine as _;
    use hmac::{KeyInit as _, Mac as _};
    let (gw, client) = with_bucket("legacy").await;
    put(&client, "legacy", "k", b"secret".to_vec()).await;
    // A correctly computed SigV2 header: s3s would verify it, the store must not accept it.
    let date = httpdate::fmt_http_date(SystemTime::now());
    let string_to_sign = format!("GET\n\n\n{date}\n/legacy/k");
    let mut mac = hmac::Hmac::<sha1::Sha1>::new_from_slice(gw.secret_key.as_bytes()).unwrap();
    mac.update(string_to_sign.as_bytes());
    let signature = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
    let resp = gw
        .raw()
        .request(Method::GET, "/legacy/k")
        .anonymous()
        .header("date", date)
        .header("authorization", format!("AWS {}:{signature}", gw.access_key))
        .send()
        .await;
    assert_eq!(resp.status, 400, "{}", resp.text());
    assert_eq!(resp.error_code().as_deref(), Some("InvalidRequest"));
    assert!(!resp.body.windows(6).any(|w| w == b"secret"));

    let presigned_v2 = format!(
        "{}/legacy/k?AWSAccessKeyId={}&Expires=4000000000&Signature=abc",
        gw.endpoint(),
        gw.access_key
    );
    let resp = gw.raw().get_url(&presigned_v2).await;
    assert_eq!(resp.status, 400, "{}", resp.text());
    assert_eq!(resp.error_code().as_deref(), Some("InvalidRequest"));
}

/// A header sent twice is signed as AWS canonicalizes it (the values joined by commas, in order),
/// and S3 stores the joined value as the metadata's.
#[tokio::test]
async fn a_header_sent_twice_is_verified_and_stored_joined() {
    let (gw, client) = with_bucket("twice").await;
    let resp = gw
        .raw()
        .request(Method::PUT, "/twice/k")
        .header("x-amz-meta-colour", "red")
        .header("x-amz-meta-colour", "blue")
        .body("body")
        .send()
        .await;
    assert_eq!(resp.status, 200, "{}", resp.text());

    let head = client
        .head_object()
        .bucket("twice")
        .key("k")
        .send()
        .await
        .expect("head");
    assert_eq!(
        head.metadata().and_then(|m| m.get("colour")).map(String::as_str),
        Some("red,blue")
    );
}

/// A SigV4 request signed with a `Date` header instead of `x-amz-date` (the spec takes either;
/// botocore does so, in RFC 2822's form, when a caller sets `Date`) is verified with that date:
/// stored when the signature holds, refused when the date sent is not the one signed.
#[tokio::test]
async fn a_request_dated_by_its_date_header_is_verified_with_it() {
    use sha2::{Digest as _, Sha256};
    let (gw, client) = with_bucket("dated").await;
    let host = gw.endpoint().trim_start_matches("http://").to_owned();
    let now = SystemTime::now();
    let at = time::OffsetDateTime::from(now);
    let day = at
        .format(time::macros::format_description!("[year][month][day]"))
        .unwrap();
    let stamp = at
        .format(time::macros::format_description!(
            "[year][month][day]T[hour][minute][second]Z"
        ))
        .unwrap();
    let scope = format!("{day}/us-east-1/s3/aws4_request");
    let body = b"dated by Date";
    let payload = hex::encode(Sha256::digest(body));
    // The Authorization of a PUT of `key` whose signed `date` header is `date`.
    let authorization = |key: &str, date: &str| {
        let canonical = format!(
            "PUT\n/dated/{key}\n\ndate:{date}\nhost:{host}\nx-amz-content-sha256:{payload}\n\n\
             date;host;x-amz-content-sha256\n{payload}"
        );
        let to_sign = format!(
            "AWS4-HMAC-SHA256\n{stamp}\n{scope}\n{}",
            hex::encode(Sha256::digest(canonical.as_bytes()))
        );
        let signing_key = aws_sigv4::sign::v4::generate_signing_key(&gw.secret_key, now, "us-east-1", "s3");
        let signature = aws_sigv4::sign::v4::calculate_signature(signing_key, to_sign.as_bytes());
        format!(
            "AWS4-HMAC-SHA256 Credential={}/{scope}, SignedHeaders=date;host;x-amz-content-sha256, \
             Signature={signature}",
            gw.access_key
        )
    };
    let send = |key: &str, date: String, authorization: String| {
        gw.raw()
            .request(Method::PUT, &format!("/dated/{key}"))
            .anonymous()
            .header("host", host.clone())
            .header("date", date)
            .header("x-amz-content-sha256", payload.clone())
            .header("authorization", authorization)
            .body(&body[..])
            .send()
    };
    let http_date = httpdate::fmt_http_date(now);
    let rfc2822 = at
        .format(&time::format_description::well_known::Rfc2822)
        .unwrap()
        .replace("+0000", "-0000");

    for (key, date) in [("http-date", http_date.clone()), ("rfc2822", rfc2822)] {
        let resp = send(key, date.clone(), authorization(key, &date)).await;
        assert_eq!(resp.status, 200, "{date}: {}", resp.text());
        assert_eq!(get(&client, "dated", key).await, body);
    }
    let other_second = httpdate::fmt_http_date(now + Duration::from_secs(1));
    let resp = send("moved", other_second, authorization("moved", &http_date)).await;
    assert_raw_error(&resp, "SignatureDoesNotMatch", 403);
}
