//! The closed-loop load driver: `concurrency` workers each issue one operation at a time until
//! `total` operations are done, timing each one.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use tokio::task::JoinSet;

/// What a run measured.
#[derive(Clone, Debug, Default)]
pub struct Run {
    /// One latency per completed operation.
    pub latencies: Vec<Duration>,
    /// Payload bytes moved, as reported by the operations.
    pub bytes: u64,
    /// Wall time from the first operation's start to the last one's end.
    pub elapsed: Duration,
}

impl Run {
    /// Adds `other`'s operations to this run, as if they had run back to back.
    pub fn absorb(&mut self, other: Run) {
        self.latencies.extend(other.latencies);
        self.bytes += other.bytes;
        self.elapsed += other.elapsed;
    }
}

/// Runs `op(0)..op(total - 1)` on `concurrency` workers. Each operation returns the payload bytes
/// it moved. The first failure stops the run and is returned.
pub async fn closed_loop<F, Fut>(total: usize, concurrency: usize, op: F) -> anyhow::Result<Run>
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = anyhow::Result<u64>> + Send + 'static,
{
    drive(total, concurrency, None, op).await
}

/// Runs operations on `concurrency` workers until `stop` is set (background load while
/// something else is measured).
pub async fn until_stopped<F, Fut>(concurrency: usize, stop: Arc<AtomicBool>, op: F) -> anyhow::Result<Run>
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = anyhow::Result<u64>> + Send + 'static,
{
    drive(usize::MAX, concurrency, Some(stop), op).await
}

async fn drive<F, Fut>(
    total: usize,
    concurrency: usize,
    stop: Option<Arc<AtomicBool>>,
    op: F,
) -> anyhow::Result<Run>
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = anyhow::Result<u64>> + Send + 'static,
{
    if concurrency == 0 {
        bail!("concurrency must be at least 1");
    }
    let op = Arc::new(op);
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut workers = JoinSet::new();
    for _ in 0..concurrency.min(total.max(1)) {
        let (op, next, stop) = (Arc::clone(&op), Arc::clone(&next), stop.clone());
        workers.spawn(async move {
            let mut run = Run::default();
            loop {
                let index = next.fetch_add(1, Ordering::Relaxed);
                if index >= total || stop.as_ref().is_some_and(|s| s.load(Ordering::Relaxed)) {
                    return Ok::<Run, anyhow::Error>(run);
                }
                let op_started = Instant::now();
                run.bytes += op(index).await?;
                run.latencies.push(op_started.elapsed());
            }
        });
    }
    let mut merged = Run {
        latencies: Vec::with_capacity(total.min(1 << 20)),
        ..Run::default()
    };
    while let Some(joined) = workers.join_next().await {
        match joined.context("benchmark worker panicked")? {
            Ok(run) => {
                merged.latencies.extend(run.latencies);
                merged.bytes += run.bytes;
            }
            Err(e) => {
                workers.abort_all();
                return Err(e);
            }
        }
    }
    merged.elapsed = started.elapsed();
    Ok(merged)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn every_index_runs_once() {
        let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
        let recorder = Arc::clone(&seen);
        let run = closed_loop(100, 7, move |i| {
            let recorder = Arc::clone(&recorder);
            async move {
                recorder.lock().expect("lock").push(i);
                Ok(2)
            }
        })
        .await
        .expect("run");
        let mut seen = seen.lock().expect("lock").clone();
        seen.sort_unstable();
        assert_eq!(seen, (0..100).collect::<Vec<_>>());
        assert_eq!(run.latencies.len(), 100);
        assert_eq!(run.bytes, 200);
    }

    #[tokio::test]
    async fn first_error_fails_the_run() {
        let result = closed_loop(50, 4, |i| async move {
            if i == 10 {
                Err(anyhow::anyhow!("op {i} failed"))
            } else {
                Ok(0)
            }
        })
        .await;
        assert_eq!(result.expect_err("op 10 fails").to_string(), "op 10 failed");
    }
}
