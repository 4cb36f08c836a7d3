//! How the gateway's heap hands memory back to the kernel (glibc malloc).
//!
//! A large PUT keeps a few MiB of body in flight: hyper's read buffers (up to ~400 KiB each),
//! the chunks queued for the MD5 thread, sealed chunks and write batches. glibc's defaults
//! return the top of an arena to the kernel as soon as more than twice the last freed large
//! block sits free there (`madvise(MADV_DONTNEED)`), so every PUT gave its buffers back and
//! took them again as fresh, zeroed pages: 131,000-203,000 page faults for 32 large PUTs, and
//! a tenth of the gateway's CPU in faulting and zeroing pages on a machine where MD5 and the
//! copies already compete for two cores.
//!
//! Keeping up to [`TRIM_THRESHOLD`] free at the top of an arena stops that churn: faults fell to
//! 15,000-30,000, and 64 MiB PUTs ran a median 8% faster over nine interleaved pairs of runs.
//! The price is memory held after a burst: peak RSS rose by 25-40 MB. Setting the trim threshold
//! turns off glibc's sliding mmap threshold, so the mmap threshold is set as well, above every
//! buffer a request holds: blocks that large are rare and go straight back to the kernel.
//!
//! An operator's own malloc settings (`MALLOC_*_`, or `glibc.malloc.*` in `GLIBC_TUNABLES`) win
//! over these.

/// Free memory an arena keeps at its top instead of returning it: above what one large PUT
/// holds in flight.
const TRIM_THRESHOLD: i32 = 16 * 1024 * 1024;
/// Blocks at least this large are mapped and unmapped on their own.
const MMAP_THRESHOLD: i32 = 4 * 1024 * 1024;

/// Variables through which an operator tunes glibc malloc; if any is set, it is left alone.
const OPERATOR_SETTINGS: [&str; 3] = [
    "MALLOC_TRIM_THRESHOLD_",
    "MALLOC_MMAP_THRESHOLD_",
    "MALLOC_TOP_PAD_",
];

/// Applies the thresholds above, unless the environment sets its own. Call before the runtime
/// starts its threads.
pub fn apply() {
    if !operator_tunes_malloc(|name| std::env::var(name).ok()) {
        set_thresholds();
    }
}

/// Whether the environment (read through `var`) carries the operator's own malloc settings.
fn operator_tunes_malloc(var: impl Fn(&str) -> Option<String>) -> bool {
    var("GLIBC_TUNABLES").is_some_and(|t| t.contains("glibc.malloc."))
        || OPERATOR_SETTINGS.iter().any(|name| var(name).is_some())
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn set_thresholds() {
    // SAFETY: `mallopt` only changes the allocator's global parameters, under its own lock; it
    // is called before any thread but this one exists.
    let ok = unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD) == 1
            && libc::mallopt(libc::M_TRIM_THRESHOLD, TRIM_THRESHOLD) == 1
    };
    if !ok {
        eprintln!("warning: glibc refused the gateway's malloc thresholds; running with its defaults");
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn set_thresholds() {}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let vars: Vec<(String, String)> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        move |name| vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
    }

    #[test]
    fn the_operators_malloc_settings_win() {
        assert!(!operator_tunes_malloc(env(&[])));
        assert!(!operator_tunes_malloc(env(&[(
            "GLIBC_TUNABLES",
            "glibc.cpu.hwcaps=-AVX512F"
        )])));
        assert!(operator_tunes_malloc(env(&[(
            "GLIBC_TUNABLES",
            "glibc.malloc.trim_threshold=0"
        )])));
        assert!(operator_tunes_malloc(env(&[(
            "MALLOC_TRIM_THRESHOLD_",
            "131072"
        )])));
        assert!(operator_tunes_malloc(env(&[("MALLOC_TOP_PAD_", "0")])));
    }
}
