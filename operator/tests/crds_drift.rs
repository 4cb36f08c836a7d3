//! `crds/` (and the Helm chart's copy) are generated from the Rust types: this fails when they
//! drift, and says how to regenerate them.

mod common;

use std::collections::BTreeSet;

use operator::crd_yaml::{Layout, REGENERATE, files};

fn check_dir(dir: &str, layout: Layout) {
    let dir = common::repo().join(dir);
    let expected = files(layout);
    for (name, contents) in &expected {
        let path = dir.join(name);
        let on_disk = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            on_disk == *contents,
            "{} is missing or differs from the Rust types in operator/src/crd/.\nRegenerate from the repository root with:\n  {REGENERATE}",
            path.display()
        );
    }
    let expected_names: BTreeSet<&str> = expected.iter().map(|(n, _)| n.as_str()).collect();
    let stray: Vec<String> = std::fs::read_dir(&dir)
        .expect("the CRD directory exists")
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.ends_with(".yaml") && !expected_names.contains(n.as_str()))
        .collect();
    assert!(
        stray.is_empty(),
        "{} holds files the operator does not generate: {stray:?}; delete them",
        dir.display()
    );
}

#[test]
fn crds_dir_matches_the_rust_types() {
    check_dir("crds", Layout::Kustomize);
}

#[test]
fn helm_chart_crds_match_the_rust_types() {
    check_dir("charts/stowage-operator/crds", Layout::Helm);
}
