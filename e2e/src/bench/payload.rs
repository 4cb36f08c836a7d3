//! Object bodies for the benchmarks.

/// `len` bytes of a non-repeating-looking pattern, so no layer can shortcut zeros.
pub fn pattern(len: usize) -> Vec<u8> {
    // A 251-byte cycle (prime) never lines up with power-of-two block sizes.
    (0..len).map(|i| u8::try_from(i % 251).unwrap_or(0)).collect()
}
