//! One store, many gateways: any gateway serves any object, whichever gateway's volume holds its
//! bytes. The gateways run in this process over one metadata store (as `gateway serve
//! --gateways N` runs them), each on its own port with its own volume, talking real HTTP to each
//! other; a test can stop one and start it again. On TiKV (`TIKV_PD_ENDPOINTS`) they share a
//! fresh prefix of that cluster instead of the embedded store.

mod common;

use std::time::{Duration, SystemTime};

use aws_sdk_s3::Client;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
use common::local_store::{LocalStore, data, eventually};
use common::{blob_files_in, create_bucket, enable_versioning, get, get_range, multipart, put};
use gateway::cluster::PeerKey;
use gateway::server::start_gateway;

const B: &str = "shared";
const MIB: usize = 1024 * 1024;

async fn get_part(c: &Client, key: &str, part: i32) -> Vec<u8> {
    let out = c
        .get_object()
        .bucket(B)
        .key(key)
        .part_number(part)
        .send()
        .await
        .unwrap_or_else(|e| panic!("part {part} of {key}: {e:?}"));
    out.body.collect().await.expect("body").into_bytes().to_vec()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_gateway_reads_what_any_gateway_wrote() {
    let store = LocalStore::start(3, &["--free-grace", "0"]).await;
    create_bucket(&store.client(0), B).await;
    for writer in 0..3 {
        let key = format!("from-{writer}");
        let body = data(3 * MIB / 2 + writer, writer as u8);
        put(&store.client(writer), B, &key, body.clone()).await;
        for reader in (0..3).filter(|r| *r != writer) {
            let c = store.client(reader);
            assert_eq!(get(&c, B, &key).await, body, "{key} through gateway {reader}");
            let head = c.head_object().bucket(B).key(&key).send().await.expect("head");
            assert_eq!(head.content_length(), Some(body.len() as i64));
            assert_eq!(
                get_range(&c, B, &key, "bytes=1000-1048575").await,
                &body[1000..1_048_576]
            );
            assert_eq!(
                get_range(&c, B, &key, "bytes=-10").await,
                &body[body.len() - 10..]
            );
            assert_eq!(get_part(&c, &key, 1).await, body);
        }
    }
    // Each object's bytes live only where they were written: nothing was copied to read them.
    for i in 0..3 {
        assert_eq!(store.blobs_on(i), 1, "gateway {i} holds exactly what it wrote");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_sse_s3_object_is_opened_by_a_gateway_that_does_not_hold_it() {
    let store = LocalStore::start(2, &["--free-grace", "0"]).await;
    let (writer, reader) = (store.client(0), store.client(1));
    create_bucket(&writer, B).await;
    let body = data(MIB + 4321, 5);
    put(&writer, B, "sealed", body.clone()).await;
    let head = reader
        .head_object()
        .bucket(B)
        .key("sealed")
        .send()
        .await
        .expect("head");
    assert_eq!(
        head.server_side_encryption(),
        Some(&aws_sdk_s3::types::ServerSideEncryption::Aes256)
    );
    assert_eq!(
        get(&reader, B, "sealed").await,
        body,
        "the ciphertext crossed, the reader opened it"
    );
    let chunk = 64 * 1024;
    let across = format!("bytes={}-{}", chunk - 5, 3 * chunk + 5);
    assert_eq!(
        get_range(&reader, B, "sealed", &across).await,
        &body[chunk - 5..=3 * chunk + 5]
    );
    assert_eq!(
        (store.blobs_on(0), store.blobs_on(1)),
        (1, 0),
        "read without a copy"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn multipart_parts_written_through_different_gateways_read_anywhere() {
    let store = LocalStore::start(3, &["--free-grace", "0"]).await;
    let c: Vec<Client> = (0..3).map(|i| store.client(i)).collect();
    create_bucket(&c[0], B).await;
    let parts = vec![
        (&c[0], data(5 * MIB, 1)),
        (&c[1], data(5 * MIB, 2)),
        (&c[2], data(MIB + 17, 3)),
    ];
    let whole: Vec<u8> = parts.iter().flat_map(|(_, b)| b.clone()).collect();
    multipart(&c[1], B, "mp", &parts).await;
    for reader in &c {
        assert_eq!(get(reader, B, "mp").await, whole);
    }
    assert_eq!(get_part(&c[0], "mp", 2).await, parts[1].1);
    assert_eq!(get_part(&c[1], "mp", 3).await, parts[2].1);
    let across = format!("bytes={}-{}", 5 * MIB - 100, 10 * MIB + 99);
    assert_eq!(
        get_range(&c[2], B, "mp", &across).await,
        &whole[5 * MIB - 100..10 * MIB + 100]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn copies_renames_versions_and_part_copies_work_across_gateways() {
    let store = LocalStore::start(3, &["--free-grace", "0"]).await;
    let c: Vec<Client> = (0..3).map(|i| store.client(i)).collect();
    create_bucket(&c[0], B).await;
    let body = data(6 * MIB, 7);
    put(&c[0], B, "src", body.clone()).await;

    c[1].copy_object()
        .bucket(B)
        .key("copied")
        .copy_source(format!("{B}/src"))
        .send()
        .await
        .expect("copy through another gateway");
    assert_eq!(get(&c[2], B, "copied").await, body);

    c[2].rename_object()
        .bucket(B)
        .key("renamed")
        .rename_source(format!("/{B}/copied"))
        .send()
        .await
        .expect("rename through a third gateway");
    assert_eq!(get(&c[1], B, "renamed").await, body);

    // UploadPartCopy must read the bytes: gateway 2 reads them from gateway 0.
    let upload = c[2]
        .create_multipart_upload()
        .bucket(B)
        .key("assembled")
        .send()
        .await
        .expect("create upload");
    let id = upload.upload_id().expect("id");
    let mut parts = Vec::new();
    for (n, range) in [(1, "bytes=0-5242879"), (2, "bytes=5242880-6291455")] {
        let part = c[2]
            .upload_part_copy()
            .bucket(B)
            .key("assembled")
            .upload_id(id)
            .part_number(n)
            .copy_source(format!("{B}/src"))
            .copy_source_range(range)
            .send()
            .await
            .expect("upload part copy");
        let etag = part.copy_part_result().and_then(|r| r.e_tag()).expect("etag");
        parts.push(CompletedPart::builder().part_number(n).e_tag(etag).build());
    }
    c[2].complete_multipart_upload()
        .bucket(B)
        .key("assembled")
        .upload_id(id)
        .multipart_upload(CompletedMultipartUpload::builder().set_parts(Some(parts)).build())
        .send()
        .await
        .expect("complete");
    assert_eq!(get(&c[0], B, "assembled").await, body);
    assert_eq!(
        store.blobs_on(2),
        2,
        "the part copies were written where they were asked for"
    );

    let versioned = "versioned";
    create_bucket(&c[1], versioned).await;
    enable_versioning(&c[1], versioned).await;
    let mut ids = Vec::new();
    for (i, client) in c.iter().enumerate() {
        let out = client
            .put_object()
            .bucket(versioned)
            .key("k")
            .body(ByteStream::from(data(300_000, i as u8)))
            .send()
            .await
            .expect("put version");
        ids.push(out.version_id().expect("version id").to_owned());
    }
    for (i, id) in ids.iter().enumerate() {
        let reader = &c[(i + 1) % 3];
        let out = reader
            .get_object()
            .bucket(versioned)
            .key("k")
            .version_id(id)
            .send()
            .await
            .expect("get version");
        assert_eq!(
            out.body.collect().await.unwrap().into_bytes().to_vec(),
            data(300_000, i as u8)
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sse_c_objects_read_through_another_gateway() {
    use base64::Engine as _;
    use md5::Digest as _;
    let store = LocalStore::start(2, &["--free-grace", "0", "--allow-sse-c-over-http"]).await;
    let (c0, c1) = (store.client(0), store.client(1));
    create_bucket(&c0, B).await;
    let raw_key = [42u8; 32];
    let key = base64::engine::general_purpose::STANDARD.encode(raw_key);
    let key_md5 = base64::engine::general_purpose::STANDARD.encode(md5::Md5::digest(raw_key));
    let body = data(200_000, 9);
    c0.put_object()
        .bucket(B)
        .key("secret")
        .sse_customer_algorithm("AES256")
        .sse_customer_key(&key)
        .sse_customer_key_md5(&key_md5)
        .body(ByteStream::from(body.clone()))
        .send()
        .await
        .expect("sealed put");
    let read = |range: Option<&str>| {
        c1.get_object()
            .bucket(B)
            .key("secret")
            .sse_customer_algorithm("AES256")
            .sse_customer_key(&key)
            .sse_customer_key_md5(&key_md5)
            .set_range(range.map(str::to_owned))
            .send()
    };
    let whole = read(None).await.expect("sealed get through gateway 1");
    assert_eq!(whole.body.collect().await.unwrap().into_bytes().to_vec(), body);
    let ranged = read(Some("bytes=65530-131080")).await.expect("sealed range");
    assert_eq!(
        ranged.body.collect().await.unwrap().into_bytes().to_vec(),
        &body[65530..=131080]
    );
    assert_eq!(store.blobs_on(1), 0, "gateway 1 decrypted what gateway 0 holds");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn deletes_and_overwrites_free_the_bytes_on_their_holder_even_one_that_was_down() {
    let mut store = LocalStore::start(3, &["--free-grace", "0", "--inline-max-size", "0"]).await;
    create_bucket(&store.client(0), B).await;

    put(&store.client(0), B, "a", data(1000, 1)).await;
    store
        .client(1)
        .delete_object()
        .bucket(B)
        .key("a")
        .send()
        .await
        .expect("delete");
    eventually("gateway 0 frees a blob deleted through gateway 1", || {
        store.blobs_on(0) == 0
    })
    .await;

    put(&store.client(1), B, "b", data(1000, 2)).await;
    put(&store.client(2), B, "b", data(1000, 3)).await;
    eventually("an overwrite frees the old bytes on their holder", || {
        store.blobs_on(1) == 0
    })
    .await;
    assert_eq!(store.blobs_on(2), 1);

    put(&store.client(2), B, "c", data(1000, 4)).await;
    assert_eq!(store.blobs_on(2), 2);
    store.stop(2).await;
    store
        .client(0)
        .delete_object()
        .bucket(B)
        .key("c")
        .send()
        .await
        .expect("delete while the holder is down");
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(store.blobs_on(2), 2, "a stopped gateway frees nothing");
    store.restart(2).await;
    eventually("the holder frees the bytes when it comes back", || {
        store.blobs_on(2) == 1
    })
    .await;
    assert_eq!(get(&store.client(0), B, "b").await, data(1000, 3));
}

/// A GET that began before an overwrite (or a delete) streams the old object to the end, even
/// when its parts are freed meanwhile: frees wait out the grace period.
async fn reads_racing_overwrites_get_every_old_byte(gateways: usize) {
    let store = LocalStore::start(gateways, &["--free-grace", "60"]).await;
    let writer = store.client(0);
    let reader = store.client(gateways - 1);
    create_bucket(&writer, B).await;
    let parts = vec![
        (&writer, data(5 * MIB, 1)),
        (&writer, data(5 * MIB, 2)),
        (&writer, data(5 * MIB, 3)),
    ];
    let old: Vec<u8> = parts.iter().flat_map(|(_, b)| b.clone()).collect();
    for round in 0..2 {
        multipart(&writer, B, "race", &parts).await;
        let out = reader
            .get_object()
            .bucket(B)
            .key("race")
            .send()
            .await
            .expect("get");
        let mut body = out.body;
        let mut got = Vec::new();
        let first = body.next().await.expect("a first chunk").expect("chunk");
        got.extend_from_slice(&first);
        if round == 0 {
            put(&writer, B, "race", data(100, 9)).await;
        } else {
            writer
                .delete_object()
                .bucket(B)
                .key("race")
                .send()
                .await
                .expect("delete");
        }
        while let Some(chunk) = body.next().await {
            got.extend_from_slice(&chunk.expect("the rest of the old object"));
        }
        assert_eq!(got.len(), old.len(), "round {round}: the whole old object");
        assert!(got == old, "round {round}: the old bytes");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_read_racing_an_overwrite_gets_the_whole_old_object_on_one_gateway() {
    reads_racing_overwrites_get_every_old_byte(1).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_read_racing_an_overwrite_gets_the_whole_old_object_across_gateways() {
    reads_racing_overwrites_get_every_old_byte(2).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn with_two_copies_a_stopped_gateway_loses_nothing() {
    let mut store = LocalStore::start(3, &["--free-grace", "0", "--blob-copies", "2"]).await;
    create_bucket(&store.client(0), B).await;
    let mut objects = Vec::new();
    for i in 0..9 {
        let key = format!("k{i}");
        let body = data(300_000 + i, i as u8);
        put(&store.client(i % 3), B, &key, body.clone()).await;
        objects.push((key, body));
    }
    let copies: usize = (0..3).map(|i| store.blobs_on(i)).sum();
    assert_eq!(copies, 2 * objects.len(), "every object has two copies");

    for down in 0..3 {
        store.stop(down).await;
        for reader in (0..3).filter(|r| *r != down) {
            let c = store.client(reader);
            for (key, body) in &objects {
                assert_eq!(
                    &get(&c, B, key).await,
                    body,
                    "{key} via {reader} with {down} down"
                );
            }
        }
        // Writes go on, with both copies on the gateways that are up.
        let key = format!("while-{down}-down");
        let body = data(100_000, 100 + down as u8);
        let writer = (down + 1) % 3;
        let before: Vec<usize> = (0..3).map(|i| store.blobs_on(i)).collect();
        put(&store.client(writer), B, &key, body.clone()).await;
        let after: Vec<usize> = (0..3).map(|i| store.blobs_on(i)).collect();
        assert_eq!(after[down], before[down], "nothing lands on the stopped gateway");
        for up in (0..3).filter(|i| *i != down) {
            assert_eq!(after[up], before[up] + 1, "gateway {up} has a copy of {key}");
        }
        objects.push((key, body));
        store.restart(down).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_peer_endpoint_refuses_unsigned_expired_forged_and_s3_requests() {
    let dir = tempfile::tempdir().unwrap();
    let secret_file = dir.path().join("peer.secret");
    std::fs::write(&secret_file, b"a store-internal secret").unwrap();
    let secret_arg = secret_file.display().to_string();
    // Stored in the clear so the blob's bytes are the object's: what is checked is who may read them.
    let store = LocalStore::start(
        2,
        &[
            "--free-grace",
            "0",
            "--peer-secret-file",
            &secret_arg,
            "--sse-s3-default=false",
            "--inline-max-size",
            "0",
        ],
    )
    .await;
    create_bucket(&store.client(0), B).await;
    let body = data(5000, 5);
    put(&store.client(0), B, "x", body.clone()).await;
    let blob = std::fs::read_dir(store.volume(0).join("blobs"))
        .unwrap()
        .flat_map(|shard| std::fs::read_dir(shard.unwrap().path()).unwrap())
        .map(|f| f.unwrap().file_name().into_string().unwrap())
        .next()
        .expect("the blob of x");
    let path = format!("/_stowage/peer/blobs/{blob}");
    let root = store.shared.root();
    let raw = e2e::RawClient::new(
        &store.endpoint(0),
        "us-east-1",
        &root.access_key_id,
        &root.secret_access_key,
    );
    // A peer request carries the peer signature only: no SigV4.
    let peer_get = |headers: &[(&'static str, String)]| {
        let mut req = raw
            .request(http::Method::GET, &path)
            .anonymous()
            .header("range", "bytes=0-4999");
        for (name, value) in headers {
            req = req.header(*name, value.clone());
        }
        req.send()
    };
    let signed = |key: &PeerKey, at: SystemTime| key.sign("GET", &path, at);
    let good = PeerKey::from_secret(b"a store-internal secret");
    let ok = peer_get(&signed(&good, SystemTime::now())).await;
    assert_eq!(ok.status, 206, "a correctly signed peer read is served");
    assert_eq!(ok.body, body);

    assert_eq!(peer_get(&[]).await.status, 403, "unsigned");
    let expired = signed(&good, SystemTime::now() - Duration::from_secs(600));
    assert_eq!(peer_get(&expired).await.status, 403, "expired");
    let forged = signed(&PeerKey::from_secret(b"guess"), SystemTime::now());
    assert_eq!(peer_get(&forged).await.status, 403, "forged");
    let with_s3_credentials = raw.request(http::Method::GET, &path).send().await;
    assert_eq!(
        with_s3_credentials.status, 403,
        "S3 credentials do not open the peer endpoint"
    );
    assert!(
        !with_s3_credentials
            .body
            .windows(body.len())
            .any(|w| w == body.as_slice())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn gateway_serve_with_several_gateways_is_one_store() {
    let gw = common::start_with_args(&["--gateways", "2"]);
    let port: u16 = gw.endpoint().rsplit(':').next().unwrap().parse().unwrap();
    let first = gw.client();
    create_bucket(&first, B).await;
    let body = data(MIB + 3, 11);
    put(&first, B, "k", body.clone()).await;
    let second = e2e::s3_client(
        &format!("http://127.0.0.1:{}", port + 1),
        "us-east-1",
        &gw.access_key,
        &gw.secret_key,
        |b| b,
    );
    assert_eq!(get(&second, B, "k").await, body);
    assert_eq!(blob_files_in(&gw.data_dir().join("gateway-1")), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn records_written_before_holders_were_recorded_read_from_the_legacy_holder() {
    use gateway::meta::keys;
    use gateway::model::{self, ObjectHead};
    let store = LocalStore::start(2, &["--free-grace", "0"]).await;
    let (c0, c1) = (store.client(0), store.client(1));
    create_bucket(&c0, B).await;
    let body = data(700_000, 21);
    put(&c0, B, "old", body.clone()).await;

    // Rewrite the object's records as the previous release wrote them: no holders named.
    let mut txn = store.shared.meta.begin().await.unwrap();
    let bucket_key = keys::bucket(B);
    let bucket: model::BucketRecord =
        model::decode(&bucket_key, &txn.get(&bucket_key).await.unwrap().expect("bucket")).unwrap();
    let space = keys::Space::new(B, bucket.incarnation);
    let mut record_keys = vec![keys::object(&space, "old")];
    let versions = keys::versions_prefix(&space, "old");
    for (k, _) in txn
        .scan(&versions, &keys::prefix_end(&versions), 10)
        .await
        .unwrap()
    {
        record_keys.push(k);
    }
    for k in &record_keys {
        let raw = txn.get(k).await.unwrap().expect("record");
        let mut head: ObjectHead = model::decode(k, &raw).unwrap();
        assert!(head.segments.iter().all(|s| !s.holders.is_empty()));
        head.segments.iter_mut().for_each(|s| s.holders.clear());
        txn.put(k, &model::encode(&head)).await.unwrap();
    }
    txn.commit().await.unwrap();

    // Gateway 0 started first on this store, so it holds what the records do not place.
    assert_eq!(get(&c1, B, "old").await, body);
    c1.delete_object()
        .bucket(B)
        .key("old")
        .send()
        .await
        .expect("delete");
    eventually("the legacy holder frees the bytes", || store.blobs_on(0) == 0).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_node_id_in_use_by_a_live_gateway_is_refused() {
    let store = LocalStore::start(1, &["--node-id", "twin"]).await;
    let other = tempfile::tempdir().unwrap();
    let mut args = store.args.clone();
    args.data_dir = other.path().to_owned();
    let refused = start_gateway(&args, &store.shared, 0).await;
    let message = refused
        .err()
        .expect("a second gateway named twin is refused")
        .to_string();
    assert!(message.contains("registering"), "{message}");
    let chain = format!(
        "{:#}",
        start_gateway(&args, &store.shared, 0).await.err().unwrap()
    );
    assert!(chain.contains("in use by a live gateway"), "{chain}");
}

/// An object of many small parts, every other one on each gateway: a GET reads this volume's
/// parts in batches and the other's from its peer, in order, sealed or in the clear, whole and
/// in a range that crosses batches.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_object_of_many_small_parts_on_two_gateways_reads_whole_through_each() {
    for sse in ["--sse-s3-default=true", "--sse-s3-default=false"] {
        let store = LocalStore::start(2, &["--free-grace", "0", "--min-part-size", "1", sse]).await;
        let c = [store.client(0), store.client(1)];
        create_bucket(&c[0], B).await;
        let parts: Vec<(&Client, Vec<u8>)> = (0..150).map(|n| (&c[n % 2], data(1000 + n, n as u8))).collect();
        let body: Vec<u8> = parts.iter().flat_map(|(_, p)| p.clone()).collect();
        multipart(&c[0], B, "many", &parts).await;
        assert!(store.blobs_on(0) >= 75 && store.blobs_on(1) >= 75, "{sse}");
        for client in &c {
            assert_eq!(get(client, B, "many").await, body, "{sse}");
            assert_eq!(
                get_range(client, B, "many", "bytes=60000-140000").await,
                &body[60000..=140000],
                "{sse}"
            );
        }
    }
}
