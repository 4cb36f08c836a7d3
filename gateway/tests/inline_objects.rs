//! Small objects kept in the metadata store (`--inline-max-size`, 16 KiB as stored by default):
//! a PUT makes no file, every gateway serves them, and their bytes go with their last
//! reference. Driven through the SDK against gateways of one store in this process; on TiKV
//! (`TIKV_PD_ENDPOINTS`) the store is a fresh prefix of that cluster.

mod common;

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{ChecksumAlgorithm, ChecksumMode};
use base64::Engine as _;
use common::local_store::{LocalStore, data};
use common::{assert_s3_error, create_bucket, enable_versioning, get, get_range, put};
use gateway::meta::{MetaStore, keys};

const B: &str = "small";
const MAX: usize = 16 * 1024;

/// Inline blobs' bytes and blob records in the store: (bytes kept, records of inline blobs).
async fn inline_entries(meta: &dyn MetaStore) -> (usize, usize) {
    let mut txn = meta.begin_read().await.unwrap();
    let probe = keys::inline_blob("");
    let bytes = txn
        .scan(&probe, &keys::prefix_end(&probe), 10_000)
        .await
        .unwrap()
        .len();
    let refs = keys::blob_ref("");
    let records = txn
        .scan(&refs, &keys::prefix_end(&refs), 10_000)
        .await
        .unwrap()
        .into_iter()
        .filter(|(k, v)| gateway::model::BlobRecord::decode(k, v).unwrap().inline)
        .count();
    (bytes, records)
}

/// Bodies up to the limit as stored make no file and read back whole, in ranges and with their
/// checksum; one byte more goes to the volume. In the clear, so stored bytes = object bytes.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn bodies_up_to_the_limit_make_no_file_and_read_back_exactly() {
    let store = LocalStore::start(1, &["--free-grace", "0", "--sse-s3-default=false"]).await;
    let c = store.client(0);
    create_bucket(&c, B).await;
    for (i, len) in [0, 1, 4096, MAX].into_iter().enumerate() {
        let body = data(len, i as u8 + 1);
        let key = format!("fits-{len}");
        let put = c
            .put_object()
            .bucket(B)
            .key(&key)
            .checksum_algorithm(ChecksumAlgorithm::Crc32C)
            .body(ByteStream::from(body.clone()))
            .send()
            .await
            .unwrap();
        let got = c
            .get_object()
            .bucket(B)
            .key(&key)
            .checksum_mode(ChecksumMode::Enabled)
            .send()
            .await
            .unwrap();
        assert_eq!(got.checksum_crc32_c(), put.checksum_crc32_c(), "{key}");
        assert_eq!(got.content_length(), Some(len as i64));
        assert_eq!(
            got.body.collect().await.unwrap().into_bytes().to_vec(),
            body,
            "{key}"
        );
        if len > 10 {
            assert_eq!(get_range(&c, B, &key, "bytes=3-9").await, &body[3..=9]);
            assert_eq!(get_range(&c, B, &key, "bytes=-5").await, &body[len - 5..]);
        }
        let head = c.head_object().bucket(B).key(&key).send().await.unwrap();
        assert_eq!(head.e_tag(), put.e_tag());
    }
    assert_eq!(store.blobs_on(0), 0, "no object up to the limit made a file");
    assert_eq!(inline_entries(&*store.shared.meta).await, (4, 4));

    put(&c, B, "over", data(MAX + 1, 9)).await;
    assert_eq!(store.blobs_on(0), 1, "one byte over the limit goes to the volume");
    assert_eq!(get(&c, B, "over").await, data(MAX + 1, 9));
}

/// Sealed small objects (SSE-S3 by default, SSE-C) are stored sealed: the bytes in the metadata
/// store are not the object's, and the customer's key is needed to read.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sealed_small_objects_are_kept_sealed() {
    let store = LocalStore::start(1, &["--free-grace", "0", "--allow-sse-c-over-http"]).await;
    let c = store.client(0);
    create_bucket(&c, B).await;
    let body = b"a small secret, sealed at rest".to_vec();
    put(&c, B, "managed", body.clone()).await;
    let key = [7u8; 32];
    let b64 = base64::engine::general_purpose::STANDARD;
    let (key64, md5) = (b64.encode(key), b64.encode(md5_of(&key)));
    c.put_object()
        .bucket(B)
        .key("customer")
        .sse_customer_algorithm("AES256")
        .sse_customer_key(&key64)
        .sse_customer_key_md5(&md5)
        .body(ByteStream::from(body.clone()))
        .send()
        .await
        .unwrap();
    assert_eq!(store.blobs_on(0), 0);
    assert_eq!(get(&c, B, "managed").await, body);
    let read = c
        .get_object()
        .bucket(B)
        .key("customer")
        .sse_customer_algorithm("AES256")
        .sse_customer_key(&key64)
        .sse_customer_key_md5(&md5)
        .range("bytes=2-7")
        .send()
        .await
        .unwrap();
    assert_eq!(
        read.body.collect().await.unwrap().into_bytes().to_vec(),
        &body[2..=7]
    );
    assert_s3_error(
        c.get_object().bucket(B).key("customer").send().await,
        "InvalidRequest",
        400,
    );

    let mut txn = store.shared.meta.begin_read().await.unwrap();
    let probe = keys::inline_blob("");
    let stored = txn.scan(&probe, &keys::prefix_end(&probe), 10).await.unwrap();
    assert_eq!(stored.len(), 2);
    for (_, v) in stored {
        assert_eq!(v.len(), body.len() + 16, "sealed: the bytes and one tag");
        assert!(
            !v.windows(8).any(|w| w == &body[..8]),
            "the plaintext is not stored"
        );
    }
}

fn md5_of(bytes: &[u8]) -> [u8; 16] {
    use md5::Digest as _;
    md5::Md5::digest(bytes).into()
}

/// Copies share an inline blob (reference counted, as volume blobs are), renames move it, and
/// versions keep theirs; the bytes go with the last reference and not before.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn copies_renames_and_versions_share_the_bytes_until_the_last_reference_goes() {
    const FLAT: &str = "flat";
    let store = LocalStore::start(1, &["--free-grace", "0"]).await;
    let c = store.client(0);
    let meta = &*store.shared.meta;
    create_bucket(&c, FLAT).await;
    put(&c, FLAT, "k", b"one".to_vec()).await;
    c.copy_object()
        .bucket(FLAT)
        .key("copy")
        .copy_source(format!("{FLAT}/k"))
        .send()
        .await
        .unwrap();
    assert_eq!(inline_entries(meta).await, (1, 1), "a copy shares the bytes");
    c.rename_object()
        .bucket(FLAT)
        .key("renamed")
        .rename_source(format!("/{FLAT}/copy"))
        .send()
        .await
        .unwrap();
    assert_eq!(inline_entries(meta).await, (1, 1), "a rename moves the reference");
    put(&c, FLAT, "k", b"two".to_vec()).await;
    assert_eq!(inline_entries(meta).await, (2, 2));
    assert_eq!(get(&c, FLAT, "renamed").await, b"one");
    c.delete_object().bucket(FLAT).key("k").send().await.unwrap();
    assert_eq!(
        inline_entries(meta).await,
        (1, 1),
        "an overwritten, deleted body goes"
    );
    assert_eq!(get(&c, FLAT, "renamed").await, b"one");

    create_bucket(&c, B).await;
    enable_versioning(&c, B).await;
    put(&c, B, "v", b"first".to_vec()).await;
    put(&c, B, "v", b"second".to_vec()).await;
    c.delete_object().bucket(B).key("v").send().await.unwrap();
    assert_eq!(
        inline_entries(meta).await,
        (3, 3),
        "versions and a marker keep their bytes"
    );
    let versions = c.list_object_versions().bucket(B).send().await.unwrap();
    let newest = versions
        .versions()
        .iter()
        .find(|v| v.is_latest() != Some(true))
        .map(|v| v.version_id().unwrap().to_owned())
        .unwrap();
    c.copy_object()
        .bucket(FLAT)
        .key("from-version")
        .copy_source(format!("{B}/v?versionId={newest}"))
        .send()
        .await
        .unwrap();
    for v in versions.versions() {
        c.delete_object()
            .bucket(B)
            .key("v")
            .version_id(v.version_id().unwrap())
            .send()
            .await
            .unwrap();
    }
    assert_eq!(
        inline_entries(meta).await,
        (2, 2),
        "a copy keeps its version's bytes"
    );
    assert_eq!(get(&c, FLAT, "from-version").await, b"second");
    for key in ["renamed", "from-version"] {
        c.delete_object().bucket(FLAT).key(key).send().await.unwrap();
    }
    assert_eq!(
        inline_entries(meta).await,
        (0, 0),
        "no inline bytes outlive their objects"
    );
    assert_eq!(store.blobs_on(0), 0);
}

/// Any gateway serves an inline object, even once the gateway that took it is gone with its
/// volume: its bytes are in the shared metadata store.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_gateway_serves_a_small_object_even_after_its_writer_and_volume_are_gone() {
    let mut store = LocalStore::start(2, &["--free-grace", "0"]).await;
    create_bucket(&store.client(1), B).await;
    let bodies: Vec<Vec<u8>> = (0..20).map(|i| data(100 * i + 1, i as u8)).collect();
    for (i, body) in bodies.iter().enumerate() {
        put(&store.client(1), B, &format!("k{i}"), body.clone()).await;
    }
    store.stop(1).await;
    std::fs::remove_dir_all(store.volume(1)).unwrap();
    let c0 = store.client(0);
    for (i, body) in bodies.iter().enumerate() {
        assert_eq!(&get(&c0, B, &format!("k{i}")).await, body);
    }
}

/// 32 writers overwrite and delete 8 keys at once: every key ends as one of the bodies written
/// to it, whole, and no inline bytes are left beyond those of the keys that remain.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_overwrites_and_deletes_leave_exactly_the_survivors_bytes() {
    let store = LocalStore::start(1, &["--free-grace", "0"]).await;
    let c = store.client(0);
    create_bucket(&c, B).await;
    let writers: Vec<_> = (0..32u8)
        .map(|w| {
            let c = c.clone();
            tokio::spawn(async move {
                for n in 0..10u8 {
                    let key = format!("k{}", (w + n) % 8);
                    if (w + n) % 5 == 0 {
                        c.delete_object().bucket(B).key(&key).send().await.unwrap();
                    } else {
                        put(&c, B, &key, vec![w; 1000 + usize::from(n)]).await;
                    }
                }
            })
        })
        .collect();
    for w in writers {
        w.await.unwrap();
    }
    let listed = c.list_objects_v2().bucket(B).send().await.unwrap();
    for o in listed.contents() {
        let body = get(&c, B, o.key().unwrap()).await;
        assert!(
            body.len() >= 1000 && body.iter().all(|b| *b == body[0]),
            "a whole body"
        );
        assert_eq!(Some(body.len() as i64), o.size());
    }
    let n = listed.contents().len();
    assert_eq!(inline_entries(&*store.shared.meta).await, (n, n));
    assert_eq!(store.blobs_on(0), 0);
}
