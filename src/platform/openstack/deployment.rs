//! One deployment on a cloud: a port per instance (so every address is known before
//! any instance boots), the floating IP, the servers (sub-services first, the
//! calculator last with its peers' addresses in user_data), a watcher polling their
//! status every 250 ms for the startup phases, and a teardown in dependency order
//! (floating IP, servers, ports, router, networks, security group) that lists
//! afterwards to prove
//! nothing is left.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;

use super::api;
use super::client::Client;
use super::host;
use crate::measure::resources;
use crate::platform::{Deployment, PlatformError, ResourceSample};

/// Status polling period while waiting for ACTIVE (the bound: ≤ 250 ms).
pub const POLL: Duration = Duration::from_millis(250);

/// How long teardown waits for Nova to finish deleting the servers.
const DELETE_TIMEOUT: Duration = Duration::from_secs(240);

/// What the status watcher has seen, with the host instant it saw it.
#[derive(Debug, Default)]
struct Seen {
    active: BTreeMap<String, Instant>,
    ports_active: BTreeMap<String, Instant>,
    /// The first server that went to ERROR, with Nova's fault.
    error: Option<String>,
}

pub struct OpenStackDeployment {
    pub(super) client: Arc<Client>,
    /// `virtbench-<run-id>-d<n>-`: every server and port of this deployment.
    pub(super) prefix: String,
    pub(super) run_tag: String,
    /// (role, server id), in creation order.
    pub(super) servers: Vec<(String, String)>,
    /// (role, port id, fixed IP).
    pub(super) ports: Vec<(String, String, String)>,
    pub(super) floating_ips: Vec<String>,
    pub(super) security_groups: Vec<String>,
    /// Created with `network = "create"`.
    pub(super) routers: Vec<String>,
    pub(super) networks: Vec<String>,
    pub(super) endpoint: Option<SocketAddr>,
    pub(super) phases: Vec<(String, Duration)>,
    /// When Nova had accepted the last server create.
    pub(super) accepted_at: Option<Instant>,
    pub(super) details: BTreeMap<String, String>,
    seen: Arc<Mutex<Seen>>,
    watcher: Option<tokio::task::JoinHandle<()>>,
    qemu_pids: Mutex<Vec<u32>>,
}

impl OpenStackDeployment {
    pub fn new(client: Arc<Client>, prefix: String, run_tag: String) -> Self {
        OpenStackDeployment {
            client,
            prefix,
            run_tag,
            servers: Vec::new(),
            ports: Vec::new(),
            floating_ips: Vec::new(),
            security_groups: Vec::new(),
            routers: Vec::new(),
            networks: Vec::new(),
            endpoint: None,
            phases: Vec::new(),
            accepted_at: None,
            details: BTreeMap::new(),
            seen: Arc::default(),
            watcher: None,
            qemu_pids: Mutex::new(Vec::new()),
        }
    }

    /// Start polling server and port status until every one is ACTIVE (or a server
    /// fails): the ACTIVE and port-ACTIVE phase boundaries, and a fast failure.
    pub fn watch(&mut self) {
        let client = self.client.clone();
        let seen = self.seen.clone();
        let regex = format!("^{}", self.prefix);
        let servers: Vec<String> = self.servers.iter().map(|s| s.1.clone()).collect();
        let ports: Vec<String> = self.ports.iter().map(|p| p.1.clone()).collect();
        let port_query = format!(
            "?{}",
            ports
                .iter()
                .map(|p| format!("id={p}"))
                .collect::<Vec<_>>()
                .join("&")
        );
        self.watcher = Some(tokio::spawn(async move {
            let mut tick = tokio::time::interval(POLL);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                let (all_active, ports_done) = {
                    let s = seen.lock().unwrap_or_else(|e| e.into_inner());
                    (
                        s.active.len() >= servers.len(),
                        s.ports_active.len() >= ports.len(),
                    )
                };
                if all_active && ports_done {
                    return;
                }
                if !all_active {
                    match api::servers_named(&client, &regex).await {
                        Ok(list) => {
                            let now = Instant::now();
                            let mut s = seen.lock().unwrap_or_else(|e| e.into_inner());
                            for srv in list.iter().filter(|x| servers.contains(&x.id)) {
                                if srv.status == "ACTIVE" {
                                    s.active.entry(srv.id.clone()).or_insert(now);
                                } else if srv.status == "ERROR" && s.error.is_none() {
                                    s.error = Some(format!(
                                        "server {} went to ERROR: {}",
                                        srv.name,
                                        srv.fault.as_deref().unwrap_or("no fault given")
                                    ));
                                    return;
                                }
                            }
                        }
                        Err(e) => tracing::warn!("openstack status poll: {e}"),
                    }
                }
                if !ports_done {
                    match api::ports(&client, &port_query).await {
                        Ok(list) => {
                            let now = Instant::now();
                            let mut s = seen.lock().unwrap_or_else(|e| e.into_inner());
                            for p in list.iter().filter(|p| p.status == "ACTIVE") {
                                s.ports_active.entry(p.id.clone()).or_insert(now);
                            }
                        }
                        Err(e) => tracing::warn!("openstack port poll: {e}"),
                    }
                }
            }
        }));
    }

    fn stop_watching(&mut self) {
        if let Some(w) = self.watcher.take() {
            w.abort();
        }
    }

    pub fn server_ids(&self) -> Vec<String> {
        self.servers.iter().map(|s| s.1.clone()).collect()
    }

    /// Delete in dependency order, then list: an error names what is left.
    pub async fn remove_all(&mut self) -> Result<(), PlatformError> {
        self.stop_watching();
        let c = self.client.clone();
        let mut errors = Vec::new();
        for id in std::mem::take(&mut self.floating_ips) {
            if let Err(e) = api::delete_floating_ip(&c, &id).await {
                errors.push(e.to_string());
            }
        }
        let servers = std::mem::take(&mut self.servers);
        for (_, id) in &servers {
            if let Err(e) = api::delete_server(&c, id).await {
                errors.push(e.to_string());
            }
        }
        // Ports stay attached until Nova has really deleted the instance.
        let regex = format!("^{}", self.prefix);
        let deadline = Instant::now() + DELETE_TIMEOUT;
        if !servers.is_empty() {
            loop {
                match api::servers_named(&c, &regex).await {
                    Ok(l) if l.is_empty() => break,
                    Ok(l) if Instant::now() > deadline => {
                        errors.push(format!(
                            "{} server(s) still there {DELETE_TIMEOUT:?} after delete: {}",
                            l.len(),
                            l.iter()
                                .map(|s| format!("{} ({})", s.name, s.status))
                                .collect::<Vec<_>>()
                                .join(", ")
                        ));
                        break;
                    }
                    Ok(_) => tokio::time::sleep(Duration::from_millis(500)).await,
                    Err(e) => {
                        errors.push(e.to_string());
                        break;
                    }
                }
            }
        }
        for (_, id, _) in std::mem::take(&mut self.ports) {
            if let Err(e) = api::delete_port(&c, &id).await {
                errors.push(e.to_string());
            }
        }
        // The created topology: a router's interfaces hold its subnets.
        for id in std::mem::take(&mut self.routers) {
            let r = async {
                api::remove_router_interfaces(&c, &id).await?;
                api::delete_router(&c, &id).await
            };
            if let Err(e) = r.await {
                errors.push(e.to_string());
            }
        }
        for id in std::mem::take(&mut self.networks) {
            if let Err(e) = api::delete_network(&c, &id).await {
                errors.push(e.to_string());
            }
        }
        // Last: Neutron refuses to delete a group a port is still in.
        for id in std::mem::take(&mut self.security_groups) {
            if let Err(e) = api::delete_security_group(&c, &id).await {
                errors.push(e.to_string());
            }
        }
        // Proof by listing: what carries this deployment's name or the run's tag.
        match leftovers(&c, &self.prefix, &self.run_tag).await {
            Ok(left) if !left.is_empty() => {
                errors.push(format!("left behind: {}", left.join(", ")))
            }
            Ok(_) => {}
            Err(e) => errors.push(format!("listing after teardown: {e}")),
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(PlatformError::Failed(format!(
                "openstack teardown: {}",
                errors.join("; ")
            )))
        }
    }
}

/// Servers, ports and floating IPs of one deployment (by name prefix) still present.
pub async fn leftovers(
    c: &Client,
    prefix: &str,
    run_tag: &str,
) -> Result<Vec<String>, PlatformError> {
    let err = |e: super::client::ApiError| PlatformError::Failed(e.to_string());
    let mut left = Vec::new();
    for s in api::servers_named(c, &format!("^{prefix}"))
        .await
        .map_err(err)?
    {
        left.push(format!("server {}", s.name));
    }
    let query = format!("?tags={}", api::q(run_tag));
    // Other deployments of the same run may exist (experiments): by name.
    for p in api::ports(c, &query).await.map_err(err)? {
        if p.name.starts_with(prefix) {
            left.push(format!("port {}", p.name));
        }
    }
    for f in api::floating_ips(c, &query).await.map_err(err)? {
        if f.description.starts_with(prefix) {
            left.push(format!("floating IP {}", f.address));
        }
    }
    for g in api::security_groups(c, &query).await.map_err(err)? {
        if g.name.starts_with(prefix) {
            left.push(format!("security group {}", g.name));
        }
    }
    for r in api::routers(c, &query).await.map_err(err)? {
        if r.name.starts_with(prefix) {
            left.push(format!("router {}", r.name));
        }
    }
    for n in api::networks(c, &query).await.map_err(err)? {
        if n.name.starts_with(prefix) {
            left.push(format!("network {}", n.name));
        }
    }
    Ok(left)
}

#[async_trait]
impl Deployment for OpenStackDeployment {
    fn endpoint(&self) -> SocketAddr {
        self.endpoint
            .expect("an OpenStack deployment is returned only once its address is known")
    }

    fn deploy_phases(&self) -> Vec<(String, Duration)> {
        self.phases.clone()
    }

    /// active: API accepted to the last server ACTIVE; port_active: to its port ACTIVE
    /// (when later); first_answer: to the first correct answer. Boundaries are the
    /// watcher's observations (polled every 250 ms), so each is late by at most one
    /// period plus one API call.
    async fn ready_phases(&mut self) -> Vec<(String, Duration)> {
        let now = Instant::now();
        self.stop_watching();
        let Some(accepted) = self.accepted_at else {
            return Vec::new();
        };
        let s = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        let active = s.active.values().max().copied().unwrap_or(now).min(now);
        let port = s
            .ports_active
            .values()
            .max()
            .copied()
            .unwrap_or(active)
            .clamp(active, now);
        self.details.insert(
            "servers_active_at_first_answer".into(),
            format!("{}/{}", s.active.len(), self.servers.len()),
        );
        drop(s);
        vec![
            ("active".into(), active.saturating_duration_since(accepted)),
            ("port_active".into(), port.saturating_duration_since(active)),
            ("first_answer".into(), now.saturating_duration_since(port)),
        ]
    }

    async fn sample(&self) -> Result<ResourceSample, PlatformError> {
        let pids = {
            let mut cached = self.qemu_pids.lock().unwrap_or_else(|e| e.into_inner());
            if cached.len() < self.servers.len() {
                *cached = host::qemu_pids(&self.server_ids());
            }
            cached.clone()
        };
        if pids.is_empty() {
            return Err(PlatformError::Failed(format!(
                "openstack: memory and CPU not observable: no QEMU process of the {} \
                 instance(s) on this host (a remote cloud shows only the flavor's allocation)",
                self.servers.len()
            )));
        }
        Ok(resources::processes(&pids))
    }

    fn exited(&mut self) -> Option<String> {
        self.seen
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .error
            .clone()
    }

    fn details(&self) -> BTreeMap<String, String> {
        let mut d = self.details.clone();
        // On a local cloud the instances' accelerator is read, not assumed: the devcloud
        // runs them under TCG where nested KVM hangs.
        let pids = {
            let mut cached = self.qemu_pids.lock().unwrap_or_else(|e| e.into_inner());
            if cached.is_empty() {
                *cached = host::qemu_pids(&self.server_ids());
            }
            cached.clone()
        };
        if let Some(a) = pids.iter().find_map(|&pid| host::accelerator(pid)) {
            d.insert("accelerator".into(), a);
        }
        d
    }

    async fn teardown(&mut self) -> Result<(), PlatformError> {
        self.remove_all().await
    }
}

impl Drop for OpenStackDeployment {
    fn drop(&mut self) {
        self.stop_watching();
    }
}
