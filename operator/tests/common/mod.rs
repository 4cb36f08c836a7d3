//! What the operator's integration tests share: where the repository is, and (in `cluster`) the
//! real API server the cluster tests run against (and, in `rbac`, the operator's own account on it).

// Each test binary compiles this module and uses a different part of it.
#![allow(dead_code)]

pub mod cluster;
pub mod go_template;
pub mod rbac;

use std::path::{Path, PathBuf};

use serde_json::Value;

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

/// The documents of a (multi-document) YAML file, skipping empty and comment-only ones.
pub fn yaml_documents(path: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    text.split("\n---")
        .filter(|doc| {
            doc.lines()
                .any(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
        })
        .map(|doc| serde_yaml::from_str(doc).expect("YAML"))
        .collect()
}

/// The `gateway` binary next to this test's executable (`cargo test --workspace` builds it there;
/// it belongs to another package, so `CARGO_BIN_EXE_gateway` is not available). `None`, with a
/// notice saying how to build it, when it is missing.
pub fn gateway_bin() -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    let bin = exe
        .parent()?
        .parent()?
        .join(format!("gateway{}", std::env::consts::EXE_SUFFIX));
    if bin.exists() {
        Some(bin)
    } else {
        // Under CI the cluster tests must run, and most of them need a gateway.
        assert!(
            std::env::var_os("STOWAGE_REQUIRE_CLUSTER").is_none(),
            "STOWAGE_REQUIRE_CLUSTER is set but there is no gateway binary at {}",
            bin.display()
        );
        eprintln!(
            "NOTICE: skipped: no gateway binary at {}; build it with `cargo build -p stowage-gateway` \
             (`cargo test --workspace` does)",
            bin.display()
        );
        None
    }
}
