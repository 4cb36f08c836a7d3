//! The CPU time the whole machine spent while an operation ran: client, server and kernel
//! together, read from Linux's `/proc/stat`. On a machine the client shares with the server,
//! an operation can take no less wall time than this divided by the cores, however well its
//! stages overlap; `large` reports it beside each kind of PUT so that bound can be read off the
//! same run.

use std::time::Duration;

/// Busy time of all cores since boot (user, nice, system, irq, softirq), or `None` where there
/// is no `/proc/stat`. Steal, the time a VM's host ran something else, is no work of ours.
pub fn busy() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    busy_of(&stat).map(|ticks| Duration::from_secs_f64(ticks as f64 / clock_ticks_per_sec()))
}

/// The cores `/proc/stat` counts busy time over (its `cpuN` lines), which a process limited to
/// fewer cores (`available_parallelism`) would undercount.
pub fn cores() -> Option<usize> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    cores_of(&stat)
}

fn cores_of(stat: &str) -> Option<usize> {
    let n = stat
        .lines()
        .filter(|l| {
            l.strip_prefix("cpu")
                .is_some_and(|rest| rest.starts_with(|c: char| c.is_ascii_digit()))
        })
        .count();
    (n > 0).then_some(n)
}

/// Busy ticks of the aggregate `cpu` line of a `/proc/stat` text.
fn busy_of(stat: &str) -> Option<u64> {
    let line = stat.lines().find(|l| l.starts_with("cpu "))?;
    let fields: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .map(str::parse)
        .collect::<Result<_, _>>()
        .ok()?;
    // user nice system idle iowait irq softirq steal [guest guest_nice, already in user/nice]
    let at = |i: usize| fields.get(i).copied().unwrap_or(0);
    Some(at(0) + at(1) + at(2) + at(5) + at(6))
}

fn clock_ticks_per_sec() -> f64 {
    // SAFETY: sysconf only reads a constant of the running system.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if ticks > 0 { ticks as f64 } else { 100.0 }
}

/// Busy time accumulated over the operations it wraps.
#[derive(Default, Clone, Copy)]
pub struct CpuMeter {
    total: Option<Duration>,
}

impl CpuMeter {
    /// Runs `op`, adding the machine's busy time meanwhile to this meter.
    pub async fn measure<T>(&mut self, op: impl Future<Output = T>) -> T {
        let before = busy();
        let out = op.await;
        if let (Some(before), Some(after)) = (before, busy()) {
            *self.total.get_or_insert_default() += after.saturating_sub(before);
        }
        out
    }

    /// Busy milliseconds per operation, over `ops` operations.
    pub fn ms_per_op(&self, ops: usize) -> Option<f64> {
        let total = self.total?;
        (ops > 0).then(|| total.as_secs_f64() * 1000.0 / ops as f64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn busy_time_leaves_out_idle_and_iowait() {
        let stat = "cpu  100 5 50 1000 40 3 2 1 7 0\ncpu0 50 2 25 500 20 1 1 0 0 0\nintr 1\n";
        assert_eq!(busy_of(stat), Some(100 + 5 + 50 + 3 + 2));
        assert_eq!(busy_of("intr 1\n"), None);
        let two = "cpu  1 0 0 0\ncpu0 1 0 0 0\ncpu1 0 0 0 0\ncpufreq 3\n";
        assert_eq!(cores_of(two), Some(2));
        assert_eq!(cores_of("cpu  1 0 0 0\n"), None);
    }

    #[tokio::test]
    async fn a_meter_counts_the_work_it_wraps() {
        let mut meter = CpuMeter::default();
        if busy().is_none() {
            return; // not Linux: nothing to read
        }
        // Work until this thread has used 200 ms of CPU, however long that takes on a busy
        // machine: the machine was then busy for at least that long.
        let spin = async {
            let mut x = 0u64;
            while thread_cpu() < Duration::from_millis(200) {
                for _ in 0..10_000 {
                    x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(7));
                }
            }
            x
        };
        meter.measure(spin).await;
        let ms = meter.ms_per_op(1).expect("measured");
        // Ticks are counted per core at 100 Hz or so: allow a few of them.
        assert!(ms >= 160.0, "{ms} ms");
        assert_eq!(meter.ms_per_op(0), None);
    }

    fn thread_cpu() -> Duration {
        let mut ts = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: `ts` is a valid timespec for the call to fill.
        unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &raw mut ts) };
        Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
    }
}
