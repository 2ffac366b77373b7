//! One podman deployment: the run's network, five containers created together and
//! started in one `podman start` (sub-services first), measured from the host
//! (cgroups plus each container's `conmon`, the monitor process Podman leaves beside
//! every container instead of a daemon), removed by label.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use futures_util::future::join_all;

use super::{json, podman_on, remove_labelled, Engine, LABEL_ROLE, LABEL_RUN, NPROC_LIMIT};
use crate::measure::isolation;
use crate::platform::docker::deployment::{ContainerPlan, Plan};
use crate::platform::docker::image::LABEL;
use crate::platform::docker::network::NetworkMode;
use crate::platform::docker::stats::{containers_sample, CgroupFiles};
use crate::platform::{Deployment, PlatformError, ResourceSample};
use crate::stats::Series;

/// What `podman inspect` says of one started container.
#[derive(Debug, Clone, PartialEq)]
pub struct Started {
    pub role: &'static str,
    pub id: String,
    pub pid: i32,
    pub conmon_pid: i32,
}

/// The open-files limit of this process (soft), given to each container.
fn nofile_limit() -> u64 {
    std::fs::read_to_string("/proc/self/limits")
        .ok()
        .and_then(|t| {
            t.lines()
                .find(|l| l.starts_with("Max open files"))?
                .split_whitespace()
                .nth(3)?
                .parse()
                .ok()
        })
        .unwrap_or(1024)
}

/// `podman create` arguments of one container.
pub fn create_args(plan: &Plan, c: &ContainerPlan, image: &str, nofile: u64) -> Vec<String> {
    let mut a: Vec<String> = vec!["create".into(), "--name".into(), c.name.clone()];
    for label in [
        format!("{LABEL}=1"),
        format!("{LABEL_RUN}={}", plan.run_id),
        format!("{LABEL_ROLE}={}", c.role),
        format!("virtbench.network={}", plan.mode.name()),
    ] {
        a.push("--label".into());
        a.push(label);
    }
    a.push("--ulimit".into());
    a.push(format!("nofile={nofile}:{nofile}"));
    a.push("--ulimit".into());
    a.push(format!("nproc={NPROC_LIMIT}:{NPROC_LIMIT}"));
    match &c.network {
        None => {
            a.push("--network".into());
            a.push("host".into());
        }
        Some(net) => {
            a.push("--network".into());
            a.push(net.clone());
            if let Some(ip) = c.address.ip {
                a.push("--ip".into());
                a.push(ip.to_string());
            }
            if let Some(port) = c.publish {
                // 127.0.0.1 only: nothing of the project is reachable from outside.
                a.push("--publish".into());
                a.push(format!("127.0.0.1:{}:{port}/tcp", plan.host_port));
            }
        }
    }
    a.push(image.into());
    a.extend(c.args.iter().cloned());
    a
}

/// A running deployment.
#[derive(Debug)]
pub struct PodmanDeployment {
    engine: Engine,
    plan: Plan,
    started: Vec<Started>,
    phases: Vec<(String, Duration)>,
    cgroups: std::sync::Mutex<Option<Vec<CgroupFiles>>>,
    last_conmon_rss: std::sync::Mutex<Option<(u64, u64)>>,
    /// RSS of the containers' init processes plus their conmons at the last sample:
    /// how rootless memory is read, kept for rootful too so the two compare alike.
    last_processes_rss: std::sync::Mutex<Option<u64>>,
    /// The engine's own `podman info` details when it is not virtbench's own user's.
    engine_details: BTreeMap<String, String>,
    torn_down: bool,
}

/// Create the network and the containers, start them; on failure remove everything
/// the run created before returning the error.
pub async fn deploy(
    engine: Engine,
    plan: Plan,
    image: &str,
    cancel: &tokio_util::sync::CancellationToken,
) -> Result<PodmanDeployment, PlatformError> {
    match create_and_start(&engine, &plan, image, cancel).await {
        Ok((started, phases)) => Ok(PodmanDeployment {
            engine,
            plan,
            started,
            phases,
            cgroups: std::sync::Mutex::new(None),
            last_conmon_rss: std::sync::Mutex::new(None),
            last_processes_rss: std::sync::Mutex::new(None),
            engine_details: BTreeMap::new(),
            torn_down: false,
        }),
        Err(e) => {
            tracing::warn!(run = %plan.run_id, error = %e, "podman: deployment failed, removing what it created");
            if let Err(clean) = remove_labelled(&engine, Some(&plan.run_id)).await {
                tracing::error!(error = %clean, "podman: cleanup after the failed deployment failed");
            }
            Err(e)
        }
    }
}

async fn create_and_start(
    engine: &Engine,
    plan: &Plan,
    image: &str,
    cancel: &tokio_util::sync::CancellationToken,
) -> Result<(Vec<Started>, Vec<(String, Duration)>), PlatformError> {
    let t0 = Instant::now();
    for (name, subnet) in &plan.networks {
        podman(
            engine,
            &[
                "network".into(),
                "create".into(),
                "--label".into(),
                format!("{LABEL}=1"),
                "--label".into(),
                format!("{LABEL_RUN}={}", plan.run_id),
                "--subnet".into(),
                subnet.to_string(),
                name.clone(),
            ],
        )
        .await?;
    }
    if cancel.is_cancelled() {
        return Err(PlatformError::Cancelled);
    }
    let nofile = nofile_limit();
    let creates = plan
        .containers
        .iter()
        .map(|c| podman_owned(engine, create_args(plan, c, image, nofile)));
    for result in join_all(creates).await {
        result?;
    }
    let created = t0.elapsed();
    if cancel.is_cancelled() {
        return Err(PlatformError::Cancelled);
    }
    let t1 = Instant::now();
    let mut args = vec!["start".to_string()];
    args.extend(plan.containers.iter().map(|c| c.name.clone()));
    podman(engine, &args).await?;
    let start = t1.elapsed();
    let started = inspect(engine, plan).await?;
    Ok((
        started,
        vec![("create".into(), created), ("start".into(), start)],
    ))
}

async fn podman_owned(engine: &Engine, args: Vec<String>) -> Result<String, PlatformError> {
    podman(engine, &args).await
}

async fn podman(engine: &Engine, args: &[String]) -> Result<String, PlatformError> {
    podman_on(engine, args, None).await
}

/// Ids, init pids and conmon pids of the plan's containers.
async fn inspect(engine: &Engine, plan: &Plan) -> Result<Vec<Started>, PlatformError> {
    let mut args = vec!["inspect".to_string(), "--format".into(), "json".into()];
    args.extend(plan.containers.iter().map(|c| c.name.clone()));
    let found = json(
        "inspecting the run's containers",
        &podman(engine, &args).await?,
    )?;
    let found = found.as_array().cloned().unwrap_or_default();
    plan.containers
        .iter()
        .map(|c| {
            let info = found
                .iter()
                .find(|i| i["Name"].as_str() == Some(c.name.as_str()))
                .ok_or_else(|| {
                    PlatformError::at(
                        "podman",
                        format!("inspecting container {}", c.name),
                        "not found",
                    )
                })?;
            Ok(Started {
                role: c.role,
                id: info["Id"].as_str().unwrap_or_default().to_string(),
                pid: info["State"]["Pid"].as_i64().unwrap_or(0) as i32,
                conmon_pid: info["State"]["ConmonPid"].as_i64().unwrap_or(0) as i32,
            })
        })
        .collect()
}

#[async_trait]
impl Deployment for PodmanDeployment {
    fn endpoint(&self) -> SocketAddr {
        SocketAddr::from((Ipv4Addr::LOCALHOST, self.plan.host_port))
    }

    fn deploy_phases(&self) -> Vec<(String, Duration)> {
        self.phases.clone()
    }

    async fn sample(&self) -> Result<ResourceSample, PlatformError> {
        if self.torn_down {
            return Err(PlatformError::at(
                "podman",
                "sampling",
                "the deployment is already torn down",
            ));
        }
        let cgroups = self.cgroups()?;
        // Each container's init process (the calculator, alone in it) and its conmon,
        // from /proc.
        let inits: Vec<u32> = self.started.iter().map(|s| s.pid as u32).collect();
        let conmons: Vec<u32> = self.started.iter().map(|s| s.conmon_pid as u32).collect();
        let all: Vec<u32> = inits.iter().chain(&conmons).copied().collect();
        let by_process = crate::measure::resources::processes(&all);
        *self.last_processes_rss.lock().expect("not poisoned") = Some(by_process.rss_bytes);
        if cgroups.is_empty() {
            // No cgroup of their own (rootless on cgroup v1): the processes are it.
            let mem = crate::measure::resources::processes(&inits).rss_bytes;
            *self.last_conmon_rss.lock().expect("not poisoned") =
                Some((mem, by_process.rss_bytes.saturating_sub(mem)));
            return Ok(by_process);
        }
        // conmon sits outside the container's cgroup: counted apart.
        let roles = self.started.iter().map(|s| s.role);
        let conmons = self.started.iter().map(|s| s.conmon_pid);
        let (sample, mem, conmon_rss) =
            containers_sample("podman", cgroups.iter().zip(roles), conmons)?;
        *self.last_conmon_rss.lock().expect("not poisoned") = Some((mem, conmon_rss));
        Ok(sample)
    }

    fn exited(&mut self) -> Option<String> {
        if self.torn_down {
            return None;
        }
        // The init pid is gone: the container stopped. Checked from procfs so waiting
        // adds no podman process beside the deployment.
        let dead = self
            .started
            .iter()
            .find(|s| !crate::host::procfs::exists(s.pid as u32))?;
        let name =
            crate::platform::docker::deployment::resource_name(&self.plan.run_id, Some(dead.role));
        let last = self
            .engine
            .command()
            .args(["logs", "--tail", "1", &name])
            .output()
            .ok()
            .map(|o| {
                let mut t = String::from_utf8_lossy(&o.stdout).into_owned();
                t.push_str(&String::from_utf8_lossy(&o.stderr));
                t.trim().to_string()
            })
            .filter(|t| !t.is_empty())
            .map(|t| format!("; last output: {t}"))
            .unwrap_or_default();
        Some(format!("podman: container {name} exited{last}"))
    }

    fn details(&self) -> BTreeMap<String, String> {
        let mut d = self.engine_details.clone();
        d.insert("network".into(), self.plan.mode.name().into());
        // Which engine ran it: the probe's `rootless` is virtbench's own user's.
        if let Engine::Rootless(u) = &self.engine {
            d.insert("rootless".into(), "true".into());
            d.insert("rootless_user".into(), u.name.clone());
        }
        // Bridge: the published 127.0.0.1 port; host: the host's own stack.
        let access = match self.plan.mode {
            NetworkMode::Bridge { .. } => crate::measure::outside::Access::Forwarded,
            _ => crate::measure::outside::Access::HostNetwork,
        };
        d.insert(crate::results::keys::ACCESS.into(), access.as_str().into());
        if let NetworkMode::Bridge { subnet } = &self.plan.mode {
            d.insert("subnet".into(), subnet.to_string());
            d.insert(
                "nat".into(),
                "published port 127.0.0.1 -> calculator:50000".into(),
            );
        } else {
            d.insert("nat".into(), "none (host network)".into());
        }
        for c in &self.plan.containers {
            d.insert(format!("address.{}", c.role), c.address.url.clone());
        }
        let own = self.cgroups().map_or(true, |c| !c.is_empty());
        d.insert(
            "memory_source".into(),
            if own {
                "cgroup files + conmon"
            } else {
                "processes (init + conmon; the containers have no cgroup of their own)"
            }
            .into(),
        );
        if let Some(rss) = *self.last_processes_rss.lock().expect("not poisoned") {
            d.insert("last_sample.processes_rss_bytes".into(), rss.to_string());
        }
        if let Some((containers, conmon)) = *self.last_conmon_rss.lock().expect("not poisoned") {
            d.insert(
                "last_sample.containers_bytes".into(),
                containers.to_string(),
            );
            d.insert("last_sample.conmon_rss_bytes".into(), conmon.to_string());
        }
        d
    }

    async fn teardown(&mut self) -> Result<(), PlatformError> {
        if self.torn_down {
            return Ok(());
        }
        self.torn_down = true;
        let removed = remove_labelled(&self.engine, Some(&self.plan.run_id)).await?;
        tracing::debug!(run = %self.plan.run_id, removed, "podman: torn down");
        Ok(())
    }
}

impl PodmanDeployment {
    /// The engine's own details (`podman info`), written over the probe's in the
    /// results: a rootless user's engine is not the one the probe asked.
    pub fn with_engine_details(mut self, details: BTreeMap<String, String>) -> Self {
        self.engine_details = details;
        self
    }

    /// The containers' cgroups (found once): see [`own_cgroups`].
    fn cgroups(&self) -> Result<Vec<CgroupFiles>, PlatformError> {
        let mut slot = self.cgroups.lock().expect("not poisoned");
        if slot.is_none() {
            let found: Option<Vec<CgroupFiles>> = self
                .started
                .iter()
                .map(|s| CgroupFiles::of_pid(s.pid as i64))
                .collect();
            let found = found.ok_or_else(|| {
                PlatformError::at(
                    "podman",
                    "sampling",
                    "a container's cgroup is not readable from here",
                )
            })?;
            *slot = Some(own_cgroups(found));
        }
        Ok(slot.clone().expect("just set"))
    }
}

/// The containers' cgroups when each has one of its own; empty when they share one
/// (with this process, or with each other): rootless Podman on cgroup v1 cannot create
/// cgroups, its containers stay in the user's, and reading that would count the whole
/// session (6.5 GiB measured here for five idle calculators).
fn own_cgroups(found: Vec<CgroupFiles>) -> Vec<CgroupFiles> {
    let mine = CgroupFiles::of_pid(std::process::id() as i64);
    let shared = found.iter().any(|c| Some(c) == mine.as_ref())
        || found
            .iter()
            .enumerate()
            .any(|(i, c)| found[..i].contains(c));
    if shared {
        Vec::new()
    } else {
        found
    }
}

/// Isolation facts (the probe each platform answers), as docker's: what the calculator
/// sees from inside, whether its own address answers from the host, and what a LAN PC
/// reaches.
pub async fn facts(
    engine: &Engine,
    run_id: &str,
    endpoint: SocketAddr,
) -> Result<BTreeMap<String, Series>, PlatformError> {
    let run = |args: &[&str]| {
        let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        async move { podman_on(engine, &args, None).await }
    };
    let text = run(&[
        "ps",
        "--filter",
        &format!("label={LABEL_RUN}={run_id}"),
        "--filter",
        &format!("label={LABEL_ROLE}=calculator"),
        "--format",
        "{{.ID}}",
    ])
    .await?;
    let (mut direct, mut gateway): (Option<SocketAddr>, Option<IpAddr>) = (None, None);
    if let Some(id) = text.lines().next().filter(|l| !l.trim().is_empty()) {
        let info = json(
            "inspecting the calculator",
            &run(&["inspect", "--format", "json", id.trim()]).await?,
        )?;
        if let Some(nets) = info[0]["NetworkSettings"]["Networks"].as_object() {
            for n in nets.values() {
                let ip = |k: &str| n[k].as_str().and_then(|s| s.parse::<IpAddr>().ok());
                direct = direct.or(ip("IPAddress")
                    .map(|ip| (ip, crate::platform::default_port("calculator")).into()));
                gateway = gateway.or(ip("Gateway"));
            }
        }
    }
    // Rootless Podman's network lives in a namespace of its own (slirp4netns to the
    // host): its gateway is no address of the host's, where no canary can listen.
    let gateway = gateway.filter(|g| std::net::TcpListener::bind((*g, 0)).is_ok());
    isolation::container_facts(run_id, endpoint, direct, gateway).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::platform::docker::deployment::plan;
    use crate::platform::docker::network::Subnet;

    #[test]
    fn bridge_create_publishes_on_loopback_with_labels_and_limits() {
        let mode = NetworkMode::Bridge {
            subnet: Subnet::parse("10.216.0.0/24").unwrap(),
        };
        let p = plan("r1", mode, 18080, &[]).unwrap();
        let a = create_args(&p, &p.containers[4], "img:1", 1024).join(" ");
        assert!(a.starts_with("create --name vb-r1-calculator --label virtbench=1 --label virtbench.run=r1 --label virtbench.role=calculator"), "{a}");
        assert!(
            a.contains("--ulimit nofile=1024:1024 --ulimit nproc=4096:4096"),
            "{a}"
        );
        assert!(a.contains("--network vb-r1 --ip 10.216.0.6 --publish 127.0.0.1:18080:50000/tcp img:1 calculator --listen 0.0.0.0:50000 --sum http://10.216.0.2:50001"), "{a}");
    }

    #[test]
    fn host_create_uses_host_network_without_publishing() {
        let p = plan(
            "r2",
            NetworkMode::Host,
            4000,
            &[4001, 4002, 4003, 4004, 4000],
        )
        .unwrap();
        let a = create_args(&p, &p.containers[0], "img:1", 1024).join(" ");
        assert!(
            a.contains("--network host img:1 sum --listen 127.0.0.1:4001"),
            "{a}"
        );
        assert!(!a.contains("--publish"), "{a}");
    }
}
