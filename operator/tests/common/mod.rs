//! What the operator's integration tests share.

use std::path::PathBuf;

/// The repository root of the checkout under test. Read when the test runs, not baked in at
/// compile time: a target dir shared between clones (as `.ci/run` uses) can hold a test binary
/// built from another clone's path, and cargo does not rebuild it when only that path changed.
pub fn repo() -> PathBuf {
    let manifest_dir = std::env::var_os("CARGO_MANIFEST_DIR")
        .map_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")), PathBuf::from);
    manifest_dir
        .parent()
        .expect("operator/ is in the repository")
        .to_owned()
}
