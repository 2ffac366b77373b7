//! The podman platform: the five services in five containers of the same `FROM scratch`
//! image as docker's (the static calculator as `/calculator`), run by Podman, the
//! daemonless engine (rootful as root, rootless for any other user). Driven through the
//! `podman` CLI with JSON output: each call is its own process, as a user would run it,
//! and there is no service to start (Podman's REST API needs `podman system service`
//! running, which is exactly the daemon Podman does without).
//!
//! Variants (scenario `[podman] networks`):
//! - `podman/bridge`: a network of the run's own (scenario subnet, static addresses),
//!   the calculator's port published on 127.0.0.1 only (NAT + port forwarding);
//! - `podman/host`: the host's network, each role on a free loopback port;
//! - `podman/rootless` (as root, `[podman] rootless = true`): the bridge variant under
//!   an ordinary user's rootless Podman ([`Engine::Rootless`], slirp4netns), beside the
//!   rootful ones: the difference is one the class asks about.
//!
//! Names, addresses and command lines are docker's plan (same image, same topology),
//! so the two engines differ only in what runs them. Every container and network is
//! labelled `virtbench.run=<run-id>` and removed by that label.
//!
//! Resource limits: rootful Podman asks the OCI runtime for RLIMIT_NOFILE and
//! RLIMIT_NPROC of 1048576 in every container; raising a hard limit needs
//! CAP_SYS_RESOURCE, which sandboxes (this one included) withhold, and runc then fails
//! with "error setting rlimit type 7: operation not permitted". Containers are given
//! this process's own open-files limit (what a native service gets) and a modest
//! process limit instead: lowering a limit is always permitted.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use tokio::sync::Mutex;

use super::docker::network::{NetworkMode, Subnet};
use super::privilege;
use super::{Availability, Deployment, Platform, PlatformError, RunContext, Variant};
use crate::artifact::calculator::CalculatorBinary;
use crate::platform::docker::image::{tag_for, BINARY_PATH, LABEL, LABEL_BINARY_SHA};
use crate::results::ArtifactRecord;
use crate::scenario::Scenario;

pub mod deployment;
pub mod faults;
pub mod rootless;

pub use super::docker::{LABEL_ROLE, LABEL_RUN};

/// `probe` gives up after this long: `podman info` is a process of its own that opens
/// the store, and with several podman processes starting on a busy 2-core host it took
/// over 10 s (seen in tests/leftovers.rs, nine runs side by side).
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(30);
/// Process limit of each container (see the module docs).
pub const NPROC_LIMIT: u64 = 4096;

const FIX: &str = "install Podman (`apt-get install podman`); as root virtbench runs it rootful, \
                   as another user rootless (which also needs the package uidmap)";

/// Whose Podman a call goes to.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Engine {
    /// The Podman of the user running virtbench: rootful as root, rootless otherwise.
    #[default]
    Own,
    /// As root: an unprivileged user's rootless Podman (the `podman/rootless` variant),
    /// through `runuser` with the environment a login session gives that user.
    Rootless(rootless::User),
}

impl Engine {
    /// `podman` as this engine's user, with its arguments still to add.
    pub fn command(&self) -> std::process::Command {
        match self {
            Engine::Own => std::process::Command::new("podman"),
            Engine::Rootless(u) => {
                let mut c = std::process::Command::new("runuser");
                c.args(["-u", &u.name, "--", "env"])
                    .arg(format!("HOME={}", u.home))
                    .arg(format!("XDG_RUNTIME_DIR={}", u.runtime_dir()))
                    .arg("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
                    .arg("podman")
                    // root's working directory is not the user's to read.
                    .current_dir("/");
                c
            }
        }
    }

    /// The key of this engine's image store ("" for virtbench's own user).
    fn key(&self) -> String {
        match self {
            Engine::Own => String::new(),
            Engine::Rootless(u) => u.name.clone(),
        }
    }

    /// Make the user's runtime directory if no login session has (logind makes it at
    /// login, 0700, owned by the user): rootless Podman keeps its network namespace
    /// and locks there.
    pub fn ensure_runtime_dir(&self) -> Result<(), PlatformError> {
        let Engine::Rootless(u) = self else {
            return Ok(());
        };
        let dir = std::path::PathBuf::from(u.runtime_dir());
        if dir.is_dir() {
            return Ok(());
        }
        use std::os::unix::fs::PermissionsExt;
        std::fs::create_dir_all(&dir)
            .and_then(|()| std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)))
            .and_then(|()| std::os::unix::fs::chown(&dir, Some(u.uid), None))
            .map_err(PlatformError::io(format!(
                "podman: the runtime directory {} of {}",
                dir.display(),
                u.name
            )))
    }
}

/// Run `podman args...`; its stdout on success, else one line with the command and
/// podman's own last error line.
pub async fn podman(args: &[String]) -> Result<String, PlatformError> {
    podman_on(&Engine::Own, args, None).await
}

/// [`podman`] on `engine`, with `stdin` read from a file when given.
pub async fn podman_on(
    engine: &Engine,
    args: &[String],
    stdin: Option<&std::path::Path>,
) -> Result<String, PlatformError> {
    let input = match stdin {
        Some(path) => std::fs::File::open(path)
            .map(std::process::Stdio::from)
            .map_err(PlatformError::io(format!("opening {}", path.display())))?,
        None => std::process::Stdio::null(),
    };
    let output = tokio::process::Command::from(engine.command())
        .args(args)
        .stdin(input)
        .kill_on_drop(true)
        .output()
        .await
        .map_err(PlatformError::io(format!(
            "podman: running `podman {}`",
            args.first().map(String::as_str).unwrap_or("")
        )))?;
    if output.status.success() {
        return Ok(String::from_utf8_lossy(&output.stdout).into_owned());
    }
    let stderr = String::from_utf8_lossy(&output.stderr);
    let last = stderr
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("(no message)")
        .trim();
    Err(PlatformError::Failed(format!(
        "podman {}: {last}",
        shown(args)
    )))
}

/// The command line in an error: the subcommand and its first arguments.
fn shown(args: &[String]) -> String {
    let mut s = args.iter().take(6).cloned().collect::<Vec<_>>().join(" ");
    if args.len() > 6 {
        s.push_str(" ...");
    }
    s
}

/// `podman` with string-slice arguments.
pub async fn run(args: &[&str]) -> Result<String, PlatformError> {
    run_on(&Engine::Own, args).await
}

/// [`run`] on `engine`.
pub async fn run_on(engine: &Engine, args: &[&str]) -> Result<String, PlatformError> {
    podman_on(
        engine,
        &args.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
        None,
    )
    .await
}

/// Parse podman's `--format json` output.
pub fn json(context: &str, text: &str) -> Result<serde_json::Value, PlatformError> {
    serde_json::from_str(text).map_err(PlatformError::backend(format!("podman: {context}")))
}

/// Ids (or names, for networks) of a run's resources, each with `" <name>"` for a
/// container (else empty), its density copies'
/// (`<run id>-c<k>`) included (every virtbench one when `None`).
async fn labelled(
    engine: &Engine,
    kind: &str,
    run_id: Option<&str>,
) -> Result<Vec<(String, String)>, PlatformError> {
    // Every resource with a run label; the run's are picked by the label's value.
    let filter = match run_id {
        Some(_) => format!("label={LABEL_RUN}"),
        None => format!("label={LABEL}"),
    };
    // Podman 4 spells the network's keys in lower case, the container's capitalised.
    let (args, key, labels): (Vec<&str>, &str, &str) = match kind {
        "container" => (
            vec!["ps", "-a", "--filter", &filter, "--format", "json"],
            "Id",
            "Labels",
        ),
        _ => (
            vec!["network", "ls", "--filter", &filter, "--format", "json"],
            "name",
            "labels",
        ),
    };
    let text = run_on(engine, &args).await?;
    let found = json(&format!("listing {kind}s labelled {filter}"), &text)?;
    Ok(found
        .as_array()
        .into_iter()
        .flatten()
        .filter(|c| {
            let of = c
                .get(labels)
                .and_then(|l| l.get(LABEL_RUN))
                .and_then(|v| v.as_str());
            run_id.is_none() || of.is_some_and(|of| super::run_ids::of_run(of, run_id))
        })
        .filter_map(|c| {
            let id = c.get(key).and_then(|v| v.as_str())?.to_string();
            // A container's name, for the listing a user reads (its id is what rm takes).
            let name = c
                .get("Names")
                .and_then(|n| n.get(0))
                .and_then(|n| n.as_str())
                .map(|n| format!(" {n}"))
                .unwrap_or_default();
            Some((id, name))
        })
        .collect())
}

/// Names of the run's containers and networks still present (tests prove teardown by
/// this listing), in virtbench's own user's store.
pub async fn leftovers(run_id: &str) -> Result<Vec<String>, PlatformError> {
    listing(&Engine::Own, Some(run_id)).await
}

/// [`leftovers`] of a run and its density copies, or of every run when `None`, in
/// `engine`'s store; a rootless user's say whose store they are in.
async fn listing(engine: &Engine, run_id: Option<&str>) -> Result<Vec<String>, PlatformError> {
    let whose = match engine {
        Engine::Own => String::new(),
        Engine::Rootless(u) => format!(" (rootless, in {}'s store)", u.name),
    };
    let mut out: Vec<String> = labelled(engine, "container", run_id)
        .await?
        .into_iter()
        .map(|(id, name)| format!("container {id}{name}{whose}"))
        .collect();
    out.extend(
        labelled(engine, "network", run_id)
            .await?
            .into_iter()
            .map(|(n, _)| format!("network {n}{whose}")),
    );
    Ok(out)
}

/// Force-remove every container, then every network, labelled with `run_id` (all of
/// virtbench's when `None`) in `engine`'s store. Returns how many were removed.
/// Idempotent.
pub async fn remove_labelled(
    engine: &Engine,
    run_id: Option<&str>,
) -> Result<usize, PlatformError> {
    let mut removed = 0;
    let containers = labelled(engine, "container", run_id).await?;
    if !containers.is_empty() {
        let mut args = vec!["rm", "--force", "--time", "0"];
        args.extend(containers.iter().map(|(id, _)| id.as_str()));
        run_on(engine, &args).await?;
        removed += containers.len();
    }
    let networks = labelled(engine, "network", run_id).await?;
    if !networks.is_empty() {
        let mut args = vec!["network", "rm", "--force"];
        args.extend(networks.iter().map(|(n, _)| n.as_str()));
        run_on(engine, &args).await?;
        removed += networks.len();
    }
    Ok(removed)
}

/// Where root notes the users whose rootless Podman it ran the `podman/rootless`
/// variant as: `cleanup` looks in their stores too (and in no other user's).
pub const ROOTLESS_USERS: &str = "/var/lib/virtbench/podman-rootless-users";

/// The stores `cleanup` looks in: its own, and as root those of [`ROOTLESS_USERS`].
fn engines_to_clean() -> Vec<Engine> {
    let mut out = vec![Engine::Own];
    if privilege::is_root() {
        let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
        let noted = std::fs::read_to_string(ROOTLESS_USERS).unwrap_or_default();
        out.extend(
            noted
                .lines()
                .filter_map(|n| rootless::lookup(&passwd, n.trim()))
                .filter(|u| u.uid != 0)
                .map(Engine::Rootless)
                // Its Podman needs the runtime directory even to list (after a reboot
                // no login may have made it yet).
                .filter(|e| e.ensure_runtime_dir().is_ok()),
        );
    }
    out
}

/// Note `user` in [`ROOTLESS_USERS`] (once) before anything is created in its store.
fn note_rootless_user(user: &rootless::User) -> Result<(), PlatformError> {
    let noted = std::fs::read_to_string(ROOTLESS_USERS).unwrap_or_default();
    if noted.lines().any(|l| l.trim() == user.name) {
        return Ok(());
    }
    let path = std::path::Path::new(ROOTLESS_USERS);
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)
            .map_err(PlatformError::io(format!("creating {}", dir.display())))?;
    }
    use std::io::Write;
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .and_then(|mut f| writeln!(f, "{}", user.name))
        .map_err(PlatformError::io(format!("writing {ROOTLESS_USERS}")))
}

/// The calculator image in Podman's store, imported once per binary.
#[derive(Debug, Clone, PartialEq)]
pub struct PodmanImage {
    pub tag: String,
    pub bytes: u64,
    pub build_ms: Option<f64>,
    pub cached: bool,
}

impl PodmanImage {
    pub fn record(&self) -> ArtifactRecord {
        crate::platform::docker::image::image_record(
            "podman-image",
            &self.tag,
            self.bytes,
            self.build_ms,
            self.cached,
        )
    }
}

/// A root filesystem holding only the binary as `/calculator` (mode 0755), as a tar.
pub fn rootfs_tar(binary: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut builder = tar::Builder::new(Vec::with_capacity(binary.len() + 2048));
    let mut header = tar::Header::new_gnu();
    header.set_size(binary.len() as u64);
    header.set_mode(0o755);
    header.set_mtime(0);
    header.set_entry_type(tar::EntryType::Regular);
    header.set_cksum();
    builder.append_data(&mut header, BINARY_PATH.trim_start_matches('/'), binary)?;
    builder.into_inner()
}

/// Reuse `virtbench-calculator:<sha12>` in Podman's store, or import it: the image
/// docker builds `FROM scratch` is one layer holding the binary and an entrypoint, so
/// `podman import` of that one-file root filesystem with the same entrypoint and labels
/// gives the same image without going through Docker (Podman stays usable on a host
/// without a Docker engine).
pub async fn ensure_image(
    engine: &Engine,
    binary: &CalculatorBinary,
    work_dir: &std::path::Path,
) -> Result<PodmanImage, PlatformError> {
    let tag = tag_for(&binary.sha256);
    let size = |tag: String| async move {
        let text = run_on(engine, &["image", "inspect", "--format", "{{.Size}}", &tag]).await?;
        Ok::<u64, PlatformError>(text.trim().parse().unwrap_or(0))
    };
    let present = run_on(
        engine,
        &[
            "image",
            "inspect",
            "--format",
            &format!("{{{{index .Labels \"{LABEL_BINARY_SHA}\"}}}}"),
            &tag,
        ],
    )
    .await
    .is_ok_and(|sha| sha.trim() == binary.sha256);
    if present {
        return Ok(PodmanImage {
            bytes: size(tag.clone()).await?,
            tag,
            build_ms: None,
            cached: true,
        });
    }
    let bytes = tokio::fs::read(&binary.path)
        .await
        .map_err(PlatformError::io(format!(
            "reading {}",
            binary.path.display()
        )))?;
    let tar = rootfs_tar(&bytes).map_err(PlatformError::io("podman: assembling the rootfs tar"))?;
    tokio::fs::create_dir_all(work_dir)
        .await
        .map_err(PlatformError::io(format!(
            "creating {}",
            work_dir.display()
        )))?;
    let path = work_dir.join("podman-rootfs.tar");
    tokio::fs::write(&path, tar)
        .await
        .map_err(PlatformError::io(format!("writing {}", path.display())))?;
    let started = Instant::now();
    // Through stdin: the file is root's, the rootless engine's user need not read it.
    let result = podman_on(
        engine,
        &[
            "import".to_string(),
            "--change".to_string(),
            format!("ENTRYPOINT [\"{BINARY_PATH}\"]"),
            "--change".to_string(),
            format!("LABEL {LABEL}=1"),
            "--change".to_string(),
            format!("LABEL {LABEL_BINARY_SHA}={}", binary.sha256),
            "-".to_string(),
            tag.clone(),
        ],
        Some(&path),
    )
    .await;
    let _ = tokio::fs::remove_file(&path).await;
    result?;
    let build_ms = started.elapsed().as_secs_f64() * 1e3;
    tracing::info!(%tag, build_ms, "podman: calculator image imported");
    Ok(PodmanImage {
        bytes: size(tag.clone()).await?,
        tag,
        build_ms: Some(build_ms),
        cached: false,
    })
}

/// What `podman info --format json` says of an engine, as the probe's details.
fn info_details(text: &str) -> Result<BTreeMap<String, String>, PlatformError> {
    let info = json("info", text)?;
    let s = |path: &[&str]| {
        let mut v = &info;
        for p in path {
            v = v.get(p).unwrap_or(&serde_json::Value::Null);
        }
        match v {
            serde_json::Value::String(s) => s.clone(),
            serde_json::Value::Null => String::new(),
            other => other.to_string(),
        }
    };
    let details = BTreeMap::from([
        ("version".to_string(), s(&["version", "Version"])),
        (
            "network_backend".to_string(),
            s(&["host", "networkBackend"]),
        ),
        ("cgroup_version".to_string(), s(&["host", "cgroupVersion"])),
        ("cgroup_manager".to_string(), s(&["host", "cgroupManager"])),
        (
            "oci_runtime".to_string(),
            s(&["host", "ociRuntime", "name"]),
        ),
        (
            "storage_driver".to_string(),
            s(&["store", "graphDriverName"]),
        ),
        // What podman itself says: rootful as root, rootless otherwise.
        ("rootless".to_string(), s(&["host", "security", "rootless"])),
    ]);
    Ok(details)
}

/// The podman platform.
#[derive(Default)]
pub struct Podman {
    /// The calculator image per store ([`Engine::key`]).
    images: Mutex<BTreeMap<String, PodmanImage>>,
    /// `podman info` of each rootless user's engine (by [`Engine::key`]): the probe's
    /// details are root's engine's.
    engine_info: Mutex<BTreeMap<String, BTreeMap<String, String>>>,
    /// The run whose conmon-kill trial already ran (once per run, like docker's C7).
    faults_of: Mutex<Option<String>>,
}

impl std::fmt::Debug for Podman {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Podman").finish_non_exhaustive()
    }
}

/// The label of the variant that runs rootless beside rootful when root runs virtbench.
pub const ROOTLESS_VARIANT: &str = "podman/rootless";

impl Podman {
    async fn image(&self, ctx: &RunContext, engine: &Engine) -> Result<PodmanImage, PlatformError> {
        let mut slot = self.images.lock().await;
        if let Some(image) = slot.get(&engine.key()) {
            return Ok(image.clone());
        }
        let binary = crate::artifact::calculator::binary().await?;
        let image = ensure_image(engine, binary, &ctx.work_dir).await?;
        slot.insert(engine.key(), image.clone());
        Ok(image)
    }

    /// The engine a variant runs on; Err: why the rootless user cannot be had, with the
    /// fix.
    fn engine(scenario: &Scenario, variant: &Variant) -> Result<Engine, (String, String)> {
        if variant.get("rootless") != Some("true") {
            return Ok(Engine::Own);
        }
        match rootless::user_for(&scenario.podman.rootless_user) {
            Ok(u) => Ok(Engine::Rootless(u)),
            Err(why) if why.starts_with("rootless Podman for") => Err((why, rootless::FIX.into())),
            Err(why) => Err((why, rootless::USER_FIX.into())),
        }
    }
}

#[async_trait]
impl Platform for Podman {
    fn name(&self) -> &'static str {
        "podman"
    }

    fn facts(&self) -> super::facts::Facts {
        super::facts::Facts::container("Podman")
            .ships_in("podman-image")
            .helper_kill("conmon_kill")
    }

    async fn probe(&self) -> Availability {
        if !privilege::is_root() {
            if let Some(missing) = rootless::missing() {
                return Availability::Unavailable {
                    reason: format!("rootless Podman for {}: {missing}", privilege::user_name()),
                    fix: format!("{}; or {}", rootless::FIX, privilege::RUN_AS_ROOT),
                };
            }
        }
        let attempt = run(&["info", "--format", "json"]);
        match tokio::time::timeout(PROBE_TIMEOUT, attempt).await {
            Ok(Ok(text)) => {
                let details = match info_details(&text) {
                    Ok(d) => d,
                    Err(e) => {
                        return Availability::Unavailable {
                            reason: e.to_string(),
                            fix: FIX.into(),
                        }
                    }
                };
                Availability::Available { details }
            }
            Ok(Err(e)) => Availability::Unavailable {
                reason: e.to_string(),
                fix: FIX.into(),
            },
            Err(_) => Availability::Unavailable {
                reason: format!("podman info did not answer within {PROBE_TIMEOUT:?}"),
                fix: FIX.into(),
            },
        }
    }

    fn variants(&self, scenario: &Scenario) -> Vec<Variant> {
        let mut out: Vec<Variant> = scenario
            .podman
            .networks
            .iter()
            .map(|n| Variant::on_network(self.name(), n, &scenario.podman.subnet))
            .collect();
        // As root, rootless beside rootful: an unprivileged user's Podman on a network
        // of its own (slirp4netns), port published on 127.0.0.1. For any other user the
        // variants above are rootless already.
        if scenario.podman.rootless && privilege::is_root() {
            out.push(Variant::new(
                ROOTLESS_VARIANT,
                &[
                    ("network", "bridge"),
                    ("subnet", &scenario.podman.subnet),
                    ("rootless", "true"),
                ],
            ));
        }
        out
    }

    fn variant_unavailable(&self, scenario: &Scenario, variant: &Variant) -> Option<String> {
        Self::engine(scenario, variant)
            .err()
            .map(|(why, fix)| format!("variant {}: {why}; fix: {fix}", variant.label))
    }

    fn needs_root(&self, _scenario: &Scenario, _variant: &Variant) -> Vec<privilege::RootOnly> {
        // Rootless Podman runs the variants; the LAN PC of the outside probe does not.
        if privilege::is_root() {
            return Vec::new();
        }
        vec![privilege::outside_experiment()]
    }

    async fn prepare(&self, ctx: &RunContext) -> Result<Vec<ArtifactRecord>, PlatformError> {
        let binary = crate::artifact::calculator::binary().await?;
        let image = self.image(ctx, &Engine::Own).await?;
        let mut out = vec![binary.record(), image.record()];
        // The rootless user's store gets its own copy, imported here so that no
        // startup of the rootless variant includes the import.
        for v in self.variants(&ctx.scenario) {
            if let Ok(engine @ Engine::Rootless(_)) = Self::engine(&ctx.scenario, &v) {
                engine.ensure_runtime_dir()?;
                let info = info_details(&run_on(&engine, &["info", "--format", "json"]).await?)?;
                self.engine_info.lock().await.insert(engine.key(), info);
                out.push(self.image(ctx, &engine).await?.record());
            }
        }
        Ok(out)
    }

    async fn deploy(
        &self,
        ctx: &RunContext,
        variant: &Variant,
    ) -> Result<Box<dyn Deployment>, PlatformError> {
        super::docker::deployment::check_run_id(&ctx.run_id)?;
        let mode = match variant.get("network").unwrap_or("bridge") {
            "bridge" => {
                let text = variant.get("subnet").unwrap_or(&ctx.scenario.podman.subnet);
                NetworkMode::Bridge {
                    subnet: Subnet::parse(text).map_err(PlatformError::Failed)?,
                }
            }
            "host" => NetworkMode::Host,
            other => {
                return Err(PlatformError::at(
                    "podman",
                    format!("variant {}", variant.label),
                    format!("unknown network {other:?} (expected bridge or host)"),
                ))
            }
        };
        let engine = Self::engine(&ctx.scenario, variant).map_err(|(why, fix)| {
            PlatformError::at(
                "podman",
                format!("variant {}", variant.label),
                format!("{why}; fix: {fix}"),
            )
        })?;
        if let Engine::Rootless(u) = &engine {
            engine.ensure_runtime_dir()?;
            note_rootless_user(u)?;
        }
        let image = self.image(ctx, &engine).await?;
        let (host_port, role_ports) = super::docker::pick_ports(&mode, None)?;
        let plan = super::docker::deployment::plan(&ctx.run_id, mode, host_port, &role_ports)?;
        let info = self
            .engine_info
            .lock()
            .await
            .get(&engine.key())
            .cloned()
            .unwrap_or_default();
        let d = deployment::deploy(engine, plan, &image.tag, &ctx.cancel).await?;
        Ok(Box::new(d.with_engine_details(info)))
    }

    async fn extras(
        &self,
        ctx: &RunContext,
        deployment: &mut dyn Deployment,
    ) -> Result<BTreeMap<String, crate::stats::Series>, PlatformError> {
        let engine = match deployment.details().get("rootless_user") {
            Some(name) => {
                let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
                rootless::lookup(&passwd, name).map_or(Engine::Own, Engine::Rootless)
            }
            None => Engine::Own,
        };
        let mut out = deployment::facts(&engine, &ctx.run_id, deployment.endpoint()).await?;
        let mut done = self.faults_of.lock().await;
        // The conmon kill runs on virtbench's own engine, once per run.
        if ctx.scenario.podman.faults
            && engine == Engine::Own
            && done.as_deref() != Some(ctx.run_id.as_str())
        {
            *done = Some(ctx.run_id.clone());
            let image = self.image(ctx, &Engine::Own).await?;
            match faults::run(&ctx.run_id, &image.tag, &ctx.cancel).await {
                Ok(series) => out.extend(series),
                Err(PlatformError::Cancelled) => return Err(PlatformError::Cancelled),
                // The other experiments stand; the trial reads "not measured".
                Err(e) => tracing::warn!(error = %e, "podman: conmon-kill fault test failed"),
            }
        }
        Ok(out)
    }

    async fn leftovers(&self, run_id: Option<&str>) -> Result<Option<Vec<String>>, PlatformError> {
        if self.leftovers_impossible().is_some() {
            return Ok(Some(Vec::new()));
        }
        let mut out = Vec::new();
        for engine in engines_to_clean() {
            out.extend(listing(&engine, run_id).await?);
        }
        Ok(Some(out))
    }

    fn leftovers_impossible(&self) -> Option<String> {
        crate::artifact::disk::which("podman")
            .is_none()
            .then(|| "podman is not installed: no container of it can exist".into())
    }

    async fn cleanup(&self, run_id: Option<&str>) -> Result<usize, PlatformError> {
        // No podman here: nothing of ours can exist in its store.
        if crate::artifact::disk::which("podman").is_none() {
            return Ok(0);
        }
        let mut removed = 0;
        for engine in engines_to_clean() {
            removed += remove_labelled(&engine, run_id).await?;
        }
        if removed > 0 {
            tracing::info!(removed, run = ?run_id, "podman: cleanup removed leftovers");
        }
        Ok(removed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn variants_follow_scenario_networks() {
        let s: Scenario = toml::from_str("name = \"t\"\nplatforms = [\"podman\"]\n").unwrap();
        let v = Podman::default().variants(&s);
        assert_eq!(v.len(), 2);
        assert_eq!(v[0].label, "podman/bridge");
        assert_eq!(v[0].get("subnet"), Some("10.216.0.0/24"));
        assert_eq!(v[1].label, "podman/host");
    }

    #[test]
    fn rootfs_holds_only_the_executable_binary() {
        let tar_bytes = rootfs_tar(b"\x7fELF-fake").unwrap();
        let mut archive = tar::Archive::new(&tar_bytes[..]);
        let entries: Vec<(String, u32)> = archive
            .entries()
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                (
                    e.path().unwrap().display().to_string(),
                    e.header().mode().unwrap(),
                )
            })
            .collect();
        assert_eq!(entries, [("calculator".to_string(), 0o755)]);
    }
}
