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
    /// Status polls that failed, and the longest time between two that answered: a
    /// phase boundary is uncertain by that much (said in the details, not hidden).
    poll_failures: u32,
    longest_gap: std::time::Duration,
    last_answered: Option<Instant>,
}

impl Seen {
    fn answered(&mut self, at: Instant) {
        if let Some(prev) = self.last_answered {
            self.longest_gap = self.longest_gap.max(at - prev);
        }
        self.last_answered = Some(at);
    }
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
    /// Do not look for the instances' processes on this host: the harness run as on a
    /// remote cloud (tests of remote mode on the devcloud).
    pub(super) remote: bool,
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
            remote: false,
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
                            s.answered(now);
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
                        Err(e) => {
                            seen.lock().unwrap_or_else(|e| e.into_inner()).poll_failures += 1;
                            tracing::warn!("openstack status poll: {e}")
                        }
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
                        Err(e) => {
                            seen.lock().unwrap_or_else(|e| e.into_inner()).poll_failures += 1;
                            tracing::warn!("openstack port poll: {e}")
                        }
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

/// What of one deployment (by its name prefix; a floating IP by its description) is
/// still on the cloud, every list read in full.
pub async fn leftovers(
    c: &Client,
    prefix: &str,
    run_tag: &str,
) -> Result<Vec<String>, PlatformError> {
    let scope = super::cleanup::Scope::Deployment {
        prefix: prefix.to_string(),
        run_tag: run_tag.to_string(),
    };
    let (found, errors) = super::cleanup::find(c, &scope).await;
    if !errors.is_empty() {
        return Err(PlatformError::Failed(errors.join("; ")));
    }
    Ok(found.iter().map(|f| f.label.clone()).collect())
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
        // The ports' own ACTIVE, as observed: recorded as measured (from the accepted
        // create), and a phase of the sequence only for the part after the servers'
        // ACTIVE (a driver that binds ports at once makes that part zero, and the
        // details say so rather than showing a clamped 0 as a measurement).
        let ports_seen = s.ports_active.len();
        let port_seen_at = (ports_seen >= self.ports.len())
            .then(|| s.ports_active.values().max().copied())
            .flatten();
        let port = port_seen_at.unwrap_or(active).clamp(active, now);
        self.details.insert(
            "servers_active_at_first_answer".into(),
            format!("{}/{}", s.active.len(), self.servers.len()),
        );
        self.details.insert(
            "ports_active_at_first_answer".into(),
            format!("{ports_seen}/{}", self.ports.len()),
        );
        match port_seen_at {
            Some(p) => {
                self.details.insert(
                    "ports_active_after_create_ms".into(),
                    format!(
                        "{:.0}",
                        p.saturating_duration_since(accepted).as_secs_f64() * 1000.0
                    ),
                );
                self.details.insert(
                    "ports_active_order".into(),
                    if p <= active {
                        "before the servers' ACTIVE (port_active phase: 0 by order, not clamped)"
                    } else {
                        "after the servers' ACTIVE"
                    }
                    .into(),
                );
            }
            None => {
                self.details.insert(
                    "ports_active_order".into(),
                    "not every port ACTIVE by the first answer".into(),
                );
            }
        }
        self.details.insert(
            "status_polls".into(),
            format!(
                "every {} ms; {} failed; longest gap between answered polls {:.0} ms",
                POLL.as_millis(),
                s.poll_failures,
                s.longest_gap.as_secs_f64() * 1000.0
            ),
        );
        drop(s);
        vec![
            ("active".into(), active.saturating_duration_since(accepted)),
            ("port_active".into(), port.saturating_duration_since(active)),
            ("first_answer".into(), now.saturating_duration_since(port)),
        ]
    }

    async fn sample(&self) -> Result<ResourceSample, PlatformError> {
        let pids = self.local_pids();
        if pids.is_empty() {
            return Err(PlatformError::NotObservable(format!(
                "openstack: memory and CPU of a remote cloud's instances: no QEMU \
                 process of the {} instance(s) on this host (the flavor's allocation is \
                 in the details)",
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
        // Local or remote is what this host shows: the instances' QEMU processes here,
        // or not (whatever cloud it is, wherever its state directory).
        let pids = self.local_pids();
        let local = !pids.is_empty();
        d.insert(
            "cloud_location".into(),
            if local { "local" } else { "remote" }.into(),
        );
        d.insert(
            "memory_scope".into(),
            if local {
                host::SCOPE.to_string()
            } else {
                format!(
                    "not observable on a remote cloud (no QEMU process of its instances on \
                     this host); allocation: {}",
                    d.get("flavor_allocation").cloned().unwrap_or_default()
                )
            },
        );
        // On a local cloud the instances' accelerator is read, not assumed: the devcloud
        // runs them under TCG where nested KVM hangs.
        if let Some(a) = pids.iter().find_map(|&pid| host::accelerator(pid)) {
            d.insert("accelerator".into(), a);
        }
        d
    }

    async fn teardown(&mut self) -> Result<(), PlatformError> {
        self.remove_all().await
    }
}

impl OpenStackDeployment {
    /// The QEMU processes of this deployment's instances on this host (none on a
    /// remote cloud, or in remote mode), found once all are there.
    pub fn local_pids(&self) -> Vec<u32> {
        if self.remote {
            return Vec::new();
        }
        let mut cached = self.qemu_pids.lock().unwrap_or_else(|e| e.into_inner());
        if cached.len() < self.servers.len() {
            *cached = host::qemu_pids(&self.server_ids());
        }
        cached.clone()
    }
}

impl Drop for OpenStackDeployment {
    fn drop(&mut self) {
        self.stop_watching();
    }
}
