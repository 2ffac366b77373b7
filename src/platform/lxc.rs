//! The lxc platform: each of the five services in a system container of its own
//! (LXC 5, privileged, as root), whose root filesystem is a directory holding only the
//! static calculator, run as PID 1 (`lxc.init.cmd`): no distribution, no init system,
//! so what is measured is the container machinery itself, as for docker's `FROM
//! scratch` image.
//!
//! One variant, `lxc/bridge`: a Linux bridge of the run's own (the scenario subnet, the
//! host holding the gateway address), each container on it through a veth pair with a
//! static address. No NAT: the calculator is reached directly at its address on that
//! bridge, which only this host routes to.
//!
//! LXC has no labels: the containers live in a directory of virtbench's own
//! ([`LXC_PATH`], never `/var/lib/lxc`), named `vb-<run-id>-<role>`; the bridge and the
//! host ends of the veths are named after a hash of the run id (interface names are
//! limited to 15 characters). `cleanup` stops and deletes what it finds there: the
//! containers, their rootfs directories, the bridge and any veth left.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use futures_util::future::join_all;

use super::docker::deployment::{check_run_id, plan, resource_name, Plan};
use super::docker::network::{NetworkMode, Subnet};
use super::docker::stats::{containers_sample, CgroupFiles};
use super::privilege;
use super::{
    Availability, Deployment, Platform, PlatformError, ResourceSample, RunContext, Variant,
};
use crate::measure::{isolation, outside};
use crate::platform::docker::image::BINARY_PATH;
use crate::results::ArtifactRecord;
use crate::results::NEEDS_ROOT;
use crate::scenario::Scenario;
use crate::stats::Series;

pub mod unprivileged;

/// Where virtbench's containers are defined (`lxc-start -P`).
pub const LXC_PATH: &str = "/var/lib/virtbench/lxc";
/// Prefix of the run's bridge and veth names.
pub const IF_PREFIX: &str = "vbl";
/// The bridge's interface alias: this and the run id.
const ALIAS_PREFIX: &str = "virtbench.run=";

const FIX: &str = "install LXC (`apt-get install lxc`); virtbench runs it as root";

/// Bridge of a run: `vbl` and 8 hex digits of a hash of the run id.
pub fn bridge_name(run_id: &str) -> String {
    // FNV-1a: stable across processes (cleanup in another process must find it).
    let mut h: u32 = 0x811c_9dc5;
    for b in run_id.bytes() {
        h ^= b as u32;
        h = h.wrapping_mul(0x0100_0193);
    }
    format!("{IF_PREFIX}{h:08x}")
}

/// The configuration of one container.
pub fn config(
    dir: &Path,
    bridge: &str,
    index: usize,
    subnet: &Subnet,
    ip: Ipv4Addr,
    args: &[String],
) -> String {
    format!(
        "# virtbench: one calculator service as PID 1\n\
         lxc.uts.name = {name}\n\
         lxc.rootfs.path = dir:{rootfs}\n\
         lxc.init.cmd = {BINARY_PATH} {args}\n\
         lxc.mount.auto = proc:mixed sys:ro\n\
         lxc.autodev = 1\n\
         lxc.cap.drop = sys_module mac_admin mac_override sys_time\n\
         lxc.console.logfile = {log}\n\
         lxc.net.0.type = veth\n\
         lxc.net.0.link = {bridge}\n\
         lxc.net.0.veth.pair = {bridge}v{index}\n\
         lxc.net.0.flags = up\n\
         lxc.net.0.ipv4.address = {ip}/{prefix}\n\
         lxc.net.0.ipv4.gateway = {gw}\n",
        name = dir.file_name().and_then(|n| n.to_str()).unwrap_or("vb"),
        rootfs = dir.join("rootfs").display(),
        args = args.join(" "),
        log = dir.join("console.log").display(),
        prefix = subnet.prefix,
        gw = subnet.gateway(),
    )
}

/// Run a command; stdout on success, else one line with its last error line.
async fn cmd(program: &str, args: &[&str]) -> Result<String, PlatformError> {
    let out = tokio::process::Command::new(program)
        .args(args)
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true)
        .output()
        .await
        .map_err(PlatformError::io(format!("lxc: running {program}")))?;
    if out.status.success() {
        return Ok(String::from_utf8_lossy(&out.stdout).into_owned());
    }
    let err = String::from_utf8_lossy(&out.stderr);
    let last = err
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("(no message)");
    Err(PlatformError::Failed(format!(
        "{program} {}: {}",
        args.join(" "),
        last.trim()
    )))
}

/// Containers defined under [`LXC_PATH`] whose name starts with `prefix`.
fn defined(prefix: &str) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(LXC_PATH) else {
        return Vec::new();
    };
    let mut names: Vec<String> = entries
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.starts_with(prefix))
        .collect();
    names.sort();
    names
}

/// Network interfaces whose name starts with `prefix`.
fn interfaces(prefix: &str) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir("/sys/class/net") else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.starts_with(prefix))
        .collect()
}

/// The FORWARD rules that let traffic through the bridges named `prefix*` (as
/// `iptables -S` prints them).
async fn forward_rules(prefix: &str) -> Vec<String> {
    if crate::artifact::disk::which("iptables").is_none() {
        return Vec::new();
    }
    cmd("iptables", &["-S", "FORWARD"])
        .await
        .unwrap_or_default()
        .lines()
        .filter(|l| l.starts_with("-A FORWARD") && l.contains(&format!("-i {prefix}")))
        .map(String::from)
        .collect()
}

/// Let the containers of the bridge reach each other. With `br_netfilter` loaded (Docker
/// loads it) bridged frames traverse iptables' FORWARD chain, whose policy Docker sets
/// to DROP: without this rule the calculator cannot reach its sub-services. (The
/// bridge's own `nf_call_iptables 0` does not help: the kernel ORs it with the global
/// sysctl.)
async fn allow_forward(bridge: &str) -> Result<(), PlatformError> {
    if crate::artifact::disk::which("iptables").is_none() {
        return Ok(());
    }
    cmd(
        "iptables",
        &[
            "-I", "FORWARD", "1", "-i", bridge, "-o", bridge, "-j", "ACCEPT",
        ],
    )
    .await
    .map(|_| ())
}

/// The run id a bridge was made for (its interface alias, set at creation).
fn alias_run(iface: &str) -> Option<String> {
    let alias = std::fs::read_to_string(format!("/sys/class/net/{iface}/ifalias")).ok()?;
    alias.trim().strip_prefix(ALIAS_PREFIX).map(String::from)
}

/// A run's bridges and the host ends of their veths: its own and its density copies'
/// (`<run id>-c<k>`, found by the bridge's alias: the hashed name cannot be matched
/// by prefix); every virtbench one when `None`.
fn run_interfaces(run_id: Option<&str>) -> Vec<String> {
    let Some(id) = run_id else {
        return interfaces(IF_PREFIX);
    };
    let mut bridges: Vec<String> = interfaces(IF_PREFIX)
        .into_iter()
        .filter(|i| i.len() == bridge_name(id).len())
        .filter(|i| {
            *i == bridge_name(id)
                || alias_run(i).is_some_and(|r| super::run_ids::of_run(&r, run_id))
        })
        .collect();
    bridges.sort();
    let mut out = Vec::new();
    for b in bridges {
        out.extend(interfaces(&b));
    }
    out.sort();
    out.dedup();
    out
}

/// The FORWARD rules of the run's bridges.
async fn run_rules(run_id: Option<&str>, ifs: &[String]) -> Vec<String> {
    match run_id {
        None => forward_rules(IF_PREFIX).await,
        Some(id) => {
            let bridges: Vec<&String> = ifs
                .iter()
                .filter(|i| i.len() == bridge_name(id).len())
                .collect();
            forward_rules(IF_PREFIX)
                .await
                .into_iter()
                .filter(|r| bridges.iter().any(|b| r.contains(&format!("-i {b} "))))
                .collect()
        }
    }
}

/// What a run left: containers (with their rootfs), its bridge, veths and FORWARD rule
/// (its density copies' too).
pub async fn leftovers(run_id: &str) -> Vec<String> {
    listing(Some(run_id)).await
}

/// [`leftovers`], of every virtbench run when `None`.
async fn listing(run_id: Option<&str>) -> Vec<String> {
    let prefix = run_id.map_or("vb-".to_string(), |id| format!("vb-{id}-"));
    let mut out: Vec<String> = defined(&prefix)
        .into_iter()
        .map(|n| format!("container {n}"))
        .collect();
    let ifs = run_interfaces(run_id);
    out.extend(
        run_rules(run_id, &ifs)
            .await
            .into_iter()
            .map(|r| format!("iptables rule {r}")),
    );
    out.extend(ifs.into_iter().map(|i| format!("interface {i}")));
    out
}

/// Stop and delete a run's containers, then its bridge and veths (every virtbench one
/// when `None`), its density copies' too. Returns how many were removed.
pub async fn remove(run_id: Option<&str>) -> Result<usize, PlatformError> {
    let names = defined(&run_id.map_or("vb-".to_string(), |id| format!("vb-{id}-")));
    let ifs = run_interfaces(run_id);
    let rules = run_rules(run_id, &ifs).await;
    let stops = names.iter().map(|n| async move {
        // Already stopped is fine: the directory is what remains to delete.
        let _ = cmd("lxc-stop", &["-n", n, "-P", LXC_PATH, "--kill"]).await;
        let dir = Path::new(LXC_PATH).join(n);
        tokio::fs::remove_dir_all(&dir)
            .await
            .map_err(PlatformError::io(format!(
                "lxc: removing {}",
                dir.display()
            )))
    });
    let mut removed = 0;
    for r in join_all(stops).await {
        r?;
        removed += 1;
    }
    for rule in rules {
        let args: Vec<&str> = rule.split_whitespace().skip(1).collect();
        let mut delete = vec!["-D"];
        delete.extend(args);
        cmd("iptables", &delete).await?;
        removed += 1;
    }
    // Veths go with their container; the bridge (and a veth a crash left) by hand.
    for i in ifs {
        if Path::new("/sys/class/net").join(&i).exists() {
            cmd("ip", &["link", "del", &i]).await?;
            removed += 1;
        }
    }
    Ok(removed)
}

/// One started container.
#[derive(Debug, Clone)]
struct Started {
    role: &'static str,
    pid: i32,
    monitor: Option<i32>,
}

/// A running deployment.
#[derive(Debug)]
pub struct LxcDeployment {
    plan: Plan,
    bridge: String,
    endpoint: SocketAddr,
    started: Vec<Started>,
    phases: Vec<(String, Duration)>,
    last_split: std::sync::Mutex<Option<(u64, u64)>>,
    torn_down: bool,
}

fn parent_pid(pid: i32) -> Option<i32> {
    crate::host::procfs::parent(pid as u32).map(|p| p as i32)
}

async fn deploy(
    plan: Plan,
    subnet: Subnet,
    binary: &Path,
    cancel: &tokio_util::sync::CancellationToken,
) -> Result<LxcDeployment, PlatformError> {
    let bridge = bridge_name(&plan.run_id);
    let t0 = Instant::now();
    let gw = format!("{}/{}", subnet.gateway(), subnet.prefix);
    cmd("ip", &["link", "add", &bridge, "type", "bridge"]).await?;
    // The run id on the bridge itself: cleanup finds a density copy's bridge by it.
    let alias = format!("{ALIAS_PREFIX}{}", plan.run_id);
    cmd("ip", &["link", "set", "dev", &bridge, "alias", &alias]).await?;
    cmd("ip", &["addr", "add", &gw, "dev", &bridge]).await?;
    cmd("ip", &["link", "set", &bridge, "up"]).await?;
    allow_forward(&bridge).await?;
    for (i, c) in plan.containers.iter().enumerate() {
        let dir = PathBuf::from(LXC_PATH).join(&c.name);
        let rootfs = dir.join("rootfs");
        for sub in ["proc", "sys", "dev", "tmp"] {
            std::fs::create_dir_all(rootfs.join(sub)).map_err(PlatformError::io(format!(
                "lxc: creating {}",
                rootfs.display()
            )))?;
        }
        let target = rootfs.join(BINARY_PATH.trim_start_matches('/'));
        // A hard link when the cache is on the same filesystem, else a copy.
        if std::fs::hard_link(binary, &target).is_err() {
            std::fs::copy(binary, &target).map_err(PlatformError::io(format!(
                "lxc: copying the calculator to {}",
                target.display()
            )))?;
        }
        let ip = c.address.ip.expect("bridged roles have an address");
        std::fs::write(
            dir.join("config"),
            config(&dir, &bridge, i, &subnet, ip, &c.args),
        )
        .map_err(PlatformError::io(format!(
            "lxc: writing {}/config",
            dir.display()
        )))?;
    }
    let prepared = t0.elapsed();
    if cancel.is_cancelled() {
        return Err(PlatformError::Cancelled);
    }
    let t1 = Instant::now();
    let starts = plan.containers.iter().map(|c| async move {
        cmd("lxc-start", &["-n", &c.name, "-P", LXC_PATH, "--daemon"]).await
    });
    for r in join_all(starts).await {
        r?;
    }
    let start = t1.elapsed();
    let mut started = Vec::new();
    for c in &plan.containers {
        let pid: i32 = cmd("lxc-info", &["-n", &c.name, "-P", LXC_PATH, "-pH"])
            .await?
            .trim()
            .parse()
            .map_err(|_| PlatformError::at("lxc", format!("starting {}", c.name), "no init pid"))?;
        started.push(Started {
            role: c.role,
            pid,
            monitor: parent_pid(pid),
        });
    }
    let calc = plan
        .containers
        .iter()
        .find(|c| c.role == "calculator")
        .expect("calculator");
    let endpoint = SocketAddr::from((
        calc.address.ip.expect("address"),
        super::default_port("calculator"),
    ));
    Ok(LxcDeployment {
        plan,
        bridge,
        endpoint,
        started,
        phases: vec![("prepare".into(), prepared), ("start".into(), start)],
        last_split: std::sync::Mutex::new(None),
        torn_down: false,
    })
}

#[async_trait]
impl Deployment for LxcDeployment {
    fn endpoint(&self) -> SocketAddr {
        self.endpoint
    }

    fn deploy_phases(&self) -> Vec<(String, Duration)> {
        self.phases.clone()
    }

    async fn sample(&self) -> Result<ResourceSample, PlatformError> {
        if self.torn_down {
            return Err(PlatformError::at(
                "lxc",
                "sampling",
                "the deployment is already torn down",
            ));
        }
        let cgroups = self
            .started
            .iter()
            .map(|s| {
                CgroupFiles::of_pid(s.pid as i64).ok_or_else(|| {
                    PlatformError::at(
                        "lxc",
                        "sampling",
                        format!("the cgroup of {} is not readable", s.role),
                    )
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        // Each container's `[lxc monitor]` process stays outside its cgroup.
        let roles = self.started.iter().map(|s| s.role);
        let monitors = self.started.iter().filter_map(|s| s.monitor);
        let (sample, mem, mon_rss) = containers_sample("lxc", cgroups.iter().zip(roles), monitors)?;
        *self.last_split.lock().expect("not poisoned") = Some((mem, mon_rss));
        Ok(sample)
    }

    fn exited(&mut self) -> Option<String> {
        if self.torn_down {
            return None;
        }
        let dead = self
            .started
            .iter()
            .find(|s| !crate::host::procfs::exists(s.pid as u32))?;
        let name = resource_name(&self.plan.run_id, Some(dead.role));
        let log = Path::new(LXC_PATH).join(&name).join("console.log");
        let last = std::fs::read_to_string(&log)
            .ok()
            .and_then(|t| {
                t.lines()
                    .rev()
                    .find(|l| !l.trim().is_empty())
                    .map(|l| format!("; last output: {}", l.trim()))
            })
            .unwrap_or_default();
        Some(format!("lxc: container {name} exited{last}"))
    }

    fn details(&self) -> BTreeMap<String, String> {
        let mut d = BTreeMap::new();
        d.insert("network".into(), "bridge".into());
        d.insert("bridge".into(), self.bridge.clone());
        // Reached at the container's own bridge address, no forward.
        d.insert(
            crate::results::keys::ACCESS.into(),
            crate::measure::outside::Access::Direct.as_str().into(),
        );
        d.insert(
            "nat".into(),
            "none (calculator reached at its bridge address)".into(),
        );
        d.insert("lxc_path".into(), LXC_PATH.into());
        for c in &self.plan.containers {
            d.insert(format!("address.{}", c.role), c.address.url.clone());
        }
        d.insert("memory_source".into(), "cgroup files + lxc monitor".into());
        if let Some((containers, monitors)) = *self.last_split.lock().expect("not poisoned") {
            d.insert(
                "last_sample.containers_bytes".into(),
                containers.to_string(),
            );
            d.insert(
                "last_sample.monitors_rss_bytes".into(),
                monitors.to_string(),
            );
        }
        d
    }

    async fn teardown(&mut self) -> Result<(), PlatformError> {
        if self.torn_down {
            return Ok(());
        }
        self.torn_down = true;
        let removed = remove(Some(&self.plan.run_id)).await?;
        tracing::debug!(run = %self.plan.run_id, removed, "lxc: torn down");
        Ok(())
    }
}

/// The lxc platform.
#[derive(Debug, Default)]
pub struct Lxc;

#[async_trait]
impl Platform for Lxc {
    fn name(&self) -> &'static str {
        "lxc"
    }

    fn facts(&self) -> super::facts::Facts {
        super::facts::Facts::container("LXC").ships_in("calculator-binary")
    }

    async fn probe(&self) -> Availability {
        let unavailable = |reason: String| Availability::Unavailable {
            reason,
            fix: FIX.into(),
        };
        let version = match cmd("lxc-start", &["--version"]).await {
            Ok(v) => v.trim().to_string(),
            Err(e) => return unavailable(e.to_string()),
        };
        if !privilege::is_root() {
            return Availability::Unavailable {
                reason: format!(
                    "{NEEDS_ROOT}: the lxc platform creates a bridge, veths and FORWARD rules \
                     and runs privileged containers under {LXC_PATH}; {}",
                    unprivileged::assess()
                ),
                fix: privilege::RUN_AS_ROOT.into(),
            };
        }
        let mut details = BTreeMap::from([("version".to_string(), version)]);
        if Path::new("/sys/fs/cgroup/cgroup.controllers").exists() {
            details.insert("cgroup_version".into(), "2".into());
        } else {
            details.insert("cgroup_version".into(), "1".into());
        }
        Availability::Available { details }
    }

    fn variants(&self, scenario: &Scenario) -> Vec<Variant> {
        vec![Variant::new(
            "lxc/bridge",
            &[
                ("network", "bridge"),
                ("subnet", scenario.lxc.subnet.as_str()),
            ],
        )]
    }

    async fn prepare(&self, _ctx: &RunContext) -> Result<Vec<ArtifactRecord>, PlatformError> {
        let binary = crate::artifact::calculator::binary().await?;
        Ok(vec![binary.record()])
    }

    async fn deploy(
        &self,
        ctx: &RunContext,
        variant: &Variant,
    ) -> Result<Box<dyn Deployment>, PlatformError> {
        check_run_id(&ctx.run_id)?;
        let text = variant.get("subnet").unwrap_or(&ctx.scenario.lxc.subnet);
        let subnet = Subnet::parse(text).map_err(PlatformError::Failed)?;
        let binary = crate::artifact::calculator::binary().await?;
        let plan = plan(&ctx.run_id, NetworkMode::Bridge { subnet }, 0, &[])?;
        match deploy(plan, subnet, &binary.path, &ctx.cancel).await {
            Ok(d) => Ok(Box::new(d)),
            Err(e) => {
                tracing::warn!(run = %ctx.run_id, error = %e, "lxc: deployment failed, removing what it created");
                if let Err(clean) = remove(Some(&ctx.run_id)).await {
                    tracing::error!(error = %clean, "lxc: cleanup after the failed deployment failed");
                }
                Err(e)
            }
        }
    }

    async fn extras(
        &self,
        ctx: &RunContext,
        deployment: &mut dyn Deployment,
    ) -> Result<BTreeMap<String, Series>, PlatformError> {
        let endpoint = deployment.endpoint();
        let gateway = Subnet::parse(&ctx.scenario.lxc.subnet)
            .ok()
            .map(|s| IpAddr::V4(s.gateway()));
        let canaries = isolation::Canary::host_pair(gateway)?;
        let answer = isolation::ask(endpoint, &canaries).await?;
        let host = isolation::HostView::of_harness();
        // LXC mounts a fresh random boot id over /proc/sys/kernel/random/boot_id in
        // every container (a bind mount of the host's is overridden: tried), so the
        // boot id would answer "another kernel" for a container that runs on this one.
        // The kernel is told by the namespaces instead: a process of this kernel lives
        // in the pid and net namespaces the container answered.
        let shared = isolation::runs_on_this_kernel(&answer, &host);
        let mut out = isolation::facts_on_kernel(&answer, &host, &canaries, shared);
        if let Some(s) = out.remove(crate::results::keys::ISOLATION_SHARED_KERNEL) {
            out.insert(
                crate::results::keys::ISOLATION_SHARED_KERNEL.into(),
                s.with_note(
                    "told by namespaces: LXC gives each container a boot id of its own; a process of the host's kernel lives in the container's pid and net namespaces",
                ),
            );
        }
        out.insert(
            crate::results::keys::REACH_GUEST_DIRECT.into(),
            isolation::flag(isolation::answers(endpoint, &isolation::probe()).await),
        );
        let targets = outside::Targets {
            direct: Some(endpoint),
            ..Default::default()
        };
        out.extend(outside::reachability(&ctx.run_id, &targets).await?);
        Ok(out)
    }

    async fn leftovers(&self, run_id: Option<&str>) -> Result<Option<Vec<String>>, PlatformError> {
        Ok(Some(listing(run_id).await))
    }

    async fn cleanup(&self, run_id: Option<&str>) -> Result<usize, PlatformError> {
        let removed = remove(run_id).await?;
        if removed > 0 {
            tracing::info!(removed, run = ?run_id, "lxc: cleanup removed leftovers");
        }
        Ok(removed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bridge_name_fits_an_interface_and_is_stable() {
        let b = bridge_name("t12345-some-long-run-id-2026");
        assert_eq!(b.len(), 11);
        assert_eq!(b, bridge_name("t12345-some-long-run-id-2026"));
        assert_ne!(b, bridge_name("t12345-other"));
        // The host ends of the veths: the bridge's name and a digit.
        assert!(format!("{b}v4").len() <= 15);
    }

    #[test]
    fn config_runs_the_calculator_as_init_on_the_bridge() {
        let subnet = Subnet::parse("10.217.0.0/24").unwrap();
        let c = config(
            Path::new("/var/lib/virtbench/lxc/vb-r1-sum"),
            "vbl00000001",
            0,
            &subnet,
            Ipv4Addr::new(10, 217, 0, 2),
            &["sum".into(), "--listen".into(), "0.0.0.0:50001".into()],
        );
        assert!(
            c.contains("lxc.init.cmd = /calculator sum --listen 0.0.0.0:50001\n"),
            "{c}"
        );
        assert!(
            c.contains("lxc.rootfs.path = dir:/var/lib/virtbench/lxc/vb-r1-sum/rootfs\n"),
            "{c}"
        );
        assert!(c.contains("lxc.net.0.link = vbl00000001\n"), "{c}");
        assert!(c.contains("lxc.net.0.veth.pair = vbl00000001v0\n"), "{c}");
        assert!(
            c.contains("lxc.net.0.ipv4.address = 10.217.0.2/24\n"),
            "{c}"
        );
        assert!(c.contains("lxc.net.0.ipv4.gateway = 10.217.0.1\n"), "{c}");
    }
}
