//! Multipart uploads through `aws-sdk-s3`: completion rules, checksums of both types,
//! UploadPartCopy, listings, aborts, and conditional completion.

mod common;

use aws_sdk_s3::Client;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{
    ChecksumAlgorithm, ChecksumMode, ChecksumType, CompletedMultipartUpload, CompletedPart,
};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use common::local_store::eventually;
use common::*;
use md5::{Digest as _, Md5};
use sha2::Sha256;

const B: &str = "multi";
const MIB: usize = 1024 * 1024;

/// Deterministic, part-distinguishing bytes.
fn data(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

async fn start_upload(c: &Client, key: &str) -> String {
    c.create_multipart_upload()
        .bucket(B)
        .key(key)
        .send()
        .await
        .unwrap()
        .upload_id
        .unwrap()
}

async fn upload_part(c: &Client, key: &str, id: &str, n: i32, body: Vec<u8>) -> CompletedPart {
    let out = c
        .upload_part()
        .bucket(B)
        .key(key)
        .upload_id(id)
        .part_number(n)
        .body(ByteStream::from(body))
        .send()
        .await;
    let out = out.unwrap_or_else(|e| panic!("part {n}: {e:?}"));
    CompletedPart::builder()
        .part_number(n)
        .set_e_tag(out.e_tag)
        .build()
}

fn completed(parts: Vec<CompletedPart>) -> CompletedMultipartUpload {
    CompletedMultipartUpload::builder().set_parts(Some(parts)).build()
}

async fn complete(
    c: &Client,
    key: &str,
    id: &str,
    parts: Vec<CompletedPart>,
) -> Result<String, (String, u16)> {
    c.complete_multipart_upload()
        .bucket(B)
        .key(key)
        .upload_id(id)
        .multipart_upload(completed(parts))
        .send()
        .await
        .map(|o| o.e_tag.unwrap())
        .map_err(s3_error)
}

fn multipart_etag(parts: &[&[u8]]) -> String {
    let mut all = Md5::new();
    for p in parts {
        all.update(Md5::digest(p));
    }
    format!("\"{}-{}\"", hex::encode(all.finalize()), parts.len())
}

#[tokio::test]
async fn completion_joins_the_parts_and_computes_the_s3_etag() {
    let (_gw, c) = with_bucket(B).await;
    let (p1, p2, p3) = (data(5 * MIB, 1), data(5 * MIB, 2), data(1000, 3));
    let id = start_upload(&c, "obj").await;
    let parts = vec![
        upload_part(&c, "obj", &id, 1, p1.clone()).await,
        upload_part(&c, "obj", &id, 2, p2.clone()).await,
        upload_part(&c, "obj", &id, 3, p3.clone()).await,
    ];
    let etag = complete(&c, "obj", &id, parts).await.unwrap();
    assert_eq!(etag, multipart_etag(&[&p1, &p2, &p3]));
    assert_eq!(get(&c, B, "obj").await, [p1, p2, p3].concat());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_100_mib_upload_of_concurrent_parts_with_default_checksums_round_trips() {
    let (_gw, c) = with_bucket(B).await;
    let id = start_upload(&c, "big").await;
    let part_size = 16 * MIB;
    let total = 100 * MIB;
    let mut tasks = Vec::new();
    for (i, start) in (0..total).step_by(part_size).enumerate() {
        let (c, id) = (c.clone(), id.clone());
        let len = part_size.min(total - start);
        tasks.push(tokio::spawn(async move {
            upload_part(&c, "big", &id, i as i32 + 1, data(len, i as u8)).await
        }));
    }
    let mut parts = Vec::new();
    for t in tasks {
        parts.push(t.await.unwrap());
    }
    complete(&c, "big", &id, parts).await.unwrap();
    let expected: Vec<u8> = (0..total)
        .step_by(part_size)
        .enumerate()
        .flat_map(|(i, s)| data(part_size.min(total - s), i as u8))
        .collect();
    let got = get(&c, B, "big").await;
    assert_eq!(got.len(), expected.len());
    assert!(got == expected, "100 MiB object differs");
    // A range that crosses the boundary between parts 1 and 2.
    let r = c
        .get_object()
        .bucket(B)
        .key("big")
        .range(format!("bytes={}-{}", part_size - 10, part_size + 9))
        .send()
        .await;
    let r = r.unwrap().body.collect().await.unwrap().into_bytes();
    assert_eq!(&r[..], &expected[part_size - 10..part_size + 10]);
}

#[tokio::test]
async fn reading_one_part_returns_its_range_and_the_part_count() {
    let (_gw, c) = with_bucket(B).await;
    let (p1, p2) = (data(5 * MIB, 1), data(777, 2));
    let id = start_upload(&c, "k").await;
    let parts = vec![
        upload_part(&c, "k", &id, 1, p1.clone()).await,
        upload_part(&c, "k", &id, 2, p2.clone()).await,
    ];
    complete(&c, "k", &id, parts).await.unwrap();
    let part2 = c
        .get_object()
        .bucket(B)
        .key("k")
        .part_number(2)
        .send()
        .await
        .unwrap();
    assert_eq!(part2.parts_count, Some(2));
    assert_eq!(
        part2.content_range.as_deref(),
        Some(format!("bytes {}-{}/{}", 5 * MIB, 5 * MIB + 776, 5 * MIB + 777).as_str())
    );
    assert_eq!(part2.body.collect().await.unwrap().into_bytes().to_vec(), p2);
    assert_s3_error(
        c.get_object().bucket(B).key("k").part_number(3).send().await,
        "InvalidPartNumber",
        416,
    );
    let head = c.head_object().bucket(B).key("k").part_number(3).send().await;
    assert_eq!(
        s3_error(head.unwrap_err()).1,
        416,
        "HEAD has no body to name the code"
    );
}

#[tokio::test]
async fn reuploading_a_part_number_replaces_it_and_frees_the_old_bytes() {
    let (gw, c) = with_bucket(B).await;
    let id = start_upload(&c, "k").await;
    upload_part(&c, "k", &id, 1, data(1000, 1)).await;
    let blobs = blob_files(&gw);
    let again = upload_part(&c, "k", &id, 1, data(1000, 9)).await;
    assert_eq!(blob_files(&gw), blobs);
    complete(&c, "k", &id, vec![again]).await.unwrap();
    assert_eq!(get(&c, B, "k").await, data(1000, 9));
}

#[tokio::test]
async fn invalid_completions_are_refused_and_leave_the_upload_usable() {
    let (_gw, c) = with_bucket(B).await;
    let id = start_upload(&c, "k").await;
    let small = upload_part(&c, "k", &id, 1, data(1000, 1)).await;
    let last = upload_part(&c, "k", &id, 2, data(1000, 2)).await;
    let wrong_etag = CompletedPart::builder()
        .part_number(2)
        .e_tag("\"0123456789abcdef0123456789abcdef\"")
        .build();
    let unknown = CompletedPart::builder()
        .part_number(7)
        .set_e_tag(last.e_tag.clone())
        .build();

    let cases: Vec<(Vec<CompletedPart>, &str, u16)> = vec![
        (vec![last.clone(), small.clone()], "InvalidPartOrder", 400),
        (vec![small.clone(), wrong_etag], "InvalidPart", 400),
        (vec![small.clone(), unknown], "InvalidPart", 400),
        (vec![small.clone(), last.clone()], "EntityTooSmall", 400),
    ];
    for (parts, code, status) in cases {
        assert_eq!(
            complete(&c, "k", &id, parts).await,
            Err((code.to_owned(), status))
        );
        assert!(snapshot(&c, B).await.is_empty());
    }
    // The upload survived every refusal: a valid completion (the small part last) works.
    complete(&c, "k", &id, vec![last]).await.unwrap();
    assert_eq!(get(&c, B, "k").await, data(1000, 2));
}

#[tokio::test]
async fn parts_left_out_of_the_completion_are_discarded() {
    let (gw, c) = with_bucket(B).await;
    let id = start_upload(&c, "k").await;
    let kept = upload_part(&c, "k", &id, 1, data(1000, 1)).await;
    upload_part(&c, "k", &id, 2, data(1000, 2)).await;
    complete(&c, "k", &id, vec![kept]).await.unwrap();
    assert_eq!(blob_files(&gw), 1);
    assert_eq!(get(&c, B, "k").await, data(1000, 1));
}

#[tokio::test]
async fn abort_removes_the_upload_and_its_parts() {
    let (gw, c) = with_bucket(B).await;
    let id = start_upload(&c, "k").await;
    upload_part(&c, "k", &id, 1, data(1000, 1)).await;
    c.abort_multipart_upload()
        .bucket(B)
        .key("k")
        .upload_id(&id)
        .send()
        .await
        .unwrap();
    assert_eq!(blob_files(&gw), 0);
    assert_s3_error(
        c.list_parts().bucket(B).key("k").upload_id(&id).send().await,
        "NoSuchUpload",
        404,
    );
    let part = c
        .upload_part()
        .bucket(B)
        .key("k")
        .upload_id(&id)
        .part_number(2)
        .body(ByteStream::from_static(b"x"));
    assert_s3_error(part.send().await, "NoSuchUpload", 404);
    assert_eq!(blob_files(&gw), 0);
    assert_s3_error(
        c.abort_multipart_upload()
            .bucket(B)
            .key("k")
            .upload_id(&id)
            .send()
            .await,
        "NoSuchUpload",
        404,
    );
}

/// As on AWS, uploads in progress do not keep a bucket: DeleteBucket takes them with it, they
/// are gone from the bucket of that name created again, and the sweep frees their parts.
#[tokio::test]
async fn delete_bucket_takes_the_uploads_in_progress_and_frees_their_parts() {
    let (gw, c) = with_bucket_args(B, &["--sweep-interval", "1"]).await;
    let id = start_upload(&c, "k").await;
    upload_part(&c, "k", &id, 1, data(MIB, 1)).await;
    let other = start_upload(&c, "other").await;
    assert_eq!(blob_files(&gw), 1);

    c.delete_bucket()
        .bucket(B)
        .send()
        .await
        .expect("DeleteBucket over uploads in progress");

    let part = c
        .upload_part()
        .bucket(B)
        .key("k")
        .upload_id(&id)
        .part_number(2)
        .body(ByteStream::from(data(MIB, 2)));
    assert_s3_error(part.send().await, "NoSuchBucket", 404);
    create_bucket(&c, B).await;
    let uploads = c
        .list_multipart_uploads()
        .bucket(B)
        .send()
        .await
        .expect("uploads");
    assert!(uploads.uploads().is_empty(), "{:?}", uploads.uploads());
    for (key, id) in [("k", &id), ("other", &other)] {
        let complete = c
            .complete_multipart_upload()
            .bucket(B)
            .key(key)
            .upload_id(id)
            .multipart_upload(CompletedMultipartUpload::builder().build());
        assert_s3_error(complete.send().await, "NoSuchUpload", 404);
    }
    // TiKV sweeps a deleted bucket's space only once no write begun before the delete can
    // still commit: longer than this test waits.
    if tikv_store_url().is_none() {
        eventually("the deleted upload's part freed", || blob_files(&gw) == 0).await;
    }
}

#[tokio::test]
async fn list_parts_pages_through_the_parts() {
    let (_gw, c) = with_bucket(B).await;
    let id = start_upload(&c, "k").await;
    for n in 1..=5 {
        upload_part(&c, "k", &id, n, data(100, n as u8)).await;
    }
    let mut seen = Vec::new();
    let mut marker = None;
    loop {
        let page = c
            .list_parts()
            .bucket(B)
            .key("k")
            .upload_id(&id)
            .max_parts(2)
            .set_part_number_marker(marker)
            .send()
            .await
            .unwrap();
        seen.extend(
            page.parts()
                .iter()
                .map(|p| (p.part_number.unwrap(), p.size.unwrap())),
        );
        if page.is_truncated != Some(true) {
            break;
        }
        marker = page.next_part_number_marker;
    }
    assert_eq!(seen, (1..=5).map(|n| (n, 100)).collect::<Vec<_>>());
}

#[tokio::test]
async fn list_multipart_uploads_filters_folds_and_pages() {
    let (_gw, c) = with_bucket(B).await;
    let mut ids = Vec::new();
    for key in ["a/1", "a/2", "b", "b", "c/x/y"] {
        ids.push((key, start_upload(&c, key).await));
    }
    let all = c.list_multipart_uploads().bucket(B).send().await.unwrap();
    let keys: Vec<&str> = all.uploads().iter().map(|u| u.key().unwrap()).collect();
    assert_eq!(keys, vec!["a/1", "a/2", "b", "b", "c/x/y"]);
    let folded = c
        .list_multipart_uploads()
        .bucket(B)
        .delimiter("/")
        .send()
        .await
        .unwrap();
    let prefixes: Vec<&str> = folded
        .common_prefixes()
        .iter()
        .map(|p| p.prefix().unwrap())
        .collect();
    assert_eq!(prefixes, vec!["a/", "c/"]);
    assert_eq!(
        folded
            .uploads()
            .iter()
            .map(|u| u.key().unwrap())
            .collect::<Vec<_>>(),
        vec!["b", "b"]
    );
    let scoped = c
        .list_multipart_uploads()
        .bucket(B)
        .prefix("a/")
        .send()
        .await
        .unwrap();
    assert_eq!(scoped.uploads().len(), 2);
    // Paging two at a time with key and upload-id markers visits every upload once.
    let mut visited = Vec::new();
    let (mut km, mut um) = (None, None);
    loop {
        let page = c
            .list_multipart_uploads()
            .bucket(B)
            .max_uploads(2)
            .set_key_marker(km)
            .set_upload_id_marker(um)
            .send()
            .await
            .unwrap();
        visited.extend(page.uploads().iter().map(|u| u.upload_id().unwrap().to_owned()));
        if page.is_truncated != Some(true) {
            break;
        }
        (km, um) = (page.next_key_marker, page.next_upload_id_marker);
    }
    assert_eq!(visited, ids.iter().map(|(_, id)| id.clone()).collect::<Vec<_>>());
    // With a delimiter, one entry a page: a page that ends on a common prefix resumes past it.
    let mut shown = Vec::new();
    let (mut km, mut um) = (None, None);
    loop {
        let page = c
            .list_multipart_uploads()
            .bucket(B)
            .delimiter("/")
            .max_uploads(1)
            .set_key_marker(km)
            .set_upload_id_marker(um)
            .send()
            .await
            .unwrap();
        let entries: Vec<String> = page
            .uploads()
            .iter()
            .map(|u| u.upload_id().unwrap().to_owned())
            .chain(
                page.common_prefixes()
                    .iter()
                    .map(|p| p.prefix().unwrap().to_owned()),
            )
            .collect();
        assert_eq!(entries.len(), 1, "one entry a page: {entries:?}");
        shown.extend(entries);
        assert!(shown.len() <= 4, "paging does not end: {shown:?}");
        if page.is_truncated != Some(true) {
            break;
        }
        (km, um) = (page.next_key_marker, page.next_upload_id_marker);
    }
    assert_eq!(
        shown,
        [
            "a/".to_owned(),
            ids[2].1.clone(),
            ids[3].1.clone(),
            "c/".to_owned()
        ]
    );
}

#[tokio::test]
async fn completion_honours_if_none_match_and_if_match() {
    let (_gw, c) = with_bucket(B).await;
    let existing = put(&c, B, "k", b"old".to_vec()).await;
    let id = start_upload(&c, "k").await;
    let part = upload_part(&c, "k", &id, 1, data(100, 1)).await;
    let attempt = |cond: &str, value: &str| {
        let b = c
            .complete_multipart_upload()
            .bucket(B)
            .key("k")
            .upload_id(&id)
            .multipart_upload(completed(vec![part.clone()]));
        if cond == "if-none-match" {
            b.if_none_match(value)
        } else {
            b.if_match(value)
        }
    };
    assert_s3_error(
        attempt("if-none-match", "*").send().await,
        "PreconditionFailed",
        412,
    );
    assert_s3_error(
        attempt("if-match", "\"stale\"").send().await,
        "PreconditionFailed",
        412,
    );
    assert_eq!(get(&c, B, "k").await, b"old");
    attempt("if-match", &existing).send().await.unwrap();
    assert_eq!(get(&c, B, "k").await, data(100, 1));
}

#[tokio::test]
async fn a_full_object_crc_is_combined_from_the_parts_and_equals_the_crc_of_the_whole() {
    let (_gw, c) = with_bucket(B).await;
    for (algorithm, crc) in [
        (ChecksumAlgorithm::Crc32, crc_fast::CrcAlgorithm::Crc32IsoHdlc),
        (ChecksumAlgorithm::Crc32C, crc_fast::CrcAlgorithm::Crc32Iscsi),
        (ChecksumAlgorithm::Crc64Nvme, crc_fast::CrcAlgorithm::Crc64Nvme),
    ] {
        let key = format!("full-{}", algorithm.as_str());
        let id = c
            .create_multipart_upload()
            .bucket(B)
            .key(&key)
            .checksum_algorithm(algorithm.clone())
            .checksum_type(ChecksumType::FullObject)
            .send()
            .await
            .unwrap()
            .upload_id
            .unwrap();
        let (p1, p2) = (data(5 * MIB, 4), data(12345, 5));
        let mut parts = Vec::new();
        for (n, body) in [(1, p1.clone()), (2, p2.clone())] {
            let out = c
                .upload_part()
                .bucket(B)
                .key(&key)
                .upload_id(&id)
                .part_number(n)
                .checksum_algorithm(algorithm.clone())
                .body(ByteStream::from(body))
                .send()
                .await
                .unwrap();
            parts.push(
                CompletedPart::builder()
                    .part_number(n)
                    .set_e_tag(out.e_tag)
                    .set_checksum_crc32(out.checksum_crc32)
                    .set_checksum_crc32_c(out.checksum_crc32_c)
                    .set_checksum_crc64_nvme(out.checksum_crc64_nvme)
                    .build(),
            );
        }
        let done = c
            .complete_multipart_upload()
            .bucket(B)
            .key(&key)
            .upload_id(&id)
            .multipart_upload(completed(parts))
            .send()
            .await
            .unwrap();
        let whole = crc_fast::checksum(crc, &[p1.as_slice(), p2.as_slice()].concat());
        let expected = match algorithm {
            ChecksumAlgorithm::Crc64Nvme => B64.encode(whole.to_be_bytes()),
            _ => B64.encode((whole as u32).to_be_bytes()),
        };
        let got = done
            .checksum_crc32
            .or(done.checksum_crc32_c)
            .or(done.checksum_crc64_nvme);
        assert_eq!(got, Some(expected), "{algorithm:?}");
        assert_eq!(done.checksum_type, Some(ChecksumType::FullObject));
        // And GET with checksum mode returns (and the SDK validates) the same full-object value.
        let head = c
            .head_object()
            .bucket(B)
            .key(&key)
            .checksum_mode(ChecksumMode::Enabled)
            .send()
            .await
            .unwrap();
        assert_eq!(head.checksum_type, Some(ChecksumType::FullObject));
        // A part read by its number gets its own checksum, under the object's type.
        for (n, body) in [(1, &p1), (2, &p2)] {
            let part = c
                .get_object()
                .bucket(B)
                .key(&key)
                .part_number(n)
                .checksum_mode(ChecksumMode::Enabled)
                .send()
                .await
                .unwrap();
            let got = part
                .checksum_crc32
                .clone()
                .or(part.checksum_crc32_c.clone())
                .or(part.checksum_crc64_nvme.clone());
            let crc = crc_fast::checksum(crc, body);
            let expected = match algorithm {
                ChecksumAlgorithm::Crc64Nvme => B64.encode(crc.to_be_bytes()),
                _ => B64.encode((crc as u32).to_be_bytes()),
            };
            assert_eq!(got, Some(expected), "{algorithm:?} part {n}");
            assert_eq!(part.checksum_type, Some(ChecksumType::FullObject));
            assert_eq!(
                part.body.collect().await.unwrap().into_bytes().as_ref(),
                body.as_slice()
            );
        }
    }
}

#[tokio::test]
async fn a_composite_sha256_is_the_checksum_of_the_part_checksums() {
    let (_gw, c) = with_bucket(B).await;
    let id = c
        .create_multipart_upload()
        .bucket(B)
        .key("k")
        .checksum_algorithm(ChecksumAlgorithm::Sha256)
        .send()
        .await
        .unwrap()
        .upload_id
        .unwrap();
    let (p1, p2) = (data(5 * MIB, 6), data(10, 7));
    let mut parts = Vec::new();
    for (n, body) in [(1, p1.clone()), (2, p2.clone())] {
        let out = c
            .upload_part()
            .bucket(B)
            .key("k")
            .upload_id(&id)
            .part_number(n)
            .checksum_algorithm(ChecksumAlgorithm::Sha256)
            .body(ByteStream::from(body))
            .send()
            .await
            .unwrap();
        parts.push(
            CompletedPart::builder()
                .part_number(n)
                .set_e_tag(out.e_tag)
                .set_checksum_sha256(out.checksum_sha256)
                .build(),
        );
    }
    let done = c
        .complete_multipart_upload()
        .bucket(B)
        .key("k")
        .upload_id(&id)
        .multipart_upload(completed(parts))
        .send()
        .await
        .unwrap();
    let mut outer = Sha256::new();
    outer.update(Sha256::digest(&p1));
    outer.update(Sha256::digest(&p2));
    assert_eq!(
        done.checksum_sha256,
        Some(format!("{}-2", B64.encode(outer.finalize())))
    );
    assert_eq!(done.checksum_type, Some(ChecksumType::Composite));
    // A part read by its number gets its own SHA-256, under the object's type; a range of the
    // same bytes gets none (the stored values describe whole parts and the whole object).
    for (n, body) in [(1, &p1), (2, &p2)] {
        let head = c
            .head_object()
            .bucket(B)
            .key("k")
            .part_number(n)
            .checksum_mode(ChecksumMode::Enabled)
            .send()
            .await
            .unwrap();
        assert_eq!(
            head.checksum_sha256,
            Some(B64.encode(Sha256::digest(body))),
            "part {n}"
        );
        assert_eq!(head.checksum_type, Some(ChecksumType::Composite));
    }
    let ranged = c
        .get_object()
        .bucket(B)
        .key("k")
        .range(format!("bytes=0-{}", 5 * MIB - 1))
        .checksum_mode(ChecksumMode::Enabled)
        .send()
        .await
        .unwrap();
    assert_eq!((ranged.checksum_sha256, ranged.checksum_type), (None, None));
}

#[tokio::test]
async fn algorithm_and_type_must_be_compatible() {
    let (_gw, c) = with_bucket(B).await;
    let create = |a: ChecksumAlgorithm, t: ChecksumType| {
        c.create_multipart_upload()
            .bucket(B)
            .key("k")
            .checksum_algorithm(a)
            .checksum_type(t)
            .send()
    };
    assert_s3_error(
        create(ChecksumAlgorithm::Crc64Nvme, ChecksumType::Composite).await,
        "InvalidRequest",
        400,
    );
    assert_s3_error(
        create(ChecksumAlgorithm::Sha256, ChecksumType::FullObject).await,
        "InvalidRequest",
        400,
    );
    assert_s3_error(
        create(ChecksumAlgorithm::Sha1, ChecksumType::FullObject).await,
        "InvalidRequest",
        400,
    );
    assert!(
        c.list_multipart_uploads()
            .bucket(B)
            .send()
            .await
            .unwrap()
            .uploads()
            .is_empty()
    );
}

#[tokio::test]
async fn a_wrong_part_checksum_is_bad_digest_and_stores_nothing() {
    let (gw, c) = with_bucket(B).await;
    let id = start_upload(&c, "k").await;
    let wrong = c
        .upload_part()
        .bucket(B)
        .key("k")
        .upload_id(&id)
        .part_number(1)
        .checksum_crc32("AAAAAA==")
        .body(ByteStream::from_static(b"part bytes"))
        .send()
        .await;
    assert_s3_error(wrong, "BadDigest", 400);
    assert_eq!(blob_files(&gw), 0);
    assert!(
        c.list_parts()
            .bucket(B)
            .key("k")
            .upload_id(&id)
            .send()
            .await
            .unwrap()
            .parts()
            .is_empty()
    );
}

#[tokio::test]
async fn upload_part_copy_copies_a_range_of_another_object() {
    let (_gw, c) = with_bucket(B).await;
    let source = data(6 * MIB, 8);
    put(&c, B, "src", source.clone()).await;
    let id = start_upload(&c, "dst").await;
    let copied = c
        .upload_part_copy()
        .bucket(B)
        .key("dst")
        .upload_id(&id)
        .part_number(1)
        .copy_source(format!("{B}/src"))
        .copy_source_range(format!("bytes=0-{}", 5 * MIB - 1))
        .send()
        .await
        .unwrap();
    let etag = copied.copy_part_result.unwrap().e_tag;
    let whole = c
        .upload_part_copy()
        .bucket(B)
        .key("dst")
        .upload_id(&id)
        .part_number(2)
        .copy_source(format!("{B}/src"))
        .send()
        .await
        .unwrap();
    let parts = vec![
        CompletedPart::builder().part_number(1).set_e_tag(etag).build(),
        CompletedPart::builder()
            .part_number(2)
            .set_e_tag(whole.copy_part_result.unwrap().e_tag)
            .build(),
    ];
    complete(&c, "dst", &id, parts).await.unwrap();
    assert!(get(&c, B, "dst").await == [&source[..5 * MIB], &source[..]].concat());
    let beyond = c
        .upload_part_copy()
        .bucket(B)
        .key("dst2")
        .upload_id(&start_upload(&c, "dst2").await)
        .part_number(1)
        .copy_source(format!("{B}/src"))
        .copy_source_range(format!("bytes=0-{}", 6 * MIB))
        .send()
        .await;
    assert_s3_error(beyond, "InvalidRange", 416);
}

#[tokio::test]
async fn repeating_a_completion_that_succeeded_answers_the_same() {
    let (_gw, c) = with_bucket(B).await;
    let id = start_upload(&c, "k").await;
    let parts = vec![
        upload_part(&c, "k", &id, 1, data(5 * MIB, 1)).await,
        upload_part(&c, "k", &id, 2, data(100, 2)).await,
    ];
    let first = complete(&c, "k", &id, parts.clone())
        .await
        .expect("first completion");

    // An SDK retry after the first response was lost.
    let again = complete(&c, "k", &id, parts.clone()).await;
    let other_parts = complete(&c, "k", &id, parts[..1].to_vec()).await;

    assert_eq!(again, Ok(first));
    assert_eq!(other_parts, Err(("NoSuchUpload".to_owned(), 404)));
    assert_eq!(get(&c, B, "k").await.len(), 5 * MIB + 100);
}

#[tokio::test]
async fn completion_in_a_versioned_bucket_returns_the_version_id() {
    let (_gw, c) = with_bucket(B).await;
    enable_versioning(&c, B).await;
    let id = start_upload(&c, "k").await;
    let part = upload_part(&c, "k", &id, 1, data(100, 1)).await;

    let done = c
        .complete_multipart_upload()
        .bucket(B)
        .key("k")
        .upload_id(&id)
        .multipart_upload(completed(vec![part]))
        .send()
        .await
        .unwrap();

    let head = c.head_object().bucket(B).key("k").send().await.unwrap();
    assert!(done.version_id.is_some());
    assert_eq!(done.version_id, head.version_id);
}

/// Sends `req` on a connection of its own, holding back the last byte of its body until
/// `release` fires; returns the status and ETag of the answer.
async fn send_holding_the_last_byte(
    req: http::Request<bytes::Bytes>,
    release: tokio::sync::oneshot::Receiver<()>,
) -> (u16, Option<String>) {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let host = req.headers()["host"].to_str().unwrap().to_owned();
    let mut conn = tokio::net::TcpStream::connect(&host).await.unwrap();
    let mut head = format!("{} {} HTTP/1.1\r\n", req.method(), req.uri());
    for (name, value) in req.headers() {
        head.push_str(&format!("{name}: {}\r\n", value.to_str().unwrap()));
    }
    head.push_str("connection: close\r\n\r\n");
    let body = req.body();
    conn.write_all(head.as_bytes()).await.unwrap();
    conn.write_all(&body[..body.len() - 1]).await.unwrap();
    conn.flush().await.unwrap();
    release.await.unwrap();
    conn.write_all(&body[body.len() - 1..]).await.unwrap();
    let mut answer = Vec::new();
    conn.read_to_end(&mut answer).await.unwrap();
    let answer = String::from_utf8_lossy(&answer).into_owned();
    let status = answer[9..12].parse().unwrap();
    let etag = answer
        .lines()
        .find_map(|l| l.strip_prefix("etag: ").or_else(|| l.strip_prefix("ETag: ")))
        .map(|v| v.trim().to_owned());
    (status, etag)
}

#[tokio::test]
async fn a_part_uploaded_twice_keeps_the_upload_that_finished_last() {
    let (gw, c) = with_bucket(B).await;
    let id = start_upload(&c, "k").await;
    let (first_body, second_body) = (data(1000, 1), data(1000, 2));
    let first = gw
        .raw()
        .request(http::Method::PUT, &format!("/{B}/k?partNumber=1&uploadId={id}"))
        .body(first_body.clone())
        .into_http();
    let (release, held) = tokio::sync::oneshot::channel();
    let slow = tokio::spawn(send_holding_the_last_byte(first, held));

    // The second upload starts after the first and finishes before it.
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    upload_part(&c, "k", &id, 1, second_body).await;
    release.send(()).unwrap();
    let (status, etag) = slow.await.unwrap();

    assert_eq!(status, 200);
    let part = CompletedPart::builder().part_number(1).set_e_tag(etag).build();
    complete(&c, "k", &id, vec![part])
        .await
        .expect("completion with the last finished part");
    assert_eq!(get(&c, B, "k").await, first_body);
}

#[tokio::test]
async fn upload_part_copy_reads_the_source_version_it_names() {
    let (_gw, c) = with_bucket(B).await;
    enable_versioning(&c, B).await;
    let old = c
        .put_object()
        .bucket(B)
        .key("src")
        .body(ByteStream::from(data(1000, 1)))
        .send()
        .await
        .unwrap()
        .version_id
        .unwrap();
    put(&c, B, "src", data(1000, 2)).await;
    c.delete_object().bucket(B).key("src").send().await.unwrap();
    let id = start_upload(&c, "dst").await;

    let copied = c
        .upload_part_copy()
        .bucket(B)
        .key("dst")
        .upload_id(&id)
        .part_number(1)
        .copy_source(format!("{B}/src?versionId={old}"))
        .send()
        .await
        .expect("a copy from a version behind a delete marker");

    assert_eq!(copied.copy_source_version_id.as_deref(), Some(old.as_str()));
    let part = CompletedPart::builder()
        .part_number(1)
        .set_e_tag(copied.copy_part_result.unwrap().e_tag)
        .build();
    complete(&c, "dst", &id, vec![part]).await.unwrap();
    assert_eq!(get(&c, B, "dst").await, data(1000, 1));
}

#[tokio::test]
async fn completion_follows_the_conditional_write_rules_on_a_missing_key() {
    let (_gw, c) = with_bucket(B).await;
    let id = start_upload(&c, "k").await;
    let part = upload_part(&c, "k", &id, 1, data(100, 1)).await;
    let attempt = |if_match: Option<&str>, if_none_match: Option<&str>| {
        c.complete_multipart_upload()
            .bucket(B)
            .key("k")
            .upload_id(&id)
            .multipart_upload(completed(vec![part.clone()]))
            .set_if_match(if_match.map(str::to_owned))
            .set_if_none_match(if_none_match.map(str::to_owned))
            .send()
    };

    assert_s3_error(attempt(Some("*"), None).await, "NoSuchKey", 404);
    assert_s3_error(attempt(Some("\"abc\""), None).await, "NoSuchKey", 404);
    let created = attempt(None, Some("*"))
        .await
        .expect("If-None-Match: * on a new key");
    let retried = attempt(None, Some("*")).await.expect("a retry answers the same");

    assert_eq!(retried.e_tag, created.e_tag);
    assert_eq!(get(&c, B, "k").await, data(100, 1));
}
