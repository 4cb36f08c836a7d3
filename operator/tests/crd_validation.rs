//! What the API server would accept or refuse, checked without one: the CRDs' OpenAPI
//! constraints (patterns, lengths, bounds, enums, required fields; a small validator below) and
//! their CEL rules (kube's client-side CEL evaluator, after schema defaulting, as the API server
//! does). The bucket-name table is also checked against `BucketName::parse`, so the schema and
//! the operator agree on every case.

mod common;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::CustomResourceExt;
use kube::core::cel::{ScopeContext, Validator, WarningKind, analyze_rule, compile_schema};
use operator::bucket_name::BucketName;
use operator::crd::{Bucket, BucketPolicy, LifecycleRule, ObjectStore};
use serde_json::{Value, json};

fn schema_of(crd: &CustomResourceDefinition) -> Value {
    serde_json::to_value(
        crd.spec.versions[0]
            .schema
            .as_ref()
            .and_then(|s| s.open_api_v3_schema.as_ref())
            .expect("a schema"),
    )
    .expect("JSON")
}

/// OpenAPI checks the API server makes before CEL: enough of them for these CRDs.
fn openapi_errors(schema: &Value, value: &Value, path: &str, errors: &mut Vec<String>) {
    if value.is_null() {
        return;
    }
    if let (Some(pattern), Some(s)) = (schema.get("pattern").and_then(Value::as_str), value.as_str())
        && !regex::Regex::new(pattern).expect("valid pattern").is_match(s)
    {
        errors.push(format!("{path}: {s:?} does not match {pattern}"));
    }
    if let Some(s) = value.as_str() {
        let len = s.chars().count() as u64;
        if schema
            .get("minLength")
            .and_then(Value::as_u64)
            .is_some_and(|m| len < m)
        {
            errors.push(format!("{path}: shorter than minLength"));
        }
        if schema
            .get("maxLength")
            .and_then(Value::as_u64)
            .is_some_and(|m| len > m)
        {
            errors.push(format!("{path}: longer than maxLength"));
        }
    }
    if let Some(n) = value.as_f64() {
        if schema
            .get("minimum")
            .and_then(Value::as_f64)
            .is_some_and(|m| n < m)
        {
            errors.push(format!("{path}: {n} below minimum"));
        }
        if schema
            .get("maximum")
            .and_then(Value::as_f64)
            .is_some_and(|m| n > m)
        {
            errors.push(format!("{path}: {n} above maximum"));
        }
    }
    if let Some(allowed) = schema.get("enum").and_then(Value::as_array)
        && !allowed.contains(value)
    {
        errors.push(format!("{path}: {value} not one of {allowed:?}"));
    }
    if let Some(items) = value.as_array() {
        let n = items.len() as u64;
        if schema
            .get("minItems")
            .and_then(Value::as_u64)
            .is_some_and(|m| n < m)
        {
            errors.push(format!("{path}: fewer than minItems"));
        }
        if schema
            .get("maxItems")
            .and_then(Value::as_u64)
            .is_some_and(|m| n > m)
        {
            errors.push(format!("{path}: more than maxItems"));
        }
        if let Some(item_schema) = schema.get("items") {
            for (i, item) in items.iter().enumerate() {
                openapi_errors(item_schema, item, &format!("{path}[{i}]"), errors);
            }
        }
    }
    if let Some(object) = value.as_object() {
        let n = object.len() as u64;
        if schema
            .get("maxProperties")
            .and_then(Value::as_u64)
            .is_some_and(|m| n > m)
        {
            errors.push(format!("{path}: more than maxProperties"));
        }
        if schema
            .get("minProperties")
            .and_then(Value::as_u64)
            .is_some_and(|m| n < m)
        {
            errors.push(format!("{path}: fewer than minProperties"));
        }
        for required in schema
            .get("required")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let key = required.as_str().expect("string");
            if !object.contains_key(key) {
                errors.push(format!("{path}: missing required {key}"));
            }
        }
        let properties = schema.get("properties").and_then(Value::as_object);
        for (key, child) in object {
            let child_schema = properties
                .and_then(|p| p.get(key))
                .or_else(|| schema.get("additionalProperties").filter(|a| a.is_object()));
            if let Some(child_schema) = child_schema {
                openapi_errors(child_schema, child, &format!("{path}.{key}"), errors);
            } else if properties.is_some() && !path.is_empty() && !path.ends_with(".metadata") {
                errors.push(format!("{path}: unknown field {key}"));
            }
        }
    }
}

/// The API server's verdict on `object` (an update when `old` is given): `Ok` or the errors.
fn admit(crd: &CustomResourceDefinition, object: &Value, old: Option<&Value>) -> Result<(), Vec<String>> {
    let schema = schema_of(crd);
    let mut errors = Vec::new();
    openapi_errors(&schema, object, "", &mut errors);
    if let Err(cel) = Validator::new().validate(&schema, object, old) {
        errors.extend(cel.into_vec().into_iter().map(|e| e.to_string()));
    }
    if errors.is_empty() { Ok(()) } else { Err(errors) }
}

fn refused_with(crd: &CustomResourceDefinition, object: &Value, old: Option<&Value>, needle: &str) {
    let errors = admit(crd, object, old).expect_err(&format!("should be refused: {object}"));
    assert!(
        errors.iter().any(|e| e.contains(needle)),
        "expected an error mentioning {needle:?}, got {errors:#?}"
    );
}

fn object(kind: &str, name: &str, spec: Value) -> Value {
    json!({
        "apiVersion": "stowage.dev/v1alpha1",
        "kind": kind,
        "metadata": {"name": name, "namespace": "default"},
        "spec": spec,
    })
}

#[test]
fn every_cel_rule_compiles() {
    for crd in operator::crd::all() {
        let compiled = compile_schema(&schema_of(&crd));
        assert!(
            !compiled.has_errors(),
            "{}: {:?}",
            crd.metadata.name.unwrap_or_default(),
            compiled.compilation_errors()
        );
    }
}

/// Every schema node that carries CEL rules, with its rules.
fn rule_nodes<'a>(schema: &'a Value, out: &mut Vec<(&'a Value, Vec<String>)>) {
    if let Some(rules) = schema.get("x-kubernetes-validations").and_then(Value::as_array) {
        let rules = rules
            .iter()
            .filter_map(|r| r["rule"].as_str().map(str::to_owned))
            .collect();
        out.push((schema, rules));
    }
    for key in ["properties", "additionalProperties", "items"] {
        match schema.get(key) {
            Some(Value::Object(map)) if key == "properties" => map.values().for_each(|v| rule_nodes(v, out)),
            Some(v @ Value::Object(_)) => rule_nodes(v, out),
            _ => {}
        }
    }
}

/// Whether the out-of-scope variable named in `message` is bound by a macro in `rule`.
fn binds_macro_variable(rule: &str, message: &str) -> bool {
    let Some(var) = message.split('\'').nth(1) else {
        return false;
    };
    ["exists", "all", "exists_one", "map", "filter"]
        .iter()
        .any(|m| rule.contains(&format!("{m}({var},")))
}

/// The API server refuses a CRD whose rules use variables out of scope or may exceed the CEL
/// cost budget (unbounded strings and lists); catch both here.
#[test]
fn every_cel_rule_is_in_scope_and_within_the_cost_budget() {
    let mut checked = 0;
    for crd in operator::crd::all() {
        let schema = schema_of(&crd);
        let mut nodes = Vec::new();
        rule_nodes(&schema, &mut nodes);
        for (node, rules) in nodes {
            let compiled = compile_schema(node);
            for rule in rules {
                let warnings: Vec<_> = analyze_rule(&rule, &compiled, ScopeContext::CrdValidation)
                    .into_iter()
                    // The analyzer does not know macro bindings (`exists(p, ...)`, `all(k, ...)`).
                    .filter(|w| {
                        !(w.kind == WarningKind::WrongScope && binds_macro_variable(&rule, &w.message))
                    })
                    .collect();
                assert!(
                    warnings.is_empty(),
                    "{}: {rule}: {warnings:#?}",
                    crd.spec.names.kind
                );
                checked += 1;
            }
        }
    }
    assert!(checked >= 20, "found only {checked} rules");
}

#[test]
fn every_sample_is_admitted_and_parses() {
    let dir = common::repo().join("config/samples");
    let crds = operator::crd::all();
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).expect("config/samples") {
        let path = entry.expect("entry").path();
        if path.extension().and_then(|e| e.to_str()) != Some("yaml") || path.ends_with("kustomization.yaml") {
            continue;
        }
        let text = std::fs::read_to_string(&path).expect("readable");
        let mut value: Value = serde_yaml::from_str(&text).expect("YAML");
        value["metadata"]["namespace"] = json!("default");
        let kind = value["kind"].as_str().expect("kind").to_owned();
        let crd = crds
            .iter()
            .find(|c| c.spec.names.kind == kind)
            .expect("a stowage.dev kind");
        admit(crd, &value, None).unwrap_or_else(|e| panic!("{}: {e:#?}", path.display()));
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

#[test]
fn bucket_name_is_validated_by_the_schema_as_by_the_operator() {
    let crd = Bucket::crd();
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
        let verdict = admit(&crd, &bucket, None);
        assert_eq!(
            verdict.is_ok(),
            broken.is_none(),
            "spec.bucketName {name:?}: {verdict:?}"
        );
    }
}

#[test]
fn metadata_name_stands_in_for_a_missing_bucket_name_and_obeys_the_same_rules() {
    let crd = Bucket::crd();
    for (name, broken) in NAMES
        .iter()
        .copied()
        .filter(|(n, _)| !n.contains('_') && *n != "My-bucket")
    {
        // metadata.name is already a DNS subdomain: only names Kubernetes itself accepts apply.
        let bucket = object("Bucket", name, json!({"storeRef": {"name": "s"}}));
        let verdict = admit(&crd, &bucket, None);
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
    assert_eq!(admit(&crd, &dotted, None), Ok(()));
    refused_with(
        &crd,
        &object("Bucket", "cw-data", json!({"storeRef": {"name": "s"}})),
        None,
        "must not begin with xn--, cw-, vip-, log-stitcher-ch-",
    );
}

#[test]
fn bucket_name_and_store_are_immutable() {
    let crd = Bucket::crd();
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
    refused_with(&crd, &renamed, Some(&old), "bucketName is immutable");
    let unset = object("Bucket", "b", json!({"storeRef": {"name": "s"}}));
    refused_with(&crd, &unset, Some(&old), "bucketName is immutable");
    let moved = object(
        "Bucket",
        "b",
        json!({"storeRef": {"name": "other"}, "bucketName": "first"}),
    );
    refused_with(&crd, &moved, Some(&old), "storeRef is immutable");
    let retagged = object(
        "Bucket",
        "b",
        json!({"storeRef": {"name": "s"}, "bucketName": "first", "tags": {"a": "b"}}),
    );
    assert_eq!(admit(&crd, &retagged, Some(&old)), Ok(()));
}

#[test]
fn bucket_enums_and_cross_field_rules() {
    let crd = Bucket::crd();
    let spec = |extra: Value| {
        let mut spec = json!({"storeRef": {"name": "s"}});
        spec.as_object_mut()
            .expect("object")
            .extend(extra.as_object().expect("object").clone());
        object("Bucket", "b-1", spec)
    };
    refused_with(&crd, &spec(json!({"versioning": "Off"})), None, "versioning");
    refused_with(
        &crd,
        &spec(json!({"deletionPolicy": "Purge"})),
        None,
        "deletionPolicy",
    );
    refused_with(
        &crd,
        &spec(json!({"credentials": {"access": "Admin"}})),
        None,
        "credentials.access",
    );
    refused_with(
        &crd,
        &spec(json!({"forceDelete": true})),
        None,
        "forceDelete only applies with deletionPolicy Delete",
    );
    assert_eq!(
        admit(
            &crd,
            &spec(json!({"deletionPolicy": "Delete", "forceDelete": true})),
            None
        ),
        Ok(())
    );
    refused_with(
        &crd,
        &spec(json!({"tags": {"k": "v".repeat(257)}})),
        None,
        "tag keys are 1 to 128",
    );
    let fifty_one: serde_json::Map<String, Value> = (0..51).map(|i| (format!("k{i}"), json!("v"))).collect();
    refused_with(&crd, &spec(json!({"tags": fifty_one})), None, "maxProperties");
    refused_with(
        &crd,
        &spec(json!({"credentials": {"secretName": "Not_A_Name"}})),
        None,
        "credentials.secretName",
    );
}

#[test]
fn embedded_backend_requires_exactly_one_replica() {
    let crd = ObjectStore::crd();
    refused_with(
        &crd,
        &object("ObjectStore", "s", json!({"replicas": 3})),
        None,
        "the embedded metadata backend serves exactly one gateway",
    );
    let tikv = json!({"backend": "tikv", "tikv": {"pdEndpoints": ["pd:2379"], "tlsSecretName": "tls"}});
    assert_eq!(
        admit(
            &crd,
            &object("ObjectStore", "s", json!({"replicas": 3, "meta": tikv})),
            None
        ),
        Ok(())
    );
    assert_eq!(admit(&crd, &object("ObjectStore", "s", json!({})), None), Ok(()));
}

#[test]
fn object_store_fields_are_bounded() {
    let crd = ObjectStore::crd();
    let spec = |spec: Value| object("ObjectStore", "s", spec);
    refused_with(
        &crd,
        &spec(json!({"meta": {"backend": "tikv"}})),
        None,
        "meta.backend tikv needs meta.tikv",
    );
    refused_with(
        &crd,
        &spec(json!({"meta": {"backend": "embedded", "tikv": {"pdEndpoints": ["pd:2379"]}}})),
        None,
        "meta.tikv is only used with meta.backend tikv",
    );
    refused_with(
        &crd,
        &spec(json!({"meta": {"backend": "etcd"}})),
        None,
        "meta.backend",
    );
    refused_with(
        &crd,
        &spec(json!({"meta": {"backend": "tikv", "tikv": {"pdEndpoints": []}}, "replicas": 2})),
        None,
        "fewer than minItems",
    );
    refused_with(
        &crd,
        &spec(json!({"meta": {"backend": "tikv", "tikv": {"pdEndpoints": ["no port"]}}})),
        None,
        "does not match",
    );
    refused_with(&crd, &spec(json!({"replicas": 0})), None, "below minimum");
    refused_with(&crd, &spec(json!({"region": "US East"})), None, "region");
    refused_with(&crd, &spec(json!({"domain": "-bad.example"})), None, "domain");
    refused_with(
        &crd,
        &spec(json!({"service": {"type": "ExternalName"}})),
        None,
        "service.type",
    );
    refused_with(
        &crd,
        &spec(json!({"service": {"port": 70000}})),
        None,
        "above maximum",
    );
    refused_with(
        &crd,
        &spec(json!({"imagePullPolicy": "Sometimes"})),
        None,
        "imagePullPolicy",
    );
    let old = spec(json!({"storage": {"size": "10Gi"}}));
    refused_with(
        &crd,
        &spec(json!({"storage": {"size": "20Gi"}})),
        Some(&old),
        "storage is immutable",
    );
}

#[test]
fn policy_statements_are_validated() {
    let crd = BucketPolicy::crd();
    let with = |statement: Value| {
        object(
            "BucketPolicy",
            "p",
            json!({"bucketRef": {"name": "b"}, "statements": [statement]}),
        )
    };
    let ok = json!({"effect": "Allow", "principals": ["*"], "actions": ["s3:GetObject"]});
    assert_eq!(admit(&crd, &with(ok), None), Ok(()));
    refused_with(
        &crd,
        &with(json!({"effect": "Allow", "principals": ["*", "alice"], "actions": ["s3:GetObject"]})),
        None,
        "'*' stands alone in principals",
    );
    refused_with(
        &crd,
        &with(json!({"effect": "Maybe", "principals": ["*"], "actions": ["s3:GetObject"]})),
        None,
        "effect",
    );
    refused_with(
        &crd,
        &with(json!({"effect": "Allow", "principals": ["*"], "actions": ["GetObject"]})),
        None,
        "actions[0]",
    );
    refused_with(
        &crd,
        &with(
            json!({"effect": "Allow", "principals": ["*"], "actions": ["s3:GetObject"], "sid": "has space"}),
        ),
        None,
        "sid",
    );
    refused_with(
        &crd,
        &with(
            json!({"effect": "Allow", "principals": ["*"], "actions": ["s3:GetObject"],
            "conditions": [{"operator": "StringSorta", "key": "s3:prefix", "values": ["a"]}]}),
        ),
        None,
        "conditions[0].operator",
    );
    assert_eq!(
        admit(
            &crd,
            &with(json!({"effect": "Deny", "principals": ["*"], "actions": ["s3:*"],
                "conditions": [{"operator": "ForAnyValue:StringLikeIfExists", "key": "aws:SourceIp", "values": ["10.0.0.0/8"]}]})),
            None
        ),
        Ok(())
    );
    refused_with(
        &crd,
        &object(
            "BucketPolicy",
            "p",
            json!({"bucketRef": {"name": "b"}, "statements": []}),
        ),
        None,
        "fewer than minItems",
    );
}

#[test]
fn lifecycle_rules_need_one_valid_action() {
    let crd = LifecycleRule::crd();
    let rule = |spec: Value| {
        let mut full = json!({"bucketRef": {"name": "b"}});
        full.as_object_mut()
            .expect("object")
            .extend(spec.as_object().expect("object").clone());
        object("LifecycleRule", "r", full)
    };
    assert_eq!(
        admit(&crd, &rule(json!({"expiration": {"days": 7}})), None),
        Ok(())
    );
    refused_with(&crd, &rule(json!({})), None, "a rule needs at least one action");
    refused_with(
        &crd,
        &rule(json!({"expiration": {"days": 7, "date": "2030-01-01"}})),
        None,
        "exactly one of days, date and expiredObjectDeleteMarker",
    );
    refused_with(
        &crd,
        &rule(json!({"expiration": {}})),
        None,
        "exactly one of days",
    );
    refused_with(
        &crd,
        &rule(json!({"expiration": {"days": 0}})),
        None,
        "below minimum",
    );
    refused_with(
        &crd,
        &rule(json!({"expiration": {"date": "2030-13-01"}})),
        None,
        "expiration.date",
    );
    refused_with(
        &crd,
        &rule(json!({"filter": {"tags": {"a": "b"}}, "expiration": {"expiredObjectDeleteMarker": true}})),
        None,
        "cannot be combined with a tag filter",
    );
    refused_with(
        &crd,
        &rule(
            json!({"filter": {"tags": {"a": "b"}}, "abortIncompleteMultipartUpload": {"daysAfterInitiation": 1}}),
        ),
        None,
        "abortIncompleteMultipartUpload cannot be combined with a tag filter",
    );
    refused_with(
        &crd,
        &rule(
            json!({"filter": {"objectSizeGreaterThan": 100, "objectSizeLessThan": 10}, "expiration": {"days": 1}}),
        ),
        None,
        "objectSizeGreaterThan must be less than objectSizeLessThan",
    );
    refused_with(
        &crd,
        &rule(json!({"noncurrentVersionExpiration": {"noncurrentDays": 1, "newerNoncurrentVersions": 101}})),
        None,
        "above maximum",
    );
}
