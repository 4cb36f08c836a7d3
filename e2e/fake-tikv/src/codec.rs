//! The memcomparable byte encoding in which a transactional client and PD exchange keys (TiKV's
//! `codec::bytes`): tikv-client encodes a key before asking PD for its region and decodes the
//! region's bounds PD answers with; TiKV itself sees raw keys.
//!
//! Groups of 8 bytes, the last one zero-padded, each followed by a marker `0xFF - padding`.

const GROUP: usize = 8;
const MARKER: u8 = 0xFF;

pub fn encode(key: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity((key.len() / GROUP + 1) * (GROUP + 1));
    for chunk in key.chunks(GROUP) {
        out.extend_from_slice(chunk);
        let pad = GROUP - chunk.len();
        out.extend(std::iter::repeat_n(0, pad));
        out.push(MARKER - pad as u8);
    }
    if key.len().is_multiple_of(GROUP) {
        out.extend([0; GROUP]);
        out.push(MARKER - GROUP as u8);
    }
    out
}

/// The raw key, or `None` if `encoded` is malformed. Empty stays empty (an unbounded edge).
pub fn decode(encoded: &[u8]) -> Option<Vec<u8>> {
    if encoded.is_empty() {
        return Some(Vec::new());
    }
    let mut out = Vec::with_capacity(encoded.len());
    for group in encoded.chunks(GROUP + 1) {
        let (data, marker) = group.split_at(group.len().checked_sub(1)?);
        let pad = usize::from(MARKER - *marker.first()?);
        if data.len() != GROUP || pad > GROUP {
            return None;
        }
        out.extend_from_slice(&data[..GROUP - pad]);
        if pad > 0 {
            return Some(out);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_matches_tikv_examples() {
        assert_eq!(encode(b""), [0, 0, 0, 0, 0, 0, 0, 0, 0xF7]);
        assert_eq!(encode(b"a"), [b'a', 0, 0, 0, 0, 0, 0, 0, 0xF8]);
        assert_eq!(
            encode(b"12345678"),
            [
                b'1', b'2', b'3', b'4', b'5', b'6', b'7', b'8', 0xFF, 0, 0, 0, 0, 0, 0, 0, 0, 0xF7
            ]
        );
        for key in [&b""[..], b"a", b"12345678", b"123456789", b"s/O\x00\x01k"] {
            assert_eq!(decode(&encode(key)).as_deref(), Some(key));
        }
        assert!(encode(b"a") < encode(b"a\x00") && encode(b"a\x00") < encode(b"b"));
    }
}
