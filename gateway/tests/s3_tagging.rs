//! Object and bucket tags, GetObjectAttributes, and the read-only ACLs.

mod common;

use aws_sdk_s3::Client;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{
    ChecksumAlgorithm, CompletedMultipartUpload, CompletedPart, ObjectAttributes, Permission, Tag, Tagging,
    TaggingDirective,
};
use common::*;
use http::Method;

const B: &str = "tagged";

fn tagging(pairs: &[(&str, &str)]) -> Tagging {
    let tags = pairs
        .iter()
        .map(|(k, v)| Tag::builder().key(*k).value(*v).build().unwrap())
        .collect();
    Tagging::builder().set_tag_set(Some(tags)).build().unwrap()
}

async fn tags_of(c: &Client, key: &str) -> Vec<(String, String)> {
    let out = c.get_object_tagging().bucket(B).key(key).send().await.unwrap();
    out.tag_set()
        .iter()
        .map(|t| (t.key().to_owned(), t.value().to_owned()))
        .collect()
}

fn pairs(p: &[(&str, &str)]) -> Vec<(String, String)> {
    p.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

#[tokio::test]
async fn tags_set_on_put_are_read_back_and_counted_on_get() {
    let (_gw, c) = with_bucket(B).await;
    c.put_object()
        .bucket(B)
        .key("k")
        .body(ByteStream::from_static(b"x"))
        .tagging("team=ml&stage=raw%20data")
        .send()
        .await
        .unwrap();
    assert_eq!(
        tags_of(&c, "k").await,
        pairs(&[("team", "ml"), ("stage", "raw data")])
    );
    assert_eq!(
        c.get_object().bucket(B).key("k").send().await.unwrap().tag_count,
        Some(2)
    );
}

#[tokio::test]
async fn put_and_delete_object_tagging_replace_the_whole_set() {
    let (_gw, c) = with_bucket(B).await;
    put(&c, B, "k", b"x".to_vec()).await;
    c.put_object_tagging()
        .bucket(B)
        .key("k")
        .tagging(tagging(&[("a", "1")]))
        .send()
        .await
        .unwrap();
    c.put_object_tagging()
        .bucket(B)
        .key("k")
        .tagging(tagging(&[("b", "2")]))
        .send()
        .await
        .unwrap();
    assert_eq!(tags_of(&c, "k").await, pairs(&[("b", "2")]));
    c.delete_object_tagging().bucket(B).key("k").send().await.unwrap();
    assert!(tags_of(&c, "k").await.is_empty());
}

#[tokio::test]
async fn tag_limits_are_invalid_tag_and_change_nothing() {
    let (_gw, c) = with_bucket(B).await;
    put(&c, B, "k", b"x".to_vec()).await;
    c.put_object_tagging()
        .bucket(B)
        .key("k")
        .tagging(tagging(&[("keep", "me")]))
        .send()
        .await
        .unwrap();
    let eleven: Vec<(String, String)> = (0..11).map(|i| (format!("k{i}"), "v".to_owned())).collect();
    let eleven: Vec<(&str, &str)> = eleven.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let long_key = "k".repeat(129);
    let long_value = "v".repeat(257);
    for set in [
        eleven,
        vec![(long_key.as_str(), "v")],
        vec![("k", long_value.as_str())],
    ] {
        let r = c
            .put_object_tagging()
            .bucket(B)
            .key("k")
            .tagging(tagging(&set))
            .send()
            .await;
        assert_s3_error(r, "InvalidTag", 400);
    }
    assert_eq!(tags_of(&c, "k").await, pairs(&[("keep", "me")]));
    let r = c
        .put_object()
        .bucket(B)
        .key("new")
        .body(ByteStream::from_static(b"x"))
        .tagging(format!("{long_key}=v"))
        .send()
        .await;
    assert_s3_error(r, "InvalidTag", 400);
    assert_eq!(snapshot(&c, B).await.len(), 1);
}

#[tokio::test]
async fn copy_keeps_tags_unless_the_directive_replaces_them() {
    let (_gw, c) = with_bucket(B).await;
    c.put_object()
        .bucket(B)
        .key("src")
        .body(ByteStream::from_static(b"x"))
        .tagging("a=1")
        .send()
        .await
        .unwrap();
    c.copy_object()
        .bucket(B)
        .key("kept")
        .copy_source(format!("{B}/src"))
        .send()
        .await
        .unwrap();
    assert_eq!(tags_of(&c, "kept").await, pairs(&[("a", "1")]));
    c.copy_object()
        .bucket(B)
        .key("replaced")
        .copy_source(format!("{B}/src"))
        .tagging_directive(TaggingDirective::Replace)
        .tagging("b=2")
        .send()
        .await
        .unwrap();
    assert_eq!(tags_of(&c, "replaced").await, pairs(&[("b", "2")]));
}

#[tokio::test]
async fn tags_belong_to_one_version() {
    let (_gw, c) = with_bucket(B).await;
    enable_versioning(&c, B).await;
    let v1 = c
        .put_object()
        .bucket(B)
        .key("k")
        .body(ByteStream::from_static(b"1"))
        .send()
        .await
        .unwrap()
        .version_id
        .unwrap();
    c.put_object()
        .bucket(B)
        .key("k")
        .body(ByteStream::from_static(b"2"))
        .tagging("latest=yes")
        .send()
        .await
        .unwrap();
    let out = c
        .put_object_tagging()
        .bucket(B)
        .key("k")
        .version_id(&v1)
        .tagging(tagging(&[("old", "yes")]))
        .send()
        .await
        .unwrap();
    assert_eq!(out.version_id.as_deref(), Some(v1.as_str()));
    let old = c
        .get_object_tagging()
        .bucket(B)
        .key("k")
        .version_id(&v1)
        .send()
        .await
        .unwrap();
    assert_eq!(old.tag_set()[0].key(), "old");
    assert_eq!(tags_of(&c, "k").await, pairs(&[("latest", "yes")]));
}

#[tokio::test]
async fn bucket_tags_round_trip_and_are_absent_after_delete() {
    let (_gw, c) = with_bucket(B).await;
    assert_s3_error(c.get_bucket_tagging().bucket(B).send().await, "NoSuchTagSet", 404);
    c.put_bucket_tagging()
        .bucket(B)
        .tagging(tagging(&[("cost-center", "42"), ("env", "prod")]))
        .send()
        .await
        .unwrap();
    let got = c.get_bucket_tagging().bucket(B).send().await.unwrap();
    assert_eq!(got.tag_set().len(), 2);
    c.delete_bucket_tagging().bucket(B).send().await.unwrap();
    assert_s3_error(c.get_bucket_tagging().bucket(B).send().await, "NoSuchTagSet", 404);
}

#[tokio::test]
async fn object_attributes_describe_a_multipart_object_and_page_its_parts() {
    let (_gw, c) = with_bucket(B).await;
    let id = c
        .create_multipart_upload()
        .bucket(B)
        .key("mp")
        .checksum_algorithm(ChecksumAlgorithm::Crc32C)
        .send()
        .await
        .unwrap()
        .upload_id
        .unwrap();
    let mut parts = Vec::new();
    for n in 1..=3 {
        let size = if n < 3 { 5 * 1024 * 1024 } else { 100 };
        let out = c
            .upload_part()
            .bucket(B)
            .key("mp")
            .upload_id(&id)
            .part_number(n)
            .checksum_algorithm(ChecksumAlgorithm::Crc32C)
            .body(ByteStream::from(vec![n as u8; size]))
            .send()
            .await
            .unwrap();
        parts.push(
            CompletedPart::builder()
                .part_number(n)
                .set_e_tag(out.e_tag)
                .set_checksum_crc32_c(out.checksum_crc32_c)
                .build(),
        );
    }
    let done = c
        .complete_multipart_upload()
        .bucket(B)
        .key("mp")
        .upload_id(&id)
        .multipart_upload(CompletedMultipartUpload::builder().set_parts(Some(parts)).build())
        .send()
        .await
        .unwrap();
    let attrs = c
        .get_object_attributes()
        .bucket(B)
        .key("mp")
        .object_attributes(ObjectAttributes::Etag)
        .object_attributes(ObjectAttributes::ObjectSize)
        .object_attributes(ObjectAttributes::Checksum)
        .object_attributes(ObjectAttributes::ObjectParts)
        .object_attributes(ObjectAttributes::StorageClass)
        .max_parts(2)
        .send()
        .await
        .unwrap();
    assert_eq!(attrs.object_size, Some(10 * 1024 * 1024 + 100));
    assert_eq!(attrs.checksum.unwrap().checksum_crc32_c, done.checksum_crc32_c);
    let parts = attrs.object_parts.unwrap();
    assert_eq!(parts.total_parts_count, Some(3));
    assert_eq!(parts.is_truncated, Some(true));
    assert_eq!(
        parts
            .parts()
            .iter()
            .map(|p| p.part_number.unwrap())
            .collect::<Vec<_>>(),
        vec![1, 2]
    );
    assert_eq!(
        attrs.e_tag.map(|e| e.trim_matches('"').to_owned()),
        done.e_tag.map(|e| e.trim_matches('"').to_owned())
    );
}

#[tokio::test]
async fn acls_show_the_owner_with_full_control() {
    let (gw, c) = with_bucket(B).await;
    put(&c, B, "k", b"x".to_vec()).await;
    let bucket = c.get_bucket_acl().bucket(B).send().await.unwrap();
    assert_eq!(
        bucket.owner().and_then(|o| o.display_name()),
        Some("stowage"),
        "buckets are owned by the creator's org"
    );
    assert_eq!(bucket.grants()[0].permission, Some(Permission::FullControl));
    let object = c.get_object_acl().bucket(B).key("k").send().await.unwrap();
    assert_eq!(object.grants()[0].permission, Some(Permission::FullControl));
    let missing = gw.raw().request(Method::GET, "/tagged/nope?acl").send().await;
    assert_raw_error(&missing, "NoSuchKey", 404);
}

#[tokio::test]
async fn attributes_asked_in_one_comma_separated_header_are_all_returned() {
    let (gw, c) = with_bucket(B).await;
    let etag = put(&c, B, "doc", b"twelve bytes".to_vec()).await;

    // What boto3 and the AWS CLI send: one header, the names joined by commas.
    let resp = gw
        .raw()
        .request(Method::GET, &format!("/{B}/doc?attributes"))
        .header(
            "x-amz-object-attributes",
            "ETag,ObjectSize, StorageClass,Checksum",
        )
        .send()
        .await;

    assert_eq!(resp.status, 200, "{}", resp.text());
    let xml = resp.text();
    let etags: Vec<_> = xml_values(&xml, "ETag")
        .iter()
        .map(|e| e.trim_matches('"').to_owned())
        .collect();
    assert_eq!(etags, [etag.trim_matches('"')]);
    assert_eq!(xml_values(&xml, "ObjectSize"), ["12"]);
    assert_eq!(xml_values(&xml, "StorageClass"), ["STANDARD"]);
    assert_eq!(xml_values(&xml, "ChecksumType"), ["FULL_OBJECT"]);
    assert_eq!(
        xml_values(&xml, "ChecksumCRC32").len(),
        1,
        "the SDK's default checksum: {xml}"
    );
}

#[tokio::test]
async fn an_unknown_attribute_name_is_invalid_argument() {
    let (gw, c) = with_bucket(B).await;
    put(&c, B, "doc", b"x".to_vec()).await;

    let resp = gw
        .raw()
        .request(Method::GET, &format!("/{B}/doc?attributes"))
        .header("x-amz-object-attributes", "ETag,Colour")
        .send()
        .await;

    assert_raw_error(&resp, "InvalidArgument", 400);
}
