//! One deployment: five containers (one per role, as in the lab; plus a router in the
//! routed topology) created and started through the engine API, and removed again by
//! label.

use std::collections::{BTreeMap, HashMap};
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use bollard::models::{
    ContainerCreateBody, EndpointIpamConfig, EndpointSettings, HostConfig, NetworkConnectRequest,
    NetworkingConfig, PortBinding,
};
use bollard::query_parameters::{
    CreateContainerOptionsBuilder, StartContainerOptions, WaitContainerOptionsBuilder,
};
use bollard::Docker as Engine;
use futures_util::future::join_all;
use futures_util::StreamExt;
use tokio::sync::OnceCell;

use super::network::{self, NetworkMode, RoleAddress, Subnet};
use super::stats::{Breakdown, Sampler};
use super::{engine_error, labels, remove_labelled};
use crate::platform::docker::image::CalculatorImage;
use crate::platform::{default_port, Deployment, PlatformError, ResourceSample};

/// Everything `create` needs, decided before the first engine call (pure, testable).
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    pub run_id: String,
    pub mode: NetworkMode,
    /// Networks to create: name and subnet (none in host mode).
    pub networks: Vec<(String, Subnet)>,
    /// 127.0.0.1 port where the calculator answers.
    pub host_port: u16,
    pub containers: Vec<ContainerPlan>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ContainerPlan {
    pub role: &'static str,
    pub name: String,
    /// Arguments after the image's entrypoint (`/calculator`).
    pub args: Vec<String>,
    pub address: RoleAddress,
    /// Container port published on 127.0.0.1:`host_port` (bridge calculator only).
    pub publish: Option<u16>,
    /// The network the container is created on (none: the host's).
    pub network: Option<String>,
    /// A second network and address, connected before start (the router's).
    pub also: Option<(String, Ipv4Addr)>,
    /// CAP_NET_ADMIN, for `--route` (routed topology).
    pub net_admin: bool,
    /// `net.ipv4.ip_forward=1` in the container's namespace (the router).
    pub forward: bool,
}

/// The router container's role name (not a calculator role: it serves nothing).
pub const ROUTER: &str = "router";

/// Container or network name of a run: `vb-<run-id>[-<role>]`.
pub fn resource_name(run_id: &str, role: Option<&str>) -> String {
    match role {
        Some(r) => format!("vb-{run_id}-{r}"),
        None => format!("vb-{run_id}"),
    }
}

/// Docker names allow `[a-zA-Z0-9][a-zA-Z0-9_.-]*`; a run id must fit.
pub fn check_run_id(run_id: &str) -> Result<(), PlatformError> {
    let ok = run_id
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphanumeric())
        && run_id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c));
    if ok {
        Ok(())
    } else {
        Err(PlatformError::at(
            "docker",
            format!("naming the containers of run {run_id:?}"),
            "a container name takes only letters, digits, '_', '.', '-'",
        ))
    }
}

/// Decide names, addresses and command lines. `ports`: in host mode the five roles'
/// loopback ports in [`ROLES`](crate::platform::ROLES) order (the calculator's is the endpoint); otherwise
/// only `host_port` is used. Fails when a routed subnet has no room for the router.
pub fn plan(
    run_id: &str,
    mode: NetworkMode,
    host_port: u16,
    role_ports: &[u16],
) -> Result<Plan, PlatformError> {
    let addresses = network::role_addresses(&mode, role_ports);
    let url_of = |role: &str| {
        addresses
            .iter()
            .find(|a| a.role == role)
            .map(|a| a.url.clone())
            .expect("every role has an address")
    };
    let networks = match &mode {
        NetworkMode::Host => Vec::new(),
        NetworkMode::Bridge { subnet } => vec![(resource_name(run_id, None), *subnet)],
        NetworkMode::Routed { services, front } => vec![
            (format!("vb-{run_id}-services"), *services),
            (format!("vb-{run_id}-front"), *front),
        ],
    };
    let network_of = |role: &str| match &mode {
        NetworkMode::Host => None,
        NetworkMode::Bridge { .. } => Some(networks[0].0.clone()),
        NetworkMode::Routed { .. } if role == "calculator" => Some(networks[1].0.clone()),
        NetworkMode::Routed { .. } => Some(networks[0].0.clone()),
    };
    // Routed: each tier reaches the other through the router's address on its own
    // network (its default route is the host's bridge, which would not forward).
    let routes = match &mode {
        NetworkMode::Routed { services, front } => {
            let bad = |e: String| PlatformError::Failed(e);
            Some((
                format!("{front},{}", services.router_address().map_err(bad)?),
                format!("{services},{}", front.router_address().map_err(bad)?),
            ))
        }
        _ => None,
    };
    let mut containers: Vec<ContainerPlan> = addresses
        .iter()
        .map(|a| {
            let mut args = vec![
                a.role.to_string(),
                "--listen".to_string(),
                a.listen.to_string(),
            ];
            if a.role == "calculator" {
                for peer in ["sum", "sub", "mul", "div"] {
                    args.push(format!("--{peer}"));
                    args.push(url_of(peer));
                }
            }
            if let Some((to_front, to_services)) = &routes {
                args.push("--route".to_string());
                args.push(if a.role == "calculator" {
                    to_services.clone()
                } else {
                    to_front.clone()
                });
            }
            let publish = (a.role == "calculator" && mode != NetworkMode::Host)
                .then(|| default_port("calculator"));
            ContainerPlan {
                role: a.role,
                name: resource_name(run_id, Some(a.role)),
                args,
                address: a.clone(),
                publish,
                network: network_of(a.role),
                also: None,
                net_admin: routes.is_some(),
                forward: false,
            }
        })
        .collect();
    if let NetworkMode::Routed { services, front } = &mode {
        let on_services = services.router_address().map_err(PlatformError::Failed)?;
        let on_front = front.router_address().map_err(PlatformError::Failed)?;
        containers.push(ContainerPlan {
            role: ROUTER,
            name: resource_name(run_id, Some(ROUTER)),
            args: vec![ROUTER.to_string()],
            address: RoleAddress {
                role: ROUTER,
                listen: SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0)),
                url: format!("{on_services} + {on_front} (forwarding, serves nothing)"),
                ip: Some(on_services),
            },
            publish: None,
            network: Some(networks[0].0.clone()),
            also: Some((networks[1].0.clone(), on_front)),
            net_admin: false,
            forward: true,
        });
    }
    Ok(Plan {
        run_id: run_id.to_string(),
        networks,
        mode,
        host_port,
        containers,
    })
}

impl Plan {
    fn endpoint(&self) -> SocketAddr {
        SocketAddr::from((Ipv4Addr::LOCALHOST, self.host_port))
    }

    fn config(&self, c: &ContainerPlan, image: &str) -> ContainerCreateBody {
        let mut labels = labels(&self.run_id, Some(c.role));
        labels.insert("virtbench.network".into(), self.mode.name().into());
        let mut host = HostConfig::default();
        let mut config = ContainerCreateBody {
            image: Some(image.to_string()),
            cmd: Some(c.args.clone()),
            labels: Some(labels),
            ..Default::default()
        };
        if c.net_admin {
            host.cap_add = Some(vec!["NET_ADMIN".into()]);
        }
        if c.forward {
            host.sysctls = Some(HashMap::from([(
                "net.ipv4.ip_forward".to_string(),
                "1".to_string(),
            )]));
        }
        match &c.network {
            None => host.network_mode = Some("host".into()),
            Some(network) => {
                host.network_mode = Some(network.clone());
                let endpoint = EndpointSettings {
                    ipam_config: Some(EndpointIpamConfig {
                        ipv4_address: c.address.ip.map(|ip| ip.to_string()),
                        ..Default::default()
                    }),
                    ..Default::default()
                };
                config.networking_config = Some(NetworkingConfig {
                    endpoints_config: Some(HashMap::from([(network.clone(), endpoint)])),
                });
                if let Some(port) = c.publish {
                    let key = format!("{port}/tcp");
                    config.exposed_ports = Some(vec![key.clone()]);
                    // 127.0.0.1 only: nothing of the project is reachable from outside.
                    host.port_bindings = Some(HashMap::from([(
                        key,
                        Some(vec![PortBinding {
                            host_ip: Some("127.0.0.1".into()),
                            host_port: Some(self.host_port.to_string()),
                        }]),
                    )]));
                }
            }
        }
        config.host_config = Some(host);
        config
    }
}

/// A running deployment.
pub struct DockerDeployment {
    engine: Engine,
    plan: Plan,
    image: String,
    /// Container ids by role, in [`ROLES`](crate::platform::ROLES) order.
    ids: Vec<(&'static str, String)>,
    network_ids: Vec<String>,
    phases: Vec<(String, Duration)>,
    engine_version: String,
    sampler: OnceCell<Sampler>,
    last_split: std::sync::Mutex<Option<Breakdown>>,
    /// Set by the watchers when a container stops: why.
    died: Arc<std::sync::Mutex<Option<String>>>,
    watchers: Vec<tokio::task::JoinHandle<()>>,
    torn_down: bool,
}

impl Drop for DockerDeployment {
    fn drop(&mut self) {
        for w in &self.watchers {
            w.abort();
        }
    }
}

impl std::fmt::Debug for DockerDeployment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DockerDeployment")
            .field("plan", &self.plan)
            .field("ids", &self.ids)
            .finish()
    }
}

/// Created so far; removed if a later step fails.
#[derive(Default)]
struct Created {
    networks: Vec<String>,
    containers: Vec<(&'static str, String)>,
}

/// Create the network and the five containers, then start them (sub-services first).
/// On failure everything created is removed before the error is returned.
pub async fn deploy(
    engine: Engine,
    plan: Plan,
    image: &CalculatorImage,
    engine_version: String,
    cancel: &tokio_util::sync::CancellationToken,
) -> Result<DockerDeployment, PlatformError> {
    let mut created = Created::default();
    match create_and_start(&engine, &plan, image, &mut created, cancel).await {
        Ok(phases) => {
            let died = Arc::new(std::sync::Mutex::new(None));
            let watchers = created
                .containers
                .iter()
                .map(|(role, id)| {
                    let name = resource_name(&plan.run_id, Some(role));
                    tokio::spawn(watch(engine.clone(), name, id.clone(), died.clone()))
                })
                .collect();
            Ok(DockerDeployment {
                engine,
                image: image.tag.clone(),
                ids: created.containers,
                network_ids: created.networks,
                phases,
                plan,
                engine_version,
                sampler: OnceCell::new(),
                last_split: std::sync::Mutex::new(None),
                died,
                watchers,
                torn_down: false,
            })
        }
        Err(e) => {
            tracing::warn!(run = %plan.run_id, error = %e, "docker: deployment failed, removing what it created");
            if let Err(clean) = remove_labelled(&engine, &plan.run_id, false).await {
                tracing::error!(error = %clean, "docker: cleanup after the failed deployment failed");
            }
            Err(e)
        }
    }
}

async fn create_and_start(
    engine: &Engine,
    plan: &Plan,
    image: &CalculatorImage,
    created: &mut Created,
    cancel: &tokio_util::sync::CancellationToken,
) -> Result<Vec<(String, Duration)>, PlatformError> {
    let started = Instant::now();
    for (name, subnet) in &plan.networks {
        let id = network::create_bridge(engine, name, &plan.run_id, subnet).await?;
        created.networks.push(id);
    }
    if cancel.is_cancelled() {
        return Err(PlatformError::Cancelled);
    }
    // The five creates are independent: issue them together.
    let creates = plan.containers.iter().map(|c| async move {
        let options = CreateContainerOptionsBuilder::default()
            .name(&c.name)
            .build();
        let result = engine
            .create_container(Some(options), plan.config(c, &image.tag))
            .await
            .map_err(|e| engine_error(&format!("creating container {}", c.name), &e));
        (c.role, result)
    });
    let mut first_error = None;
    for (role, result) in join_all(creates).await {
        match result {
            Ok(r) => created.containers.push((role, r.id)),
            Err(e) => {
                first_error.get_or_insert(e);
            }
        }
    }
    if let Some(e) = first_error {
        return Err(e);
    }
    // A container is created on one network; the router joins the second before start.
    for c in &plan.containers {
        if let Some((network, ip)) = &c.also {
            let options = NetworkConnectRequest {
                container: c.name.clone(),
                endpoint_config: Some(EndpointSettings {
                    ipam_config: Some(EndpointIpamConfig {
                        ipv4_address: Some(ip.to_string()),
                        ..Default::default()
                    }),
                    ..Default::default()
                }),
            };
            engine
                .connect_network(network, options)
                .await
                .map_err(|e| {
                    engine_error(
                        &format!("connecting {} to network {network} ({ip})", c.name),
                        &e,
                    )
                })?;
        }
    }
    let create = started.elapsed();
    if cancel.is_cancelled() {
        return Err(PlatformError::Cancelled);
    }

    // Sub-services (and the router) first, together, then the calculator that calls them.
    let start_one = |role: &'static str| {
        let c = plan
            .containers
            .iter()
            .find(|c| c.role == role)
            .expect("planned role");
        let id = created
            .containers
            .iter()
            .find(|(r, _)| *r == role)
            .map(|(_, id)| id.clone())
            .expect("created role");
        async move {
            if plan.mode == NetworkMode::Host {
                ensure_port_free(c.address.listen, role)?;
            }
            engine
                .start_container(&id, None::<StartContainerOptions>)
                .await
                .map_err(|e| {
                    let what = match c.publish {
                        Some(p) => format!(
                            "starting container {} (publishing {p}/tcp on 127.0.0.1:{})",
                            c.name, plan.host_port
                        ),
                        None => format!("starting container {}", c.name),
                    };
                    engine_error(&what, &e)
                })
        }
    };
    let subs = plan
        .containers
        .iter()
        .filter(|c| c.role != "calculator")
        .map(|c| start_one(c.role));
    for result in join_all(subs).await {
        result?;
    }
    if cancel.is_cancelled() {
        return Err(PlatformError::Cancelled);
    }
    start_one("calculator").await?;
    let start = started.elapsed() - create;
    tracing::debug!(run = %plan.run_id, ?create, ?start, mode = plan.mode.name(), "docker: deployed");
    Ok(vec![("create".into(), create), ("start".into(), start)])
}

/// Wait for container `id` to stop and record why (exit code, last log line) in
/// `died`, for [`Deployment::exited`]. Aborted at teardown.
async fn watch(
    engine: Engine,
    name: String,
    id: String,
    died: Arc<std::sync::Mutex<Option<String>>>,
) {
    use bollard::errors::Error as E;
    loop {
        let options = WaitContainerOptionsBuilder::default()
            .condition("not-running")
            .build();
        let outcome = engine.wait_container(&id, Some(options)).next().await;
        let code = match outcome {
            Some(Ok(r)) => r.status_code,
            Some(Err(E::DockerContainerWaitError { code, .. })) => code,
            // The client's request timeout ends long waits: wait again.
            Some(Err(E::RequestTimeoutError)) => continue,
            Some(Err(e)) => {
                tracing::debug!(%name, error = %e, "docker: stopped watching container");
                return;
            }
            None => return,
        };
        let why = format!(
            "docker: container {name} exited (code {code}){}",
            super::stats::last_log_line(&engine, &id).await
        );
        died.lock().expect("not poisoned").get_or_insert(why);
        return;
    }
}

/// Host mode: the engine cannot tell that a port is taken (the process inside fails
/// later), so check it just before the container that listens on it starts.
fn ensure_port_free(addr: SocketAddr, role: &str) -> Result<(), PlatformError> {
    match std::net::TcpListener::bind(addr) {
        Ok(_) => Ok(()),
        Err(e) => Err(PlatformError::at(
            "docker",
            format!("host network: {addr} for the {role} container"),
            format!("not free: {e}"),
        )),
    }
}

#[async_trait]
impl Deployment for DockerDeployment {
    fn endpoint(&self) -> SocketAddr {
        self.plan.endpoint()
    }

    fn deploy_phases(&self) -> Vec<(String, Duration)> {
        self.phases.clone()
    }

    fn exited(&mut self) -> Option<String> {
        self.died.lock().expect("not poisoned").clone()
    }

    async fn sample(&self) -> Result<ResourceSample, PlatformError> {
        if self.torn_down {
            return Err(PlatformError::at(
                "docker",
                "sampling",
                "the deployment is already torn down",
            ));
        }
        let sampler = self
            .sampler
            .get_or_try_init(|| async {
                let ids: Vec<String> = self.ids.iter().map(|(_, id)| id.clone()).collect();
                let ips: Vec<Ipv4Addr> = self
                    .plan
                    .containers
                    .iter()
                    .filter_map(|c| c.address.ip)
                    .collect();
                Sampler::discover(&self.engine, &ids, &ips).await
            })
            .await?;
        let (sample, split) = sampler.sample().await?;
        *self.last_split.lock().expect("not poisoned") = split;
        Ok(sample)
    }

    async fn memory_breakdown(&self) -> Option<crate::results::MemoryBreakdown> {
        // A fresh sample, so the split and the daemons are read at the same moment.
        self.sample().await.ok()?;
        let split = (*self.last_split.lock().expect("not poisoned"))?;
        let helpers = self.sampler.get()?.helpers();
        let n = self.ids.len();
        tokio::task::spawn_blocking(move || split.to_record(n, &helpers))
            .await
            .ok()
    }

    fn details(&self) -> BTreeMap<String, String> {
        let mut d = BTreeMap::new();
        d.insert("network".into(), self.plan.mode.name().into());
        d.insert("image".into(), self.image.clone());
        d.insert("engine_version".into(), self.engine_version.clone());
        d.insert("endpoint".into(), self.endpoint().to_string());
        // Host networking listens on the host's own addresses; the other modes publish
        // the calculator's port.
        let access = match &self.plan.mode {
            NetworkMode::Host => crate::measure::outside::Access::HostNetwork,
            _ => crate::measure::outside::Access::Forwarded,
        };
        d.insert(crate::results::keys::ACCESS.into(), access.as_str().into());
        match &self.plan.mode {
            NetworkMode::Bridge { subnet } => {
                d.insert("subnet".into(), subnet.to_string());
            }
            NetworkMode::Routed { services, front } => {
                d.insert("subnet.services".into(), services.to_string());
                d.insert("subnet.calculator".into(), front.to_string());
            }
            NetworkMode::Host => {}
        }
        if self.plan.mode == NetworkMode::Host {
            d.insert("nat".into(), "none (host network)".into());
        } else {
            d.insert(
                "nat".into(),
                "published port 127.0.0.1 -> calculator:50000".into(),
            );
        }
        for c in &self.plan.containers {
            d.insert(format!("address.{}", c.role), c.address.url.clone());
        }
        if let Some(s) = self.sampler.get() {
            d.insert("memory_source".into(), s.source().into());
        }
        // Where the memory of the last sample went: the containers themselves against
        // the engine's per-container helpers.
        if let Some(b) = *self.last_split.lock().expect("not poisoned") {
            d.insert(
                "last_sample.containers_bytes".into(),
                b.containers.to_string(),
            );
            d.insert(
                "last_sample.shims_rss_bytes".into(),
                b.shims_rss.to_string(),
            );
            d.insert(
                "last_sample.shims_pss_bytes".into(),
                b.shims_pss.to_string(),
            );
            d.insert(
                "last_sample.proxies_rss_bytes".into(),
                b.proxies_rss.to_string(),
            );
            d.insert(
                "last_sample.proxies_pss_bytes".into(),
                b.proxies_pss.to_string(),
            );
        }
        d
    }

    async fn teardown(&mut self) -> Result<(), PlatformError> {
        if self.torn_down {
            return Ok(());
        }
        // Removing the containers is not a death to report.
        for w in &self.watchers {
            w.abort();
        }
        let removed = remove_labelled(&self.engine, &self.plan.run_id, false).await?;
        tracing::debug!(run = %self.plan.run_id, removed, networks = ?self.network_ids, "docker: torn down");
        self.torn_down = true;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::platform::docker::network::Subnet;

    fn bridge() -> NetworkMode {
        NetworkMode::Bridge {
            subnet: Subnet::parse("10.213.0.0/24").unwrap(),
        }
    }

    #[test]
    fn bridge_plan_wires_calculator_to_peer_addresses() {
        let p = plan("r1", bridge(), 18080, &[]).unwrap();
        let names: Vec<&str> = p.containers.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "vb-r1-sum",
                "vb-r1-sub",
                "vb-r1-mul",
                "vb-r1-div",
                "vb-r1-calculator"
            ]
        );
        let calc = &p.containers[4];
        assert_eq!(
            calc.args,
            [
                "calculator",
                "--listen",
                "0.0.0.0:50000",
                "--sum",
                "http://10.213.0.2:50001",
                "--sub",
                "http://10.213.0.3:50002",
                "--mul",
                "http://10.213.0.4:50003",
                "--div",
                "http://10.213.0.5:50004",
            ]
        );
        assert_eq!(calc.publish, Some(50000));
        assert_eq!(p.containers[0].args, ["sum", "--listen", "0.0.0.0:50001"]);
        assert_eq!(p.containers[0].publish, None);
        assert_eq!(p.endpoint().to_string(), "127.0.0.1:18080");
    }

    #[test]
    fn bridge_config_publishes_on_loopback_only() {
        let p = plan("r1", bridge(), 18080, &[]).unwrap();
        let cfg = p.config(&p.containers[4], "img:1");
        let host = cfg.host_config.unwrap();
        assert_eq!(host.network_mode.as_deref(), Some("vb-r1"));
        let b = &host.port_bindings.unwrap()["50000/tcp"];
        let b = &b.as_ref().unwrap()[0];
        assert_eq!(b.host_ip.as_deref(), Some("127.0.0.1"));
        assert_eq!(b.host_port.as_deref(), Some("18080"));
        let labels = cfg.labels.unwrap();
        assert_eq!(labels["virtbench"], "1");
        assert_eq!(labels["virtbench.run"], "r1");
        assert_eq!(labels["virtbench.role"], "calculator");
        let ep = &cfg.networking_config.unwrap().endpoints_config.unwrap()["vb-r1"];
        assert_eq!(
            ep.ipam_config.as_ref().unwrap().ipv4_address.as_deref(),
            Some("10.213.0.6")
        );
    }

    #[test]
    fn host_plan_uses_loopback_ports_and_no_publishing() {
        let p = plan(
            "r2",
            NetworkMode::Host,
            4000,
            &[4001, 4002, 4003, 4004, 4000],
        )
        .unwrap();
        let calc = &p.containers[4];
        assert_eq!(
            &calc.args[..3],
            ["calculator", "--listen", "127.0.0.1:4000"]
        );
        assert!(calc.args.contains(&"http://127.0.0.1:4003".to_string()));
        assert_eq!(calc.publish, None);
        let cfg = p.config(calc, "img:1");
        let host = cfg.host_config.unwrap();
        assert_eq!(host.network_mode.as_deref(), Some("host"));
        assert!(host.port_bindings.is_none());
        assert!(cfg.networking_config.is_none());
    }

    #[test]
    fn routed_plan_adds_a_router_and_routes_each_tier_through_it() {
        let mode = NetworkMode::Routed {
            services: Subnet::parse("10.5.7.0/24").unwrap(),
            front: Subnet::parse("10.5.8.0/24").unwrap(),
        };
        let p = plan("r3", mode, 18081, &[]).unwrap();
        let nets: Vec<String> = p.networks.iter().map(|(n, s)| format!("{n} {s}")).collect();
        assert_eq!(
            nets,
            ["vb-r3-services 10.5.7.0/24", "vb-r3-front 10.5.8.0/24"]
        );
        let sum = &p.containers[0];
        assert_eq!(
            sum.args,
            [
                "sum",
                "--listen",
                "0.0.0.0:50001",
                "--route",
                "10.5.8.0/24,10.5.7.254"
            ]
        );
        assert_eq!(sum.network.as_deref(), Some("vb-r3-services"));
        let calc = &p.containers[4];
        assert_eq!(calc.network.as_deref(), Some("vb-r3-front"));
        assert!(calc.args.contains(&"http://10.5.7.5:50004".to_string()));
        assert_eq!(
            &calc.args[calc.args.len() - 2..],
            ["--route", "10.5.7.0/24,10.5.8.254"]
        );
        assert_eq!(calc.publish, Some(50000));
        let cfg = p.config(calc, "img:1");
        let host = cfg.host_config.unwrap();
        assert_eq!(host.cap_add, Some(vec!["NET_ADMIN".to_string()]));
        assert_eq!(
            host.port_bindings.unwrap()["50000/tcp"].as_ref().unwrap()[0]
                .host_ip
                .as_deref(),
            Some("127.0.0.1")
        );
        let router = &p.containers[5];
        assert_eq!(
            (router.role, router.args.as_slice()),
            (ROUTER, &["router".to_string()][..])
        );
        assert_eq!(router.network.as_deref(), Some("vb-r3-services"));
        assert_eq!(
            router.also,
            Some(("vb-r3-front".into(), Ipv4Addr::new(10, 5, 8, 254)))
        );
        let host = p.config(router, "img:1").host_config.unwrap();
        assert_eq!(host.sysctls.unwrap()["net.ipv4.ip_forward"], "1");
        assert!(host.cap_add.is_none() && host.port_bindings.is_none());
    }

    #[test]
    fn run_ids_must_name_containers() {
        assert!(check_run_id("20240101-120000-ab12").is_ok());
        assert!(check_run_id("a_b.c").is_ok());
        assert!(check_run_id("-x").is_err());
        assert!(check_run_id("a b").is_err());
        assert!(check_run_id("").is_err());
    }
}
