//! Objects of many parts: their segments and parts live beside the head (`ops::manifest`), and
//! every read, copy, rename and delete sees the same object as when they were inline; heads
//! written before manifests (parts inline) keep working as they are.

mod common;

use aws_sdk_s3::Client;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart, ObjectAttributes};
use common::*;
use gateway::meta::fjall::EmbeddedStore;
use gateway::meta::{MetaStore, keys};
use gateway::model::{self, BucketRecord, ObjectHead};
use serde_json::Value;

const B: &str = "huge";
/// Bytes per part: small, so an object of hundreds of parts is quick to build.
const PART: usize = 1000;
/// More parts than a head keeps inline (32), in several manifest chunks (32 parts each).
const PARTS: usize = 300;

fn part_bytes(n: usize) -> Vec<u8> {
    (0..PART)
        .map(|i| (i as u8).wrapping_mul(7).wrapping_add(n as u8))
        .collect()
}

fn whole(parts: usize) -> Vec<u8> {
    (1..=parts).flat_map(part_bytes).collect()
}

/// A gateway that accepts parts of any size, a bucket in it, and the TiKV store it keeps its
/// metadata in when the suite runs on TiKV (the embedded store in its data dir otherwise).
async fn gateway() -> (Gateway, Client, Option<String>) {
    let tikv = tikv_store_url();
    let mut args = vec!["--min-part-size".to_owned(), "1".to_owned()];
    args.extend(tikv.iter().flat_map(|url| ["--meta".to_owned(), url.clone()]));
    let gw = start_with_args(&args.iter().map(String::as_str).collect::<Vec<_>>());
    let client = gw.client();
    create_bucket(&client, B).await;
    (gw, client, tikv)
}

async fn upload(c: &Client, key: &str, parts: usize) -> String {
    let id = c
        .create_multipart_upload()
        .bucket(B)
        .key(key)
        .send()
        .await
        .unwrap()
        .upload_id
        .unwrap();
    let mut done = Vec::new();
    for n in 1..=parts {
        let out = c
            .upload_part()
            .bucket(B)
            .key(key)
            .upload_id(&id)
            .part_number(n as i32)
            .body(ByteStream::from(part_bytes(n)))
            .send()
            .await
            .unwrap_or_else(|e| panic!("part {n}: {e:?}"));
        done.push(
            CompletedPart::builder()
                .part_number(n as i32)
                .set_e_tag(out.e_tag)
                .build(),
        );
    }
    c.complete_multipart_upload()
        .bucket(B)
        .key(key)
        .upload_id(&id)
        .multipart_upload(CompletedMultipartUpload::builder().set_parts(Some(done)).build())
        .send()
        .await
        .unwrap()
        .e_tag
        .unwrap()
}

async fn range(c: &Client, key: &str, first: usize, last: usize) -> Vec<u8> {
    let out = c
        .get_object()
        .bucket(B)
        .key(key)
        .range(format!("bytes={first}-{last}"))
        .send()
        .await
        .unwrap();
    out.body.collect().await.unwrap().into_bytes().to_vec()
}

/// Every way of reading `key` returns the object of `parts` parts.
async fn assert_reads_as_many_parts(c: &Client, key: &str, parts: usize) {
    let expected = whole(parts);
    assert_eq!(get(c, B, key).await, expected, "whole GET");
    let size = expected.len();
    // Near the end, and across the boundary of manifest chunks (32 parts each).
    assert_eq!(range(c, key, size - 10, size - 1).await, expected[size - 10..]);
    let boundary = 64 * PART;
    // Across many chunks: more than one scan's worth.
    let (from, to) = (5 * PART + 3, size.min(250 * PART) - 7);
    assert_eq!(range(c, key, from, to).await, expected[from..=to]);
    if size > boundary + 5 {
        assert_eq!(
            range(c, key, boundary - 5, boundary + 4).await,
            expected[boundary - 5..boundary + 5]
        );
    }
    let head = c.head_object().bucket(B).key(key).send().await.unwrap();
    assert_eq!(head.content_length, Some(size as i64));
    assert!(head.e_tag.unwrap().ends_with(&format!("-{parts}\"")));
    let part = c
        .get_object()
        .bucket(B)
        .key(key)
        .part_number(200.min(parts as i32))
        .send()
        .await
        .unwrap();
    assert_eq!(part.parts_count, Some(parts as i32));
    let n = 200.min(parts);
    assert_eq!(
        part.body.collect().await.unwrap().into_bytes().to_vec(),
        part_bytes(n)
    );
    let attrs = c
        .get_object_attributes()
        .bucket(B)
        .key(key)
        .object_attributes(ObjectAttributes::ObjectParts)
        .send()
        .await
        .unwrap();
    assert_eq!(attrs.object_parts.unwrap().total_parts_count, Some(parts as i32));
    let listed = c.list_objects_v2().bucket(B).prefix(key).send().await.unwrap();
    let entry = listed
        .contents()
        .iter()
        .find(|o| o.key() == Some(key))
        .expect("listed");
    assert_eq!(entry.size, Some(size as i64));
}

/// The raw records of the store of a stopped gateway: on TiKV when `tikv` names its store.
async fn store_of(gw: &Gateway, tikv: Option<&str>) -> Box<dyn MetaStore> {
    match tikv {
        Some(url) => Box::new(
            gateway::meta::tikv::open(url, None)
                .await
                .expect("open the gateway's TiKV store"),
        ),
        None => Box::new(
            EmbeddedStore::open(&gw.data_dir().join("meta")).expect("open the stopped gateway's store"),
        ),
    }
}

async fn bucket_space(store: &dyn MetaStore) -> keys::Space {
    let mut txn = store.begin().await.unwrap();
    let raw = txn.get(&keys::bucket(B)).await.unwrap().expect("bucket record");
    txn.rollback().await.unwrap();
    model::decode::<BucketRecord>(&keys::bucket(B), &raw)
        .unwrap()
        .space()
}

/// Every manifest chunk in the store.
async fn manifest_chunks(store: &dyn MetaStore) -> usize {
    let mut txn = store.begin().await.unwrap();
    let (start, end) = keys::all_manifests();
    let found = txn.scan(&start, &end, usize::MAX).await.unwrap();
    txn.rollback().await.unwrap();
    found.len()
}

#[tokio::test]
async fn an_object_of_many_parts_is_stored_with_a_small_head_and_reads_every_way() {
    let (mut gw, c, tikv) = gateway().await;
    upload(&c, "big", PARTS).await;
    assert_reads_as_many_parts(&c, "big", PARTS).await;

    gw.terminate();
    let store = store_of(&gw, tikv.as_deref()).await;
    let space = bucket_space(&*store).await;
    let mut txn = store.begin().await.unwrap();
    let raw = txn.get(&keys::object(&space, "big")).await.unwrap().unwrap();
    txn.rollback().await.unwrap();
    let head: ObjectHead = model::decode(b"head", &raw).unwrap();
    assert!(
        head.segments.is_empty() && head.parts.is_empty(),
        "the head keeps no part inline"
    );
    assert_eq!(head.manifest.as_ref().map(|m| m.parts), Some(PARTS as u32));
    assert!(raw.len() < 4096, "the head is small: {} bytes", raw.len());
    assert_eq!(manifest_chunks(&*store).await, PARTS.div_ceil(32));
}

#[tokio::test]
async fn copies_renames_and_deletes_of_many_part_objects_keep_their_bytes_and_free_everything() {
    let (mut gw, c, tikv) = gateway().await;
    upload(&c, "src", PARTS).await;
    c.copy_object()
        .bucket(B)
        .key("copy")
        .copy_source(format!("{B}/src"))
        .send()
        .await
        .unwrap();
    let renamed = gw
        .raw()
        .request(http::Method::PUT, &format!("/{B}/renamed?renameObject"))
        .header("x-amz-rename-source", format!("/{B}/src"))
        .send()
        .await;
    assert!(renamed.is_success(), "rename: {}", renamed.text());
    assert_reads_as_many_parts(&c, "copy", PARTS).await;
    assert_reads_as_many_parts(&c, "renamed", PARTS).await;
    // A tag write rewrites the head and keeps the manifest.
    c.put_object_tagging()
        .bucket(B)
        .key("copy")
        .tagging(
            aws_sdk_s3::types::Tagging::builder()
                .tag_set(
                    aws_sdk_s3::types::Tag::builder()
                        .key("k")
                        .value("v")
                        .build()
                        .unwrap(),
                )
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    assert_reads_as_many_parts(&c, "copy", PARTS).await;
    for key in ["copy", "renamed"] {
        c.delete_object().bucket(B).key(key).send().await.unwrap();
    }
    assert_eq!(blob_files(&gw), 0, "every part's blob is freed");
    gw.terminate();
    assert_eq!(
        manifest_chunks(&*store_of(&gw, tikv.as_deref()).await).await,
        0,
        "no manifest outlives its object"
    );
}

/// Rewrites the records of `key` as a gateway from before manifests wrote them: the segments
/// and parts inline in the head (JSON), no manifest, no chunks.
async fn rewrite_in_the_old_format(store: &dyn MetaStore, key: &str) {
    let space = bucket_space(store).await;
    let mut txn = store.begin().await.unwrap();
    let head_key = keys::object(&space, key);
    let raw = txn.get(&head_key).await.unwrap().unwrap();
    let mut head: Value = serde_json::from_slice(gateway::head_prefix::strip(&raw)).unwrap();
    let manifest = head
        .as_object_mut()
        .unwrap()
        .remove("manifest")
        .expect("a manifest");
    let prefix = keys::manifest_prefix(manifest["id"].as_str().unwrap());
    let found = txn
        .scan(&prefix, &keys::prefix_end(&prefix), usize::MAX)
        .await
        .unwrap();
    let (mut segments, mut parts) = (Vec::new(), Vec::new());
    for (k, v) in found {
        let chunk: Value = serde_json::from_slice(&v).unwrap();
        segments.extend(chunk["segments"].as_array().unwrap().iter().cloned());
        parts.extend(chunk["parts"].as_array().unwrap().iter().cloned());
        txn.delete(&k).await.unwrap();
    }
    head["segments"] = Value::Array(segments);
    head["parts"] = Value::Array(parts);
    let old = serde_json::to_vec(&head).unwrap();
    let order = head["order"].as_str().unwrap().to_owned();
    txn.put(&head_key, &old).await.unwrap();
    txn.put(&keys::version(&space, key, order.as_bytes()), &old)
        .await
        .unwrap();
    txn.commit().await.unwrap();
}

#[tokio::test]
async fn heads_written_before_manifests_with_their_parts_inline_still_read_and_delete() {
    let (mut gw, c, tikv) = gateway().await;
    upload(&c, "old", PARTS).await;
    upload(&c, "old-copy-source", 40).await;
    gw.terminate();
    {
        let store = store_of(&gw, tikv.as_deref()).await;
        rewrite_in_the_old_format(&*store, "old").await;
        rewrite_in_the_old_format(&*store, "old-copy-source").await;
        assert_eq!(manifest_chunks(&*store).await, 0);
    }
    gw.restart();

    assert_reads_as_many_parts(&c, "old", PARTS).await;
    c.copy_object()
        .bucket(B)
        .key("new-copy")
        .copy_source(format!("{B}/old-copy-source"))
        .send()
        .await
        .unwrap();
    assert_reads_as_many_parts(&c, "new-copy", 40).await;
    assert_reads_as_many_parts(&c, "old-copy-source", 40).await;
    // Overwriting and deleting old records release every blob they referenced.
    put(&c, B, "old", b"small now".to_vec()).await;
    assert_eq!(get(&c, B, "old").await, b"small now");
    for key in ["old", "old-copy-source", "new-copy"] {
        c.delete_object().bucket(B).key(key).send().await.unwrap();
    }
    assert_eq!(blob_files(&gw), 0);
}

#[tokio::test]
async fn completing_passes_the_chosen_parts_to_the_object_and_frees_the_others() {
    let (gw, c, _) = gateway().await;
    let id = c
        .create_multipart_upload()
        .bucket(B)
        .key("k")
        .send()
        .await
        .unwrap()
        .upload_id
        .unwrap();
    let mut chosen = Vec::new();
    for n in 1..=3 {
        let out = c
            .upload_part()
            .bucket(B)
            .key("k")
            .upload_id(&id)
            .part_number(n)
            .body(ByteStream::from(part_bytes(n as usize)))
            .send()
            .await
            .unwrap();
        if n != 2 {
            chosen.push(
                CompletedPart::builder()
                    .part_number(n)
                    .set_e_tag(out.e_tag)
                    .build(),
            );
        }
    }
    c.complete_multipart_upload()
        .bucket(B)
        .key("k")
        .upload_id(&id)
        .multipart_upload(
            CompletedMultipartUpload::builder()
                .set_parts(Some(chosen))
                .build(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(blob_files(&gw), 2, "the part left out is freed");
    let expected: Vec<u8> = [1, 3].into_iter().flat_map(part_bytes).collect();
    assert_eq!(get(&c, B, "k").await, expected);
    c.copy_object()
        .bucket(B)
        .key("k2")
        .copy_source(format!("{B}/k"))
        .send()
        .await
        .unwrap();
    c.delete_object().bucket(B).key("k").send().await.unwrap();
    assert_eq!(get(&c, B, "k2").await, expected, "the copy still holds the blobs");
    c.delete_object().bucket(B).key("k2").send().await.unwrap();
    assert_eq!(blob_files(&gw), 0, "the last reference frees them");
}

/// Parts that each fit one read are read several at a time, in batches bounded in bytes as
/// well as in count: an object of 700 KB parts reads whole and in ranges across batches, sealed
/// (the default) and in the clear.
#[tokio::test]
async fn objects_of_parts_of_up_to_a_read_each_read_whole_across_batches() {
    const SIZE: usize = 700_000;
    for sse in ["--sse-s3-default=true", "--sse-s3-default=false"] {
        let gw = start_with_args(&["--min-part-size", "1", sse]);
        let c = gw.client();
        create_bucket(&c, B).await;
        let parts: Vec<(&Client, Vec<u8>)> = (0..12u8)
            .map(|n| (&c, (0..SIZE).map(|i| (i as u8).wrapping_mul(13) ^ n).collect()))
            .collect();
        let body: Vec<u8> = parts.iter().flat_map(|(_, p)| p.clone()).collect();
        multipart(&c, B, "mid", &parts).await;
        assert!(get(&c, B, "mid").await == body, "{sse}: the whole object");
        for (from, to) in [
            (0, 2 * SIZE),
            (SIZE - 5, 5 * SIZE + 5),
            (3 * SIZE + 1, 12 * SIZE - 1),
        ] {
            let got = get_range(&c, B, "mid", &format!("bytes={from}-{to}")).await;
            assert!(got == body[from..=to], "{sse}: bytes {from}-{to}");
        }
    }
}
