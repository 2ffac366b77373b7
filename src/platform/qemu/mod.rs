//! QEMU virtual machines running the appliance: five VMs (one per role, as in the lab)
//! or one VM with all five roles; booted straight from the kernel or from the disk
//! image (the path VirtualBox and OpenStack take); reached through user-mode NAT with
//! forwarded ports on 127.0.0.1 (VirtualBox's default NAT + port forwarding).
//!
//! In the per-role topology the calculator VM reaches its sub-services at
//! `10.0.2.2:<their forwarded host ports>`: the host, through the forwarded ports,
//! exactly as the lab did with VirtualBox.

pub mod accel;
pub mod args;
pub mod bridge;
pub mod extras;
pub mod qmp;
pub mod resize;
pub mod tsc;
pub mod vm;

use std::collections::{BTreeMap, BTreeSet};
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use tokio::sync::Mutex;

use super::privilege::{self, RootOnly};
use super::{
    console, default_port, free_loopback_port, process, Availability, Deployment, Platform,
    PlatformError, ResourceSample, RunContext, Variant, ROLES,
};
use crate::artifact::{self, appliance, calculator, disk};
use crate::measure::resources;
use crate::results::ArtifactRecord;
use crate::scenario::Scenario;
use args::{Boot, Net, VmSpec};
use bridge::BridgeNet;
use vm::Vm;

/// Prefix of every VM name (`-name vb-<run id>-d<n>-<role>`).
pub const NAME_PREFIX: &str = "vb-";
/// How long `cleanup` waits for killed VMs to finish dying (normally milliseconds).
const KILL_WAIT: Duration = Duration::from_secs(10);

/// A kernel and the initramfs made for it.
#[derive(Debug, Clone)]
struct BootKernel {
    kernel: PathBuf,
    initramfs: PathBuf,
    /// Release, e.g. `6.1.0-57-cloud-amd64`.
    version: String,
    /// `host`, `debian:<package>_<version>` or `minimal:<source> config <key>`.
    source: String,
}

impl BootKernel {
    fn from(b: &appliance::BootFiles) -> BootKernel {
        BootKernel {
            kernel: b.kernel.clone(),
            initramfs: b.initramfs.clone(),
            version: b.kernel_version.clone(),
            source: b.kernel_source.clone(),
        }
    }
}

/// Artifacts and facts shared by every deployment of a run.
#[derive(Debug, Clone)]
struct Prepared {
    /// The kernel q35 boots (and the disk image holds).
    stock: BootKernel,
    /// The minimal kernel, when a microvm variant asks for it.
    minimal: Option<BootKernel>,
    /// The generic disk (qcow2), when a scenario boots from disk.
    qcow2: Option<PathBuf>,
    accel: accel::Probed,
    qemu_version: String,
    records: Vec<ArtifactRecord>,
}

#[derive(Debug, Default)]
pub struct Qemu {
    prepared: Mutex<Option<Prepared>>,
    deploys: AtomicU32,
}

#[async_trait]
impl Platform for Qemu {
    fn name(&self) -> &'static str {
        "qemu"
    }

    fn facts(&self) -> super::facts::Facts {
        super::facts::Facts::vm("QEMU", super::facts::Hypervisor::Direct)
    }

    async fn probe(&self) -> Availability {
        let Some(version) = vm::version().await else {
            return Availability::Unavailable {
                reason: format!("{} not found", vm::QEMU),
                fix: "apt-get install qemu-system-x86 qemu-utils".into(),
            };
        };
        let mut details = BTreeMap::from([
            ("qemu".to_string(), version),
            ("machines".to_string(), vm::machines().await.join(", ")),
            (
                "kvm_device".to_string(),
                if Path::new("/dev/kvm").exists() {
                    "present (probed before use)"
                } else {
                    "absent"
                }
                .to_string(),
            ),
        ]);
        let host_kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .map(|r| Path::new(&format!("/boot/vmlinuz-{}", r.trim())).exists())
            .unwrap_or(false);
        let can_fetch = disk::which("apt-get").is_some() && disk::which("dpkg-deb").is_some();
        if !host_kernel && !can_fetch && !artifact::cache_dir().join("kernel").is_dir() {
            return Availability::Unavailable {
                reason: "no guest kernel: no /boot/vmlinuz-* and no apt-get to fetch Debian's".into(),
                fix: "install a kernel in /boot, or run on Debian/Ubuntu (linux-image-cloud-amd64 is fetched)".into(),
            };
        }
        details.insert(
            "guest_kernel".into(),
            if host_kernel {
                "host /boot"
            } else {
                "Debian linux-image-cloud-amd64 (apt-get download)"
            }
            .into(),
        );
        Availability::Available { details }
    }

    fn variants(&self, scenario: &Scenario) -> Vec<Variant> {
        let q = &scenario.qemu;
        let mut out = Vec::new();
        for topology in &q.topologies {
            for network in &q.networks {
                for machine in &q.machines {
                    if machine == "q35" {
                        // The PC reference: labels as before microvm existed.
                        for boot in &q.boot {
                            out.push(Variant::new(
                                format!("qemu/{topology}/{boot}/{network}"),
                                &[
                                    ("topology", topology),
                                    ("boot", boot),
                                    ("network", network),
                                    ("machine", machine),
                                    ("kernel", "stock"),
                                ],
                            ));
                        }
                        continue;
                    }
                    // qboot loads a kernel; it boots no disk.
                    if !q.boot.iter().any(|b| b == "kernel") {
                        continue;
                    }
                    for kernel in &q.kernels {
                        out.push(Variant::new(
                            format!("qemu/{topology}/{machine}-{kernel}/{network}"),
                            &[
                                ("topology", topology),
                                ("boot", "kernel"),
                                ("network", network),
                                ("machine", machine),
                                ("kernel", kernel),
                            ],
                        ));
                    }
                }
            }
        }
        // Same order as before for q35 alone: topology, boot, network.
        out.sort_by_key(|v| {
            let pos = |key: &str, list: &[String]| {
                list.iter()
                    .position(|x| Some(x.as_str()) == v.get(key))
                    .unwrap_or(0)
            };
            (
                pos("topology", &q.topologies),
                pos("machine", &q.machines),
                pos("boot", &q.boot),
                pos("kernel", &q.kernels),
                pos("network", &q.networks),
            )
        });
        out
    }

    fn needs_root(&self, _scenario: &Scenario, variant: &Variant) -> Vec<RootOnly> {
        if privilege::is_root() {
            return Vec::new();
        }
        // User-mode NAT (slirp) runs as any user; a bridged VM sits on taps.
        if variant.get("network") == Some("bridge") {
            return vec![RootOnly::variant(
                &variant.label,
                "a network namespace, a bridge and a tap per VM",
            )];
        }
        vec![privilege::outside_experiment()]
    }

    async fn prepare(&self, ctx: &RunContext) -> Result<Vec<ArtifactRecord>, PlatformError> {
        Ok(self.prepared(ctx).await?.records)
    }

    async fn deploy(
        &self,
        ctx: &RunContext,
        variant: &Variant,
    ) -> Result<Box<dyn Deployment>, PlatformError> {
        let prepared = self.prepared(ctx).await?;
        let n = self.deploys.fetch_add(1, Ordering::Relaxed) + 1;
        let t = Instant::now();
        let bridge = match variant.get("network") {
            Some("bridge") => {
                let vms = if variant.get("topology") == Some("all-in-one") {
                    1
                } else {
                    ROLES.len()
                };
                let netns = format!("{NAME_PREFIX}{}-d{n}", ctx.run_id);
                Some(BridgeNet::create(&netns, vms).await?)
            }
            _ => None,
        };
        let network_time = t.elapsed();
        let plan = match Plan::new(ctx, variant, &prepared, n, bridge.as_ref()) {
            Ok(p) => p,
            Err(e) => {
                if let Some(b) = &bridge {
                    b.destroy().await;
                }
                return Err(e);
            }
        };
        let mut dep = QemuDeployment::new(&plan, &prepared, variant);
        if let Some(b) = bridge {
            dep.phases.push(("network".into(), network_time));
            dep.details.insert("bridge_netns".into(), b.netns.clone());
            dep.details
                .insert("bridge_host_ip".into(), b.host_ip().to_string());
            dep.bridge = Some(b);
        }
        match dep.start(&plan, ctx).await {
            Ok(()) => Ok(Box::new(dep)),
            Err(e) => {
                let _ = dep.teardown().await;
                Err(e)
            }
        }
    }

    /// Clone and snapshot experiments, once per run: on the first disk-boot variant
    /// (the image they need), else not at all.
    async fn extras(
        &self,
        ctx: &RunContext,
        deployment: &mut dyn Deployment,
    ) -> Result<BTreeMap<String, crate::stats::Series>, PlatformError> {
        let dep = deployment
            .as_any_mut()
            .and_then(|d| d.downcast_mut::<QemuDeployment>())
            .ok_or_else(|| {
                PlatformError::Failed("qemu extras: handed another platform's deployment".into())
            })?;
        let mut out = dep.facts(&ctx.run_id).await?;
        // C13's live resize, once per run: on the first q35 variant, on a VM of its own.
        let first_q35 = self
            .variants(&ctx.scenario)
            .into_iter()
            .find(|v| v.get("machine").unwrap_or("q35") == "q35");
        if first_q35.is_some_and(|v| v.label == dep.variant) {
            match self.live_resize(ctx).await {
                Ok(m) => out.extend(m),
                Err(PlatformError::Cancelled) => return Err(PlatformError::Cancelled),
                Err(e) => {
                    // The VM never answered: nothing was resized, and the reason is data.
                    tracing::warn!("qemu resize experiment failed: {e}");
                    out.insert(
                        crate::results::keys::RESIZE_OK.into(),
                        crate::measure::isolation::flag(false)
                            .with_note(format!("the resize VM did not come up: {e}")),
                    );
                }
            }
        }
        let target = self
            .variants(&ctx.scenario)
            .into_iter()
            .find(|v| v.get("boot") == Some("disk"));
        if target.is_none_or(|t| t.label != dep.variant) {
            return Ok(out);
        }
        let p = self.prepared(ctx).await?;
        let Some(base) = p.qcow2.clone() else {
            return Ok(out);
        };
        let n = self.deploys.fetch_add(1, Ordering::Relaxed) + 1;
        let dir = ctx.work_dir.join(format!("qemu-extras-{n}"));
        std::fs::create_dir_all(&dir)
            .map_err(PlatformError::io(format!("creating {}", dir.display())))?;
        // One experiment failing must not lose the other's figures.
        match extras::clones(&base, &dir).await {
            Ok(m) => out.extend(m),
            Err(e) => tracing::warn!("qemu clone experiment failed: {e}"),
        }
        let name = format!("{NAME_PREFIX}{}-x{n}-snapshot", ctx.run_id);
        match extras::snapshots(
            &base,
            &dir,
            p.accel.accel,
            ctx.scenario.qemu.memory_mib,
            &name,
            &ctx.cancel,
        )
        .await
        {
            Ok(m) => out.extend(m),
            Err(PlatformError::Cancelled) => return Err(PlatformError::Cancelled),
            Err(e) => tracing::warn!("qemu snapshot experiment failed: {e}"),
        }
        let _ = std::fs::remove_dir_all(&dir);
        Ok(out)
    }

    async fn leftovers(&self, run_id: Option<&str>) -> Result<Option<Vec<String>>, PlatformError> {
        let prefix = match run_id {
            Some(id) => format!("{NAME_PREFIX}{id}-"),
            None => NAME_PREFIX.to_string(),
        };
        let mut out: Vec<String> = vm::find_by_name_prefix(&prefix)
            .into_iter()
            .map(|(pid, name)| format!("qemu process {pid} ({name})"))
            .collect();
        out.extend(
            bridge::namespaces(&prefix)
                .into_iter()
                .chain(crate::measure::outside::namespaces(run_id))
                .map(|ns| format!("network namespace {ns}")),
        );
        Ok(Some(out))
    }

    async fn cleanup(&self, run_id: Option<&str>) -> Result<usize, PlatformError> {
        let prefix = match run_id {
            Some(id) => format!("{NAME_PREFIX}{id}-"),
            None => NAME_PREFIX.to_string(),
        };
        let mut killed = Vec::new();
        for (pid, name) in vm::find_by_name_prefix(&prefix) {
            tracing::info!(pid, %name, "killing leftover qemu");
            // SAFETY: plain kill(2) of a process we identified by its command line.
            if unsafe { libc::kill(pid as i32, libc::SIGKILL) } == 0 {
                killed.push(pid);
            }
        }
        // SIGKILL takes effect asynchronously: return only once the VMs are really dead
        // (their taps released, their owner able to reap them), so that "cleaned up"
        // means it. A process that outlives the wait is not counted as removed.
        let survivors = process::wait_dead(&killed, KILL_WAIT).await;
        for pid in &survivors {
            tracing::warn!(pid, "qemu still alive {KILL_WAIT:?} after SIGKILL");
        }
        let mut removed = killed.len() - survivors.len();
        removed += crate::measure::outside::cleanup(run_id).await?;
        for ns in bridge::namespaces(&prefix) {
            tracing::info!(%ns, "removing leftover network namespace");
            match bridge::delete_namespace(&ns).await {
                Ok(()) => removed += 1,
                Err(e) => tracing::warn!("{e}"),
            }
        }
        Ok(removed)
    }
}

/// The variant's machine type (q35 when unset: variants made before microvm existed).
fn machine_of(variant: &Variant) -> Result<args::Machine, PlatformError> {
    let name = variant.get("machine").unwrap_or("q35");
    args::Machine::parse(name)
        .ok_or_else(|| PlatformError::Failed(format!("unknown qemu machine {name:?}")))
}

impl Prepared {
    /// The kernel a variant boots (disk boots: the one on the disk, the stock kernel).
    fn kernel_for(&self, variant: &Variant) -> Result<&BootKernel, PlatformError> {
        match variant.get("kernel").unwrap_or("stock") {
            "minimal" if variant.get("boot") != Some("disk") => self
                .minimal
                .as_ref()
                .ok_or_else(|| PlatformError::Failed("the minimal kernel was not prepared".into())),
            _ => Ok(&self.stock),
        }
    }
}

impl Qemu {
    /// [`resize::resize`] on a q35 VM of the run's own, in a directory of its own.
    async fn live_resize(
        &self,
        ctx: &RunContext,
    ) -> Result<BTreeMap<String, crate::stats::Series>, PlatformError> {
        let p = self.prepared(ctx).await?;
        let n = self.deploys.fetch_add(1, Ordering::Relaxed) + 1;
        let dir = ctx.work_dir.join(format!("qemu-resize-{n}"));
        std::fs::create_dir_all(&dir)
            .map_err(PlatformError::io(format!("creating {}", dir.display())))?;
        let vm = resize::ResizeVm {
            kernel: p.stock.kernel.clone(),
            initramfs: p.stock.initramfs.clone(),
            release: p.stock.version.clone(),
            machine: args::Machine::Q35,
            accel: p.accel.accel,
            memory_mib: ctx.scenario.qemu.memory_mib,
            cpus: ctx.scenario.qemu.cpus,
            name: format!("{NAME_PREFIX}{}-x{n}-resize", ctx.run_id),
        };
        let out = resize::resize(&vm, &ctx.cache_dir, &dir, &ctx.cancel).await;
        let _ = std::fs::remove_dir_all(&dir);
        out
    }

    async fn prepared(&self, ctx: &RunContext) -> Result<Prepared, PlatformError> {
        let mut slot = self.prepared.lock().await;
        let q = &ctx.scenario.qemu;
        let wants_disk =
            q.boot.iter().any(|b| b == "disk") && q.machines.iter().any(|m| m == "q35");
        let wants_minimal = q.machines.iter().any(|m| m == "microvm")
            && q.boot.iter().any(|b| b == "kernel")
            && q.kernels.iter().any(|k| k == "minimal");
        if let Some(p) = slot.as_ref() {
            if (!wants_disk || p.qcow2.is_some()) && (!wants_minimal || p.minimal.is_some()) {
                return Ok(p.clone());
            }
        }
        let mut records = vec![calculator::binary().await?.record()];
        let (stock, qcow2) = if wants_disk {
            let a = appliance::build(&ctx.cache_dir).await?;
            records.extend(a.records.clone());
            let stock = BootKernel {
                kernel: a.kernel,
                initramfs: a.initramfs,
                version: a.kernel_version,
                source: a.kernel_source,
            };
            (stock, Some(a.qcow2))
        } else {
            let b = appliance::boot_files(&ctx.cache_dir).await?;
            records.extend(b.records.clone());
            (BootKernel::from(&b), None)
        };
        let minimal = if wants_minimal {
            let b = appliance::minimal_boot_files(&ctx.cache_dir).await?;
            records.extend(b.records.clone());
            Some(BootKernel::from(&b))
        } else {
            None
        };
        let kernel = stock.kernel.clone();
        std::fs::create_dir_all(&ctx.work_dir).map_err(PlatformError::io(format!(
            "creating {}",
            ctx.work_dir.display()
        )))?;
        let accel = accel::choose(&ctx.scenario.qemu.accelerator, &kernel, &ctx.work_dir).await?;
        let qemu_version = vm::version().await.unwrap_or_else(|| "unknown".into());
        let p = Prepared {
            stock,
            minimal,
            qcow2,
            accel,
            qemu_version,
            records,
        };
        *slot = Some(p.clone());
        Ok(p)
    }
}

/// What one deployment will start: VM specs, ports, the endpoint.
struct Plan {
    machine: args::Machine,
    kernel: BootKernel,
    dir: PathBuf,
    vms: Vec<(String, VmSpec)>,
    endpoint: SocketAddr,
    /// Per-VM overlays to create before starting (disk boot): (base, overlay).
    overlays: Vec<(PathBuf, PathBuf)>,
    config_via: &'static str,
}

impl Plan {
    fn new(
        ctx: &RunContext,
        variant: &Variant,
        p: &Prepared,
        n: u32,
        bridge: Option<&BridgeNet>,
    ) -> Result<Plan, PlatformError> {
        let topology = variant.get("topology").unwrap_or("per-role");
        let boot = variant.get("boot").unwrap_or("kernel");
        let boot_kernel = p.kernel_for(variant)?;
        let machine = match machine_of(variant)? {
            // The minimal kernel has no ACPI: QEMU names its devices on the command line.
            args::Machine::Microvm { .. } => args::Machine::Microvm {
                acpi: variant.get("kernel") != Some("minimal"),
            },
            m => m,
        };
        let clock = args::guest_clock(machine, p.accel.accel, tsc::host_khz());
        if matches!(machine, args::Machine::Microvm { .. }) && boot == "disk" {
            return Err(PlatformError::Failed(
                "the microvm machine boots kernels only, not the disk".into(),
            ));
        }
        let roles: Vec<&str> = match topology {
            "all-in-one" => vec!["all"],
            _ => ROLES.to_vec(),
        };
        let guest_port = |role: &str| {
            if role == "all" {
                default_port("calculator")
            } else {
                default_port(role)
            }
        };
        // Where each role answers, as seen from the host and from the other guests.
        let mut host_ports = BTreeMap::new();
        let mut guest_ips = BTreeMap::new();
        match bridge {
            None => {
                let mut taken = BTreeSet::new();
                for role in &roles {
                    let port = loop {
                        let p = free_loopback_port()
                            .map_err(PlatformError::io("finding a free loopback port"))?;
                        if taken.insert(p) {
                            break p;
                        }
                    };
                    host_ports.insert(role.to_string(), port);
                }
            }
            Some(b) => {
                for (i, role) in roles.iter().enumerate() {
                    guest_ips.insert(role.to_string(), b.vm_ip(i));
                }
            }
        }
        // NAT: the host's forwarded ports at 10.0.2.2, as in the lab. Bridge: the
        // sub-services' own addresses and ports.
        let peers = (topology != "all-in-one").then(|| {
            ["sum", "sub", "mul", "div"]
                .iter()
                .map(|r| match bridge {
                    None => format!("{r}={}:{}", args::NAT_HOST_IP, host_ports[*r]),
                    Some(_) => format!("{r}={}:{}", guest_ips[*r], guest_port(r)),
                })
                .collect::<Vec<_>>()
                .join(",")
        });
        let dir = ctx.work_dir.join(format!("qemu-d{n}"));
        std::fs::create_dir_all(&dir)
            .map_err(PlatformError::io(format!("creating {}", dir.display())))?;
        let memory_mib = ctx.scenario.qemu.memory_mib;
        let cpus = ctx.scenario.qemu.cpus;
        let mut vms = Vec::new();
        let mut overlays = Vec::new();
        for (i, role) in roles.iter().enumerate() {
            let name = format!("{NAME_PREFIX}{}-d{n}-{role}", ctx.run_id);
            let role_peers = if *role == "calculator" {
                peers.as_deref()
            } else {
                None
            };
            let (ip, gw) = match bridge {
                None => (Some((args::NAT_GUEST_IP, 24)), Some(args::NAT_HOST_IP)),
                // The bridge's host end is the LAN's router, as a PC on a LAN has one.
                Some(b) => (Some((guest_ips[*role], 24)), Some(b.host_ip())),
            };
            let boot_spec = match boot {
                "disk" => {
                    let base = p.qcow2.clone().ok_or_else(|| {
                        PlatformError::Failed("disk boot without a disk image".into())
                    })?;
                    let overlay = dir.join(format!("{role}.qcow2"));
                    overlays.push((base, overlay.clone()));
                    // NAT: DHCP, as VirtualBox and OpenStack guests get their address.
                    // Bridge: no DHCP server on our bridge, a static address.
                    let (ip, gw) = if bridge.is_some() {
                        (ip, gw)
                    } else {
                        (None, None)
                    };
                    Boot::Disk {
                        image: overlay,
                        smbios_serial: args::guest_config(role, role_peers, ip, gw),
                    }
                }
                _ => Boot::Kernel {
                    kernel: boot_kernel.kernel.clone(),
                    initrd: boot_kernel.initramfs.clone(),
                    append: args::kernel_append(
                        &clock,
                        &args::guest_config(role, role_peers, ip, gw),
                    ),
                },
            };
            let net = match bridge {
                None => Net::Nat {
                    forwards: vec![(host_ports[*role], guest_port(role))],
                    user_data: None,
                },
                Some(b) => Net::Tap {
                    ifname: b.taps[i].clone(),
                    mac: b.vm_mac(i),
                },
            };
            let spec = VmSpec {
                name,
                accel: p.accel.accel,
                machine,
                memory_mib,
                cpus,
                boot: boot_spec,
                net,
                console_log: dir.join(format!("{role}.console.log")),
                qmp_socket: Some(qmp_path(&dir, &ctx.run_id, n, role)),
                netns: bridge.map(|b| b.netns.clone()),
                resizable: None,
            };
            vms.push((role.to_string(), spec));
        }
        let front = if topology == "all-in-one" {
            "all"
        } else {
            "calculator"
        };
        let endpoint = match bridge {
            None => SocketAddr::new(Ipv4Addr::LOCALHOST.into(), host_ports[front]),
            Some(_) => SocketAddr::new(guest_ips[front].into(), guest_port(front)),
        };
        let config_via = match (boot, bridge.is_some()) {
            ("disk", false) => "SMBIOS serial + DHCP",
            ("disk", true) => "SMBIOS serial (static IP)",
            _ => "kernel command line (static IP)",
        };
        Ok(Plan {
            machine,
            kernel: boot_kernel.clone(),
            dir,
            vms,
            endpoint,
            overlays,
            config_via,
        })
    }
}

/// Unix socket paths are limited to 108 bytes: fall back to /tmp for deep work dirs.
fn qmp_path(dir: &Path, run_id: &str, n: u32, role: &str) -> PathBuf {
    let p = dir.join(format!("{role}.qmp"));
    if p.as_os_str().len() < 100 {
        p
    } else {
        std::env::temp_dir().join(format!(
            "vbq-{}-{n}-{role}.sock",
            &run_id[..run_id.len().min(24)]
        ))
    }
}

pub struct QemuDeployment {
    vms: Vec<Vm>,
    dir: PathBuf,
    endpoint: SocketAddr,
    phases: Vec<(String, Duration)>,
    /// When the last QEMU process was spawned (the guests' boots start there).
    spawned_at: Option<Instant>,
    details: BTreeMap<String, String>,
    bridge: Option<BridgeNet>,
    /// The variant's label: the extras run on one variant only.
    variant: String,
}

impl QemuDeployment {
    /// Isolation facts asked of the front VM's service (C3), with canaries on host loopback
    /// (NAT: dialled at slirp's 10.0.2.2, which QEMU connects to host loopback; bridge:
    /// at 127.0.0.1, the guest's own) and on the host's address on the VM's network
    /// (bridge: our veth's; NAT: 10.0.2.2 again), and reachability (C9): at the
    /// guest's own address (NAT: slirp's 10.0.2.15, which the host has no route to; bridge:
    /// the VM's address on our bridge, the endpoint) and, under NAT, through the forwarded
    /// 127.0.0.1 port.
    pub async fn facts(
        &self,
        run_id: &str,
    ) -> Result<BTreeMap<String, crate::stats::Series>, PlatformError> {
        use crate::measure::isolation::{self, Canary};
        use crate::results::keys;
        let (bridge, endpoint) = (self.bridge.as_ref(), self.endpoint);
        let canaries = if endpoint.ip().is_loopback() {
            // A service bound to the host's 127.0.0.1 only, dialled as the guest must:
            // slirp's 10.0.2.2 is the host's loopback (the guest's own 127.0.0.1 is
            // its own kernel's, which says nothing of the host). Whether it opens is
            // the loopback fact; the same dial is the host's address on the VM's
            // network, the bridge fact.
            let lo = Canary::listen(
                keys::ISOLATION_REACHES_HOST_LOOPBACK,
                Ipv4Addr::LOCALHOST.into(),
                Some(args::NAT_HOST_IP.into()),
            )?;
            let via_slirp = lo.also_as(
                keys::ISOLATION_REACHES_HOST_BRIDGE,
                args::NAT_HOST_IP.into(),
            );
            vec![lo, via_slirp]
        } else {
            Canary::host_pair(bridge.map(|b| b.host_ip().into()))?
        };
        let mut out = isolation::probe_facts(endpoint, &canaries).await?;
        // From a LAN PC: NAT, the guest's slirp address and the forwarded port; bridge,
        // the VM's address behind our bridge's veth.
        let targets = if endpoint.ip().is_loopback() {
            crate::measure::outside::Targets {
                direct: Some(SocketAddr::new(
                    args::NAT_GUEST_IP.into(),
                    default_port("calculator"),
                )),
                forwarded_port: Some(endpoint.port()),
                ..Default::default()
            }
        } else {
            crate::measure::outside::Targets {
                direct: Some(endpoint),
                own_bridge_if: bridge.map(|b| b.host_if.clone()),
                ..Default::default()
            }
        };
        out.extend(crate::measure::outside::reachability(run_id, &targets).await?);
        let probe = isolation::probe();
        if endpoint.ip().is_loopback() {
            let own = SocketAddr::new(args::NAT_GUEST_IP.into(), default_port("calculator"));
            out.insert(
                keys::REACH_GUEST_DIRECT.into(),
                isolation::flag(isolation::answers(own, &probe).await),
            );
            out.insert(
                keys::REACH_FORWARDED.into(),
                isolation::flag(isolation::answers(endpoint, &probe).await),
            );
        } else {
            out.insert(
                keys::REACH_GUEST_DIRECT.into(),
                isolation::flag(isolation::answers(endpoint, &probe).await),
            );
        }
        Ok(out)
    }

    fn new(plan: &Plan, p: &Prepared, variant: &Variant) -> QemuDeployment {
        let mut details = BTreeMap::from([
            ("accelerator".to_string(), p.accel.accel.name().to_string()),
            ("accelerator_reason".to_string(), p.accel.reason.clone()),
            ("qemu".to_string(), p.qemu_version.clone()),
            ("machine".to_string(), plan.machine.name().to_string()),
            (
                "machine_options".to_string(),
                plan.machine.spec(p.accel.accel),
            ),
            ("guest_kernel".to_string(), plan.kernel.version.clone()),
            (
                "guest_kernel_source".to_string(),
                plan.kernel.source.clone(),
            ),
            ("vms".to_string(), plan.vms.len().to_string()),
            ("vm_config_via".to_string(), plan.config_via.to_string()),
        ]);
        // NAT: clients come through the forwarded 127.0.0.1 port; bridge: at the
        // VM's own address.
        let access = if plan.endpoint.ip().is_loopback() {
            crate::measure::outside::Access::Forwarded
        } else {
            crate::measure::outside::Access::Direct
        };
        details.insert(crate::results::keys::ACCESS.into(), access.as_str().into());
        if p.accel.accel == args::Accel::Tcg {
            details.insert(
                "memory_note".into(),
                "under TCG each QEMU process's RSS also holds the translation cache of \
                 emulated code, which a KVM VM does not have"
                    .into(),
            );
        }
        if let Some((_, spec)) = plan.vms.first() {
            details.insert("vm_memory_mib".into(), spec.memory_mib.to_string());
            details.insert("vm_cpus".into(), spec.cpus.to_string());
        }
        for (k, v) in &variant.settings {
            details.insert(k.clone(), v.clone());
        }
        QemuDeployment {
            vms: Vec::new(),
            dir: plan.dir.clone(),
            endpoint: plan.endpoint,
            phases: Vec::new(),
            spawned_at: None,
            details,
            bridge: None,
            variant: variant.label.clone(),
        }
    }

    async fn start(&mut self, plan: &Plan, ctx: &RunContext) -> Result<(), PlatformError> {
        let t = Instant::now();
        if !plan.overlays.is_empty() {
            let overlays = plan.overlays.clone();
            tokio::task::spawn_blocking(move || {
                overlays
                    .iter()
                    .try_for_each(|(base, o)| disk::overlay(base, o))
            })
            .await
            .map_err(|e| PlatformError::Failed(format!("overlay task: {e}")))??;
            self.phases.push(("overlay".into(), t.elapsed()));
        }
        let t = Instant::now();
        for (role, spec) in &plan.vms {
            if ctx.cancel.is_cancelled() {
                return Err(PlatformError::Cancelled);
            }
            let stderr = plan.dir.join(format!("{role}.qemu.log"));
            self.vms.push(Vm::spawn(role, spec, &stderr)?);
        }
        self.spawned_at = Some(Instant::now());
        self.phases.push(("spawn".into(), t.elapsed()));
        Ok(())
    }

    /// The VM the host talks to (calculator, or the all-in-one VM).
    fn front(&self) -> Option<&Vm> {
        self.vms
            .iter()
            .find(|v| v.role == "calculator" || v.role == "all")
    }
}

/// One VM's boot as its markers tell it: (role, init-start, service-ready), each with
/// the guest's uptime and the host instant it was seen.
type BootMarks = (String, (f64, Instant), (f64, Instant));

#[async_trait]
impl Deployment for QemuDeployment {
    fn endpoint(&self) -> SocketAddr {
        self.endpoint
    }

    fn as_any_mut(&mut self) -> Option<&mut dyn std::any::Any> {
        Some(self)
    }

    fn deploy_phases(&self) -> Vec<(String, Duration)> {
        self.phases.clone()
    }

    /// firmware+kernel: spawn to the init's first marker; init: to service-ready
    /// (modules, network, service bound); service: to the first correct answer seen
    /// by the host. For five VMs, each boundary is the slowest VM's.
    async fn ready_phases(&mut self) -> Vec<(String, Duration)> {
        let now = Instant::now();
        // The front VM answered, so it printed service-ready: let the watcher see it.
        if let Some(front) = self.front() {
            let deadline = now + Duration::from_millis(200);
            front
                .watcher
                .wait_for(console::SERVICE_READY, deadline)
                .await;
        }
        let Some(spawned) = self.spawned_at else {
            return Vec::new();
        };
        // The VMs ready before the answer: an expression need not use every
        // sub-service, so the others may still be booting and are not on the path.
        let ready: Vec<BootMarks> = self
            .vms
            .iter()
            .filter_map(|v| {
                let (s, s_at) = v.watcher.get(console::INIT_START)?;
                let (r, r_at) = v.watcher.get(console::SERVICE_READY)?;
                (r_at <= now).then(|| (v.role.clone(), (s.uptime_s, s_at), (r.uptime_s, r_at)))
            })
            .collect();
        let Some(critical) = ready.iter().max_by_key(|b| b.2 .1) else {
            return Vec::new();
        };
        let started = ready.iter().map(|b| b.1 .1).max().unwrap_or(critical.1 .1);
        let (role, (start_up, _), (ready_up, ready_at)) = critical.clone();
        self.details.insert("slowest_vm".into(), role.clone());
        self.details.insert(
            "vms_ready_at_first_answer".into(),
            format!("{}/{}", ready.len(), self.vms.len()),
        );
        // A guest clock can go wrong (a TSC miscalibrated under a loaded host): an
        // uptime longer than the QEMU process has existed is not reported.
        let alive = ready_at.saturating_duration_since(spawned).as_secs_f64();
        if ready_up <= alive + 0.5 {
            self.details
                .insert("guest_uptime_init_start_s".into(), format!("{start_up:.3}"));
            self.details.insert(
                "guest_uptime_service_ready_s".into(),
                format!("{ready_up:.3}"),
            );
            self.details.remove("guest_clock");
        } else {
            self.details.remove("guest_uptime_init_start_s");
            self.details.remove("guest_uptime_service_ready_s");
            self.details.insert(
                "guest_clock".into(),
                format!(
                    "implausible on VM {role}: uptime {ready_up:.1} s after {alive:.1} s of QEMU"
                ),
            );
        }
        console::boot_phases(spawned, started, ready_at, now)
    }

    async fn sample(&self) -> Result<ResourceSample, PlatformError> {
        let pids: Vec<u32> = self
            .vms
            .iter()
            .filter(|v| v.running())
            .map(|v| v.pid)
            .collect();
        Ok(resources::processes(&pids))
    }

    async fn memory_breakdown(&self) -> Option<crate::results::MemoryBreakdown> {
        // Each QEMU process holds its guest's RAM (the largest mapping: what the guest
        // kernel and the calculator touched) and its own: device models, TCG's code
        // cache, libraries. The first is the workload, the rest the VMM's per-VM cost.
        // Nothing is shared between VMs: no daemon.
        let pids: Vec<u32> = self
            .vms
            .iter()
            .filter(|v| v.running())
            .map(|v| v.pid)
            .collect();
        let (mut guest, mut vmm) = (0u64, 0u64);
        for &pid in &pids {
            let rss = resources::process(pid)?.rss_bytes;
            let g = crate::host::procfs::largest_mapping_rss(pid)?.min(rss);
            guest += g;
            vmm += rss - g;
        }
        Some(crate::results::MemoryBreakdown {
            workload: crate::results::MemoryPart {
                bytes: guest,
                counted: vec![format!(
                    "guest RAM resident on the host ×{} (guest kernel + calculator)",
                    pids.len()
                )],
            },
            per_instance: crate::results::MemoryPart {
                bytes: vmm,
                counted: resources::counted(&pids)
                    .into_iter()
                    .map(|c| format!("{c} minus guest RAM"))
                    .collect(),
            },
            shared: Default::default(),
        })
    }

    fn exited(&mut self) -> Option<String> {
        for vm in &mut self.vms {
            if let Some(why) = vm.exited() {
                return Some(why);
            }
            if let Some((m, _)) = vm.watcher.get(console::FATAL) {
                return Some(format!("guest init of VM {} failed: {}", vm.name, m.rest));
            }
        }
        None
    }

    fn details(&self) -> BTreeMap<String, String> {
        self.details.clone()
    }

    async fn teardown(&mut self) -> Result<(), PlatformError> {
        let mut first_err = None;
        // Stop the VMs concurrently: each may wait out a QMP quit.
        let results = futures_util::future::join_all(self.vms.iter_mut().map(|v| v.stop())).await;
        for r in results {
            if let Err(e) = r {
                first_err.get_or_insert(e);
            }
        }
        if let Some(b) = self.bridge.take() {
            b.destroy().await;
        }
        if let Err(e) = std::fs::remove_dir_all(&self.dir) {
            if e.kind() != std::io::ErrorKind::NotFound {
                first_err.get_or_insert(PlatformError::io(format!(
                    "removing {}",
                    self.dir.display()
                ))(e));
            }
        }
        match first_err {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}
