//! The gateway starts, serves a bucket and an object, and answers every response with a request id.

mod common;

use common::*;

#[tokio::test]
async fn put_then_get_round_trips_through_the_default_sdk_client() {
    let (gw, client) = with_bucket("smoke").await;
    let etag = put(&client, "smoke", "hello.txt", b"hello world".to_vec()).await;
    assert_eq!(etag, "\"5eb63bbbe01eeed093cb22bb8f5acdc3\"");
    assert_eq!(get(&client, "smoke", "hello.txt").await, b"hello world");
    let resp = gw
        .raw()
        .request(http::Method::GET, "/smoke/hello.txt")
        .send()
        .await;
    assert_eq!(resp.status, 200);
    assert!(resp.header("x-amz-request-id").is_some_and(|v| !v.is_empty()));
}
