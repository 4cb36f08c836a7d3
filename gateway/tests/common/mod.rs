//! Shared fixtures for the gateway's end-to-end tests: a real `gateway` process per test, driven
//! by `aws-sdk-s3` (default configuration) and raw SigV4 requests.
#![allow(dead_code)] // each test binary uses its own subset

pub mod local_store;
pub mod post_form;

use std::path::Path;

use aws_sdk_s3::Client;
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{BucketLocationConstraint, CreateBucketConfiguration};
pub use e2e::{Gateway, GatewayOptions, RawResponse};

pub fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_gateway"))
}

pub fn start() -> Gateway {
    start_with_args(&[])
}

/// Starts a gateway with extra arguments, on the metadata backend of [`meta_args`] unless the
/// arguments name one.
pub fn start_with_args(args: &[&str]) -> Gateway {
    let mut args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    if !args.iter().any(|a| a == "--meta" || a.starts_with("--meta=")) {
        args.extend(meta_args());
    }
    // Freed bytes go at once, so a test can see that a delete freed them; the grace period
    // that protects in-flight reads has tests of its own (`multi_gateway`).
    if !args.iter().any(|a| a.starts_with("--free-grace")) {
        args.extend(["--free-grace".to_owned(), "0".to_owned()]);
    }
    Gateway::start_with(
        bin(),
        GatewayOptions {
            args,
            ..Default::default()
        },
    )
}

/// Where the TiKV cluster for the e2e suite is (`host:port[,host:port...]`): when set, every
/// gateway these fixtures start keeps its metadata there, so the whole suite runs on TiKV.
pub const TIKV_ENV: &str = "TIKV_PD_ENDPOINTS";

/// `--meta tikv://$TIKV_PD_ENDPOINTS/<fresh random prefix>` when [`TIKV_ENV`] is set (TLS comes
/// from `STOWAGE_TIKV_CA`/`_CERT`/`_KEY`, which the gateway reads from the environment it
/// inherits); nothing, so the embedded store, otherwise.
pub fn meta_args() -> Vec<String> {
    match tikv_store_url() {
        Some(url) => vec!["--meta".to_owned(), url],
        None => Vec::new(),
    }
}

/// A fresh store on the e2e TiKV cluster, or `None` when [`TIKV_ENV`] is not set.
pub fn tikv_store_url() -> Option<String> {
    let endpoints = std::env::var(TIKV_ENV).ok().filter(|e| !e.is_empty())?;
    Some(format!("tikv://{endpoints}/e2e-{:016x}", rand::random::<u64>()))
}

pub async fn create_bucket(client: &Client, name: &str) {
    client
        .create_bucket()
        .bucket(name)
        .create_bucket_configuration(
            CreateBucketConfiguration::builder()
                .location_constraint(BucketLocationConstraint::from("us-east-1"))
                .build(),
        )
        .send()
        .await
        .unwrap_or_else(|e| panic!("create bucket {name}: {e:?}"));
}

/// A started gateway, its SDK client and one empty bucket.
pub async fn with_bucket(bucket: &str) -> (Gateway, Client) {
    with_bucket_args(bucket, &[]).await
}

/// [`with_bucket`] on a gateway started with extra arguments.
pub async fn with_bucket_args(bucket: &str, args: &[&str]) -> (Gateway, Client) {
    let gw = start_with_args(args);
    let client = gw.client();
    create_bucket(&client, bucket).await;
    (gw, client)
}

/// Keeps every object's bytes on the volume, small ones included: for tests that count the
/// blob files writes leave and deletes free (small objects are otherwise kept inline).
pub const ON_VOLUMES: [&str; 2] = ["--inline-max-size", "0"];

pub async fn put(client: &Client, bucket: &str, key: &str, body: impl Into<Vec<u8>>) -> String {
    client
        .put_object()
        .bucket(bucket)
        .key(key)
        .body(ByteStream::from(body.into()))
        .send()
        .await
        .unwrap_or_else(|e| panic!("put {key}: {e:?}"))
        .e_tag
        .expect("PutObject returns an ETag")
}

/// The bytes of `range` (a `Range` header value) of an object.
pub async fn get_range(client: &Client, bucket: &str, key: &str, range: &str) -> Vec<u8> {
    let out = client
        .get_object()
        .bucket(bucket)
        .key(key)
        .range(range)
        .send()
        .await
        .unwrap_or_else(|e| panic!("range {range} of {key}: {e:?}"));
    out.body.collect().await.expect("body").into_bytes().to_vec()
}

pub async fn enable_versioning(client: &Client, bucket: &str) {
    client
        .put_bucket_versioning()
        .bucket(bucket)
        .versioning_configuration(
            aws_sdk_s3::types::VersioningConfiguration::builder()
                .status(aws_sdk_s3::types::BucketVersioningStatus::Enabled)
                .build(),
        )
        .send()
        .await
        .unwrap_or_else(|e| panic!("enable versioning on {bucket}: {e:?}"));
}

/// Uploads `parts` (each through the client paired with it) as one multipart object, completed
/// through `client`; returns its ETag.
pub async fn multipart(client: &Client, bucket: &str, key: &str, parts: &[(&Client, Vec<u8>)]) -> String {
    use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
    let upload = client
        .create_multipart_upload()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .expect("create upload");
    let id = upload.upload_id().expect("upload id");
    let mut done = Vec::new();
    for (n, (via, body)) in parts.iter().enumerate() {
        let n = n as i32 + 1;
        let part = via
            .upload_part()
            .bucket(bucket)
            .key(key)
            .upload_id(id)
            .part_number(n)
            .body(ByteStream::from(body.clone()))
            .send()
            .await
            .expect("upload part");
        done.push(
            CompletedPart::builder()
                .part_number(n)
                .e_tag(part.e_tag().expect("part etag"))
                .build(),
        );
    }
    client
        .complete_multipart_upload()
        .bucket(bucket)
        .key(key)
        .upload_id(id)
        .multipart_upload(CompletedMultipartUpload::builder().set_parts(Some(done)).build())
        .send()
        .await
        .expect("complete")
        .e_tag()
        .expect("etag")
        .to_owned()
}

pub async fn get(client: &Client, bucket: &str, key: &str) -> Vec<u8> {
    let out = client
        .get_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .unwrap_or_else(|e| panic!("get {key}: {e:?}"));
    out.body.collect().await.expect("read body").into_bytes().to_vec()
}

/// Every key and ETag in a bucket, in order: "the bucket's contents are unchanged" is an
/// equality of two snapshots.
pub async fn snapshot(client: &Client, bucket: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut token = None;
    loop {
        let page = client
            .list_objects_v2()
            .bucket(bucket)
            .set_continuation_token(token)
            .send()
            .await
            .expect("list for snapshot");
        for o in page.contents() {
            out.push((
                o.key().unwrap_or_default().to_owned(),
                o.e_tag().unwrap_or_default().to_owned(),
            ));
        }
        match page.next_continuation_token {
            Some(t) => token = Some(t),
            None => return out,
        }
    }
}

/// The S3 error code and HTTP status of a failed SDK call.
pub fn s3_error<E: ProvideErrorMetadata + std::fmt::Debug>(e: SdkError<E>) -> (String, u16) {
    let status = e.raw_response().map(|r| r.status().as_u16()).unwrap_or(0);
    let code = e.as_service_error().and_then(|s| s.code()).map(str::to_owned);
    (code.unwrap_or_else(|| format!("{e:?}")), status)
}

/// Asserts a call failed with `code` and `status`.
pub fn assert_s3_error<T: std::fmt::Debug, E: ProvideErrorMetadata + std::fmt::Debug>(
    result: Result<T, SdkError<E>>,
    code: &str,
    status: u16,
) {
    match result {
        Ok(v) => panic!("expected {code} ({status}), got success: {v:?}"),
        Err(e) => assert_eq!(s3_error(e), (code.to_owned(), status)),
    }
}

/// Asserts a raw response is the S3 error `code` with `status`.
pub fn assert_raw_error(resp: &RawResponse, code: &str, status: u16) {
    assert_eq!(
        (resp.error_code().as_deref(), resp.status),
        (Some(code), status),
        "unexpected response: {}",
        resp.text()
    );
}

/// Blob files on the gateway's volume (committed or orphaned), for "no bytes moved / none left".
pub fn blob_files(gw: &Gateway) -> usize {
    blob_files_in(gw.data_dir())
}

/// The blob files on the volume rooted at `volume`.
pub fn blob_files_in(volume: &Path) -> usize {
    let blobs = volume.join("blobs");
    std::fs::read_dir(&blobs)
        .map(|shards| {
            shards
                .filter_map(Result::ok)
                .map(|s| std::fs::read_dir(s.path()).map(|d| d.count()).unwrap_or(0))
                .sum()
        })
        .unwrap_or(0)
}

pub async fn head_etag(client: &Client, bucket: &str, key: &str) -> Option<String> {
    client
        .head_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .ok()
        .and_then(|h| h.e_tag)
}

/// The text of every `<element>` in an XML document, in document order, unescaped (an empty or
/// self-closed element gives ""). For checking response XML as sent, before any SDK decodes it.
pub fn xml_values(xml: &str, element: &str) -> Vec<String> {
    use quick_xml::events::Event;
    let mut reader = quick_xml::Reader::from_str(xml);
    let mut values = Vec::new();
    loop {
        match reader.read_event().unwrap_or_else(|e| panic!("{e}: {xml}")) {
            Event::Start(e) if e.local_name().as_ref() == element.as_bytes() => {
                let text = reader
                    .read_text(e.name())
                    .unwrap_or_else(|e| panic!("{e}: {xml}"));
                let text = text.decode().expect("UTF-8 XML");
                values.push(
                    quick_xml::escape::unescape(&text)
                        .expect("valid escapes")
                        .into_owned(),
                );
            }
            Event::Empty(e) if e.local_name().as_ref() == element.as_bytes() => values.push(String::new()),
            Event::Eof => return values,
            _ => {}
        }
    }
}

/// A started gateway whose bucket holds `k` = "original", and the bucket's snapshot: what a
/// refused write must leave exactly as it is.
pub async fn bucket_with_original(bucket: &str) -> (Gateway, Client, Vec<(String, String)>) {
    let (gw, client) = with_bucket(bucket).await;
    put(&client, bucket, "k", b"original".to_vec()).await;
    let before = snapshot(&client, bucket).await;
    (gw, client, before)
}

/// The CreateBucket body that asks for `region`.
pub fn create_bucket_xml(region: &str) -> String {
    format!(
        "<CreateBucketConfiguration xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">\
         <LocationConstraint>{region}</LocationConstraint></CreateBucketConfiguration>"
    )
}
