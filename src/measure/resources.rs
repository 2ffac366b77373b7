//! Host-side resources, sampled from outside the workload: a deployment's use at one
//! instant ([`ResourceSample`], from `host::procfs` for processes, cgroups for
//! containers), and windows of samples for idle and loaded phases.

use std::time::{Duration, Instant};

use async_trait::async_trait;

use crate::error::Error;
use crate::host::procfs;

/// Host-side resource use of a whole deployment at one instant.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ResourceSample {
    /// Resident memory (sum of RSS, or cgroup usage for containers), bytes.
    pub rss_bytes: u64,
    /// Proportional set size where measurable (shared pages split between sharers).
    pub pss_bytes: Option<u64>,
    /// Cumulative CPU seconds (user + system) consumed so far.
    pub cpu_seconds: f64,
    /// The smallest CPU time the sources of `cpu_seconds` can tell from zero, seconds
    /// (1e-9 for CPU clocks and cgroup v1, 1e-6 for cgroup v2's `usage_usec`); the
    /// coarsest source counts when several are summed.
    pub cpu_resolution_s: f64,
}

impl std::ops::Add for ResourceSample {
    type Output = ResourceSample;
    fn add(self, o: ResourceSample) -> ResourceSample {
        ResourceSample {
            rss_bytes: self.rss_bytes + o.rss_bytes,
            pss_bytes: match (self.pss_bytes, o.pss_bytes) {
                (Some(a), Some(b)) => Some(a + b),
                _ => None,
            },
            cpu_seconds: self.cpu_seconds + o.cpu_seconds,
            cpu_resolution_s: self.cpu_resolution_s.max(o.cpu_resolution_s),
        }
    }
}

/// Something the sampler can ask for its host-side resource use now: every deployment
/// (`platform::Deployment` implements it).
#[async_trait]
pub trait Sampled: Send + Sync {
    async fn sample(&self) -> Result<ResourceSample, Error>;
}

/// Resources of one process. `None` when it has gone away (a normal race).
pub fn process(pid: u32) -> Option<ResourceSample> {
    let rss_bytes = procfs::rss_bytes(pid)?;
    let (cpu_seconds, cpu_resolution_s) = procfs::cpu(pid)?;
    Some(ResourceSample {
        rss_bytes,
        pss_bytes: procfs::smaps_rollup(pid).map(|r| r.pss),
        cpu_seconds,
        cpu_resolution_s,
    })
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

/// "program ×n" per program of `pids`, sorted: what a memory figure counted.
pub fn counted(pids: &[u32]) -> Vec<String> {
    let mut by: std::collections::BTreeMap<String, usize> = Default::default();
    for &p in pids {
        *by.entry(procfs::program(p).unwrap_or_else(|| "exited".into()))
            .or_default() += 1;
    }
    by.into_iter().map(|(n, k)| format!("{n} ×{k}")).collect()
}

/// Samples taken over one window.
#[derive(Debug, Clone, Default)]
pub struct Window {
    pub rss_bytes: Vec<f64>,
    pub pss_bytes: Vec<f64>,
    /// Cumulative CPU seconds at each sample, with the sample's time since the start.
    pub cpu: Vec<(Duration, f64)>,
    /// The coarsest resolution of the CPU sources over the window, seconds.
    pub cpu_resolution_s: f64,
}

impl Window {
    pub fn push(&mut self, at: Duration, s: ResourceSample) {
        self.rss_bytes.push(s.rss_bytes as f64);
        if let Some(p) = s.pss_bytes {
            self.pss_bytes.push(p as f64);
        }
        self.cpu.push((at, s.cpu_seconds));
        self.cpu_resolution_s = self.cpu_resolution_s.max(s.cpu_resolution_s);
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
        self.cpu_slices(slice).into_iter().map(|(c, _)| c).collect()
    }

    /// CPU seconds and length of consecutive slices of at least `slice` each (a slice
    /// ends at the first sample past it, so lengths differ by up to one interval).
    pub fn cpu_slices(&self, slice: Duration) -> Vec<(f64, Duration)> {
        let mut out = Vec::new();
        let Some(&(mut t0, mut c0)) = self.cpu.first() else {
            return out;
        };
        for &(t, c) in &self.cpu[1..] {
            let len = t.saturating_sub(t0);
            if len >= slice {
                out.push(((c - c0).max(0.0), len));
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
    deployment: &(impl Sampled + ?Sized),
    length: Duration,
    interval: Duration,
) -> Result<Window, Error> {
    let mut w = Window::default();
    sample_until(deployment, interval, &mut w, tokio::time::sleep(length)).await?;
    Ok(w)
}

/// Sample `deployment` every `interval` until `steady` says the window is enough (it
/// is asked after each sample) or `max` has passed; returns the window and the last
/// answer of `steady`. The idle window of sequential stopping (docs/stopping.md).
pub async fn window_until<T>(
    deployment: &(impl Sampled + ?Sized),
    max: Duration,
    interval: Duration,
    steady: impl Fn(&Window) -> Option<T>,
) -> Result<(Window, Option<T>), Error> {
    let start = Instant::now();
    let mut w = Window::default();
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let end = tokio::time::Instant::from_std(start + max);
    loop {
        tokio::select! {
            _ = tokio::time::sleep_until(end) => {
                w.push(start.elapsed(), deployment.sample().await?);
                return Ok((w, None));
            }
            _ = tick.tick() => {
                w.push(start.elapsed(), deployment.sample().await?);
                if let Some(t) = steady(&w) {
                    return Ok((w, Some(t)));
                }
            }
        }
    }
}

/// Sample every `interval` until `until` completes, then once more; returns its output.
pub async fn sample_until<F: std::future::Future>(
    deployment: &(impl Sampled + ?Sized),
    interval: Duration,
    w: &mut Window,
    until: F,
) -> Result<F::Output, Error> {
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
    use crate::host::procfs::NS;

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
        assert_eq!(s.cpu_resolution_s, NS, "read from the CPU clock, not ticks");
    }

    #[test]
    fn own_process_is_counted_by_program() {
        let me = std::process::id();
        let exe = std::env::current_exe().unwrap();
        let program = exe.file_name().unwrap().to_string_lossy();
        assert_eq!(counted(&[me, me]), vec![format!("{program} ×2")]);
    }

    #[test]
    fn gone_process_is_none() {
        assert!(process(u32::MAX - 1).is_none());
    }

    #[test]
    fn cpu_slices_partition_window() {
        let mut w = Window::default();
        for i in 0..=10u64 {
            let s = ResourceSample {
                rss_bytes: 1,
                pss_bytes: None,
                cpu_seconds: i as f64 * 0.1,
                cpu_resolution_s: NS,
            };
            w.push(Duration::from_millis(i * 100), s);
        }
        assert!((w.cpu_seconds() - 1.0).abs() < 1e-9);
        let slices = w.cpu_per_slice(Duration::from_millis(500));
        assert_eq!(slices.len(), 2);
        assert!((slices[0] - 0.5).abs() < 1e-9);
    }
}
