//! The docker platform: the five services in five containers of a `FROM scratch` image,
//! driven through the engine API (bollard; `DOCKER_HOST` honoured), measured from the
//! host.
//!
//! Variants (scenario `[docker] networks`):
//! - `docker/bridge`: a user-defined bridge network per run (scenario subnet, static
//!   addresses), the calculator's port published on 127.0.0.1 only: NAT + port
//!   forwarding, the lab's set-up.
//! - `docker/host`: the host's network, no NAT; each role on a free loopback port.
//! - `docker/routed`: the lab's routed topology (C15): sub-services on one network
//!   (10.5.7.0/24), the calculator on another (10.5.8.0/24, port published on
//!   127.0.0.1), a router container on both forwarding between them; each service adds
//!   its route to the other tier at start (`--route`, CAP_NET_ADMIN).
//!
//! A variant setting `host_port` pins the calculator's 127.0.0.1 port (tests use it to
//! provoke a port conflict). One deployment per run at a time: containers are named
//! `vb-<run-id>-<role>` and removed by the label `virtbench.run=<run-id>`.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use async_trait::async_trait;
use bollard::query_parameters::{
    ListContainersOptionsBuilder, ListImagesOptionsBuilder, ListNetworksOptionsBuilder,
    RemoveContainerOptionsBuilder, RemoveImageOptionsBuilder,
};
use bollard::Docker as Engine;
use futures_util::future::join_all;
use tokio::sync::{Mutex, OnceCell};

use super::privilege::{self, RootOnly};
use super::{Availability, Deployment, Platform, PlatformError, RunContext, Variant};
use crate::platform::docker::image::{self as image_artifact, CalculatorImage, LABEL};
use crate::results::ArtifactRecord;
use crate::scenario::Scenario;

pub mod deployment;
mod extras;
pub mod faults;
pub mod image;
pub use extras::{facts, noisy_neighbour};
pub mod network;
pub mod private_engine;
pub mod service_kill;
pub mod stats;

use network::{NetworkMode, Subnet};

/// Label holding the run id on every container, network and experiment image.
pub const LABEL_RUN: &str = "virtbench.run";
/// Label holding the calculator role of a container.
pub const LABEL_ROLE: &str = "virtbench.role";
/// A silent socket: the engine is taken as absent when it does not even agree on an
/// API version within this long.
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(3);
/// A busy engine: `info` walks every container, image and network, and may take
/// seconds on a loaded host (many runs starting at once): slow is not absent.
pub const INFO_TIMEOUT: Duration = Duration::from_secs(30);

const FIX: &str = "install the engine (`apt-get install docker.io`) and start it \
                   (`dockerd >/var/log/dockerd.log 2>&1 &`, or `systemctl start docker`), \
                   or point DOCKER_HOST at a running engine";

/// Labels of a run's resources: `virtbench=1`, `virtbench.run=<id>` and the role.
pub fn labels(run_id: &str, role: Option<&str>) -> HashMap<String, String> {
    let mut l = HashMap::from([
        (LABEL.to_string(), "1".to_string()),
        (LABEL_RUN.to_string(), run_id.to_string()),
    ]);
    if let Some(r) = role {
        l.insert(LABEL_ROLE.to_string(), r.to_string());
    }
    l
}

/// One line for an engine error: the server's message rather than bollard's generic
/// wording ("Docker stream error").
pub fn engine_error(context: &str, e: &bollard::errors::Error) -> PlatformError {
    use bollard::errors::Error as E;
    let detail = match e {
        E::DockerResponseServerError {
            status_code,
            message,
        } => format!("engine answered {status_code}: {}", message.trim()),
        E::DockerStreamError { error } => error.trim().to_string(),
        E::SocketNotFoundError(path) => format!("no engine socket at {path}"),
        E::RequestTimeoutError => "the engine did not answer in time".to_string(),
        other => {
            let mut s = other.to_string();
            let mut src = std::error::Error::source(other);
            while let Some(inner) = src {
                // hyper's messages already repeat their source's: add only what is new.
                let text = inner.to_string();
                if !s.contains(&text) {
                    s.push_str(": ");
                    s.push_str(&text);
                }
                src = inner.source();
            }
            s
        }
    };
    PlatformError::at("docker", context, detail)
}

/// Connect as the docker CLI would (`DOCKER_HOST`, else the local socket) and agree on
/// an API version the engine speaks (Debian's 20.10 tops out at 1.41).
pub async fn connect() -> Result<Engine, PlatformError> {
    let host =
        std::env::var("DOCKER_HOST").unwrap_or_else(|_| "unix:///var/run/docker.sock".into());
    let engine = Engine::connect_with_defaults()
        .map_err(|e| engine_error(&format!("connecting to {host}"), &e))?;
    match tokio::time::timeout(PROBE_TIMEOUT, engine.negotiate_version()).await {
        Ok(Ok(engine)) => Ok(engine),
        Ok(Err(e)) => Err(engine_error(&format!("engine at {host}"), &e)),
        Err(_) => Err(PlatformError::Timeout {
            what: format!("docker: an answer from the engine at {host}"),
            after: PROBE_TIMEOUT,
        }),
    }
}

/// Force-remove every container, then every network, labelled with `run_id` (every
/// virtbench container and network when `None`); with `images`, also the experiment
/// images of the run (the cached calculator image has no run label and is kept).
/// Returns how many resources were removed. Idempotent.
pub async fn remove_labelled(
    engine: &Engine,
    run_id: &str,
    images: bool,
) -> Result<usize, PlatformError> {
    remove_matching(engine, &format!("{LABEL_RUN}={run_id}"), images).await
}

async fn remove_matching(
    engine: &Engine,
    label: &str,
    images: bool,
) -> Result<usize, PlatformError> {
    let filters = HashMap::from([("label".to_string(), vec![label.to_string()])]);
    let containers = engine
        .list_containers(Some(
            ListContainersOptionsBuilder::default()
                .all(true)
                .filters(&filters)
                .build(),
        ))
        .await
        .map_err(|e| engine_error(&format!("listing containers labelled {label}"), &e))?;
    let removals = containers
        .iter()
        .filter_map(|c| c.id.clone())
        .map(|id| async move {
            let options = RemoveContainerOptionsBuilder::default()
                .force(true)
                .v(true)
                .link(false)
                .build();
            match engine.remove_container(&id, Some(options)).await {
                Ok(()) => Ok(1),
                Err(e) if gone(&e) => Ok(0),
                Err(e) => Err(engine_error(&format!("removing container {id}"), &e)),
            }
        });
    let mut removed = 0;
    let mut first_error = None;
    for r in join_all(removals).await {
        match r {
            Ok(n) => removed += n,
            Err(e) => {
                first_error.get_or_insert(e);
            }
        }
    }

    let networks = engine
        .list_networks(Some(
            ListNetworksOptionsBuilder::default()
                .filters(&filters)
                .build(),
        ))
        .await
        .map_err(|e| engine_error(&format!("listing networks labelled {label}"), &e))?;
    for n in networks {
        let Some(id) = n.id else { continue };
        match remove_network(engine, &id).await {
            Ok(n) => removed += n,
            Err(e) => {
                first_error.get_or_insert(e);
            }
        }
    }

    if images {
        let found = engine
            .list_images(Some(
                ListImagesOptionsBuilder::default()
                    .filters(&filters)
                    .build(),
            ))
            .await
            .map_err(|e| engine_error(&format!("listing images labelled {label}"), &e))?;
        for image in found {
            let options = RemoveImageOptionsBuilder::default()
                .force(true)
                .noprune(false)
                .build();
            match engine.remove_image(&image.id, Some(options), None).await {
                Ok(_) => removed += 1,
                Err(e) if gone(&e) => {}
                Err(e) => {
                    first_error
                        .get_or_insert(engine_error(&format!("removing image {}", image.id), &e));
                }
            }
        }
    }
    match first_error {
        Some(e) => Err(e),
        None => Ok(removed),
    }
}

/// Remove a network; the engine may still be releasing the endpoints of containers
/// removed a moment ago, so retry briefly.
async fn remove_network(engine: &Engine, id: &str) -> Result<usize, PlatformError> {
    let mut attempt = 0;
    loop {
        match engine.remove_network(id).await {
            Ok(()) => return Ok(1),
            Err(e) if gone(&e) => return Ok(0),
            Err(e) if attempt < 20 => {
                tracing::debug!(%id, error = %e, "docker: network busy, retrying");
                attempt += 1;
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(e) => return Err(engine_error(&format!("removing network {id}"), &e)),
        }
    }
}

/// The engine says the resource no longer exists (or is already being removed).
fn gone(e: &bollard::errors::Error) -> bool {
    matches!(
        e,
        bollard::errors::Error::DockerResponseServerError {
            status_code: 404,
            ..
        }
    ) || matches!(
        e,
        bollard::errors::Error::DockerResponseServerError { status_code: 409, message }
            if message.contains("already in progress")
    )
}

/// The docker platform.
#[derive(Default)]
pub struct Docker {
    engine: OnceCell<(Engine, String)>,
    image: Mutex<Option<CalculatorImage>>,
    /// Which run the image experiments (commit, build, save/load) were measured for.
    /// They involve the image, not the network: measured once per run, on its first
    /// variant, instead of again for every network variant.
    image_experiments_of: Mutex<Option<String>>,
}

impl std::fmt::Debug for Docker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Docker").finish_non_exhaustive()
    }
}

impl Docker {
    /// The engine client and the engine's version, connected once.
    async fn engine(&self) -> Result<&(Engine, String), PlatformError> {
        self.engine
            .get_or_try_init(|| async {
                let engine = connect().await?;
                let version = engine
                    .version()
                    .await
                    .map_err(|e| engine_error("engine version", &e))?
                    .version
                    .unwrap_or_default();
                Ok((engine, version))
            })
            .await
    }

    /// The calculator image, built (or found) once per process.
    async fn image(&self) -> Result<CalculatorImage, PlatformError> {
        let mut slot = self.image.lock().await;
        if let Some(image) = slot.as_ref() {
            return Ok(image.clone());
        }
        let (engine, _) = self.engine().await?;
        let binary = crate::artifact::calculator::binary().await?;
        let image = image_artifact::ensure(engine, binary).await?;
        *slot = Some(image.clone());
        Ok(image)
    }
}

#[async_trait]
impl Platform for Docker {
    fn name(&self) -> &'static str {
        "docker"
    }

    fn facts(&self) -> super::facts::Facts {
        super::facts::Facts::container("Docker")
            .ships_in("docker-image")
            .helper_kill("dockerd_kill")
    }

    async fn probe(&self) -> Availability {
        let host =
            std::env::var("DOCKER_HOST").unwrap_or_else(|_| "unix:///var/run/docker.sock".into());
        let attempt = async {
            // `connect` bounds the wait for a silent socket by itself.
            let engine = connect().await?;
            let info = engine
                .info()
                .await
                .map_err(|e| engine_error("engine info", &e))?;
            let version = engine
                .version()
                .await
                .map_err(|e| engine_error("engine version", &e))?;
            Ok::<_, PlatformError>((info, version, engine.client_version()))
        };
        match tokio::time::timeout(PROBE_TIMEOUT + INFO_TIMEOUT, attempt).await {
            Ok(Ok((info, version, api))) => {
                let mut details = BTreeMap::new();
                details.insert("docker_host".into(), host);
                details.insert("engine_version".into(), version.version.unwrap_or_default());
                details.insert("api_version".into(), api.to_string());
                if let Some(v) = info.cgroup_version {
                    details.insert("cgroup_version".into(), v.to_string());
                }
                if let Some(d) = info.cgroup_driver {
                    details.insert("cgroup_driver".into(), d.to_string());
                }
                if let Some(d) = info.driver {
                    details.insert("storage_driver".into(), d);
                }
                // Who may use the engine: anyone who can open its socket is root on
                // this host in effect (the engine runs containers as root for them).
                let access = if privilege::is_root() {
                    "root".to_string()
                } else if privilege::in_group("docker") {
                    format!("{} through the docker group", privilege::user_name())
                } else {
                    format!("{} (socket permissions)", privilege::user_name())
                };
                details.insert("access".into(), access);
                Availability::Available { details }
            }
            // A student's account outside the docker group: the socket refuses it.
            Ok(Err(e)) if !privilege::is_root() && e.to_string().contains("ermission denied") => {
                Availability::Unavailable {
                    reason: format!(
                        "{e} ({} is not in the docker group this process holds)",
                        privilege::user_name()
                    ),
                    fix: format!(
                        "add the user to the docker group (`sudo adduser {} docker`, then log in \
                         again), or {}",
                        privilege::user_name(),
                        privilege::RUN_AS_ROOT
                    ),
                }
            }
            Ok(Err(e)) => Availability::Unavailable {
                reason: e.to_string(),
                fix: FIX.into(),
            },
            Err(_) => Availability::Unavailable {
                reason: format!(
                    "docker: the engine at {host} answered but gave no info within {INFO_TIMEOUT:?}"
                ),
                fix: FIX.into(),
            },
        }
    }

    fn variants(&self, scenario: &Scenario) -> Vec<Variant> {
        scenario
            .docker
            .networks
            .iter()
            .map(|n| {
                let mut v = Variant::on_network(self.name(), n, &scenario.docker.subnet);
                if n == "routed" {
                    // The report's C15 rule picks routed variants by this key.
                    v.settings.insert("topology".into(), "routed".into());
                    v.settings.insert(
                        "services_subnet".into(),
                        scenario.docker.routed_services_subnet.clone(),
                    );
                    v.settings.insert(
                        "calculator_subnet".into(),
                        scenario.docker.routed_calculator_subnet.clone(),
                    );
                }
                v
            })
            .collect()
    }

    async fn prepare(&self, _ctx: &RunContext) -> Result<Vec<ArtifactRecord>, PlatformError> {
        let binary = crate::artifact::calculator::binary().await?;
        let image = self.image().await?;
        Ok(vec![binary.record(), image.record()])
    }

    async fn deploy(
        &self,
        ctx: &RunContext,
        variant: &Variant,
    ) -> Result<Box<dyn Deployment>, PlatformError> {
        deployment::check_run_id(&ctx.run_id)?;
        let mode = match variant.get("network").unwrap_or("bridge") {
            "bridge" => {
                let text = variant.get("subnet").unwrap_or(&ctx.scenario.docker.subnet);
                NetworkMode::Bridge {
                    subnet: Subnet::parse(text).map_err(PlatformError::Failed)?,
                }
            }
            "host" => NetworkMode::Host,
            "routed" => {
                let subnet = |key: &str, default: &str| {
                    Subnet::parse(variant.get(key).unwrap_or(default))
                        .map_err(|e| PlatformError::Failed(format!("{key}: {e}")))
                };
                let d = &ctx.scenario.docker;
                NetworkMode::Routed {
                    services: subnet("services_subnet", &d.routed_services_subnet)?,
                    front: subnet("calculator_subnet", &d.routed_calculator_subnet)?,
                }
            }
            other => {
                return Err(PlatformError::at(
                    "docker",
                    format!("variant {}", variant.label),
                    format!("unknown network {other:?} (expected bridge, host or routed)"),
                ))
            }
        };
        let pinned = match variant.get("host_port") {
            Some(p) => Some(p.parse::<u16>().map_err(|_| {
                PlatformError::at(
                    "docker",
                    format!("variant {}", variant.label),
                    format!("host_port {p:?} is not a port number"),
                )
            })?),
            None => None,
        };
        let image = self.image().await?;
        let (engine, version) = self.engine().await?;
        let (host_port, role_ports) = pick_ports(&mode, pinned)?;
        let plan = deployment::plan(&ctx.run_id, mode, host_port, &role_ports)?;
        let d =
            deployment::deploy(engine.clone(), plan, &image, version.clone(), &ctx.cancel).await?;
        Ok(Box::new(d))
    }

    async fn extras(
        &self,
        ctx: &RunContext,
        deployment: &mut dyn Deployment,
    ) -> Result<BTreeMap<String, crate::stats::Series>, PlatformError> {
        let image = self.image().await?;
        let (engine, _) = self.engine().await?;
        let binary = crate::artifact::calculator::binary().await?;
        // Facts first, while nothing else runs beside the deployment.
        let mut out = extras::facts(engine, &ctx.run_id, deployment.endpoint()).await?;
        // One experiment's failure never discards another's figures: each is kept or
        // logged on its own (the claims it feeds then read "not measured" with the log).
        match extras::noisy_neighbour(
            engine,
            &ctx.run_id,
            &image.tag,
            deployment.endpoint(),
            ctx.scenario.experiments.noise_windows,
        )
        .await
        {
            Ok(series) => out.extend(series),
            Err(PlatformError::Cancelled) => return Err(PlatformError::Cancelled),
            Err(e) => tracing::warn!(error = %e, "docker: noisy-neighbour test (C6) failed"),
        }
        let mut done = self.image_experiments_of.lock().await;
        if done.as_deref() != Some(ctx.run_id.as_str()) {
            match extras::run(engine, &ctx.run_id, &binary.path, &image.tag).await {
                Ok(series) => out.extend(series),
                Err(PlatformError::Cancelled) => return Err(PlatformError::Cancelled),
                Err(e) => tracing::warn!(error = %e, "docker: image experiments (C5, C12) failed"),
            }
            // C7 kills an engine: a private one, once per run like the image
            // experiments (it does not depend on the variant's network).
            if ctx.scenario.docker.faults {
                match private_engine::PrivateEngine::unsupported() {
                    Some(why) => {
                        tracing::warn!(%why, "docker: daemon-kill fault test (C7) skipped")
                    }
                    None => match faults::run(engine, &ctx.run_id, &image, &ctx.cancel).await {
                        Ok(series) => out.extend(series),
                        Err(PlatformError::Cancelled) => return Err(PlatformError::Cancelled),
                        // The other experiments stand; C7 reads "not measured".
                        Err(e) => {
                            tracing::warn!(error = %e, "docker: daemon-kill fault test (C7) failed")
                        }
                    },
                }
            }
            // Last: it kills and restarts one of this deployment's containers.
            if ctx.scenario.experiments.service_kill {
                match service_kill::run(engine, &ctx.run_id, deployment.endpoint(), &ctx.cancel)
                    .await
                {
                    Ok(series) => out.extend(series),
                    Err(PlatformError::Cancelled) => return Err(PlatformError::Cancelled),
                    Err(e) => {
                        tracing::warn!(error = %e, "docker: sub-service kill test failed")
                    }
                }
            }
            *done = Some(ctx.run_id.clone());
        }
        Ok(out)
    }

    async fn leftovers(&self, run_id: Option<&str>) -> Result<Option<Vec<String>>, PlatformError> {
        let mut out = Vec::new();
        // The private engines first: they are there even when the user's engine is down.
        let id = run_id.map(str::to_string);
        out.extend(
            tokio::task::spawn_blocking(move || private_engine::leftovers(id.as_deref()))
                .await
                .unwrap_or_default(),
        );
        out.extend(
            crate::measure::outside::namespaces(run_id)
                .into_iter()
                .map(|ns| format!("network namespace {ns}")),
        );
        let (engine, _) = self.engine().await?;
        let labels = match run_id {
            Some(id) => run_ids_on_engine(engine, id)
                .await?
                .into_iter()
                .map(|found| format!("{LABEL_RUN}={found}"))
                .collect(),
            None => vec![LABEL.to_string()],
        };
        for label in labels {
            out.extend(listed(engine, &label, run_id.is_some()).await?);
        }
        if run_id.is_none() {
            out.extend(listed_images(engine, LABEL_RUN).await?);
        }
        Ok(Some(out))
    }

    fn needs_root(&self, scenario: &Scenario, _variant: &Variant) -> Vec<RootOnly> {
        if privilege::is_root() {
            return Vec::new();
        }
        let mut out = vec![privilege::outside_experiment()];
        if scenario.docker.faults {
            out.push(RootOnly::experiment(
                "daemon kill (C7) on a private Docker engine",
                "a second dockerd with its own data-root, exec-root and containerd",
            ));
        }
        out
    }

    async fn cleanup(&self, run_id: Option<&str>) -> Result<usize, PlatformError> {
        let (engine, _) = self.engine().await?;
        let removed = match run_id {
            // The run and its density copies, each by its exact label.
            Some(id) => {
                let mut n = 0;
                for found in run_ids_on_engine(engine, id).await? {
                    n += remove_labelled(engine, &found, true).await?;
                }
                n
            }
            // Images with a run label are experiment leftovers; the cached calculator
            // image has none and is kept.
            None => {
                remove_matching(engine, LABEL, false).await?
                    + remove_matching(engine, LABEL_RUN, true).await?
            }
        };
        let removed = removed
            + crate::measure::outside::cleanup(run_id).await?
            + tokio::task::spawn_blocking({
                let id = run_id.map(str::to_string);
                move || private_engine::cleanup(id.as_deref())
            })
            .await
            .unwrap_or(0);
        if removed > 0 {
            tracing::info!(removed, run = ?run_id, "docker: cleanup removed leftovers");
        }
        Ok(removed)
    }
}

/// The run ids on the engine's resources that belong to run `run_id`: itself and its
/// density copies (`<run id>-c<k>`), which carry labels of their own.
async fn run_ids_on_engine(engine: &Engine, run_id: &str) -> Result<Vec<String>, PlatformError> {
    let filters = HashMap::from([("label".to_string(), vec![LABEL_RUN.to_string()])]);
    let mut found: Vec<String> = Vec::new();
    let containers = engine
        .list_containers(Some(
            ListContainersOptionsBuilder::default()
                .all(true)
                .filters(&filters)
                .build(),
        ))
        .await
        .map_err(|e| engine_error("listing containers", &e))?;
    found.extend(
        containers
            .into_iter()
            .filter_map(|c| c.labels?.remove(LABEL_RUN)),
    );
    let networks = engine
        .list_networks(Some(
            ListNetworksOptionsBuilder::default()
                .filters(&filters)
                .build(),
        ))
        .await
        .map_err(|e| engine_error("listing networks", &e))?;
    found.extend(
        networks
            .into_iter()
            .filter_map(|n| n.labels?.remove(LABEL_RUN)),
    );
    let images = engine
        .list_images(Some(
            ListImagesOptionsBuilder::default()
                .filters(&filters)
                .build(),
        ))
        .await
        .map_err(|e| engine_error("listing images", &e))?;
    found.extend(
        images
            .into_iter()
            .filter_map(|mut i| i.labels.remove(LABEL_RUN)),
    );
    Ok(super::run_ids::matching(
        found.iter().map(String::as_str),
        Some(run_id),
    ))
}

/// Containers and networks labelled `label` (and images too with `images`), one line
/// each, as `cleanup --dry-run` prints them.
async fn listed(engine: &Engine, label: &str, images: bool) -> Result<Vec<String>, PlatformError> {
    let mut out = Vec::new();
    let filters = HashMap::from([("label".to_string(), vec![label.to_string()])]);
    let containers = engine
        .list_containers(Some(
            ListContainersOptionsBuilder::default()
                .all(true)
                .filters(&filters)
                .build(),
        ))
        .await
        .map_err(|e| engine_error("listing containers", &e))?;
    for c in containers {
        let name = c.names.unwrap_or_default().join(",");
        out.push(format!("container {} {name}", c.id.unwrap_or_default()));
    }
    let networks = engine
        .list_networks(Some(
            ListNetworksOptionsBuilder::default()
                .filters(&filters)
                .build(),
        ))
        .await
        .map_err(|e| engine_error("listing networks", &e))?;
    for n in networks {
        out.push(format!("network {}", n.name.unwrap_or_default()));
    }
    if images {
        out.extend(listed_images(engine, label).await?);
    }
    Ok(out)
}

/// Images labelled `label`: experiment images carry a run label; the cached calculator
/// image has none and is kept.
async fn listed_images(engine: &Engine, label: &str) -> Result<Vec<String>, PlatformError> {
    let filters = HashMap::from([("label".to_string(), vec![label.to_string()])]);
    let images = engine
        .list_images(Some(
            ListImagesOptionsBuilder::default()
                .filters(&filters)
                .build(),
        ))
        .await
        .map_err(|e| engine_error("listing images", &e))?;
    Ok(images
        .into_iter()
        .map(|i| format!("image {}", i.repo_tags.join(",")))
        .collect())
}

/// Ports on 127.0.0.1: the calculator's endpoint, and in host mode one per role (in
/// ROLES order), each distinct. They come from `free_loopback_port`, below the kernel's
/// ephemeral range: a port from that range (what binding port 0 gave) was taken as the
/// source port of some other connection between being picked and the container
/// binding it (seen in CI: "127.0.0.1:34661 ... Address already in use").
pub fn pick_ports(
    mode: &NetworkMode,
    pinned: Option<u16>,
) -> Result<(u16, Vec<u16>), PlatformError> {
    let next = || -> Result<u16, PlatformError> {
        crate::platform::free_loopback_port()
            .map_err(PlatformError::io("docker: finding a free 127.0.0.1 port"))
    };
    let calc = match pinned {
        Some(p) => p,
        None => next()?,
    };
    let roles = match mode {
        NetworkMode::Bridge { .. } | NetworkMode::Routed { .. } => Vec::new(),
        NetworkMode::Host => super::ROLES
            .iter()
            .map(|r| if *r == "calculator" { Ok(calc) } else { next() })
            .collect::<Result<_, _>>()?,
    };
    Ok((calc, roles))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn variants_follow_scenario_networks() {
        let mut s: Scenario = toml::from_str("name = \"t\"\nplatforms = [\"docker\"]\n").unwrap();
        let v = Docker::default().variants(&s);
        assert_eq!(v.len(), 2);
        assert_eq!(v[0].label, "docker/bridge");
        assert_eq!(v[0].get("subnet"), Some("10.213.0.0/24"));
        assert_eq!(v[1].label, "docker/host");
        assert_eq!(v[1].get("network"), Some("host"));
        s.docker.networks = vec!["host".into()];
        assert_eq!(Docker::default().variants(&s).len(), 1);
        s.docker.networks = vec!["routed".into()];
        let v = Docker::default().variants(&s);
        assert_eq!(v[0].label, "docker/routed");
        assert_eq!(v[0].get("topology"), Some("routed"));
        assert_eq!(v[0].get("services_subnet"), Some("10.5.7.0/24"));
        assert_eq!(v[0].get("calculator_subnet"), Some("10.5.8.0/24"));
    }

    #[test]
    fn host_mode_ports_are_distinct() {
        let (calc, roles) = pick_ports(&NetworkMode::Host, None).unwrap();
        assert_eq!(roles[4], calc);
        let mut sorted = roles.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(sorted.len(), 5);
    }

    #[test]
    fn labels_carry_run_and_role() {
        let l = labels("r9", Some("div"));
        assert_eq!(l["virtbench"], "1");
        assert_eq!(l["virtbench.run"], "r9");
        assert_eq!(l["virtbench.role"], "div");
        assert!(!labels("r9", None).contains_key("virtbench.role"));
    }
}
