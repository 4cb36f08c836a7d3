//! Collects blobs that no committed metadata points at: the leftovers of a crash mid-PUT or of
//! a write that lost its precondition after its bytes were on disk.

use std::fs;
use std::future::Future;
use std::io;
use std::path::Path;
use std::time::{Duration, SystemTime};

use super::{BlobId, BlobStore};

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct SweepReport {
    pub examined: u64,
    pub removed: u64,
}

/// Files younger than the grace period may belong to a write whose metadata commit is still in
/// flight, so they are left alone.
fn older_than(path: &Path, grace: Duration, now: SystemTime) -> bool {
    fs::metadata(path)
        .and_then(|m| m.modified())
        .is_ok_and(|t| now.duration_since(t).is_ok_and(|age| age >= grace))
}

impl BlobStore {
    /// Removes temp files and unreferenced blobs older than `grace`. `is_referenced` asks the
    /// metadata store; a blob is removed only when it answers `Ok(false)`.
    pub async fn sweep<F, Fut>(&self, grace: Duration, is_referenced: F) -> io::Result<SweepReport>
    where
        F: Fn(BlobId) -> Fut,
        Fut: Future<Output = Result<bool, Box<dyn std::error::Error + Send + Sync>>>,
    {
        let now = SystemTime::now();
        let mut report = SweepReport::default();
        let (tmp, blobs) = (self.tmp_dir().to_owned(), self.blobs_dir().to_owned());
        let (stale_tmp, candidates) = tokio::task::spawn_blocking(move || -> io::Result<_> {
            let stale_tmp: Vec<_> = fs::read_dir(&tmp)?
                .filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| older_than(p, grace, now))
                .collect();
            let mut candidates = Vec::new();
            for shard in fs::read_dir(&blobs)?.filter_map(Result::ok) {
                for entry in fs::read_dir(shard.path())?.filter_map(Result::ok) {
                    let Some(id) = entry.file_name().to_str().and_then(BlobId::parse) else {
                        continue;
                    };
                    if older_than(&entry.path(), grace, now) {
                        candidates.push(id);
                    }
                }
            }
            Ok((stale_tmp, candidates))
        })
        .await
        .map_err(io::Error::other)??;

        for path in stale_tmp {
            report.examined += 1;
            if fs::remove_file(&path).is_ok() {
                report.removed += 1;
            }
        }
        for id in candidates {
            report.examined += 1;
            match is_referenced(id.clone()).await {
                Ok(false) => {
                    self.delete(&id).await?;
                    report.removed += 1;
                    tracing::info!(blob = %id, "swept orphaned blob");
                }
                Ok(true) => {}
                Err(e) => tracing::warn!(blob = %id, error = %e, "sweeper could not check blob"),
            }
        }
        Ok(report)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    #[tokio::test]
    async fn sweep_removes_only_unreferenced_blobs() {
        let dir = tempfile::tempdir().unwrap();
        let store = BlobStore::open(dir.path()).unwrap();
        let mut ids = Vec::new();
        for _ in 0..2 {
            let body = futures::stream::iter(vec![Ok::<_, io::Error>(Bytes::from_static(b"x"))]);
            ids.push(store.write(body, |_: &[u8]| {}).await.unwrap().id);
        }
        fs::write(store.tmp_dir().join("leftover"), b"half").unwrap();
        let keep = ids[0].clone();
        let report = store.sweep(Duration::ZERO, |id| {
            let keep = keep.clone();
            async move { Ok(id == keep) }
        });
        let report = report.await.unwrap();
        assert_eq!(
            report,
            SweepReport {
                examined: 3,
                removed: 2
            }
        );
        assert!(store.path(&ids[0]).exists());
        assert!(!store.path(&ids[1]).exists());
    }

    #[tokio::test]
    async fn sweep_spares_young_files() {
        let dir = tempfile::tempdir().unwrap();
        let store = BlobStore::open(dir.path()).unwrap();
        let body = futures::stream::iter(vec![Ok::<_, io::Error>(Bytes::from_static(b"x"))]);
        let id = store.write(body, |_: &[u8]| {}).await.unwrap().id;
        let report = store
            .sweep(Duration::from_secs(3600), |_| async { Ok(false) })
            .await
            .unwrap();
        assert_eq!(report.removed, 0);
        assert!(store.path(&id).exists());
    }
}
