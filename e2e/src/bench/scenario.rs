//! The scenario catalogue: one variant per scenario, dispatching to its module.

use serde::Serialize;

use super::{
    BenchContext, ScenarioReport, at_rest, drain, huge_parts, large, lifecycle, limits, list, metadata_ops,
    multipart, peers, policy, small, sse, versions,
};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Scenario {
    /// This machine's limits: the data volume's fdatasync write rate and single-core digest
    /// rates (MD5, SHA-256, CRCs), measured in the same run as the scenarios they bound.
    Limits,
    /// Small-object PUT then GET at increasing concurrency: request overhead and latency.
    Small,
    /// Large-object PUT and streamed GET: throughput.
    Large,
    /// Many keys created, then listed in pages of 1,000: metadata scan speed.
    List,
    /// CopyObject and RenameObject of a small and a large object: do they move bytes?
    Metaops,
    /// One large object uploaded as concurrent parts: multipart throughput and completion time.
    Multipart,
    /// GET of a key with many versions against one with one: does history cost reads?
    Versions,
    /// An object of 10,000 small parts against a one-part object: completion, HEAD, GET, a
    /// Range near the end, listing (needs a gateway that accepts small parts:
    /// `--min-part-size 1`).
    Hugeparts,
    /// GET without and with a 20-statement bucket policy (Stowage admin API needed).
    Policy,
    /// Many objects expired by a lifecycle rule under GET load (needs short lifecycle days).
    Lifecycle,
    /// Large objects with SSE-C against without (needs SSE-C accepted on this connection).
    Sse,
    /// Large objects read through the gateway that holds them and through another one (needs
    /// `--peer-endpoint`).
    Peers,
    /// Large and small objects with SSE-S3 (`--endpoint`) against in the clear (needs
    /// `--plain-endpoint`, a gateway started with `--sse-s3-default=false`).
    Atrest,
    /// Large objects moved off `--endpoint`'s gateway by a drain under GET load through
    /// `--peer-endpoint` (Stowage admin API needed).
    Drain,
}

impl Scenario {
    pub const ALL: [Scenario; 7] = [
        Scenario::Limits,
        Scenario::Small,
        Scenario::Large,
        Scenario::List,
        Scenario::Metaops,
        Scenario::Multipart,
        Scenario::Versions,
    ];

    /// Scenarios that need a specially configured server, run only when asked for by name.
    pub const ON_REQUEST: [Scenario; 7] = [
        Scenario::Hugeparts,
        Scenario::Policy,
        Scenario::Lifecycle,
        Scenario::Sse,
        Scenario::Peers,
        Scenario::Atrest,
        Scenario::Drain,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Scenario::Limits => "limits",
            Scenario::Small => "small",
            Scenario::Large => "large",
            Scenario::List => "list",
            Scenario::Metaops => "metaops",
            Scenario::Multipart => "multipart",
            Scenario::Versions => "versions",
            Scenario::Hugeparts => "hugeparts",
            Scenario::Policy => "policy",
            Scenario::Lifecycle => "lifecycle",
            Scenario::Sse => "sse",
            Scenario::Peers => "peers",
            Scenario::Atrest => "atrest",
            Scenario::Drain => "drain",
        }
    }

    pub async fn run(self, ctx: &BenchContext) -> anyhow::Result<ScenarioReport> {
        match self {
            Scenario::Limits => limits::run(ctx).await,
            Scenario::Small => small::run(ctx).await,
            Scenario::Large => large::run(ctx).await,
            Scenario::List => list::run(ctx).await,
            Scenario::Metaops => metadata_ops::run(ctx).await,
            Scenario::Multipart => multipart::run(ctx).await,
            Scenario::Versions => versions::run(ctx).await,
            Scenario::Hugeparts => huge_parts::run(ctx).await,
            Scenario::Policy => policy::run(ctx).await,
            Scenario::Lifecycle => lifecycle::run(ctx).await,
            Scenario::Sse => sse::run(ctx).await,
            Scenario::Peers => peers::run(ctx).await,
            Scenario::Atrest => at_rest::run(ctx).await,
            Scenario::Drain => drain::run(ctx).await,
        }
    }
}
