//! The listing prefix of a stored object head: what a listing shows of an object (size, time,
//! ETag, checksum, delete marker) in a few fixed binary fields before the head's JSON, so a
//! listing page reads them without parsing the rest of each head.
//!
//! ```text
//! 0x01 | prefix length (u16 BE) | size (u64 BE) | modified (i64 BE) | flags (u8: 1 = delete marker)
//!      | ETag length (u16 BE) | ETag | checksum algorithm (u8) | kind (u8)
//!      | checksum length (u16 BE) | checksum | the head's JSON
//! ```
//!
//! A record is JSON from its first byte (`{`) when written before the prefix existed: both read
//! back, by [`strip`] (every record decoder) and [`listed`] (listings).

use crate::checksum::{Checksum, ChecksumAlgorithm, ChecksumKind};
use crate::model::{ListedHead, Nanos, ObjectHead};

/// First byte of a prefixed head; no JSON document starts with it.
const MAGIC: u8 = 0x01;
const DELETE_MARKER: u8 = 1;

/// A head as stored: the listing prefix, then `json` (the head's JSON).
pub fn encode(head: &ObjectHead, json: &[u8]) -> Vec<u8> {
    let etag = clip(head.etag.as_bytes());
    let sum = clip(head.checksum.value.as_bytes());
    let mut prefix = Vec::with_capacity(32 + etag.len() + sum.len());
    prefix.extend_from_slice(&head.size.to_be_bytes());
    prefix.extend_from_slice(&head.modified.0.to_be_bytes());
    prefix.push(if head.delete_marker { DELETE_MARKER } else { 0 });
    push_field(&mut prefix, etag);
    prefix.push(algorithm_code(head.checksum.algorithm));
    prefix.push(match head.checksum.kind {
        ChecksumKind::FullObject => 0,
        ChecksumKind::Composite => 1,
    });
    push_field(&mut prefix, sum);
    let mut out = Vec::with_capacity(3 + prefix.len() + json.len());
    out.push(MAGIC);
    out.extend_from_slice(&(prefix.len() as u16).to_be_bytes());
    out.extend_from_slice(&prefix);
    out.extend_from_slice(json);
    out
}

/// Fields longer than a u16 length cannot occur (ETags and checksums are short); clipped rather
/// than mis-framed if one ever did, the JSON after them being the record of truth.
fn clip(field: &[u8]) -> &[u8] {
    &field[..field.len().min(usize::from(u16::MAX))]
}

fn push_field(out: &mut Vec<u8>, field: &[u8]) {
    out.extend_from_slice(&(field.len() as u16).to_be_bytes());
    out.extend_from_slice(field);
}

fn algorithm_code(algorithm: ChecksumAlgorithm) -> u8 {
    ChecksumAlgorithm::ALL
        .iter()
        .position(|a| *a == algorithm)
        .map_or(u8::MAX, |i| i as u8)
}

/// The JSON of a stored record: after the listing prefix of a prefixed head, else all of it.
pub fn strip(raw: &[u8]) -> &[u8] {
    match split(raw) {
        Some((_, json)) => json,
        None => raw,
    }
}

fn split(raw: &[u8]) -> Option<(&[u8], &[u8])> {
    if raw.first() != Some(&MAGIC) {
        return None;
    }
    let len = usize::from(u16::from_be_bytes(raw.get(1..3)?.try_into().ok()?));
    let prefix = raw.get(3..3 + len)?;
    Some((prefix, &raw[3 + len..]))
}

/// What a listing shows, from the prefix alone; `None` for a record without one (written before
/// the prefix existed: decode its JSON instead) or a malformed one.
pub fn listed(raw: &[u8]) -> Option<ListedHead> {
    let (prefix, _) = split(raw)?;
    let mut r = Reader(prefix);
    let size = u64::from_be_bytes(r.take(8)?.try_into().ok()?);
    let modified = i64::from_be_bytes(r.take(8)?.try_into().ok()?);
    let flags = r.take(1)?[0];
    let etag = r.field()?;
    let algorithm = *ChecksumAlgorithm::ALL.get(usize::from(r.take(1)?[0]))?;
    let kind = match r.take(1)?[0] {
        0 => ChecksumKind::FullObject,
        _ => ChecksumKind::Composite,
    };
    let value = r.field()?;
    Some(ListedHead {
        size,
        etag,
        modified: Nanos(modified),
        checksum: Checksum {
            algorithm,
            value,
            kind,
        },
        delete_marker: flags & DELETE_MARKER != 0,
    })
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let (head, rest) = self.0.split_at_checked(n)?;
        self.0 = rest;
        Some(head)
    }

    fn field(&mut self) -> Option<String> {
        let len = usize::from(u16::from_be_bytes(self.take(2)?.try_into().ok()?));
        String::from_utf8(self.take(len)?.to_vec()).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_prefixed_head_lists_from_its_prefix_and_decodes_from_its_json() {
        let mut head = ObjectHead::delete_marker(Nanos(1_234_567));
        head.delete_marker = false;
        head.size = 42;
        head.etag = "0123456789abcdef0123456789abcdef-3".into();
        head.checksum = Checksum {
            algorithm: ChecksumAlgorithm::Sha256,
            value: "c2hhMjU2-3".into(),
            kind: ChecksumKind::Composite,
        };
        let raw = crate::model::encode_head(&head);
        let listed = listed(&raw).expect("prefixed");
        assert_eq!(
            listed,
            ListedHead {
                size: 42,
                etag: head.etag.clone(),
                modified: Nanos(1_234_567),
                checksum: head.checksum.clone(),
                delete_marker: false,
            }
        );
        let back: ObjectHead = crate::model::decode(b"k", &raw).expect("decodes");
        assert_eq!(back, head);
    }

    #[test]
    fn a_head_written_before_the_prefix_is_json_throughout() {
        let head = ObjectHead::delete_marker(Nanos(7));
        let old = crate::model::encode(&head);
        assert!(listed(&old).is_none());
        assert_eq!(strip(&old), &old[..]);
        let back: ObjectHead = crate::model::decode(b"k", &old).expect("decodes");
        assert_eq!(back, head);
        assert!(
            crate::model::decode_listed(b"k", &old)
                .expect("lists")
                .delete_marker
        );
    }
}
