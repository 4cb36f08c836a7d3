//! The lifecycle worker: one gateway at a time (a lease in the metadata store, taken over when
//! its holder stops renewing it) walks every bucket with rules, expiring current objects,
//! removing noncurrent versions and lone delete markers, and aborting stale uploads. Progress is
//! a cursor in the metadata store, so a restart resumes where the last pass stopped; actions are
//! paced so foreground traffic keeps its latency.

use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::rules::LifecycleConfig;
use crate::errors::from_meta;
use crate::meta::keys::{self, Space};
use crate::metrics::LifecycleMetrics;
use crate::model::{self, BucketRecord, Nanos, ObjectHead, UploadRecord, VersionOrder};
use crate::ops::{Store, read_only, transact};

const LEASE: &str = "lifecycle";
const CURSOR: &str = "lifecycle-cursor";
/// Records read per scan: bounds memory and how much work a crash repeats.
const BATCH: usize = 256;

#[derive(Debug, Clone)]
pub struct WorkerConfig {
    /// Length of a lifecycle day (86,400 s; shorter for tests and demos).
    pub day: Duration,
    /// How often the worker wakes.
    pub interval: Duration,
    /// Upper bound on actions per second, to leave the disk and the metadata store to clients.
    pub max_actions_per_sec: u32,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Lease {
    holder: String,
    expires: Nanos,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
enum Phase {
    Current,
    Noncurrent,
    Uploads,
}

/// Where an interrupted pass resumes: after `after` (a raw key) in `phase` of `bucket`.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Cursor {
    bucket: String,
    phase: Phase,
    after: Option<String>,
}

pub struct Worker {
    store: Store,
    config: WorkerConfig,
    holder: String,
    metrics: Arc<crate::metrics::Metrics>,
    actions_this_second: (std::time::Instant, u32),
    /// Blobs released by actions since the last flush.
    released: Vec<crate::blob::BlobId>,
}

fn lifecycle(m: &crate::metrics::Metrics) -> &LifecycleMetrics {
    &m.lifecycle
}

impl Worker {
    pub fn new(store: Store, config: WorkerConfig, metrics: Arc<crate::metrics::Metrics>) -> Self {
        let holder = uuid::Uuid::new_v4().to_string();
        Self {
            store,
            config,
            holder,
            metrics,
            actions_this_second: (std::time::Instant::now(), 0),
            released: Vec::new(),
        }
    }

    pub async fn run(mut self) {
        let mut tick = tokio::time::interval(self.config.interval);
        loop {
            tick.tick().await;
            if let Err(e) = self.pass().await {
                tracing::warn!(error = %e, "lifecycle pass failed; it resumes on the next wake");
            }
        }
    }

    fn now(&self) -> OffsetDateTime {
        self.store.clock.now()
    }

    fn lease_ttl(&self) -> Duration {
        (self.config.interval * 3).max(Duration::from_secs(30))
    }

    /// Takes or renews the lease; false when another live gateway holds it.
    async fn hold_lease(&self) -> s3s::S3Result<bool> {
        let now = Nanos::from_time(self.now());
        let expires = Nanos(now.0.saturating_add(self.lease_ttl().as_nanos() as i64));
        let mine = Lease {
            holder: self.holder.clone(),
            expires,
        };
        transact(&*self.store.meta, &(mine, now), |txn, (mine, now)| {
            Box::pin(async move {
                let k = keys::lease(LEASE);
                if let Some(raw) = txn.get(&k).await.map_err(from_meta)? {
                    let held: Lease = model::decode(&k, &raw).map_err(from_meta)?;
                    if held.holder != mine.holder && held.expires > *now {
                        return Ok(false);
                    }
                }
                txn.put(&k, &model::encode(mine)).await.map_err(from_meta)?;
                Ok(true)
            })
        })
        .await
    }

    async fn load_cursor(&self) -> s3s::S3Result<Option<Cursor>> {
        read_only(&*self.store.meta, &(), |txn, ()| {
            Box::pin(async move {
                let k = keys::lease(CURSOR);
                match txn.get(&k).await.map_err(from_meta)? {
                    Some(raw) => Ok(Some(model::decode(&k, &raw).map_err(from_meta)?)),
                    None => Ok(None),
                }
            })
        })
        .await
    }

    async fn save_cursor(&self, cursor: Option<&Cursor>) -> s3s::S3Result<()> {
        transact(&*self.store.meta, &cursor, |txn, cursor| {
            Box::pin(async move {
                let k = keys::lease(CURSOR);
                match cursor {
                    Some(c) => txn.put(&k, &model::encode(*c)).await.map_err(from_meta),
                    None => txn.delete(&k).await.map_err(from_meta),
                }
            })
        })
        .await
    }

    /// Waits as needed to stay under the configured action rate.
    async fn pace(&mut self) {
        let (since, count) = &mut self.actions_this_second;
        if since.elapsed() >= Duration::from_secs(1) {
            *since = std::time::Instant::now();
            *count = 0;
        }
        *count += 1;
        if *count >= self.config.max_actions_per_sec.max(1) {
            let rest = Duration::from_secs(1).saturating_sub(since.elapsed());
            tokio::time::sleep(rest).await;
            self.actions_this_second = (std::time::Instant::now(), 0);
        }
    }

    /// One pass over every bucket with rules, resuming an interrupted one.
    pub async fn pass(&mut self) -> s3s::S3Result<()> {
        if !self.hold_lease().await? {
            return Ok(());
        }
        let resume = self.load_cursor().await?;
        let mut buckets = self.store.list_buckets().await?;
        buckets.sort_by(|a, b| a.name.cmp(&b.name));
        for bucket in buckets {
            if resume.as_ref().is_some_and(|c| bucket.name < c.bucket) {
                continue;
            }
            let Some(config) = bucket.lifecycle.clone().filter(|c| c.enabled().next().is_some()) else {
                continue;
            };
            for phase in [Phase::Current, Phase::Noncurrent, Phase::Uploads] {
                let after = match &resume {
                    Some(c) if c.bucket == bucket.name && phase < c.phase => continue,
                    Some(c) if c.bucket == bucket.name && phase == c.phase => c.after.clone(),
                    _ => None,
                };
                self.walk(&bucket, &config, phase, after).await?;
            }
        }
        self.save_cursor(None).await?;
        lifecycle(&self.metrics)
            .last_full_pass
            .set(self.now().unix_timestamp());
        Ok(())
    }

    fn range(space: &Space, phase: Phase) -> (Vec<u8>, Vec<u8>) {
        let start = match phase {
            Phase::Current => keys::object(space, ""),
            Phase::Noncurrent => keys::versions_prefix(space, ""),
            Phase::Uploads => keys::uploads_prefix(space, ""),
        };
        let end = keys::prefix_end(&start);
        (start, end)
    }

    async fn walk(
        &mut self,
        bucket: &BucketRecord,
        config: &LifecycleConfig,
        phase: Phase,
        after: Option<String>,
    ) -> s3s::S3Result<()> {
        let space = bucket.space();
        let (start, end) = Self::range(&space, phase);
        // A cursor saved in another incarnation of the bucket does not reach into this one.
        let mut cursor = match after.and_then(|a| hex::decode(a).ok()) {
            Some(raw) => keys::successor(&raw).max(start),
            None => start,
        };
        // For noncurrent versions: the key being walked, the creation time of the version
        // newer than the next one, and how many noncurrent versions of it came before.
        let mut newer: Option<(String, Nanos, u32)> = None;
        loop {
            let batch = self.store.scan_raw(&cursor, &end, BATCH).await?;
            let Some((last, _)) = batch.last() else {
                return Ok(());
            };
            let last = last.clone();
            for (raw, value) in &batch {
                match phase {
                    Phase::Current => self.current(bucket, &space, config, raw, value).await?,
                    Phase::Noncurrent => {
                        self.noncurrent(bucket, &space, config, raw, value, &mut newer)
                            .await?
                    }
                    Phase::Uploads => self.upload(bucket, config, raw, value).await?,
                }
            }
            cursor = keys::successor(&last);
            self.settle().await?;
            let saved = Cursor {
                bucket: bucket.name.clone(),
                phase,
                after: Some(hex::encode(&last)),
            };
            self.save_cursor(Some(&saved)).await?;
            if !self.hold_lease().await? {
                // Another gateway took over (this one stalled past the lease): stop here.
                return Err(s3s::S3Error::with_message(
                    s3s::S3ErrorCode::InternalError,
                    "lifecycle lease lost",
                ));
            }
            if batch.len() < BATCH {
                return Ok(());
            }
        }
    }

    /// Makes the batch's actions durable, then frees the blobs they released.
    async fn settle(&mut self) -> s3s::S3Result<()> {
        if self.released.is_empty() {
            return self.store.meta.flush().await.map_err(from_meta);
        }
        self.store.meta.flush().await.map_err(from_meta)?;
        let blobs = std::mem::take(&mut self.released);
        self.store.free(&blobs).await;
        Ok(())
    }

    async fn current(
        &mut self,
        bucket: &BucketRecord,
        space: &Space,
        config: &LifecycleConfig,
        raw: &[u8],
        value: &[u8],
    ) -> s3s::S3Result<()> {
        let Some(key) = keys::object_key_of(space, raw) else {
            return Ok(());
        };
        let head: ObjectHead = model::decode(raw, value).map_err(from_meta)?;
        let now = self.now();
        if head.delete_marker {
            let covered = config
                .enabled()
                .any(|r| r.removes_expired_markers() && key.starts_with(&r.filter.prefix));
            if covered
                && self
                    .store
                    .remove_expired_marker(&bucket.name, key, &head.order)
                    .await?
            {
                lifecycle(&self.metrics).delete_markers_removed.inc();
                self.pace().await;
            }
            return Ok(());
        }
        let due = config.expiry_of(key, head.size, &head.tags, head.modified, self.config.day);
        if due.is_some_and(|(t, _)| now >= t) {
            let done = self.store.expire_current(&bucket.name, key, &head.order).await?;
            self.released.extend(done.blobs);
            if done.done {
                lifecycle(&self.metrics).objects_expired.inc();
                lifecycle(&self.metrics).bytes_freed.inc_by(done.bytes_freed);
                tracing::debug!(bucket = %bucket.name, key, "expired");
                self.pace().await;
            }
        }
        Ok(())
    }

    async fn noncurrent(
        &mut self,
        bucket: &BucketRecord,
        space: &Space,
        config: &LifecycleConfig,
        raw: &[u8],
        value: &[u8],
        newer: &mut Option<(String, Nanos, u32)>,
    ) -> s3s::S3Result<()> {
        let Some((key, order)) = keys::version_parts(space, raw) else {
            return Ok(());
        };
        let head: ObjectHead = model::decode(raw, value).map_err(from_meta)?;
        let (since, noncurrent_before) = match newer.take() {
            Some((k, since, n)) if k == key => (since, n),
            // The first (newest) version of a key is its current one.
            _ => {
                *newer = Some((key, head.modified, 0));
                return Ok(());
            }
        };
        *newer = Some((key.clone(), head.modified, noncurrent_before + 1));
        let now = self.now();
        let expires = config
            .enabled()
            .filter(|r| r.filter.matches(&key, head.size, &head.tags))
            .any(|r| r.noncurrent_expires(since, noncurrent_before, now, self.config.day));
        if expires {
            let order =
                VersionOrder::parse(std::str::from_utf8(order).unwrap_or_default()).unwrap_or_default();
            let done = self.store.expire_noncurrent(&bucket.name, &key, &order).await?;
            self.released.extend(done.blobs);
            if done.done {
                lifecycle(&self.metrics).versions_removed.inc();
                lifecycle(&self.metrics).bytes_freed.inc_by(done.bytes_freed);
                self.pace().await;
            }
        }
        Ok(())
    }

    async fn upload(
        &mut self,
        bucket: &BucketRecord,
        config: &LifecycleConfig,
        raw: &[u8],
        value: &[u8],
    ) -> s3s::S3Result<()> {
        let upload: UploadRecord = model::decode(raw, value).map_err(from_meta)?;
        let now = self.now();
        let stale = config
            .enabled()
            .filter(|r| upload.key.starts_with(&r.filter.prefix))
            .any(|r| {
                r.abort_incomplete_days
                    .is_some_and(|d| now >= super::rules::due(upload.initiated, d, self.config.day))
            });
        if stale {
            match self
                .store
                .abort_upload(&bucket.name, &upload.key, &upload.upload_id)
                .await
            {
                Ok(()) => {
                    lifecycle(&self.metrics).uploads_aborted.inc();
                    self.pace().await;
                }
                Err(e) if *e.code() == s3s::S3ErrorCode::NoSuchUpload => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;
    use crate::meta::fjall::EmbeddedStore;

    fn worker(store: &Store) -> Worker {
        let config = WorkerConfig {
            day: Duration::from_secs(86_400),
            interval: Duration::from_secs(10),
            max_actions_per_sec: 1000,
        };
        Worker::new(store.clone(), config, Arc::default())
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn one_worker_holds_the_lease_until_it_lapses() {
        let dir = tempfile::tempdir().unwrap();
        let clock = Arc::new(ManualClock::new(
            OffsetDateTime::UNIX_EPOCH + time::Duration::days(20_000),
        ));
        let meta = Arc::new(EmbeddedStore::open(&dir.path().join("meta")).unwrap());
        let store = crate::ops::test_store(meta, dir.path(), clock.clone()).await;
        let (a, b) = (worker(&store), worker(&store));
        assert!(a.hold_lease().await.unwrap());
        assert!(!b.hold_lease().await.unwrap(), "a live lease is exclusive");
        assert!(a.hold_lease().await.unwrap(), "the holder renews");
        clock.advance(a.lease_ttl() + Duration::from_secs(1));
        assert!(b.hold_lease().await.unwrap(), "a lapsed lease is taken over");
        assert!(!a.hold_lease().await.unwrap());
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn a_full_pass_clears_its_cursor_and_records_the_time() {
        let dir = tempfile::tempdir().unwrap();
        let meta = Arc::new(EmbeddedStore::open(&dir.path().join("meta")).unwrap());
        let store = crate::ops::test_store(meta, dir.path(), Arc::new(crate::clock::SystemClock)).await;
        let mut w = worker(&store);
        w.save_cursor(Some(&Cursor {
            bucket: "gone".into(),
            phase: Phase::Uploads,
            after: None,
        }))
        .await
        .unwrap();
        w.pass().await.unwrap();
        assert!(w.load_cursor().await.unwrap().is_none());
        assert!(w.metrics.lifecycle.last_full_pass.get() > 0);
    }
}
