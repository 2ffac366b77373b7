//! Host-side resources, sampled from outside the workload: procfs for processes
//! (RSS, PSS), the kernel's per-process CPU clock for their CPU time, and windows of
//! samples for idle and loaded phases.
//!
//! CPU time of a process is read in nanoseconds, as cgroups give it for containers, so
//! that every platform's idle CPU is measured at the same resolution: the utime/stime
//! fields of /proc/PID/stat count 10 ms clock ticks, which made an idle deployment read
//! 0 or 0.010 s and a ratio to it meaningless. The source is the process's CPU-time
//! clock (`clock_getcpuclockid`): the scheduler's `sum_exec_runtime`, the very figure
//! the first field of /proc/PID/task/*/schedstat shows per thread, summed over the
//! threads by the kernel *including those that have exited* (a per-task schedstat sum
//! loses the time of a finished thread, e.g. a blocking-pool thread, and can go down).
//! Per-task schedstat is the fallback when the clock cannot be read, then clock ticks.

use std::time::{Duration, Instant};

use async_trait::async_trait;

use crate::error::Error;

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

/// Nanosecond resolution of the CPU clock and of schedstat, in seconds.
pub const NS: f64 = 1e-9;

/// CPU seconds used so far by process `pid` (all its threads, live and exited) and the
/// resolution of the source that gave them, seconds. `None` when it has gone away.
pub fn process_cpu(pid: u32) -> Option<(f64, f64)> {
    if let Some(ns) = cpu_clock_ns(pid) {
        return Some((ns as f64 * 1e-9, NS));
    }
    if let Some(ns) = schedstat_ns(pid) {
        return Some((ns as f64 * 1e-9, NS));
    }
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some(((utime + stime) / clock_ticks(), 1.0 / clock_ticks()))
}

/// The process CPU-time clock of `pid`, nanoseconds.
fn cpu_clock_ns(pid: u32) -> Option<u64> {
    let mut clock: libc::clockid_t = 0;
    // SAFETY: `clock` is a valid out pointer; an unknown pid gives an error code.
    if unsafe { libc::clock_getcpuclockid(pid as libc::pid_t, &mut clock) } != 0 {
        return None;
    }
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid out pointer.
    if unsafe { libc::clock_gettime(clock, &mut ts) } != 0 {
        return None;
    }
    Some(ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64)
}

/// Sum of the first field of /proc/PID/task/*/schedstat (ns on CPU, live threads only).
pub fn schedstat_ns(pid: u32) -> Option<u64> {
    let dir = std::fs::read_dir(format!("/proc/{pid}/task")).ok()?;
    let mut total = 0u64;
    let mut any = false;
    for e in dir.flatten() {
        let Ok(text) = std::fs::read_to_string(e.path().join("schedstat")) else {
            continue;
        };
        if let Some(ns) = text
            .split_whitespace()
            .next()
            .and_then(|v| v.parse::<u64>().ok())
        {
            total += ns;
            any = true;
        }
    }
    any.then_some(total)
}

/// Resources of one process. `None` when it has gone away (a normal race).
pub fn process(pid: u32) -> Option<ResourceSample> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may contain spaces and parentheses: fields start after the last ')'.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // After the name: state(0) ... utime(11) stime(12) ... rss(21), see proc(5).
    let rss_pages: u64 = fields.get(21)?.parse().ok()?;
    let (cpu_seconds, cpu_resolution_s) = process_cpu(pid)?;
    Some(ResourceSample {
        rss_bytes: rss_pages * page_size(),
        pss_bytes: pss(pid),
        cpu_seconds,
        cpu_resolution_s,
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

/// The command name of a process (`/proc/PID/comm`).
pub fn comm(pid: u32) -> Option<String> {
    std::fs::read_to_string(format!("/proc/{pid}/comm"))
        .ok()
        .map(|s| s.trim().to_string())
}

/// The program a process runs: its executable's file name (QEMU renames its thread
/// after the VM, `-name ...,process=`), else its command name.
pub fn program(pid: u32) -> Option<String> {
    std::fs::read_link(format!("/proc/{pid}/exe"))
        .ok()
        .and_then(|p| Some(p.file_name()?.to_string_lossy().into_owned()))
        .or_else(|| comm(pid))
}

/// "program ×n" per program of `pids`, sorted: what a memory figure counted.
pub fn counted(pids: &[u32]) -> Vec<String> {
    let mut by: std::collections::BTreeMap<String, usize> = Default::default();
    for &p in pids {
        *by.entry(program(p).unwrap_or_else(|| "exited".into()))
            .or_default() += 1;
    }
    by.into_iter().map(|(n, k)| format!("{n} ×{k}")).collect()
}

/// Processes whose command name is one of `names` (e.g. the engine's daemons).
pub fn named(names: &[&str]) -> Vec<u32> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|&p| comm(p).is_some_and(|c| names.contains(&c.as_str())))
        .collect()
}

/// Resident bytes of the largest mapping of `pid` (for a VMM: the guest's RAM, the
/// part of it the guest has touched), from /proc/PID/smaps.
pub fn largest_mapping_rss(pid: u32) -> Option<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/smaps")).ok()?;
    let kb = |l: &str, key: &str| -> Option<u64> {
        l.strip_prefix(key)?
            .trim()
            .strip_suffix("kB")?
            .trim()
            .parse()
            .ok()
    };
    let (mut best_size, mut best_rss, mut size) = (0u64, 0u64, 0u64);
    for l in text.lines() {
        if let Some(v) = kb(l, "Size:") {
            size = v;
        } else if let Some(v) = kb(l, "Rss:") {
            if size > best_size {
                best_size = size;
                best_rss = v;
            }
        }
    }
    (best_size > 0).then_some(best_rss * 1024)
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
    /// The coarsest resolution of the CPU sources over the window, seconds.
    pub cpu_resolution_s: f64,
}

impl Window {
    fn push(&mut self, at: Duration, s: ResourceSample) {
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
    deployment: &(impl Sampled + ?Sized),
    length: Duration,
    interval: Duration,
) -> Result<Window, Error> {
    let mut w = Window::default();
    sample_until(deployment, interval, &mut w, tokio::time::sleep(length)).await?;
    Ok(w)
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
    fn cpu_clock_keeps_the_time_of_exited_threads() {
        let me = std::process::id();
        let before = cpu_clock_ns(me).unwrap();
        // A thread that burns a little, reads its own CPU time and exits.
        let spent = std::thread::spawn(|| {
            let t = Instant::now();
            let mut x = 0u64;
            while t.elapsed() < Duration::from_millis(30) {
                x = x.wrapping_add(std::hint::black_box(1));
            }
            let mut ts = libc::timespec {
                tv_sec: 0,
                tv_nsec: 0,
            };
            // SAFETY: valid out pointer.
            unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
            ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
        })
        .join()
        .unwrap();
        let after = cpu_clock_ns(me).unwrap();
        assert!(spent > 0);
        assert!(
            after - before >= spent,
            "{before} -> {after}, thread {spent}"
        );
        // schedstat sees live threads only, never more than the clock read after it.
        let sched = schedstat_ns(me).unwrap();
        assert!(sched <= cpu_clock_ns(me).unwrap(), "{sched}");
    }

    #[test]
    fn own_process_is_counted_by_name_and_has_a_largest_mapping() {
        let me = std::process::id();
        let name = comm(me).unwrap();
        assert!(named(&[name.as_str()]).contains(&me));
        let exe = std::env::current_exe().unwrap();
        let program = exe.file_name().unwrap().to_string_lossy();
        assert_eq!(counted(&[me, me]), vec![format!("{program} ×2")]);
        let rss = process(me).unwrap().rss_bytes;
        let big = largest_mapping_rss(me).unwrap();
        assert!(big <= rss, "{big} > {rss}");
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
