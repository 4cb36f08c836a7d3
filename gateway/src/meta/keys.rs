//! Key layout of the metadata keyspace, designed for prefix scans.
//!
//! Every key starts with a one-byte table tag. Variable-length components that are followed by
//! more components are escaped order-preservingly (`0x00` -> `0x00 0xFF`, then a `0x00 0x01`
//! terminator, which sorts below any escaped byte and cannot be confused with a following
//! component that starts with `0xFF`), so `(bucket, key)` pairs sort by bucket and then by key bytes, and the prefix
//! of an escaped string is the escaped prefix. A trailing component is stored raw, so "all
//! objects whose key starts with P" is the single range `[head(b, P), prefix_end(head(b, P)))`.
//!
//! | tag | key                                   | value                         |
//! |-----|---------------------------------------|-------------------------------|
//! | `B` | bucket                                | bucket record                 |
//! | `O` | space, object key                     | current object head           |
//! | `V` | space, object key, inverted version   | one version (issue: versions) |
//! | `U` | space, object key, upload id          | multipart upload              |
//! | `P` | upload id, part number (u32 BE)       | uploaded part                 |
//! | `R` | blob id                               | a blob's references and place |
//! | `T` | space, client token                   | idempotency record            |
//! | `L` | lease name                            | lease (lifecycle worker)      |
//! | `I` | user name                             | user (identity)               |
//! | `K` | access key id                         | access key (sealed secret)    |
//! | `N` | node id                               | a gateway of the store        |
//! | `C` | setting name                          | a store-wide setting          |
//! | `F` | node, queued at (u64 BE nanos), blob  | a blob the node is to free    |
//! | `H` | node, blob                            | the same entry, by blob       |
//! | `Z` | space                                 | a deleted bucket's space      |
//! | `S` | manifest id, end (u64 BE), chunk      | segments and parts of a head  |
//! | `G` | node, blob                            | a blob the node holds (index) |
//! | `D` | node id                               | the node's drain              |
//! | `X` | blob id                               | a blob with no good copy left |
//! | `E` | blob id                               | an inline blob's stored bytes |
//!
//! A bucket's objects, versions, uploads and tokens live in its *space* ([`Space`]): the bucket
//! name and the incarnation the bucket was created with. A write that raced a DeleteBucket (on
//! TiKV a writer only peeks at the bucket record, so it can commit after the delete) lands in the
//! dead space, never in a later bucket of the same name; the dead space is swept.

const BUCKET: u8 = b'B';
const OBJECT: u8 = b'O';
const VERSION: u8 = b'V';
const UPLOAD: u8 = b'U';
const PART: u8 = b'P';
const BLOB_REF: u8 = b'R';
const TOKEN: u8 = b'T';
const LEASE: u8 = b'L';
const USER: u8 = b'I';
const ACCESS_KEY: u8 = b'K';
const NODE: u8 = b'N';
const SETTING: u8 = b'C';
const FREE_QUEUE: u8 = b'F';
const FREE_PENDING: u8 = b'H';
const KMS_KEY: u8 = b'M';
const KMS_ALIAS: u8 = b'A';
const DEAD_SPACE: u8 = b'Z';
const MANIFEST: u8 = b'S';
const HELD: u8 = b'G';
const DRAIN: u8 = b'D';
const LOST: u8 = b'X';
const INLINE_BLOB: u8 = b'E';

/// Where a bucket's records live: its name, and the incarnation it was created with. Bucket
/// names never hold `#`, so `name#incarnation` is no other bucket's name; buckets created before
/// incarnations existed keep the bare name.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Space(String);

impl Space {
    pub fn new(bucket: &str, incarnation: Option<u64>) -> Self {
        match incarnation {
            Some(n) => Space(format!("{bucket}#{n:016x}")),
            None => Space(bucket.to_owned()),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

fn push_escaped(out: &mut Vec<u8>, s: &[u8]) {
    for &b in s {
        out.push(b);
        if b == 0 {
            out.push(0xFF);
        }
    }
    out.extend_from_slice(&TERMINATOR);
}

const TERMINATOR: [u8; 2] = [0x00, 0x01];

/// An escaped prefix: escaped like a component, but not terminated.
fn push_escaped_prefix(out: &mut Vec<u8>, s: &[u8]) {
    push_escaped(out, s);
    out.truncate(out.len() - TERMINATOR.len());
}

fn with_tag(tag: u8, capacity: usize) -> Vec<u8> {
    let mut k = Vec::with_capacity(capacity + 1);
    k.push(tag);
    k
}

pub fn bucket(name: &str) -> Vec<u8> {
    let mut k = with_tag(BUCKET, name.len());
    k.extend_from_slice(name.as_bytes());
    k
}

/// The whole bucket table (for ListBuckets).
pub fn all_buckets() -> (Vec<u8>, Vec<u8>) {
    (vec![BUCKET], vec![BUCKET + 1])
}

/// A key of `tag` led by one escaped component (a space, a node id).
fn scoped(tag: u8, component: &str, rest: usize) -> Vec<u8> {
    let mut k = with_tag(tag, component.len() + 2 + rest);
    push_escaped(&mut k, component.as_bytes());
    k
}

fn bucket_scoped(tag: u8, space: &Space, rest: usize) -> Vec<u8> {
    scoped(tag, &space.0, rest)
}

/// The head of `key` in `space`; with a partial key, the start of a prefix range.
pub fn object(space: &Space, key: &str) -> Vec<u8> {
    let mut k = bucket_scoped(OBJECT, space, key.len());
    k.extend_from_slice(key.as_bytes());
    k
}

/// The object key of an `object` key of `space`.
pub fn object_key_of<'a>(space: &Space, raw: &'a [u8]) -> Option<&'a str> {
    let prefix_len = 1 + space.0.len() + TERMINATOR.len();
    raw.get(prefix_len..).and_then(|k| std::str::from_utf8(k).ok())
}

/// One chunk of the manifest `id` (an object's segments and parts kept beside its head,
/// `ops::manifest`), keyed by the object offset where its bytes end (then its index, which keeps
/// chunks of no bytes apart): the chunk holding offset `x` is the first at or after
/// `manifest_chunk(id, x + 1, 0)`, one seek. Manifest ids are unique store wide, so the key needs
/// no space: the version record that names it is in one.
pub fn manifest_chunk(id: &str, end: u64, index: u32) -> Vec<u8> {
    let mut k = manifest_prefix(id);
    k.extend_from_slice(&end.to_be_bytes());
    k.extend_from_slice(&index.to_be_bytes());
    k
}

/// Every chunk of every manifest.
pub fn all_manifests() -> (Vec<u8>, Vec<u8>) {
    (vec![MANIFEST], vec![MANIFEST + 1])
}

/// The manifest id of a `manifest_chunk` key.
pub fn manifest_of(raw: &[u8]) -> Option<&str> {
    let rest = raw.strip_prefix(&[MANIFEST])?;
    let end = rest.windows(2).position(|w| w == TERMINATOR)?;
    std::str::from_utf8(&rest[..end]).ok()
}

/// Every chunk of the manifest `id`, in object order.
pub fn manifest_prefix(id: &str) -> Vec<u8> {
    let mut k = with_tag(MANIFEST, id.len() + 2 + 12);
    push_escaped(&mut k, id.as_bytes());
    k
}

/// A version of `key`. Versions order newest first: `order` is inverted by the caller's id scheme.
pub fn version(space: &Space, key: &str, order: &[u8]) -> Vec<u8> {
    let mut k = bucket_scoped(VERSION, space, key.len() + 1 + order.len());
    push_escaped(&mut k, key.as_bytes());
    k.extend_from_slice(order);
    k
}

/// Prefix of every version of every key in `space` starting with `key_prefix`.
pub fn versions_prefix(space: &Space, key_prefix: &str) -> Vec<u8> {
    let mut k = bucket_scoped(VERSION, space, key_prefix.len());
    push_escaped_prefix(&mut k, key_prefix.as_bytes());
    k
}

/// The object key and the order bytes of a `version` key of `space`.
pub fn version_parts<'a>(space: &Space, raw: &'a [u8]) -> Option<(String, &'a [u8])> {
    let rest = raw.get(1 + space.0.len() + TERMINATOR.len()..)?;
    let mut key = Vec::new();
    let mut i = 0;
    while i < rest.len() {
        match (rest[i], rest.get(i + 1)) {
            (0, Some(0xFF)) => {
                key.push(0);
                i += 2;
            }
            (0, Some(0x01)) => return Some((String::from_utf8(key).ok()?, &rest[i + 2..])),
            (b, _) => {
                key.push(b);
                i += 1;
            }
        }
    }
    None
}

pub fn upload(space: &Space, key: &str, upload_id: &str) -> Vec<u8> {
    let mut k = bucket_scoped(UPLOAD, space, key.len() + 1 + upload_id.len());
    push_escaped(&mut k, key.as_bytes());
    k.extend_from_slice(upload_id.as_bytes());
    k
}

/// Prefix of every upload in `space` whose key starts with `key_prefix`.
pub fn uploads_prefix(space: &Space, key_prefix: &str) -> Vec<u8> {
    let mut k = bucket_scoped(UPLOAD, space, key_prefix.len());
    push_escaped_prefix(&mut k, key_prefix.as_bytes());
    k
}

pub fn part(upload_id: &str, part_number: u32) -> Vec<u8> {
    let mut k = with_tag(PART, upload_id.len() + 5);
    push_escaped(&mut k, upload_id.as_bytes());
    k.extend_from_slice(&part_number.to_be_bytes());
    k
}

pub fn parts_prefix(upload_id: &str) -> Vec<u8> {
    let mut k = with_tag(PART, upload_id.len() + 1);
    push_escaped(&mut k, upload_id.as_bytes());
    k
}

pub fn blob_ref(blob_id: &str) -> Vec<u8> {
    let mut k = with_tag(BLOB_REF, blob_id.len());
    k.extend_from_slice(blob_id.as_bytes());
    k
}

/// The bytes of a blob kept in the metadata store (a small object's), as stored.
pub fn inline_blob(blob_id: &str) -> Vec<u8> {
    let mut k = with_tag(INLINE_BLOB, blob_id.len());
    k.extend_from_slice(blob_id.as_bytes());
    k
}

pub fn token(space: &Space, token: &str) -> Vec<u8> {
    let mut k = bucket_scoped(TOKEN, space, token.len());
    k.extend_from_slice(token.as_bytes());
    k
}

/// Prefix of every idempotency token of `space`.
pub fn tokens_prefix(space: &Space) -> Vec<u8> {
    bucket_scoped(TOKEN, space, 0)
}

/// A deleted bucket's space, left to sweep of what writes that raced the delete put there.
pub fn dead_space(space: &Space) -> Vec<u8> {
    let mut k = with_tag(DEAD_SPACE, space.0.len());
    k.extend_from_slice(space.0.as_bytes());
    k
}

/// Every dead space.
pub fn all_dead_spaces() -> (Vec<u8>, Vec<u8>) {
    (vec![DEAD_SPACE], vec![DEAD_SPACE + 1])
}

/// The space of a `dead_space` key.
pub fn dead_space_of(raw: &[u8]) -> Option<Space> {
    let name = raw.strip_prefix(&[DEAD_SPACE])?;
    std::str::from_utf8(name).ok().map(|s| Space(s.to_owned()))
}

pub fn user(name: &str) -> Vec<u8> {
    let mut k = with_tag(USER, name.len());
    k.extend_from_slice(name.as_bytes());
    k
}

pub fn all_users() -> (Vec<u8>, Vec<u8>) {
    (vec![USER], vec![USER + 1])
}

pub fn access_key(id: &str) -> Vec<u8> {
    let mut k = with_tag(ACCESS_KEY, id.len());
    k.extend_from_slice(id.as_bytes());
    k
}

pub fn all_access_keys() -> (Vec<u8>, Vec<u8>) {
    (vec![ACCESS_KEY], vec![ACCESS_KEY + 1])
}

/// Every idempotency token of every bucket.
pub fn all_tokens() -> (Vec<u8>, Vec<u8>) {
    (vec![TOKEN], vec![TOKEN + 1])
}

pub fn lease(name: &str) -> Vec<u8> {
    let mut k = with_tag(LEASE, name.len());
    k.extend_from_slice(name.as_bytes());
    k
}

pub fn node(id: &str) -> Vec<u8> {
    let mut k = with_tag(NODE, id.len());
    k.extend_from_slice(id.as_bytes());
    k
}

pub fn all_nodes() -> (Vec<u8>, Vec<u8>) {
    (vec![NODE], vec![NODE + 1])
}

/// A key of the store's key service, by id.
pub fn kms_key(id: &str) -> Vec<u8> {
    let mut k = with_tag(KMS_KEY, id.len());
    k.extend_from_slice(id.as_bytes());
    k
}

pub fn all_kms_keys() -> (Vec<u8>, Vec<u8>) {
    (vec![KMS_KEY], vec![KMS_KEY + 1])
}

/// A key-service alias: the id of the key it names.
pub fn kms_alias(name: &str) -> Vec<u8> {
    let mut k = with_tag(KMS_ALIAS, name.len());
    k.extend_from_slice(name.as_bytes());
    k
}

pub fn setting(name: &str) -> Vec<u8> {
    let mut k = with_tag(SETTING, name.len());
    k.extend_from_slice(name.as_bytes());
    k
}

/// A free queued for `node`: the queue sorts by the time it was queued, so the entries past
/// their grace period are one range scan from the start of the node's queue.
pub fn free_queued(node: &str, queued_nanos: u64, blob: &str) -> Vec<u8> {
    let mut k = scoped(FREE_QUEUE, node, 8 + blob.len());
    k.extend_from_slice(&queued_nanos.to_be_bytes());
    k.extend_from_slice(blob.as_bytes());
    k
}

/// The range of `node`'s queued frees queued before `until_nanos`.
pub fn frees_queued_before(node: &str, until_nanos: u64) -> (Vec<u8>, Vec<u8>) {
    let start = scoped(FREE_QUEUE, node, 0);
    let mut end = start.clone();
    end.extend_from_slice(&until_nanos.to_be_bytes());
    (start, end)
}

/// The time and blob id of a `free_queued` key of `node`.
pub fn free_queued_parts<'a>(node: &str, raw: &'a [u8]) -> Option<(u64, &'a str)> {
    let rest = raw.get(1 + node.len() + TERMINATOR.len()..)?;
    let (at, blob) = rest.split_at_checked(8)?;
    Some((
        u64::from_be_bytes(at.try_into().ok()?),
        std::str::from_utf8(blob).ok()?,
    ))
}

/// Whether `node` has a free queued for `blob` (the sweeper spares such blobs: an in-flight
/// read may still be streaming them until the free is due).
pub fn free_pending(node: &str, blob: &str) -> Vec<u8> {
    let mut k = scoped(FREE_PENDING, node, blob.len());
    k.extend_from_slice(blob.as_bytes());
    k
}

/// Every version record of every bucket.
pub fn all_versions() -> (Vec<u8>, Vec<u8>) {
    (vec![VERSION], vec![VERSION + 1])
}

/// Every part record of every upload.
pub fn all_parts() -> (Vec<u8>, Vec<u8>) {
    (vec![PART], vec![PART + 1])
}

/// The space a key scoped by one (a version, head, upload or token key) lives in.
pub fn space_of_scoped(raw: &[u8]) -> Option<Space> {
    let rest = raw.get(1..)?;
    let end = rest.windows(2).position(|w| w == TERMINATOR)?;
    std::str::from_utf8(&rest[..end])
        .ok()
        .map(|s| Space(s.to_owned()))
}

/// Both of `node`'s free tables (queued by time, pending by blob): what forgetting it removes.
pub fn all_frees_of(node: &str) -> [(Vec<u8>, Vec<u8>); 2] {
    [FREE_QUEUE, FREE_PENDING].map(|tag| {
        let start = scoped(tag, node, 0);
        let end = prefix_end(&start);
        (start, end)
    })
}

/// `node` holds `blob`: the index that finds every blob of a node (drain, repair, scrub).
pub fn held(node: &str, blob: &str) -> Vec<u8> {
    let mut k = scoped(HELD, node, blob.len());
    k.extend_from_slice(blob.as_bytes());
    k
}

/// Every `held` key of `node`.
pub fn all_held(node: &str) -> (Vec<u8>, Vec<u8>) {
    let start = scoped(HELD, node, 0);
    let end = prefix_end(&start);
    (start, end)
}

/// The blob id of a `held` key of `node`.
pub fn held_blob<'a>(node: &str, raw: &'a [u8]) -> Option<&'a str> {
    std::str::from_utf8(raw.get(1 + node.len() + TERMINATOR.len()..)?).ok()
}

pub fn drain(node: &str) -> Vec<u8> {
    let mut k = with_tag(DRAIN, node.len());
    k.extend_from_slice(node.as_bytes());
    k
}

pub fn all_drains() -> (Vec<u8>, Vec<u8>) {
    (vec![DRAIN], vec![DRAIN + 1])
}

pub fn lost(blob: &str) -> Vec<u8> {
    let mut k = with_tag(LOST, blob.len());
    k.extend_from_slice(blob.as_bytes());
    k
}

pub fn all_lost() -> (Vec<u8>, Vec<u8>) {
    (vec![LOST], vec![LOST + 1])
}

/// The smallest key greater than every key that starts with `prefix` (the end of its range).
pub fn prefix_end(prefix: &[u8]) -> Vec<u8> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xFF {
            end.push(last + 1);
            return end;
        }
    }
    // All 0xFF (never produced by this layout): no upper bound below the keyspace end.
    vec![0xFF; prefix.len() + 1]
}

/// The key immediately after `key` in byte order (to resume a scan after it).
pub fn successor(key: &[u8]) -> Vec<u8> {
    let mut next = Vec::with_capacity(key.len() + 1);
    next.extend_from_slice(key);
    next.push(0);
    next
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sp(bucket: &str) -> Space {
        Space::new(bucket, None)
    }

    #[test]
    fn a_nodes_held_blobs_are_one_range_that_no_other_node_shares() {
        let blob = "0123456789abcdef0123456789abcdef";
        let (start, end) = all_held("gw-1");
        let key = held("gw-1", blob);
        assert!(start <= key && key < end);
        assert_eq!(held_blob("gw-1", &key), Some(blob));
        // "gw-1" is a prefix of "gw-10" as text, not as a key component.
        let other = held("gw-10", blob);
        assert!(!(start <= other && other < end));
    }

    #[test]
    fn a_scoped_key_names_its_space() {
        let space = Space::new("bucket", Some(7));
        let key = version(&space, "a/b", b"order");
        assert_eq!(space_of_scoped(&key), Some(space));
    }

    #[test]
    fn objects_sort_by_bucket_then_key_bytes() {
        let mut keys = vec![
            object(&sp("ab"), "z"),
            object(&sp("abc"), "a"),
            object(&sp("ab"), "a/b"),
            object(&sp("ab"), "a"),
            object(&sp("ab"), "a b"),
        ];
        keys.sort();
        assert_eq!(
            keys,
            vec![
                object(&sp("ab"), "a"),
                object(&sp("ab"), "a b"),
                object(&sp("ab"), "a/b"),
                object(&sp("ab"), "z"),
                object(&sp("abc"), "a")
            ]
        );
    }

    #[test]
    fn a_bucket_prefix_range_holds_only_that_bucket() {
        let start = object(&sp("ab"), "");
        let end = prefix_end(&start);
        assert!(object(&sp("ab"), "anything\u{10FFFF}") < end);
        assert!(object(&sp("abc"), "") >= end || object(&sp("abc"), "") < start);
        assert!(object(&sp("ab-"), "") >= end);
    }

    #[test]
    fn object_key_round_trips_from_raw_key() {
        let raw = object(&sp("bkt"), "dir/ü ñ+%");
        assert_eq!(object_key_of(&sp("bkt"), &raw), Some("dir/ü ñ+%"));
    }

    #[test]
    fn escaped_key_prefix_is_a_prefix_of_versions_of_matching_keys() {
        let v = version(&sp("b"), "logs/a\0b", &[9, 9]);
        assert!(v.starts_with(&versions_prefix(&sp("b"), "logs/a\0")));
        assert!(v.starts_with(&versions_prefix(&sp("b"), "logs/")));
        assert!(!version(&sp("b"), "logt", &[1]).starts_with(&versions_prefix(&sp("b"), "logs")));
    }

    #[test]
    fn versions_of_a_key_do_not_interleave_with_longer_keys() {
        // "a" with any version sorts before "a\0..." and "ab": the terminator keeps keys apart.
        let a_max = version(&sp("b"), "a", &[0xFF; 8]);
        assert!(a_max < version(&sp("b"), "a\0", &[0; 8]));
        assert!(a_max < version(&sp("b"), "ab", &[0; 8]));
    }

    #[test]
    fn a_version_order_starting_with_ff_cannot_alias_a_longer_key() {
        assert_ne!(
            version(&sp("b"), "a", &[0xFF, 0x00, 0x07]),
            version(&sp("b"), "a\0", &[0x07])
        );
        assert!(version(&sp("b"), "a", &[0xFF; 8]) < version(&sp("b"), "a\0", &[0; 8]));
    }

    #[test]
    fn version_keys_decode_back_to_key_and_order() {
        let raw = version(&sp("bkt"), "a\0b/ü", b"0123");
        let (key, order) = version_parts(&sp("bkt"), &raw).unwrap();
        assert_eq!(key, "a\0b/ü");
        assert_eq!(order, b"0123");
    }

    #[test]
    fn parts_order_numerically() {
        assert!(part("u1", 2) < part("u1", 10));
        assert!(part("u1", 10_000) < prefix_end(&parts_prefix("u1")));
    }

    #[test]
    fn free_queue_sorts_by_time_per_node_and_decodes() {
        let early = free_queued("gw-1", 5, "b1");
        let late = free_queued("gw-1", 1 << 40, "a0");
        let other = free_queued("gw-10", 1, "a0");
        assert!(early < late);
        let (start, end) = frees_queued_before("gw-1", 1 << 40);
        assert!(start <= early && early < end);
        assert!(late >= end);
        assert!(other < start || other >= prefix_end(&start));
        assert_eq!(free_queued_parts("gw-1", &late), Some((1 << 40, "a0")));
    }

    #[test]
    fn prefix_end_carries_over_ff() {
        assert_eq!(prefix_end(&[1, 0xFF]), vec![2]);
        assert_eq!(successor(b"a"), b"a\0".to_vec());
    }

    #[test]
    fn a_bucket_from_before_incarnations_keeps_its_keys() {
        // The layout every earlier release wrote: tag, escaped name, terminator, key.
        assert_eq!(object(&sp("b"), "k"), b"Ob\x00\x01k".to_vec());
        assert_eq!(Space::new("b", Some(255)).as_str(), "b#00000000000000ff");
    }

    #[test]
    fn spaces_of_two_incarnations_and_of_another_bucket_never_overlap() {
        let (old, new) = (Space::new("ab", Some(1)), Space::new("ab", Some(2)));
        let legacy = Space::new("ab", None);
        for other in [
            &new,
            &legacy,
            &Space::new("ab-", None),
            &Space::new("abc", Some(1)),
        ] {
            let (start, end) = (object(&old, ""), prefix_end(&object(&old, "")));
            let theirs = object(other, "k");
            assert!(theirs < start || theirs >= end, "{other:?}");
        }
        assert_eq!(object_key_of(&old, &object(&old, "a/b")), Some("a/b"));
        assert_eq!(dead_space_of(&dead_space(&old)), Some(old));
    }
}
