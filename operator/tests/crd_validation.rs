//! What the API server accepts and refuses, asked of the API server itself (`KUBECONFIG`; the
//! tests skip with a notice without one): every schema rule of the CRDs (patterns, lengths,
//! bounds, enums, required fields, CEL rules, immutability) is tried with server-side dry runs,
//! and the verdict is the server's. The bucket-name table is also checked against
//! `BucketName::parse`, so the schema and the operator agree on every case.

mod common;

use std::sync::atomic::{AtomicU32, Ordering};

use common::cluster::{self, dynamic, dynamic_api};
use kube::api::{Api, DynamicObject, PostParams};
use kube::core::NamespaceResourceScope;
use kube::{Client, Resource};
use operator::bucket_name::BucketName;
use operator::crd::{Bucket, BucketPolicy, LifecycleRule, ObjectStore};
use serde_json::{Value, json};

/// A namespace of the test cluster in which objects are tried.
struct Server {
    client: Client,
    namespace: String,
}

impl Server {
    async fn connect(test: &str) -> Option<Self> {
        let client = cluster::connect().await?;
        let namespace = cluster::namespace(&client, test).await;
        Some(Self { client, namespace })
    }

    fn api(&self, kind: &str) -> Api<DynamicObject> {
        fn of<K: Resource<DynamicType = (), Scope = NamespaceResourceScope>>(
            s: &Server,
        ) -> Api<DynamicObject> {
            dynamic_api::<K>(&s.client, &s.namespace)
        }
        match kind {
            "ObjectStore" => of::<ObjectStore>(self),
            "Bucket" => of::<Bucket>(self),
            "BucketPolicy" => of::<BucketPolicy>(self),
            "LifecycleRule" => of::<LifecycleRule>(self),
            other => panic!("not a stowage.dev kind: {other}"),
        }
    }

    /// The server's verdict on creating `object` (a dry run: nothing is stored).
    async fn admit(&self, mut object: Value) -> Result<(), String> {
        object["metadata"]["namespace"] = json!(self.namespace);
        let api = self.api(object["kind"].as_str().expect("kind"));
        api.create(&dry_run(), &dynamic(object))
            .await
            .map(drop)
            .map_err(|e| e.to_string())
    }

    /// The server's verdict on changing `old` (created for real, under a fresh name) into `new`.
    async fn admit_update(&self, mut old: Value, mut new: Value) -> Result<(), String> {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let name = format!("updated-{}", NEXT.fetch_add(1, Ordering::Relaxed));
        for object in [&mut old, &mut new] {
            object["metadata"]["name"] = json!(name);
            object["metadata"]["namespace"] = json!(self.namespace);
        }
        let api = self.api(old["kind"].as_str().expect("kind"));
        let created = api
            .create(&PostParams::default(), &dynamic(old))
            .await
            .expect("the old object is admitted");
        new["metadata"]["resourceVersion"] = json!(created.metadata.resource_version);
        api.replace(&name, &dry_run(), &dynamic(new))
            .await
            .map(drop)
            .map_err(|e| e.to_string())
    }

    async fn refused_with(&self, object: Value, needle: &str) {
        let shown = object.to_string();
        let error = self
            .admit(object)
            .await
            .expect_err(&format!("should be refused: {shown}"));
        assert!(
            error.contains(needle),
            "expected the refusal to mention {needle:?}, got: {error}"
        );
    }

    async fn update_refused_with(&self, old: Value, new: Value, needle: &str) {
        let shown = new.to_string();
        let error = self
            .admit_update(old, new)
            .await
            .expect_err(&format!("update should be refused: {shown}"));
        assert!(
            error.contains(needle),
            "expected the refusal to mention {needle:?}, got: {error}"
        );
    }

    async fn delete_namespace(self) {
        cluster::delete_namespace(&self.client, &self.namespace).await;
    }
}

fn dry_run() -> PostParams {
    PostParams {
        dry_run: true,
        ..PostParams::default()
    }
}

fn object(kind: &str, name: &str, spec: Value) -> Value {
    json!({
        "apiVersion": "stowage.dev/v1alpha1",
        "kind": kind,
        "metadata": {"name": name},
        "spec": spec,
    })
}

/// The server compiles every CEL rule and estimates its cost when a CRD is created or updated,
/// and refuses the CRD if a rule does not compile, uses a variable out of scope or may exceed
/// the cost budget: `connect` applies the generated CRDs and waits until they are served.
#[tokio::test]
async fn every_crd_is_accepted_and_served_by_the_api_server() {
    let Some(client) = cluster::connect().await else {
        return;
    };
    let crds: Api<
        k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition,
    > = Api::all(client);
    for crd in operator::crd::all() {
        let name = crd.metadata.name.expect("name");
        let served = crds.get(&name).await.expect("applied");
        let rules = serde_json::to_string(&served.spec)
            .expect("JSON")
            .matches("\"rule\"")
            .count();
        let expected = serde_json::to_string(&crd.spec)
            .expect("JSON")
            .matches("\"rule\"")
            .count();
        assert_eq!(rules, expected, "{name}: the server kept every CEL rule");
    }
}

#[tokio::test]
async fn every_sample_is_admitted_and_parses() {
    let Some(server) = Server::connect("crd-samples").await else {
        return;
    };
    let dir = common::repo().join("config/samples");
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).expect("config/samples") {
        let path = entry.expect("entry").path();
        if path.extension().and_then(|e| e.to_str()) != Some("yaml") || path.ends_with("kustomization.yaml") {
            continue;
        }
        let value = common::yaml_documents(&path).remove(0);
        let kind = value["kind"].as_str().expect("kind").to_owned();
        server
            .admit(value.clone())
            .await
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let typed = match kind.as_str() {
            "ObjectStore" => serde_json::from_value::<ObjectStore>(value).map(drop),
            "Bucket" => serde_json::from_value::<Bucket>(value).map(drop),
            "BucketPolicy" => serde_json::from_value::<BucketPolicy>(value).map(drop),
            "LifecycleRule" => serde_json::from_value::<LifecycleRule>(value).map(drop),
            other => panic!("unexpected kind {other}"),
        };
        typed.unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        seen += 1;
    }
    assert_eq!(seen, 4, "one sample of each kind");
    server.delete_namespace().await;
}

/// Names with the rule each breaks (`None`: valid).
const NAMES: &[(&str, Option<&str>)] = &[
    ("abc", None),
    ("my-bucket-1", None),
    ("0ab", None),
    ("in-t", None),
    ("intx", None),
    ("xn-a", None),
    ("cwx-data", None),
    ("ab", Some("Length")),
    ("My-bucket", Some("Characters")),
    ("my.bucket", Some("Characters")),
    ("my_bucket", Some("Characters")),
    ("-abc", Some("Edges")),
    ("abc-", Some("Edges")),
    ("xn--abc", Some("ReservedPrefix")),
    ("cw-data", Some("ReservedPrefix")),
    ("vip-data", Some("ReservedPrefix")),
    ("log-stitcher-ch-1", Some("ReservedPrefix")),
    ("int", Some("ReservedName")),
];

#[tokio::test]
async fn bucket_name_is_validated_by_the_schema_as_by_the_operator() {
    let Some(server) = Server::connect("crd-bucket-name").await else {
        return;
    };
    let long_ok = "a".repeat(63);
    let too_long = "a".repeat(64);
    let names: Vec<(&str, Option<&str>)> = NAMES
        .iter()
        .copied()
        .chain([(long_ok.as_str(), None), (too_long.as_str(), Some("Length"))])
        .collect();
    for (name, broken) in names {
        let parsed = BucketName::parse(name);
        assert_eq!(
            parsed.is_ok(),
            broken.is_none(),
            "BucketName::parse({name:?}) = {parsed:?}"
        );
        let bucket = object(
            "Bucket",
            "some-bucket",
            json!({"storeRef": {"name": "s"}, "bucketName": name}),
        );
        let verdict = server.admit(bucket).await;
        assert_eq!(
            verdict.is_ok(),
            broken.is_none(),
            "spec.bucketName {name:?}: {verdict:?}"
        );
    }
    server.delete_namespace().await;
}

#[tokio::test]
async fn metadata_name_stands_in_for_a_missing_bucket_name_and_obeys_the_same_rules() {
    let Some(server) = Server::connect("crd-metadata-name").await else {
        return;
    };
    for (name, broken) in NAMES
        .iter()
        .copied()
        .filter(|(n, _)| !n.contains('_') && *n != "My-bucket")
    {
        // metadata.name is already a DNS subdomain: only names Kubernetes itself accepts apply.
        let bucket = object("Bucket", name, json!({"storeRef": {"name": "s"}}));
        let verdict = server.admit(bucket).await;
        assert_eq!(
            verdict.is_ok(),
            broken.is_none(),
            "metadata.name {name:?}: {verdict:?}"
        );
    }
    // A dotted object name is fine once spec.bucketName gives a valid bucket name.
    let dotted = object(
        "Bucket",
        "my.bucket",
        json!({"storeRef": {"name": "s"}, "bucketName": "my-bucket"}),
    );
    assert_eq!(server.admit(dotted).await, Ok(()));
    server
        .refused_with(
            object("Bucket", "cw-data", json!({"storeRef": {"name": "s"}})),
            "must not begin with xn--, cw-, vip-, log-stitcher-ch-",
        )
        .await;
    server.delete_namespace().await;
}

#[tokio::test]
async fn bucket_name_and_store_are_immutable() {
    let Some(server) = Server::connect("crd-immutable").await else {
        return;
    };
    let old = object(
        "Bucket",
        "b",
        json!({"storeRef": {"name": "s"}, "bucketName": "first"}),
    );
    let renamed = object(
        "Bucket",
        "b",
        json!({"storeRef": {"name": "s"}, "bucketName": "second"}),
    );
    server
        .update_refused_with(old.clone(), renamed, "bucketName is immutable")
        .await;
    let unset = object("Bucket", "b", json!({"storeRef": {"name": "s"}}));
    server
        .update_refused_with(old.clone(), unset, "bucketName is immutable")
        .await;
    let moved = object(
        "Bucket",
        "b",
        json!({"storeRef": {"name": "other"}, "bucketName": "first"}),
    );
    server
        .update_refused_with(old.clone(), moved, "storeRef is immutable")
        .await;
    let retagged = object(
        "Bucket",
        "b",
        json!({"storeRef": {"name": "s"}, "bucketName": "first", "tags": {"a": "b"}}),
    );
    assert_eq!(server.admit_update(old.clone(), retagged).await, Ok(()));
    server.delete_namespace().await;
}

#[tokio::test]
async fn bucket_enums_and_cross_field_rules() {
    let Some(server) = Server::connect("crd-bucket-enums").await else {
        return;
    };
    let spec = |extra: Value| {
        let mut spec = json!({"storeRef": {"name": "s"}});
        spec.as_object_mut()
            .expect("object")
            .extend(extra.as_object().expect("object").clone());
        object("Bucket", "b-1", spec)
    };
    server
        .refused_with(spec(json!({"versioning": "Off"})), "versioning")
        .await;
    server
        .refused_with(spec(json!({"deletionPolicy": "Purge"})), "deletionPolicy")
        .await;
    server
        .refused_with(
            spec(json!({"credentials": {"access": "Admin"}})),
            "credentials.access",
        )
        .await;
    server
        .refused_with(
            spec(json!({"forceDelete": true})),
            "forceDelete only applies with deletionPolicy Delete",
        )
        .await;
    assert_eq!(
        server
            .admit(spec(json!({"deletionPolicy": "Delete", "forceDelete": true})))
            .await,
        Ok(())
    );
    server
        .refused_with(
            spec(json!({"tags": {"k": "v".repeat(257)}})),
            "tag keys are 1 to 128",
        )
        .await;
    let fifty_one: serde_json::Map<String, Value> = (0..51).map(|i| (format!("k{i}"), json!("v"))).collect();
    server
        .refused_with(spec(json!({"tags": fifty_one})), "must have at most 50")
        .await;
    server
        .refused_with(
            spec(json!({"credentials": {"secretName": "Not_A_Name"}})),
            "credentials.secretName",
        )
        .await;
    server.delete_namespace().await;
}

#[tokio::test]
async fn embedded_backend_requires_exactly_one_replica() {
    let Some(server) = Server::connect("crd-embedded").await else {
        return;
    };
    server
        .refused_with(
            object("ObjectStore", "s", json!({"replicas": 3})),
            "the embedded metadata backend serves exactly one gateway",
        )
        .await;
    let tikv = json!({"backend": "tikv", "tikv": {"pdEndpoints": ["pd:2379"], "tlsSecretName": "tls"}});
    assert_eq!(
        server
            .admit(object("ObjectStore", "s", json!({"replicas": 3, "meta": tikv})))
            .await,
        Ok(())
    );
    assert_eq!(server.admit(object("ObjectStore", "s", json!({}))).await, Ok(()));
    server.delete_namespace().await;
}

#[tokio::test]
async fn blob_copies_are_one_to_three_and_at_most_the_replicas() {
    let Some(server) = Server::connect("crd-blob-copies").await else {
        return;
    };
    let tikv = json!({"backend": "tikv", "tikv": {"pdEndpoints": ["pd:2379"]}});
    let store = |replicas: i32, copies: i32| {
        object(
            "ObjectStore",
            "s",
            json!({"replicas": replicas, "blobCopies": copies, "meta": tikv}),
        )
    };
    assert_eq!(server.admit(store(3, 3)).await, Ok(()));
    assert_eq!(server.admit(store(2, 2)).await, Ok(()));
    server
        .refused_with(store(2, 3), "blobCopies cannot exceed replicas")
        .await;
    server
        .refused_with(
            object("ObjectStore", "s", json!({"blobCopies": 2})),
            "blobCopies cannot exceed replicas",
        )
        .await;
    server
        .refused_with(store(4, 4), "should be less than or equal to 3")
        .await;
    server
        .refused_with(store(1, 0), "should be greater than or equal to 1")
        .await;
    server.delete_namespace().await;
}

#[tokio::test]
async fn object_store_fields_are_bounded() {
    let Some(server) = Server::connect("crd-store-bounds").await else {
        return;
    };
    let spec = |spec: Value| object("ObjectStore", "s", spec);
    server
        .refused_with(
            spec(json!({"meta": {"backend": "tikv"}})),
            "meta.backend tikv needs meta.tikv",
        )
        .await;
    server
        .refused_with(
            spec(json!({"meta": {"backend": "embedded", "tikv": {"pdEndpoints": ["pd:2379"]}}})),
            "meta.tikv is only used with meta.backend tikv",
        )
        .await;
    server
        .refused_with(spec(json!({"meta": {"backend": "etcd"}})), "meta.backend")
        .await;
    server
        .refused_with(
            spec(json!({"meta": {"backend": "tikv", "tikv": {"pdEndpoints": []}}, "replicas": 2})),
            "should have at least 1 items",
        )
        .await;
    server
        .refused_with(
            spec(json!({"meta": {"backend": "tikv", "tikv": {"pdEndpoints": ["no port"]}}})),
            "should match",
        )
        .await;
    server
        .refused_with(
            spec(json!({"replicas": 0})),
            "should be greater than or equal to 1",
        )
        .await;
    server
        .refused_with(spec(json!({"region": "US East"})), "region")
        .await;
    server
        .refused_with(spec(json!({"domain": "-bad.example"})), "domain")
        .await;
    server
        .refused_with(spec(json!({"service": {"type": "ExternalName"}})), "service.type")
        .await;
    server
        .refused_with(
            spec(json!({"service": {"port": 70000}})),
            "should be less than or equal to",
        )
        .await;
    server
        .refused_with(spec(json!({"imagePullPolicy": "Sometimes"})), "imagePullPolicy")
        .await;
    server
        .refused_with(spec(json!({"tls": {}})), "tls.secretName")
        .await;
    server
        .refused_with(spec(json!({"tls": {"secretName": ""}})), "tls.secretName")
        .await;
    server
        .admit(spec(json!({"tls": {"secretName": "store-tls"}})))
        .await
        .expect("a TLS Secret name is accepted");
    let old = spec(json!({"storage": {"size": "10Gi"}}));
    server
        .update_refused_with(
            old.clone(),
            spec(json!({"storage": {"size": "20Gi"}})),
            "storage is immutable",
        )
        .await;
    server.delete_namespace().await;
}

#[tokio::test]
async fn policy_statements_are_validated() {
    let Some(server) = Server::connect("crd-policy").await else {
        return;
    };
    let with = |statement: Value| {
        object(
            "BucketPolicy",
            "p",
            json!({"bucketRef": {"name": "b"}, "statements": [statement]}),
        )
    };
    let ok = json!({"effect": "Allow", "principals": ["*"], "actions": ["s3:GetObject"]});
    assert_eq!(server.admit(with(ok)).await, Ok(()));
    server
        .refused_with(
            with(json!({"effect": "Allow", "principals": ["*", "alice"], "actions": ["s3:GetObject"]})),
            "'*' stands alone in principals",
        )
        .await;
    server
        .refused_with(
            with(json!({"effect": "Maybe", "principals": ["*"], "actions": ["s3:GetObject"]})),
            "effect",
        )
        .await;
    server
        .refused_with(
            with(json!({"effect": "Allow", "principals": ["*"], "actions": ["GetObject"]})),
            "actions[0]",
        )
        .await;
    server.refused_with(with(
            json!({"effect": "Allow", "principals": ["*"], "actions": ["s3:GetObject"], "sid": "has space"}),
        ), "sid").await;
    server
        .refused_with(
            with(
                json!({"effect": "Allow", "principals": ["*"], "actions": ["s3:GetObject"],
            "conditions": [{"operator": "StringSorta", "key": "s3:prefix", "values": ["a"]}]}),
            ),
            "conditions[0].operator",
        )
        .await;
    assert_eq!(
        server.admit(with(json!({"effect": "Deny", "principals": ["*"], "actions": ["s3:*"],
                "conditions": [{"operator": "ForAnyValue:StringLikeIfExists", "key": "aws:SourceIp", "values": ["10.0.0.0/8"]}]}))).await,
        Ok(())
    );
    server
        .refused_with(
            object(
                "BucketPolicy",
                "p",
                json!({"bucketRef": {"name": "b"}, "statements": []}),
            ),
            "should have at least 1 items",
        )
        .await;
    server.delete_namespace().await;
}

#[tokio::test]
async fn lifecycle_rules_need_one_valid_action() {
    let Some(server) = Server::connect("crd-lifecycle").await else {
        return;
    };
    let rule = |spec: Value| {
        let mut full = json!({"bucketRef": {"name": "b"}});
        full.as_object_mut()
            .expect("object")
            .extend(spec.as_object().expect("object").clone());
        object("LifecycleRule", "r", full)
    };
    assert_eq!(
        server.admit(rule(json!({"expiration": {"days": 7}}))).await,
        Ok(())
    );
    server
        .refused_with(rule(json!({})), "a rule needs at least one action")
        .await;
    server
        .refused_with(
            rule(json!({"expiration": {"days": 7, "date": "2030-01-01"}})),
            "exactly one of days, date and expiredObjectDeleteMarker",
        )
        .await;
    server
        .refused_with(rule(json!({"expiration": {}})), "exactly one of days")
        .await;
    server
        .refused_with(
            rule(json!({"expiration": {"days": 0}})),
            "should be greater than or equal to 1",
        )
        .await;
    server
        .refused_with(
            rule(json!({"expiration": {"date": "2030-13-01"}})),
            "expiration.date",
        )
        .await;
    server
        .refused_with(
            rule(json!({"filter": {"tags": {"a": "b"}}, "expiration": {"expiredObjectDeleteMarker": true}})),
            "cannot be combined with a tag filter",
        )
        .await;
    server.refused_with(rule(
            json!({"filter": {"tags": {"a": "b"}}, "abortIncompleteMultipartUpload": {"daysAfterInitiation": 1}}),
        ), "abortIncompleteMultipartUpload cannot be combined with a tag filter").await;
    server.refused_with(rule(
            json!({"filter": {"objectSizeGreaterThan": 100, "objectSizeLessThan": 10}, "expiration": {"days": 1}}),
        ), "objectSizeGreaterThan must be less than objectSizeLessThan").await;
    server
        .refused_with(
            rule(
                json!({"noncurrentVersionExpiration": {"noncurrentDays": 1, "newerNoncurrentVersions": 101}}),
            ),
            "should be less than or equal to",
        )
        .await;
    server.delete_namespace().await;
}
