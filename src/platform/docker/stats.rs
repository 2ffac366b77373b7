//! What a docker deployment costs the host: each container's cgroup (memory usage minus
//! inactive page cache, as `docker stats` counts it; CPU from cgroup accounting, in
//! nanoseconds on v1 and microseconds on v2) plus the processes that exist only because
//! of the containers: one `containerd-shim` per container and the `docker-proxy` that
//! forwards the published port (their CPU from the process CPU clock, nanoseconds, as
//! [`crate::measure::resources`] reads it). dockerd and containerd serve every container
//! of the host: they are sampled apart ([`daemons`]), never added to a deployment.
//!
//! Source: the cgroup files are read directly (v1 and v2 layouts), not the engine's
//! stats API: measured here (dockerd 20.10, cgroup v1, debug build, five containers,
//! n=20 each, `cargo test --test docker sample_sources_agree -- --nocapture`) a whole
//! sample from the files took a median 1.8 ms, five concurrent one-shot stats calls a
//! median 1015 ms (20.10 answers on its next 1 s collection tick even with
//! `one-shot`), too slow for a sample every 250 ms. The stats API is the fallback
//! when the files are not reachable (remote `DOCKER_HOST`, other cgroup namespace); it
//! cannot see the shim and proxy processes, and gives no PSS.

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use bollard::query_parameters::{LogsOptionsBuilder, StatsOptionsBuilder};
use bollard::Docker as Engine;
use futures_util::StreamExt;

use super::engine_error;
use crate::host::procfs;
use crate::measure::resources;
use crate::platform::{PlatformError, ResourceSample};

/// Where one container's accounting lives.
#[derive(Debug, Clone, PartialEq)]
pub enum CgroupFiles {
    /// cgroup v1: separate memory and cpuacct hierarchies.
    V1 { memory: PathBuf, cpuacct: PathBuf },
    /// cgroup v2: one unified directory.
    V2 { dir: PathBuf },
}

impl CgroupFiles {
    /// The cgroup of process `pid`, from `/proc/PID/cgroup`, if its files are readable.
    pub fn of_pid(pid: i64) -> Option<CgroupFiles> {
        let text = procfs::cgroup(pid as u32)?;
        let unified = Path::new("/sys/fs/cgroup/cgroup.controllers").exists();
        let found = Self::parse(&text, unified, Path::new("/sys/fs/cgroup"))?;
        let probe = match &found {
            CgroupFiles::V1 { memory, .. } => memory.join("memory.usage_in_bytes"),
            CgroupFiles::V2 { dir } => dir.join("memory.current"),
        };
        probe.exists().then_some(found)
    }

    /// Resolve the lines of `/proc/PID/cgroup` under the cgroup mount `root`.
    pub fn parse(text: &str, unified: bool, root: &Path) -> Option<CgroupFiles> {
        let mut memory = None;
        let mut cpuacct = None;
        for line in text.lines() {
            let mut parts = line.splitn(3, ':');
            let (_, controllers, path) = (parts.next()?, parts.next()?, parts.next()?);
            let rel = path.trim_start_matches('/');
            if unified {
                if controllers.is_empty() {
                    return Some(CgroupFiles::V2 {
                        dir: root.join(rel),
                    });
                }
                continue;
            }
            // The mount is named after the controller list ("cpu,cpuacct" on many hosts).
            let list: Vec<&str> = controllers.split(',').collect();
            if list.contains(&"memory") {
                memory = Some(root.join(controllers).join(rel));
            }
            if list.contains(&"cpuacct") {
                cpuacct = Some(root.join(controllers).join(rel));
            }
        }
        Some(CgroupFiles::V1 {
            memory: memory?,
            cpuacct: cpuacct?,
        })
    }

    /// (memory bytes as `docker stats` counts them, CPU seconds, the CPU figure's
    /// resolution in seconds, pids in the cgroup).
    pub fn read(&self) -> std::io::Result<(u64, f64, f64, Vec<i32>)> {
        match self {
            CgroupFiles::V1 { memory, cpuacct } => {
                let usage = read_u64(&memory.join("memory.usage_in_bytes"))?;
                let stat = std::fs::read_to_string(memory.join("memory.stat"))?;
                let inactive = stat_key(&stat, "total_inactive_file").unwrap_or(0);
                let cpu_ns = read_u64(&cpuacct.join("cpuacct.usage"))?;
                let pids = read_pids(&memory.join("cgroup.procs"))?;
                Ok((
                    mem_without_inactive(usage, inactive),
                    cpu_ns as f64 / 1e9,
                    1e-9,
                    pids,
                ))
            }
            CgroupFiles::V2 { dir } => {
                let usage = read_u64(&dir.join("memory.current"))?;
                let stat = std::fs::read_to_string(dir.join("memory.stat"))?;
                let inactive = stat_key(&stat, "inactive_file").unwrap_or(0);
                let cpu = std::fs::read_to_string(dir.join("cpu.stat"))?;
                let usec = stat_key(&cpu, "usage_usec").unwrap_or(0);
                let pids = read_pids(&dir.join("cgroup.procs"))?;
                Ok((
                    mem_without_inactive(usage, inactive),
                    usec as f64 / 1e6,
                    1e-6,
                    pids,
                ))
            }
        }
    }
}

/// `docker stats`' memory figure: usage minus the inactive file cache (reclaimable).
fn mem_without_inactive(usage: u64, inactive: u64) -> u64 {
    if inactive < usage {
        usage - inactive
    } else {
        usage
    }
}

fn read_u64(path: &Path) -> std::io::Result<u64> {
    let text = std::fs::read_to_string(path)?;
    text.trim().parse().map_err(|_| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("{}: not a number: {:?}", path.display(), text.trim()),
        )
    })
}

fn read_pids(path: &Path) -> std::io::Result<Vec<i32>> {
    Ok(std::fs::read_to_string(path)?
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect())
}

/// Value of `key` in a `key value` per line file (memory.stat, cpu.stat).
pub fn stat_key(text: &str, key: &str) -> Option<u64> {
    text.lines().find_map(|l| {
        let (k, v) = l.split_once(' ')?;
        (k == key).then(|| v.trim().parse().ok()).flatten()
    })
}

/// RSS, PSS (bytes) and CPU seconds (with their resolution) of one host process.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ProcUse {
    pub rss: u64,
    pub pss: u64,
    pub cpu_seconds: f64,
    pub cpu_resolution_s: f64,
}

pub fn proc_use(pid: i32) -> std::io::Result<ProcUse> {
    let rollup = procfs::smaps_rollup(pid as u32).ok_or_else(|| {
        std::io::Error::new(
            std::io::ErrorKind::NotFound,
            format!("/proc/{pid}/smaps_rollup"),
        )
    })?;
    let (cpu_seconds, cpu_resolution_s) = procfs::cpu(pid as u32).unwrap_or_default();
    Ok(ProcUse {
        rss: rollup.rss,
        pss: rollup.pss,
        cpu_seconds,
        cpu_resolution_s,
    })
}

/// A sample of containers run by an engine without docker's daemon (lxc, podman): the
/// memory and CPU of their `cgroups` (each with the role it runs, named in an error
/// under `place`), the PSS of the processes inside, plus the per-container `helpers`
/// that live outside the cgroups (lxc's monitors, podman's conmon). Also returns the
/// cgroups' memory and the helpers' RSS apart, for the memory breakdown.
pub fn containers_sample<'a>(
    place: &str,
    cgroups: impl IntoIterator<Item = (&'a CgroupFiles, &'a str)>,
    helpers: impl IntoIterator<Item = i32>,
) -> Result<(ResourceSample, u64, u64), PlatformError> {
    let (mut mem, mut cpu, mut pss, mut resolution) = (0u64, 0.0, 0u64, 0.0f64);
    for (cg, role) in cgroups {
        let (m, c, res, pids) = cg.read().map_err(PlatformError::io(format!(
            "{place}: reading the cgroup of {role}"
        )))?;
        mem += m;
        cpu += c;
        resolution = resolution.max(res);
        pss += pids
            .into_iter()
            .map(|p| proc_use(p).unwrap_or_default().pss)
            .sum::<u64>();
    }
    let outside = procs_use(helpers);
    let sample = ResourceSample {
        rss_bytes: mem + outside.rss,
        pss_bytes: Some(pss + outside.pss),
        cpu_seconds: cpu + outside.cpu_seconds,
        cpu_resolution_s: resolution.max(outside.cpu_resolution_s),
    };
    Ok((sample, mem, outside.rss))
}

/// [`proc_use`] summed over `pids` (those gone count as zero), with the coarsest CPU
/// resolution among them.
pub fn procs_use(pids: impl IntoIterator<Item = i32>) -> ProcUse {
    pids.into_iter()
        .map(|p| proc_use(p).unwrap_or_default())
        .fold(ProcUse::default(), |a, u| ProcUse {
            rss: a.rss + u.rss,
            pss: a.pss + u.pss,
            cpu_seconds: a.cpu_seconds + u.cpu_seconds,
            cpu_resolution_s: a.cpu_resolution_s.max(u.cpu_resolution_s),
        })
}

/// The engine's daemons, shared by every container of the host.
pub const DAEMONS: [&str; 2] = ["dockerd", "containerd"];

/// dockerd + containerd: their RSS summed, and what was counted.
pub fn daemons() -> (u64, Vec<u32>) {
    let pids = procfs::named(&DAEMONS);
    let rss = pids
        .iter()
        .map(|&p| proc_use(p as i32).map(|u| u.rss).unwrap_or(0))
        .sum();
    (rss, pids)
}

/// The containerd shim serving container `id` whose init process is `init_pid`: the
/// init's parent when its command line names the container, else a /proc scan.
pub fn find_shim(id: &str, init_pid: i64) -> Option<i32> {
    let is_shim = |pid: u32| procfs::cmdline(pid).is_some_and(|a| procfs::has_pair(&a, "-id", id));
    if let Some(ppid) = procfs::parent(init_pid as u32) {
        if is_shim(ppid) {
            return Some(ppid as i32);
        }
    }
    procfs::pids()
        .into_iter()
        .find(|&p| is_shim(p))
        .map(|p| p as i32)
}

/// `docker-proxy` processes forwarding a published port to one of `ips`.
pub fn find_proxies(ips: &[Ipv4Addr]) -> Vec<i32> {
    if ips.is_empty() {
        return Vec::new();
    }
    let ips: Vec<String> = ips.iter().map(|i| i.to_string()).collect();
    procfs::named(&["docker-proxy"])
        .into_iter()
        .filter(|&p| {
            procfs::cmdline(p).is_some_and(|a| {
                ips.iter()
                    .any(|ip| procfs::has_pair(&a, "-container-ip", ip))
            })
        })
        .map(|p| p as i32)
        .collect()
}

/// Where the memory of the last sample went (bytes; RSS for processes).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Breakdown {
    /// The containers' cgroups (usage minus inactive file cache).
    pub containers: u64,
    pub shims_rss: u64,
    pub shims_pss: u64,
    pub proxies_rss: u64,
    pub proxies_pss: u64,
}

impl Breakdown {
    /// The split as the results record it, with the engine's daemons as the shared cost.
    pub fn to_record(self, containers: usize, helpers: &[u32]) -> crate::results::MemoryBreakdown {
        use crate::results::MemoryPart;
        let (daemon_rss, daemon_pids) = daemons();
        crate::results::MemoryBreakdown {
            workload: MemoryPart {
                bytes: self.containers,
                counted: vec![format!(
                    "container cgroups ×{containers} (usage minus inactive file cache)"
                )],
            },
            per_instance: MemoryPart {
                bytes: self.shims_rss + self.proxies_rss,
                counted: resources::counted(helpers),
            },
            shared: MemoryPart {
                bytes: daemon_rss,
                counted: resources::counted(&daemon_pids),
            },
        }
    }
}

/// One observed container.
#[derive(Debug, Clone)]
pub struct Observed {
    pub id: String,
    pub cgroup: Option<CgroupFiles>,
    pub shim: Option<i32>,
}

/// "; last output: <last line the container wrote>", or nothing when it wrote nothing.
pub async fn last_log_line(engine: &Engine, id: &str) -> String {
    let options = LogsOptionsBuilder::default()
        .stdout(true)
        .stderr(true)
        .tail("5")
        .build();
    let mut lines = Vec::new();
    let mut logs = engine.logs(id, Some(options));
    while let Some(Ok(chunk)) = logs.next().await {
        lines.extend(
            chunk
                .to_string()
                .lines()
                .filter(|l| !l.trim().is_empty())
                .map(|l| l.trim().to_string()),
        );
    }
    lines
        .last()
        .map(|l| format!("; last output: {l}"))
        .unwrap_or_default()
}

/// How a deployment is sampled, found once after it started.
#[derive(Debug, Clone)]
pub enum Sampler {
    /// cgroup files + shim and proxy processes from procfs.
    Host {
        containers: Vec<Observed>,
        proxies: Vec<i32>,
    },
    /// The engine's stats API (no host view).
    Api { engine: Engine, ids: Vec<String> },
}

impl Sampler {
    /// Inspect the containers (init pid) and locate their cgroups, shims and proxies.
    /// Falls back to the stats API when any cgroup is not readable from here.
    pub async fn discover(
        engine: &Engine,
        ids: &[String],
        ips: &[Ipv4Addr],
    ) -> Result<Sampler, PlatformError> {
        let mut containers = Vec::new();
        for id in ids {
            let info = engine
                .inspect_container(id, None)
                .await
                .map_err(|e| engine_error(&format!("inspecting container {id}"), &e))?;
            let state = info.state.unwrap_or_default();
            let pid = state.pid.unwrap_or(0);
            if state.running != Some(true) || pid <= 0 {
                let status = state.status.map(|s| s.to_string()).unwrap_or_default();
                let name = info.name.unwrap_or_else(|| id.clone());
                return Err(PlatformError::at(
                    "docker",
                    format!("sampling container {}", name.trim_start_matches('/')),
                    format!(
                        "not running (status {status}, exit code {}){}",
                        state.exit_code.unwrap_or(0),
                        last_log_line(engine, id).await
                    ),
                ));
            }
            let cgroup = CgroupFiles::of_pid(pid);
            let shim = find_shim(id, pid);
            containers.push(Observed {
                id: id.clone(),
                cgroup,
                shim,
            });
        }
        if containers.iter().any(|c| c.cgroup.is_none()) {
            tracing::info!("docker: cgroup files not readable here, sampling via the stats API");
            return Ok(Sampler::Api {
                engine: engine.clone(),
                ids: ids.to_vec(),
            });
        }
        let ips = ips.to_vec();
        let proxies = tokio::task::spawn_blocking(move || find_proxies(&ips))
            .await
            .unwrap_or_default();
        tracing::debug!(
            ?containers,
            ?proxies,
            "docker: sampling from cgroup files and procfs"
        );
        Ok(Sampler::Host {
            containers,
            proxies,
        })
    }

    /// The per-container helper processes sampled (shims, proxies); empty for the API.
    pub fn helpers(&self) -> Vec<u32> {
        match self {
            Sampler::Host {
                containers,
                proxies,
            } => containers
                .iter()
                .filter_map(|c| c.shim)
                .chain(proxies.iter().copied())
                .map(|p| p as u32)
                .collect(),
            Sampler::Api { .. } => Vec::new(),
        }
    }

    pub fn source(&self) -> &'static str {
        match self {
            Sampler::Host { .. } => "cgroup files + containerd-shim/docker-proxy procfs",
            Sampler::Api { .. } => "docker stats API (containers only)",
        }
    }

    /// The deployment's use, and its split (`None` from the stats API).
    pub async fn sample(&self) -> Result<(ResourceSample, Option<Breakdown>), PlatformError> {
        match self {
            Sampler::Host {
                containers,
                proxies,
            } => {
                let (containers, proxies) = (containers.clone(), proxies.clone());
                let (sample, split) =
                    tokio::task::spawn_blocking(move || sample_host(&containers, &proxies))
                        .await
                        .map_err(|e| {
                            PlatformError::at("docker", "sampling", format!("task: {e}"))
                        })??;
                Ok((sample, Some(split)))
            }
            Sampler::Api { engine, ids } => Ok((sample_api(engine, ids).await?, None)),
        }
    }
}

fn sample_host(
    containers: &[Observed],
    proxies: &[i32],
) -> Result<(ResourceSample, Breakdown), PlatformError> {
    let mut split = Breakdown::default();
    let (mut cpu, mut container_pss, mut resolution) = (0.0, 0, 0.0f64);
    // A process that just exited counts as zero rather than failing the sample.
    let use_of = |pid: i32| proc_use(pid).unwrap_or_default();
    for c in containers {
        let Some(cg) = &c.cgroup else { continue };
        let (mem, cg_cpu, cg_res, pids) = cg.read().map_err(PlatformError::io(format!(
            "docker: reading the cgroup of container {}",
            &c.id[..12.min(c.id.len())]
        )))?;
        split.containers += mem;
        cpu += cg_cpu;
        resolution = resolution.max(cg_res);
        // The cgroup already counts these processes' memory and CPU: PSS only.
        container_pss += pids.into_iter().map(|p| use_of(p).pss).sum::<u64>();
        if let Some(shim) = c.shim {
            let u = use_of(shim);
            split.shims_rss += u.rss;
            split.shims_pss += u.pss;
            cpu += u.cpu_seconds;
            resolution = resolution.max(u.cpu_resolution_s);
        }
    }
    for &pid in proxies {
        let u = use_of(pid);
        split.proxies_rss += u.rss;
        split.proxies_pss += u.pss;
        cpu += u.cpu_seconds;
        resolution = resolution.max(u.cpu_resolution_s);
    }
    let sample = ResourceSample {
        rss_bytes: split.containers + split.shims_rss + split.proxies_rss,
        pss_bytes: Some(container_pss + split.shims_pss + split.proxies_pss),
        cpu_seconds: cpu,
        cpu_resolution_s: resolution,
    };
    Ok((sample, split))
}

async fn sample_api(engine: &Engine, ids: &[String]) -> Result<ResourceSample, PlatformError> {
    let one = |id: String| async move {
        let mut stream = engine.stats(
            &id,
            Some(
                StatsOptionsBuilder::default()
                    .stream(false)
                    .one_shot(true)
                    .build(),
            ),
        );
        let stats = stream
            .next()
            .await
            .ok_or_else(|| {
                PlatformError::at("docker", format!("stats of container {id}"), "none sent")
            })?
            .map_err(|e| engine_error(&format!("stats of container {id}"), &e))?;
        let m = stats.memory_stats.unwrap_or_default();
        let usage = m.usage.unwrap_or(0);
        // The engine's raw cgroup counters: `total_inactive_file` (v1, hierarchy
        // included) or `inactive_file` (v2), as `docker stats` picks them.
        let inactive = m
            .stats
            .as_ref()
            .and_then(|s| {
                s.get("total_inactive_file")
                    .or_else(|| s.get("inactive_file"))
            })
            .copied()
            .unwrap_or(0);
        let cpu_ns = stats
            .cpu_stats
            .and_then(|c| c.cpu_usage)
            .and_then(|u| u.total_usage)
            .unwrap_or(0);
        Ok::<_, PlatformError>(ResourceSample {
            rss_bytes: mem_without_inactive(usage, inactive),
            pss_bytes: None,
            cpu_seconds: cpu_ns as f64 / 1e9,
            // Nanoseconds on cgroup v1, microseconds times 1,000 on v2: the coarser.
            cpu_resolution_s: 1e-6,
        })
    };
    let all = futures_util::future::join_all(ids.iter().cloned().map(one)).await;
    let mut total = ResourceSample::default();
    for s in all {
        total = total + s?;
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    const V1: &str = "9:name=systemd:/docker/abc\n4:memory:/docker/abc\n2:cpu,cpuacct:/docker/abc\n0::/docker/abc\n";

    #[test]
    fn cgroup_v1_paths_follow_controller_mounts() {
        let f = CgroupFiles::parse(V1, false, Path::new("/sys/fs/cgroup")).unwrap();
        assert_eq!(
            f,
            CgroupFiles::V1 {
                memory: "/sys/fs/cgroup/memory/docker/abc".into(),
                cpuacct: "/sys/fs/cgroup/cpu,cpuacct/docker/abc".into(),
            }
        );
    }

    #[test]
    fn cgroup_v2_uses_unified_line() {
        let text = "0::/system.slice/docker-abc.scope\n";
        let f = CgroupFiles::parse(text, true, Path::new("/sys/fs/cgroup")).unwrap();
        assert_eq!(
            f,
            CgroupFiles::V2 {
                dir: "/sys/fs/cgroup/system.slice/docker-abc.scope".into()
            }
        );
    }

    #[test]
    fn cgroup_v1_without_memory_controller_is_none() {
        assert_eq!(
            CgroupFiles::parse("2:cpuacct:/x\n", false, Path::new("/c")),
            None
        );
    }

    #[test]
    fn stat_keys_and_memory_figure() {
        let stat = "cache 4096\ninactive_file 100\ntotal_inactive_file 8192\n";
        assert_eq!(stat_key(stat, "total_inactive_file"), Some(8192));
        assert_eq!(stat_key(stat, "inactive_file"), Some(100));
        assert_eq!(stat_key(stat, "rss"), None);
        assert_eq!(mem_without_inactive(10_000, 8192), 1808);
        assert_eq!(mem_without_inactive(100, 8192), 100);
    }

    #[test]
    fn own_process_is_measurable() {
        let u = proc_use(std::process::id() as i32).unwrap();
        assert!(u.rss > 0 && u.pss > 0);
        assert_eq!(u.cpu_resolution_s, procfs::NS);
    }
}
