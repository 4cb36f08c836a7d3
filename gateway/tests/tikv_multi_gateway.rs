//! Several gateways, one namespace: two gateway processes on one machine keep their metadata in
//! one TiKV store (same prefix) and their blobs each on its own volume (as the pods of an
//! `ObjectStore` do), reading each other's over the peer endpoint. Each sees the other's writes at
//! once, and conditional writes racing through both still have exactly one winner.
//!
//! Needs a TiKV cluster: runs when `TIKV_PD_ENDPOINTS` is set, prints a notice and passes
//! otherwise. (`multi_gateway.rs` runs the same model in one process on any backend.)

mod common;

use aws_sdk_s3::Client;
use aws_sdk_s3::primitives::ByteStream;
use common::*;

const B: &str = "shared";

/// Two gateways of one store, each with its own volume.
struct Pair {
    // Field order is drop order: the gateways stop before the shared key goes.
    a: Gateway,
    b: Gateway,
    _keys: tempfile::TempDir,
}

impl Pair {
    fn clients(&self) -> (Client, Client) {
        (self.a.client(), self.b.client())
    }
}

/// Starts the pair on a fresh store; `None` (after a notice) without a TiKV cluster.
fn start_pair(test: &str) -> Option<Pair> {
    let Some(url) = tikv_store_url() else {
        eprintln!("{TIKV_ENV} is not set: skipping {test} (it needs a TiKV cluster)");
        return None;
    };
    // Every gateway of a store shares the master key (the peer key derives from it).
    let keys = tempfile::tempdir().expect("key directory");
    let master = keys.path().join("master.key");
    let options = |node: &str, env: Vec<(String, String)>| GatewayOptions {
        args: vec![
            "--meta".to_owned(),
            url.clone(),
            "--node-id".to_owned(),
            node.to_owned(),
            "--master-key-file".to_owned(),
            master.display().to_string(),
            "--free-grace".to_owned(),
            "0".to_owned(),
        ],
        env,
        data_dir: None,
        tls: None,
    };
    // One after the other: the first creates the master key.
    let a = Gateway::start_with(bin(), options("gw-a", Vec::new()));
    // The second serves the same root identity as the first.
    let mut b = Gateway::start_with(
        bin(),
        options(
            "gw-b",
            vec![
                ("STOWAGE_ROOT_ACCESS_KEY_ID".to_owned(), a.access_key.clone()),
                ("STOWAGE_ROOT_SECRET_ACCESS_KEY".to_owned(), a.secret_key.clone()),
            ],
        ),
    );
    b.access_key = a.access_key.clone();
    b.secret_key = a.secret_key.clone();
    Some(Pair { a, b, _keys: keys })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn each_gateway_sees_the_others_writes_at_once() {
    let Some(pair) = start_pair("each_gateway_sees_the_others_writes_at_once") else {
        return;
    };
    let (a, b) = pair.clients();

    create_bucket(&a, B).await;
    let buckets = b.list_buckets().send().await.expect("list buckets through b");
    assert!(
        buckets.buckets().iter().any(|x| x.name() == Some(B)),
        "b does not see the bucket a created"
    );

    let etag = put(&a, B, "written-by-a", b"from a".to_vec()).await;
    assert_eq!(get(&b, B, "written-by-a").await, b"from a");
    assert_eq!(head_etag(&b, B, "written-by-a").await, Some(etag));

    put(&b, B, "written-by-a", b"overwritten by b".to_vec()).await;
    assert_eq!(get(&a, B, "written-by-a").await, b"overwritten by b");
    assert_eq!(blob_files(&pair.b), 1, "b holds what was written through it");

    put(&b, B, "written-by-b", b"from b".to_vec()).await;
    let listed: Vec<String> = snapshot(&a, B).await.into_iter().map(|(k, _)| k).collect();
    assert_eq!(listed, ["written-by-a", "written-by-b"]);

    a.delete_object()
        .bucket(B)
        .key("written-by-b")
        .send()
        .await
        .expect("delete through a");
    assert_s3_error(
        b.get_object().bucket(B).key("written-by-b").send().await,
        "NoSuchKey",
        404,
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn if_none_match_star_race_through_both_gateways_has_exactly_one_winner() {
    const ROUNDS: usize = 5;
    const WRITERS_PER_GATEWAY: usize = 8;
    let Some(pair) = start_pair("if_none_match_star_race_through_both_gateways_has_exactly_one_winner")
    else {
        return;
    };
    let (a, b) = pair.clients();
    create_bucket(&a, B).await;

    for round in 0..ROUNDS {
        let key = format!("ckpt-{round}");
        let mut tasks = Vec::new();
        for i in 0..WRITERS_PER_GATEWAY * 2 {
            let (client, via) = if i % 2 == 0 {
                (a.clone(), "a")
            } else {
                (b.clone(), "b")
            };
            let key = key.clone();
            tasks.push(tokio::spawn(async move {
                let body = format!("writer-{i}-via-{via}");
                let r = client
                    .put_object()
                    .bucket(B)
                    .key(&key)
                    .body(ByteStream::from(body.clone().into_bytes()))
                    .if_none_match("*")
                    .send()
                    .await;
                (body, r.map_err(s3_error))
            }));
        }
        let mut winners = Vec::new();
        for t in tasks {
            match t.await.expect("writer task") {
                (body, Ok(_)) => winners.push(body),
                (_, Err((code, status))) => assert!(
                    (code.as_str(), status) == ("PreconditionFailed", 412)
                        || (code.as_str(), status) == ("ConditionalRequestConflict", 409),
                    "round {round}: a loser got {code} {status}"
                ),
            }
        }
        assert_eq!(winners.len(), 1, "round {round}: winners {winners:?}");
        // Both gateways serve the winner's bytes.
        assert_eq!(get(&a, B, &key).await, winners[0].as_bytes());
        assert_eq!(get(&b, B, &key).await, winners[0].as_bytes());
    }
}
