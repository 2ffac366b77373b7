//! The VirtualBox platform: the calculator appliance in VirtualBox VMs, driven through
//! `VBoxManage`, NAT networking with port forwarding on 127.0.0.1 as in the course lab.
//!
//! **Unverified.** This driver is written against VirtualBox 7's documented CLI and is
//! verified only by the unit tests of its command lines and parsers here: VirtualBox
//! cannot be installed on the machines virtbench is developed on (Debian 12 has no
//! package; Oracle's repository is not reachable). On such hosts `probe` says so and
//! nothing else runs. docs/virtualbox.md says how to run it where VirtualBox exists.
//!
//! Per deployment, for each VM (`vb-<run-id>-<role>`, under the run's scratch dir):
//! createvm, modifyvm (memory, CPUs, virtio NAT NIC, `--natpf1` rules on 127.0.0.1,
//! COM1 to a file), storagectl, a disk per VM (a differencing image over the shared
//! appliance VDI, or a full clonemedium copy), storageattach, the VM's configuration
//! as its SMBIOS serial number, then startvm --type headless. Teardown powers off and
//! `unregistervm --delete`s every VM; `cleanup` finds leftovers by name.
//!
//! Role and peers: the appliance disk is generic (branch qemu, `artifact::disk`); its
//! init reads `virtbench.role=... virtbench.peers=...` from the SMBIOS system serial
//! (/sys/class/dmi/id/product_serial), which QEMU sets with `-smbios type=1,serial=`
//! and VirtualBox with the `DmiSystemSerial` extradata key used here.
//!
//! The VDI comes from `crate::artifact::appliance::build`, the same appliance QEMU boots.

pub mod vboxmanage;

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;

use self::vboxmanage::{Args, Controller, Forward, VBoxError, VBoxManage, VmSpec};
use super::{
    console, default_port, free_loopback_port, Availability, Deployment, Platform, PlatformError,
    ResourceSample, RunContext, Variant, ROLES,
};
use crate::measure::resources;
use crate::results::{keys, ArtifactRecord};
use crate::scenario::Scenario;
use crate::stats::Series;

/// The guest reaches the host (and so the other VMs' forwarded ports) at this address
/// on VirtualBox's NAT, as the lab's calculator did.
pub const NAT_HOST: &str = "10.0.2.2";

/// Extradata key of the SMBIOS type 1 serial number a BIOS-booted VM reports
/// (VirtualBox manual, "Configuring the BIOS DMI Information").
pub const DMI_SERIAL_KEY: &str = "VBoxInternal/Devices/pcbios/0/Config/DmiSystemSerial";

const NOT_FOUND_DEBIAN12: &str = "VBoxManage not found: VirtualBox is not installed; Debian 12 \
     has no virtualbox package and Oracle's repository is not reachable from this host";
const NOT_FOUND: &str = "VBoxManage not found on PATH: VirtualBox is not installed";
const NOT_FOUND_FIX: &str =
    "install VirtualBox 7 from Oracle on a host that allows it; then `virtbench doctor` lists it";
/// What one VM must know to play its part.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GuestRole {
    /// "sum", "sub", "mul", "div", "calculator", or "all" (the five in one VM).
    pub role: String,
    /// For a calculator in its own VM: `sum=10.0.2.2:PORT,sub=...`, the sub-services as
    /// the guest reaches them (the host's forwarded ports). `None`: the lab's ports on
    /// 127.0.0.1 inside the guest.
    pub peers: Option<String>,
}

impl GuestRole {
    /// The appliance's configuration words (the format of branch qemu's
    /// `platform::qemu::args::guest_config`; read by the guest's init).
    pub fn config(&self) -> String {
        let mut words = vec![format!("virtbench.role={}", self.role)];
        if let Some(p) = &self.peers {
            words.push(format!("virtbench.peers={p}"));
        }
        words.join(" ")
    }

    /// The `setextradata` pair that hands the configuration to the guest. `string:`
    /// keeps VirtualBox from reading a value that looks like a number as one.
    pub fn extradata(&self) -> (String, String) {
        (
            DMI_SERIAL_KEY.to_string(),
            format!("string:{}", self.config()),
        )
    }
}

/// Per-VM disk over the shared appliance VDI.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DiskMode {
    /// `createmedium --diffparent`: only the VM's writes, near zero bytes.
    Linked,
    /// `clonemedium`: a full copy.
    Clone,
}

impl DiskMode {
    pub fn parse(s: &str) -> Option<DiskMode> {
        match s {
            "linked" => Some(DiskMode::Linked),
            "clone" => Some(DiskMode::Clone),
            _ => None,
        }
    }
}

/// How the VMs of one deployment are laid out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Topology {
    /// Five VMs, one per role, as in the lab.
    PerRole,
    /// One VM running all five roles.
    AllInOne,
}

impl Topology {
    pub fn parse(s: &str) -> Option<Topology> {
        match s {
            "per-role" => Some(Topology::PerRole),
            "all-in-one" => Some(Topology::AllInOne),
            _ => None,
        }
    }
}

/// One VM of a deployment, before anything is created.
#[derive(Debug, Clone, PartialEq)]
pub struct PlannedVm {
    pub spec: VmSpec,
    pub guest: GuestRole,
}

/// The VMs of one deployment, in start order (sub-services first). `ports` holds a
/// free 127.0.0.1 port per forwarded role: every role per-role, only "calculator"
/// all-in-one (its VM, "all", answers on the calculator's port).
pub fn plan(
    run_id: &str,
    topology: Topology,
    memory_mib: u32,
    cpus: u32,
    work_dir: &Path,
    ports: &BTreeMap<&str, u16>,
) -> Vec<PlannedVm> {
    let vm = |role: &str, forwarded: &str, peers: Option<String>| {
        let name = vboxmanage::vm_name(run_id, role);
        PlannedVm {
            spec: VmSpec {
                serial_log: work_dir.join(format!("{name}.serial.log")),
                name,
                memory_mib,
                cpus,
                forwards: vec![Forward {
                    rule: forwarded.to_string(),
                    host_port: ports[forwarded],
                    guest_port: default_port(forwarded),
                }],
                // The lab's path: calculator VM -> its NAT -> host 127.0.0.1:<port>
                // -> the sub-service VM's forwarded port.
                reach_host_loopback: peers.is_some(),
            },
            guest: GuestRole {
                role: role.to_string(),
                peers,
            },
        }
    };
    match topology {
        Topology::PerRole => ROLES
            .iter()
            .map(|&role| {
                let peers = (role == "calculator").then(|| {
                    ["sum", "sub", "mul", "div"]
                        .iter()
                        .map(|s| format!("{s}={NAT_HOST}:{}", ports[s]))
                        .collect::<Vec<_>>()
                        .join(",")
                });
                vm(role, role, peers)
            })
            .collect(),
        Topology::AllInOne => vec![vm("all", "calculator", None)],
    }
}

/// Where a VM's disk comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PlannedDisk {
    Differencing { base: PathBuf, path: PathBuf },
    FullClone { base: PathBuf, path: PathBuf },
}

impl PlannedDisk {
    /// The VM's disk in its own folder (created by createvm, deleted by unregistervm).
    pub fn new(base: &Path, mode: DiskMode, vm_dir: &Path) -> PlannedDisk {
        let (base, path) = (base.to_path_buf(), vm_dir.join("disk.vdi"));
        match mode {
            DiskMode::Linked => PlannedDisk::Differencing { base, path },
            DiskMode::Clone => PlannedDisk::FullClone { base, path },
        }
    }

    pub fn path(&self) -> &Path {
        match self {
            PlannedDisk::Differencing { path, .. } | PlannedDisk::FullClone { path, .. } => path,
        }
    }
}

/// Every VBoxManage call that creates one VM, in order (start excluded).
pub fn create_commands(
    vm: &PlannedVm,
    basefolder: &Path,
    controller: Controller,
    disk: &PlannedDisk,
) -> Vec<Args> {
    let name = &vm.spec.name;
    let (key, value) = vm.guest.extradata();
    vec![
        vboxmanage::createvm(name, basefolder),
        vboxmanage::modifyvm(&vm.spec),
        vboxmanage::storagectl(name, controller),
        match disk {
            PlannedDisk::Differencing { base, path } => vboxmanage::createmedium_diff(base, path),
            PlannedDisk::FullClone { base, path } => vboxmanage::clonemedium(base, path),
        },
        vboxmanage::storageattach(name, controller, disk.path()),
        vboxmanage::setextradata(name, &key, &value),
    ]
}

/// Why VBoxManage is missing, in this host's terms (`/etc/os-release` text).
pub fn not_found_reason(os_release: Option<&str>) -> &'static str {
    let is = |key: &str, value: &str| {
        os_release.is_some_and(|t| {
            t.lines()
                .filter_map(|l| l.split_once('='))
                .any(|(k, v)| k == key && v.trim_matches('"') == value)
        })
    };
    if is("ID", "debian") && is("VERSION_ID", "12") {
        NOT_FOUND_DEBIAN12
    } else {
        NOT_FOUND
    }
}

/// The VirtualBox platform. `Default` looks VBoxManage up on PATH and has no VDI
/// builder (so `prepare` fails with a clear message until one is wired in).
#[derive(Default, Clone)]
pub struct VirtualBox {
    vboxmanage: Option<PathBuf>,
    /// The VDI `prepare` built, used by every deployment of the run.
    vdi: Arc<Mutex<Option<PathBuf>>>,
}

impl std::fmt::Debug for VirtualBox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VirtualBox")
            .field("vboxmanage", &self.vboxmanage)
            .field("vdi", &self.vdi)
            .finish()
    }
}

impl VirtualBox {
    /// Use this VBoxManage instead of PATH's (also for `probe`).
    pub fn with_vboxmanage(mut self, program: PathBuf) -> Self {
        self.vboxmanage = Some(program);
        self
    }

    /// The executable: explicit, else the scenario's `virtualbox.vboxmanage`, else PATH.
    fn locate(&self, scenario: Option<&Scenario>) -> Result<PathBuf, PlatformError> {
        if let Some(p) = &self.vboxmanage {
            return Ok(p.clone());
        }
        if let Some(p) = scenario.and_then(|s| s.virtualbox.vboxmanage.as_deref()) {
            let path = PathBuf::from(p);
            return if path.is_file() {
                Ok(path)
            } else {
                Err(PlatformError::Failed(format!(
                    "scenario field `virtualbox.vboxmanage` = {p:?}: no such file"
                )))
            };
        }
        let path = std::env::var_os("PATH").unwrap_or_default();
        vboxmanage::find_in_path(&path, &["VBoxManage", "vboxmanage"]).ok_or_else(|| {
            let os = std::fs::read_to_string("/etc/os-release").ok();
            PlatformError::Failed(not_found_reason(os.as_deref()).to_string())
        })
    }
}

fn vbox_err(e: VBoxError) -> PlatformError {
    match e {
        VBoxError::Cancelled { .. } => PlatformError::Cancelled,
        e => PlatformError::Backend {
            context: "virtualbox".into(),
            source: Box::new(e),
        },
    }
}

/// Power a VM off and delete it with everything it owns. Already stopped or already
/// gone counts as done, so this is idempotent.
async fn destroy_vm(vbm: &VBoxManage, name: &str) -> Result<(), PlatformError> {
    match vbm.run(&vboxmanage::poweroff(name), None).await {
        Ok(_) => {}
        Err(e) if vboxmanage::is_gone_or_stopped(e.stderr()) => {}
        Err(e) => tracing::warn!(vm = name, "poweroff: {e}"),
    }
    // VBoxHeadless releases the machine's session lock a moment after poweroff.
    let mut tries = 0;
    loop {
        match vbm.run(&vboxmanage::unregistervm(name), None).await {
            Ok(_) => return Ok(()),
            Err(e) if e.stderr().contains("Could not find a registered machine") => return Ok(()),
            Err(e) if vboxmanage::is_locked(e.stderr()) && tries < 20 => {
                tries += 1;
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
            Err(e) => return Err(vbox_err(e)),
        }
    }
}

#[async_trait]
impl Platform for VirtualBox {
    fn name(&self) -> &'static str {
        "virtualbox"
    }

    fn facts(&self) -> super::facts::Facts {
        super::facts::Facts::vm("VirtualBox", super::facts::Hypervisor::Hosted)
    }

    async fn probe(&self) -> Availability {
        let program = match self.locate(None) {
            Ok(p) => p,
            Err(e) => {
                return Availability::Unavailable {
                    reason: e.to_string(),
                    fix: NOT_FOUND_FIX.into(),
                }
            }
        };
        // Bounded: a broken install (VBoxSVC not starting) must not stall `doctor`.
        let vbm = VBoxManage::new(program.clone()).with_timeout(Duration::from_secs(10));
        let version = match vbm.run(&vboxmanage::version(), None).await {
            Ok(out) => match vboxmanage::parse_version(&out) {
                Some(v) => v,
                None => {
                    return Availability::Unavailable {
                        reason: format!(
                            "{} --version printed no version: {}",
                            program.display(),
                            out.trim()
                        ),
                        fix: "reinstall VirtualBox 7".into(),
                    }
                }
            },
            Err(e) => {
                return Availability::Unavailable {
                    reason: e.to_string(),
                    fix: "check the VirtualBox installation: `VBoxManage --version` must work \
                          (on Linux the vboxdrv kernel module must load: `/sbin/vboxconfig`)"
                        .into(),
                }
            }
        };
        if vboxmanage::major_version(&version).is_some_and(|m| m < 7) {
            return Availability::Unavailable {
                reason: format!(
                    "VirtualBox {version} is older than 7.0, whose CLI this driver is written against"
                ),
                fix: "install VirtualBox 7 from Oracle".into(),
            };
        }
        let host = match vbm.run(&vboxmanage::list_hostinfo(), None).await {
            Ok(out) => vboxmanage::parse_hostinfo(&out),
            Err(e) => {
                return Availability::Unavailable {
                    reason: format!(
                    "VirtualBox {version} is installed but `VBoxManage list hostinfo` failed: {e}"
                ),
                    fix: "check that VBoxSVC starts (`VBoxManage list vms`)".into(),
                }
            }
        };
        if host.hw_virtualization == Some(false) {
            return Availability::Unavailable {
                reason: format!(
                    "VirtualBox {version} reports no usable VT-x/AMD-V on this host (`VBoxManage \
                     list hostinfo`); VirtualBox 7 cannot run 64-bit guests without it"
                ),
                fix: "enable VT-x/AMD-V in the firmware settings, or nested virtualization when \
                      this host is itself a VM"
                    .into(),
            };
        }
        let yes_no = |b: Option<bool>| match b {
            Some(true) => "yes",
            Some(false) => "no",
            None => "unknown",
        };
        Availability::Available {
            details: BTreeMap::from([
                ("vboxmanage".into(), program.display().to_string()),
                ("version".into(), version),
                (
                    "hw_virtualization".into(),
                    yes_no(host.hw_virtualization).into(),
                ),
                ("nested_paging".into(), yes_no(host.nested_paging).into()),
                (
                    "verification".into(),
                    "driver checked by unit tests of its VBoxManage command lines only".into(),
                ),
            ]),
        }
    }

    fn variants(&self, scenario: &Scenario) -> Vec<Variant> {
        let o = &scenario.virtualbox;
        o.topologies
            .iter()
            .map(|t| {
                Variant::new(
                    format!("virtualbox/{t}/{}", o.disk),
                    &[
                        ("topology", t.as_str()),
                        ("disk", o.disk.as_str()),
                        ("storage", o.storage.as_str()),
                        ("network", "nat"),
                        ("boot", "disk"),
                    ],
                )
            })
            .collect()
    }

    async fn prepare(&self, ctx: &RunContext) -> Result<Vec<ArtifactRecord>, PlatformError> {
        self.locate(Some(&ctx.scenario))?;
        let appliance = crate::artifact::appliance::build(&ctx.cache_dir).await?;
        let vdi = appliance.vdi.clone();
        // The raw and qcow2 disks are QEMU's; VirtualBox boots the VDI.
        let records = appliance
            .records
            .into_iter()
            .filter(|r| !matches!(r.name.as_str(), "disk-raw" | "disk-qcow2"))
            .collect();
        *self.vdi.lock().unwrap_or_else(|e| e.into_inner()) = Some(vdi);
        Ok(records)
    }

    async fn deploy(
        &self,
        ctx: &RunContext,
        variant: &Variant,
    ) -> Result<Box<dyn Deployment>, PlatformError> {
        let vdi = self.vdi.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let vdi = vdi.ok_or_else(|| {
            PlatformError::Failed("virtualbox: deploy before prepare: no appliance VDI yet".into())
        })?;
        let vbm = VBoxManage::new(self.locate(Some(&ctx.scenario))?);
        let s = &ctx.scenario;
        let bad = |field: &str, v: &str| {
            PlatformError::Failed(format!("virtualbox: unknown {field} {v:?}"))
        };
        let topology_name = variant.get("topology").unwrap_or("per-role");
        let topology =
            Topology::parse(topology_name).ok_or_else(|| bad("topology", topology_name))?;
        let mode = DiskMode::parse(&s.virtualbox.disk)
            .ok_or_else(|| bad("disk mode", &s.virtualbox.disk))?;
        let controller = Controller::parse(&s.virtualbox.storage)
            .ok_or_else(|| bad("storage", &s.virtualbox.storage))?;
        let memory_mib = s.virtualbox.memory_mib.unwrap_or(s.qemu.memory_mib);
        let cpus = s.virtualbox.cpus.unwrap_or(s.qemu.cpus);

        let forwarded: &[&str] = match topology {
            Topology::PerRole => &ROLES,
            Topology::AllInOne => &["calculator"],
        };
        let mut ports = BTreeMap::new();
        for role in forwarded {
            let port = loop {
                let p = free_loopback_port()
                    .map_err(PlatformError::io("finding a free loopback port"))?;
                if !ports.values().any(|&q| q == p) {
                    break p;
                }
            };
            ports.insert(*role, port);
        }
        let planned = plan(
            &ctx.run_id,
            topology,
            memory_mib,
            cpus,
            &ctx.work_dir,
            &ports,
        );
        let endpoint = SocketAddr::from((Ipv4Addr::LOCALHOST, ports["calculator"]));

        let mut dep = VboxDeployment {
            vbm,
            vms: Vec::new(),
            shared_base: vdi,
            endpoint,
            phases: Vec::new(),
            watch: None,
            details: BTreeMap::from([
                ("topology".into(), topology_name.to_string()),
                ("disk".into(), s.virtualbox.disk.clone()),
                ("storage".into(), s.virtualbox.storage.clone()),
                ("memory_mib".into(), memory_mib.to_string()),
                ("cpus".into(), cpus.to_string()),
                (
                    "network".into(),
                    "nat, virtio-net, port forwarding on 127.0.0.1".into(),
                ),
                (
                    crate::results::keys::ACCESS.into(),
                    crate::measure::outside::ACCESS_FORWARDED.into(),
                ),
            ]),
        };
        if let Err(e) = dep.create_and_start(ctx, &planned, mode, controller).await {
            if let Err(t) = dep.teardown().await {
                tracing::warn!("virtualbox teardown after failed deploy: {t}");
            }
            return Err(e);
        }
        Ok(Box::new(dep))
    }

    async fn extras(
        &self,
        ctx: &RunContext,
        deployment: &mut dyn Deployment,
    ) -> Result<BTreeMap<String, Series>, PlatformError> {
        let details = deployment.details();
        let vm = details.get("vm.endpoint").cloned().ok_or_else(|| {
            PlatformError::Failed("virtualbox extras: not a VirtualBox deployment".into())
        })?;
        let x = Experiments {
            vbm: VBoxManage::new(self.locate(Some(&ctx.scenario))?),
            ctx,
            vm,
            endpoint: deployment.endpoint(),
        };
        x.run().await
    }

    async fn cleanup(&self, run_id: Option<&str>) -> Result<usize, PlatformError> {
        // Without VBoxManage nothing of ours can exist.
        let Ok(program) = self.locate(None) else {
            return Ok(0);
        };
        let vbm = VBoxManage::new(program);
        let out = vbm
            .run(&vboxmanage::list_vms(), None)
            .await
            .map_err(vbox_err)?;
        let mut n = 0;
        let mut first_err = None;
        for vm in vboxmanage::parse_list_vms(&out) {
            if vboxmanage::is_run_vm(&vm.name, run_id) {
                // One stuck VM must not keep the others alive.
                match destroy_vm(&vbm, &vm.name).await {
                    Ok(()) => n += 1,
                    Err(e) => {
                        tracing::warn!(vm = %vm.name, "cleanup: {e}");
                        first_err.get_or_insert(e);
                    }
                }
            }
        }
        first_err.map_or(Ok(n), Err)
    }
}

/// One created VM of a deployment.
#[derive(Debug)]
struct VmState {
    name: String,
    role: String,
    serial_log: PathBuf,
    /// VBoxHeadless pids last seen, for `exited`.
    pids: Vec<u32>,
}

#[derive(Debug)]
struct VboxDeployment {
    vbm: VBoxManage,
    vms: Vec<VmState>,
    /// The appliance VDI the VMs' disks derive from: closed (not deleted) at teardown
    /// so VirtualBox forgets it and a rebuilt VDI at the same path does not clash.
    shared_base: PathBuf,
    endpoint: SocketAddr,
    phases: Vec<(String, Duration)>,
    /// Boot markers of the VM serving the endpoint, and when `startvm` was called.
    watch: Option<(console::OwnedWatcher, Instant)>,
    details: BTreeMap<String, String>,
}

impl VboxDeployment {
    async fn create_and_start(
        &mut self,
        ctx: &RunContext,
        planned: &[PlannedVm],
        mode: DiskMode,
        controller: Controller,
    ) -> Result<(), PlatformError> {
        let t0 = Instant::now();
        for p in planned {
            let name = p.spec.name.clone();
            // Recorded before the first call, so teardown covers a half-created VM.
            self.vms.push(VmState {
                name: name.clone(),
                role: p.guest.role.clone(),
                serial_log: p.spec.serial_log.clone(),
                pids: Vec::new(),
            });
            self.details
                .insert(format!("vm.{}", p.guest.role), name.clone());
            let disk = PlannedDisk::new(&self.shared_base, mode, &ctx.work_dir.join(&name));
            for cmd in create_commands(p, &ctx.work_dir, controller, &disk) {
                self.vbm
                    .run(&cmd, Some(&ctx.cancel))
                    .await
                    .map_err(vbox_err)?;
            }
        }
        let created = t0.elapsed();
        let t1 = Instant::now();
        for p in planned {
            // The VM serving the endpoint starts last: its markers time the boot.
            if p.guest.role == "calculator" || p.guest.role == "all" {
                let _ = std::fs::remove_file(&p.spec.serial_log);
                self.watch = Some((
                    console::OwnedWatcher::start(&p.spec.serial_log),
                    Instant::now(),
                ));
                self.details
                    .insert("vm.endpoint".into(), p.spec.name.clone());
            }
            self.vbm
                .run(&vboxmanage::startvm(&p.spec.name), Some(&ctx.cancel))
                .await
                .map_err(vbox_err)?;
        }
        let started = t1.elapsed();
        for vm in &mut self.vms {
            vm.pids = vboxmanage::headless_pids(&vm.name);
        }
        self.phases = vec![("create".into(), created), ("start".into(), started)];
        Ok(())
    }
}

fn alive(pid: u32) -> bool {
    crate::host::procfs::exists(pid)
}

#[async_trait]
impl Deployment for VboxDeployment {
    fn endpoint(&self) -> SocketAddr {
        self.endpoint
    }

    fn deploy_phases(&self) -> Vec<(String, Duration)> {
        self.phases.clone()
    }

    async fn ready_phases(&mut self) -> Vec<(String, Duration)> {
        let now = Instant::now();
        let Some((watch, started)) = &self.watch else {
            return Vec::new();
        };
        // The answer came, so the marker was printed: give the watcher a few polls.
        let deadline = now + Duration::from_millis(200);
        watch.wait_for(console::SERVICE_READY, deadline).await;
        let (Some(start), Some(ready)) = (
            watch.get(console::INIT_START),
            watch.get(console::SERVICE_READY),
        ) else {
            return Vec::new();
        };
        self.details.insert(
            "guest_uptime_init_start_s".into(),
            format!("{:.3}", start.0.uptime_s),
        );
        self.details.insert(
            "guest_uptime_service_ready_s".into(),
            format!("{:.3}", ready.0.uptime_s),
        );
        console::boot_phases(*started, start.1, ready.1, now)
    }

    async fn sample(&self) -> Result<ResourceSample, PlatformError> {
        // Fresh /proc scan each time: a VM restarted by an experiment has a new pid.
        // VBoxSVC and VBoxXPCOMIPCD serve every VM of the user and are not counted.
        let mut pids = Vec::new();
        for vm in &self.vms {
            let found = vboxmanage::headless_pids(&vm.name);
            if found.is_empty() {
                return Err(PlatformError::Failed(format!(
                    "virtualbox: no VBoxHeadless process runs VM {} ({})",
                    vm.name, vm.role
                )));
            }
            pids.extend(found);
        }
        Ok(resources::processes(&pids))
    }

    fn exited(&mut self) -> Option<String> {
        if let Some((m, _)) = self.watch.as_ref().and_then(|(w, _)| w.get(console::FATAL)) {
            return Some(format!("guest init failed: {}", m.rest));
        }
        for vm in &mut self.vms {
            if !vm.pids.is_empty() && vm.pids.iter().any(|&p| alive(p)) {
                continue;
            }
            let now = vboxmanage::headless_pids(&vm.name);
            if now.is_empty() && !vm.pids.is_empty() {
                return Some(format!(
                    "VirtualBox VM {} ({}) stopped: its VBoxHeadless process exited (serial log: {})",
                    vm.name,
                    vm.role,
                    vm.serial_log.display()
                ));
            }
            vm.pids = now;
        }
        None
    }

    fn details(&self) -> BTreeMap<String, String> {
        self.details.clone()
    }

    async fn teardown(&mut self) -> Result<(), PlatformError> {
        self.watch = None;
        let mut first_err = None;
        let mut failed = Vec::new();
        while let Some(vm) = self.vms.pop() {
            if let Err(e) = destroy_vm(&self.vbm, &vm.name).await {
                first_err.get_or_insert(e);
                failed.push(vm);
            }
        }
        // Kept so a second teardown retries them (cleanup(run_id) is the backstop).
        self.vms = failed;
        if self.vms.is_empty() {
            if let Err(e) = self
                .vbm
                .run(&vboxmanage::closemedium(&self.shared_base), None)
                .await
            {
                // Fine when another deployment still uses it or it was never opened.
                tracing::debug!("closemedium {}: {e}", self.shared_base.display());
            }
        }
        first_err.map_or(Ok(()), Err)
    }
}

/// The VM experiments of claims C11 (cloning) and C13 (snapshot, restore, resize), on
/// the VM that serves the calculator. One sample each: every one costs a VM restart.
struct Experiments<'a> {
    vbm: VBoxManage,
    ctx: &'a RunContext,
    vm: String,
    endpoint: SocketAddr,
}

const SNAPSHOT: &str = "virtbench";

impl Experiments<'_> {
    async fn call(&self, a: &Args) -> Result<String, PlatformError> {
        self.vbm
            .run(a, Some(&self.ctx.cancel))
            .await
            .map_err(vbox_err)
    }

    async fn timed(&self, a: &Args) -> Result<f64, PlatformError> {
        let t = Instant::now();
        self.call(a).await?;
        Ok(ms(t.elapsed()))
    }

    /// Until the calculator answers correctly again; returns when it did.
    async fn wait_ready(&self) -> Result<Instant, PlatformError> {
        let s = &self.ctx.scenario;
        let expr = s
            .workload
            .expressions
            .first()
            .map(String::as_str)
            .unwrap_or("(5+3)/2");
        let probe = crate::measure::Probe::for_expression(expr)
            .map_err(PlatformError::backend("workload expression"))?;
        crate::measure::startup::wait_first_correct(
            self.endpoint,
            &probe,
            Duration::from_secs_f64(s.startup.timeout_s),
            &self.ctx.cancel,
        )
        .await
        .map_err(PlatformError::backend(format!(
            "virtualbox: waiting for {} after restart",
            self.vm
        )))
    }

    async fn run(&self) -> Result<BTreeMap<String, Series>, PlatformError> {
        let mut out = BTreeMap::new();
        let mut put = |k: &str, unit: &str, v: f64| {
            out.insert(k.to_string(), Series::new(unit, vec![v]));
        };
        put(
            keys::SNAPSHOT_MS,
            "ms",
            self.timed(&vboxmanage::snapshot_take(&self.vm, SNAPSHOT))
                .await?,
        );

        // C11: full and linked clone of the running VM's snapshot; disk cost from the
        // clone's folder (allocated blocks: VDIs are sparse). Clones are never started.
        for (kind, linked, ms_key, bytes_key) in [
            (
                "full",
                false,
                keys::VM_CLONE_FULL_MS,
                keys::VM_CLONE_FULL_BYTES,
            ),
            (
                "overlay",
                true,
                keys::VM_CLONE_OVERLAY_MS,
                keys::VM_CLONE_OVERLAY_BYTES,
            ),
        ] {
            let clone = vboxmanage::vm_name(&self.ctx.run_id, &format!("clone-{kind}"));
            let cmd = vboxmanage::clonevm(&self.vm, SNAPSHOT, &clone, &self.ctx.work_dir, linked);
            let took = self.timed(&cmd).await;
            let bytes = allocated_bytes(&self.ctx.work_dir.join(&clone));
            destroy_vm(&self.vbm, &clone).await?;
            put(ms_key, "ms", took?);
            put(bytes_key, "bytes", bytes as f64);
        }

        // C13 resize: VirtualBox refuses modifyvm on a running VM (it needs the
        // machine's write lock); recorded as observed, then the stop-resize-start
        // downtime until the calculator answers again.
        let s = &self.ctx.scenario;
        let memory = s.virtualbox.memory_mib.unwrap_or(s.qemu.memory_mib);
        let online = self
            .vbm
            .run(
                &vboxmanage::modifyvm_memory(&self.vm, memory * 2),
                Some(&self.ctx.cancel),
            )
            .await;
        // The claims table reads the live-resize outcome as a ratio (1 = resized live).
        match live_resize_figure(&online) {
            Some(v) => put(keys::RESIZE_LIVE_OK, "ratio", v),
            None => tracing::warn!(
                vm = %self.vm,
                "resize of the running VM failed for another reason than the VM running; no live-resize figure: {}",
                online.as_ref().err().map(ToString::to_string).unwrap_or_default()
            ),
        }
        let t = Instant::now();
        self.call(&vboxmanage::poweroff(&self.vm)).await?;
        self.when_unlocked(&vboxmanage::modifyvm_memory(&self.vm, memory * 2))
            .await?;
        self.call(&vboxmanage::startvm(&self.vm)).await?;
        let ready = self.wait_ready().await?;
        put(keys::RESIZE_DOWNTIME_MS, "ms", ms(ready.duration_since(t)));

        // C13 restore: VirtualBox restores only a stopped VM; the live snapshot brings
        // back the running guest (and the memory size it had).
        let t = Instant::now();
        self.call(&vboxmanage::poweroff(&self.vm)).await?;
        let restore = Instant::now();
        self.when_unlocked(&vboxmanage::snapshot_restore(&self.vm, SNAPSHOT))
            .await?;
        let restore_ms = ms(restore.elapsed());
        self.call(&vboxmanage::startvm(&self.vm)).await?;
        let ready = self.wait_ready().await?;
        put(keys::RESTORE_MS, "ms", restore_ms);
        put(keys::RESTORE_DOWNTIME_MS, "ms", ms(ready.duration_since(t)));
        Ok(out)
    }

    /// Right after poweroff the session lock is still being released: retry briefly.
    async fn when_unlocked(&self, a: &Args) -> Result<(), PlatformError> {
        for _ in 0..20 {
            match self.vbm.run(a, Some(&self.ctx.cancel)).await {
                Ok(_) => return Ok(()),
                Err(e) if vboxmanage::is_locked(e.stderr()) => {
                    tokio::time::sleep(Duration::from_millis(250)).await
                }
                Err(e) => return Err(vbox_err(e)),
            }
        }
        self.call(a).await.map(|_| ())
    }
}

/// C13's live-resize figure from `modifyvm` on the running VM: 1 when it resized, 0
/// when VirtualBox refused because the VM is running, and nothing for any other failure
/// (timeout, cancel, a bad argument, VBoxSVC gone), which says nothing about resizing a
/// running VM and must not read as a refusal.
pub fn live_resize_figure(outcome: &Result<String, VBoxError>) -> Option<f64> {
    match outcome {
        Ok(_) => Some(1.0),
        Err(e @ VBoxError::Failed { .. }) if vboxmanage::is_refused_while_running(e.stderr()) => {
            Some(0.0)
        }
        Err(_) => None,
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Bytes a directory really occupies on disk (sparse files count what is allocated).
pub fn allocated_bytes(dir: &Path) -> u64 {
    use std::os::unix::fs::MetadataExt;
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| match e.metadata() {
            Ok(m) if m.is_dir() => allocated_bytes(&e.path()),
            Ok(m) => m.blocks() * 512,
            Err(_) => 0,
        })
        .sum()
}

/// Argument lists as a user would type them, for tests and logs.
pub fn strings(cmds: &[Args]) -> Vec<String> {
    cmds.iter().map(|a| vboxmanage::display(a)).collect()
}

#[cfg(test)]
mod tests;
