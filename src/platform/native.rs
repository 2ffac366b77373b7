//! Native processes: the five roles as host processes on loopback ports. The baseline
//! every ratio is taken against.

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use tokio::process::{Child, Command};

use super::privilege::{self, RootOnly};
use super::{
    free_loopback_port, process, run_ids, Availability, Deployment, Platform, PlatformError,
    ResourceSample, RunContext, Variant, ROLES,
};
use crate::artifact::calculator;
use crate::host::procfs;
use crate::measure::{isolation, noise, outside, resources};
use crate::results::{keys, ArtifactRecord};
use crate::scenario::Scenario;

/// Environment variable carrying the run id in every process we start, so `cleanup`
/// can find leftovers in /proc after a crash.
pub const RUN_ENV: &str = "VIRTBENCH_RUN";

pub mod service_kill;

#[derive(Debug, Default)]
pub struct Native;

#[async_trait]
impl Platform for Native {
    fn name(&self) -> &'static str {
        "native"
    }

    fn facts(&self) -> super::facts::Facts {
        super::facts::Facts::process("native processes")
    }

    async fn probe(&self) -> Availability {
        Availability::Available {
            details: BTreeMap::from([("isolation".into(), "none (host processes)".into())]),
        }
    }

    fn variants(&self, _scenario: &Scenario) -> Vec<Variant> {
        vec![Variant::new("native", &[])]
    }

    fn needs_root(&self, _scenario: &Scenario, _variant: &Variant) -> Vec<RootOnly> {
        if privilege::is_root() {
            return Vec::new();
        }
        vec![privilege::outside_experiment()]
    }

    async fn prepare(&self, _ctx: &RunContext) -> Result<Vec<ArtifactRecord>, PlatformError> {
        Ok(vec![calculator::binary().await?.record()])
    }

    async fn deploy(
        &self,
        ctx: &RunContext,
        _variant: &Variant,
    ) -> Result<Box<dyn Deployment>, PlatformError> {
        Ok(Box::new(spawn(ctx).await?))
    }

    /// Isolation facts, asked of the calculator (C3; host loopback is its only canary:
    /// host processes have no network of their own), and reachability at the endpoint.
    async fn extras(
        &self,
        ctx: &RunContext,
        deployment: &mut dyn Deployment,
    ) -> Result<BTreeMap<String, crate::stats::Series>, PlatformError> {
        let canaries = isolation::Canary::host_pair(None)?;
        let mut out = isolation::probe_facts(deployment.endpoint(), &canaries).await?;
        let reached = isolation::answers(deployment.endpoint(), &isolation::probe()).await;
        // Native listens on loopback itself: its own address, no forward involved.
        out.insert(keys::REACH_GUEST_DIRECT.into(), isolation::flag(reached));
        // Its address is the host's: tried at the host's LAN address, as a LAN PC would.
        let targets = outside::Targets {
            on_host_port: Some(deployment.endpoint().port()),
            ..Default::default()
        };
        out.extend(outside::reachability(&ctx.run_id, &targets).await?);
        out.extend(noisy_neighbour(ctx, deployment.endpoint()).await?);
        if ctx.scenario.experiments.service_kill {
            match service_kill::run(ctx).await {
                Ok(series) => out.extend(series),
                Err(PlatformError::Cancelled) => return Err(PlatformError::Cancelled),
                Err(e) => tracing::warn!(error = %e, "native: sub-service kill test failed"),
            }
        }
        Ok(out)
    }

    async fn cleanup(&self, run_id: Option<&str>) -> Result<usize, PlatformError> {
        let mut killed = Vec::new();
        for pid in processes_of_run(run_id) {
            // SAFETY: plain kill(2) of a pid we found carrying our run id.
            if unsafe { libc::kill(pid as i32, libc::SIGKILL) } == 0 {
                killed.push(pid);
            }
        }
        // SIGKILL lands asynchronously: count only what is dead when we return.
        let survivors = process::wait_dead(&killed, Duration::from_secs(10)).await;
        for pid in &survivors {
            tracing::warn!(pid, "native process still alive 10 s after SIGKILL");
        }
        // The run's LAN PC, had a crash left it behind.
        let lans = outside::cleanup(run_id).await?;
        Ok(killed.len() - survivors.len() + lans)
    }

    async fn leftovers(&self, run_id: Option<&str>) -> Result<Option<Vec<String>>, PlatformError> {
        let mut out: Vec<String> = processes_of_run(run_id)
            .into_iter()
            .map(|pid| format!("process {pid}"))
            .collect();
        out.extend(
            outside::namespaces(run_id)
                .into_iter()
                .map(|ns| format!("network namespace {ns}")),
        );
        // The LAN PC's rules: listed here, where its namespace is (cleanup removes both).
        out.extend(
            outside::rules(run_id)
                .await
                .into_iter()
                .map(|r| format!("iptables rule {r}")),
        );
        Ok(Some(out))
    }
}

/// C6: the calculator's p99 quiet, then beside a sibling process running `calculator
/// noise` of each kind in turn in the run's scratch directory (killed before the next).
async fn noisy_neighbour(
    ctx: &RunContext,
    endpoint: SocketAddr,
) -> Result<BTreeMap<String, crate::stats::Series>, PlatformError> {
    let quiet = noise::p99_windows(endpoint, ctx.scenario.experiments.noise_windows).await?;
    let mut noisy = Vec::new();
    for kind in noise::KINDS {
        noisy.push((kind, beside_noise(ctx, endpoint, kind).await?));
    }
    Ok(noise::extras(quiet, noisy))
}

async fn beside_noise(
    ctx: &RunContext,
    endpoint: SocketAddr,
    kind: noise::Kind,
) -> Result<crate::stats::Series, PlatformError> {
    let binary = &calculator::binary().await?.path;
    let dir = ctx.work_dir.join("noise");
    let mut sibling = Command::new(binary)
        .arg("noise")
        .arg(&dir)
        .arg(kind.name())
        .env(RUN_ENV, &ctx.run_id)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .process_group(0)
        .kill_on_drop(true)
        .spawn()
        .map_err(PlatformError::io(format!(
            "starting {} noise {}",
            binary.display(),
            kind.name()
        )))?;
    tokio::time::sleep(noise::SETTLE).await;
    let noisy = noise::p99_windows(endpoint, ctx.scenario.experiments.noise_windows).await;
    // Still running at the end: the noise really was there all along.
    let noisy = match sibling.try_wait() {
        Ok(Some(status)) => Err(PlatformError::Failed(format!(
            "native {} noise sibling exited during the test ({status})",
            kind.name()
        ))),
        _ => noisy,
    };
    let _ = sibling.start_kill();
    let _ = sibling.wait().await;
    let _ = std::fs::remove_dir_all(&dir);
    noisy
}

/// Pids whose environment carries `VIRTBENCH_RUN=<run_id>` (any run when `None`).
pub fn processes_of_run(run_id: Option<&str>) -> Vec<u32> {
    let prefix = format!("{RUN_ENV}=");
    // The run's density copies (`<run id>-c<k>`) too.
    procfs::with_environ(|var| {
        var.strip_prefix(prefix.as_bytes())
            .and_then(|v| std::str::from_utf8(v).ok())
            .is_some_and(|found| run_ids::of_run(found, run_id))
    })
}

/// Numbers deployments within the process, for distinct log names.
static DEPLOYMENTS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

struct NativeDeployment {
    children: Vec<(&'static str, Child, PathBuf)>,
    seq: usize,
    endpoint: SocketAddr,
    spawn: Duration,
    binary: PathBuf,
    ports: BTreeMap<&'static str, u16>,
    run_id: String,
    work_dir: PathBuf,
}

/// Start the five roles on free loopback ports (sub-services first).
async fn spawn(ctx: &RunContext) -> Result<NativeDeployment, PlatformError> {
    let binary = calculator::binary().await?.path.clone();
    let started = Instant::now();
    let mut ports = BTreeMap::new();
    for role in ROLES {
        ports.insert(
            role,
            free_loopback_port().map_err(PlatformError::io("finding a free loopback port"))?,
        );
    }
    let mut dep = NativeDeployment {
        children: Vec::new(),
        endpoint: SocketAddr::from((Ipv4Addr::LOCALHOST, ports["calculator"])),
        spawn: Duration::ZERO,
        seq: DEPLOYMENTS.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
        binary,
        ports,
        run_id: ctx.run_id.clone(),
        work_dir: ctx.work_dir.clone(),
    };
    for role in ROLES {
        match dep.start(role) {
            Ok(child) => dep.children.push(child),
            Err(e) => {
                dep.teardown().await?;
                return Err(e);
            }
        }
    }
    dep.spawn = started.elapsed();
    Ok(dep)
}

impl NativeDeployment {
    /// Start one role's process (again, for a respawn: its log is appended to).
    fn start(&self, role: &'static str) -> Result<(&'static str, Child, PathBuf), PlatformError> {
        // The services' own messages go to a log in the run's scratch directory: the
        // terminal shows progress, and a process that dies has its last words quoted.
        let log_path = self
            .work_dir
            .join(format!("native-{}-{role}.log", self.seq));
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .map_err(PlatformError::io(format!(
                "creating {}",
                log_path.display()
            )))?;
        let url = |role: &str| format!("http://127.0.0.1:{}", self.ports[role]);
        let mut cmd = Command::new(&self.binary);
        cmd.arg(role)
            .arg("--listen")
            .arg(format!("127.0.0.1:{}", self.ports[role]))
            .env(RUN_ENV, &self.run_id)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(log)
            // Own process group, so Ctrl-C in the terminal reaches the harness only
            // and teardown stays in charge; kill_on_drop is the last safety net.
            .process_group(0)
            .kill_on_drop(true);
        if role == "calculator" {
            for sub in ["sum", "sub", "mul", "div"] {
                cmd.arg(format!("--{sub}")).arg(url(sub));
            }
        }
        let child = cmd.spawn().map_err(|e| PlatformError::Io {
            context: format!("starting {} {role}", self.binary.display()),
            source: e,
        })?;
        Ok((role, child, log_path))
    }
}

#[async_trait]
impl Deployment for NativeDeployment {
    fn endpoint(&self) -> SocketAddr {
        self.endpoint
    }

    fn deploy_phases(&self) -> Vec<(String, Duration)> {
        vec![("spawn".into(), self.spawn)]
    }

    fn exited(&mut self) -> Option<String> {
        self.children
            .iter_mut()
            .find_map(|(role, c, log)| match c.try_wait() {
                Ok(Some(status)) => {
                    let text = std::fs::read_to_string(log).unwrap_or_default();
                    let last = text
                        .lines()
                        .rev()
                        .find(|l| !l.trim().is_empty())
                        .unwrap_or("no output");
                    Some(format!("native {role} process exited ({status}): {last}"))
                }
                _ => None,
            })
    }

    async fn sample(&self) -> Result<ResourceSample, PlatformError> {
        let pids: Vec<u32> = self
            .children
            .iter()
            .filter_map(|(_, c, _)| c.id())
            .collect();
        Ok(resources::processes(&pids))
    }

    async fn memory_breakdown(&self) -> Option<crate::results::MemoryBreakdown> {
        // Plain processes: everything is the workload, the platform adds nothing.
        let pids: Vec<u32> = self
            .children
            .iter()
            .filter_map(|(_, c, _)| c.id())
            .collect();
        Some(crate::results::MemoryBreakdown {
            workload: crate::results::MemoryPart {
                bytes: resources::processes(&pids).rss_bytes,
                counted: resources::counted(&pids),
            },
            per_instance: Default::default(),
            shared: Default::default(),
        })
    }

    fn details(&self) -> BTreeMap<String, String> {
        BTreeMap::from([
            ("processes".into(), self.children.len().to_string()),
            (
                crate::results::keys::ACCESS.into(),
                outside::Access::HostNetwork.as_str().into(),
            ),
        ])
    }

    async fn teardown(&mut self) -> Result<(), PlatformError> {
        for (_, child, _) in &mut self.children {
            // Already-exited children make kill fail harmlessly: teardown is idempotent.
            let _ = child.start_kill();
        }
        for (role, child, _) in &mut self.children {
            child.wait().await.map_err(PlatformError::io(format!(
                "waiting for native {role} to exit"
            )))?;
        }
        self.children.clear();
        Ok(())
    }
}
