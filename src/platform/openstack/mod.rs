//! The openstack platform: the appliance disk as OpenStack instances, driven through
//! the REST APIs (Keystone, Glance, Nova, Neutron) with our own thin client, on any
//! cloud the user has credentials for (clouds.yaml, `OS_*`), or the local devcloud
//! (`devcloud/up`, docs/devcloud.md).
//!
//! - prepare: the appliance qcow2 uploaded to Glance (`hw_disk_bus=virtio`,
//!   `hw_vif_model=virtio`) once per content hash and reused afterwards; the flavor
//!   (named, or the smallest that fits); the network (named, or the only one).
//! - deploy: a port per instance first, so every address is known before anything
//!   boots; the floating IP on the calculator's port (`access = "floating-ip"`); then
//!   the servers (in a security group of their own letting in ICMP and the
//!   calculator's ports), sub-services first, the calculator last with
//!   `virtbench.peers=sum=IP:50001,...` in its user_data (the lab's per-role topology),
//!   or one instance with `virtbench.role=all`.
//! - startup phases: the deploy calls (ports, floating IP, server create accepted),
//!   then ACTIVE, port ACTIVE and first answer, status polled every 250 ms.
//! - memory/CPU: the instances' QEMU processes on this host (a local cloud only).
//!
//! Everything is named `virtbench-<run-id>-d<n>-<role>` and tagged `virtbench` and
//! `virtbench-run-<run-id>`; the Glance image is a cache shared by runs
//! (`virtbench-appliance-<sha256 prefix>`, tag `virtbench-appliance`).

pub mod api;
pub mod auth;
pub mod cleanup;
pub mod client;
pub mod clouds;
pub mod deployment;
pub mod extras;
pub mod host;
pub mod labels;
pub mod paging;
pub mod retry;
pub mod secret;
pub mod tls;

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use serde_json::json;
use tokio::sync::Mutex;

use super::{
    default_port, Availability, Deployment, Platform, PlatformError, RunContext, Variant, ROLES,
};
use crate::artifact::appliance;
use crate::results::ArtifactRecord;
use crate::scenario::Scenario;
use client::{ApiError, Client};
use clouds::{CloudConfig, Sources};
use deployment::OpenStackDeployment;

/// Prefix of every resource name.
pub const NAME_PREFIX: &str = "virtbench-";
/// Tag of the cached appliance images (kept across runs, like docker's image cache).
pub const IMAGE_TAG: &str = "virtbench-appliance";
/// Every API request gives up after this long (an image upload too).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(300);
/// `probe` gives up after this long.
const PROBE_TIMEOUT: Duration = Duration::from_secs(8);
/// The appliance runs in 128 MiB (the qemu platform's default).
const MIN_RAM_MIB: u64 = 128;

/// Set by `virtbench cleanup --all-runs`: every virtbench run in the project, not only
/// this host and user's.
pub const ALL_RUNS_VAR: &str = "VIRTBENCH_CLEANUP_ALL_RUNS";

/// `VIRTBENCH_OPENSTACK_REMOTE=1`: measure the cloud as a remote one even when its
/// instances run on this host (the devcloud standing in for a campus cloud: no
/// host-side memory, CPU or control-plane figures). Read at each deploy.
pub const REMOTE_VAR: &str = "VIRTBENCH_OPENSTACK_REMOTE";

/// Each step that creates something on the cloud is logged (at info, `RUST_LOG=
/// virtbench=info`) as `openstack phase: NAME` before it starts: what a run was doing
/// when it stopped, and where the interrupt tests stop a run.
pub(crate) fn phase(name: &str, of: &str) {
    tracing::info!("openstack phase: {name} ({of})");
}

const FIX: &str = "start the local cloud with `devcloud/up` (as root; see docs/devcloud.md), \
                   or set OS_CLOUD (clouds.yaml) or the OS_* variables of another cloud";

fn failed(e: ApiError) -> PlatformError {
    PlatformError::Failed(e.to_string())
}

/// What prepare found or uploaded, shared by every deployment of a run.
#[derive(Debug, Clone)]
struct Prepared {
    run_id: String,
    client: Arc<Client>,
    image_id: String,
    flavor: api::Flavor,
    /// The existing network; `None` when each deployment creates its own.
    network: Option<api::Network>,
    external: Option<api::Network>,
    records: Vec<ArtifactRecord>,
    details: BTreeMap<String, String>,
}

#[derive(Debug, Default)]
pub struct OpenStack {
    /// Where credentials come from; the process's environment and files when `None`.
    sources: Option<Sources>,
    /// The scenario's `[openstack] cloud`, seen by `variants` (before the run probes).
    scenario_cloud: std::sync::Mutex<Option<String>>,
    /// The cloud of this run, chosen once and used by probe, prepare, the backstop's
    /// cleanup and C13 alike.
    chosen: std::sync::Mutex<Option<CloudConfig>>,
    /// Remote mode: never look for the instances' processes on this host, as on a
    /// cloud elsewhere (the devcloud measured as a campus cloud would be).
    remote: bool,
    prepared: Mutex<Option<Prepared>>,
    deploys: AtomicU32,
    /// What the C13 experiments need of each live deployment, by its endpoint (the
    /// trait hands `extras` a `dyn Deployment`).
    targets: std::sync::Mutex<BTreeMap<SocketAddr, extras::Target>>,
    /// Run ids whose C13 experiments were done (once per run, on its first variant).
    experimented: std::sync::Mutex<Vec<String>>,
}

#[async_trait]
impl Platform for OpenStack {
    fn name(&self) -> &'static str {
        "openstack"
    }

    fn facts(&self) -> super::facts::Facts {
        super::facts::Facts::vm("OpenStack", super::facts::Hypervisor::Cloud)
    }

    /// The run's cloud (see [`OpenStack::cloud`]): does it authenticate, and what is it
    /// (auth host, region, project; never a credential), with any transport warning.
    async fn probe(&self) -> Availability {
        let cloud = match self.cloud() {
            Ok(c) => c,
            Err(e) => {
                return Availability::Unavailable {
                    reason: e.to_string(),
                    fix: FIX.into(),
                }
            }
        };
        let name = cloud.name.clone();
        let auth_url = cloud.auth_url.clone();
        let origin = cloud.origin.clone();
        let connect = Client::connect(cloud, PROBE_TIMEOUT);
        match tokio::time::timeout(PROBE_TIMEOUT, connect).await {
            Ok(Ok(c)) => {
                let mut details = cloud_details(&c).await;
                details.insert("credentials_from".to_string(), origin);
                Availability::Available { details }
            }
            // The error names the cloud, the call and the cause already.
            Ok(Err(e)) if e.is_unreachable() => Availability::Unavailable {
                reason: e.to_string(),
                fix: FIX.into(),
            },
            Ok(Err(e)) => Availability::Unavailable {
                reason: e.to_string(),
                fix: format!("check the credentials of cloud {name} ({origin})"),
            },
            Err(_) => Availability::Unavailable {
                reason: format!(
                    "cloud {name} did not answer at {auth_url} within {PROBE_TIMEOUT:?}"
                ),
                fix: FIX.into(),
            },
        }
    }

    fn variants(&self, scenario: &Scenario) -> Vec<Variant> {
        let o = &scenario.openstack;
        // The first time the platform sees the scenario (the runner asks for the plan
        // before it probes): its cloud takes part in the one choice of the run.
        let mut seen = self
            .scenario_cloud
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if seen.as_deref() != Some(o.cloud.as_str()) {
            *seen = Some(o.cloud.clone());
            *self.chosen.lock().unwrap_or_else(|e| e.into_inner()) = None;
        }
        drop(seen);
        o.topologies
            .iter()
            .map(|t| {
                Variant::new(
                    format!("openstack/{t}/{}", o.access),
                    &[("topology", t), ("access", &o.access)],
                )
            })
            .collect()
    }

    async fn prepare(&self, ctx: &RunContext) -> Result<Vec<ArtifactRecord>, PlatformError> {
        Ok(self.prepared(ctx).await?.records)
    }

    async fn deploy(
        &self,
        ctx: &RunContext,
        variant: &Variant,
    ) -> Result<Box<dyn Deployment>, PlatformError> {
        let p = self.prepared(ctx).await?;
        let n = self.deploys.fetch_add(1, Ordering::Relaxed) + 1;
        let prefix = format!("{NAME_PREFIX}{}-d{n}-", ctx.run_id);
        let mut dep = OpenStackDeployment::new(p.client.clone(), prefix, api::run_tag(&ctx.run_id));
        let forced = std::env::var(REMOTE_VAR).is_ok_and(|v| v == "1");
        dep.remote = self.remote || forced;
        dep.details = p.details.clone();
        if forced {
            dep.details.insert(
                "remote_mode".into(),
                format!("{REMOTE_VAR}=1: instances not looked for on this host"),
            );
        }
        for (k, v) in &variant.settings {
            dep.details.insert(k.clone(), v.clone());
        }
        // The variant's `access` setting ("floating-ip" / "fixed-ip") in the one
        // vocabulary every platform records: a fixed IP is an address of its own.
        let access = match variant.get("access") {
            Some("fixed-ip") => crate::measure::outside::Access::Direct,
            _ => crate::measure::outside::Access::Floating,
        };
        dep.details
            .insert(crate::results::keys::ACCESS.into(), access.as_str().into());
        match start(&mut dep, &p, variant, ctx).await {
            Ok(()) => {
                let (role, server_id) = dep.servers.last().cloned().expect("a server");
                let target = extras::Target {
                    client: p.client.clone(),
                    server_name: format!("{}{role}", dep.prefix),
                    server_id,
                    flavor: p.flavor.clone(),
                    endpoint: dep.endpoint(),
                    run_tag: dep.run_tag.clone(),
                    prefix: dep.prefix.clone(),
                };
                self.targets
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .insert(target.endpoint, target);
                Ok(Box::new(dep))
            }
            Err(e) => {
                // Whatever was created goes; the cloud's message is the error.
                if let Err(t) = dep.remove_all().await {
                    tracing::warn!("{t}");
                }
                Err(e)
            }
        }
    }

    /// The control plane's cost on every variant; C13 (snapshot, restore, resize with
    /// a 50 ms prober) once per run, on the first variant's deployment.
    async fn extras(
        &self,
        ctx: &RunContext,
        deployment: &mut dyn Deployment,
    ) -> Result<BTreeMap<String, crate::stats::Series>, PlatformError> {
        // The local cloud's control plane, when the instances are on this host.
        let local = deployment
            .details()
            .get("cloud_location")
            .map(String::as_str)
            == Some("local");
        let mut out = if local {
            control_plane_cost(Duration::from_secs(5)).await
        } else {
            BTreeMap::new()
        };
        let target = self
            .targets
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&deployment.endpoint())
            .cloned();
        let first = {
            let mut done = self.experimented.lock().unwrap_or_else(|e| e.into_inner());
            let first = !done.contains(&ctx.run_id);
            done.push(ctx.run_id.clone());
            first
        };
        if let (Some(t), true) = (target, first && ctx.scenario.openstack.lifecycle) {
            let expr = ctx
                .scenario
                .workload
                .expressions
                .first()
                .map(String::as_str)
                .unwrap_or("(5+3)/2");
            let probe = crate::measure::Probe::for_expression(expr)
                .map_err(PlatformError::backend("workload expression"))?;
            let timeout = Duration::from_secs_f64(ctx.scenario.startup.timeout_s);
            out.extend(extras::c13(&t, &probe, timeout, &ctx.cancel).await);
            if ctx.cancel.is_cancelled() {
                return Err(PlatformError::Cancelled);
            }
        }
        Ok(out)
    }

    /// What runs left on the run's cloud: `Some(id)`: that run's (by tag, by name);
    /// `None`: the runs this host and user made (their owner tag; untagged ones by
    /// name and age), or every run with `cleanup --all-runs`. Carries on past errors
    /// and fails at the end naming what it could not remove. A cloud that is not
    /// configured or does not answer has nothing of ours to remove.
    async fn cleanup(&self, run_id: Option<&str>) -> Result<usize, PlatformError> {
        let Some(c) = self.cleanup_client().await? else {
            return Ok(0);
        };
        let out = cleanup::remove(&c, &scope(run_id)).await;
        if out.failed.is_empty() {
            Ok(out.removed)
        } else {
            Err(PlatformError::Failed(format!(
                "{}: removed {}, could not remove: {}",
                c.cloud.name,
                out.removed,
                out.failed.join("; ")
            )))
        }
    }

    /// `cleanup --dry-run`: what `cleanup` would remove, one line each with why it is
    /// claimed (by tag, by name, untagged by age).
    /// With no cloud this user can read (no clouds.yaml entry, `OS_*` unset, or a file
    /// the user may not read), the empty listing says so rather than "nothing left":
    /// resources made with other credentials cannot be seen from here.
    fn leftovers_impossible(&self) -> Option<String> {
        self.cloud().err().map(|e| {
            format!("no cloud in this user's configuration ({e}), so none of a cloud's resources can be listed from here; run it with the credentials the run used")
        })
    }

    async fn leftovers(&self, run_id: Option<&str>) -> Result<Option<Vec<String>>, PlatformError> {
        let Some(c) = self.cleanup_client().await? else {
            return Ok(Some(Vec::new()));
        };
        let (found, errors) = cleanup::find(&c, &scope(run_id)).await;
        if !errors.is_empty() {
            return Err(PlatformError::Failed(errors.join("; ")));
        }
        Ok(Some(
            found
                .iter()
                .map(|f| format!("{}: {f}", c.cloud.name))
                .collect(),
        ))
    }
}

/// The scope of a cleanup: one run, this host and user's runs, or all runs.
fn scope(run_id: Option<&str>) -> cleanup::Scope {
    match run_id {
        Some(id) => cleanup::Scope::Run(id.to_string()),
        None if std::env::var(ALL_RUNS_VAR).is_ok_and(|v| v == "1") => cleanup::Scope::AllRuns,
        None => cleanup::mine(),
    }
}

/// What results and the report say about the cloud in use: its name, the auth URL's
/// host, the region every service is taken from, the project, how it authenticated,
/// and any transport warning. Never a credential.
async fn cloud_details(c: &Client) -> BTreeMap<String, String> {
    let session = c.session().await;
    let mut d = BTreeMap::from([
        ("cloud".to_string(), c.cloud.name.clone()),
        ("auth_host".to_string(), c.cloud.auth_host()),
        ("auth_url".to_string(), c.cloud.auth_url.clone()),
        ("auth_method".to_string(), c.cloud.auth.kind().to_string()),
    ]);
    if let Some(p) = session.project_name {
        d.insert("project".into(), p);
    }
    if let Some(r) = c.region().await {
        d.insert("region".into(), r);
    }
    if c.cloud.tls.cacert.is_some() {
        d.insert(
            "tls".into(),
            "verified against the system's roots plus the cloud's cacert".into(),
        );
    }
    let warnings = c.cloud.transport_warnings();
    if !warnings.is_empty() {
        d.insert("transport_warning".into(), warnings.join("; "));
    }
    d
}

impl OpenStack {
    /// A platform reading credentials from `sources` instead of the process's
    /// environment (tests: a clouds.yaml of their own, without touching `OS_*`).
    pub fn with_sources(sources: Sources) -> OpenStack {
        OpenStack {
            sources: Some(sources),
            ..OpenStack::default()
        }
    }

    /// Remote mode (see the field).
    pub fn remote(mut self) -> OpenStack {
        self.remote = true;
        self
    }

    fn sources(&self) -> Sources {
        self.sources.clone().unwrap_or_else(Sources::from_process)
    }

    /// The run's cloud, chosen once: `--os-cloud` > `OS_CLOUD` > the scenario's
    /// `[openstack] cloud` > `OS_*` > the devcloud's entry ([`Sources::select`]).
    pub fn cloud(&self) -> Result<CloudConfig, clouds::CloudsError> {
        let mut chosen = self.chosen.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(c) = chosen.as_ref() {
            return Ok(c.clone());
        }
        let wanted = self
            .scenario_cloud
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let c = self.sources().select(wanted.as_deref())?;
        tracing::info!(cloud = %c.name, origin = %c.origin, "openstack: the run's cloud");
        *chosen = Some(c.clone());
        Ok(c)
    }

    /// A client on the run's cloud for a cleanup; `None` when no cloud is configured
    /// or it does not answer (nothing of ours can be there to remove).
    async fn cleanup_client(&self) -> Result<Option<Client>, PlatformError> {
        let cloud = match self.cloud() {
            Ok(c) => c,
            Err(_) => return Ok(None),
        };
        match Client::connect(cloud, Duration::from_secs(30)).await {
            Ok(c) => Ok(Some(c)),
            Err(e) if e.is_unreachable() => {
                tracing::info!("openstack cleanup: {e}");
                Ok(None)
            }
            Err(e) => Err(failed(e)),
        }
    }

    async fn prepared(&self, ctx: &RunContext) -> Result<Prepared, PlatformError> {
        let mut slot = self.prepared.lock().await;
        if let Some(p) = slot.as_ref().filter(|p| p.run_id == ctx.run_id) {
            return Ok(p.clone());
        }
        let o = &ctx.scenario.openstack;
        self.variants(&ctx.scenario);
        let cloud = self
            .cloud()
            .map_err(|e| PlatformError::Failed(e.to_string()))?;
        let t = Instant::now();
        let client = Arc::new(
            Client::connect(cloud, REQUEST_TIMEOUT)
                .await
                .map_err(failed)?,
        );
        let auth_ms = t.elapsed().as_secs_f64() * 1000.0;
        let appliance = appliance::build(&ctx.cache_dir).await?;
        let mut records = appliance.records.clone();
        let (image_id, image_record) = image(&client, &appliance.qcow2, &ctx.run_id).await?;
        records.push(image_record);
        let flavor = flavor(&client, &o.flavor).await?;
        let create = o.network == "create";
        let network = if create {
            None
        } else {
            Some(network(&client, &o.network).await?)
        };
        let external = if o.access == "floating-ip" {
            Some(external_network(&client, &o.floating_network).await?)
        } else {
            None
        };
        let mut details = cloud_details(&client).await;
        details.extend([
            ("auth_ms".to_string(), format!("{auth_ms:.0}")),
            ("flavor".to_string(), flavor.name.clone()),
            (
                "flavor_allocation".to_string(),
                format!(
                    "{} vCPU, {} MiB RAM, {} GB disk (an allocation, not usage)",
                    flavor.vcpus, flavor.ram_mib, flavor.disk_gb
                ),
            ),
            (
                "network".to_string(),
                match &network {
                    Some(n) => n.name.clone(),
                    None => format!(
                        "created per deployment: {} (routed: calculator on {}), router{}",
                        o.subnet,
                        o.calculator_subnet,
                        if external.is_some() {
                            " with its gateway on the external network"
                        } else {
                            ""
                        }
                    ),
                },
            ),
            ("image_id".to_string(), image_id.clone()),
            ("guest_kernel".to_string(), appliance.kernel_version.clone()),
        ]);
        if let Some(x) = &external {
            details.insert("floating_network".into(), x.name.clone());
        }
        let p = Prepared {
            run_id: ctx.run_id.clone(),
            client,
            image_id,
            flavor,
            network,
            external,
            records,
            details,
        };
        *slot = Some(p.clone());
        Ok(p)
    }
}

/// Ports, floating IP and servers of one deployment, in that order, each step timed.
async fn start(
    dep: &mut OpenStackDeployment,
    p: &Prepared,
    variant: &Variant,
    ctx: &RunContext,
) -> Result<(), PlatformError> {
    let c = p.client.clone();
    let topology = variant.get("topology").unwrap_or("per-role");
    let roles: Vec<&str> = match topology {
        "all-in-one" => vec!["all"],
        _ => ROLES.to_vec(),
    };
    let labels = labels::Labels::for_run(&ctx.run_id);
    let tags = labels.tags.clone();
    let desc = labels.description.as_str();

    // The network each role's port goes on: the existing one, or the lab's topology
    // created now (network + subnet, a router with its gateway on the external
    // network; routed: a second network for the calculator on the same router).
    let mut net_of: BTreeMap<&str, (String, String)> = BTreeMap::new();
    match &p.network {
        Some(n) => {
            for r in &roles {
                net_of.insert(r, (n.id.clone(), n.name.clone()));
            }
        }
        None => {
            phase("network (router, networks, subnets)", &dep.prefix);
            let t = Instant::now();
            let o = &ctx.scenario.openstack;
            let mut tiers = vec![("net", o.subnet.as_str())];
            if topology == "routed" {
                tiers.push(("calculator-net", o.calculator_subnet.as_str()));
            }
            let router = api::create_router(
                &c,
                &format!("{}router", dep.prefix),
                desc,
                &tags,
                p.external.as_ref().map(|x| x.id.as_str()),
            )
            .await
            .map_err(failed)?;
            dep.routers.push(router.id.clone());
            let mut created = Vec::new();
            for (name, cidr) in tiers {
                let net = api::create_network(&c, &format!("{}{name}", dep.prefix), desc, &tags)
                    .await
                    .map_err(failed)?;
                dep.networks.push(net.id.clone());
                let subnet =
                    api::create_subnet(&c, &net.id, &format!("{}{name}-subnet", dep.prefix), cidr)
                        .await
                        .map_err(failed)?;
                api::add_router_interface(&c, &router.id, &subnet)
                    .await
                    .map_err(failed)?;
                created.push((net.id, format!("{} ({cidr})", net.name)));
            }
            for r in &roles {
                let tier = if *r == "calculator" && created.len() > 1 {
                    &created[1]
                } else {
                    &created[0]
                };
                net_of.insert(r, tier.clone());
            }
            dep.phases.push(("network".into(), t.elapsed()));
        }
    }

    // The lab's security group (ICMP + the calculator's ports): a project's default
    // group lets nothing in from outside on most clouds.
    phase("security_group", &dep.prefix);
    let t = Instant::now();
    let sg = api::create_security_group(&c, &format!("{}sg", dep.prefix), desc, &tags)
        .await
        .map_err(failed)?;
    dep.security_groups.push(sg.id.clone());
    dep.phases.push(("security_group".into(), t.elapsed()));

    // Ports first: Neutron assigns the fixed IPs, so the calculator's peers are known
    // before any instance exists.
    phase("ports", &dep.prefix);
    let t = Instant::now();
    let created = futures_util::future::join_all(roles.iter().map(|role| {
        let c = c.clone();
        let name = format!("{}{role}", dep.prefix);
        let tags = tags.clone();
        let network_id = net_of[role].0.clone();
        let sg = sg.id.clone();
        async move {
            let port = api::create_port(&c, &network_id, &name, desc, &tags, Some(&sg)).await?;
            Ok::<_, ApiError>(port)
        }
    }))
    .await;
    let mut first_error = None;
    for (role, r) in roles.iter().zip(created) {
        match r {
            Ok(port) => {
                let ip = port.fixed_ip.clone().unwrap_or_default();
                dep.ports.push((role.to_string(), port.id, ip));
            }
            Err(e) => {
                first_error.get_or_insert(e);
            }
        }
    }
    if let Some(e) = first_error {
        return Err(failed(e));
    }
    dep.phases.push(("ports".into(), t.elapsed()));
    if ctx.cancel.is_cancelled() {
        return Err(PlatformError::Cancelled);
    }
    let ip_of = |role: &str| -> Result<IpAddr, PlatformError> {
        let (_, _, ip) = dep
            .ports
            .iter()
            .find(|(r, _, _)| r == role)
            .ok_or_else(|| PlatformError::Failed(format!("no port for {role}")))?;
        ip.parse().map_err(|_| {
            PlatformError::Failed(format!(
                "openstack: the port of {role} on network {} got no IPv4 address ({ip:?})",
                net_of[role].1
            ))
        })
    };
    let front = *roles.last().expect("at least one role");
    let front_port = dep
        .ports
        .iter()
        .find(|(r, _, _)| r == front)
        .map(|x| x.1.clone())
        .expect("front port");
    let front_port_no = default_port("calculator");

    // The floating IP, on the calculator's port before it boots: the address is known
    // at once, and the association is part of what startup measures.
    let endpoint_ip = match &p.external {
        Some(ext) => {
            phase("floating_ip", &dep.prefix);
            let t = Instant::now();
            let fip = api::create_floating_ip(
                &c,
                &ext.id,
                &front_port,
                &format!("{}{front}", dep.prefix),
                &tags,
            )
            .await
            .map_err(failed)?;
            dep.floating_ips.push(fip.id.clone());
            dep.phases.push(("floating_ip".into(), t.elapsed()));
            dep.details
                .insert("floating_ip".into(), fip.address.clone());
            fip.address.parse().map_err(|_| {
                PlatformError::Failed(format!(
                    "openstack: floating IP {:?} is not an address",
                    fip.address
                ))
            })?
        }
        None => ip_of(front)?,
    };
    dep.details
        .insert("fixed_ip".into(), ip_of(front)?.to_string());
    dep.endpoint = Some(SocketAddr::new(endpoint_ip, front_port_no));

    let peers = ["sum", "sub", "mul", "div"]
        .iter()
        .map(|r| Ok(format!("{r}={}:{}", ip_of(r)?, default_port(r))))
        .collect::<Result<Vec<_>, PlatformError>>();
    // Sub-services first (together), then the calculator with their addresses.
    phase("server_create", &dep.prefix);
    let t = Instant::now();
    let (subs, last): (Vec<&str>, Vec<&str>) = roles.iter().partition(|r| **r != front);
    for batch in [subs, last] {
        let results = futures_util::future::join_all(batch.iter().map(|role| {
            let c = c.clone();
            let name = format!("{}{role}", dep.prefix);
            let port_id = dep
                .ports
                .iter()
                .find(|(r, _, _)| r == role)
                .map(|x| x.1.clone())
                .unwrap_or_default();
            let user_data = if *role == "calculator" {
                peers
                    .as_ref()
                    .map(|ps| {
                        format!(
                            "virtbench.role=calculator virtbench.peers={}\n",
                            ps.join(",")
                        )
                    })
                    .map_err(|e| PlatformError::Failed(e.to_string()))
            } else {
                Ok(format!("virtbench.role={role}\n"))
            };
            let tags = tags.clone();
            let run_id = ctx.run_id.clone();
            let image_id = p.image_id.clone();
            let flavor_id = p.flavor.id.clone();
            async move {
                let user_data = user_data?;
                let spec = api::ServerSpec {
                    name: &name,
                    image_id: &image_id,
                    flavor_id: &flavor_id,
                    port_id: &port_id,
                    user_data: &user_data,
                    tags: &tags,
                    run: &run_id,
                };
                let id = api::create_server(&c, &spec).await.map_err(failed)?;
                Ok::<_, PlatformError>((role.to_string(), id))
            }
        }))
        .await;
        let mut first_error = None;
        for r in results {
            match r {
                Ok(s) => dep.servers.push(s),
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        if let Some(e) = first_error {
            return Err(e);
        }
        if ctx.cancel.is_cancelled() {
            return Err(PlatformError::Cancelled);
        }
    }
    dep.accepted_at = Some(Instant::now());
    dep.phases.push(("server_create".into(), t.elapsed()));
    dep.details
        .insert("instances".into(), dep.servers.len().to_string());
    dep.watch();
    phase(
        "boot (servers created, waiting for ACTIVE and the first answer)",
        &dep.prefix,
    );
    Ok(())
}

/// The appliance image on Glance: an active image with the same content hash is
/// reused; otherwise one is created and uploaded (timed), and deleted again if the
/// upload fails.
async fn image(
    c: &Client,
    qcow2: &Path,
    run_id: &str,
) -> Result<(String, ArtifactRecord), PlatformError> {
    let path = qcow2.to_path_buf();
    let (sha, data) = tokio::task::spawn_blocking(move || {
        use sha2::{Digest, Sha256};
        let data = std::fs::read(&path)?;
        Ok::<_, std::io::Error>((crate::artifact::hex(&Sha256::digest(&data)), data))
    })
    .await
    .map_err(|e| PlatformError::Failed(format!("hashing task: {e}")))?
    .map_err(PlatformError::io(format!("reading {}", qcow2.display())))?;
    let name = format!("virtbench-appliance-{}", &sha[..16]);
    let bytes = data.len() as u64;
    for img in api::images_named(c, &name).await.map_err(failed)? {
        if img.status == "active" && img.property("virtbench_sha256") == Some(sha.as_str()) {
            tracing::info!(image = %img.id, "reusing the appliance image on Glance");
            return Ok((
                img.id,
                ArtifactRecord {
                    name: "glance-image".into(),
                    bytes,
                    build_ms: None,
                    cached: true,
                    path: Some(name),
                },
            ));
        }
    }
    let t = Instant::now();
    let img = api::create_image(
        c,
        json!({
            "name": name,
            "disk_format": "qcow2",
            "container_format": "bare",
            "visibility": "private",
            "hw_disk_bus": "virtio",
            "hw_vif_model": "virtio",
            "virtbench_sha256": sha,
            // Who is uploading: an upload cancelled midway (Ctrl-C) leaves a queued
            // image that `cleanup` then finds by these.
            "virtbench_run": run_id,
            "virtbench_owner": labels::owner_tag(),
            "tags": [IMAGE_TAG],
        }),
    )
    .await
    .map_err(failed)?;
    // Logged once the image record exists: an upload stopped from here on leaves a
    // queued image (claimed by its `virtbench_run` property).
    phase("image upload", &name);
    let uploaded = async {
        api::upload_image(c, &img.id, bytes::Bytes::from(data)).await?;
        // Glance may still be importing: wait for active.
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            let now = api::get_image(c, &img.id).await?;
            if now.status == "active" {
                return Ok(());
            }
            if now.status == "killed" || now.status == "deleted" || Instant::now() > deadline {
                return Err(ApiError::Unexpected {
                    cloud: c.cloud.name.clone(),
                    what: format!("image {name} is {} after upload", now.status),
                });
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }
    .await;
    if let Err(e) = uploaded {
        let _ = api::delete_image(c, &img.id).await;
        return Err(failed(e));
    }
    Ok((
        img.id,
        ArtifactRecord {
            name: "glance-image".into(),
            bytes,
            build_ms: Some(t.elapsed().as_secs_f64() * 1000.0),
            cached: false,
            path: Some(name),
        },
    ))
}

/// The flavor named (by name or id), or the smallest with enough memory.
async fn flavor(c: &Client, wanted: &str) -> Result<api::Flavor, PlatformError> {
    let all = api::flavors(c).await.map_err(failed)?;
    if !wanted.is_empty() {
        return all
            .iter()
            .find(|f| f.name == wanted || f.id == wanted)
            .cloned()
            .ok_or_else(|| {
                PlatformError::Failed(format!(
                    "{}: flavor {wanted:?} does not exist (flavors: {})",
                    c.cloud.name,
                    names(all.iter().map(|f| f.name.as_str()))
                ))
            });
    }
    all.iter()
        .filter(|f| f.ram_mib >= MIN_RAM_MIB && f.vcpus >= 1)
        .min_by_key(|f| (f.ram_mib, f.vcpus, f.disk_gb))
        .cloned()
        .ok_or_else(|| {
            PlatformError::Failed(format!(
                "{}: no flavor with at least {MIN_RAM_MIB} MiB of RAM (flavors: {})",
                c.cloud.name,
                names(all.iter().map(|f| f.name.as_str()))
            ))
        })
}

fn names<'a>(it: impl Iterator<Item = &'a str>) -> String {
    let v: Vec<&str> = it.collect();
    if v.is_empty() {
        "none".into()
    } else {
        v.join(", ")
    }
}

/// The network named (by name or id), or the only non-external one.
async fn network(c: &Client, wanted: &str) -> Result<api::Network, PlatformError> {
    let all = api::networks(c, "").await.map_err(failed)?;
    if !wanted.is_empty() {
        return all
            .iter()
            .find(|n| n.name == wanted || n.id == wanted)
            .cloned()
            .ok_or_else(|| {
                PlatformError::Failed(format!(
                    "{}: network {wanted:?} does not exist (networks: {})",
                    c.cloud.name,
                    names(all.iter().map(|n| n.name.as_str()))
                ))
            });
    }
    let internal: Vec<&api::Network> = all.iter().filter(|n| !n.external).collect();
    match internal.as_slice() {
        [one] => Ok((*one).clone()),
        [] => Err(PlatformError::Failed(format!(
            "{}: the project sees no network to put instances on",
            c.cloud.name
        ))),
        many => Err(PlatformError::Failed(format!(
            "{}: several networks ({}): choose one with [openstack] network",
            c.cloud.name,
            names(many.iter().map(|n| n.name.as_str()))
        ))),
    }
}

/// The external network for floating IPs (named, or the only one).
async fn external_network(c: &Client, wanted: &str) -> Result<api::Network, PlatformError> {
    let all = api::networks(c, "?router:external=true")
        .await
        .map_err(failed)?;
    if !wanted.is_empty() {
        return all
            .iter()
            .find(|n| n.name == wanted || n.id == wanted)
            .cloned()
            .ok_or_else(|| {
                PlatformError::Failed(format!(
                    "{}: external network {wanted:?} does not exist (external networks: {})",
                    c.cloud.name,
                    names(all.iter().map(|n| n.name.as_str()))
                ))
            });
    }
    match all.as_slice() {
        [one] => Ok(one.clone()),
        [] => Err(PlatformError::Failed(format!(
            "{}: no external network for floating IPs (use access = \"fixed-ip\")",
            c.cloud.name
        ))),
        many => Err(PlatformError::Failed(format!(
            "{}: several external networks ({}): choose one with [openstack] floating_network",
            c.cloud.name,
            names(many.iter().map(|n| n.name.as_str()))
        ))),
    }
}

/// What the local cloud's own services cost while the deployment idles: their summed
/// memory and CPU over `window`. A fixed cost, shown apart from the per-instance
/// figures, not added into them. Empty on a remote cloud.
async fn control_plane_cost(window: Duration) -> BTreeMap<String, crate::stats::Series> {
    use crate::measure::resources;
    use crate::stats::Series;
    let pids = host::control_plane_pids();
    if pids.is_empty() {
        return BTreeMap::new();
    }
    let before = resources::processes(&pids);
    let t = Instant::now();
    tokio::time::sleep(window).await;
    let after = resources::processes(&pids);
    let secs = t.elapsed().as_secs_f64();
    let mut out = BTreeMap::from([
        (
            "control_plane_rss_bytes".to_string(),
            Series::new("bytes", vec![after.rss_bytes as f64]),
        ),
        (
            "control_plane_idle_cpu_fraction".to_string(),
            Series::new(
                "cores",
                vec![((after.cpu_seconds - before.cpu_seconds) / secs).max(0.0)],
            ),
        ),
        (
            "control_plane_processes".to_string(),
            Series::new("count", vec![pids.len() as f64]),
        ),
    ]);
    if let Some(pss) = after.pss_bytes {
        out.insert(
            "control_plane_pss_bytes".into(),
            Series::new("bytes", vec![pss as f64]),
        );
    }
    out
}
