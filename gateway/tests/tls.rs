//! TLS on the S3 port: real gateways serving certificates from a CA made for the test, driven by
//! the AWS SDK (trusting that CA) and by raw clients. What is checked: S3 over https, HTTP/2 by
//! ALPN, refusal by clients that do not trust the CA, SSE-C accepted over TLS without any flag,
//! `aws:SecureTransport` true exactly over TLS, certificate rotation in place, https between the
//! gateways of one store, and the connection deadlines still closing silent clients.

mod common;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use aws_sdk_s3::error::SdkError;
use aws_sdk_s3::primitives::ByteStream;
use base64::Engine as _;
use common::{blob_files_in, create_bucket, get, put};
use e2e::tls::{TestCa, TlsServing, client_config, handshake, https_connector, sdk_http_client};
use e2e::{GatewayOptions, s3_client};
use http_body_util::{BodyExt as _, Empty};
use hyper_util::client::legacy::Client as HyperClient;
use hyper_util::rt::TokioExecutor;
use md5::Digest as _;
use tempfile::TempDir;
use tokio::io::AsyncReadExt as _;

const B: &str = "secure";
/// Longer than the gateway's certificate check interval (`gateway::tls::RELOAD_CHECK`, 2 s) by
/// enough for a loaded machine.
const RELOAD_WAIT: Duration = Duration::from_secs(15);

/// A gateway serving a certificate of `ca`, with its TLS files in `dir` and extra arguments.
fn start_tls(ca: &TestCa, dir: &TempDir, args: &[&str]) -> e2e::Gateway {
    start_tls_with(ca.serving("gateway", dir.path()), args)
}

fn start_tls_with(tls: TlsServing, args: &[&str]) -> e2e::Gateway {
    let mut all: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    all.extend(common::meta_args());
    e2e::Gateway::start_with(
        common::bin(),
        GatewayOptions {
            args: all,
            tls: Some(tls),
            ..Default::default()
        },
    )
}

fn addr(gw: &e2e::Gateway) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], gw.port))
}

#[tokio::test]
async fn objects_round_trip_over_https() {
    let ca = TestCa::new("stowage test CA");
    let dir = tempfile::tempdir().expect("temp dir");
    let gw = start_tls(&ca, &dir, &[]);
    assert!(gw.endpoint().starts_with("https://"), "{}", gw.endpoint());
    let client = gw.client();
    create_bucket(&client, B).await;
    let body: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    put(&client, B, "blob", body.clone()).await;
    assert_eq!(get(&client, B, "blob").await, body);
}

#[tokio::test]
async fn http2_is_offered_by_alpn_and_serves_requests() {
    let ca = TestCa::new("stowage test CA");
    let dir = tempfile::tempdir().expect("temp dir");
    let gw = start_tls(&ca, &dir, &[]);

    let (_, alpn) = handshake(addr(&gw), client_config(&ca.pem(), &[b"h2", b"http/1.1"]))
        .await
        .expect("handshake");
    assert_eq!(alpn.as_deref(), Some(&b"h2"[..]));

    let h2: HyperClient<_, Empty<bytes::Bytes>> = HyperClient::builder(TokioExecutor::new())
        .http2_only(true)
        .build(https_connector(Some(&ca.pem())));
    let resp = h2
        .get(format!("{}/_stowage/health", gw.endpoint()).parse().expect("uri"))
        .await
        .expect("GET over HTTP/2");
    assert_eq!(
        (resp.status().as_u16(), resp.version()),
        (200, http::Version::HTTP_2)
    );
    let body = resp.into_body().collect().await.expect("body").to_bytes();
    assert_eq!(&body[..], b"ok");

    // An S3 request, signed, over HTTP/2 (the raw client negotiates it by ALPN).
    create_bucket(&gw.client(), B).await;
    put(&gw.client(), B, "k", b"over h2".to_vec()).await;
    let resp = gw
        .raw()
        .request(http::Method::GET, &format!("/{B}/k"))
        .send()
        .await;
    assert_eq!((resp.status, &resp.body[..]), (200, &b"over h2"[..]));
}

#[tokio::test]
async fn clients_that_do_not_trust_the_ca_fail_the_handshake() {
    let ca = TestCa::new("stowage test CA");
    let dir = tempfile::tempdir().expect("temp dir");
    let gw = start_tls(&ca, &dir, &[]);

    let stranger = TestCa::new("some other CA");
    let refused = handshake(addr(&gw), client_config(&stranger.pem(), &[b"http/1.1"])).await;
    let err = refused.expect_err("a certificate from an untrusted CA is refused");
    assert!(err.to_string().contains("UnknownIssuer"), "{err}");

    // The SDK on its defaults (the system's roots) refuses the connection before any request.
    let sdk = s3_client(&gw.endpoint(), &gw.region, &gw.access_key, &gw.secret_key, |b| b);
    match sdk.list_buckets().send().await {
        Err(SdkError::DispatchFailure(failure)) => {
            assert!(failure.is_io() || failure.is_other(), "{failure:?}")
        }
        other => panic!("expected a connection failure, got {other:?}"),
    }
    // And the same SDK trusting the CA gets through.
    let trusting = s3_client(&gw.endpoint(), &gw.region, &gw.access_key, &gw.secret_key, |b| {
        b.http_client(sdk_http_client(&ca.pem()))
    });
    trusting.list_buckets().send().await.expect("trusted");
}

#[tokio::test]
async fn plain_http_to_a_tls_port_gets_no_response() {
    let ca = TestCa::new("stowage test CA");
    let dir = tempfile::tempdir().expect("temp dir");
    let gw = start_tls(&ca, &dir, &[]);
    let plain = e2e::RawClient::new(
        &format!("http://127.0.0.1:{}", gw.port),
        &gw.region,
        &gw.access_key,
        &gw.secret_key,
    );
    let result = plain.request(http::Method::GET, "/").try_send().await;
    assert!(result.is_err(), "plain HTTP got an answer: {result:?}");
}

fn sse_c_key() -> (String, String) {
    let key = [7u8; 32];
    let b64 = base64::engine::general_purpose::STANDARD;
    (b64.encode(key), b64.encode(md5::Md5::digest(key)))
}

#[tokio::test]
async fn sse_c_is_accepted_over_tls_without_any_flag() {
    let ca = TestCa::new("stowage test CA");
    let dir = tempfile::tempdir().expect("temp dir");
    let gw = start_tls(&ca, &dir, &[]);
    let client = gw.client();
    create_bucket(&client, B).await;
    let (key, key_md5) = sse_c_key();
    client
        .put_object()
        .bucket(B)
        .key("sealed")
        .body(ByteStream::from_static(b"customer-keyed"))
        .sse_customer_algorithm("AES256")
        .sse_customer_key(&key)
        .sse_customer_key_md5(&key_md5)
        .send()
        .await
        .expect("SSE-C PUT over TLS");
    let out = client
        .get_object()
        .bucket(B)
        .key("sealed")
        .sse_customer_algorithm("AES256")
        .sse_customer_key(&key)
        .sse_customer_key_md5(&key_md5)
        .send()
        .await
        .expect("SSE-C GET over TLS");
    assert_eq!(out.sse_customer_key_md5(), Some(key_md5.as_str()));
    let body = out.body.collect().await.expect("body").into_bytes();
    assert_eq!(&body[..], b"customer-keyed");

    // The same gateway's store over plain HTTP would refuse it: shown by a plain gateway.
    let plain = common::start();
    let plain_client = plain.client();
    create_bucket(&plain_client, B).await;
    let refused = plain_client
        .put_object()
        .bucket(B)
        .key("sealed")
        .body(ByteStream::from_static(b"customer-keyed"))
        .sse_customer_algorithm("AES256")
        .sse_customer_key(&key)
        .sse_customer_key_md5(&key_md5)
        .send()
        .await;
    common::assert_s3_error(refused, "InvalidRequest", 400);
}

/// Anyone may read objects, but not over plain HTTP: AWS's "deny insecure transport" policy.
fn deny_insecure_policy() -> String {
    serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
             "Resource": format!("arn:aws:s3:::{B}/*")},
            {"Effect": "Deny", "Principal": "*", "Action": "s3:*",
             "Resource": [format!("arn:aws:s3:::{B}"), format!("arn:aws:s3:::{B}/*")],
             "Condition": {"Bool": {"aws:SecureTransport": "false"}}}
        ]
    })
    .to_string()
}

async fn public_object_behind_policy(gw: &e2e::Gateway) -> u16 {
    let client = gw.client();
    create_bucket(&client, B).await;
    put(&client, B, "public", b"hello".to_vec()).await;
    client
        .put_bucket_policy()
        .bucket(B)
        .policy(deny_insecure_policy())
        .send()
        .await
        .expect("put policy");
    gw.raw()
        .request(http::Method::GET, &format!("/{B}/public"))
        .anonymous()
        .send()
        .await
        .status
}

#[tokio::test]
async fn secure_transport_is_true_exactly_over_tls() {
    let ca = TestCa::new("stowage test CA");
    let dir = tempfile::tempdir().expect("temp dir");
    let tls = start_tls(&ca, &dir, &[]);
    let plain = common::start();
    assert_eq!(
        public_object_behind_policy(&tls).await,
        200,
        "over TLS the Deny does not apply"
    );
    assert_eq!(
        public_object_behind_policy(&plain).await,
        403,
        "over HTTP the Deny applies"
    );
}

async fn served_leaf(gw: &e2e::Gateway, ca: &TestCa) -> rustls_pki_types::CertificateDer<'static> {
    handshake(addr(gw), client_config(&ca.pem(), &[b"http/1.1"]))
        .await
        .expect("handshake")
        .0
}

#[tokio::test]
async fn a_rotated_certificate_is_served_on_new_connections_and_a_broken_one_is_not() {
    let ca = TestCa::new("stowage test CA");
    let dir = tempfile::tempdir().expect("temp dir");
    let serving = ca.serving("first", dir.path());
    let gw = start_tls_with(serving.clone(), &[]);
    let first = served_leaf(&gw, &ca).await;

    // A half-finished rotation: a new certificate whose key has not arrived yet.
    let second = ca.issue("second");
    std::fs::write(&serving.cert, &second.cert_pem).expect("write cert");
    tokio::time::sleep(RELOAD_WAIT / 3).await;
    assert_eq!(
        served_leaf(&gw, &ca).await,
        first,
        "a pair that does not fit is not served"
    );
    gw.client().list_buckets().send().await.expect("still serving");

    // The key arrives: the new pair is served from then on.
    second.write(&serving.cert, &serving.key);
    let deadline = Instant::now() + RELOAD_WAIT;
    loop {
        let served = served_leaf(&gw, &ca).await;
        if served == second.der() {
            break;
        }
        assert_eq!(served, first);
        assert!(
            Instant::now() < deadline,
            "the rotated certificate was not served within {RELOAD_WAIT:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_ne!(second.der(), first);
    gw.client()
        .list_buckets()
        .send()
        .await
        .expect("serving the new certificate");
    assert!(
        gw.log().contains("do not load"),
        "the failed reload is logged:\n{}",
        gw.log()
    );
}

#[tokio::test]
async fn a_key_that_does_not_fit_the_certificate_stops_the_start() {
    let ca = TestCa::new("stowage test CA");
    let dir = tempfile::tempdir().expect("temp dir");
    let serving = ca.serving("gateway", dir.path());
    std::fs::write(&serving.key, ca.issue("other").key_pem).expect("write key");
    let err = e2e::Gateway::try_start_with(
        common::bin(),
        GatewayOptions {
            tls: Some(serving),
            ..Default::default()
        },
    )
    .expect_err("a mismatched pair is refused");
    assert!(
        err.to_string().contains("does not go with the certificate"),
        "{err}"
    );
}

#[tokio::test]
async fn a_certificate_without_its_key_is_a_usage_error() {
    let ca = TestCa::new("stowage test CA");
    let dir = tempfile::tempdir().expect("temp dir");
    let serving = ca.serving("gateway", dir.path());
    let cert = serving.cert.display().to_string();
    let err = e2e::Gateway::try_start_with(
        common::bin(),
        GatewayOptions {
            args: vec!["--tls-cert".into(), cert],
            ..Default::default()
        },
    )
    .expect_err("--tls-cert alone is refused");
    assert!(err.to_string().contains("--tls-key"), "{err}");
}

#[tokio::test]
async fn a_silent_connection_is_closed_at_the_header_deadline_during_the_handshake() {
    let ca = TestCa::new("stowage test CA");
    let dir = tempfile::tempdir().expect("temp dir");
    let gw = start_tls(&ca, &dir, &["--header-timeout", "1"]);
    let mut tcp = tokio::net::TcpStream::connect(addr(&gw)).await.expect("connect");
    let mut buf = [0u8; 64];
    // Nothing is sent, not even a ClientHello: the gateway closes the socket (EOF or reset).
    let read = tokio::time::timeout(Duration::from_secs(10), tcp.read(&mut buf))
        .await
        .expect("closed within the deadline");
    assert!(matches!(read, Ok(0) | Err(_)), "{read:?}");
}

#[tokio::test]
async fn gateways_of_one_store_read_each_others_bytes_over_https() {
    let ca = TestCa::new("stowage test CA");
    let dir = tempfile::tempdir().expect("temp dir");
    let ca_file = dir.path().join("ca.crt");
    std::fs::write(&ca_file, ca.pem()).expect("write CA");
    let ca_arg = ca_file.display().to_string();
    let gw = start_tls(&ca, &dir, &["--gateways", "2", "--tls-ca", &ca_arg]);
    let a = gw.client();
    let b_endpoint = format!("https://127.0.0.1:{}", gw.port + 1);
    let b = s3_client(
        &b_endpoint,
        &gw.region,
        &gw.access_key,
        &gw.secret_key,
        |builder| builder.http_client(sdk_http_client(&ca.pem())),
    );
    create_bucket(&a, B).await;
    let body: Vec<u8> = (0..2_000_000u32).map(|i| (i % 253) as u8).collect();
    put(&b, B, "on-b", body.clone()).await;
    let volume_b = gw.data_dir().join("gateway-1");
    assert!(blob_files_in(&volume_b) > 0, "the bytes are on B");
    assert_eq!(blob_files_in(gw.data_dir()), 0, "and not on A");
    assert_eq!(get(&a, B, "on-b").await, body, "A streams them from B over https");
    let peer_urls = gw.log();
    assert!(!peer_urls.contains("peer unreachable"), "{peer_urls}");
}

#[tokio::test]
async fn peers_whose_certificate_cannot_be_verified_are_not_read() {
    // Without --tls-ca the gateways trust the system roots and their own leaf, which did not
    // issue the certificate B presents: A must refuse B rather than read from it unverified.
    let ca = TestCa::new("stowage test CA");
    let dir = tempfile::tempdir().expect("temp dir");
    // On volumes: an inline object's bytes are in the shared metadata store, which A reads.
    let gw = start_tls(&ca, &dir, &["--gateways", "2", "--inline-max-size", "0"]);
    let a = gw.client();
    let b_endpoint = format!("https://127.0.0.1:{}", gw.port + 1);
    let b = s3_client(
        &b_endpoint,
        &gw.region,
        &gw.access_key,
        &gw.secret_key,
        |builder| builder.http_client(sdk_http_client(&ca.pem())),
    );
    create_bucket(&a, B).await;
    put(&b, B, "on-b", b"unreachable from A".to_vec()).await;
    let read = a.get_object().bucket(B).key("on-b").send().await;
    if let Ok(out) = read {
        let body = out.body.collect().await;
        assert!(body.is_err(), "A read B's bytes without verifying B: {body:?}");
    }
}

#[tokio::test]
async fn the_admin_cli_verifies_an_https_endpoint_with_its_ca_bundle() {
    let ca = TestCa::new("stowage test CA");
    let dir = tempfile::tempdir().expect("temp dir");
    let gw = start_tls(&ca, &dir, &[]);
    let bundle = dir.path().join("ca.pem");
    std::fs::write(&bundle, ca.pem()).expect("write CA");
    let whoami = |ca_bundle: Option<&std::path::Path>| {
        let mut cmd = std::process::Command::new(common::bin());
        cmd.args(["admin", "--endpoint", &gw.endpoint()])
            .env("STOWAGE_ROOT_ACCESS_KEY_ID", &gw.access_key)
            .env("STOWAGE_ROOT_SECRET_ACCESS_KEY", &gw.secret_key)
            .env_remove("STOWAGE_CA_BUNDLE");
        if let Some(path) = ca_bundle {
            cmd.arg("--ca-bundle").arg(path);
        }
        cmd.arg("whoami").output().expect("run gateway admin")
    };
    let trusted = whoami(Some(&bundle));
    assert!(
        trusted.status.success(),
        "{}",
        String::from_utf8_lossy(&trusted.stderr)
    );
    let refused = whoami(None);
    assert!(
        !refused.status.success(),
        "the system roots do not trust the test CA"
    );
}

#[tokio::test]
async fn gateways_sharing_one_self_signed_certificate_trust_it_without_a_ca() {
    // The documented default trust: without --tls-ca, a gateway trusts its own chain.
    let dir = tempfile::tempdir().expect("temp dir");
    let own = rcgen::generate_simple_self_signed(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
        .expect("self-signed certificate");
    let serving = TlsServing {
        cert: dir.path().join("server.crt"),
        key: dir.path().join("server.key"),
        ca_pem: own.cert.pem(),
    };
    std::fs::write(&serving.cert, own.cert.pem()).expect("write cert");
    std::fs::write(&serving.key, own.signing_key.serialize_pem()).expect("write key");
    let gw = start_tls_with(serving, &["--gateways", "2"]);
    let a = gw.client();
    let b_endpoint = format!("https://127.0.0.1:{}", gw.port + 1);
    let b = s3_client(
        &b_endpoint,
        &gw.region,
        &gw.access_key,
        &gw.secret_key,
        |builder| builder.http_client(sdk_http_client(&own.cert.pem())),
    );
    create_bucket(&a, B).await;
    put(&b, B, "on-b", b"self-signed peers".to_vec()).await;
    assert_eq!(get(&a, B, "on-b").await, b"self-signed peers");
}

#[tokio::test]
async fn a_peer_url_whose_scheme_is_not_the_ports_is_refused_at_start() {
    let ca = TestCa::new("stowage test CA");
    let dir = tempfile::tempdir().expect("temp dir");
    let err = e2e::Gateway::try_start_with(
        common::bin(),
        GatewayOptions {
            args: vec!["--peer-url".into(), "http://127.0.0.1:9000".into()],
            tls: Some(ca.serving("gateway", dir.path())),
            ..Default::default()
        },
    )
    .expect_err("an http peer URL on a TLS port is refused");
    assert!(err.to_string().contains("must start with https://"), "{err}");
}
