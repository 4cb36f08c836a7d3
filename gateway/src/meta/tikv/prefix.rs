//! One key prefix per store: the store's key `k` is `<prefix>/k` in TiKV, so several stores
//! share one cluster and no scan ever leaves its own store.
//!
//! Prepending a fixed string preserves byte order, so a range of store keys is a range of TiKV
//! keys. A prefix has no `/` ([`super::url::validate_prefix`]), so no store's `<prefix>/` starts
//! another's: the key spaces are disjoint, and every key of a store lies in
//! `[<prefix>/, <prefix>0)` (`0` is the byte after `/`).

use super::url::{ConfigError, validate_prefix};

const SEPARATOR: u8 = b'/';

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StorePrefix {
    /// `<prefix>/`
    bytes: Vec<u8>,
}

impl StorePrefix {
    pub fn new(prefix: &str) -> Result<Self, ConfigError> {
        validate_prefix(prefix)?;
        let mut bytes = prefix.as_bytes().to_vec();
        bytes.push(SEPARATOR);
        Ok(Self { bytes })
    }

    /// The prefix as given (without the separator).
    pub fn name(&self) -> &str {
        let name = &self.bytes[..self.bytes.len() - 1];
        std::str::from_utf8(name).unwrap_or_default()
    }

    /// The TiKV key of the store key `key`.
    pub fn encode(&self, key: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.bytes.len() + key.len());
        out.extend_from_slice(&self.bytes);
        out.extend_from_slice(key);
        out
    }

    /// The store key of a TiKV key, or `None` if it belongs to another store.
    pub fn decode<'a>(&self, raw: &'a [u8]) -> Option<&'a [u8]> {
        raw.strip_prefix(&self.bytes[..])
    }

    /// The TiKV range of the store range `[start, end)`; `None` when it is empty.
    pub fn range(&self, start: &[u8], end: &[u8]) -> Option<(Vec<u8>, Vec<u8>)> {
        (start < end).then(|| (self.encode(start), self.encode(end)))
    }

    /// Every TiKV key of this store: `[<prefix>/, <prefix>0)`.
    pub fn whole(&self) -> (Vec<u8>, Vec<u8>) {
        let mut end = self.bytes.clone();
        if let Some(last) = end.last_mut() {
            *last = SEPARATOR + 1;
        }
        (self.bytes.clone(), end)
    }
}

#[cfg(test)]
mod tests {
    use rand::Rng;

    use super::*;

    fn prefix(name: &str) -> StorePrefix {
        StorePrefix::new(name).expect("valid prefix")
    }

    fn random_key(rng: &mut impl Rng) -> Vec<u8> {
        let len = rng.random_range(0..6);
        // A small alphabet with the extremes, so keys share prefixes and hit 0x00 and 0xFF.
        (0..len)
            .map(|_| [0x00, 0x01, b'/', b'0', b'a', 0x7F, 0x80, 0xFF][rng.random_range(0..8)])
            .collect()
    }

    #[test]
    fn encoding_preserves_byte_order() {
        let p = prefix("store");
        let mut rng = rand::rng();
        for _ in 0..10_000 {
            let (a, b) = (random_key(&mut rng), random_key(&mut rng));
            assert_eq!(a.cmp(&b), p.encode(&a).cmp(&p.encode(&b)), "{a:?} vs {b:?}");
        }
    }

    #[test]
    fn encoded_keys_decode_back_and_stay_inside_the_store() {
        let p = prefix("s.1");
        let (lo, hi) = p.whole();
        for key in [&b""[..], b"\0", b"B\xFF\xFF", &[0xFF; 40]] {
            let raw = p.encode(key);
            assert_eq!(p.decode(&raw), Some(key));
            assert!(lo <= raw && raw < hi, "{raw:?} outside {lo:?}..{hi:?}");
        }
    }

    #[test]
    fn a_range_of_one_store_never_holds_a_key_of_another() {
        // Names where one is a prefix of another, or differs only around the separator.
        let names = [
            "a", "ab", "a-", "a.b", "a_", "A", "a0", "b", "0", "a9", "a.", "-", "_",
        ];
        let mut rng = rand::rng();
        for own in names {
            let p = prefix(own);
            for other in names.iter().filter(|&&o| o != own) {
                let q = prefix(other);
                for _ in 0..500 {
                    let (mut s, mut e) = (random_key(&mut rng), random_key(&mut rng));
                    if s > e {
                        std::mem::swap(&mut s, &mut e);
                    }
                    let foreign = q.encode(&random_key(&mut rng));
                    if let Some((lo, hi)) = p.range(&s, &e) {
                        assert!(
                            !(lo <= foreign && foreign < hi),
                            "{other:?}'s key {foreign:?} inside {own:?}'s scan {lo:?}..{hi:?}"
                        );
                    }
                    let (lo, hi) = p.whole();
                    assert!(
                        !(lo <= foreign && foreign < hi),
                        "{other:?} inside all of {own:?}"
                    );
                    assert_eq!(p.decode(&foreign), None);
                }
            }
        }
    }

    #[test]
    fn empty_and_reversed_ranges_are_none() {
        let p = prefix("s");
        assert_eq!(p.range(b"a", b"a"), None);
        assert_eq!(p.range(b"b", b"a"), None);
        assert_eq!(p.range(b"", b""), None);
        assert_eq!(p.range(b"", b"\0"), Some((b"s/".to_vec(), b"s/\0".to_vec())));
    }

    #[test]
    fn the_name_round_trips_and_must_be_valid() {
        assert_eq!(prefix("store-1").name(), "store-1");
        assert!(StorePrefix::new("").is_err());
        assert!(StorePrefix::new("a/b").is_err());
    }
}
