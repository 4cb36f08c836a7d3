//! Slow and stalled clients: a body that stops sending ends with `RequestTimeout` and leaves
//! nothing behind, headers that never finish close the connection, and hundreds of authenticated
//! uploads trickling a byte at a time do not stall other clients' reads.

mod common;

use std::time::{Duration, Instant};

use bytes::Bytes;
use common::*;
use e2e::PayloadHash;
use http::Method;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

const B: &str = "slow";

/// The request line and headers of a signed `PUT /{B}/{key}` whose body is `len` bytes, as
/// they go on the wire (`UNSIGNED-PAYLOAD`, so the body may come at any pace).
fn put_head(gw: &Gateway, key: &str, len: usize) -> Vec<u8> {
    let req = gw
        .raw()
        .request(Method::PUT, &format!("/{B}/{key}"))
        .payload_hash(PayloadHash::Unsigned)
        .body(Bytes::from(vec![b'x'; len]))
        .into_http();
    let mut head = format!("PUT {} HTTP/1.1\r\n", req.uri().path_and_query().expect("path"));
    for (name, value) in req.headers() {
        head.push_str(&format!("{name}: {}\r\n", value.to_str().expect("ascii header")));
    }
    head.push_str("\r\n");
    head.into_bytes()
}

fn temp_files(gw: &Gateway) -> usize {
    std::fs::read_dir(gw.data_dir().join("tmp"))
        .map(|d| d.count())
        .unwrap_or(0)
}

/// Reads what the server sends until it closes the connection (or `limit` passes).
async fn read_to_close(tcp: &mut TcpStream, limit: Duration) -> Option<String> {
    let mut out = Vec::new();
    match tokio::time::timeout(limit, tcp.read_to_end(&mut out)).await {
        Ok(_) => Some(String::from_utf8_lossy(&out).into_owned()),
        Err(_) => None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_body_that_stalls_ends_with_request_timeout_and_leaves_no_temp_file() {
    let gw = start_with_args(&["--body-timeout", "1"]);
    create_bucket(&gw.client(), B).await;
    let mut tcp = TcpStream::connect(("127.0.0.1", gw.port)).await.unwrap();
    tcp.write_all(&put_head(&gw, "stalled", 1000)).await.unwrap();
    tcp.write_all(&[b'x'; 10]).await.unwrap();
    let answer = read_to_close(&mut tcp, Duration::from_secs(15))
        .await
        .expect("the gateway answers a stalled body within its deadline");
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    assert!(answer.contains("<Code>RequestTimeout</Code>"), "{answer}");
    assert_eq!(temp_files(&gw), 0, "the partial upload is removed");
    assert_s3_error(
        gw.client().head_object().bucket(B).key("stalled").send().await,
        "NotFound",
        404,
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn headers_that_never_finish_and_idle_connections_are_closed_each_on_its_deadline() {
    let gw = start_with_args(&["--header-timeout", "1", "--idle-timeout", "4"]);
    let mut tcp = TcpStream::connect(("127.0.0.1", gw.port)).await.unwrap();
    tcp.write_all(b"GET /slow HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
        .await
        .unwrap();
    let closed = read_to_close(&mut tcp, Duration::from_secs(15)).await;
    assert!(closed.is_some(), "a connection with unfinished headers is closed");

    // A keep-alive connection may idle longer than the header deadline, up to its own.
    let mut idle = TcpStream::connect(("127.0.0.1", gw.port)).await.unwrap();
    idle.write_all(b"GET /_stowage/health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        .await
        .unwrap();
    let mut answer = [0u8; 1024];
    let n = idle.read(&mut answer).await.unwrap();
    assert!(answer[..n].starts_with(b"HTTP/1.1 200"));
    let opened = Instant::now();
    tokio::time::sleep(Duration::from_secs(2)).await;
    idle.write_all(b"GET /_stowage/health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        .await
        .expect("still open after twice the header deadline");
    let n = idle.read(&mut answer).await.unwrap();
    assert!(answer[..n].starts_with(b"HTTP/1.1 200"), "served after idling");
    let closed = read_to_close(&mut idle, Duration::from_secs(15)).await;
    assert!(closed.is_some(), "an idle connection is closed at its deadline");
    assert!(opened.elapsed() >= Duration::from_secs(4), "not before it");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn hundreds_of_trickling_uploads_do_not_stall_other_readers() {
    /// More than the 512 threads of tokio's blocking pool, which one thread per upload exhausted.
    const TRICKLERS: usize = 700;
    /// Connections opened at once: a burst of hundreds of SYNs can overflow the listen backlog.
    const CONNECT_BATCH: usize = 50;
    const TRICKLE: Duration = Duration::from_secs(6);
    let gw = start_with_args(&["--body-timeout", "30"]);
    let client = gw.client();
    create_bucket(&client, B).await;
    let object = vec![7u8; 256 * 1024];
    put(&client, B, "hot", object.clone()).await;

    let mut tricklers = Vec::new();
    for i in 0..TRICKLERS {
        if i % CONNECT_BATCH == 0 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let head = put_head(&gw, &format!("trickle-{i}"), 1000);
        let port = gw.port;
        tricklers.push(tokio::spawn(async move {
            let mut tcp = TcpStream::connect(("127.0.0.1", port)).await.ok()?;
            tcp.write_all(&head).await.ok()?;
            let started = Instant::now();
            while started.elapsed() < TRICKLE {
                tcp.write_all(b"x").await.ok()?;
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            Some(tcp)
        }));
    }
    // Let every trickling upload reach its body.
    tokio::time::sleep(Duration::from_secs(2)).await;

    let mut slowest = Duration::ZERO;
    let reads_until = Instant::now() + Duration::from_secs(3);
    let mut reads = 0;
    while Instant::now() < reads_until {
        let started = Instant::now();
        let got = tokio::time::timeout(Duration::from_secs(10), get(&client, B, "hot"))
            .await
            .expect("a GET completes while uploads trickle");
        assert_eq!(got, object);
        slowest = slowest.max(started.elapsed());
        reads += 1;
    }
    let alive = futures::future::join_all(tricklers)
        .await
        .into_iter()
        .filter(|t| matches!(t, Ok(Some(_))))
        .count();
    eprintln!("{reads} GETs while {alive} uploads trickled; slowest {slowest:?}");
    assert!(
        alive > 512,
        "more trickling uploads stayed connected than the blocking pool has threads: {alive}"
    );
    assert!(reads >= 10, "reads went on: {reads}");
}
