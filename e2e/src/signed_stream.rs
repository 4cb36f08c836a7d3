//! A `STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER` body made while it is sent: each chunk is
//! hashed, signed and added to the CRC32 trailer only when the transport asks for it. This is how
//! an SDK that signs as it streams sends a PUT, and unlike a body signed up front
//! ([`crate::chunked::encode_signed`]) the client's hashing overlaps the transfer instead of
//! preceding it.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;
use crc_fast::{CrcAlgorithm, Digest as CrcDigest};

use crate::chunked::{ChunkSigner, signed_chunk_header, signed_trailers};

/// The trailing header that carries the body's CRC32.
pub const CRC32_TRAILER: &str = "x-amz-checksum-crc32";
/// A CRC32 in base64 is always 8 characters: the `Content-Length` is known before the CRC is.
const CRC32_B64_LEN: usize = 8;

/// The frames of one signed chunked body of `data`, in order (chunk header, chunk data, CRLF, ...,
/// the final chunk and the signed trailer). The data frames are views of `data`, not copies.
pub struct SignedStream {
    data: Bytes,
    offset: usize,
    chunk_size: usize,
    signer: ChunkSigner,
    crc: CrcDigest,
    pending: Vec<Bytes>,
    finished: bool,
}

impl SignedStream {
    /// `signer` is seeded with the signature of the request's headers.
    pub fn new(data: Bytes, chunk_size: usize, signer: ChunkSigner) -> Self {
        assert!(chunk_size > 0, "chunk size must be positive");
        Self {
            data,
            offset: 0,
            chunk_size,
            signer,
            crc: CrcDigest::new(CrcAlgorithm::Crc32IsoHdlc),
            pending: Vec::with_capacity(3),
            finished: false,
        }
    }

    /// `Content-Length` of the whole body of `data_len` bytes.
    pub fn encoded_len(data_len: usize, chunk_size: usize) -> usize {
        let placeholder = "A".repeat(CRC32_B64_LEN);
        crate::chunked::signed_encoded_len(data_len, chunk_size, &[(CRC32_TRAILER, &placeholder)])
    }

    /// The next chunk's frames, pushed in reverse so `pop` yields them in order.
    fn refill(&mut self) {
        if self.offset < self.data.len() {
            let end = (self.offset + self.chunk_size).min(self.data.len());
            let chunk = self.data.slice(self.offset..end);
            self.offset = end;
            self.crc.update(&chunk);
            let signature = self.signer.sign_chunk(&chunk);
            let header = signed_chunk_header(chunk.len(), &signature);
            self.pending
                .extend([Bytes::from_static(b"\r\n"), chunk, Bytes::from(header)]);
            return;
        }
        let last = self.signer.sign_chunk(&[]);
        let crc = u32::try_from(self.crc.finalize()).expect("a CRC32 fits 32 bits");
        let crc = STANDARD.encode(crc.to_be_bytes());
        let trailer = self.signer.sign_trailer(&[(CRC32_TRAILER, &crc)]);
        let trailers = signed_trailers(&[(CRC32_TRAILER, &crc)], &trailer);
        self.pending.push(Bytes::from(format!(
            "{}{trailers}\r\n",
            signed_chunk_header(0, &last)
        )));
        self.finished = true;
    }
}

impl Iterator for SignedStream {
    type Item = Bytes;

    fn next(&mut self) -> Option<Bytes> {
        if self.pending.is_empty() && !self.finished {
            self.refill();
        }
        self.pending.pop()
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use super::*;
    use crate::chunked::encode_signed;

    #[test]
    fn streams_the_body_encode_signed_makes_with_the_crc_of_the_data() {
        let time = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let signer = || ChunkSigner::new("secret", time, "us-east-1", "s3", &"ab".repeat(32));
        let data: Vec<u8> = (0..10_000u32).map(|i| (i * 7 % 251) as u8).collect();
        let crc = crc_fast::checksum(CrcAlgorithm::Crc32IsoHdlc, &data) as u32;
        let crc = STANDARD.encode(crc.to_be_bytes());
        for chunk_size in [1024, 4096, 10_000, 20_000] {
            let streamed: Vec<u8> = SignedStream::new(Bytes::from(data.clone()), chunk_size, signer())
                .flat_map(|frame| frame.to_vec())
                .collect();
            let whole = encode_signed(&data, chunk_size, &mut signer(), &[(CRC32_TRAILER, &crc)], None);
            assert_eq!(streamed, whole, "chunks of {chunk_size}");
            assert_eq!(streamed.len(), SignedStream::encoded_len(data.len(), chunk_size));
        }
    }
}
