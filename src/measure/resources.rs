//! Host-side resources, sampled from outside the workload: procfs for processes
//! (RSS, PSS, CPU), and windows of samples for idle and loaded phases.

use std::time::{Duration, Instant};

use crate::platform::{Deployment, PlatformError, ResourceSample};

/// Kernel clock ticks per second for /proc/PID/stat times.
pub(crate) fn clock_ticks() -> f64 {
    // SAFETY: sysconf has no preconditions.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if t > 0 {
        t as f64
    } else {
        100.0
    }
}

/// Bytes per memory page, for the page counts of /proc/PID/stat.
pub(crate) fn page_size() -> u64 {
    // SAFETY: sysconf has no preconditions.
    let p = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    if p > 0 {
        p as u64
    } else {
        4096
    }
}

/// Resources of one process. `None` when it has gone away (a normal race).
pub fn process(pid: u32) -> Option<ResourceSample> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may contain spaces and parentheses: fields start after the last ')'.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // After the name: state(0) ... utime(11) stime(12) ... rss(21), see proc(5).
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    let rss_pages: u64 = fields.get(21)?.parse().ok()?;
    Some(ResourceSample {
        rss_bytes: rss_pages * page_size(),
        pss_bytes: pss(pid),
        cpu_seconds: (utime + stime) / clock_ticks(),
    })
}

/// Proportional set size from smaps_rollup (Linux >= 4.14), bytes.
fn pss(pid: u32) -> Option<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup")).ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix("Pss:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map(|kb| kb * 1024)
}

/// Sum over processes; those that have exited count as zero.
pub fn processes(pids: &[u32]) -> ResourceSample {
    pids.iter().filter_map(|&p| process(p)).fold(
        ResourceSample {
            pss_bytes: Some(0),
            ..Default::default()
        },
        |a, b| a + b,
    )
}

/// Children (recursively) of `pid`, from /proc/*/stat parent fields.
pub fn descendants(pid: u32) -> Vec<u32> {
    let mut parent_of = Vec::new();
    if let Ok(dir) = std::fs::read_dir("/proc") {
        for e in dir.flatten() {
            let Some(p) = e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
                continue;
            };
            if let Some(pp) = parent(p) {
                parent_of.push((p, pp));
            }
        }
    }
    let mut out = Vec::new();
    let mut frontier = vec![pid];
    while let Some(cur) = frontier.pop() {
        for &(child, pp) in &parent_of {
            if pp == cur {
                out.push(child);
                frontier.push(child);
            }
        }
    }
    out
}

fn parent(pid: u32) -> Option<u32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &stat[stat.rfind(')')? + 2..];
    rest.split_whitespace().nth(1)?.parse().ok()
}

/// Samples taken over one window.
#[derive(Debug, Clone, Default)]
pub struct Window {
    pub rss_bytes: Vec<f64>,
    pub pss_bytes: Vec<f64>,
    /// Cumulative CPU seconds at each sample, with the sample's time since the start.
    pub cpu: Vec<(Duration, f64)>,
}

impl Window {
    fn push(&mut self, at: Duration, s: ResourceSample) {
        self.rss_bytes.push(s.rss_bytes as f64);
        if let Some(p) = s.pss_bytes {
            self.pss_bytes.push(p as f64);
        }
        self.cpu.push((at, s.cpu_seconds));
    }

    /// CPU seconds between the first and the last sample.
    pub fn cpu_seconds(&self) -> f64 {
        match (self.cpu.first(), self.cpu.last()) {
            (Some(a), Some(b)) => (b.1 - a.1).max(0.0),
            _ => 0.0,
        }
    }

    /// Time between the first and the last sample.
    pub fn span(&self) -> Duration {
        match (self.cpu.first(), self.cpu.last()) {
            (Some(a), Some(b)) => b.0.saturating_sub(a.0),
            _ => Duration::ZERO,
        }
    }

    /// CPU seconds spent in consecutive slices of about `slice` each (the spread).
    pub fn cpu_per_slice(&self, slice: Duration) -> Vec<f64> {
        let mut out = Vec::new();
        let Some(&(mut t0, mut c0)) = self.cpu.first() else {
            return out;
        };
        for &(t, c) in &self.cpu[1..] {
            if t.saturating_sub(t0) >= slice {
                out.push((c - c0).max(0.0));
                t0 = t;
                c0 = c;
            }
        }
        out
    }
}

/// Sample `deployment` every `interval` for `length`, starting now (first sample at 0,
/// last at `length`).
pub async fn window(
    deployment: &dyn Deployment,
    length: Duration,
    interval: Duration,
) -> Result<Window, PlatformError> {
    let mut w = Window::default();
    sample_until(deployment, interval, &mut w, tokio::time::sleep(length)).await?;
    Ok(w)
}

/// Sample every `interval` until `until` completes, then once more; returns its output.
pub async fn sample_until<F: std::future::Future>(
    deployment: &dyn Deployment,
    interval: Duration,
    w: &mut Window,
    until: F,
) -> Result<F::Output, PlatformError> {
    let start = Instant::now();
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tokio::pin!(until);
    loop {
        tokio::select! {
            out = &mut until => {
                w.push(start.elapsed(), deployment.sample().await?);
                return Ok(out);
            }
            _ = tick.tick() => {
                w.push(start.elapsed(), deployment.sample().await?);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_process_has_memory_and_cpu() {
        // Burn CPU until the kernel has charged at least one clock tick to us; on a
        // loaded host that takes longer than the same wall time, hence a loop.
        let t = Instant::now();
        let mut x = 0u64;
        let s = loop {
            for _ in 0..1_000_000 {
                x = x.wrapping_add(std::hint::black_box(1));
            }
            let s = process(std::process::id()).expect("own /proc entry");
            if s.cpu_seconds > 0.0 || t.elapsed() > Duration::from_secs(30) {
                break s;
            }
        };
        assert!(s.rss_bytes > 1 << 20, "rss {}", s.rss_bytes);
        assert!(s.pss_bytes.unwrap_or(0) > 0);
        assert!(s.cpu_seconds > 0.0, "{x}");
    }

    #[test]
    fn gone_process_is_none() {
        assert!(process(u32::MAX - 1).is_none());
    }

    #[test]
    fn descendants_finds_child() {
        let mut child = std::process::Command::new("sleep")
            .arg("5")
            .spawn()
            .unwrap();
        let d = descendants(std::process::id());
        child.kill().unwrap();
        child.wait().unwrap();
        assert!(d.contains(&child.id()), "{d:?}");
    }

    #[test]
    fn cpu_slices_partition_window() {
        let mut w = Window::default();
        for i in 0..=10u64 {
            let s = ResourceSample {
                rss_bytes: 1,
                pss_bytes: None,
                cpu_seconds: i as f64 * 0.1,
            };
            w.push(Duration::from_millis(i * 100), s);
        }
        assert!((w.cpu_seconds() - 1.0).abs() < 1e-9);
        let slices = w.cpu_per_slice(Duration::from_millis(500));
        assert_eq!(slices.len(), 2);
        assert!((slices[0] - 0.5).abs() < 1e-9);
    }
}
