//! Listing: ListObjectsV2 (prefix, delimiter, pagination, start-after, fetch-owner,
//! encoding-type, max-keys) and ListObjects v1 (marker, NextMarker).

mod common;

use aws_sdk_s3::Client;
use aws_sdk_s3::operation::list_objects::ListObjectsOutput;
use aws_sdk_s3::operation::list_objects_v2::ListObjectsV2Output;
use common::*;
use futures::StreamExt;
use http::Method;

/// How many PUTs are in flight while a test fills a bucket.
const PUT_CONCURRENCY: usize = 32;

/// Puts an empty object at every key, `PUT_CONCURRENCY` at a time.
async fn put_all(client: &Client, bucket: &str, keys: &[String]) {
    futures::stream::iter(keys)
        .map(|key| put(client, bucket, key, Vec::new()))
        .buffer_unordered(PUT_CONCURRENCY)
        .collect::<Vec<String>>()
        .await;
}

async fn bucket_with_keys(bucket: &str, keys: &[&str]) -> (Gateway, Client) {
    let (gw, client) = with_bucket(bucket).await;
    let keys: Vec<String> = keys.iter().map(|k| (*k).to_owned()).collect();
    put_all(&client, bucket, &keys).await;
    (gw, client)
}

fn keys_v2(page: &ListObjectsV2Output) -> Vec<&str> {
    page.contents()
        .iter()
        .map(|o| o.key().unwrap_or_default())
        .collect()
}

fn prefixes_v2(page: &ListObjectsV2Output) -> Vec<&str> {
    page.common_prefixes()
        .iter()
        .map(|p| p.prefix().unwrap_or_default())
        .collect()
}

fn keys_v1(page: &ListObjectsOutput) -> Vec<&str> {
    page.contents()
        .iter()
        .map(|o| o.key().unwrap_or_default())
        .collect()
}

fn prefixes_v1(page: &ListObjectsOutput) -> Vec<&str> {
    page.common_prefixes()
        .iter()
        .map(|p| p.prefix().unwrap_or_default())
        .collect()
}

/// The keys of a listing exactly as they are on the wire.
fn listed_keys(xml: &str) -> Vec<String> {
    xml_values(xml, "Key")
}

const TREE: [&str; 7] = [
    "a.txt",
    "dir1/x",
    "dir1/y",
    "dir2/sub/z",
    "dir2/top",
    "dir3",
    "zeta/deep/er/still",
];

#[tokio::test]
async fn prefix_limits_the_listing_to_matching_keys() {
    let (_gw, client) = bucket_with_keys("tree", &TREE).await;

    let page = client
        .list_objects_v2()
        .bucket("tree")
        .prefix("dir")
        .send()
        .await
        .expect("list");

    assert_eq!(
        (keys_v2(&page), page.key_count(), page.is_truncated()),
        (
            vec!["dir1/x", "dir1/y", "dir2/sub/z", "dir2/top", "dir3"],
            Some(5),
            Some(false)
        )
    );
}

#[tokio::test]
async fn a_delimiter_rolls_keys_up_into_common_prefixes() {
    let (_gw, client) = bucket_with_keys("tree", &TREE).await;

    let page = client
        .list_objects_v2()
        .bucket("tree")
        .delimiter("/")
        .send()
        .await
        .expect("list");

    assert_eq!(keys_v2(&page), ["a.txt", "dir3"]);
    assert_eq!(prefixes_v2(&page), ["dir1/", "dir2/", "zeta/"]);
    // KeyCount counts common prefixes too.
    assert_eq!((page.key_count(), page.is_truncated()), (Some(5), Some(false)));
}

#[tokio::test]
async fn a_delimiter_under_a_prefix_rolls_up_the_next_level() {
    let (_gw, client) = bucket_with_keys("tree", &TREE).await;

    let page = client
        .list_objects_v2()
        .bucket("tree")
        .prefix("dir2/")
        .delimiter("/")
        .send()
        .await
        .expect("list");

    assert_eq!(
        (keys_v2(&page), prefixes_v2(&page), page.key_count()),
        (vec!["dir2/top"], vec!["dir2/sub/"], Some(2))
    );
}

#[tokio::test]
async fn max_keys_pages_return_every_key_exactly_once_in_order() {
    const KEYS: usize = 2_500;
    const PAGE: i32 = 700;
    let (_gw, client) = with_bucket("many").await;
    let keys: Vec<String> = (0..KEYS).map(|i| format!("key-{i:05}")).collect();
    put_all(&client, "many", &keys).await;

    let mut listed = Vec::new();
    let mut pages = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let page = client
            .list_objects_v2()
            .bucket("many")
            .max_keys(PAGE)
            .set_continuation_token(token.clone())
            .send()
            .await
            .expect("list page");
        assert_eq!(page.continuation_token(), token.as_deref(), "the token is echoed");
        listed.extend(keys_v2(&page).into_iter().map(str::to_owned));
        pages.push((
            page.key_count(),
            page.is_truncated(),
            page.next_continuation_token().is_some(),
        ));
        token = page.next_continuation_token().map(str::to_owned);
        if token.is_none() {
            break;
        }
    }

    assert_eq!(listed, keys);
    assert_eq!(
        pages,
        [
            (Some(700), Some(true), true),
            (Some(700), Some(true), true),
            (Some(700), Some(true), true),
            (Some(400), Some(false), false),
        ]
    );
}

#[tokio::test]
async fn start_after_lists_only_later_keys() {
    let (_gw, client) = bucket_with_keys("letters", &["a", "b", "c", "d"]).await;

    let after_existing = client
        .list_objects_v2()
        .bucket("letters")
        .start_after("b")
        .send()
        .await
        .expect("list");
    let after_absent = client
        .list_objects_v2()
        .bucket("letters")
        .start_after("bb")
        .send()
        .await
        .expect("list");

    assert_eq!(keys_v2(&after_existing), ["c", "d"]);
    assert_eq!(keys_v2(&after_absent), ["c", "d"]);
    assert_eq!(after_existing.start_after(), Some("b"));
}

#[tokio::test]
async fn fetch_owner_returns_each_objects_owner() {
    let (_gw, client) = bucket_with_keys("owned", &["a", "b"]).await;

    let page = client
        .list_objects_v2()
        .bucket("owned")
        .fetch_owner(true)
        .send()
        .await
        .expect("list");

    assert_eq!(page.contents().len(), 2);
    for object in page.contents() {
        let id = object.owner().and_then(|o| o.id());
        assert!(id.is_some_and(|id| !id.is_empty()), "{object:?}");
    }
}

#[tokio::test]
async fn without_fetch_owner_no_owner_is_returned() {
    let (_gw, client) = bucket_with_keys("owned", &["a", "b"]).await;

    let explicit = client
        .list_objects_v2()
        .bucket("owned")
        .fetch_owner(false)
        .send()
        .await
        .expect("list");
    let default = client
        .list_objects_v2()
        .bucket("owned")
        .send()
        .await
        .expect("list");

    for page in [explicit, default] {
        let owners: Vec<_> = page.contents().iter().map(|o| o.owner()).collect();
        assert_eq!(owners, [None, None]);
    }
}

#[tokio::test]
async fn url_encoding_type_percent_encodes_keys_and_prefixes() {
    let (gw, _client) = bucket_with_keys(
        "encoded",
        &["a+b", "ключ/файл", "100%.csv", "plain/x", "run books/x"],
    )
    .await;

    let resp = gw
        .raw()
        .request(
            Method::GET,
            "/encoded?list-type=2&encoding-type=url&delimiter=%2F",
        )
        .send()
        .await;

    assert_eq!(resp.status, 200, "{}", resp.text());
    let xml = resp.text();
    assert_eq!(xml_values(&xml, "EncodingType"), ["url"]);
    assert_eq!(listed_keys(&xml), ["100%25.csv", "a%2Bb"]);
    // AWS encodes the space of `run books/` with `+` or `%20` depending on whom one asks; a
    // client decodes either (a literal `+` is `%2B`), so only the decoded value is pinned.
    let prefixes = xml_values(&xml, "Prefix");
    let decoded: Vec<String> = prefixes.iter().map(|p| form_decode(p)).collect();
    assert_eq!(
        decoded,
        ["", "plain/", "run books/", "ключ/"],
        "the request prefix, then the common prefixes, as sent: {prefixes:?}"
    );
    assert_eq!(prefixes[3], "%D0%BA%D0%BB%D1%8E%D1%87/");
}

/// Version 1 under `encoding-type=url` encodes keys, common prefixes and markers, but echoes its
/// own `Prefix` as sent: botocore decodes the others and not that one, and so does every client
/// built on it.
#[tokio::test]
async fn a_v1_listing_under_url_encoding_echoes_its_prefix_as_sent() {
    let (gw, _client) = bucket_with_keys("encoded1", &["a b/x", "a b/y+z"]).await;

    let resp = gw
        .raw()
        .request(Method::GET, "/encoded1?encoding-type=url&prefix=a%20b%2F")
        .send()
        .await;

    assert_eq!(resp.status, 200, "{}", resp.text());
    let xml = resp.text();
    assert_eq!(xml_values(&xml, "EncodingType"), ["url"]);
    assert_eq!(xml_values(&xml, "Prefix"), ["a b/"]);
    let keys: Vec<String> = listed_keys(&xml).iter().map(|k| form_decode(k)).collect();
    assert_eq!(keys, ["a b/x", "a b/y+z"]);
    assert!(listed_keys(&xml)[1].contains("%2B"), "keys stay encoded");
}

/// Decodes `application/x-www-form-urlencoded` text: `+` is a space, `%XX` a byte.
fn form_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).expect("two hex digits");
                out.push(u8::from_str_radix(hex, 16).expect("hex escape"));
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).expect("UTF-8 once decoded")
}

#[tokio::test]
async fn max_keys_zero_lists_nothing_and_is_not_truncated() {
    let (_gw, client) = bucket_with_keys("zero", &["a", "b"]).await;

    let page = client
        .list_objects_v2()
        .bucket("zero")
        .max_keys(0)
        .send()
        .await
        .expect("list");

    assert_eq!(
        (keys_v2(&page), page.key_count(), page.is_truncated()),
        (Vec::<&str>::new(), Some(0), Some(false))
    );
}

#[tokio::test]
async fn list_objects_v1_pages_with_marker_and_no_next_marker_without_a_delimiter() {
    let (_gw, client) = bucket_with_keys("list-v1", &["a", "b", "c", "d", "e"]).await;

    let mut pages = Vec::new();
    let mut marker = None;
    loop {
        let page = client
            .list_objects()
            .bucket("list-v1")
            .max_keys(2)
            .set_marker(marker.clone())
            .send()
            .await
            .expect("list v1");
        let keys: Vec<String> = keys_v1(&page).into_iter().map(str::to_owned).collect();
        let truncated = page.is_truncated() == Some(true);
        pages.push((
            keys.clone(),
            page.is_truncated(),
            page.next_marker().map(str::to_owned),
        ));
        // Without a delimiter a client resumes after the last key it saw.
        marker = keys.last().cloned();
        if !truncated {
            break;
        }
    }

    let page = |keys: &[&str], truncated| {
        (
            keys.iter().map(|k| (*k).to_owned()).collect::<Vec<_>>(),
            Some(truncated),
            None,
        )
    };
    assert_eq!(
        pages,
        [
            page(&["a", "b"], true),
            page(&["c", "d"], true),
            page(&["e"], false)
        ]
    );
}

#[tokio::test]
async fn list_objects_v1_with_a_delimiter_returns_next_marker_even_on_a_common_prefix() {
    let (_gw, client) = bucket_with_keys(
        "list-v1",
        &["asdf", "boo/bar", "boo/baz/xyzzy", "cquux/thud", "cquux/bla"],
    )
    .await;

    let mut pages = Vec::new();
    let mut marker = None;
    loop {
        let page = client
            .list_objects()
            .bucket("list-v1")
            .delimiter("/")
            .max_keys(1)
            .set_marker(marker)
            .send()
            .await
            .expect("list v1");
        marker = page.next_marker().map(str::to_owned);
        pages.push((
            keys_v1(&page).join(","),
            prefixes_v1(&page).join(","),
            page.is_truncated(),
            marker.clone(),
        ));
        if page.is_truncated() != Some(true) {
            break;
        }
    }

    let page = |key: &str, prefix: &str, truncated, next: Option<&str>| {
        (
            key.to_owned(),
            prefix.to_owned(),
            Some(truncated),
            next.map(str::to_owned),
        )
    };
    assert_eq!(
        pages,
        [
            page("asdf", "", true, Some("asdf")),
            page("", "boo/", true, Some("boo/")),
            page("", "cquux/", false, None),
        ]
    );
}

#[tokio::test]
async fn list_objects_v2_pages_ending_on_a_common_prefix_do_not_repeat_it() {
    let (_gw, client) = bucket_with_keys(
        "list-v2",
        &[
            "asdf",
            "boo/bar",
            "boo/baz/xyzzy",
            "cquux/thud",
            "cquux/bla",
            "zz",
            "zz2",
        ],
    )
    .await;

    let mut pages = Vec::new();
    let mut token = None;
    loop {
        let page = client
            .list_objects_v2()
            .bucket("list-v2")
            .delimiter("/")
            .max_keys(2)
            .set_continuation_token(token)
            .send()
            .await
            .expect("list v2");
        token = page.next_continuation_token().map(str::to_owned);
        pages.push((
            keys_v2(&page).join(","),
            prefixes_v2(&page).join(","),
            page.key_count(),
            page.is_truncated(),
        ));
        if token.is_none() {
            break;
        }
    }

    let page = |keys: &str, prefixes: &str, count, truncated| {
        (keys.to_owned(), prefixes.to_owned(), Some(count), Some(truncated))
    };
    assert_eq!(
        pages,
        [
            page("asdf", "boo/", 2, true),
            page("zz", "cquux/", 2, true),
            page("zz2", "", 1, false),
        ]
    );
}

#[tokio::test]
async fn an_empty_delimiter_is_no_delimiter() {
    let (gw, _c) = bucket_with_keys("empty-delim", &TREE).await;
    for query in ["list-type=2&delimiter=", "delimiter=", "versions&delimiter="] {
        let resp = gw
            .raw()
            .request(Method::GET, &format!("/empty-delim?{query}"))
            .send()
            .await;

        assert_eq!(resp.status, 200, "{query}: {}", resp.text());
        let xml = resp.text();
        assert!(xml_values(&xml, "Delimiter").is_empty(), "{query}: {xml}");
        assert!(
            xml_values(&xml, "Prefix").iter().all(String::is_empty),
            "{query}: no common prefixes"
        );
        assert_eq!(listed_keys(&xml).len(), TREE.len(), "{query}: every key");
    }
}

#[tokio::test]
async fn a_list_type_other_than_2_is_invalid_argument() {
    let (gw, _c) = bucket_with_keys("list-type", &["a"]).await;
    for list_type in ["1", "3", "x"] {
        let resp = gw
            .raw()
            .request(Method::GET, &format!("/list-type?list-type={list_type}"))
            .send()
            .await;

        assert_raw_error(&resp, "InvalidArgument", 400);
    }
}
