//! Volumes that fill, fail and go away: new blobs go where there is room, a drained gateway ends
//! up holding nothing, a replaced volume is refilled from the other copies, rot is found by the
//! scrub and by reads, and what cannot be saved is reported. Gateways of one store run in this
//! process (`common::local_store`); the admin calls go through the `gateway admin` command.

mod common;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use aws_sdk_s3::Client;
use common::local_store::{LocalStore, data, eventually};
use common::{blob_files_in, create_bucket, get, put, s3_error};

const B: &str = "volumes";
const MIB: usize = 1024 * 1024;

/// Runs `gateway admin <args>` against gateway `i` with the root credentials; the JSON it
/// printed, or its error output.
fn admin(store: &LocalStore, i: usize, args: &[&str]) -> Result<serde_json::Value, String> {
    let root = store.shared.root();
    let out = std::process::Command::new(common::bin())
        .arg("admin")
        .arg("--endpoint")
        .arg(store.endpoint(i))
        .args(args)
        .env("STOWAGE_ROOT_ACCESS_KEY_ID", &root.access_key_id)
        .env("STOWAGE_ROOT_SECRET_ACCESS_KEY", &root.secret_access_key)
        .output()
        .expect("run gateway admin");
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).into_owned());
    }
    let text = String::from_utf8_lossy(&out.stdout);
    Ok(serde_json::from_str(text.trim()).unwrap_or(serde_json::Value::Null))
}

fn blob_paths(volume: &Path) -> Vec<PathBuf> {
    let Ok(shards) = std::fs::read_dir(volume.join("blobs")) else {
        return Vec::new();
    };
    shards
        .flat_map(|s| std::fs::read_dir(s.unwrap().path()).unwrap())
        .map(|f| f.unwrap().path())
        .collect()
}

fn quarantined(volume: &Path) -> usize {
    std::fs::read_dir(volume.join("quarantine")).map_or(0, |d| d.count())
}

fn tmp_files(volume: &Path) -> usize {
    std::fs::read_dir(volume.join("tmp")).map_or(0, |d| d.count())
}

async fn wait_for(what: &str, check: impl AsyncFnMut() -> bool) {
    wait_longer(what, Duration::ZERO, check).await
}

/// [`wait_for`], with `extra` time allowed.
async fn wait_longer(what: &str, extra: Duration, mut check: impl AsyncFnMut() -> bool) {
    let limit = Duration::from_secs(40) + extra;
    let deadline = std::time::Instant::now() + limit;
    while !check().await {
        assert!(
            std::time::Instant::now() < deadline,
            "{what}: not within {limit:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn put_objects(c: &Client, prefix: &str, n: usize, len: usize) -> Vec<(String, Vec<u8>)> {
    let mut objects = Vec::new();
    for i in 0..n {
        let key = format!("{prefix}{i:03}");
        let body = data(len + i, i as u8);
        put(c, B, &key, body.clone()).await;
        objects.push((key, body));
    }
    objects
}

async fn all_read_back(c: &Client, objects: &[(String, Vec<u8>)]) {
    for (key, body) in objects {
        assert!(get(c, B, key).await == *body, "{key} reads back byte-identical");
    }
}

/// A blob file of `len` bytes that no record points at, standing in for a volume's contents.
fn fill(volume: &Path, len: usize) {
    let shard = volume.join("blobs").join("00");
    std::fs::create_dir_all(&shard).unwrap();
    std::fs::write(shard.join(format!("{:032x}", 0xf111_u128)), vec![0u8; len]).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_full_volume_sends_new_blobs_to_gateways_with_room_and_a_full_store_refuses_before_reading() {
    // Every volume holds 8 MiB of blobs; gateway 0's is full from the start.
    let quota = (8 * MIB).to_string();
    let store = LocalStore::start_prepared(3, &["--free-grace", "0", "--volume-quota", &quota], |dir| {
        fill(dir, 8 * MIB)
    })
    .await;
    let c0 = store.client(0);
    create_bucket(&c0, B).await;

    let objects = put_objects(&c0, "small-", 20, 100_000).await;
    assert_eq!(store.blobs_on(0), 1, "nothing new lands on the full volume");
    assert_eq!(store.blobs_on(1) + store.blobs_on(2), 20);
    for i in 0..3 {
        all_read_back(&store.client(i), &objects).await;
    }

    // 2 MiB more fit on each of the others (of 8, under the 95% mark): one 6 MiB object each.
    let big = data(6 * MIB, 7);
    let published = Duration::from_millis(2500); // a heartbeat publishes the room left
    tokio::time::sleep(published).await;
    put(&c0, B, "big-1", big.clone()).await;
    tokio::time::sleep(published).await;
    put(&c0, B, "big-2", big.clone()).await;
    tokio::time::sleep(published).await;
    let before: Vec<usize> = (0..3).map(|i| store.blobs_on(i)).collect();
    let refused = c0
        .put_object()
        .bucket(B)
        .key("no-room")
        .body(big.clone().into())
        .send()
        .await
        .expect_err("no volume has room");
    assert_eq!(s3_error(refused), ("ServiceUnavailable".to_owned(), 503));
    let after: Vec<usize> = (0..3).map(|i| store.blobs_on(i)).collect();
    assert_eq!(before, after, "nothing was written");
    for i in 0..3 {
        assert_eq!(
            tmp_files(&store.volume(i)),
            0,
            "no half-written file on gateway {i}"
        );
    }
    let missing = c0.head_object().bucket(B).key("no-room").send().await;
    assert!(missing.is_err(), "the refused object does not exist");
    assert_eq!(get(&store.client(2), B, "big-1").await, big);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_drained_gateway_holds_no_blob_and_every_object_reads_back() {
    let mut store = LocalStore::start(3, &["--free-grace", "0"]).await;
    let c0 = store.client(0);
    create_bucket(&c0, B).await;
    let mut objects = Vec::new();
    for i in 0..3 {
        objects.extend(put_objects(&store.client(i), &format!("from-{i}-"), 12, 300_000).await);
    }
    let draining = store.gateway(2).node_id.to_string();
    assert!(store.blobs_on(2) >= 12);

    // A PUT/GET load on the gateways that stay, while gateway 2 drains.
    let stop = Arc::new(AtomicBool::new(false));
    let (loaded, wrong) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let mut load = Vec::new();
    for w in 0..4usize {
        let c = store.client(w % 2);
        let (stop, loaded, wrong, objects) = (stop.clone(), loaded.clone(), wrong.clone(), objects.clone());
        load.push(tokio::spawn(async move {
            let mut n = 0usize;
            while !stop.load(Ordering::Relaxed) {
                let (key, body) = &objects[(n * 7 + w) % objects.len()];
                if get(&c, B, key).await != *body {
                    wrong.fetch_add(1, Ordering::Relaxed);
                }
                put(&c, B, &format!("load-{w}-{n}"), data(50_000, n as u8)).await;
                loaded.fetch_add(1, Ordering::Relaxed);
                n += 1;
            }
            n
        }));
    }

    let started = admin(&store, 0, &["node", "drain", &draining]).expect("drain starts");
    assert_eq!(started["drain"]["state"], "draining", "{started}");
    assert!(
        started["drain"]["blobsLeft"].as_u64().unwrap() >= 12,
        "what is left, at once: {started}"
    );
    // On TiKV a drain is declared done only once every transaction that could have placed a copy
    // before it began has ended: the longest a transaction lives, five minutes and some.
    let on_tikv = common::tikv_store_url().is_some();
    let commit_lifetime = Duration::from_secs(if on_tikv { 330 } else { 0 });
    wait_longer("the drain finishes", commit_lifetime, async || {
        let view = admin(&store, 1, &["node", "show", &draining]).expect("node show");
        view["drain"]["state"] == "drained" && view["drain"]["blobsLeft"] == 0
    })
    .await;
    stop.store(true, Ordering::Relaxed);
    let mut written = 0;
    for l in load {
        written += l.await.expect("load task");
    }
    assert_eq!(
        wrong.load(Ordering::Relaxed),
        0,
        "no GET returned wrong bytes during the drain"
    );
    assert!(written > 0 && loaded.load(Ordering::Relaxed) == written);

    // Its copies are freed once the drain moved them; then it goes for good.
    eventually("the drained volume is empty", || store.blobs_on(2) == 0).await;
    let view = admin(&store, 0, &["node", "show", &draining]).expect("node show");
    assert!(view["drain"]["blobsMoved"].as_u64().unwrap() >= 12, "{view}");
    assert!(
        admin(&store, 0, &["node", "forget", &draining])
            .unwrap_err()
            .contains("NodeStillLive"),
        "a live gateway is not forgotten"
    );
    store.stop(2).await;
    for i in 0..2 {
        all_read_back(&store.client(i), &objects).await;
    }
    for w in 0..4usize {
        assert_eq!(
            get(&store.client(1), B, &format!("load-{w}-0")).await,
            data(50_000, 0)
        );
    }
    tokio::time::sleep(Duration::from_secs(5)).await; // its heartbeat goes stale
    admin(&store, 0, &["node", "forget", &draining]).expect("a drained, stopped gateway is forgotten");
    let nodes = admin(&store, 0, &["node", "list"]).expect("node list");
    assert_eq!(nodes["nodes"].as_array().unwrap().len(), 2, "{nodes}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_drain_is_cancelled_by_undrain_and_new_blobs_avoid_a_draining_gateway() {
    let store = LocalStore::start(2, &["--free-grace", "0", "--inline-max-size", "0"]).await;
    let c1 = store.client(1);
    create_bucket(&c1, B).await;
    let node1 = store.gateway(1).node_id.to_string();
    admin(&store, 0, &["node", "drain", &node1]).expect("drain");
    // Gateway 1 learns of its drain with its next heartbeat; a write it placed on itself
    // before then is refused at commit (503, retried by the client), never recorded.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let before = store.blobs_on(1);
    assert_eq!(before, 0);
    put_objects(&c1, "while-draining-", 5, 10_000).await;
    assert_eq!(
        store.blobs_on(1),
        before,
        "a draining gateway takes no new blob, even its own"
    );
    let view = admin(&store, 0, &["node", "undrain", &node1]).expect("undrain");
    assert!(view["drain"].is_null(), "{view}");
    tokio::time::sleep(Duration::from_millis(2500)).await;
    put_objects(&c1, "after-", 5, 10_000).await;
    assert_eq!(store.blobs_on(1), before + 5, "it takes its own writes again");
    assert!(
        admin(&store, 0, &["node", "drain", "no-such-gateway"])
            .unwrap_err()
            .contains("NoSuchNode")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_replaced_volume_is_refilled_from_the_other_copies() {
    let mut store = LocalStore::start(3, &["--free-grace", "0", "--blob-copies", "2"]).await;
    let c0 = store.client(0);
    create_bucket(&c0, B).await;
    let objects = put_objects(&c0, "k", 20, 200_000).await;
    let total: usize = (0..3).map(|i| store.blobs_on(i)).sum();
    assert_eq!(total, 40, "two copies of everything");
    let held = store.blobs_on(1);
    assert!(held > 0);

    // A lost disk: the gateway comes back on an empty volume.
    store.stop(1).await;
    let volume = store.volume(1);
    std::fs::remove_dir_all(&volume).unwrap();
    std::fs::create_dir_all(&volume).unwrap();
    tokio::time::sleep(Duration::from_secs(5)).await; // its old heartbeat goes stale
    store.restart(1).await;
    eventually("the replaced volume holds its copies again", || {
        store.blobs_on(1) == held
    })
    .await;
    let total: usize = (0..3).map(|i| store.blobs_on(i)).sum();
    assert_eq!(total, 40, "two copies of everything again");
    // And they are the right bytes: read with the other copies gone.
    let root = store.shared.root().clone();
    let only = e2e::s3_client(
        &store.endpoint(1),
        "us-east-1",
        &root.access_key_id,
        &root.secret_access_key,
        |b| b.retry_config(aws_sdk_s3::config::retry::RetryConfig::disabled()),
    );
    store.stop(0).await;
    store.stop(2).await;
    tokio::time::sleep(Duration::from_secs(5)).await;
    for (key, body) in &objects {
        let head = only.head_object().bucket(B).key(key).send().await.expect("head");
        assert_eq!(head.content_length(), Some(body.len() as i64));
    }
    let mut read_here = 0;
    for (key, body) in &objects {
        if let Ok(out) = only.get_object().bucket(B).key(key).send().await {
            assert_eq!(
                out.body.collect().await.unwrap().into_bytes().to_vec(),
                *body,
                "{key}"
            );
            read_here += 1;
        }
    }
    assert_eq!(
        read_here, held,
        "every object with a copy on the repaired volume reads from it"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_object_without_a_surviving_copy_is_reported_and_still_listed() {
    // Small objects on volumes too: kept inline, they would survive the wiped volume.
    let mut store = LocalStore::start(
        2,
        &[
            "--free-grace",
            "0",
            "--min-part-size",
            "1",
            "--inline-max-size",
            "0",
        ],
    )
    .await;
    let c0 = store.client(0);
    create_bucket(&c0, B).await;
    put_objects(&store.client(1), "gone-", 3, 1000).await;
    put_objects(&c0, "kept-", 3, 1000).await;
    // An object of many parts keeps its segments beside its head (a manifest): named all the same.
    multipart_of(&store.client(1), "gone-many", 40).await;

    store.stop(1).await;
    let volume = store.volume(1);
    std::fs::remove_dir_all(&volume).unwrap();
    std::fs::create_dir_all(&volume).unwrap();
    tokio::time::sleep(Duration::from_secs(5)).await;
    store.restart(1).await;

    wait_for("the lost objects are reported", async || {
        admin(&store, 0, &["lost"]).expect("lost")["lost"]
            .as_array()
            .is_some_and(|l| l.len() == 3 + 40)
    })
    .await;
    let lost = admin(&store, 0, &["lost"]).unwrap();
    let mut objects: Vec<String> = lost["lost"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|l| {
            l["objects"]
                .as_array()
                .unwrap()
                .iter()
                .map(|o| o.as_str().unwrap().to_owned())
        })
        .collect();
    objects.sort();
    objects.dedup();
    assert_eq!(
        objects,
        [
            "volumes/gone-000",
            "volumes/gone-001",
            "volumes/gone-002",
            "volumes/gone-many"
        ]
    );
    let listed = c0.list_objects_v2().bucket(B).send().await.unwrap();
    assert_eq!(listed.contents().len(), 7, "lost objects stay listed");
    assert!(
        c0.get_object().bucket(B).key("gone-000").send().await.is_err(),
        "and are not served"
    );
    assert_eq!(get(&c0, B, "kept-000").await, data(1000, 0));
    let metrics = reqwest_metrics(&store.endpoint(1)).await;
    assert!(metrics.contains("stowage_volume_lost_blobs 43"), "{metrics}");
}

/// A multipart object of `parts` parts of 1 KiB, uploaded through `c`.
async fn multipart_of(c: &Client, key: &str, parts: u8) {
    let parts: Vec<(&Client, Vec<u8>)> = (1..=parts).map(|n| (c, data(1024, n))).collect();
    common::multipart(c, B, key, &parts).await;
}

async fn reqwest_metrics(endpoint: &str) -> String {
    let raw = e2e::RawClient::new(endpoint, "us-east-1", "x", "y");
    let resp = raw
        .request(http::Method::GET, "/_stowage/metrics")
        .anonymous()
        .send()
        .await;
    String::from_utf8_lossy(&resp.body).into_owned()
}

fn flip_byte(path: &Path, at: usize) -> Vec<u8> {
    let original = std::fs::read(path).unwrap();
    let mut bytes = original.clone();
    bytes[at] ^= 0x40;
    std::fs::write(path, bytes).unwrap();
    original
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_scrub_finds_a_flipped_byte_and_repairs_it_from_a_good_copy() {
    let store = LocalStore::start(
        2,
        &["--free-grace", "0", "--blob-copies", "2", "--scrub-interval", "2"],
    )
    .await;
    let c0 = store.client(0);
    create_bucket(&c0, B).await;
    let body = data(3 * MIB, 3);
    put(&c0, B, "k", body.clone()).await;
    let file = blob_paths(&store.volume(0)).pop().expect("a copy on gateway 0");
    let original = flip_byte(&file, 2 * MIB);

    // No read meets it first (reads check copies too): the scrub finds it.
    wait_for("the scrub repairs the copy", async || {
        std::fs::read(&file).is_ok_and(|b| b == original)
    })
    .await;
    assert_eq!(quarantined(&store.volume(0)), 1, "the damaged copy is kept aside");
    let metrics = reqwest_metrics(&store.endpoint(0)).await;
    assert!(
        metrics.contains("stowage_volume_copies_damaged_total 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("stowage_volume_copies_repaired_total 1"),
        "{metrics}"
    );
    assert_eq!(get(&c0, B, "k").await, body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_get_that_meets_a_damaged_copy_is_cut_short_and_the_next_reads_a_good_one() {
    let store = LocalStore::start(
        2,
        &[
            "--free-grace",
            "0",
            "--blob-copies",
            "2",
            "--scrub-interval",
            "0",
            "--sse-s3-default=false",
        ],
    )
    .await;
    let c0 = store.client(0);
    create_bucket(&c0, B).await;
    let body = data(2 * MIB, 5);
    put(&c0, B, "k", body.clone()).await;
    let file = blob_paths(&store.volume(0)).pop().expect("a copy on gateway 0");
    let original = flip_byte(&file, MIB + 17);

    let first = match c0.get_object().bucket(B).key("k").send().await {
        Ok(out) => out.body.collect().await.map(|b| b.into_bytes().to_vec()),
        Err(e) => panic!("the GET starts: {e:?}"),
    };
    assert!(first.is_err(), "the damaged read is cut short, never completed");
    assert_eq!(get(&c0, B, "k").await, body, "the next read takes the good copy");
    assert_eq!(
        std::fs::read(&file).unwrap(),
        original,
        "and the damaged copy was replaced"
    );
    assert_eq!(blob_files_in(&store.volume(0)), 1);
}
