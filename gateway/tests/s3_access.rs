//! Identities and bucket policies through the front door: users of two orgs created with the
//! `gateway admin` CLI, and what each may do with and without policies.

mod common;

use std::process::Command;

use aws_sdk_s3::Client;
use aws_sdk_s3::primitives::ByteStream;
use common::*;
use http::Method;

const B: &str = "team-a-data";

struct User {
    client: Client,
    key: String,
    secret: String,
}

/// Runs `gateway admin ...` against `gw` with its root credentials; returns stdout.
fn admin(gw: &Gateway, args: &[&str]) -> Result<String, String> {
    let out = Command::new(bin())
        .arg("admin")
        .arg("--endpoint")
        .arg(gw.endpoint())
        .args(args)
        .env("STOWAGE_ROOT_ACCESS_KEY_ID", &gw.access_key)
        .env("STOWAGE_ROOT_SECRET_ACCESS_KEY", &gw.secret_key)
        .output()
        .expect("run gateway admin");
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

fn create_user(gw: &Gateway, name: &str, org: &str) -> User {
    let out = admin(gw, &["user", "create", name, "--org", org]).expect("user create");
    let v: serde_json::Value = serde_json::from_str(&out).expect("one JSON object");
    assert_eq!(v["user"], name);
    assert_eq!(v["org"], org);
    let (key, secret) = (
        v["accessKeyId"].as_str().unwrap().to_owned(),
        v["secretAccessKey"].as_str().unwrap().to_owned(),
    );
    User {
        client: gw.client_for(&key, &secret),
        key,
        secret,
    }
}

/// A gateway, alice and bob in team-a, carol in team-b, and bucket `B` created by alice.
async fn two_orgs() -> (Gateway, User, User, User) {
    let gw = start();
    let alice = create_user(&gw, "alice", "team-a");
    let bob = create_user(&gw, "bob", "team-a");
    let carol = create_user(&gw, "carol", "team-b");
    create_bucket(&alice.client, B).await;
    put(&alice.client, B, "report.csv", b"a,b,c".to_vec()).await;
    (gw, alice, bob, carol)
}

async fn put_policy(c: &Client, policy: serde_json::Value) {
    c.put_bucket_policy()
        .bucket(B)
        .policy(policy.to_string())
        .send()
        .await
        .expect("put policy");
}

fn denied<T: std::fmt::Debug, E: aws_sdk_s3::error::ProvideErrorMetadata + std::fmt::Debug>(
    r: Result<T, aws_sdk_s3::error::SdkError<E>>,
) {
    assert_s3_error(r, "AccessDenied", 403);
}

#[tokio::test]
async fn members_of_the_owning_org_may_act_and_others_are_denied() {
    let (_gw, alice, bob, carol) = two_orgs().await;
    assert_eq!(get(&bob.client, B, "report.csv").await, b"a,b,c");
    put(&bob.client, B, "from-bob", b"x".to_vec()).await;
    denied(carol.client.get_object().bucket(B).key("report.csv").send().await);
    denied(
        carol
            .client
            .put_object()
            .bucket(B)
            .key("x")
            .body(ByteStream::from_static(b"x"))
            .send()
            .await,
    );
    denied(carol.client.list_objects_v2().bucket(B).send().await);
    assert_eq!(snapshot(&alice.client, B).await.len(), 2);
}

#[tokio::test]
async fn list_buckets_shows_only_the_callers_org() {
    let (_gw, alice, _bob, carol) = two_orgs().await;
    create_bucket(&carol.client, "team-b-data").await;
    let names = |out: aws_sdk_s3::operation::list_buckets::ListBucketsOutput| {
        out.buckets()
            .iter()
            .map(|b| b.name().unwrap().to_owned())
            .collect::<Vec<_>>()
    };
    assert_eq!(
        names(alice.client.list_buckets().send().await.unwrap()),
        vec![B.to_owned()]
    );
    assert_eq!(
        names(carol.client.list_buckets().send().await.unwrap()),
        vec!["team-b-data".to_owned()]
    );
}

/// Bucket names are one namespace: creating one another org holds is `409 BucketAlreadyExists`
/// (not a refusal by that bucket's access rules), and it changes nothing of the bucket.
#[tokio::test]
async fn creating_a_bucket_another_org_holds_is_bucket_already_exists() {
    let (_gw, alice, _bob, carol) = two_orgs().await;
    put(&alice.client, B, "kept", b"alice's".to_vec()).await;
    let taken = carol.client.create_bucket().bucket(B).send().await;
    assert_s3_error(taken, "BucketAlreadyExists", 409);
    assert_eq!(get(&alice.client, B, "kept").await, b"alice's");
    denied(carol.client.list_objects_v2().bucket(B).send().await);
}

/// ListBuckets in pages (`max-buckets`, `continuation-token`), of the caller's org only, in name
/// order, the last page without a token.
#[tokio::test]
async fn list_buckets_pages_through_the_callers_buckets() {
    let (_gw, alice, _bob, carol) = two_orgs().await;
    for name in ["team-a-3", "team-a-1", "team-a-2"] {
        create_bucket(&alice.client, name).await;
    }
    create_bucket(&carol.client, "team-b-1").await;
    let mut seen = Vec::new();
    let mut token = None;
    loop {
        let page = alice
            .client
            .list_buckets()
            .max_buckets(2)
            .set_continuation_token(token)
            .send()
            .await
            .expect("page");
        assert!(page.buckets().len() <= 2);
        seen.extend(page.buckets().iter().map(|b| b.name().unwrap().to_owned()));
        token = page.continuation_token().map(str::to_owned);
        if token.is_none() {
            break;
        }
    }
    assert_eq!(seen, ["team-a-1", "team-a-2", "team-a-3", B]);
    let prefixed = alice
        .client
        .list_buckets()
        .prefix("team-a-")
        .max_buckets(5)
        .send()
        .await
        .unwrap();
    assert_eq!(prefixed.buckets().len(), 4);
    assert_eq!(
        (prefixed.prefix(), prefixed.continuation_token()),
        (Some("team-a-"), None)
    );
    let zero = alice.client.list_buckets().max_buckets(0).send().await;
    assert_s3_error(zero, "InvalidArgument", 400);
    let forged = alice.client.list_buckets().continuation_token("%%%").send().await;
    assert_s3_error(forged, "InvalidArgument", 400);
}

/// A POST form upload is a PutObject of the key it resolves to, under the bucket's policy like
/// any other: a Deny on a prefix holds for forms (also when the key comes from the file's name),
/// another org needs a grant, and a form with no signature is anonymous.
#[tokio::test]
async fn a_form_upload_is_authorized_as_a_put_of_its_key() {
    use common::post_form::{post, signed_form};
    let (gw, alice, _bob, carol) = two_orgs().await;
    put_policy(
        &alice.client,
        serde_json::json!({
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Deny", "Principal": "*", "Action": "s3:PutObject",
                           "Resource": format!("arn:aws:s3:::{B}/private/*")}]
        }),
    )
    .await;
    let any_key = serde_json::json!([{"bucket": B}, ["starts-with", "$key", ""]]);
    let alice_form = |key: &str| signed_form((&alice.key, &alice.secret), any_key.clone(), &[("key", key)]);

    let resp = post(&gw, B, &alice_form("public/report.txt"), b"ok").await;
    assert_eq!(resp.status, 204, "{}", resp.text());
    let resp = post(&gw, B, &alice_form("private/report.txt"), b"no").await;
    assert_raw_error(&resp, "AccessDenied", 403);
    // `private/${filename}` is not under the Deny as written; the key it resolves to is.
    let resp = post(&gw, B, &alice_form("private/${filename}"), b"no").await;
    assert_raw_error(&resp, "AccessDenied", 403);
    let carol_form = signed_form(
        (&carol.key, &carol.secret),
        any_key,
        &[("key", "public/carol.txt")],
    );
    let resp = post(&gw, B, &carol_form, b"no").await;
    assert_raw_error(&resp, "AccessDenied", 403);
    let anonymous = vec![("key".to_owned(), "public/anyone.txt".to_owned())];
    let resp = post(&gw, B, &anonymous, b"no").await;
    assert_raw_error(&resp, "AccessDenied", 403);

    let keys: Vec<String> = snapshot(&alice.client, B)
        .await
        .into_iter()
        .map(|(k, _)| k)
        .collect();
    assert_eq!(
        keys,
        ["public/report.txt", "report.csv"],
        "only the allowed form stored a file"
    );
}

#[tokio::test]
async fn a_public_read_policy_lets_anyone_read_and_no_one_else_write() {
    let (gw, alice, _bob, carol) = two_orgs().await;
    put_policy(
        &alice.client,
        serde_json::json!({
            "Version": "2012-10-17",
            "Statement": [{"Sid": "PublicRead", "Effect": "Allow", "Principal": "*",
                           "Action": "s3:GetObject", "Resource": format!("arn:aws:s3:::{B}/*")}]
        }),
    )
    .await;
    let anonymous = gw
        .raw()
        .request(Method::GET, &format!("/{B}/report.csv"))
        .anonymous()
        .send()
        .await;
    assert_eq!((anonymous.status, &anonymous.body[..]), (200, &b"a,b,c"[..]));
    assert_eq!(get(&carol.client, B, "report.csv").await, b"a,b,c");
    let anonymous_put = gw
        .raw()
        .request(Method::PUT, &format!("/{B}/x"))
        .anonymous()
        .body("x")
        .send()
        .await;
    assert_raw_error(&anonymous_put, "AccessDenied", 403);
    denied(
        carol
            .client
            .put_object()
            .bucket(B)
            .key("x")
            .body(ByteStream::from_static(b"x"))
            .send()
            .await,
    );
    let anonymous_list = gw
        .raw()
        .request(Method::GET, &format!("/{B}"))
        .anonymous()
        .send()
        .await;
    assert_raw_error(&anonymous_list, "AccessDenied", 403);
}

/// A read of a missing key is `404` only to a caller who may list the bucket under that key, and
/// `403` to everyone else, as on AWS: reading `public/*` does not reveal which other keys exist,
/// and listing `public/*` tells a missing key there from a refusal. HEAD, GET and
/// GetObjectAttributes answer alike.
#[tokio::test]
async fn a_missing_key_is_not_found_only_to_callers_who_may_list_it() {
    let (gw, alice, bob, carol) = two_orgs().await;
    put(&alice.client, B, "public/there", b"x".to_vec()).await;
    let status = |c: &Client, key: &str| {
        let (c, key) = (c.clone(), key.to_owned());
        async move {
            let head = c.head_object().bucket(B).key(&key).send().await;
            let get = c.get_object().bucket(B).key(&key).send().await;
            let attributes = c
                .get_object_attributes()
                .bucket(B)
                .key(&key)
                .object_attributes(aws_sdk_s3::types::ObjectAttributes::ObjectSize)
                .send()
                .await;
            let code = |e: Option<u16>| e.unwrap_or(200);
            let statuses = [
                code(
                    head.err()
                        .and_then(|e| e.raw_response().map(|r| r.status().as_u16())),
                ),
                code(
                    get.err()
                        .and_then(|e| e.raw_response().map(|r| r.status().as_u16())),
                ),
                code(
                    attributes
                        .err()
                        .and_then(|e| e.raw_response().map(|r| r.status().as_u16())),
                ),
            ];
            assert!(statuses.iter().all(|s| *s == statuses[0]), "{key}: {statuses:?}");
            statuses[0]
        }
    };
    let anonymous_get = |key: &str| {
        let request = gw.raw().request(Method::GET, &format!("/{B}/{key}")).anonymous();
        async move { request.send().await.status }
    };
    let read = serde_json::json!({"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
                                  "Resource": format!("arn:aws:s3:::{B}/public/*")});
    let list = serde_json::json!({"Effect": "Allow", "Principal": "*", "Action": "s3:ListBucket",
                                  "Resource": format!("arn:aws:s3:::{B}"),
                                  "Condition": {"StringLike": {"s3:prefix": "public/*"}}});

    // The owning org lists by default: a missing key is NoSuchKey to its members.
    assert_eq!(status(&bob.client, "public/missing").await, 404);
    assert_eq!(status(&bob.client, "elsewhere").await, 404);

    // Read but not list: a missing key is refused like any key the caller may not read.
    put_policy(
        &alice.client,
        serde_json::json!({"Version": "2012-10-17", "Statement": [read]}),
    )
    .await;
    assert_eq!(status(&carol.client, "public/there").await, 200);
    assert_eq!(status(&carol.client, "public/missing").await, 403);
    assert_eq!(status(&carol.client, "private/missing").await, 403);
    assert_eq!(anonymous_get("public/there").await, 200);
    assert_eq!(anonymous_get("public/missing").await, 403);

    // Read and list under `public/`: missing there is NoSuchKey; elsewhere still refused.
    put_policy(
        &alice.client,
        serde_json::json!({"Version": "2012-10-17", "Statement": [read, list]}),
    )
    .await;
    assert_eq!(status(&carol.client, "public/missing").await, 404);
    assert_eq!(status(&carol.client, "private/missing").await, 403);
    assert_eq!(anonymous_get("public/missing").await, 404);

    // List only: a missing key under `public/` is NoSuchKey, an existing one is still refused.
    put_policy(
        &alice.client,
        serde_json::json!({"Version": "2012-10-17", "Statement": [list]}),
    )
    .await;
    assert_eq!(status(&carol.client, "public/missing").await, 404);
    assert_eq!(status(&carol.client, "public/there").await, 403);
    assert_eq!(status(&carol.client, "private/missing").await, 403);
    assert_eq!(status(&bob.client, "public/missing").await, 404);
}

#[tokio::test]
async fn a_prefix_scoped_grant_lets_another_org_write_only_there() {
    let (_gw, alice, _bob, carol) = two_orgs().await;
    put_policy(
        &alice.client,
        serde_json::json!({
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::team-b:user/carol"},
                           "Action": ["s3:PutObject"], "Resource": [format!("arn:aws:s3:::{B}/inbox/*")]}]
        }),
    )
    .await;
    put(&carol.client, B, "inbox/from-carol", b"x".to_vec()).await;
    denied(
        carol
            .client
            .put_object()
            .bucket(B)
            .key("elsewhere")
            .body(ByteStream::from_static(b"x"))
            .send()
            .await,
    );
    denied(
        carol
            .client
            .get_object()
            .bucket(B)
            .key("inbox/from-carol")
            .send()
            .await,
    );
    let keys: Vec<String> = snapshot(&alice.client, B)
        .await
        .into_iter()
        .map(|(k, _)| k)
        .collect();
    assert_eq!(keys, vec!["inbox/from-carol".to_owned(), "report.csv".to_owned()]);
}

#[tokio::test]
async fn an_explicit_deny_beats_the_owners_default() {
    let (_gw, alice, bob, _carol) = two_orgs().await;
    put_policy(
        &alice.client,
        serde_json::json!({
            "Version": "2012-10-17",
            "Statement": [{"Sid": "NoDeletes", "Effect": "Deny", "Principal": "*",
                           "Action": ["s3:DeleteObject", "s3:DeleteObjectVersion"], "Resource": format!("arn:aws:s3:::{B}/*")}]
        }),
    )
    .await;
    denied(
        bob.client
            .delete_object()
            .bucket(B)
            .key("report.csv")
            .send()
            .await,
    );
    denied(
        alice
            .client
            .delete_object()
            .bucket(B)
            .key("report.csv")
            .send()
            .await,
    );
    let many = aws_sdk_s3::types::Delete::builder()
        .objects(
            aws_sdk_s3::types::ObjectIdentifier::builder()
                .key("report.csv")
                .build()
                .unwrap(),
        )
        .build()
        .unwrap();
    denied(alice.client.delete_objects().bucket(B).delete(many).send().await);
    assert_eq!(get(&bob.client, B, "report.csv").await, b"a,b,c");
    put(&bob.client, B, "still-writable", b"x".to_vec()).await;
}

#[tokio::test]
async fn the_seed_policy_shape_scopes_renames_to_an_org() {
    let (gw, alice, _bob, carol) = two_orgs().await;
    let dave = create_user(&gw, "dave", "team-c");
    // Seed 004's example, for team-b.
    put_policy(
        &alice.client,
        serde_json::json!({"policy": {
            "version": "v1alpha1",
            "name": "allow-rename-object-within-bucket",
            "Statement": [{
                "name": "AllowRenameObjectWithinBucket",
                "effect": "Allow",
                "principals": ["*"],
                "actions": ["s3:PutObject", "s3:DeleteObject"],
                "resources": [format!("{B}/*")],
                "conditions": {"StringEquals": {"cw:PrincipalOrgID": ["team-b"]}}
            }]
        }}),
    )
    .await;
    let rename = |c: &Client, from: &str, to: &str| {
        c.rename_object()
            .bucket(B)
            .key(to)
            .rename_source(format!("/{B}/{from}"))
            .send()
    };
    denied(rename(&dave.client, "report.csv", "by-dave.csv").await);
    assert!(
        rename(&carol.client, "report.csv", "final/report.csv")
            .await
            .is_ok()
    );
    let keys: Vec<String> = snapshot(&alice.client, B)
        .await
        .into_iter()
        .map(|(k, _)| k)
        .collect();
    assert_eq!(keys, vec!["final/report.csv".to_owned()]);
}

#[tokio::test]
async fn a_read_only_key_scoped_to_a_bucket_reads_it_and_nothing_else() {
    let (gw, alice, _bob, _carol) = two_orgs().await;
    create_bucket(&alice.client, "other").await;
    let out = admin(
        &gw,
        &["key", "create", "alice", "--bucket", B, "--access", "read-only"],
    )
    .unwrap();
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let reader = gw.client_for(
        v["accessKeyId"].as_str().unwrap(),
        v["secretAccessKey"].as_str().unwrap(),
    );
    assert_eq!(get(&reader, B, "report.csv").await, b"a,b,c");
    denied(
        reader
            .put_object()
            .bucket(B)
            .key("x")
            .body(ByteStream::from_static(b"x"))
            .send()
            .await,
    );
    denied(reader.list_objects_v2().bucket("other").send().await);
    denied(reader.delete_bucket().bucket(B).send().await);
}

#[tokio::test]
async fn invalid_policies_are_malformed_policy_with_a_reason() {
    let (_gw, alice, _bob, _carol) = two_orgs().await;
    let bad = serde_json::json!({"Version": "2012-10-17", "Statement": [{"Effect": "Maybe", "Principal": "*",
        "Action": "s3:GetObject", "Resource": format!("arn:aws:s3:::{B}/*")}]});
    let r = alice
        .client
        .put_bucket_policy()
        .bucket(B)
        .policy(bad.to_string())
        .send()
        .await;
    let e = r.unwrap_err();
    let message = e
        .as_service_error()
        .and_then(|s| aws_sdk_s3::error::ProvideErrorMetadata::message(s))
        .map(str::to_owned);
    assert_eq!(s3_error(e), ("MalformedPolicy".to_owned(), 400));
    assert!(
        message.unwrap_or_default().contains("Effect"),
        "the message names the problem"
    );
    let other_bucket = serde_json::json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": "*",
        "Action": "s3:GetObject", "Resource": "arn:aws:s3:::someone-else/*"}]});
    assert_s3_error(
        alice
            .client
            .put_bucket_policy()
            .bucket(B)
            .policy(other_bucket.to_string())
            .send()
            .await,
        "MalformedPolicy",
        400,
    );
    // Allow with NotPrincipal would grant everyone but the named org, anonymous callers too;
    // AWS does not support it.
    let everyone_else = serde_json::json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
        "NotPrincipal": {"AWS": "arn:aws:iam::team-b:root"}, "Action": "s3:ListBucket",
        "Resource": format!("arn:aws:s3:::{B}")}]});
    assert_s3_error(
        alice
            .client
            .put_bucket_policy()
            .bucket(B)
            .policy(everyone_else.to_string())
            .send()
            .await,
        "MalformedPolicy",
        400,
    );
    assert_s3_error(
        alice.client.get_bucket_policy().bucket(B).send().await,
        "NoSuchBucketPolicy",
        404,
    );
    let deny_everyone_else = serde_json::json!({"Version": "2012-10-17", "Statement": [{"Effect": "Deny",
        "NotPrincipal": {"AWS": "arn:aws:iam::team-a:root"}, "Action": "s3:DeleteObject",
        "Resource": format!("arn:aws:s3:::{B}/*")}]});
    put_policy(&alice.client, deny_everyone_else).await;
}

#[tokio::test]
async fn a_policy_reads_back_and_is_gone_after_delete() {
    let (_gw, alice, _bob, carol) = two_orgs().await;
    let doc = serde_json::json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
        "Principal": {"AWS": ["team-b"]}, "Action": "s3:GetObject", "Resource": format!("arn:aws:s3:::{B}/*")}]});
    put_policy(&alice.client, doc.clone()).await;
    let got = alice
        .client
        .get_bucket_policy()
        .bucket(B)
        .send()
        .await
        .unwrap()
        .policy
        .unwrap();
    assert_eq!(serde_json::from_str::<serde_json::Value>(&got).unwrap(), doc);
    assert_eq!(get(&carol.client, B, "report.csv").await, b"a,b,c");
    alice
        .client
        .delete_bucket_policy()
        .bucket(B)
        .send()
        .await
        .unwrap();
    denied(carol.client.get_object().bucket(B).key("report.csv").send().await);
}

#[tokio::test]
async fn the_admin_api_is_for_root_and_deleted_keys_stop_working() {
    let (gw, alice, _bob, carol) = two_orgs().await;
    // A user of another org cannot administer the store.
    let users = gw
        .raw()
        .request(Method::GET, "/_stowage/admin/v1/users")
        .credentials(&carol.key, &carol.secret)
        .send()
        .await;
    assert_raw_error(&users, "AccessDenied", 403);
    let listed: serde_json::Value = serde_json::from_str(&admin(&gw, &["user", "list"]).unwrap()).unwrap();
    assert_eq!(listed["users"].as_array().unwrap().len(), 3);
    admin(&gw, &["key", "delete", "alice", &alice.key]).unwrap();
    let after = alice.client.list_objects_v2().bucket(B).send().await;
    assert_s3_error(after, "InvalidAccessKeyId", 403);
    assert!(
        admin(&gw, &["user", "create", "bob", "--org", "team-a"])
            .unwrap_err()
            .contains("EntityAlreadyExists")
    );
}

#[tokio::test]
async fn secrets_are_not_stored_in_clear() {
    let (gw, _alice, _bob, carol) = two_orgs().await;
    let mut found = false;
    for entry in walk(&gw.data_dir().join("meta")) {
        let bytes = std::fs::read(&entry).unwrap_or_default();
        found |= bytes
            .windows(carol.secret.len())
            .any(|w| w == carol.secret.as_bytes());
    }
    assert!(
        !found,
        "an access key secret appears in clear in the metadata files"
    );
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p))
        } else {
            out.push(p)
        }
    }
    out
}

#[tokio::test]
async fn condition_keys_from_the_request_decide_and_a_wide_resource_is_accepted() {
    let (gw, alice, _bob, carol) = two_orgs().await;
    put_policy(
        &alice.client,
        serde_json::json!({
            "Version": "2012-10-17",
            "Statement": [
                {"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::team-b:root"}, "Action": "s3:PutObject",
                 "Resource": "arn:aws:s3:::*",
                 "Condition": {"StringEquals": {"s3:x-amz-acl": "bucket-owner-full-control",
                                                "s3:RequestObjectTag/team": "b"}}},
                {"Effect": "Deny", "Principal": "*", "Action": "s3:GetObject",
                 "Resource": format!("arn:aws:s3:::{B}/*"),
                 "Condition": {"StringLike": {"aws:UserAgent": "*blocked-agent*"}}}
            ]
        }),
    )
    .await;
    let carol_put = |key: &'static str, acl: bool, tagging: &'static str| {
        let c = carol.client.clone();
        async move {
            c.put_object()
                .bucket(B)
                .key(key)
                .set_acl(acl.then_some(aws_sdk_s3::types::ObjectCannedAcl::BucketOwnerFullControl))
                .tagging(tagging)
                .body(ByteStream::from_static(b"x"))
                .send()
                .await
        }
    };

    carol_put("both", true, "team=b")
        .await
        .expect("both conditions hold");
    denied(carol_put("no-acl", false, "team=b").await);
    denied(carol_put("other-team", true, "team=c").await);
    let blocked = gw
        .raw()
        .request(Method::GET, &format!("/{B}/report.csv"))
        .header("user-agent", "blocked-agent/1.0")
        .credentials(&alice.key, &alice.secret)
        .send()
        .await;
    let allowed = gw
        .raw()
        .request(Method::GET, &format!("/{B}/report.csv"))
        .header("user-agent", "fine-agent/1.0")
        .credentials(&alice.key, &alice.secret)
        .send()
        .await;

    assert_raw_error(&blocked, "AccessDenied", 403);
    assert_eq!(allowed.status, 200);
    let keys: Vec<String> = snapshot(&alice.client, B)
        .await
        .into_iter()
        .map(|(k, _)| k)
        .collect();
    assert_eq!(keys, ["both", "report.csv"]);
}

fn public_read() -> serde_json::Value {
    serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
                       "Resource": format!("arn:aws:s3:::{B}/*")}]
    })
}

fn block(policy: bool, restrict: bool) -> aws_sdk_s3::types::PublicAccessBlockConfiguration {
    aws_sdk_s3::types::PublicAccessBlockConfiguration::builder()
        .block_public_policy(policy)
        .restrict_public_buckets(restrict)
        .build()
}

async fn put_block(c: &Client, policy: bool, restrict: bool) {
    c.put_public_access_block()
        .bucket(B)
        .public_access_block_configuration(block(policy, restrict))
        .send()
        .await
        .expect("put public access block");
}

async fn is_public(c: &Client) -> Option<bool> {
    let status = c.get_bucket_policy_status().bucket(B).send().await.unwrap();
    status.policy_status.and_then(|s| s.is_public)
}

#[tokio::test]
async fn block_public_policy_refuses_a_public_policy_and_policy_status_tells_which_is() {
    let (_gw, alice, _bob, _carol) = two_orgs().await;
    let c = &alice.client;
    put_block(c, true, false).await;
    let read = c.get_public_access_block().bucket(B).send().await.unwrap();
    let config = read.public_access_block_configuration.unwrap();
    assert_eq!(
        (config.block_public_policy, config.restrict_public_buckets),
        (Some(true), Some(false))
    );

    let refused = c
        .put_bucket_policy()
        .bucket(B)
        .policy(public_read().to_string())
        .send()
        .await;
    assert_s3_error(refused, "AccessDenied", 403);
    let from_the_office = serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
                       "Resource": format!("arn:aws:s3:::{B}/*"),
                       "Condition": {"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}}}]
    });
    put_policy(c, from_the_office).await;
    assert_eq!(is_public(c).await, Some(false));

    c.delete_public_access_block().bucket(B).send().await.unwrap();
    assert_s3_error(
        c.get_public_access_block().bucket(B).send().await,
        "NoSuchPublicAccessBlockConfiguration",
        404,
    );
    put_policy(c, public_read()).await;
    assert_eq!(is_public(c).await, Some(true));
}

#[tokio::test]
async fn restrict_public_buckets_ignores_a_public_policy_outside_the_owning_org() {
    let (gw, alice, bob, carol) = two_orgs().await;
    put_policy(&alice.client, public_read()).await;
    let anonymous_get = || {
        gw.raw()
            .request(Method::GET, &format!("/{B}/report.csv"))
            .anonymous()
            .send()
    };
    assert_eq!(anonymous_get().await.status, 200);

    put_block(&alice.client, false, true).await;

    assert_raw_error(&anonymous_get().await, "AccessDenied", 403);
    denied(carol.client.get_object().bucket(B).key("report.csv").send().await);
    assert_eq!(get(&bob.client, B, "report.csv").await, b"a,b,c");
}

#[tokio::test]
async fn request_object_tags_of_put_object_tagging_come_from_its_body() {
    let (_gw, alice, _bob, carol) = two_orgs().await;
    put_policy(
        &alice.client,
        serde_json::json!({
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::team-b:root"},
                           "Action": "s3:PutObjectTagging", "Resource": format!("arn:aws:s3:::{B}/*"),
                           "Condition": {"StringEquals": {"s3:RequestObjectTag/team": "b"},
                                         "ForAllValues:StringEquals": {"s3:RequestObjectTagKeys": ["team"]}}}]
        }),
    )
    .await;
    let tag = |value: &str| {
        let tagging = aws_sdk_s3::types::Tagging::builder()
            .tag_set(
                aws_sdk_s3::types::Tag::builder()
                    .key("team")
                    .value(value)
                    .build()
                    .unwrap(),
            )
            .build()
            .unwrap();
        carol
            .client
            .put_object_tagging()
            .bucket(B)
            .key("report.csv")
            .tagging(tagging)
            .send()
    };

    denied(tag("c").await);
    tag("b").await.expect("the tag the policy asks for");

    let tags = alice
        .client
        .get_object_tagging()
        .bucket(B)
        .key("report.csv")
        .send()
        .await
        .unwrap();
    assert_eq!(tags.tag_set().len(), 1);
    assert_eq!(tags.tag_set()[0].value(), "b");
}

#[tokio::test]
async fn a_delete_conditional_on_the_etag_also_needs_get_object() {
    let (_gw, alice, _bob, carol) = two_orgs().await;
    put(&alice.client, B, "other.csv", b"x".to_vec()).await;
    put_policy(
        &alice.client,
        serde_json::json!({
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::team-b:root"},
                           "Action": "s3:DeleteObject", "Resource": format!("arn:aws:s3:::{B}/*")}]
        }),
    )
    .await;
    let etag = head_etag(&alice.client, B, "report.csv").await.unwrap();

    denied(
        carol
            .client
            .delete_object()
            .bucket(B)
            .key("report.csv")
            .if_match(&etag)
            .send()
            .await,
    );
    carol
        .client
        .delete_object()
        .bucket(B)
        .key("other.csv")
        .send()
        .await
        .expect("an unconditional delete needs s3:DeleteObject only");

    let keys: Vec<String> = snapshot(&alice.client, B)
        .await
        .into_iter()
        .map(|(k, _)| k)
        .collect();
    assert_eq!(keys, ["report.csv"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_stored_policy_that_no_longer_parses_denies_until_it_is_replaced() {
    use gateway::meta::MetaStore as _;
    if tikv_store_url().is_some() {
        return; // the record is damaged through the embedded store's files
    }
    let (mut gw, alice, bob, _carol) = two_orgs().await;
    put_policy(
        &alice.client,
        serde_json::json!({
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Deny", "Principal": "*", "Action": "s3:DeleteObject",
                           "Resource": format!("arn:aws:s3:::{B}/*")}]
        }),
    )
    .await;
    gw.terminate();
    {
        // As a store written by another release might hold it: a policy this one cannot read.
        let meta = gateway::meta::fjall::EmbeddedStore::open(&gw.data_dir().join("meta")).unwrap();
        let mut txn = meta.begin().await.unwrap();
        let key = gateway::meta::keys::bucket(B);
        let mut record: serde_json::Value =
            serde_json::from_slice(&txn.get(&key).await.unwrap().unwrap()).unwrap();
        record["policy"] = serde_json::Value::String("{\"Statement\": \"not a policy\"}".into());
        txn.put(&key, &serde_json::to_vec(&record).unwrap())
            .await
            .unwrap();
        txn.commit().await.unwrap();
    }
    gw.restart();
    denied(
        bob.client
            .delete_object()
            .bucket(B)
            .key("report.csv")
            .send()
            .await,
    );
    denied(bob.client.get_object().bucket(B).key("report.csv").send().await);
    assert!(gw.log().contains("does not parse"), "the log says why");
    // The owner can still replace it, and then the new policy rules.
    alice
        .client
        .delete_bucket_policy()
        .bucket(B)
        .send()
        .await
        .expect("the owner removes the unreadable policy");
    assert_eq!(get(&bob.client, B, "report.csv").await, b"a,b,c");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_master_key_rotates_without_locking_anyone_out() {
    use base64::Engine as _;
    if tikv_store_url().is_some() {
        return; // the keys sit beside the embedded store here
    }
    let data_dir = tempfile::tempdir().unwrap();
    let old = data_dir.path().join("master.key");
    let new = data_dir.path().join("new.key");
    let new_key = base64::engine::general_purpose::STANDARD.encode(rand::random::<[u8; 32]>());
    std::fs::write(&new, new_key).unwrap();
    let mut first = Gateway::start_with(
        bin(),
        GatewayOptions {
            data_dir: Some(data_dir.path().to_owned()),
            ..Default::default()
        },
    );
    let alice = create_user(&first, "alice", "team-a");
    create_bucket(&alice.client, B).await;
    put(&alice.client, B, "k", b"v".to_vec()).await;
    first.terminate();
    let start = |args: &[&std::path::Path]| {
        let mut argv = vec!["--master-key-file".to_owned(), args[0].display().to_string()];
        for extra in &args[1..] {
            argv.extend(["--extra-master-key-file".to_owned(), extra.display().to_string()]);
        }
        let mut gw = Gateway::try_start_with(
            bin(),
            GatewayOptions {
                args: argv,
                env: vec![
                    ("STOWAGE_ROOT_ACCESS_KEY_ID".to_owned(), first.access_key.clone()),
                    (
                        "STOWAGE_ROOT_SECRET_ACCESS_KEY".to_owned(),
                        first.secret_key.clone(),
                    ),
                ],
                data_dir: Some(data_dir.path().to_owned()),
                ..Default::default()
            },
        )?;
        gw.access_key = first.access_key.clone();
        gw.secret_key = first.secret_key.clone();
        Ok::<_, e2e::StartError>(gw)
    };
    for (step, keys) in [
        ("new key as an extra", vec![old.as_path(), new.as_path()]),
        (
            "new key sealing, old as an extra",
            vec![new.as_path(), old.as_path()],
        ),
        ("new key alone", vec![new.as_path()]),
    ] {
        let mut gw = start(&keys).unwrap_or_else(|e| panic!("{step}: {e}"));
        let client = gw.client_for(&alice.key, &alice.secret);
        assert_eq!(
            get(&client, B, "k").await,
            b"v",
            "{step}: alice's key still works"
        );
        gw.terminate();
    }
    match start(&[old.as_path()]) {
        Err(e2e::StartError::Exited { log, .. }) => assert!(log.contains("does not open"), "{log}"),
        other => panic!("the retired key must not open the store: {other:?}"),
    }
}

/// A GET whose Range is ignored (see `s3_objects`) is still decided for the caller who signed
/// it: denied for carol until a policy names her, then allowed as her, not as anyone else.
#[tokio::test]
async fn an_ignored_range_is_authorized_as_its_signer() {
    let (gw, alice, _bob, carol) = two_orgs().await;
    let as_carol = || {
        gw.raw()
            .request(Method::GET, &format!("/{B}/report.csv"))
            .header("range", "bytes=abc")
            .credentials(&carol.key, &carol.secret)
    };
    assert_raw_error(&as_carol().send().await, "AccessDenied", 403);

    put_policy(
        &alice.client,
        serde_json::json!({
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::team-b:user/carol"},
                           "Action": "s3:GetObject", "Resource": format!("arn:aws:s3:::{B}/*")}]
        }),
    )
    .await;
    let allowed = as_carol().send().await;
    assert_eq!(
        (allowed.status, &allowed.body[..]),
        (200, &b"a,b,c"[..]),
        "{}",
        allowed.text()
    );

    // Carol may read, not write: the replay does not widen what the first pass proved.
    let head_other = gw
        .raw()
        .request(Method::GET, &format!("/{B}?list-type=2"))
        .header("range", "bytes=abc")
        .credentials(&carol.key, &carol.secret)
        .send()
        .await;
    assert_raw_error(&head_other, "AccessDenied", 403);
}
