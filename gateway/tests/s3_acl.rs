//! Ownership and ACLs as AWS runs them on new buckets (Object Ownership `BucketOwnerEnforced`):
//! the ACL that keeps the owner's full control is accepted everywhere, any other is
//! `AccessControlListNotSupported`, and owners show one canonical id per organization.

mod common;

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{
    AccessControlPolicy, BucketCannedAcl, ObjectCannedAcl, ObjectOwnership, OwnershipControls,
    OwnershipControlsRule,
};
use common::*;

const B: &str = "owned";

fn ownership(o: ObjectOwnership) -> OwnershipControls {
    OwnershipControls::builder()
        .rules(
            OwnershipControlsRule::builder()
                .object_ownership(o)
                .build()
                .unwrap(),
        )
        .build()
        .unwrap()
}

#[tokio::test]
async fn object_ownership_is_bucket_owner_enforced_and_nothing_else() {
    let (_gw, c) = with_bucket(B).await;
    let put = |o| {
        c.put_bucket_ownership_controls()
            .bucket(B)
            .ownership_controls(ownership(o))
            .send()
    };

    let enforced = put(ObjectOwnership::BucketOwnerEnforced).await;
    let writer = put(ObjectOwnership::ObjectWriter).await;
    let got = c.get_bucket_ownership_controls().bucket(B).send().await.unwrap();

    assert!(enforced.is_ok(), "{enforced:?}");
    assert_s3_error(writer, "InvalidRequest", 400);
    let rules = got.ownership_controls.unwrap().rules;
    assert_eq!(rules.len(), 1);
    assert_eq!(rules[0].object_ownership, ObjectOwnership::BucketOwnerEnforced);
}

#[tokio::test]
async fn acls_that_keep_the_owners_full_control_are_accepted() {
    let gw = start();
    let c = gw.client();
    c.create_bucket()
        .bucket(B)
        .acl(BucketCannedAcl::Private)
        .send()
        .await
        .expect("CreateBucket with the private ACL");
    for acl in [ObjectCannedAcl::Private, ObjectCannedAcl::BucketOwnerFullControl] {
        c.put_object()
            .bucket(B)
            .key("k")
            .acl(acl.clone())
            .body(ByteStream::from_static(b"x"))
            .send()
            .await
            .unwrap_or_else(|e| panic!("PutObject with {acl:?}: {e:?}"));
        c.put_object_acl()
            .bucket(B)
            .key("k")
            .acl(acl.clone())
            .send()
            .await
            .unwrap_or_else(|e| panic!("PutObjectAcl with {acl:?}: {e:?}"));
    }
    c.put_bucket_acl()
        .bucket(B)
        .acl(BucketCannedAcl::Private)
        .send()
        .await
        .expect("PutBucketAcl private");

    // What tools do: read the ACL and write it back.
    let current = c.get_bucket_acl().bucket(B).send().await.unwrap();
    let policy = AccessControlPolicy::builder()
        .set_owner(current.owner)
        .set_grants(current.grants)
        .build();
    c.put_bucket_acl()
        .bucket(B)
        .access_control_policy(policy)
        .send()
        .await
        .expect("the owner's own full-control ACL written back");
}

#[tokio::test]
async fn any_other_acl_is_access_control_list_not_supported_and_changes_nothing() {
    let (gw, c) = with_bucket(B).await;
    put(&c, B, "k", b"kept".to_vec()).await;
    let before = snapshot(&c, B).await;

    let put_public = c
        .put_object()
        .bucket(B)
        .key("public")
        .acl(ObjectCannedAcl::PublicRead)
        .body(ByteStream::from_static(b"x"))
        .send()
        .await;
    let copy_public = c
        .copy_object()
        .bucket(B)
        .key("copy")
        .copy_source(format!("{B}/k"))
        .acl(ObjectCannedAcl::PublicRead)
        .send()
        .await;
    let upload_public = c
        .create_multipart_upload()
        .bucket(B)
        .key("mp")
        .acl(ObjectCannedAcl::PublicRead)
        .send()
        .await;
    let object_grant = c
        .put_object_acl()
        .bucket(B)
        .key("k")
        .grant_read("uri=\"http://acs.amazonaws.com/groups/global/AllUsers\"")
        .send()
        .await;
    let bucket_public = c
        .put_bucket_acl()
        .bucket(B)
        .acl(BucketCannedAcl::PublicRead)
        .send()
        .await;
    let create_public = c
        .create_bucket()
        .bucket("public")
        .acl(BucketCannedAcl::PublicReadWrite)
        .send()
        .await;

    assert_s3_error(put_public, "AccessControlListNotSupported", 400);
    assert_s3_error(copy_public, "AccessControlListNotSupported", 400);
    assert_s3_error(upload_public, "AccessControlListNotSupported", 400);
    assert_s3_error(object_grant, "AccessControlListNotSupported", 400);
    assert_s3_error(bucket_public, "AccessControlListNotSupported", 400);
    assert_s3_error(create_public, "AccessControlListNotSupported", 400);
    assert_eq!(snapshot(&c, B).await, before);
    let uploads = c.list_multipart_uploads().bucket(B).send().await.unwrap();
    assert!(uploads.uploads().is_empty());
    let buckets = gw.client().list_buckets().send().await.unwrap();
    assert_eq!(buckets.buckets().len(), 1);
}

#[tokio::test]
async fn owners_show_one_canonical_id_per_org_everywhere() {
    let (_gw, c) = with_bucket(B).await;
    put(&c, B, "k", b"x".to_vec()).await;
    c.create_multipart_upload()
        .bucket(B)
        .key("mp")
        .send()
        .await
        .unwrap();

    let buckets = c.list_buckets().send().await.unwrap();
    let bucket_acl = c.get_bucket_acl().bucket(B).send().await.unwrap();
    let object_acl = c.get_object_acl().bucket(B).key("k").send().await.unwrap();
    let v2 = c
        .list_objects_v2()
        .bucket(B)
        .fetch_owner(true)
        .send()
        .await
        .unwrap();
    let v1 = c.list_objects().bucket(B).send().await.unwrap();
    let versions = c.list_object_versions().bucket(B).send().await.unwrap();
    let uploads = c.list_multipart_uploads().bucket(B).send().await.unwrap();

    let id = buckets
        .owner()
        .and_then(|o| o.id())
        .expect("ListBuckets owner")
        .to_owned();
    assert_eq!(id.len(), 64, "a canonical id: {id}");
    assert!(id.bytes().all(|b| b.is_ascii_hexdigit()), "{id}");
    assert_eq!(buckets.owner().and_then(|o| o.display_name()), Some("stowage"));
    let seen = [
        bucket_acl.owner().and_then(|o| o.id()),
        bucket_acl.grants()[0].grantee().and_then(|g| g.id()),
        object_acl.owner().and_then(|o| o.id()),
        object_acl.grants()[0].grantee().and_then(|g| g.id()),
        v2.contents()[0].owner().and_then(|o| o.id()),
        v1.contents()[0].owner().and_then(|o| o.id()),
        versions.versions()[0].owner().and_then(|o| o.id()),
        uploads.uploads()[0].owner().and_then(|o| o.id()),
        uploads.uploads()[0].initiator().and_then(|o| o.id()),
    ];
    assert_eq!(seen, [Some(id.as_str()); 9]);
}

/// `x-amz-expected-bucket-owner` (and its copy-source twin) refuses a request whose bucket is
/// owned by someone else, and changes nothing; the owner's canonical id or org name passes.
#[tokio::test]
async fn a_stated_bucket_owner_that_does_not_own_the_bucket_is_refused() {
    let (_gw, c) = with_bucket(B).await;
    let owner = c.list_buckets().send().await.unwrap().owner.unwrap();
    let (id, org) = (owner.id.unwrap(), owner.display_name.unwrap());
    let stranger = "1".repeat(64);
    let body = || ByteStream::from_static(b"guarded");

    for expected in [&id, &org] {
        c.put_object()
            .bucket(B)
            .key("k")
            .body(body())
            .expected_bucket_owner(expected)
            .send()
            .await
            .unwrap_or_else(|e| panic!("the owner {expected}: {e:?}"));
    }
    assert_s3_error(
        c.put_object()
            .bucket(B)
            .key("other")
            .body(body())
            .expected_bucket_owner(&stranger)
            .send()
            .await,
        "AccessDenied",
        403,
    );
    assert_eq!(
        head_etag(&c, B, "other").await,
        None,
        "a refused PUT wrote nothing"
    );
    assert_s3_error(
        c.get_object()
            .bucket(B)
            .key("k")
            .expected_bucket_owner(&stranger)
            .send()
            .await,
        "AccessDenied",
        403,
    );
    assert_s3_error(
        c.list_objects_v2()
            .bucket(B)
            .expected_bucket_owner("123456789012")
            .send()
            .await,
        "AccessDenied",
        403,
    );
    assert_s3_error(
        c.delete_object()
            .bucket(B)
            .key("k")
            .expected_bucket_owner(&stranger)
            .send()
            .await,
        "AccessDenied",
        403,
    );
    assert_eq!(
        get(&c, B, "k").await,
        b"guarded",
        "a refused DELETE removed nothing"
    );

    let copy = |expected: &str| {
        c.copy_object()
            .bucket(B)
            .key("copy")
            .copy_source(format!("{B}/k"))
            .expected_source_bucket_owner(expected)
            .send()
    };
    assert_s3_error(copy(&stranger).await, "AccessDenied", 403);
    assert_eq!(
        head_etag(&c, B, "copy").await,
        None,
        "a refused copy wrote nothing"
    );
    copy(&id).await.expect("the source's owner");
    assert_eq!(get(&c, B, "copy").await, b"guarded");

    assert_s3_error(
        c.get_object()
            .bucket("absent")
            .key("k")
            .expected_bucket_owner(&id)
            .send()
            .await,
        "NoSuchBucket",
        404,
    );
}
