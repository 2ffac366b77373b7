//! The one reader of /proc: which processes there are (by a marker on their command
//! line or in their environment, by name, by parent), and what each uses (RSS, PSS,
//! CPU). Every platform that looks for its processes and the resource sampler ask here,
//! so that a process is found, and its memory and CPU read, the same way everywhere.
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
//!
//! Every reader returns `None` (or nothing) for a process that has gone away meanwhile:
//! that is a normal race, not an error.

/// Nanosecond resolution of the CPU clock and of schedstat, in seconds.
pub const NS: f64 = 1e-9;

/// Every process id in /proc now.
pub fn pids() -> Vec<u32> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .collect()
}

/// Is there a process `pid` (a zombie included)?
pub fn exists(pid: u32) -> bool {
    std::path::Path::new(&format!("/proc/{pid}")).exists()
}

/// Processes whose arguments satisfy `marker` (e.g. a QEMU `-name`, a VirtualBox
/// `--comment`, a libvirt `-uuid`).
pub fn with_cmdline(marker: impl Fn(&[String]) -> bool) -> Vec<u32> {
    pids()
        .into_iter()
        .filter(|&p| cmdline(p).is_some_and(|a| marker(&a)))
        .collect()
}

/// Processes other than this one with an environment variable (`NAME=value`, as bytes)
/// that satisfies `marker`.
pub fn with_environ(marker: impl Fn(&[u8]) -> bool) -> Vec<u32> {
    let me = std::process::id();
    pids()
        .into_iter()
        .filter(|&p| p != me)
        .filter(|&p| {
            std::fs::read(format!("/proc/{p}/environ"))
                .is_ok_and(|env| env.split(|&b| b == 0).any(&marker))
        })
        .collect()
}

/// Processes whose command name is one of `names` (e.g. an engine's daemons).
pub fn named(names: &[&str]) -> Vec<u32> {
    pids()
        .into_iter()
        .filter(|&p| comm(p).is_some_and(|c| names.contains(&c.as_str())))
        .collect()
}

/// The raw command line: NUL-separated arguments.
pub fn cmdline_raw(pid: u32) -> Option<Vec<u8>> {
    std::fs::read(format!("/proc/{pid}/cmdline")).ok()
}

/// The arguments of a process (empty ones dropped); empty for a kernel thread or a
/// process whose memory is already released.
pub fn cmdline(pid: u32) -> Option<Vec<String>> {
    let raw = cmdline_raw(pid)?;
    Some(
        raw.split(|b| *b == 0)
            .filter(|a| !a.is_empty())
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect(),
    )
}

/// Does `args` hold `flag value` as two consecutive arguments?
pub fn has_pair(args: &[String], flag: &str, value: &str) -> bool {
    args.windows(2).any(|w| w[0] == flag && w[1] == value)
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

/// The fields of /proc/PID/stat the harness reads, see proc(5).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Stat {
    /// `R`, `S`, `Z`...
    pub state: char,
    pub ppid: u32,
    pub utime_ticks: u64,
    pub stime_ticks: u64,
    pub rss_pages: u64,
}

pub fn stat(pid: u32) -> Option<Stat> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may hold spaces and parentheses: fields start after the last ')'.
    let rest = text.get(text.rfind(')')? + 2..)?;
    let f: Vec<&str> = rest.split_whitespace().collect();
    // After the name: state(0) ppid(1) ... utime(11) stime(12) ... rss(21).
    Some(Stat {
        state: f.first()?.chars().next()?,
        ppid: f.get(1)?.parse().ok()?,
        utime_ticks: f.get(11)?.parse().ok()?,
        stime_ticks: f.get(12)?.parse().ok()?,
        rss_pages: f.get(21)?.parse().ok()?,
    })
}

/// The parent of `pid`.
pub fn parent(pid: u32) -> Option<u32> {
    stat(pid).map(|s| s.ppid)
}

/// Whether `pid` has finished dying: gone from /proc, or a zombie (state `Z`/`X`) that
/// its parent can now reap.
pub fn is_dead(pid: u32) -> bool {
    stat(pid).is_none_or(|s| s.state == 'Z' || s.state == 'X')
}

/// Children (recursively) of `pid`.
pub fn descendants(pid: u32) -> Vec<u32> {
    let parent_of: Vec<(u32, u32)> = pids()
        .into_iter()
        .filter_map(|p| Some((p, parent(p)?)))
        .collect();
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

/// Resident set size, bytes.
pub fn rss_bytes(pid: u32) -> Option<u64> {
    stat(pid).map(|s| s.rss_pages * page_size())
}

/// Resident and proportional set sizes from smaps_rollup (Linux >= 4.14), bytes.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Rollup {
    pub rss: u64,
    pub pss: u64,
}

pub fn smaps_rollup(pid: u32) -> Option<Rollup> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup")).ok()?;
    let kb = |key: &str| -> Option<u64> { text.lines().find_map(|l| kb_field(l, key)) };
    Some(Rollup {
        rss: kb("Rss:").unwrap_or(0) * 1024,
        pss: kb("Pss:")? * 1024,
    })
}

/// "Key:   123 kB" -> 123.
fn kb_field(line: &str, key: &str) -> Option<u64> {
    line.strip_prefix(key)?
        .trim()
        .strip_suffix("kB")?
        .trim()
        .parse()
        .ok()
}

/// Resident bytes of the largest mapping of `pid` (for a VMM: the guest's RAM, the
/// part of it the guest has touched), from /proc/PID/smaps.
pub fn largest_mapping_rss(pid: u32) -> Option<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/smaps")).ok()?;
    let (mut best_size, mut best_rss, mut size) = (0u64, 0u64, 0u64);
    for l in text.lines() {
        if let Some(v) = kb_field(l, "Size:") {
            size = v;
        } else if let Some(v) = kb_field(l, "Rss:") {
            if size > best_size {
                best_size = size;
                best_rss = v;
            }
        }
    }
    (best_size > 0).then_some(best_rss * 1024)
}

/// The cgroup lines of a process (`/proc/PID/cgroup`).
pub fn cgroup(pid: u32) -> Option<String> {
    std::fs::read_to_string(format!("/proc/{pid}/cgroup")).ok()
}

/// CPU seconds used so far by process `pid` (all its threads, live and exited) and the
/// resolution of the source that gave them, seconds.
pub fn cpu(pid: u32) -> Option<(f64, f64)> {
    if let Some(ns) = cpu_clock_ns(pid) {
        return Some((ns as f64 * 1e-9, NS));
    }
    if let Some(ns) = schedstat_ns(pid) {
        return Some((ns as f64 * 1e-9, NS));
    }
    let s = stat(pid)?;
    let ticks = clock_ticks();
    Some(((s.utime_ticks + s.stime_ticks) as f64 / ticks, 1.0 / ticks))
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

/// Kernel clock ticks per second for /proc/PID/stat times.
fn clock_ticks() -> f64 {
    // SAFETY: sysconf has no preconditions.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if t > 0 {
        t as f64
    } else {
        100.0
    }
}

/// Bytes per memory page, for the page counts of /proc/PID/stat.
fn page_size() -> u64 {
    // SAFETY: sysconf has no preconditions.
    let p = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    if p > 0 {
        p as u64
    } else {
        4096
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

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
    fn own_process_is_found_by_name_marker_and_has_a_largest_mapping() {
        let me = std::process::id();
        let name = comm(me).unwrap();
        assert!(named(&[name.as_str()]).contains(&me));
        let args = cmdline(me).unwrap();
        assert!(with_cmdline(|a| a == args.as_slice()).contains(&me));
        let rss = rss_bytes(me).unwrap();
        let big = largest_mapping_rss(me).unwrap();
        assert!(big <= rss, "{big} > {rss}");
        assert!(smaps_rollup(me).unwrap().pss > 0);
        assert_eq!(parent(me), Some(std::os::unix::process::parent_id()));
    }

    #[test]
    fn a_child_is_found_by_its_environment_and_as_a_descendant() {
        let marker = format!("VIRTBENCH_PROCFS_TEST={}", std::process::id());
        let (k, v) = marker.split_once('=').unwrap();
        let mut child = std::process::Command::new("sleep")
            .arg("5")
            .env(k, v)
            .spawn()
            .unwrap();
        // Until the child has exec'd, /proc shows the environment it forked with.
        let t = Instant::now();
        let by_env = loop {
            let found = with_environ(|var| var == marker.as_bytes());
            if !found.is_empty() || t.elapsed() > Duration::from_secs(10) {
                break found;
            }
            std::thread::sleep(Duration::from_millis(10));
        };
        let d = descendants(std::process::id());
        child.kill().unwrap();
        child.wait().unwrap();
        assert_eq!(by_env, vec![child.id()]);
        assert!(d.contains(&child.id()), "{d:?}");
        assert!(is_dead(child.id()));
    }

    #[test]
    fn gone_process_is_none() {
        assert!(stat(u32::MAX - 1).is_none());
        assert!(cpu(u32::MAX - 1).is_none());
        assert!(is_dead(u32::MAX - 1));
    }
}
