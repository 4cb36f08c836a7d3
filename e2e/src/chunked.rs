//! aws-chunked request bodies: the three streaming payload forms S3 accepts, built in memory so a
//! test can send them byte for byte (and break them on purpose).
//!
//! - `STREAMING-AWS4-HMAC-SHA256-PAYLOAD`: every chunk carries a signature chained from the seed
//!   signature of the request headers ("Transferring Payload in Multiple Chunks (Chunked Upload)").
//! - `STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER`: the same, followed by trailing headers and a
//!   trailer signature chained from the final chunk's signature ("Signature calculations for
//!   trailing headers").
//! - `STREAMING-UNSIGNED-PAYLOAD-TRAILER`: plain `size\r\ndata\r\n` chunks and unsigned trailing
//!   headers; only the request headers are signed.
//!
//! The chunk and trailer signatures are computed here with `hmac` + `sha2` rather than through the
//! SDK, so the gateway's verifier is checked against an independent implementation of AWS's text.

use std::time::SystemTime;

use hmac::{KeyInit, Mac};
use sha2::{Digest, Sha256};

type HmacSha256 = hmac::Hmac<Sha256>;

/// `x-amz-content-sha256` of a body whose chunks are each signed.
pub const STREAMING_SIGNED: &str = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD";
/// `x-amz-content-sha256` of a signed-chunk body followed by signed trailing headers.
pub const STREAMING_SIGNED_TRAILER: &str = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER";
/// `x-amz-content-sha256` of an unsigned chunked body followed by unsigned trailing headers.
pub const STREAMING_UNSIGNED_TRAILER: &str = "STREAMING-UNSIGNED-PAYLOAD-TRAILER";

/// Length of a hex-encoded HMAC-SHA256 signature.
const SIGNATURE_HEX_LEN: usize = 64;
const CHUNK_SIGNATURE_PREFIX: &str = ";chunk-signature=";
const TRAILER_SIGNATURE_NAME: &str = "x-amz-trailer-signature";
/// Hex SHA-256 of the empty string: the "previous headers" hash of every chunk string to sign,
/// since chunks carry no headers of their own.
const EMPTY_SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

/// A deliberate defect injected into a signed chunked body after it was signed correctly.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Corruption {
    /// Flip a hex digit of chunk `n`'s signature (0-based; the final zero-length chunk counts).
    ChunkSignature(usize),
    /// Flip one byte of chunk `n`'s data (0-based; the chunk must hold data).
    ChunkData(usize),
    /// Flip a hex digit of `x-amz-trailer-signature`.
    TrailerSignature,
}

/// Computes the rolling chunk and trailer signatures of one streaming upload.
#[derive(Clone, Debug)]
pub struct ChunkSigner {
    signing_key: [u8; 32],
    amz_date: String,
    scope: String,
    previous: String,
}

impl ChunkSigner {
    /// `seed_signature` is the signature of the request headers (the one in `Authorization`).
    pub fn new(
        secret_key: &str,
        time: SystemTime,
        region: &str,
        service: &str,
        seed_signature: &str,
    ) -> Self {
        let (date, amz_date) = sigv4_dates(time);
        Self {
            signing_key: signing_key(secret_key, &date, region, service),
            scope: format!("{date}/{region}/{service}/aws4_request"),
            amz_date,
            previous: seed_signature.to_owned(),
        }
    }

    /// Signs the next chunk (empty for the final chunk) and makes it the previous signature.
    pub fn sign_chunk(&mut self, data: &[u8]) -> String {
        let string_to_sign = format!(
            "AWS4-HMAC-SHA256-PAYLOAD\n{}\n{}\n{}\n{EMPTY_SHA256}\n{}",
            self.amz_date,
            self.scope,
            self.previous,
            sha256_hex(data)
        );
        self.advance(&string_to_sign)
    }

    /// Signs the trailing headers (after the final chunk) and makes it the previous signature.
    pub fn sign_trailer(&mut self, trailers: &[(&str, &str)]) -> String {
        let string_to_sign = format!(
            "AWS4-HMAC-SHA256-TRAILER\n{}\n{}\n{}\n{}",
            self.amz_date,
            self.scope,
            self.previous,
            sha256_hex(canonical_trailers(trailers).as_bytes())
        );
        self.advance(&string_to_sign)
    }

    fn advance(&mut self, string_to_sign: &str) -> String {
        let signature = hex::encode(hmac_sha256(&self.signing_key, string_to_sign.as_bytes()));
        self.previous.clone_from(&signature);
        signature
    }
}

/// SigV4's derived key: HMAC chain over date, region, service and "aws4_request".
pub fn signing_key(secret_key: &str, date: &str, region: &str, service: &str) -> [u8; 32] {
    let k_date = hmac_sha256(format!("AWS4{secret_key}").as_bytes(), date.as_bytes());
    let k_region = hmac_sha256(&k_date, region.as_bytes());
    let k_service = hmac_sha256(&k_region, service.as_bytes());
    hmac_sha256(&k_service, b"aws4_request")
}

/// `(yyyymmdd, yyyymmddThhmmssZ)` in UTC, as SigV4 scopes and string-to-signs spell them.
pub fn sigv4_dates(time: SystemTime) -> (String, String) {
    let t = time::OffsetDateTime::from(time);
    let date = format!("{:04}{:02}{:02}", t.year(), u8::from(t.month()), t.day());
    let amz_date = format!("{date}T{:02}{:02}{:02}Z", t.hour(), t.minute(), t.second());
    (date, amz_date)
}

/// Trailing headers as they are hashed for the trailer signature: `name:value\n`, sorted by the
/// lower-cased name.
fn canonical_trailers(trailers: &[(&str, &str)]) -> String {
    let mut lines: Vec<(String, &str)> = trailers
        .iter()
        .map(|(name, value)| (name.to_ascii_lowercase(), value.trim()))
        .collect();
    lines.sort();
    lines
        .iter()
        .map(|(name, value)| format!("{name}:{value}\n"))
        .collect()
}

/// The line that opens a signed chunk of `len` bytes.
pub(crate) fn signed_chunk_header(len: usize, signature: &str) -> String {
    format!("{len:x}{CHUNK_SIGNATURE_PREFIX}{signature}\r\n")
}

/// The trailing header lines of a signed chunked body, and the line of their signature.
pub(crate) fn signed_trailers(trailers: &[(&str, &str)], signature: &str) -> String {
    let mut out: String = trailers
        .iter()
        .map(|(name, value)| format!("{name}:{value}\r\n"))
        .collect();
    out.push_str(&format!("{TRAILER_SIGNATURE_NAME}:{signature}\r\n"));
    out
}

/// The body of a signed chunked upload: every chunk signed, then (optionally) the trailing headers
/// with their signature. `corruption` is applied after signing.
pub fn encode_signed(
    data: &[u8],
    chunk_size: usize,
    signer: &mut ChunkSigner,
    trailers: &[(&str, &str)],
    corruption: Option<Corruption>,
) -> Vec<u8> {
    assert!(chunk_size > 0, "chunk size must be positive");
    let mut out = Vec::with_capacity(signed_encoded_len(data.len(), chunk_size, trailers));
    let chunks = data.chunks(chunk_size).chain(std::iter::once(&[][..]));
    for (index, chunk) in chunks.enumerate() {
        let mut signature = signer.sign_chunk(chunk);
        if corruption == Some(Corruption::ChunkSignature(index)) {
            flip_hex_digit(&mut signature);
        }
        out.extend_from_slice(signed_chunk_header(chunk.len(), &signature).as_bytes());
        let data_start = out.len();
        out.extend_from_slice(chunk);
        if corruption == Some(Corruption::ChunkData(index)) {
            assert!(!chunk.is_empty(), "chunk {index} holds no data to corrupt");
            out[data_start] ^= 0x01;
        }
        if !chunk.is_empty() {
            out.extend_from_slice(b"\r\n");
        }
    }
    if !trailers.is_empty() {
        let mut signature = signer.sign_trailer(trailers);
        if corruption == Some(Corruption::TrailerSignature) {
            flip_hex_digit(&mut signature);
        }
        out.extend_from_slice(signed_trailers(trailers, &signature).as_bytes());
    }
    out.extend_from_slice(b"\r\n");
    debug_assert_eq!(out.len(), signed_encoded_len(data.len(), chunk_size, trailers));
    out
}

/// The body of an unsigned chunked upload with trailing headers (what the SDK sends by default for
/// a flexible-checksum PUT).
pub fn encode_unsigned(data: &[u8], chunk_size: usize, trailers: &[(&str, &str)]) -> Vec<u8> {
    assert!(chunk_size > 0, "chunk size must be positive");
    let mut out = Vec::with_capacity(unsigned_encoded_len(data.len(), chunk_size, trailers));
    for chunk in data.chunks(chunk_size) {
        out.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
        out.extend_from_slice(chunk);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"0\r\n");
    for (name, value) in trailers {
        out.extend_from_slice(format!("{name}:{value}\r\n").as_bytes());
    }
    out.extend_from_slice(b"\r\n");
    debug_assert_eq!(out.len(), unsigned_encoded_len(data.len(), chunk_size, trailers));
    out
}

/// `Content-Length` of [`encode_signed`]'s output, known before anything is signed (the length is
/// itself a signed header).
pub fn signed_encoded_len(data_len: usize, chunk_size: usize, trailers: &[(&str, &str)]) -> usize {
    let chunk_header = |len: usize| hex_len(len) + CHUNK_SIGNATURE_PREFIX.len() + SIGNATURE_HEX_LEN + 2;
    let data_chunks: usize = chunk_lengths(data_len, chunk_size)
        .map(|len| chunk_header(len) + len + 2)
        .sum();
    let final_chunk = chunk_header(0);
    let trailer = if trailers.is_empty() {
        0
    } else {
        trailers_len(trailers) + TRAILER_SIGNATURE_NAME.len() + 1 + SIGNATURE_HEX_LEN + 2
    };
    data_chunks + final_chunk + trailer + 2
}

/// `Content-Length` of [`encode_unsigned`]'s output.
pub fn unsigned_encoded_len(data_len: usize, chunk_size: usize, trailers: &[(&str, &str)]) -> usize {
    let data_chunks: usize = chunk_lengths(data_len, chunk_size)
        .map(|len| hex_len(len) + 2 + len + 2)
        .sum();
    data_chunks + "0\r\n".len() + trailers_len(trailers) + 2
}

fn chunk_lengths(data_len: usize, chunk_size: usize) -> impl Iterator<Item = usize> {
    let full = data_len / chunk_size;
    let rest = data_len % chunk_size;
    std::iter::repeat_n(chunk_size, full).chain((rest > 0).then_some(rest))
}

fn trailers_len(trailers: &[(&str, &str)]) -> usize {
    trailers
        .iter()
        .map(|(name, value)| name.len() + 1 + value.len() + 2)
        .sum()
}

fn hex_len(n: usize) -> usize {
    format!("{n:x}").len()
}

/// Changes the first hex digit to a different one, keeping the signature well-formed.
fn flip_hex_digit(signature: &mut String) {
    let replacement = if signature.starts_with('0') { "1" } else { "0" };
    signature.replace_range(0..1, replacement);
}

pub(crate) fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

fn hmac_sha256(key: &[u8], data: &[u8]) -> [u8; 32] {
    let mut mac = HmacSha256::new_from_slice(key).expect("HMAC accepts keys of any length");
    mac.update(data);
    mac.finalize().into_bytes().into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    // The worked examples of AWS's "sigv4-streaming" and "sigv4-streaming-trailers" pages:
    // 66,560 bytes of 'a' in 64 KiB chunks, signed at 20130524T000000Z in us-east-1.
    const SECRET: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
    const CHUNK: usize = 64 * 1024;
    const DATA_LEN: usize = 66_560;
    const SEED: &str = "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9";
    const TRAILER_SEED: &str = "106e2a8a18243abcf37539882f36619c00e2dfc72633413f02d3b74544bfeb8e";

    fn example_time() -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(1_369_353_600)
    }

    fn example_data() -> Vec<u8> {
        vec![b'a'; DATA_LEN]
    }

    #[test]
    fn sigv4_dates_are_utc_basic_format() {
        assert_eq!(
            sigv4_dates(example_time()),
            ("20130524".to_owned(), "20130524T000000Z".to_owned())
        );
    }

    #[test]
    fn chunk_signatures_match_aws_example() {
        let mut signer = ChunkSigner::new(SECRET, example_time(), "us-east-1", "s3", SEED);
        let data = example_data();
        assert_eq!(
            signer.sign_chunk(&data[..CHUNK]),
            "ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648"
        );
        assert_eq!(
            signer.sign_chunk(&data[CHUNK..]),
            "0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497"
        );
        assert_eq!(
            signer.sign_chunk(&[]),
            "b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9"
        );
    }

    #[test]
    fn signed_body_matches_aws_example_byte_for_byte() {
        let mut signer = ChunkSigner::new(SECRET, example_time(), "us-east-1", "s3", SEED);
        let body = encode_signed(&example_data(), CHUNK, &mut signer, &[], None);

        let mut expected = Vec::new();
        expected.extend_from_slice(
            b"10000;chunk-signature=ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648\r\n",
        );
        expected.extend_from_slice(&[b'a'; CHUNK]);
        expected.extend_from_slice(
            b"\r\n400;chunk-signature=0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497\r\n",
        );
        expected.extend_from_slice(&[b'a'; DATA_LEN - CHUNK]);
        expected.extend_from_slice(
            b"\r\n0;chunk-signature=b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9\r\n\r\n",
        );
        assert!(body == expected, "encoded body differs from the AWS example");
        // The example's Content-Length header.
        assert_eq!(body.len(), 66_824);
    }

    #[test]
    fn trailer_signatures_match_aws_example() {
        let mut signer = ChunkSigner::new(SECRET, example_time(), "us-east-1", "s3", TRAILER_SEED);
        let trailers = [("x-amz-checksum-crc32c", "sOO8/Q==")];
        let body = encode_signed(&example_data(), CHUNK, &mut signer, &trailers, None);

        let text = String::from_utf8_lossy(&body);
        assert!(text.starts_with(
            "10000;chunk-signature=b474d8862b1487a5145d686f57f013e54db672cee1c953b3010fb58501ef5aa2\r\n"
        ));
        assert!(text.contains(
            "\r\n400;chunk-signature=1c1344b170168f8e65b41376b44b20fe354e373826ccbbe2c1d40a8cae51e5c7\r\n"
        ));
        assert!(text.ends_with(concat!(
            "\r\n0;chunk-signature=2ca2aba2005185cf7159c6277faf83795951dd77a3a99e6e65d5c9f85863f992\r\n",
            "x-amz-checksum-crc32c:sOO8/Q==\r\n",
            "x-amz-trailer-signature:d81f82fc3505edab99d459891051a732e8730629a2e4a59689829ca17fe2e435\r\n",
            "\r\n",
        )));
    }

    #[test]
    fn unsigned_body_has_plain_chunks_then_trailers() {
        let body = encode_unsigned(b"hello world", 4, &[("x-amz-checksum-crc32", "DUoRhQ==")]);
        assert_eq!(
            body,
            b"4\r\nhell\r\n4\r\no wo\r\n3\r\nrld\r\n0\r\nx-amz-checksum-crc32:DUoRhQ==\r\n\r\n".to_vec()
        );
    }

    #[test]
    fn encoded_lengths_match_encodings() {
        let trailers = [("x-amz-checksum-sha256", "abc=")];
        for len in [0, 1, 15, 16, 17, 100, 4096] {
            for chunk_size in [1, 16, 1000] {
                let data = vec![7u8; len];
                for trailers in [&trailers[..], &[]] {
                    let mut signer = ChunkSigner::new(SECRET, example_time(), "us-east-1", "s3", SEED);
                    let signed = encode_signed(&data, chunk_size, &mut signer, trailers, None);
                    assert_eq!(signed.len(), signed_encoded_len(len, chunk_size, trailers));
                    let unsigned = encode_unsigned(&data, chunk_size, trailers);
                    assert_eq!(unsigned.len(), unsigned_encoded_len(len, chunk_size, trailers));
                }
            }
        }
    }

    #[test]
    fn corrupting_a_chunk_signature_changes_only_that_signature() {
        let data = example_data();
        let sign = |corruption| {
            let mut signer = ChunkSigner::new(SECRET, example_time(), "us-east-1", "s3", SEED);
            encode_signed(&data, CHUNK, &mut signer, &[], corruption)
        };
        let good = sign(None);
        let bad = sign(Some(Corruption::ChunkSignature(1)));
        assert_eq!(good.len(), bad.len());
        let differing: Vec<usize> = (0..good.len()).filter(|&i| good[i] != bad[i]).collect();
        assert_eq!(differing.len(), 1);
        // The second chunk's header starts right after the first chunk's data and CRLF.
        let second_header = 5 + CHUNK_SIGNATURE_PREFIX.len() + SIGNATURE_HEX_LEN + 2 + CHUNK + 2;
        assert_eq!(differing[0], second_header + 3 + CHUNK_SIGNATURE_PREFIX.len());
    }

    #[test]
    fn corrupting_chunk_data_keeps_signatures() {
        let data = example_data();
        let mut signer = ChunkSigner::new(SECRET, example_time(), "us-east-1", "s3", SEED);
        let good = encode_signed(&data, CHUNK, &mut signer, &[], None);
        let mut signer = ChunkSigner::new(SECRET, example_time(), "us-east-1", "s3", SEED);
        let bad = encode_signed(&data, CHUNK, &mut signer, &[], Some(Corruption::ChunkData(0)));
        let differing: Vec<usize> = (0..good.len()).filter(|&i| good[i] != bad[i]).collect();
        let first_data = 5 + CHUNK_SIGNATURE_PREFIX.len() + SIGNATURE_HEX_LEN + 2;
        assert_eq!(differing, vec![first_data]);
    }
}
