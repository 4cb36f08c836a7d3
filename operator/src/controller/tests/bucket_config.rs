use kube::runtime::controller::Action;
use serde_json::{Value, json};

use super::*;
use crate::controller::bucket_config::reconcile;
use crate::controller::{Error, RESYNC};
use crate::crd::{BucketPolicy, Effect, Expiration, LifecycleRule};
use crate::fixtures::api_server::{self, Expect, list_of, stowage_path};
use crate::fixtures::fake_store::{FakeStore, s3_error};
use crate::fixtures::{self, policy, rule, rule_spec, statement};

fn get_bucket() -> Expect {
    Expect::get(stowage_path("buckets", Some("logs"))).respond(fixtures::created_bucket("logs", "photos"))
}

fn get_store() -> Expect {
    Expect::get(stowage_path("objectstores", Some("photos"))).respond(fixtures::ready_store("photos"))
}

fn finalized<K: kube::Resource>(mut obj: K, finalizer: &str) -> K {
    obj.meta_mut().finalizers = Some(vec![finalizer.to_owned()]);
    obj
}

fn deleting<K: kube::Resource>(mut obj: K) -> K {
    obj.meta_mut().deletion_timestamp = obj.meta().creation_timestamp.clone();
    obj
}

fn read_policy() -> BucketPolicy {
    policy(
        "read",
        "logs",
        vec![statement(Some("Read"), Effect::Allow, &["s3:GetObject"])],
    )
}

fn deny_policy() -> BucketPolicy {
    policy(
        "deny",
        "logs",
        vec![statement(Some("NoDelete"), Effect::Deny, &["s3:DeleteObject"])],
    )
}

fn ok_store() -> impl Fn(&crate::fixtures::fake_store::Call) -> (u16, String) {
    |_| (204, String::new())
}

fn sids(body: &str) -> Vec<String> {
    let policy: Value = serde_json::from_str(body).expect("policy JSON");
    policy["Statement"]
        .as_array()
        .expect("statements")
        .iter()
        .map(|s| s["Sid"].as_str().expect("sid").to_owned())
        .collect()
}

#[tokio::test]
async fn a_policy_is_merged_with_its_siblings_and_put() {
    let store = FakeStore::start(ok_store()).await;
    let new = read_policy();
    let other_bucket = policy(
        "elsewhere",
        "other",
        vec![statement(Some("X"), Effect::Allow, &["s3:*"])],
    );
    let (client, server) = api_server::client();
    let verifier = server.run(vec![
        Expect::patch(stowage_path("bucketpolicies", Some("read")))
            .respond(finalized(new.clone(), "stowage.dev/bucket-policy")),
        get_bucket(),
        get_store(),
        get_admin_secret(),
        Expect::get(stowage_path("bucketpolicies", None)).respond(list_of(
            "BucketPolicy",
            &[new.clone(), deny_policy(), other_bucket],
        )),
        event(),
        status_patch(stowage_path("bucketpolicies", Some("read/status")), &new),
    ]);

    let action = reconcile(new.into(), context(client, Some(&store.url)))
        .await
        .expect("reconciled");
    let seen = verifier.await.expect("script");

    assert_eq!(action, Action::requeue(RESYNC));
    assert_eq!(
        seen[0].body["metadata"]["finalizers"],
        json!(["stowage.dev/bucket-policy"])
    );
    assert_eq!(store.lines(), ["PUT /logs?policy"]);
    assert_eq!(
        sids(&store.calls()[0].body),
        ["NoDelete", "Read"],
        "both policies of logs, by name"
    );
    assert_eq!(reason(&seen[5]), "Reconciled");
    let status = &seen[6];
    assert_eq!(
        status.ready()["message"],
        "applied to bucket logs in store photos"
    );
    assert_eq!(status.status()["bucketName"], "logs");
    assert_eq!(status.status()["store"], "photos");
}

#[tokio::test]
async fn deleting_a_policy_re_applies_the_others() {
    let store = FakeStore::start(ok_store()).await;
    let going = deleting(finalized(read_policy(), "stowage.dev/bucket-policy"));
    let (client, server) = api_server::client();
    let verifier = server.run(vec![
        get_bucket(),
        get_store(),
        get_admin_secret(),
        Expect::get(stowage_path("bucketpolicies", None))
            .respond(list_of("BucketPolicy", &[going.clone(), deny_policy()])),
        event(),
        Expect::patch(stowage_path("bucketpolicies", Some("read"))).respond(&going),
    ]);

    reconcile(going.into(), context(client, Some(&store.url)))
        .await
        .expect("released");
    let seen = verifier.await.expect("script");
    assert_eq!(store.lines(), ["PUT /logs?policy"]);
    assert_eq!(sids(&store.calls()[0].body), ["NoDelete"]);
    assert_eq!(reason(&seen[4]), "Removed");
    assert_eq!(seen[5].body["metadata"]["finalizers"], json!([]));
}

#[tokio::test]
async fn deleting_the_last_policy_deletes_the_bucket_policy() {
    let store = FakeStore::start(|_| (404, s3_error("NoSuchBucketPolicy"))).await;
    let going = deleting(finalized(read_policy(), "stowage.dev/bucket-policy"));
    let (client, server) = api_server::client();
    let verifier = server.run(vec![
        get_bucket(),
        get_store(),
        get_admin_secret(),
        Expect::get(stowage_path("bucketpolicies", None))
            .respond(list_of("BucketPolicy", std::slice::from_ref(&going))),
        event(),
        Expect::patch(stowage_path("bucketpolicies", Some("read"))).respond(&going),
    ]);
    reconcile(going.into(), context(client, Some(&store.url)))
        .await
        .expect("released");
    verifier.await.expect("script");
    assert_eq!(store.lines(), ["DELETE /logs?policy"]);
}

#[tokio::test]
async fn a_policy_for_a_missing_bucket_waits_and_is_released_when_deleted() {
    let waiting = finalized(read_policy(), "stowage.dev/bucket-policy");
    let (client, server) = api_server::client();
    let verifier = server.run(vec![
        Expect::get(stowage_path("buckets", Some("logs"))).not_found(),
        event(),
        status_patch(stowage_path("bucketpolicies", Some("read/status")), &waiting),
    ]);
    let err = reconcile(waiting.clone().into(), context(client, None))
        .await
        .expect_err("no bucket");
    let seen = verifier.await.expect("script");
    assert!(matches!(err, Error::BucketNotFound(_)), "{err}");
    assert_eq!(
        (reason(&seen[1]), event_type(&seen[1])),
        ("BucketNotFound", "Warning")
    );
    assert_eq!(
        seen[2].ready()["message"],
        "Bucket \"logs\" not found in this namespace"
    );

    let going = deleting(waiting);
    let (client, server) = api_server::client();
    let verifier = server.run(vec![
        Expect::get(stowage_path("buckets", Some("logs"))).not_found(),
        Expect::patch(stowage_path("bucketpolicies", Some("read"))).respond(&going),
    ]);
    reconcile(going.into(), context(client, None))
        .await
        .expect("released");
    verifier.await.expect("script");
}

#[tokio::test]
async fn a_policy_whose_statement_ids_collide_is_refused_while_the_rest_apply() {
    let store = FakeStore::start(ok_store()).await;
    let clash = finalized(
        policy(
            "zz-clash",
            "logs",
            vec![statement(Some("Read"), Effect::Deny, &["s3:GetObject"])],
        ),
        "stowage.dev/bucket-policy",
    );
    let (client, server) = api_server::client();
    let verifier = server.run(vec![
        get_bucket(),
        get_store(),
        get_admin_secret(),
        Expect::get(stowage_path("bucketpolicies", None))
            .respond(list_of("BucketPolicy", &[read_policy(), clash.clone()])),
        event(),
        status_patch(stowage_path("bucketpolicies", Some("zz-clash/status")), &clash),
    ]);
    let err = reconcile(clash.into(), context(client, Some(&store.url)))
        .await
        .expect_err("conflict");
    let seen = verifier.await.expect("script");
    assert!(matches!(err, Error::Conflict(_)), "{err}");
    assert_eq!(sids(&store.calls()[0].body), ["Read"]);
    assert_eq!(
        seen[5].ready()["message"],
        "left out of bucket logs's configuration: statement id \"Read\" is already used by another BucketPolicy"
    );
}

#[tokio::test]
async fn a_store_that_refuses_the_document_is_reported() {
    let store = FakeStore::start(|_| (400, s3_error("MalformedPolicy"))).await;
    let existing = finalized(read_policy(), "stowage.dev/bucket-policy");
    let (client, server) = api_server::client();
    let verifier = server.run(vec![
        get_bucket(),
        get_store(),
        get_admin_secret(),
        Expect::get(stowage_path("bucketpolicies", None))
            .respond(list_of("BucketPolicy", std::slice::from_ref(&existing))),
        event(),
        status_patch(stowage_path("bucketpolicies", Some("read/status")), &existing),
    ]);
    let err = reconcile(existing.into(), context(client, Some(&store.url)))
        .await
        .expect_err("refused");
    let seen = verifier.await.expect("script");
    assert!(matches!(err, Error::StoreRejected(_)), "{err}");
    assert_eq!(seen[5].ready()["reason"], "StoreRejected");
    assert_eq!(
        seen[5].ready()["message"],
        "store answered 400 MalformedPolicy: mocked MalformedPolicy"
    );
}

fn expire_tmp() -> LifecycleRule {
    let mut spec = rule_spec("logs");
    spec.filter = Some(crate::crd::LifecycleFilter {
        prefix: Some("tmp/".into()),
        ..Default::default()
    });
    spec.expiration = Some(Expiration {
        days: Some(7),
        ..Default::default()
    });
    rule("expire-tmp", spec)
}

fn abort_uploads() -> LifecycleRule {
    let mut spec = rule_spec("logs");
    spec.abort_incomplete_multipart_upload = Some(crate::crd::AbortIncompleteMultipartUpload {
        days_after_initiation: 1,
    });
    rule("abort-uploads", spec)
}

#[tokio::test]
async fn lifecycle_rules_of_a_bucket_become_one_configuration() {
    let store = FakeStore::start(ok_store()).await;
    let new = finalized(expire_tmp(), "stowage.dev/lifecycle-rule");
    let (client, server) = api_server::client();
    let verifier = server.run(vec![
        get_bucket(),
        get_store(),
        get_admin_secret(),
        Expect::get(stowage_path("lifecyclerules", None))
            .respond(list_of("LifecycleRule", &[new.clone(), abort_uploads()])),
        event(),
        status_patch(stowage_path("lifecyclerules", Some("expire-tmp/status")), &new),
    ]);
    reconcile(new.into(), context(client, Some(&store.url)))
        .await
        .expect("reconciled");
    let seen = verifier.await.expect("script");
    assert_eq!(store.lines(), ["PUT /logs?lifecycle"]);
    let xml = &store.calls()[0].body;
    let abort = xml.find("<ID>abort-uploads</ID>").expect("abort rule");
    let expire = xml.find("<ID>expire-tmp</ID>").expect("expire rule");
    assert!(abort < expire, "{xml}");
    assert!(xml.contains("<Filter><Prefix>tmp/</Prefix></Filter><Status>Enabled</Status><Expiration><Days>7</Days></Expiration>"), "{xml}");
    assert_eq!(seen[5].status()["ruleId"], "expire-tmp");
    assert_eq!(seen[5].status()["bucketName"], "logs");
}

#[tokio::test]
async fn deleting_one_rule_re_applies_the_rest_and_the_last_deletes_the_configuration() {
    let store = FakeStore::start(|c| match c.method.as_str() {
        "DELETE" => (404, s3_error("NoSuchLifecycleConfiguration")),
        _ => (200, String::new()),
    })
    .await;
    let going = deleting(finalized(expire_tmp(), "stowage.dev/lifecycle-rule"));
    let (client, server) = api_server::client();
    let verifier = server.run(vec![
        get_bucket(),
        get_store(),
        get_admin_secret(),
        Expect::get(stowage_path("lifecyclerules", None))
            .respond(list_of("LifecycleRule", &[going.clone(), abort_uploads()])),
        event(),
        Expect::patch(stowage_path("lifecyclerules", Some("expire-tmp"))).respond(&going),
    ]);
    reconcile(going.into(), context(client, Some(&store.url)))
        .await
        .expect("released");
    verifier.await.expect("script");
    let xml = store.calls()[0].body.clone();
    assert!(
        xml.contains("<ID>abort-uploads</ID>") && !xml.contains("expire-tmp"),
        "{xml}"
    );

    let last = deleting(finalized(abort_uploads(), "stowage.dev/lifecycle-rule"));
    let (client, server) = api_server::client();
    let verifier = server.run(vec![
        get_bucket(),
        get_store(),
        get_admin_secret(),
        Expect::get(stowage_path("lifecyclerules", None))
            .respond(list_of("LifecycleRule", std::slice::from_ref(&last))),
        event(),
        Expect::patch(stowage_path("lifecyclerules", Some("abort-uploads"))).respond(&last),
    ]);
    reconcile(last.into(), context(client, Some(&store.url)))
        .await
        .expect("released");
    verifier.await.expect("script");
    assert_eq!(store.lines(), ["PUT /logs?lifecycle", "DELETE /logs?lifecycle"]);
}
