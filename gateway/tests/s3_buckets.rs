//! Buckets: the seed's naming rules, the LocationConstraint (optional by default, required when
//! strict), ownership, HeadBucket, DeleteBucket, ListBuckets and GetBucketLocation.

mod common;

use std::time::{Duration, SystemTime};

use aws_sdk_s3::types::{BucketLocationConstraint, CreateBucketConfiguration};
use common::*;
use http::Method;

/// `PUT /{name}` with a us-east-1 configuration, sent as written: SDKs refuse some of these names.
async fn raw_create_bucket(gw: &Gateway, name: &str) -> RawResponse {
    gw.raw()
        .request(Method::PUT, &format!("/{name}"))
        .body(create_bucket_xml("us-east-1"))
        .send()
        .await
}

async fn bucket_names(gw: &Gateway) -> Vec<String> {
    let out = gw.client().list_buckets().send().await.expect("list buckets");
    out.buckets()
        .iter()
        .map(|b| b.name().unwrap_or_default().to_owned())
        .collect()
}

#[tokio::test]
async fn names_breaking_the_naming_rules_are_invalid_bucket_name() {
    let gw = start();
    let too_long = "a".repeat(64);
    let invalid = [
        "ab",                  // shorter than 3
        too_long.as_str(),     // longer than 63
        "MyBucket",            // uppercase
        "my_bucket",           // underscore
        "my.bucket",           // dot
        "my%20bucket",         // space
        "-bucket",             // starts with a hyphen
        "bucket-",             // ends with a hyphen
        "xn--bucket",          // punycode prefix
        "cw-bucket",           // reserved prefixes
        "vip-bucket",          //
        "log-stitcher-ch-abc", //
        "int",                 // reserved name
    ];
    for name in invalid {
        let resp = raw_create_bucket(&gw, name).await;
        assert_eq!(
            (resp.error_code().as_deref(), resp.status),
            (Some("InvalidBucketName"), 400),
            "{name}: {}",
            resp.text()
        );
    }
    assert_eq!(bucket_names(&gw).await, Vec::<String>::new());
}

#[tokio::test]
async fn names_at_the_edges_of_the_rules_are_accepted() {
    let gw = start();
    let longest = "a".repeat(63);
    let mut valid = vec![
        "abc",
        "123",
        "a-b",
        "a--b",
        "9-lives",
        "xn-a",
        "cwbucket",
        "vipbucket",
        "log-stitcher-c",
        "intx",
        "xint",
        longest.as_str(),
    ];
    for name in &valid {
        let resp = raw_create_bucket(&gw, name).await;
        assert_eq!(resp.status, 200, "{name}: {}", resp.text());
    }
    valid.sort_unstable();
    assert_eq!(bucket_names(&gw).await, valid);
}

/// The strict CreateBucket of seed 002.
const STRICT: &[&str] = &["--require-location-constraint=true"];

#[tokio::test]
async fn create_bucket_without_location_constraint_is_accepted_by_default() {
    let gw = start();
    let client = gw.client();
    client
        .create_bucket()
        .bucket("no-location")
        .send()
        .await
        .expect("create without a LocationConstraint");
    let location = client
        .get_bucket_location()
        .bucket("no-location")
        .send()
        .await
        .expect("location");
    let constraint = location.location_constraint.as_ref().map_or("", |l| l.as_str());
    assert_eq!(
        constraint, "",
        "the store's region, us-east-1, shown as AWS shows it"
    );
}

#[tokio::test]
async fn create_bucket_without_location_constraint_is_invalid_location_constraint_when_strict() {
    let gw = start_with_args(STRICT);
    let result = gw.client().create_bucket().bucket("no-location").send().await;
    assert_s3_error(result, "InvalidLocationConstraint", 400);
    assert_eq!(bucket_names(&gw).await, Vec::<String>::new());
}

#[tokio::test]
async fn create_bucket_in_another_region_is_invalid_location_constraint() {
    let gw = start();
    let result = gw
        .client()
        .create_bucket()
        .bucket("elsewhere")
        .create_bucket_configuration(
            CreateBucketConfiguration::builder()
                .location_constraint(BucketLocationConstraint::EuWest1)
                .build(),
        )
        .send()
        .await;
    assert_s3_error(result, "InvalidLocationConstraint", 400);
    assert_eq!(bucket_names(&gw).await, Vec::<String>::new());
}

#[tokio::test]
async fn creating_an_owned_bucket_again_is_200_by_default_and_keeps_its_objects() {
    let (gw, client) = with_bucket("mine").await;
    put(&client, "mine", "kept", b"still here".to_vec()).await;
    let before = snapshot(&client, "mine").await;

    let result = client.create_bucket().bucket("mine").send().await;

    assert!(result.is_ok(), "{result:?}");
    assert_eq!(snapshot(&client, "mine").await, before);
    assert_eq!(bucket_names(&gw).await, ["mine"]);
}

#[tokio::test]
async fn creating_an_owned_bucket_again_is_bucket_already_owned_by_you_when_strict() {
    let gw = start_with_args(STRICT);
    let client = gw.client();
    create_bucket(&client, "mine").await;
    put(&client, "mine", "kept", b"still here".to_vec()).await;
    let before = snapshot(&client, "mine").await;

    let result = gw
        .raw()
        .request(Method::PUT, "/mine")
        .body(create_bucket_xml("us-east-1"))
        .send()
        .await;

    assert_raw_error(&result, "BucketAlreadyOwnedByYou", 409);
    assert_eq!(snapshot(&client, "mine").await, before);
}

#[tokio::test]
async fn head_bucket_of_an_existing_bucket_is_ok() {
    let (gw, _client) = with_bucket("present").await;
    let resp = gw.raw().request(Method::HEAD, "/present").send().await;
    assert_eq!(resp.status, 200);
}

#[tokio::test]
async fn head_bucket_of_a_missing_bucket_is_404_without_a_body() {
    let gw = start();
    let resp = gw.raw().request(Method::HEAD, "/missing").send().await;
    assert_eq!((resp.status, resp.body.len()), (404, 0));
}

#[tokio::test]
async fn head_bucket_with_an_invalid_name_is_400_without_a_body() {
    let gw = start();
    let resp = gw.raw().request(Method::HEAD, "/Invalid_Name").send().await;
    assert_eq!((resp.status, resp.body.len()), (400, 0));
}

#[tokio::test]
async fn deleting_a_non_empty_bucket_is_bucket_not_empty_and_keeps_the_object() {
    let (gw, client) = with_bucket("full").await;
    put(&client, "full", "object", b"payload".to_vec()).await;
    let before = snapshot(&client, "full").await;

    let result = client.delete_bucket().bucket("full").send().await;

    assert_s3_error(result, "BucketNotEmpty", 409);
    assert_eq!(snapshot(&client, "full").await, before);
    assert_eq!(get(&client, "full", "object").await, b"payload");
    assert_eq!(bucket_names(&gw).await, ["full"]);
}

#[tokio::test]
async fn a_deleted_bucket_is_gone() {
    let (gw, client) = with_bucket("short-lived").await;

    let deleted = gw.raw().request(Method::DELETE, "/short-lived").send().await;

    assert_eq!(deleted.status, 204, "{}", deleted.text());
    let head = gw.raw().request(Method::HEAD, "/short-lived").send().await;
    assert_eq!(head.status, 404);
    assert_s3_error(
        client.list_objects_v2().bucket("short-lived").send().await,
        "NoSuchBucket",
        404,
    );
    assert_eq!(bucket_names(&gw).await, Vec::<String>::new());
}

#[tokio::test]
async fn deleting_a_missing_bucket_is_no_such_bucket() {
    let gw = start();
    let result = gw.client().delete_bucket().bucket("never-was").send().await;
    assert_s3_error(result, "NoSuchBucket", 404);
}

#[tokio::test]
async fn list_buckets_lists_created_buckets_by_name_with_creation_dates() {
    let gw = start();
    let client = gw.client();
    // Creation dates are reported to the second (or millisecond): allow for the truncation.
    let before = SystemTime::now() - Duration::from_secs(1);
    for name in ["gamma", "alpha", "beta"] {
        create_bucket(&client, name).await;
    }
    let after = SystemTime::now() + Duration::from_secs(1);

    let out = client.list_buckets().send().await.expect("list buckets");

    let names: Vec<&str> = out
        .buckets()
        .iter()
        .map(|b| b.name().unwrap_or_default())
        .collect();
    assert_eq!(names, ["alpha", "beta", "gamma"]);
    for bucket in out.buckets() {
        let created = bucket
            .creation_date()
            .map(|d| SystemTime::try_from(*d).expect("a date after 1970"))
            .unwrap_or_else(|| panic!("{bucket:?} has no creation date"));
        assert!(before <= created && created <= after, "{bucket:?}");
    }
}

#[tokio::test]
async fn get_bucket_location_of_a_us_east_1_bucket_is_an_empty_constraint() {
    let (gw, _client) = with_bucket("virginia").await;

    let resp = gw.raw().request(Method::GET, "/virginia?location").send().await;

    assert_eq!(resp.status, 200, "{}", resp.text());
    assert_eq!(xml_values(&resp.text(), "LocationConstraint"), [""]);
}

/// DeleteBucket racing 16 writers: once it succeeds, every writer is refused (`NoSuchBucket`),
/// the name can be created again and the new bucket is empty, and no blob is left behind. On TiKV
/// a writer only peeks at the bucket record and can commit after the delete: its record lands in
/// the deleted bucket's space, invisible to the new bucket, and is swept later (`dead_spaces`).
#[tokio::test]
async fn a_bucket_deleted_under_16_writers_comes_back_empty() {
    let (gw, client) = with_bucket("contested").await;
    // Failed deletes so far. Writers pause longer as it grows: on a loaded machine, where a
    // write holds its object for as long as the pause, the bucket is then still empty now and
    // then, while writes keep racing the delete.
    let refused = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let writers: Vec<_> = (0..16)
        .map(|w| {
            let (client, refused) = (client.clone(), refused.clone());
            tokio::spawn(async move {
                for n in 0.. {
                    let key = format!("w{w}/{n}");
                    let put = client
                        .put_object()
                        .bucket("contested")
                        .key(&key)
                        .body(aws_sdk_s3::primitives::ByteStream::from(vec![b'x'; 1024]))
                        .send()
                        .await;
                    if let Err(e) = put {
                        assert_eq!(s3_error(e).0, "NoSuchBucket", "writer {w}");
                        return n;
                    }
                    // Deleted again, and a pause, so the bucket empties now and then and the
                    // delete can win.
                    let _ = client.delete_object().bucket("contested").key(&key).send().await;
                    let pause = 10 + refused.load(std::sync::atomic::Ordering::Relaxed) / 2;
                    tokio::time::sleep(std::time::Duration::from_millis(pause)).await;
                }
                unreachable!()
            })
        })
        .collect();
    let mut attempts = 0;
    loop {
        attempts += 1;
        match client.delete_bucket().bucket("contested").send().await {
            Ok(_) => break,
            Err(e) => assert_eq!(s3_error(e).0, "BucketNotEmpty"),
        }
        refused.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        assert!(attempts < 5000, "DeleteBucket never found the bucket empty");
    }
    for writer in writers {
        writer.await.expect("writer");
    }

    create_bucket(&client, "contested").await;
    let objects = client
        .list_objects_v2()
        .bucket("contested")
        .send()
        .await
        .expect("list");
    let versions = client
        .list_object_versions()
        .bucket("contested")
        .send()
        .await
        .expect("versions");
    let uploads = client
        .list_multipart_uploads()
        .bucket("contested")
        .send()
        .await
        .expect("uploads");
    assert_eq!(
        (
            objects.key_count(),
            versions.versions().len(),
            versions.delete_markers().len(),
            uploads.uploads().len()
        ),
        (Some(0), 0, 0, 0)
    );
    if tikv_store_url().is_none() {
        assert_eq!(blob_files(&gw), 0, "every blob freed or discarded");
    }
}
