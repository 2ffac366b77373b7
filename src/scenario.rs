//! Scenario files (`scenarios/*.toml`): what to deploy, how often, and what load to
//! send. Parsing rejects unknown fields and impossible values with one line naming the
//! file, the field and the value.

mod locate;

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// Platform names a scenario may select, in report order.
pub const PLATFORMS: [&str; 7] = [
    "native",
    "docker",
    "podman",
    "lxc",
    "qemu",
    "virtualbox",
    "openstack",
];

#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    #[error("{path}: cannot read: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// Not TOML at all, or a problem no field can be named for.
    #[error("{}: {message}", at(path, *line))]
    Parse {
        path: PathBuf,
        line: Option<usize>,
        message: String,
    },
    #[error("{}: field `{field}` is missing", at(path, *line))]
    Missing {
        path: PathBuf,
        line: Option<usize>,
        field: String,
    },
    /// A value of the wrong type, out of range, or an unknown key.
    #[error("{}: field `{field}` = {value}: {reason}", at(path, *line))]
    Invalid {
        path: PathBuf,
        /// The field's line when the file sets it (a default has none).
        line: Option<usize>,
        field: String,
        value: String,
        reason: String,
    },
}

/// `file:line`, or the file alone when no line applies.
fn at(path: &Path, line: Option<usize>) -> String {
    match line {
        Some(l) => format!("{}:{l}", path.display()),
        None => path.display().to_string(),
    }
}

/// A scenario file. Every section is optional, and a section may set only some of its
/// fields: the others keep their defaults.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    pub name: String,
    #[serde(default)]
    pub description: String,
    /// Platforms to measure; those the host lacks are reported as unavailable.
    pub platforms: Vec<String>,
    #[serde(default)]
    pub workload: Workload,
    #[serde(default)]
    pub startup: Startup,
    #[serde(default)]
    pub idle: Idle,
    #[serde(default)]
    pub load: Load,
    #[serde(default)]
    pub throughput: Throughput,
    #[serde(default)]
    pub experiments: Experiments,
    /// When a measured figure has enough samples (docs/stopping.md).
    #[serde(default)]
    pub stopping: Stopping,
    /// The density experiment: N copies side by side. Absent: not run.
    #[serde(default)]
    pub density: Option<Density>,
    #[serde(default)]
    pub docker: DockerOptions,
    #[serde(default)]
    pub podman: PodmanOptions,
    #[serde(default)]
    pub lxc: LxcOptions,
    #[serde(default)]
    pub qemu: QemuOptions,
    #[serde(default)]
    pub virtualbox: VirtualBoxOptions,
    #[serde(default)]
    pub openstack: OpenStackOptions,
}

/// A scenario section: a struct whose every field has a default, the default written
/// beside the field it belongs to. A file may set any subset of a section's fields;
/// an unknown one is an error naming it.
macro_rules! section {
    (
        $(#[$meta:meta])*
        pub struct $name:ident {
            $( $(#[$field_meta:meta])* pub $field:ident : $ty:ty = $default:expr ),* $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
        #[serde(deny_unknown_fields, default)]
        pub struct $name {
            $( $(#[$field_meta])* pub $field: $ty, )*
        }

        impl Default for $name {
            fn default() -> Self {
                $name { $( $field: $default, )* }
            }
        }
    };
}

/// `vec!["a".into(), ...]` for a list of option strings.
fn strings<const N: usize>(items: [&str; N]) -> Vec<String> {
    items.map(String::from).to_vec()
}

section! {
    pub struct Workload {
        /// Expressions sent round-robin; the expected answer is computed locally.
        pub expressions: Vec<String> = strings(["(5+3)/2"]),
    }
}

section! {
    pub struct Startup {
        /// Fresh deployments measured (create call to first correct answer).
        pub repetitions: u32 = 5,
        /// Give up on one deployment after this long.
        pub timeout_s: f64 = 120.0,
    }
}

section! {
    /// When to stop repeating a measured figure. "sequential": each figure (startup,
    /// the idle window, each load window, the throughput run) goes on until its own
    /// spread is below `target`, or a rule given by the caller decides it, or its
    /// budget is spent: `startup.repetitions` deployments or `budget_s` seconds for
    /// startup (at least 3 deployments), the scenario's window lengths for the
    /// windows. "fixed": exactly `startup.repetitions` deployments and the full
    /// windows, as runs before sequential stopping did (for comparisons with them).
    pub struct Stopping {
        pub mode: String = "sequential".into(),
        /// Relative spread at which a figure is known well enough: the half-width of
        /// the 95 % interval of its median over the median (startup, throughput), the
        /// difference between the two halves of a window (p50 and p99 of a load
        /// window, memory and CPU rate of the idle window).
        pub target: f64 = 0.05,
        /// Seconds of startup deployments after which no new one is started (once
        /// the minimum of 3 is reached).
        pub budget_s: f64 = 60.0,
    }
}

impl Stopping {
    /// The fixed-count mode of runs before sequential stopping.
    pub fn is_fixed(&self) -> bool {
        self.mode == "fixed"
    }
}

section! {
    /// The platform experiments behind claims C3-C13 (run after the load windows).
    pub struct Experiments {
        /// One-second p99 windows per condition of the noisy-neighbour test (C6): quiet,
        /// beside a disk-only sibling, beside a CPU-only sibling. Fewer is quicker and
        /// noisier.
        pub noise_windows: usize = crate::measure::noise::WINDOWS,
        /// Kill the `mul` sub-service under load, without and with a restart policy
        /// (native and docker; about 20 s per platform).
        pub service_kill: bool = false,
    }
}

section! {
    /// Density: for each platform listed, start `counts` copies of the calculator side
    /// by side, and measure each copy's startup, the host memory of all, and the
    /// latency of copy 1 at `rate_rps` while the others idle.
    pub struct Density {
        /// Numbers of copies, ascending.
        pub counts: Vec<u32> = vec![1, 2, 4, 8],
        /// Platforms swept (those the scenario also selects). Default: the baseline,
        /// the lab's container engine and its hypervisor (by their place in PLATFORMS,
        /// where platform names are given).
        pub platforms: Vec<String> = [0, 1, 4].map(|i| PLATFORMS[i].to_string()).to_vec(),
        /// A platform's sweep stops before a step whose projected memory (the copies'
        /// and the platform's fixed cost) would exceed this.
        pub memory_budget_mib: u64 = 4096,
        /// A platform's sweep stops before a step projected to end past this.
        pub time_budget_s: f64 = 180.0,
        /// Open-loop rate sent to copy 1 at each step.
        pub rate_rps: f64 = 50.0,
        pub duration_s: f64 = 3.0,
    }
}

section! {
    pub struct Idle {
        /// Idle window over which memory and CPU are sampled with no requests.
        pub window_s: f64 = 5.0,
        /// Sampling interval within the window.
        pub interval_ms: u64 = 250,
    }
}

section! {
    pub struct Load {
        /// Open-loop constant rates, requests per second; one latency result each.
        pub rates_rps: Vec<f64> = vec![100.0],
        pub duration_s: f64 = 10.0,
        /// Requests sent before measuring, not counted.
        pub warmup_s: f64 = 1.0,
        /// Keep-alive connections the load generator spreads requests over.
        pub connections: usize = 8,
        /// A request slower than this counts as an error.
        pub timeout_ms: u64 = 2000,
    }
}

section! {
    pub struct Throughput {
        /// Closed-loop run; 0 disables it.
        pub duration_s: f64 = 5.0,
        pub connections: usize = 8,
    }
}

section! {
    pub struct DockerOptions {
        /// "bridge" (published port: NAT + port forwarding, as in the lab), "host",
        /// and/or "routed" (sub-services and calculator on two networks joined by a
        /// router).
        pub networks: Vec<String> = strings(["bridge", "host"]),
        /// Subnet of the per-run user-defined bridge network.
        pub subnet: String = "10.213.0.0/24".into(),
        /// Routed variant: the sub-services' network.
        pub routed_services_subnet: String = "10.5.7.0/24".into(),
        /// Routed variant: the calculator's network.
        pub routed_calculator_subnet: String = "10.5.8.0/24".into(),
        /// Claim C7: kill the daemon of a private engine (never the user's) under load.
        pub faults: bool = false,
    }
}

section! {
    pub struct PodmanOptions {
        /// "bridge" (a network of the run's own, port published on 127.0.0.1) and/or
        /// "host".
        pub networks: Vec<String> = strings(["bridge", "host"]),
        /// Subnet of the per-run network (apart from docker's: both may run side by
        /// side).
        pub subnet: String = "10.216.0.0/24".into(),
        /// Podman's side of C7: `kill -9` the calculator container's conmon under load.
        pub faults: bool = false,
        /// As root, also `podman/rootless`: an unprivileged user's rootless Podman beside
        /// the rootful variants (for another user every variant is rootless already).
        pub rootless: bool = false,
        /// That user (else `SUDO_USER`); never root, never created by virtbench.
        pub rootless_user: String = String::new(),
    }
}

section! {
    pub struct LxcOptions {
        /// Subnet of the run's bridge (the host holds its first address).
        pub subnet: String = "10.217.0.0/24".into(),
    }
}

section! {
    pub struct QemuOptions {
        /// "per-role" (five VMs, as in the lab) and/or "all-in-one".
        pub topologies: Vec<String> = strings(["per-role", "all-in-one"]),
        /// "kernel" (direct kernel boot) and/or "disk" (BIOS boot of the disk image).
        pub boot: Vec<String> = strings(["kernel"]),
        /// "nat" (user-mode NAT + hostfwd) and/or "bridge".
        pub networks: Vec<String> = strings(["nat"]),
        /// "q35" (a PC: SeaBIOS, PCI) and/or "microvm" (QEMU's minimal machine: qboot,
        /// no PCI, virtio-mmio; direct kernel boot only, so it pairs with boot =
        /// "kernel").
        pub machines: Vec<String> = strings(["q35"]),
        /// Guest kernels the microvm boots: "stock" (the kernel q35 boots: the host's,
        /// or Debian's cloud kernel) and/or "minimal" (built once from Debian's kernel
        /// source with the repository's small configuration). q35 always boots the
        /// stock kernel.
        pub kernels: Vec<String> = strings(["stock"]),
        /// "auto" (probe KVM, fall back to TCG), "kvm" or "tcg".
        pub accelerator: String = "auto".into(),
        pub memory_mib: u32 = 128,
        pub cpus: u32 = 1,
    }
}

section! {
    pub struct VirtualBoxOptions {
        /// Override the VBoxManage executable.
        pub vboxmanage: Option<String> = None,
        /// "per-role" (five VMs, as in the lab) and/or "all-in-one".
        pub topologies: Vec<String> = strings(["per-role", "all-in-one"]),
        /// Per-VM disk over the appliance VDI: "linked" (differencing image) or
        /// "clone" (full copy with clonemedium).
        pub disk: String = "linked".into(),
        /// Disk controller: "sata" (AHCI) or "ide" (PIIX4).
        pub storage: String = "sata".into(),
        /// Guest memory; `qemu.memory_mib` when absent, so both hypervisors get the
        /// same.
        pub memory_mib: Option<u32> = None,
        /// Guest CPUs; `qemu.cpus` when absent.
        pub cpus: Option<u32> = None,
    }
}

section! {
    pub struct OpenStackOptions {
        /// Entry of clouds.yaml; `OS_CLOUD`, then the `OS_*` variables, then the
        /// devcloud's entry apply when empty.
        pub cloud: String = String::new(),
        /// "floating-ip" (as in the lab) or "fixed-ip".
        pub access: String = "floating-ip".into(),
        /// "per-role" (five instances, as in the lab), "all-in-one", and/or "routed"
        /// (per-role, sub-services on `subnet`, the calculator on `calculator_subnet`,
        /// one router between them: needs `network = "create"`).
        pub topologies: Vec<String> = strings(["per-role", "all-in-one"]),
        /// "create": the lab's topology, made per deployment (network, subnet, router
        /// with its gateway on the external network); or an existing network, by name
        /// or id; empty: the one non-external network the project sees. Default
        /// "create", the lab's own topology (seed, objectives 6-9): a cloud that lets a
        /// student create no router needs `network`.
        pub network: String = "create".into(),
        /// Subnet of a created network (the sub-services' in the routed topology).
        pub subnet: String = "10.5.7.0/24".into(),
        /// Routed topology: the calculator's subnet.
        pub calculator_subnet: String = "10.5.8.0/24".into(),
        /// External network floating IPs come from; empty: the only external one.
        pub floating_network: String = String::new(),
        /// Flavor by name or id; empty: the smallest with enough memory for the
        /// appliance.
        pub flavor: String = String::new(),
        /// C13 on the first variant: snapshot, restore and resize, each timed with a
        /// prober (about four minutes under TCG); a short demonstration turns it off.
        pub lifecycle: bool = true,
    }
}

impl Scenario {
    /// Read, parse and validate a scenario file.
    pub fn load(path: &Path) -> Result<(Scenario, String), ScenarioError> {
        let text = std::fs::read_to_string(path).map_err(|source| ScenarioError::Read {
            path: path.to_owned(),
            source,
        })?;
        let scenario = Scenario::parse(path, &text)?;
        Ok((scenario, text))
    }

    pub fn parse(path: &Path, text: &str) -> Result<Scenario, ScenarioError> {
        let scenario: Scenario =
            toml::from_str(text).map_err(|e| located_toml_error(path, text, &e))?;
        scenario.validate(path).map_err(|e| match e {
            // Validation knows the field, not where it is written: add the line.
            ScenarioError::Invalid {
                path,
                line: None,
                field,
                value,
                reason,
            } => ScenarioError::Invalid {
                line: locate::line_of_field(text, &field),
                path,
                field,
                value,
                reason,
            },
            other => other,
        })?;
        Ok(scenario)
    }

    fn validate(&self, path: &Path) -> Result<(), ScenarioError> {
        let bad = |field: &str, value: String, reason: &str| ScenarioError::Invalid {
            path: path.to_owned(),
            line: None,
            field: field.into(),
            value,
            reason: reason.into(),
        };
        if self.platforms.is_empty() {
            return Err(bad(
                "platforms",
                "[]".into(),
                "select at least one platform",
            ));
        }
        for p in &self.platforms {
            if !PLATFORMS.contains(&p.as_str()) {
                return Err(bad(
                    "platforms",
                    format!("{p:?}"),
                    &format!(
                        "unknown platform (expected one of {})",
                        PLATFORMS.join(", ")
                    ),
                ));
            }
        }
        if let Some(d) = &self.density {
            if d.counts.is_empty()
                || d.counts.contains(&0)
                || !d.counts.windows(2).all(|w| w[0] < w[1])
            {
                return Err(bad(
                    "density.counts",
                    format!("{:?}", d.counts),
                    "give ascending numbers of copies, each at least 1",
                ));
            }
            let known: Vec<&str> = PLATFORMS.to_vec();
            one_of(&d.platforms, &known, "density.platforms", path)?;
            if d.memory_budget_mib == 0 {
                return Err(bad(
                    "density.memory_budget_mib",
                    "0".into(),
                    "must be at least 1",
                ));
            }
            positive(&d.time_budget_s, "density.time_budget_s", path)?;
            positive(&d.rate_rps, "density.rate_rps", path)?;
            positive(&d.duration_s, "density.duration_s", path)?;
        }
        if !(1..=20).contains(&self.experiments.noise_windows) {
            return Err(bad(
                "experiments.noise_windows",
                self.experiments.noise_windows.to_string(),
                "expected 1 to 20 one-second windows",
            ));
        }
        if self.workload.expressions.is_empty() {
            return Err(bad(
                "workload.expressions",
                "[]".into(),
                "give at least one expression",
            ));
        }
        for e in &self.workload.expressions {
            if let Err(err) = calculator::expr::evaluate_local(e) {
                return Err(bad(
                    "workload.expressions",
                    format!("{e:?}"),
                    &err.to_string(),
                ));
            }
        }
        if self.startup.repetitions == 0 {
            return Err(bad("startup.repetitions", "0".into(), "must be at least 1"));
        }
        positive(&self.startup.timeout_s, "startup.timeout_s", path)?;
        one_of(
            std::slice::from_ref(&self.stopping.mode),
            &["sequential", "fixed"],
            "stopping.mode",
            path,
        )?;
        if !(self.stopping.target > 0.0 && self.stopping.target < 1.0) {
            return Err(bad(
                "stopping.target",
                self.stopping.target.to_string(),
                "expected a fraction of the median between 0 and 1 (0.05 = 5 %)",
            ));
        }
        positive(&self.stopping.budget_s, "stopping.budget_s", path)?;
        positive(&self.idle.window_s, "idle.window_s", path)?;
        if self.idle.interval_ms == 0 {
            return Err(bad("idle.interval_ms", "0".into(), "must be at least 1"));
        }
        if self.load.rates_rps.is_empty() {
            return Err(bad("load.rates_rps", "[]".into(), "give at least one rate"));
        }
        for r in &self.load.rates_rps {
            positive(r, "load.rates_rps", path)?;
        }
        positive(&self.load.duration_s, "load.duration_s", path)?;
        non_negative(&self.load.warmup_s, "load.warmup_s", path)?;
        if self.load.connections == 0 {
            return Err(bad("load.connections", "0".into(), "must be at least 1"));
        }
        if self.load.timeout_ms == 0 {
            return Err(bad("load.timeout_ms", "0".into(), "must be at least 1"));
        }
        non_negative(&self.throughput.duration_s, "throughput.duration_s", path)?;
        if self.throughput.connections == 0 {
            return Err(bad(
                "throughput.connections",
                "0".into(),
                "must be at least 1",
            ));
        }
        one_of(
            &self.docker.networks,
            &["bridge", "host", "routed"],
            "docker.networks",
            path,
        )?;
        subnets(
            &[
                ("docker.subnet", &self.docker.subnet),
                ("lxc.subnet", &self.lxc.subnet),
                ("podman.subnet", &self.podman.subnet),
            ],
            path,
        )?;
        routed_subnets(
            (
                "docker.routed_services_subnet",
                &self.docker.routed_services_subnet,
            ),
            (
                "docker.routed_calculator_subnet",
                &self.docker.routed_calculator_subnet,
            ),
            path,
        )?;
        one_of(
            &self.podman.networks,
            &["bridge", "host"],
            "podman.networks",
            path,
        )?;
        one_of(
            &self.qemu.topologies,
            &["per-role", "all-in-one"],
            "qemu.topologies",
            path,
        )?;
        one_of(&self.qemu.boot, &["kernel", "disk"], "qemu.boot", path)?;
        one_of(
            &self.qemu.networks,
            &["nat", "bridge"],
            "qemu.networks",
            path,
        )?;
        one_of(
            &self.qemu.machines,
            &["q35", "microvm"],
            "qemu.machines",
            path,
        )?;
        one_of(
            &self.qemu.kernels,
            &["stock", "minimal"],
            "qemu.kernels",
            path,
        )?;
        if !self.qemu.machines.iter().any(|m| m == "q35")
            && !self.qemu.boot.iter().any(|b| b == "kernel")
        {
            return Err(bad(
                "qemu.boot",
                format!("{:?}", self.qemu.boot),
                "the microvm machine boots kernels only: add \"kernel\" or the q35 machine",
            ));
        }
        if !["auto", "kvm", "tcg"].contains(&self.qemu.accelerator.as_str()) {
            return Err(bad(
                "qemu.accelerator",
                format!("{:?}", self.qemu.accelerator),
                "expected auto, kvm or tcg",
            ));
        }
        if self.qemu.memory_mib < 64 {
            return Err(bad(
                "qemu.memory_mib",
                self.qemu.memory_mib.to_string(),
                "the appliance needs at least 64 MiB",
            ));
        }
        if self.qemu.cpus == 0 {
            return Err(bad("qemu.cpus", "0".into(), "must be at least 1"));
        }
        one_of(
            &self.virtualbox.topologies,
            &["per-role", "all-in-one"],
            "virtualbox.topologies",
            path,
        )?;
        one_of(
            std::slice::from_ref(&self.virtualbox.disk),
            &["linked", "clone"],
            "virtualbox.disk",
            path,
        )?;
        one_of(
            std::slice::from_ref(&self.virtualbox.storage),
            &["sata", "ide"],
            "virtualbox.storage",
            path,
        )?;
        if let Some(m) = self.virtualbox.memory_mib.filter(|&m| m < 64) {
            return Err(bad(
                "virtualbox.memory_mib",
                m.to_string(),
                "the appliance needs at least 64 MiB",
            ));
        }
        if self.virtualbox.cpus == Some(0) {
            return Err(bad("virtualbox.cpus", "0".into(), "must be at least 1"));
        }
        if !["floating-ip", "fixed-ip"].contains(&self.openstack.access.as_str()) {
            return Err(bad(
                "openstack.access",
                format!("{:?}", self.openstack.access),
                "expected floating-ip or fixed-ip",
            ));
        }
        one_of(
            &self.openstack.topologies,
            &["per-role", "all-in-one", "routed"],
            "openstack.topologies",
            path,
        )?;
        routed_subnets(
            ("openstack.subnet", &self.openstack.subnet),
            (
                "openstack.calculator_subnet",
                &self.openstack.calculator_subnet,
            ),
            path,
        )?;
        if self.openstack.topologies.iter().any(|t| t == "routed")
            && self.openstack.network != "create"
        {
            return Err(bad(
                "openstack.topologies",
                "\"routed\"".into(),
                "the routed topology creates its two networks: set openstack.network = \"create\"",
            ));
        }
        Ok(())
    }
}

fn positive(v: &f64, field: &str, path: &Path) -> Result<(), ScenarioError> {
    if v.is_finite() && *v > 0.0 {
        Ok(())
    } else {
        Err(ScenarioError::Invalid {
            path: path.to_owned(),
            line: None,
            field: field.into(),
            value: v.to_string(),
            reason: "must be a positive number".into(),
        })
    }
}

fn non_negative(v: &f64, field: &str, path: &Path) -> Result<(), ScenarioError> {
    if v.is_finite() && *v >= 0.0 {
        Ok(())
    } else {
        Err(ScenarioError::Invalid {
            path: path.to_owned(),
            line: None,
            field: field.into(),
            value: v.to_string(),
            reason: "must be zero or more".into(),
        })
    }
}

fn one_of(
    values: &[String],
    allowed: &[&str],
    field: &str,
    path: &Path,
) -> Result<(), ScenarioError> {
    let bad = |value: String, reason: String| ScenarioError::Invalid {
        path: path.to_owned(),
        line: None,
        field: field.into(),
        value,
        reason,
    };
    if values.is_empty() {
        return Err(bad("[]".into(), "give at least one value".into()));
    }
    for v in values {
        if !allowed.contains(&v.as_str()) {
            return Err(bad(
                format!("{v:?}"),
                format!("expected one of {}", allowed.join(", ")),
            ));
        }
    }
    Ok(())
}

/// Each `(field, value)` is an IPv4 CIDR.
fn subnets(fields: &[(&str, &str)], path: &Path) -> Result<(), ScenarioError> {
    for (field, value) in fields {
        if !is_ipv4_cidr(value) {
            return Err(ScenarioError::Invalid {
                path: path.to_owned(),
                line: None,
                field: field.to_string(),
                value: format!("{value:?}"),
                reason: "expected an IPv4 CIDR such as 10.5.7.0/24".into(),
            });
        }
    }
    Ok(())
}

/// The two networks of a routed topology: both CIDRs, and not the same one.
fn routed_subnets(
    services: (&str, &str),
    calculator: (&str, &str),
    path: &Path,
) -> Result<(), ScenarioError> {
    subnets(&[services, calculator], path)?;
    if services.1 == calculator.1 {
        return Err(ScenarioError::Invalid {
            path: path.to_owned(),
            line: None,
            field: calculator.0.into(),
            value: format!("{:?}", calculator.1),
            reason: format!(
                "must differ from {} (two networks joined by a router)",
                services.0
            ),
        });
    }
    Ok(())
}

fn is_ipv4_cidr(s: &str) -> bool {
    match s.split_once('/') {
        Some((ip, len)) => {
            ip.parse::<std::net::Ipv4Addr>().is_ok() && len.parse::<u8>().is_ok_and(|l| l <= 30)
        }
        None => false,
    }
}

/// toml's error as one line naming the line, the field and its value: toml's own
/// message spans several lines (with a source excerpt) and counts in bytes.
fn located_toml_error(path: &Path, text: &str, e: &toml::de::Error) -> ScenarioError {
    let message = e.message().trim().replace('\n', " ");
    let Some(span) = e.span() else {
        return ScenarioError::Parse {
            path: path.to_owned(),
            line: None,
            message: format!("invalid TOML: {message}"),
        };
    };
    let line = Some(locate::line_of(text, span.start));
    let field = locate::field_at(text, span.start);
    // "missing field `x`" points at the table that lacks it.
    if let Some(missing) = message
        .strip_prefix("missing field `")
        .and_then(|m| m.strip_suffix('`'))
    {
        // Only a table can lack a field: a span that lands on a plain value (the whole
        // document's span starts on its first key) means the top level lacks it.
        let is_table = |f: &locate::Field| {
            let line_start = text[..span.start].rfind('\n').map_or(0, |i| i + 1);
            text[line_start..].trim_start().starts_with('[')
                || text[f.value.start..].trim_start().starts_with('{')
        };
        let field = match field {
            Some(f) if is_table(&f) => format!("{}.{missing}", f.name),
            _ => missing.to_string(),
        };
        return ScenarioError::Missing {
            path: path.to_owned(),
            line,
            field,
        };
    }
    match field {
        Some(f) => ScenarioError::Invalid {
            path: path.to_owned(),
            line,
            value: locate::value_text(text, &f.value),
            field: f.name,
            reason: locate::plain_reason(&message),
        },
        None => ScenarioError::Parse {
            path: path.to_owned(),
            line,
            message: format!("invalid TOML: {message}"),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Scenario, String> {
        Scenario::parse(Path::new("s.toml"), text).map_err(|e| e.to_string())
    }

    const MIN: &str = "name = \"t\"\nplatforms = [\"native\"]\n";

    #[test]
    fn minimal_scenario_gets_defaults() {
        let s = parse(MIN).unwrap();
        assert_eq!(s.workload.expressions, vec!["(5+3)/2"]);
        assert_eq!(s.startup.repetitions, 5);
    }

    #[test]
    fn stopping_is_sequential_by_default_and_checked() {
        let s = parse(MIN).unwrap();
        assert!(!s.stopping.is_fixed());
        assert_eq!(s.stopping.target, 0.05);
        assert!(parse(&format!("{MIN}[stopping]\nmode = \"fixed\"\n"))
            .unwrap()
            .stopping
            .is_fixed());
        let e = parse(&format!("{MIN}[stopping]\nmode = \"forever\"\n")).unwrap_err();
        assert!(
            e.starts_with("s.toml:4: field `stopping.mode` = \"forever\""),
            "{e}"
        );
        let e = parse(&format!("{MIN}[stopping]\ntarget = 5\n")).unwrap_err();
        assert!(
            e.starts_with("s.toml:4: field `stopping.target` = 5"),
            "{e}"
        );
    }

    #[test]
    fn default_scenario_file_is_valid() {
        for f in ["calculator.toml", "quick.toml", "openstack-routed.toml"] {
            let p = Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("scenarios")
                .join(f);
            Scenario::load(&p).unwrap_or_else(|e| panic!("{e}"));
        }
    }

    #[test]
    fn every_shipped_scenario_is_valid() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios");
        for e in std::fs::read_dir(dir).unwrap().flatten() {
            if e.path().extension().is_some_and(|x| x == "toml") {
                Scenario::load(&e.path()).unwrap_or_else(|err| panic!("{err}"));
            }
        }
    }

    #[test]
    fn a_section_may_set_only_some_fields() {
        let s = parse(&format!(
            "{MIN}[podman]\nnetworks = [\"bridge\"]\n[experiments]\nnoise_windows = 1\n"
        ))
        .unwrap();
        assert_eq!(s.podman.networks, ["bridge"]);
        assert_eq!(s.podman.subnet, PodmanOptions::default().subnet);
        assert_eq!(s.experiments.noise_windows, 1);
        let d = parse(&format!("{MIN}[density]\ncounts = [1, 3]\n")).unwrap();
        assert_eq!(d.density.unwrap().counts, vec![1, 3]);
        let e = parse(&format!("{MIN}[density]\ncounts = [4, 2]\n")).unwrap_err();
        assert!(e.contains("density.counts"), "{e}");
        let e = parse(&format!("{MIN}[density]\nplatforms = [\"xen\"]\n")).unwrap_err();
        assert!(e.contains("density.platforms"), "{e}");
        let e = parse(&format!("{MIN}[experiments]\nnoise_windows = 0\n")).unwrap_err();
        assert!(e.contains("experiments.noise_windows"), "{e}");
    }

    #[test]
    fn unknown_platform_names_file_field_value() {
        let e = parse("name = \"t\"\nplatforms = [\"xen\"]\n").unwrap_err();
        assert_eq!(
            e,
            "s.toml:2: field `platforms` = \"xen\": unknown platform (expected one of native, docker, podman, lxc, qemu, virtualbox, openstack)"
        );
    }

    #[test]
    fn zero_rate_rejected() {
        let e = parse(&format!("{MIN}[load]\nrates_rps = [0]\nduration_s = 1\nwarmup_s = 0\nconnections = 1\ntimeout_ms = 100\n")).unwrap_err();
        assert!(
            e.starts_with("s.toml:4: field `load.rates_rps` = 0:"),
            "{e}"
        );
    }

    #[test]
    fn negative_duration_rejected() {
        let e = parse(&format!("{MIN}[load]\nrates_rps = [10]\nduration_s = -1\nwarmup_s = 0\nconnections = 1\ntimeout_ms = 100\n")).unwrap_err();
        assert!(e.contains("`load.duration_s` = -1"), "{e}");
    }

    #[test]
    fn unknown_field_rejected_on_one_line() {
        let e = parse(&format!(
            "{MIN}[startup]\nrepetitions = 2\ntimeout_s = 5\nrepetition = 3\n"
        ))
        .unwrap_err();
        assert!(
            e.starts_with("s.toml:6: field `startup.repetition` = 3: unknown field (expected"),
            "{e}"
        );
        assert!(!e.contains('\n'), "{e}");
    }

    #[test]
    fn wrong_type_names_line_field_and_value() {
        let e = parse(&format!(
            "{MIN}[startup]\nrepetitions = \"three\"\ntimeout_s = 5\n"
        ))
        .unwrap_err();
        assert_eq!(
            e,
            "s.toml:4: field `startup.repetitions` = \"three\": expected a whole number (0 or more)"
        );
        let e = parse(&format!("{MIN}[load]\nrates_rps = 100\n")).unwrap_err();
        assert!(
            e.starts_with("s.toml:4: field `load.rates_rps` = 100: expected a list"),
            "{e}"
        );
        let e = parse(&format!("{MIN}[qemu]\nmemory_mib = -5\n")).unwrap_err();
        assert!(
            e.starts_with("s.toml:4: field `qemu.memory_mib` = -5: expected a whole number"),
            "{e}"
        );
    }

    #[test]
    fn missing_field_and_bad_syntax_name_the_line() {
        // A section may leave fields to their defaults; the top level may not omit
        // `platforms`.
        assert!(parse(&format!("{MIN}[startup]\nrepetitions = 2\n")).is_ok());
        let e = parse("name = \"t\"\n").unwrap_err();
        assert!(e.starts_with("s.toml"), "{e}");
        assert!(e.contains("field `platforms` is missing"), "{e}");
        let e = parse("name = \"t\"\nplatforms = [\"native\"\n").unwrap_err();
        assert!(e.starts_with("s.toml:"), "{e}");
        assert!(e.contains("invalid TOML"), "{e}");
        assert!(!e.contains('\n'), "{e}");
    }

    #[test]
    fn malformed_expression_rejected() {
        let e = parse(&format!("{MIN}[workload]\nexpressions = [\"(5+\"]\n")).unwrap_err();
        assert!(e.contains("`workload.expressions` = \"(5+\""), "{e}");
    }

    #[test]
    fn virtualbox_options_default_and_validate() {
        let s = parse(MIN).unwrap();
        assert_eq!(s.virtualbox.disk, "linked");
        assert_eq!(s.virtualbox.memory_mib, None);
        let e = parse(&format!("{MIN}[virtualbox]\ndisk = \"copy\"\n")).unwrap_err();
        assert!(e.contains("`virtualbox.disk` = \"copy\""), "{e}");
        let e = parse(&format!("{MIN}[virtualbox]\nmemory_mib = 32\n")).unwrap_err();
        assert!(e.contains("`virtualbox.memory_mib` = 32"), "{e}");
        let s = parse(&format!("{MIN}[virtualbox]\nstorage = \"ide\"\ncpus = 2\n")).unwrap();
        assert_eq!(
            (s.virtualbox.storage.as_str(), s.virtualbox.cpus),
            ("ide", Some(2))
        );
    }

    #[test]
    fn openstack_options_default_and_validate() {
        let s = parse(MIN).unwrap();
        assert_eq!(s.openstack.access, "floating-ip");
        assert_eq!(s.openstack.topologies, vec!["per-role", "all-in-one"]);
        let s = parse(&format!(
            "{MIN}[openstack]\ncloud = \"c\"\nnetwork = \"virtbench-net\"\n"
        ))
        .unwrap();
        assert_eq!(
            (s.openstack.cloud.as_str(), s.openstack.access.as_str()),
            ("c", "floating-ip")
        );
        let e = parse(&format!("{MIN}[openstack]\ntopologies = [\"mesh\"]\n")).unwrap_err();
        assert!(e.contains("`openstack.topologies` = \"mesh\""), "{e}");
        let e = parse(&format!("{MIN}[openstack]\naccess = \"vpn\"\n")).unwrap_err();
        assert!(e.contains("`openstack.access` = \"vpn\""), "{e}");
        // The lab's topology by default, so routed needs nothing more; on a named
        // network it is refused, with the fix.
        assert_eq!(s.openstack.network, "virtbench-net");
        assert_eq!(parse(MIN).unwrap().openstack.network, "create");
        assert!(parse(&format!("{MIN}[openstack]\ntopologies = [\"routed\"]\n")).is_ok());
        let e = parse(&format!(
            "{MIN}[openstack]\ntopologies = [\"routed\"]\nnetwork = \"virtbench-net\"\n"
        ))
        .unwrap_err();
        assert!(e.contains("set openstack.network = \"create\""), "{e}");
        let s = parse(&format!(
            "{MIN}[openstack]\ntopologies = [\"routed\"]\nnetwork = \"create\"\n"
        ))
        .unwrap();
        assert_eq!(s.openstack.subnet, "10.5.7.0/24");
        let e = parse(&format!("{MIN}[openstack]\nsubnet = \"10.5.7/24\"\n")).unwrap_err();
        assert!(e.contains("`openstack.subnet`"), "{e}");
    }

    #[test]
    fn bad_docker_network_rejected() {
        let e = parse(&format!(
            "{MIN}[docker]\nnetworks = [\"macvlan\"]\nsubnet = \"10.1.0.0/24\"\n"
        ))
        .unwrap_err();
        assert!(e.contains("`docker.networks` = \"macvlan\""), "{e}");
    }

    #[test]
    fn routed_docker_subnets_default_and_are_checked() {
        let s = parse(&format!(
            "{MIN}[docker]\nnetworks = [\"routed\"]\nsubnet = \"10.1.0.0/24\"\n"
        ))
        .unwrap();
        assert_eq!(s.docker.routed_services_subnet, "10.5.7.0/24");
        assert_eq!(s.docker.routed_calculator_subnet, "10.5.8.0/24");
        let e = parse(&format!(
            "{MIN}[docker]\nnetworks = [\"routed\"]\nsubnet = \"10.1.0.0/24\"\nrouted_calculator_subnet = \"10.5.8/24\"\n"
        ))
        .unwrap_err();
        assert!(e.contains("`docker.routed_calculator_subnet`"), "{e}");
        let e = parse(&format!(
            "{MIN}[docker]\nnetworks = [\"routed\"]\nsubnet = \"10.1.0.0/24\"\nrouted_calculator_subnet = \"10.5.7.0/24\"\n"
        ))
        .unwrap_err();
        assert!(e.contains("must differ"), "{e}");
    }
}
