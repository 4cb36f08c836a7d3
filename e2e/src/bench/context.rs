//! What every scenario runs against: a client, a bucket, this run's key prefix, and the knobs.

use aws_sdk_s3::Client;

/// Sizes and counts of the scenarios.
#[derive(Clone, Debug)]
pub struct BenchSettings {
    /// Operations per concurrency level (PUT and GET each).
    pub small_ops: usize,
    /// Bytes per small object.
    pub small_size: usize,
    pub small_concurrency: Vec<usize>,
    pub large_count: usize,
    /// MiB of 1 MiB objects the `drain` scenario moves.
    pub drain_mib: usize,
    /// Bytes per large object.
    pub large_size: usize,
    pub list_keys: usize,
    /// Concurrency used to create the keys that are then listed.
    pub list_concurrency: usize,
    /// CopyObject and RenameObject calls per object size in `metaops`.
    pub metaops_ops: usize,
    /// Bytes of the large object in `metaops`.
    pub metaops_large_size: usize,
    /// Bytes of the object in `multipart`, its part size, and parts in flight.
    pub multipart_size: usize,
    pub multipart_part_size: usize,
    pub multipart_concurrency: usize,
    /// Objects a lifecycle rule expires in `lifecycle`.
    pub lifecycle_objects: usize,
    /// Versions written to one key in `versions`, and GETs timed per key.
    pub versions_count: usize,
    pub versions_gets: usize,
    /// Where `limits` measures the disk's write rate: a directory on the gateway's data volume.
    pub limits_dir: std::path::PathBuf,
    /// MiB written by the disk test of `limits`.
    pub limits_disk_mib: usize,
    /// Parts of the object of `hugeparts`, their size in bytes, and timed requests per kind.
    pub hugeparts_parts: usize,
    pub hugeparts_part_size: usize,
    pub hugeparts_reps: usize,
}

impl Default for BenchSettings {
    fn default() -> Self {
        BenchSettings {
            small_ops: 2000,
            small_size: 4 * 1024,
            small_concurrency: vec![1, 16, 64],
            large_count: 3,
            drain_mib: 1024,
            large_size: 64 * 1024 * 1024,
            list_keys: 10_000,
            list_concurrency: 64,
            metaops_ops: 50,
            metaops_large_size: 1024 * 1024 * 1024,
            multipart_size: 1024 * 1024 * 1024,
            multipart_part_size: 16 * 1024 * 1024,
            multipart_concurrency: 8,
            lifecycle_objects: 100_000,
            versions_count: 10_000,
            versions_gets: 1000,
            limits_dir: std::path::PathBuf::from("."),
            limits_disk_mib: 1024,
            hugeparts_parts: 10_000,
            hugeparts_part_size: 1024,
            hugeparts_reps: 100,
        }
    }
}

#[derive(Clone, Debug)]
pub struct BenchContext {
    pub client: Client,
    pub bucket: String,
    /// Every key of this run starts with it (e.g. `s3bench/1700000000000/`), so runs never see
    /// each other's keys and a cleanup can find them all.
    pub prefix: String,
    pub region: String,
    pub endpoint: String,
    /// The access key and secret the client uses (scenarios that call Stowage's admin API).
    pub credentials: (String, String),
    /// A client of another gateway of the same store (`peers`), when one was named.
    pub peer_client: Option<Client>,
    /// A client of a gateway that stores in the clear (`atrest`), when one was named.
    pub plain_client: Option<Client>,
    pub settings: BenchSettings,
}

impl BenchContext {
    /// The key prefix of one scenario's objects: `<run prefix><scenario>/`.
    pub fn region(&self) -> &str {
        &self.region
    }

    pub fn scenario_prefix(&self, scenario: &str) -> String {
        format!("{}{scenario}/", self.prefix)
    }
}
