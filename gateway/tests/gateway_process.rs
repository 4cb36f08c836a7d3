//! The gateway as a process: generated root credentials, restarts, SIGTERM draining in-flight
//! requests, SIGKILL mid-PUT, and the sweeper collecting what a crash left behind.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::{Duration, Instant};

use aws_sdk_s3::Client;
use aws_sdk_s3::config::retry::RetryConfig;
use aws_sdk_s3::primitives::ByteStream;
use bytes::Bytes;
use common::*;
use sha2::{Digest as _, Sha256};

/// How long a test waits for something that happens in the background (a PUT reaching the
/// volume, the sweeper running).
const BACKGROUND_TIMEOUT: Duration = Duration::from_secs(20);
const POLL: Duration = Duration::from_millis(5);

const ROOT_KEY_ENV: &str = "STOWAGE_ROOT_ACCESS_KEY_ID";
const ROOT_SECRET_ENV: &str = "STOWAGE_ROOT_SECRET_ACCESS_KEY";

/// A gateway without root credentials in its environment (empty values count as unset).
fn start_without_root_env() -> Gateway {
    Gateway::start_with(
        bin(),
        GatewayOptions {
            env: vec![
                (ROOT_KEY_ENV.to_owned(), String::new()),
                (ROOT_SECRET_ENV.to_owned(), String::new()),
            ],
            ..Default::default()
        },
    )
}

/// The value of every `NAME=value` line in the log.
fn printed(log: &str, name: &str) -> Vec<String> {
    let prefix = format!("{name}=");
    log.lines()
        .filter_map(|line| line.trim().strip_prefix(&prefix))
        .map(str::to_owned)
        .collect()
}

/// Files waiting in the blob volume's `tmp/`: PUTs in progress or abandoned.
fn tmp_files(data_dir: &Path) -> usize {
    std::fs::read_dir(data_dir.join("tmp")).map_or(0, |d| d.count())
}

/// One attempt only: a retry would send the PUT again and blur which attempt the outcome
/// belongs to.
fn single_attempt_client(gw: &Gateway) -> Client {
    gw.client_with(|b| b.retry_config(RetryConfig::disabled()))
}

/// Waits until the gateway has started writing a PUT's body to its volume.
async fn wait_for_upload_in_progress(data_dir: &Path) {
    let deadline = Instant::now() + BACKGROUND_TIMEOUT;
    while tmp_files(data_dir) == 0 {
        assert!(Instant::now() < deadline, "no PUT reached the volume");
        tokio::time::sleep(POLL).await;
    }
}

fn sha256(data: &[u8]) -> Vec<u8> {
    Sha256::digest(data).to_vec()
}

#[tokio::test]
async fn without_root_credentials_a_key_is_generated_printed_once_and_kept() {
    let mut gw = start_without_root_env();
    let log = gw.log();
    let (ids, secrets) = (
        printed(&log, "AWS_ACCESS_KEY_ID"),
        printed(&log, "AWS_SECRET_ACCESS_KEY"),
    );
    assert_eq!((ids.len(), secrets.len()), (1, 1), "{log}");
    let (id, secret) = (&ids[0], &secrets[0]);
    create_bucket(&gw.client_for(id, secret), "first-life").await;

    gw.restart();

    let log = gw.log();
    assert_eq!(
        log.matches(id.as_str()).count(),
        1,
        "printed again after restart: {log}"
    );
    let stored = gw.data_dir().join("root-credentials.json");
    let contents = std::fs::read_to_string(&stored).expect("credentials kept in the data dir");
    assert!(
        contents.contains(id.as_str()) && contents.contains(secret.as_str()),
        "{contents}"
    );
    let mode = std::fs::metadata(&stored).expect("stat").permissions().mode();
    assert_eq!(mode & 0o777, 0o600, "only the gateway's user may read the secret");
    let buckets = gw
        .client_for(id, secret)
        .list_buckets()
        .send()
        .await
        .expect("the same key works after a restart");
    let names: Vec<&str> = buckets
        .buckets()
        .iter()
        .map(|b| b.name().unwrap_or_default())
        .collect();
    assert_eq!(names, ["first-life"]);
}

#[tokio::test]
async fn objects_and_their_metadata_survive_a_restart() {
    let (mut gw, client) = with_bucket("durable").await;
    put(&client, "durable", "a", b"alpha".to_vec()).await;
    client
        .put_object()
        .bucket("durable")
        .key("b")
        .content_type("text/plain")
        .metadata("color", "blue")
        .body(ByteStream::from_static(b"beta"))
        .send()
        .await
        .expect("put with metadata");
    let before = snapshot(&client, "durable").await;

    gw.restart();

    let client = gw.client();
    assert_eq!(snapshot(&client, "durable").await, before);
    assert_eq!(get(&client, "durable", "a").await, b"alpha");
    let head = client
        .head_object()
        .bucket("durable")
        .key("b")
        .send()
        .await
        .expect("head");
    assert_eq!(
        (
            head.content_type(),
            head.metadata().and_then(|m| m.get("color")).map(String::as_str)
        ),
        (Some("text/plain"), Some("blue"))
    );
}

/// 30 MiB: long enough on the wire to be caught mid-flight.
const DRAINED_PUT_BYTES: usize = 30 * 1024 * 1024;

#[tokio::test]
async fn sigterm_lets_a_put_in_flight_finish_and_it_survives_the_restart() {
    let (mut gw, _client) = with_bucket("drain").await;
    let client = single_attempt_client(&gw);
    let data = Bytes::from(
        (0..DRAINED_PUT_BYTES)
            .map(|i| (i % 253) as u8)
            .collect::<Vec<u8>>(),
    );
    let upload = tokio::spawn({
        let (client, data) = (client.clone(), data.clone());
        async move {
            client
                .put_object()
                .bucket("drain")
                .key("big")
                .body(ByteStream::from(data))
                .send()
                .await
        }
    });
    wait_for_upload_in_progress(gw.data_dir()).await;

    // terminate() blocks until the process exits, which needs the upload task to keep running.
    let (mut gw, status) = tokio::task::spawn_blocking(move || {
        let status = gw.terminate();
        (gw, status)
    })
    .await
    .expect("terminate");

    assert!(status.success(), "unclean exit after SIGTERM: {status}");
    let put = upload.await.expect("upload task");
    assert!(put.is_ok(), "the PUT in flight at SIGTERM failed: {put:?}");
    gw.restart();
    let client = gw.client();
    let stored = get(&client, "drain", "big").await;
    assert_eq!(
        (stored.len(), sha256(&stored)),
        (DRAINED_PUT_BYTES, sha256(&data))
    );
}

/// Moves the modification time of every file under `dir` `by` into the past.
fn age_files(dir: &std::path::Path, by: Duration) {
    for entry in std::fs::read_dir(dir).expect("read dir").filter_map(Result::ok) {
        let path = entry.path();
        if path.is_dir() {
            age_files(&path, by);
        } else if let Ok(file) = std::fs::File::options().write(true).open(&path) {
            file.set_modified(std::time::SystemTime::now() - by)
                .expect("set mtime");
        }
    }
}

#[tokio::test]
async fn a_sweep_grace_below_the_floor_is_raised_and_young_orphans_survive() {
    let gw = start_with_args(&["--sweep-interval", "1", "--sweep-grace", "0"]);
    // An unreferenced blob as an upload in flight has it: written, not yet committed.
    let young = gw
        .data_dir()
        .join("blobs")
        .join("00")
        .join(format!("{:032x}", 0x1234u128));
    std::fs::write(&young, b"in flight").unwrap();
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(young.exists(), "a blob younger than the floor is not swept");
    assert!(
        gw.log().contains("raised to"),
        "the gateway says the grace was raised"
    );
}

/// 200 MiB: the PUT is still streaming when the process dies.
const KILLED_PUT_BYTES: usize = 200 * 1024 * 1024;

#[tokio::test]
async fn sigkill_mid_put_leaves_no_object_and_the_sweeper_removes_its_bytes() {
    let data_dir = tempfile::tempdir().expect("data dir");
    let options = |args: &[&str], root: Option<&Gateway>| GatewayOptions {
        args: args.iter().map(|a| (*a).to_owned()).collect(),
        env: root
            .map(|gw| {
                vec![
                    (ROOT_KEY_ENV.to_owned(), gw.access_key.clone()),
                    (ROOT_SECRET_ENV.to_owned(), gw.secret_key.clone()),
                ]
            })
            .unwrap_or_default(),
        data_dir: Some(data_dir.path().to_owned()),
        ..Default::default()
    };
    let mut crashed = Gateway::start_with(bin(), options(&[], None));
    let client = single_attempt_client(&crashed);
    create_bucket(&client, "crash").await;
    put(&client, "crash", "committed", vec![7u8; 4096]).await;
    let committed_blobs = blob_files(&crashed);
    // Zeroed pages cost no memory until touched; the bytes' values do not matter here.
    let upload = tokio::spawn({
        let client = client.clone();
        async move {
            client
                .put_object()
                .bucket("crash")
                .key("doomed")
                .body(ByteStream::from(vec![0u8; KILLED_PUT_BYTES]))
                .send()
                .await
        }
    });
    wait_for_upload_in_progress(data_dir.path()).await;

    crashed.kill9();

    assert!(
        upload.await.expect("upload task").is_err(),
        "the PUT outlived SIGKILL"
    );
    let leftovers = tmp_files(data_dir.path()) + blob_files(&crashed) - committed_blobs;
    assert!(
        leftovers > 0,
        "the crash left nothing to sweep: the test proves nothing"
    );
    // Two hours pass (the sweep grace period is one), then the same volume and credentials
    // come back, sweeping every second.
    age_files(data_dir.path(), Duration::from_secs(2 * 3600));
    let gw = Gateway::start_with(bin(), options(&["--sweep-interval", "1"], Some(&crashed)));
    let client = gw.client_for(&crashed.access_key, &crashed.secret_key);
    assert_s3_error(
        client.get_object().bucket("crash").key("doomed").send().await,
        "NoSuchKey",
        404,
    );
    let deadline = Instant::now() + BACKGROUND_TIMEOUT;
    while tmp_files(data_dir.path()) > 0 || blob_files(&gw) > committed_blobs {
        assert!(
            Instant::now() < deadline,
            "orphans left after {BACKGROUND_TIMEOUT:?}: {} in tmp/, {} blobs for {committed_blobs} committed",
            tmp_files(data_dir.path()),
            blob_files(&gw)
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(blob_files(&gw), committed_blobs);
    let listed: Vec<String> = snapshot(&client, "crash")
        .await
        .into_iter()
        .map(|(k, _)| k)
        .collect();
    assert_eq!(listed, ["committed"]);
    assert_eq!(get(&client, "crash", "committed").await, vec![7u8; 4096]);
}

#[tokio::test]
async fn a_gateway_with_another_master_key_refuses_to_start_and_says_why() {
    if tikv_store_url().is_some() {
        return; // the store is the data directory's here
    }
    let data_dir = tempfile::tempdir().expect("data dir");
    let options = || GatewayOptions {
        data_dir: Some(data_dir.path().to_owned()),
        ..Default::default()
    };
    let mut gw = Gateway::start_with(bin(), options());
    gw.terminate();
    // As if the Secret holding the key had been regenerated.
    use base64::Engine as _;
    let other = base64::engine::general_purpose::STANDARD.encode(rand::random::<[u8; 32]>());
    std::fs::write(data_dir.path().join("master.key"), other).unwrap();
    match Gateway::try_start_with(bin(), options()) {
        Err(e2e::StartError::Exited { log, .. }) => {
            assert!(log.contains("does not open this store"), "{log}")
        }
        other => panic!("a gateway with the wrong master key must not start: {other:?}"),
    }
}

/// 64 writers PUT small objects (kept in the metadata store, their commits sharing fsyncs) until
/// the gateway is killed with SIGKILL: after a restart, every PUT that was acknowledged reads
/// back whole, and nothing half-written is listed.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_acknowledged_small_put_survives_sigkill_under_64_writers() {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::{Arc, Mutex};
    let (mut gw, client) = with_bucket("burst").await;
    let client = Client::from_conf(
        client
            .config()
            .to_builder()
            .retry_config(RetryConfig::disabled())
            .build(),
    );
    let acked = Arc::new(Mutex::new(Vec::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let writers: Vec<_> = (0..64u8)
        .map(|w| {
            let (client, acked, stop) = (client.clone(), acked.clone(), stop.clone());
            tokio::spawn(async move {
                for n in 0usize.. {
                    if stop.load(Ordering::SeqCst) {
                        return;
                    }
                    let key = format!("w{w}/{n}");
                    let body = vec![w ^ n as u8; 4096 + n % 100];
                    let put = client
                        .put_object()
                        .bucket("burst")
                        .key(&key)
                        .body(ByteStream::from(body.clone()))
                        .send()
                        .await;
                    match put {
                        Ok(_) => acked.lock().unwrap().push((key, body)),
                        Err(_) => return, // the gateway is gone
                    }
                }
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    gw.kill9();
    stop.store(true, Ordering::SeqCst);
    for w in writers {
        w.await.unwrap();
    }
    let acked = acked.lock().unwrap().clone();
    assert!(acked.len() > 64, "only {} PUTs were acknowledged", acked.len());

    gw.restart();
    let client = gw.client();
    for (key, body) in &acked {
        let got = client.get_object().bucket("burst").key(key).send().await;
        let got = match got {
            Ok(out) => out.body.collect().await.unwrap().into_bytes().to_vec(),
            Err(e) => panic!("{key}: {e:?}\n{}", gw.log()),
        };
        assert_eq!(&got, body, "{key} was acknowledged");
    }
    let listed = snapshot(&client, "burst").await;
    for (key, _) in &listed {
        let body = get(&client, "burst", key).await;
        assert!(
            body.len() >= 4096 && body.iter().all(|b| *b == body[0]),
            "{key} is whole"
        );
    }
}
