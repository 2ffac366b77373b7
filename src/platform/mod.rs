//! Platforms: where the calculator is deployed. Each platform probes whether this host
//! offers it, builds (or reuses) its artifacts, deploys the five services and tears
//! them down. Everything a platform creates is labelled with the run id so that
//! `cleanup` can find leftovers after a crash.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use async_trait::async_trait;

use crate::results::ArtifactRecord;
use crate::scenario::Scenario;

pub mod console;
pub mod docker;
pub mod facts;
pub mod lxc;
pub mod native;
pub mod openstack;
pub mod podman;
pub mod privilege;
pub mod process;
pub mod qemu;
pub mod requirements;
pub mod run_ids;
pub mod virtualbox;

/// The five roles of the calculator, in start order (sub-services first).
pub const ROLES: [&str; 5] = ["sum", "sub", "mul", "div", "calculator"];

/// Port each role listens on inside its own host/container/VM (the lab's ports).
pub fn default_port(role: &str) -> u16 {
    match role {
        "calculator" => 50000,
        "sum" => 50001,
        "sub" => 50002,
        "mul" => 50003,
        "div" => 50004,
        _ => panic!("unknown role {role}"),
    }
}

/// The crate's error ([`crate::error::Error`]) under the name platforms know it by.
pub use crate::error::Error as PlatformError;

/// What `probe` found.
#[derive(Debug, Clone, PartialEq)]
pub enum Availability {
    /// Usable; `details` end up in results (versions, accelerator, ...).
    Available { details: BTreeMap<String, String> },
    /// Not usable here: why, and what the user can do about it.
    Unavailable { reason: String, fix: String },
}

/// One way of running a platform (network mode, topology, boot path...).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Variant {
    /// Unique within a run, e.g. "docker/bridge".
    pub label: String,
    pub settings: BTreeMap<String, String>,
}

impl Variant {
    pub fn new(label: impl Into<String>, settings: &[(&str, &str)]) -> Self {
        Variant {
            label: label.into(),
            settings: settings
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        }
    }

    /// A container engine's variant on network mode `network` (docker, podman): a
    /// bridge of the run's own records its subnet.
    pub fn on_network(platform: &str, network: &str, subnet: &str) -> Self {
        let mut v = Variant::new(format!("{platform}/{network}"), &[("network", network)]);
        if network == "bridge" {
            v.settings.insert("subnet".into(), subnet.into());
        }
        v
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.settings.get(key).map(String::as_str)
    }
}

/// What the runner hands every step of a platform (defined by the run, re-exported
/// here beside the trait that takes it).
pub use crate::run::context::RunContext;

/// What a deployment's `sample` returns (a measurement, defined by `measure`).
pub use crate::measure::resources::ResourceSample;

#[async_trait]
pub trait Platform: Send + Sync {
    /// One of `scenario::PLATFORMS`.
    fn name(&self) -> &'static str;

    /// What the platform is (isolation, hypervisor), for grouping in the report.
    fn facts(&self) -> facts::Facts;

    /// Does this host offer the platform? Must be quick and bounded (seconds).
    async fn probe(&self) -> Availability;

    /// The variants the scenario asks this platform to run.
    fn variants(&self, scenario: &Scenario) -> Vec<Variant>;

    /// What of `variant` the user running virtbench cannot do without root (nothing
    /// as root): the variant itself (the runner records it "needs root" and deploys
    /// nothing) or experiments of it (the platform leaves them out). Cheap: no
    /// process is started. A platform that needs root altogether says so in `probe`.
    fn needs_root(&self, _scenario: &Scenario, _variant: &Variant) -> Vec<privilege::RootOnly> {
        Vec::new()
    }

    /// Why `variant` cannot run for this user on this host though the platform can (one
    /// line with the fix; `None`: it can). The runner records it unavailable and deploys
    /// nothing; doctor prints it. Cheap: no process is started.
    fn variant_unavailable(&self, _scenario: &Scenario, _variant: &Variant) -> Option<String> {
        None
    }

    /// Build or reuse the artifacts (timed apart from startup, cached across runs).
    async fn prepare(&self, ctx: &RunContext) -> Result<Vec<ArtifactRecord>, PlatformError>;

    /// Create and start the five services. Returns as soon as the platform's own start
    /// call returns: readiness is measured by the caller, from outside.
    async fn deploy(
        &self,
        ctx: &RunContext,
        variant: &Variant,
    ) -> Result<Box<dyn Deployment>, PlatformError>;

    /// Platform-specific experiments on a ready deployment (commit, clone, snapshot),
    /// recorded under `extras` by name.
    async fn extras(
        &self,
        _ctx: &RunContext,
        _deployment: &mut dyn Deployment,
    ) -> Result<BTreeMap<String, crate::stats::Series>, PlatformError> {
        Ok(BTreeMap::new())
    }

    /// Remove every resource labelled with `run_id` (all of virtbench's when `None`).
    /// Returns how many resources were removed.
    async fn cleanup(&self, run_id: Option<&str>) -> Result<usize, PlatformError>;

    /// What [`Platform::cleanup`] would remove, one line each, without removing it
    /// (`virtbench cleanup --dry-run`). `None`: this platform cannot list its leftovers.
    async fn leftovers(&self, _run_id: Option<&str>) -> Result<Option<Vec<String>>, PlatformError> {
        Ok(None)
    }

    /// Why nothing of this platform can be left on this host at all (its tool is not
    /// installed), for `cleanup --dry-run` to say beside an empty listing.
    fn leftovers_impossible(&self) -> Option<String> {
        None
    }
}

#[async_trait]
pub trait Deployment: Send + Sync {
    /// Where the calculator answers: 127.0.0.1 (a published or forwarded port), or an
    /// address on a bridge or namespace of this run (bridged VMs, reachability probes).
    fn endpoint(&self) -> SocketAddr;

    /// Phases of the deploy call itself (e.g. "create", "start"), in order.
    fn deploy_phases(&self) -> Vec<(String, Duration)>;

    /// Called once the first correct answer arrived: phases the platform can split
    /// afterwards (e.g. the guest's boot marker), in order.
    async fn ready_phases(&mut self) -> Vec<(String, Duration)> {
        Vec::new()
    }

    /// Host-side memory and CPU of everything this deployment runs.
    async fn sample(&self) -> Result<ResourceSample, PlatformError>;

    /// The deployment's host memory right now, split into the workload, the platform's
    /// cost per instance and its fixed cost shared by all instances; `None` where the
    /// platform cannot tell them apart.
    async fn memory_breakdown(&self) -> Option<crate::results::MemoryBreakdown> {
        None
    }

    /// If part of the deployment died (a process exited, a container stopped), why.
    /// Polled while waiting for readiness, so a dead deployment fails fast.
    fn exited(&mut self) -> Option<String> {
        None
    }

    /// Facts of this deployment for the results (accelerator, addresses...).
    fn details(&self) -> BTreeMap<String, String> {
        BTreeMap::new()
    }

    /// Stop and remove everything. Idempotent.
    async fn teardown(&mut self) -> Result<(), PlatformError>;

    /// The deployment as its own type, for its platform's `extras` (which is handed a
    /// `dyn Deployment`): `Some(self)` where the platform's experiments need it.
    fn as_any_mut(&mut self) -> Option<&mut dyn std::any::Any> {
        None
    }
}

/// A port on 127.0.0.1 that nothing listens on right now, and that this process has
/// not handed out before. It is taken below the kernel's ephemeral range: a port from
/// that range (what binding port 0 gives) can become the source port of any outgoing
/// connection, readiness probes included, before the deployment binds it.
pub fn free_loopback_port() -> std::io::Result<u16> {
    static GIVEN: std::sync::Mutex<Vec<u16>> = std::sync::Mutex::new(Vec::new());
    let ephemeral_low = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse::<u16>().ok())
        .unwrap_or(32768);
    let (low, high) = (10_000u16, ephemeral_low.max(10_001));
    let mut given = GIVEN.lock().unwrap_or_else(|e| e.into_inner());
    // A cheap, per-process varying start; then walk the range once.
    let seed = std::process::id() as u64
        ^ std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos() as u64)
            .unwrap_or(0);
    let span = (high - low) as u64;
    for i in 0..span {
        let port = low + ((seed + i * 7919) % span) as u16;
        if given.contains(&port) {
            continue;
        }
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            given.push(port);
            return Ok(port);
        }
    }
    // Nothing free below the ephemeral range: let the kernel choose.
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    given.push(port);
    Ok(port)
}

/// Every platform virtbench knows, in report order.
pub fn all() -> Vec<Box<dyn Platform>> {
    vec![
        Box::new(native::Native),
        Box::new(docker::Docker::default()),
        Box::new(podman::Podman::default()),
        Box::new(lxc::Lxc),
        Box::new(qemu::Qemu::default()),
        Box::new(virtualbox::VirtualBox::default()),
        Box::new(openstack::OpenStack::default()),
    ]
}

/// Every deployment can be sampled by the resource sampler and the settling wait.
#[async_trait]
impl<D: Deployment + ?Sized> crate::measure::resources::Sampled for D {
    async fn sample(&self) -> Result<ResourceSample, PlatformError> {
        Deployment::sample(self).await
    }
}
