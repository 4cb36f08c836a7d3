//! Leader election against the mocked API server: who may take the Lease, and when.

use std::time::{Duration, Instant};

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use k8s_openapi::jiff::Timestamp;
use serde_json::json;

use crate::fixtures::api_server::{self, Expect};
use crate::leader::{LeaderElector, LeaseConfig};

const PATH: &str = "/apis/coordination.k8s.io/v1/namespaces/stowage-system/leases/stowage-operator";
const COLLECTION: &str = "/apis/coordination.k8s.io/v1/namespaces/stowage-system/leases";

fn config(identity: &str) -> LeaseConfig {
    LeaseConfig::new("stowage-operator", "stowage-system", identity)
}

fn at(seconds: i64) -> Timestamp {
    Timestamp::from_second(seconds).expect("valid")
}

fn lease(holder: &str, resource_version: &str, transitions: i32) -> Lease {
    Lease {
        metadata: ObjectMeta {
            name: Some("stowage-operator".into()),
            namespace: Some("stowage-system".into()),
            resource_version: Some(resource_version.into()),
            ..ObjectMeta::default()
        },
        spec: Some(LeaseSpec {
            holder_identity: Some(holder.into()),
            lease_duration_seconds: Some(15),
            acquire_time: Some(MicroTime(at(1_000))),
            renew_time: Some(MicroTime(at(1_010))),
            lease_transitions: Some(transitions),
            ..LeaseSpec::default()
        }),
    }
}

#[tokio::test]
async fn the_first_candidate_creates_the_lease() {
    let (client, server) = api_server::client();
    let verifier = server.run(vec![Expect::get(PATH).not_found(), Expect::post(COLLECTION)]);
    let mut elector = LeaderElector::new(client, config("operator-0"));
    assert!(
        elector
            .try_acquire_or_renew_at(Instant::now(), at(2_000))
            .await
            .expect("call")
    );
    let seen = verifier.await.expect("script");
    assert_eq!(
        seen[1].body["spec"],
        json!({
            "holderIdentity": "operator-0",
            "leaseDurationSeconds": 15,
            "acquireTime": "1970-01-01T00:33:20.000000Z",
            "renewTime": "1970-01-01T00:33:20.000000Z",
            "leaseTransitions": 0,
        })
    );
}

#[tokio::test]
async fn a_live_holder_is_left_alone_until_its_record_stops_changing_for_a_lease_duration() {
    let held = lease("operator-1", "7", 2);
    let (client, server) = api_server::client();
    let verifier = server.run(vec![
        Expect::get(PATH).respond(&held),
        Expect::get(PATH).respond(&held),
        Expect::get(PATH).respond(&held),
        Expect::put(PATH),
    ]);
    let mut elector = LeaderElector::new(client, config("operator-0"));
    let start = Instant::now();
    assert!(
        !elector
            .try_acquire_or_renew_at(start, at(2_000))
            .await
            .expect("call")
    );
    // Our clock says 14 s: the holder may still be renewing.
    let later = start + Duration::from_secs(14);
    assert!(
        !elector
            .try_acquire_or_renew_at(later, at(2_014))
            .await
            .expect("call")
    );
    // 15 s without a change: it is gone, take over.
    let expired = start + Duration::from_secs(15);
    assert!(
        elector
            .try_acquire_or_renew_at(expired, at(2_015))
            .await
            .expect("call")
    );
    let seen = verifier.await.expect("script");
    let taken = &seen[3].body;
    assert_eq!(
        taken["metadata"]["resourceVersion"], "7",
        "the write is conditional on what was read"
    );
    assert_eq!(taken["spec"]["holderIdentity"], "operator-0");
    assert_eq!(taken["spec"]["leaseTransitions"], 3);
    assert_eq!(taken["spec"]["acquireTime"], taken["spec"]["renewTime"]);
}

#[tokio::test]
async fn a_renewing_holder_is_never_taken_over() {
    let (client, server) = api_server::client();
    let verifier = server.run(vec![
        Expect::get(PATH).respond(lease("operator-1", "7", 0)),
        Expect::get(PATH).respond(lease("operator-1", "8", 0)),
    ]);
    let mut elector = LeaderElector::new(client, config("operator-0"));
    let start = Instant::now();
    assert!(
        !elector
            .try_acquire_or_renew_at(start, at(2_000))
            .await
            .expect("call")
    );
    // 20 s later by our clock, but the record changed (resourceVersion 8): it renewed.
    let later = start + Duration::from_secs(20);
    assert!(
        !elector
            .try_acquire_or_renew_at(later, at(2_020))
            .await
            .expect("call")
    );
    verifier.await.expect("no write");
}

#[tokio::test]
async fn the_holder_renews_keeping_its_acquire_time() {
    let (client, server) = api_server::client();
    let verifier = server.run(vec![
        Expect::get(PATH).respond(lease("operator-0", "9", 4)),
        Expect::put(PATH),
    ]);
    let mut elector = LeaderElector::new(client, config("operator-0"));
    assert!(
        elector
            .try_acquire_or_renew_at(Instant::now(), at(3_000))
            .await
            .expect("call")
    );
    let seen = verifier.await.expect("script");
    let spec = &seen[1].body["spec"];
    assert_eq!(spec["acquireTime"], "1970-01-01T00:16:40.000000Z");
    assert_eq!(spec["renewTime"], "1970-01-01T00:50:00.000000Z");
    assert_eq!(spec["leaseTransitions"], 4);
}

#[tokio::test]
async fn losing_a_race_for_the_lease_is_not_leading() {
    let (client, server) = api_server::client();
    let expired_holder = lease("", "3", 1);
    let verifier = server.run(vec![
        Expect::get(PATH).respond(&expired_holder),
        Expect::put(PATH).fail(409, "Conflict"),
        Expect::get(PATH).not_found(),
        Expect::post(COLLECTION).fail(409, "AlreadyExists"),
    ]);
    let mut elector = LeaderElector::new(client, config("operator-0"));
    assert!(
        !elector
            .try_acquire_or_renew_at(Instant::now(), at(2_000))
            .await
            .expect("a lost race")
    );
    assert!(
        !elector
            .try_acquire_or_renew_at(Instant::now(), at(2_001))
            .await
            .expect("a lost race")
    );
    verifier.await.expect("script");
}

/// An API server that answers the first GET of the lease (held by us) and the renewal, then takes
/// every later request and never answers: a renewal that hangs.
async fn answer_once_then_hang(
    mut handle: tower_test::mock::Handle<
        http::Request<kube::client::Body>,
        http::Response<kube::client::Body>,
    >,
) {
    let ours = lease("operator-0", "7", 0);
    let mut hanging = Vec::new();
    let mut answered = 0;
    while let Some((request, respond)) = handle.next_request().await {
        if answered < 2 {
            let body = serde_json::to_vec(&ours).expect("JSON");
            respond.send_response(http::Response::new(kube::client::Body::from(body)));
            answered += 1;
        } else {
            // Kept, not dropped: a dropped responder would fail the request at once.
            hanging.push((request, respond));
        }
    }
}

#[tokio::test]
async fn a_renewal_that_hangs_past_the_renew_deadline_ends_the_leadership() {
    let (service, handle) = tower_test::mock::pair();
    let server = tokio::spawn(answer_once_then_hang(handle));
    let client = kube::Client::new(service, "default");
    let config = LeaseConfig {
        lease_duration: Duration::from_secs(3),
        renew_deadline: Duration::from_millis(1_000),
        retry_period: Duration::from_millis(200),
        ..config("operator-0")
    };
    let mut elector = LeaderElector::new(client, config);
    let started = Instant::now();
    tokio::time::timeout(Duration::from_secs(10), elector.keep_renewing())
        .await
        .expect("keep_renewing returned while the renewal still hung");
    let held = started.elapsed();
    assert!(
        held < Duration::from_millis(1_500),
        "stopped leading {held:?} after the last renewal, past the 1 s renew deadline"
    );
    server.abort();
}
