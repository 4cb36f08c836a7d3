//! Encryption at rest end to end: SSE-S3 by default, bucket default encryption, SSE-KMS with
//! store-managed keys (created, rotated and disabled with `gateway admin kms`), the header
//! conflicts AWS refuses, copies between every pair of modes, and the volume never holding a
//! byte of plaintext.

mod common;

use std::path::Path;
use std::process::Command;

use aws_sdk_s3::Client;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{
    CompletedMultipartUpload, CompletedPart, ServerSideEncryption, ServerSideEncryptionByDefault,
    ServerSideEncryptionConfiguration, ServerSideEncryptionRule,
};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use common::*;
use http::Method;
use md5::{Digest as _, Md5};

const B: &str = "vault";
const CHUNK: usize = 64 * 1024;
const MIB: usize = 1024 * 1024;

fn data(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i % 251) as u8).collect()
}

/// A 1 KiB pattern no other file holds, repeated to `len`.
fn pattern_body(len: usize) -> (Vec<u8>, Vec<u8>) {
    let pattern: Vec<u8> = (0..1024u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8 ^ b'S')
        .collect();
    let body = pattern.iter().copied().cycle().take(len).collect();
    (pattern, body)
}

/// Whether any file under `dir` contains `needle`.
fn any_file_contains(dir: &Path, needle: &[u8]) -> bool {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return false;
    };
    entries.flatten().any(|e| {
        let path = e.path();
        if path.is_dir() {
            any_file_contains(&path, needle)
        } else {
            std::fs::read(&path).is_ok_and(|bytes| bytes.windows(needle.len()).any(|w| w == needle))
        }
    })
}

/// Runs `gateway admin ...` against `gw` with its root credentials; returns the JSON it prints.
fn admin(gw: &Gateway, args: &[&str]) -> serde_json::Value {
    let out = Command::new(bin())
        .arg("admin")
        .arg("--endpoint")
        .arg(gw.endpoint())
        .args(args)
        .env("STOWAGE_ROOT_ACCESS_KEY_ID", &gw.access_key)
        .env("STOWAGE_ROOT_SECRET_ACCESS_KEY", &gw.secret_key)
        .output()
        .expect("run gateway admin");
    assert!(
        out.status.success(),
        "admin {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("one JSON object")
}

fn kms_key(gw: &Gateway, alias: &str) -> String {
    let created = admin(gw, &["kms", "create", "--alias", alias, "--description", "test"]);
    created["id"].as_str().expect("a key id").to_owned()
}

fn arn(id: &str) -> String {
    format!("arn:aws:kms:us-east-1:000000000000:key/{id}")
}

async fn gateway(args: &[&str]) -> (Gateway, Client) {
    let gw = start_with_args(args);
    let c = gw.client();
    create_bucket(&c, B).await;
    (gw, c)
}

async fn body_of(c: &Client, key: &str, range: Option<String>) -> Result<Vec<u8>, (String, u16)> {
    let out = c
        .get_object()
        .bucket(B)
        .key(key)
        .set_range(range)
        .send()
        .await
        .map_err(s3_error)?;
    Ok(out.body.collect().await.expect("body").into_bytes().to_vec())
}

async fn multipart(c: &Client, key: &str, parts: &[Vec<u8>]) -> String {
    let up = c
        .create_multipart_upload()
        .bucket(B)
        .key(key)
        .send()
        .await
        .expect("create upload");
    assert_eq!(up.server_side_encryption(), Some(&ServerSideEncryption::Aes256));
    let id = up.upload_id().unwrap();
    let mut done = Vec::new();
    for (i, p) in parts.iter().enumerate() {
        let n = i as i32 + 1;
        let part = c
            .upload_part()
            .bucket(B)
            .key(key)
            .upload_id(id)
            .part_number(n)
            .body(ByteStream::from(p.clone()))
            .send()
            .await
            .expect("upload part");
        assert_eq!(part.server_side_encryption(), Some(&ServerSideEncryption::Aes256));
        done.push(
            CompletedPart::builder()
                .part_number(n)
                .e_tag(part.e_tag().unwrap())
                .build(),
        );
    }
    let complete = c
        .complete_multipart_upload()
        .bucket(B)
        .key(key)
        .upload_id(id)
        .multipart_upload(CompletedMultipartUpload::builder().set_parts(Some(done)).build())
        .send()
        .await
        .expect("complete");
    assert_eq!(
        complete.server_side_encryption(),
        Some(&ServerSideEncryption::Aes256)
    );
    complete.e_tag().unwrap().to_owned()
}

#[tokio::test]
async fn sse_s3_is_the_default_and_every_response_says_so() {
    let (_gw, c) = gateway(&[]).await;
    let body = data(200_000);
    let put = c
        .put_object()
        .bucket(B)
        .key("obj")
        .body(ByteStream::from(body.clone()))
        .send()
        .await
        .unwrap();
    assert_eq!(put.server_side_encryption(), Some(&ServerSideEncryption::Aes256));
    assert_eq!(
        put.e_tag(),
        Some(format!("\"{}\"", hex::encode(Md5::digest(&body))).as_str()),
        "an SSE-S3 ETag is the plaintext MD5, as in AWS"
    );
    let got = c.get_object().bucket(B).key("obj").send().await.unwrap();
    assert_eq!(got.server_side_encryption(), Some(&ServerSideEncryption::Aes256));
    assert_eq!(got.body.collect().await.unwrap().into_bytes().to_vec(), body);
    let head = c.head_object().bucket(B).key("obj").send().await.unwrap();
    assert_eq!(head.server_side_encryption(), Some(&ServerSideEncryption::Aes256));
    let copy = c
        .copy_object()
        .bucket(B)
        .key("copy")
        .copy_source(format!("{B}/obj"))
        .send()
        .await
        .unwrap();
    assert_eq!(copy.server_side_encryption(), Some(&ServerSideEncryption::Aes256));
    let parts = vec![data(5 * MIB), data(3 * CHUNK + 5)];
    multipart(&c, "mp", &parts).await;
    assert_eq!(body_of(&c, "mp", None).await.unwrap(), parts.concat());
}

#[tokio::test]
async fn the_volume_never_holds_the_plaintext() {
    let (gw, c) = gateway(&["--allow-sse-c-over-http"]).await;
    let (pattern, body) = pattern_body(300 * 1024);
    put(&c, B, "single", body.clone()).await;
    multipart(&c, "multi", &[pattern_body(5 * MIB).1, body.clone()]).await;
    let key = kms_key(&gw, "disk-test");
    c.put_object()
        .bucket(B)
        .key("kms")
        .body(ByteStream::from(body.clone()))
        .server_side_encryption(ServerSideEncryption::AwsKms)
        .ssekms_key_id(&key)
        .send()
        .await
        .unwrap();
    c.copy_object()
        .bucket(B)
        .key("copied")
        .copy_source(format!("{B}/kms"))
        .send()
        .await
        .unwrap();
    assert_eq!(body_of(&c, "copied", None).await.unwrap(), body);
    assert!(
        !any_file_contains(gw.data_dir(), &pattern),
        "a 1 KiB run of plaintext is on the volume"
    );

    // The search finds plaintext where there is some: the same PUT with the default off.
    let (plain_gw, plain) = gateway(&["--sse-s3-default=false"]).await;
    put(&plain, B, "single", body).await;
    assert!(any_file_contains(plain_gw.data_dir(), &pattern));
}

#[tokio::test]
async fn ranges_across_chunk_boundaries_decrypt_exactly() {
    let (gw, c) = gateway(&[]).await;
    let len = 3 * CHUNK + 17;
    let body = data(len);
    put(&c, B, "s3", body.clone()).await;
    let key = kms_key(&gw, "ranges");
    c.put_object()
        .bucket(B)
        .key("kms")
        .body(ByteStream::from(body.clone()))
        .server_side_encryption(ServerSideEncryption::AwsKms)
        .ssekms_key_id("alias/ranges")
        .send()
        .await
        .unwrap();
    let mut ranges = vec![(0, 0), (0, len - 1), (len - 1, len - 1)];
    for b in [CHUNK, 2 * CHUNK, 3 * CHUNK] {
        ranges.extend([(b - 1, b), (b - 10, b + 10), (b, (b + CHUNK - 1).min(len - 1))]);
    }
    for k in ["s3", "kms"] {
        for (first, last) in &ranges {
            let got = body_of(&c, k, Some(format!("bytes={first}-{last}")))
                .await
                .unwrap();
            assert_eq!(got, body[*first..=*last], "{k} bytes={first}-{last}");
        }
    }
    let head = c.head_object().bucket(B).key("kms").send().await.unwrap();
    assert_eq!(head.ssekms_key_id(), Some(arn(&key).as_str()));
}

#[tokio::test]
async fn objects_written_with_the_default_off_stay_readable_after_it_is_turned_on() {
    let dir = tempfile::tempdir().unwrap();
    let mut meta = meta_args();
    if let Some(url) = tikv_store_url() {
        meta = vec!["--meta".into(), url];
    }
    let start = |default: &str| {
        let mut args = vec![format!("--sse-s3-default={default}")];
        args.extend(meta.clone());
        Gateway::start_with(
            bin(),
            GatewayOptions {
                args,
                data_dir: Some(dir.path().to_owned()),
                ..Default::default()
            },
        )
    };
    let body = data(150_000);
    {
        let mut off = start("false");
        let c = off.client();
        create_bucket(&c, B).await;
        let put = c
            .put_object()
            .bucket(B)
            .key("old")
            .body(ByteStream::from(body.clone()))
            .send()
            .await
            .unwrap();
        assert_eq!(put.server_side_encryption(), None);
        off.terminate();
    }
    let on = start("true");
    let c = on.client();
    let old = c.get_object().bucket(B).key("old").send().await.unwrap();
    assert_eq!(old.server_side_encryption(), None, "still stored in the clear");
    assert_eq!(old.body.collect().await.unwrap().into_bytes().to_vec(), body);
    assert_eq!(
        body_of(&c, "old", Some("bytes=70000-140000".into()))
            .await
            .unwrap(),
        body[70_000..=140_000]
    );
    let copy = c
        .copy_object()
        .bucket(B)
        .key("sealed-copy")
        .copy_source(format!("{B}/old"))
        .send()
        .await
        .unwrap();
    assert_eq!(copy.server_side_encryption(), Some(&ServerSideEncryption::Aes256));
    assert_eq!(body_of(&c, "sealed-copy", None).await.unwrap(), body);
}

fn encryption_config(
    algorithm: ServerSideEncryption,
    key: Option<&str>,
) -> ServerSideEncryptionConfiguration {
    ServerSideEncryptionConfiguration::builder()
        .rules(
            ServerSideEncryptionRule::builder()
                .apply_server_side_encryption_by_default(
                    ServerSideEncryptionByDefault::builder()
                        .sse_algorithm(algorithm)
                        .set_kms_master_key_id(key.map(str::to_owned))
                        .build()
                        .unwrap(),
                )
                .bucket_key_enabled(true)
                .build(),
        )
        .build()
        .unwrap()
}

#[tokio::test]
async fn bucket_default_encryption_applies_to_writes_that_ask_for_none() {
    let (gw, c) = gateway(&["--sse-s3-default=false"]).await;
    let none = c.get_bucket_encryption().bucket(B).send().await;
    assert_s3_error(none, "ServerSideEncryptionConfigurationNotFoundError", 404);
    put(&c, B, "before", b"x".to_vec()).await;

    c.put_bucket_encryption()
        .bucket(B)
        .server_side_encryption_configuration(encryption_config(ServerSideEncryption::Aes256, None))
        .send()
        .await
        .unwrap();
    let got = c.get_bucket_encryption().bucket(B).send().await.unwrap();
    let rule = &got.server_side_encryption_configuration().unwrap().rules()[0];
    assert_eq!(
        rule.bucket_key_enabled(),
        Some(true),
        "BucketKeyEnabled is echoed"
    );
    assert_eq!(
        rule.apply_server_side_encryption_by_default()
            .unwrap()
            .sse_algorithm(),
        &ServerSideEncryption::Aes256
    );
    let put = c
        .put_object()
        .bucket(B)
        .key("after")
        .body(ByteStream::from_static(b"y"))
        .send()
        .await
        .unwrap();
    assert_eq!(put.server_side_encryption(), Some(&ServerSideEncryption::Aes256));
    multipart(&c, "mp", &[data(100)]).await;
    let copy = c
        .copy_object()
        .bucket(B)
        .key("before-copy")
        .copy_source(format!("{B}/before"))
        .send()
        .await
        .unwrap();
    assert_eq!(copy.server_side_encryption(), Some(&ServerSideEncryption::Aes256));

    let key = kms_key(&gw, "bucket-default");
    c.put_bucket_encryption()
        .bucket(B)
        .server_side_encryption_configuration(encryption_config(
            ServerSideEncryption::AwsKms,
            Some("alias/bucket-default"),
        ))
        .send()
        .await
        .unwrap();
    let put = c
        .put_object()
        .bucket(B)
        .key("kms")
        .body(ByteStream::from_static(b"z"))
        .send()
        .await
        .unwrap();
    assert_eq!(put.server_side_encryption(), Some(&ServerSideEncryption::AwsKms));
    assert_eq!(put.ssekms_key_id(), Some(arn(&key).as_str()));
    assert_eq!(put.bucket_key_enabled(), Some(true));

    c.delete_bucket_encryption().bucket(B).send().await.unwrap();
    let gone = c.get_bucket_encryption().bucket(B).send().await;
    assert_s3_error(gone, "ServerSideEncryptionConfigurationNotFoundError", 404);
    let put = c
        .put_object()
        .bucket(B)
        .key("plain-again")
        .body(ByteStream::from_static(b"w"))
        .send()
        .await
        .unwrap();
    assert_eq!(put.server_side_encryption(), None);
}

#[tokio::test]
async fn malformed_bucket_encryption_is_refused_as_aws_refuses_it() {
    let (gw, _c) = gateway(&[]).await;
    let xml = |algorithm: &str, key: &str| {
        format!(
            "<ServerSideEncryptionConfiguration xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Rule>\
             <ApplyServerSideEncryptionByDefault><SSEAlgorithm>{algorithm}</SSEAlgorithm>{key}\
             </ApplyServerSideEncryptionByDefault></Rule></ServerSideEncryptionConfiguration>"
        )
    };
    let send = |body: String| {
        let raw = gw.raw();
        async move {
            raw.request(Method::PUT, &format!("/{B}?encryption"))
                .body(body)
                .send()
                .await
        }
    };
    assert_raw_error(&send(xml("AES128", "")).await, "MalformedXML", 400);
    assert_raw_error(
        &send(xml("AES256", "<KMSMasterKeyID>alias/x</KMSMasterKeyID>")).await,
        "InvalidArgument",
        400,
    );
    assert_raw_error(
        &send(xml(
            "aws:kms",
            "<KMSMasterKeyID>alias/no-such-key</KMSMasterKeyID>",
        ))
        .await,
        "KMS.NotFoundException",
        400,
    );
    let ok = send(xml("aws:kms", "")).await;
    assert_eq!(ok.status, 200, "{}", ok.text());
}

#[tokio::test]
async fn contradicting_encryption_headers_are_invalid_arguments() {
    let (gw, c) = gateway(&["--allow-sse-c-over-http"]).await;
    let raw = [7u8; 32];
    let (k, m) = (B64.encode(raw), B64.encode(Md5::digest(raw)));
    let put = |headers: Vec<(&'static str, String)>| {
        let mut r = gw.raw().request(Method::PUT, &format!("/{B}/obj")).body("x");
        for (h, v) in headers {
            r = r.header(h, v);
        }
        r.send()
    };
    let sse_c = vec![
        (
            "x-amz-server-side-encryption-customer-algorithm",
            "AES256".to_owned(),
        ),
        ("x-amz-server-side-encryption-customer-key", k.clone()),
        ("x-amz-server-side-encryption-customer-key-md5", m.clone()),
    ];
    let mut both = sse_c.clone();
    both.push(("x-amz-server-side-encryption", "AES256".into()));
    assert_raw_error(&put(both).await, "InvalidArgument", 400);
    assert_raw_error(
        &put(vec![("x-amz-server-side-encryption", "AES512".into())]).await,
        "InvalidArgument",
        400,
    );
    assert_raw_error(
        &put(vec![
            ("x-amz-server-side-encryption", "AES256".into()),
            ("x-amz-server-side-encryption-aws-kms-key-id", "alias/k".into()),
        ])
        .await,
        "InvalidArgument",
        400,
    );
    assert_raw_error(
        &put(vec![
            ("x-amz-server-side-encryption", "aws:kms".into()),
            (
                "x-amz-server-side-encryption-aws-kms-key-id",
                "alias/no-such-key".into(),
            ),
        ])
        .await,
        "KMS.NotFoundException",
        400,
    );
    assert!(snapshot(&c, B).await.is_empty(), "nothing was written");

    // A part must be sealed as its upload is.
    let up = c
        .create_multipart_upload()
        .bucket(B)
        .key("mp")
        .send()
        .await
        .unwrap();
    let part = gw
        .raw()
        .request(
            Method::PUT,
            &format!("/{B}/mp?partNumber=1&uploadId={}", up.upload_id().unwrap()),
        )
        .header("x-amz-server-side-encryption-customer-algorithm", "AES256")
        .header("x-amz-server-side-encryption-customer-key", k)
        .header("x-amz-server-side-encryption-customer-key-md5", m)
        .body("x")
        .send()
        .await;
    assert_raw_error(&part, "InvalidRequest", 400);
}

/// An object's encryption is chosen when it is written: GET and HEAD that name one are refused
/// (400), not answered as if the header were not there.
#[tokio::test]
async fn reads_that_name_a_server_side_encryption_are_invalid_arguments() {
    let (gw, c) = gateway(&[]).await;
    put(&c, B, "obj", b"sealed".to_vec()).await;
    for header in [
        ("x-amz-server-side-encryption", "AES256"),
        ("x-amz-server-side-encryption-aws-kms-key-id", "alias/k"),
    ] {
        for method in [Method::GET, Method::HEAD] {
            let resp = gw
                .raw()
                .request(method.clone(), &format!("/{B}/obj"))
                .header(header.0, header.1)
                .send()
                .await;
            assert_eq!(resp.status, 400, "{method} with {}", header.0);
            if method == Method::GET {
                assert_raw_error(&resp, "InvalidArgument", 400);
            }
        }
    }
    assert_eq!(get(&c, B, "obj").await, b"sealed", "the plain read still works");
}

#[tokio::test]
async fn kms_keys_rotate_and_disable_without_losing_an_object() {
    let (gw, c) = gateway(&[]).await;
    let id = kms_key(&gw, "app");
    let context = B64.encode(br#"{"project":"apollo"}"#);
    let put_kms = |key: &'static str, name: String| {
        let c = c.clone();
        let context = context.clone();
        async move {
            c.put_object()
                .bucket(B)
                .key(key)
                .body(ByteStream::from(data(3 * CHUNK)))
                .server_side_encryption(ServerSideEncryption::AwsKms)
                .ssekms_key_id(name)
                .ssekms_encryption_context(context)
                .send()
                .await
        }
    };
    let first = put_kms("v1", "alias/app".into()).await.unwrap();
    assert_eq!(
        first.server_side_encryption(),
        Some(&ServerSideEncryption::AwsKms)
    );
    assert_eq!(first.ssekms_key_id(), Some(arn(&id).as_str()));
    assert_eq!(first.ssekms_encryption_context(), Some(context.as_str()));
    let head = c.head_object().bucket(B).key("v1").send().await.unwrap();
    assert_eq!(head.ssekms_key_id(), Some(arn(&id).as_str()));

    let rotated = admin(&gw, &["kms", "rotate", "alias/app"]);
    assert_eq!(rotated["versions"], 2);
    put_kms("v2", arn(&id)).await.unwrap();
    for k in ["v1", "v2"] {
        assert_eq!(body_of(&c, k, None).await.unwrap(), data(3 * CHUNK), "{k}");
    }

    let disabled = admin(&gw, &["kms", "disable", &id]);
    assert_eq!(disabled["enabled"], false);
    assert_eq!(
        body_of(&c, "v1", None).await.unwrap_err(),
        ("KMS.DisabledException".to_owned(), 400)
    );
    assert_s3_error(put_kms("v3", id.clone()).await, "KMS.DisabledException", 400);
    admin(&gw, &["kms", "enable", "alias/app"]);
    assert_eq!(body_of(&c, "v1", None).await.unwrap(), data(3 * CHUNK));

    let listed = admin(&gw, &["kms", "list"]);
    let keys = listed["keys"].as_array().unwrap();
    assert!(keys.iter().any(|k| k["id"] == id.as_str()));
    assert!(
        !listed.to_string().contains("material") && keys.iter().all(|k| k.get("versions").is_some()),
        "keys are described, never their material"
    );

    // `aws:kms` without a key uses the default key, made on first use.
    let default = c
        .put_object()
        .bucket(B)
        .key("default")
        .body(ByteStream::from_static(b"d"))
        .server_side_encryption(ServerSideEncryption::AwsKms)
        .send()
        .await
        .unwrap();
    assert!(
        default
            .ssekms_key_id()
            .unwrap()
            .starts_with("arn:aws:kms:us-east-1:")
    );
    assert_ne!(default.ssekms_key_id(), Some(arn(&id).as_str()));
}

/// The modes an object can be written in on one gateway (the default off, SSE-C allowed).
#[derive(Clone, Copy, Debug, PartialEq)]
enum Mode {
    Plain,
    S3,
    Kms,
    Customer,
}

fn customer_key() -> (String, String) {
    let raw = [9u8; 32];
    (B64.encode(raw), B64.encode(Md5::digest(raw)))
}

fn reported(sse: Option<&ServerSideEncryption>, customer: Option<&str>) -> Mode {
    match (sse, customer) {
        (Some(ServerSideEncryption::Aes256), None) => Mode::S3,
        (Some(ServerSideEncryption::AwsKms), None) => Mode::Kms,
        (None, Some(_)) => Mode::Customer,
        (None, None) => Mode::Plain,
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn copies_between_every_pair_of_modes_keep_the_bytes_and_move_none_when_the_key_stays() {
    let (gw, c) = gateway(&["--sse-s3-default=false", "--allow-sse-c-over-http"]).await;
    kms_key(&gw, "copies");
    let (ck, cm) = customer_key();
    let body = data(2 * CHUNK + 3);
    let modes = [Mode::Plain, Mode::S3, Mode::Kms, Mode::Customer];
    for src in modes {
        let mut p = c
            .put_object()
            .bucket(B)
            .key(format!("src-{src:?}"))
            .body(ByteStream::from(body.clone()));
        p = match src {
            Mode::Plain => p,
            Mode::S3 => p.server_side_encryption(ServerSideEncryption::Aes256),
            Mode::Kms => p
                .server_side_encryption(ServerSideEncryption::AwsKms)
                .ssekms_key_id("alias/copies"),
            Mode::Customer => p
                .sse_customer_algorithm("AES256")
                .sse_customer_key(&ck)
                .sse_customer_key_md5(&cm),
        };
        p.send().await.unwrap();
    }
    for src in modes {
        for dst in modes {
            let before = blob_files(&gw);
            let key = format!("{src:?}-to-{dst:?}");
            let mut cp = c
                .copy_object()
                .bucket(B)
                .key(&key)
                .copy_source(format!("{B}/src-{src:?}"));
            if src == Mode::Customer {
                cp = cp
                    .copy_source_sse_customer_algorithm("AES256")
                    .copy_source_sse_customer_key(&ck)
                    .copy_source_sse_customer_key_md5(&cm);
            }
            cp = match dst {
                Mode::Plain => cp,
                Mode::S3 => cp.server_side_encryption(ServerSideEncryption::Aes256),
                Mode::Kms => cp
                    .server_side_encryption(ServerSideEncryption::AwsKms)
                    .ssekms_key_id("alias/copies"),
                Mode::Customer => cp
                    .sse_customer_algorithm("AES256")
                    .sse_customer_key(&ck)
                    .sse_customer_key_md5(&cm),
            };
            let out = cp.send().await.unwrap_or_else(|e| panic!("{key}: {e:?}"));
            assert_eq!(
                reported(out.server_side_encryption(), out.sse_customer_algorithm()),
                dst,
                "{key}"
            );
            let moved = blob_files(&gw) - before;
            assert_eq!(moved, usize::from(src != dst), "{key}: blobs written");
            let mut get = c.get_object().bucket(B).key(&key);
            if dst == Mode::Customer {
                get = get
                    .sse_customer_algorithm("AES256")
                    .sse_customer_key(&ck)
                    .sse_customer_key_md5(&cm);
            }
            let got = get.send().await.unwrap_or_else(|e| panic!("get {key}: {e:?}"));
            assert_eq!(
                reported(got.server_side_encryption(), got.sse_customer_algorithm()),
                dst,
                "{key}"
            );
            assert_eq!(
                got.body.collect().await.unwrap().into_bytes().to_vec(),
                body,
                "{key}"
            );
        }
    }
}

#[tokio::test]
async fn a_rename_keeps_the_encryption_and_moves_no_bytes() {
    let (gw, c) = gateway(&[]).await;
    let body = data(CHUNK + 1);
    put(&c, B, "from", body.clone()).await;
    let before = blob_files(&gw);
    let resp = gw
        .raw()
        .request(Method::PUT, &format!("/{B}/to?renameObject"))
        .header("x-amz-rename-source", format!("/{B}/from"))
        .send()
        .await;
    assert_eq!(resp.status, 200, "{}", resp.text());
    assert_eq!(blob_files(&gw), before);
    let got = c.get_object().bucket(B).key("to").send().await.unwrap();
    assert_eq!(got.server_side_encryption(), Some(&ServerSideEncryption::Aes256));
    assert_eq!(got.body.collect().await.unwrap().into_bytes().to_vec(), body);
}

#[tokio::test]
async fn a_bucket_policy_can_refuse_unencrypted_puts() {
    let gw = start();
    let out = Command::new(bin())
        .args([
            "admin",
            "--endpoint",
            &gw.endpoint(),
            "user",
            "create",
            "writer",
            "--org",
            "team-a",
        ])
        .env("STOWAGE_ROOT_ACCESS_KEY_ID", &gw.access_key)
        .env("STOWAGE_ROOT_SECRET_ACCESS_KEY", &gw.secret_key)
        .output()
        .unwrap();
    let user: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let writer = gw.client_for(
        user["accessKeyId"].as_str().unwrap(),
        user["secretAccessKey"].as_str().unwrap(),
    );
    let policy = serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": "*", "Action": "s3:PutObject",
             "Resource": format!("arn:aws:s3:::{B}/*")},
            {"Effect": "Deny", "Principal": "*", "Action": "s3:PutObject",
             "Resource": format!("arn:aws:s3:::{B}/*"),
             "Condition": {"Null": {"s3:x-amz-server-side-encryption": "true"}}},
            {"Effect": "Deny", "Principal": "*", "Action": "s3:PutObject",
             "Resource": format!("arn:aws:s3:::{B}/*"),
             "Condition": {
                 "StringEquals": {"s3:x-amz-server-side-encryption": "aws:kms"},
                 "StringNotLike": {"s3:x-amz-server-side-encryption-aws-kms-key-id": "*:key/allowed-*"}}}
        ]
    });
    create_bucket(&writer, B).await;
    writer
        .put_bucket_policy()
        .bucket(B)
        .policy(policy.to_string())
        .send()
        .await
        .unwrap();
    let bare = writer
        .put_object()
        .bucket(B)
        .key("bare")
        .body(ByteStream::from_static(b"x"))
        .send()
        .await;
    assert_s3_error(bare, "AccessDenied", 403);
    writer
        .put_object()
        .bucket(B)
        .key("sealed")
        .body(ByteStream::from_static(b"x"))
        .server_side_encryption(ServerSideEncryption::Aes256)
        .send()
        .await
        .unwrap();
    let other_key = writer
        .put_object()
        .bucket(B)
        .key("kms")
        .body(ByteStream::from_static(b"x"))
        .server_side_encryption(ServerSideEncryption::AwsKms)
        .ssekms_key_id("arn:aws:kms:us-east-1:000000000000:key/other")
        .send()
        .await;
    assert_s3_error(other_key, "AccessDenied", 403);
}
