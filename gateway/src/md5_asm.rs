//! MD5 through AWS-LC's assembly implementation.
//!
//! Every single-part PUT hashes its whole body with MD5 (the ETag), and MD5 cannot be split
//! across cores: it is the slowest of the digests a large PUT computes.
//! RustCrypto's `md-5` is portable Rust on x86-64 (about 640 MB/s on the machine this was
//! measured on); AWS-LC's hand-scheduled assembly does about 810 MB/s. AWS-LC is already what
//! the AWS SDK links, and its MD5 is plain C functions over a plain-data context, so the wrapper
//! is small.

use aws_lc_sys::{MD5_CTX, MD5_Final, MD5_Init, MD5_Update};

/// An MD5 computation in progress. `MD5_CTX` is plain data (state words, lengths, a block
/// buffer), so it is `Send` and copies cleanly.
#[derive(Clone)]
pub struct Md5 {
    ctx: MD5_CTX,
}

impl Default for Md5 {
    fn default() -> Self {
        Self::new()
    }
}

impl Md5 {
    pub fn new() -> Self {
        // SAFETY: an all-zero `MD5_CTX` is a valid value of the plain-data struct, and
        // `MD5_Init` initializes it fully; it cannot fail (it always returns 1).
        unsafe {
            let mut ctx: MD5_CTX = std::mem::zeroed();
            MD5_Init(&mut ctx);
            Self { ctx }
        }
    }

    pub fn update(&mut self, data: impl AsRef<[u8]>) {
        let data = data.as_ref();
        // SAFETY: `ctx` was initialized by `MD5_Init`; `data` is valid for `data.len()` bytes
        // for the duration of the call, which only reads it.
        unsafe {
            MD5_Update(&mut self.ctx, data.as_ptr().cast(), data.len());
        }
    }

    pub fn finalize(mut self) -> [u8; 16] {
        let mut out = [0u8; 16];
        // SAFETY: `out` has room for the 16-byte digest `MD5_Final` writes; `ctx` is
        // initialized and consumed here.
        unsafe {
            MD5_Final(out.as_mut_ptr(), &mut self.ctx);
        }
        out
    }

    /// The MD5 of `data`.
    pub fn digest(data: impl AsRef<[u8]>) -> [u8; 16] {
        let mut md5 = Self::new();
        md5.update(data);
        md5.finalize()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use md5::Digest as _;

    #[test]
    fn rfc_1321_vectors() {
        for (input, hex) in [
            ("", "d41d8cd98f00b204e9800998ecf8427e"),
            ("a", "0cc175b9c0f1b6a831c399e269772661"),
            ("abc", "900150983cd24fb0d6963f7d28e17f72"),
            ("message digest", "f96b697d7cb7938d525a2f31aaf161d0"),
            (
                "12345678901234567890123456789012345678901234567890123456789012345678901234567890",
                "57edf4a22be3c955ac49da2e2107b67a",
            ),
        ] {
            assert_eq!(hex::encode(Md5::digest(input)), hex, "MD5 of {input:?}");
        }
    }

    #[test]
    fn fed_in_uneven_pieces_it_agrees_with_rustcrypto() {
        let body: Vec<u8> = (0..1_000_003u32).map(|i| (i * 7 % 253) as u8).collect();
        let mut md5 = Md5::new();
        for piece in body.chunks(997) {
            md5.update(piece);
        }
        let theirs: [u8; 16] = md5::Md5::digest(&body).into();
        assert_eq!(md5.clone().finalize(), theirs);
        assert_eq!(md5.finalize(), theirs, "a clone leaves the original untouched");
    }
}
