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
//! appliance VDI, or a full clonemedium copy, or a disk written for that VM by the
//! appliance builder), storageattach, then startvm --type headless. Teardown powers
//! off and `unregistervm --delete`s every VM; `cleanup` finds leftovers by name.
//!
//! How a VM learns its role and peers is not decided on the appliance side yet (branch
//! qemu: `crate::artifact::appliance`). The driver therefore takes it as a parameter,
//! the [`Appliance`] trait: give a per-VM disk, or the shared VDI plus VM extradata.

pub mod vboxmanage;

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;

use self::vboxmanage::{Args, Controller, Forward, VBoxError, VBoxManage, VmSpec};
use super::{
    default_port, free_loopback_port, Availability, Deployment, Platform, PlatformError,
    ResourceSample, RunContext, Variant, ROLES,
};
use crate::measure::resources;
use crate::results::ArtifactRecord;
use crate::scenario::Scenario;
use crate::stats::Series;

/// The guest reaches the host (and so the other VMs' forwarded ports) at this address
/// on VirtualBox's NAT, as the lab's calculator did.
pub const NAT_HOST: &str = "10.0.2.2";

const NOT_FOUND_DEBIAN12: &str =
    "VBoxManage not found: VirtualBox is not installed; Debian 12 has no virtualbox \
     package and Oracle's repository is not reachable from this host";
const NOT_FOUND: &str = "VBoxManage not found on PATH: VirtualBox is not installed";
const NOT_FOUND_FIX: &str =
    "install VirtualBox 7 from Oracle on a host that allows it; then `virtbench doctor` lists it";
const NO_APPLIANCE: &str = "virtualbox: no VM appliance to boot: the VDI builder \
     (crate::artifact::appliance::build, being written on branch qemu) and a way to give each VM its \
     role are not wired in yet (VirtualBox::with_appliance)";

/// What one VM must know to play its part: the same facts the native platform passes
/// as flags. Every role listens on its lab port (`default_port`) inside the guest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GuestRole {
    /// Roles this VM runs: one, or all five in the all-in-one topology.
    pub roles: Vec<String>,
    /// Sub-service base URLs as the guest sees them (`http://10.0.2.2:<forwarded host
    /// port>` across VMs, `http://127.0.0.1:5000x` inside one VM). Empty for a VM that
    /// runs no calculator.
    pub peers: BTreeMap<String, String>,
}

/// The disk one VM boots.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VmDisk {
    /// The shared appliance VDI, the same for every VM: each VM gets a differencing
    /// image over it or a full copy (`virtualbox.disk`). The role then travels outside
    /// the disk, as `setextradata` key/values (e.g. DMI OEM strings the guest reads).
    Shared {
        base: PathBuf,
        extradata: Vec<(String, String)>,
    },
    /// A VDI written for this VM alone (e.g. its syslinux.cfg holds the kernel command
    /// line with role and peers); attached as is and deleted with the VM.
    Own(PathBuf),
}

/// The appliance as VirtualBox boots it: supplied by the appliance builder.
#[async_trait]
pub trait Appliance: Send + Sync + std::fmt::Debug {
    /// Build or reuse the appliance's artifacts (the VDI...), for the results.
    async fn prepare(&self, cache_dir: &Path) -> Result<Vec<ArtifactRecord>, PlatformError>;

    /// The disk the VM named `vm` boots to play `guest`; `scratch` is a free path in
    /// the run's scratch directory for an [`VmDisk::Own`] disk.
    async fn disk_for(
        &self,
        vm: &str,
        guest: &GuestRole,
        scratch: &Path,
    ) -> Result<VmDisk, PlatformError>;

    /// The guest's own boot marker in its serial output, if printed yet: the guest's
    /// uptime when its service was ready.
    fn boot_marker(&self, serial_log: &str) -> Option<Duration>;
}

/// Per-VM disk over a [`VmDisk::Shared`] base.
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
    /// "sum", ..., "calculator", or "all".
    pub label: String,
    pub spec: VmSpec,
    pub guest: GuestRole,
}

/// The VMs of one deployment, in start order (sub-services first), and the host port
/// the calculator answers on. `ports` holds a free 127.0.0.1 port per role that gets
/// forwarded (every role per-role; only "calculator" all-in-one).
pub fn plan(
    run_id: &str,
    topology: Topology,
    memory_mib: u32,
    cpus: u32,
    work_dir: &Path,
    ports: &BTreeMap<&str, u16>,
) -> Vec<PlannedVm> {
    let vm = |label: &str, roles: &[&str], peers: BTreeMap<String, String>, reach_host: bool| {
        let name = vboxmanage::vm_name(run_id, label);
        PlannedVm {
            label: label.to_string(),
            spec: VmSpec {
                serial_log: work_dir.join(format!("{name}.serial.log")),
                name,
                memory_mib,
                cpus,
                forwards: roles
                    .iter()
                    .filter(|r| ports.contains_key(**r))
                    .map(|r| Forward {
                        rule: r.to_string(),
                        host_port: ports[*r],
                        guest_port: default_port(r),
                    })
                    .collect(),
                reach_host_loopback: reach_host,
            },
            guest: GuestRole {
                roles: roles.iter().map(|r| r.to_string()).collect(),
                peers,
            },
        }
    };
    let subs = ["sum", "sub", "mul", "div"];
    match topology {
        Topology::PerRole => ROLES
            .iter()
            .map(|&role| {
                if role == "calculator" {
                    // The lab's path: calculator VM -> its NAT -> host 127.0.0.1:<port>
                    // -> the sub-service VM's forwarded port.
                    let peers = subs
                        .iter()
                        .map(|s| (s.to_string(), format!("http://{NAT_HOST}:{}", ports[s])))
                        .collect();
                    vm(role, &[role], peers, true)
                } else {
                    vm(role, &[role], BTreeMap::new(), false)
                }
            })
            .collect(),
        Topology::AllInOne => {
            let peers = subs
                .iter()
                .map(|s| {
                    (
                        s.to_string(),
                        format!("http://127.0.0.1:{}", default_port(s)),
                    )
                })
                .collect();
            vec![vm("all", &ROLES, peers, false)]
        }
    }
}

/// A VM's disk, resolved from [`VmDisk`] and the disk mode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PlannedDisk {
    Differencing { base: PathBuf, path: PathBuf },
    FullClone { base: PathBuf, path: PathBuf },
    Own(PathBuf),
}

impl PlannedDisk {
    pub fn resolve(disk: &VmDisk, mode: DiskMode, vm_dir: &Path) -> PlannedDisk {
        match disk {
            VmDisk::Own(p) => PlannedDisk::Own(p.clone()),
            VmDisk::Shared { base, .. } => {
                let path = vm_dir.join("disk.vdi");
                match mode {
                    DiskMode::Linked => PlannedDisk::Differencing {
                        base: base.clone(),
                        path,
                    },
                    DiskMode::Clone => PlannedDisk::FullClone {
                        base: base.clone(),
                        path,
                    },
                }
            }
        }
    }

    pub fn path(&self) -> &Path {
        match self {
            PlannedDisk::Differencing { path, .. } | PlannedDisk::FullClone { path, .. } => path,
            PlannedDisk::Own(p) => p,
        }
    }
}

/// Every VBoxManage call that creates one VM, in order (start excluded).
pub fn create_commands(
    spec: &VmSpec,
    basefolder: &Path,
    controller: Controller,
    disk: &PlannedDisk,
    extradata: &[(String, String)],
) -> Vec<Args> {
    let mut cmds = vec![
        vboxmanage::createvm(&spec.name, basefolder),
        vboxmanage::modifyvm(spec),
        vboxmanage::storagectl(&spec.name, controller),
    ];
    match disk {
        PlannedDisk::Differencing { base, path } => {
            cmds.push(vboxmanage::createmedium_diff(base, path))
        }
        PlannedDisk::FullClone { base, path } => cmds.push(vboxmanage::clonemedium(base, path)),
        PlannedDisk::Own(_) => {}
    }
    cmds.push(vboxmanage::storageattach(
        &spec.name,
        controller,
        disk.path(),
    ));
    for (k, v) in extradata {
        cmds.push(vboxmanage::setextradata(&spec.name, k, v));
    }
    cmds
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

/// The VirtualBox platform. `Default` looks VBoxManage up on PATH and has no appliance
/// (so `prepare` fails with a clear message until the appliance builder is wired in).
#[derive(Debug, Default, Clone)]
pub struct VirtualBox {
    vboxmanage: Option<PathBuf>,
    appliance: Option<Arc<dyn Appliance>>,
}

impl VirtualBox {
    /// Use this VBoxManage instead of PATH's (also for `probe`).
    pub fn with_vboxmanage(mut self, program: PathBuf) -> Self {
        self.vboxmanage = Some(program);
        self
    }

    pub fn with_appliance(mut self, appliance: Arc<dyn Appliance>) -> Self {
        self.appliance = Some(appliance);
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

    fn appliance(&self) -> Result<Arc<dyn Appliance>, PlatformError> {
        self.appliance
            .clone()
            .ok_or_else(|| PlatformError::Failed(NO_APPLIANCE.into()))
    }
}

fn vbox_err(e: VBoxError) -> PlatformError {
    PlatformError::Backend {
        context: "virtualbox".into(),
        source: Box::new(e),
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
            Err(e) => return Availability::Unavailable {
                reason: e.to_string(),
                fix:
                    "check the VirtualBox installation: `VBoxManage --version` must work (on Linux \
                          the vboxdrv kernel module must load: `/sbin/vboxconfig`)"
                        .into(),
            },
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
            Err(e) => return Availability::Unavailable {
                reason: format!(
                    "VirtualBox {version} is installed but `VBoxManage list hostinfo` failed: {e}"
                ),
                fix: "check that VBoxSVC starts (`VBoxManage list vms`)".into(),
            },
        };
        if host.hw_virtualization == Some(false) {
            return Availability::Unavailable {
                reason: format!(
                    "VirtualBox {version} reports no usable VT-x/AMD-V on this host (`VBoxManage list \
                     hostinfo`); VirtualBox 7 cannot run 64-bit guests without it"
                ),
                fix: "enable VT-x/AMD-V in the firmware settings, or nested virtualization when this host \
                      is itself a VM"
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
        self.appliance()?.prepare(&ctx.cache_dir).await
    }

    async fn deploy(
        &self,
        ctx: &RunContext,
        variant: &Variant,
    ) -> Result<Box<dyn Deployment>, PlatformError> {
        let appliance = self.appliance()?;
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
            ports.insert(
                *role,
                free_loopback_port().map_err(PlatformError::io("finding a free loopback port"))?,
            );
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
        let endpoint_vm = planned
            .last()
            .map(|p| p.spec.name.clone())
            .unwrap_or_default();

        let mut dep = VboxDeployment {
            vbm,
            appliance: appliance.clone(),
            vms: Vec::new(),
            shared_bases: Vec::new(),
            endpoint,
            endpoint_vm,
            phases: Vec::new(),
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
            ]),
        };
        let result = dep.create_and_start(ctx, &planned, mode, controller).await;
        if let Err(e) = result {
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
        for vm in vboxmanage::parse_list_vms(&out) {
            if vboxmanage::is_run_vm(&vm.name, run_id) {
                destroy_vm(&vbm, &vm.name).await?;
                n += 1;
            }
        }
        Ok(n)
    }
}

/// One created VM of a deployment.
#[derive(Debug)]
struct VmState {
    name: String,
    label: String,
    serial_log: PathBuf,
    /// A disk written for this VM, removed at teardown if VirtualBox left it.
    own_disk: Option<PathBuf>,
    /// VBoxHeadless pids last seen, for `exited`.
    pids: Vec<u32>,
}

#[derive(Debug)]
struct VboxDeployment {
    vbm: VBoxManage,
    appliance: Arc<dyn Appliance>,
    vms: Vec<VmState>,
    /// Shared appliance VDIs the VMs' differencing images hang from: closed (not
    /// deleted) at teardown so VirtualBox forgets them.
    shared_bases: Vec<PathBuf>,
    endpoint: SocketAddr,
    endpoint_vm: String,
    phases: Vec<(String, Duration)>,
    details: BTreeMap<String, String>,
}

impl VboxDeployment {
    async fn run(&self, a: &Args, ctx: &RunContext) -> Result<String, PlatformError> {
        self.vbm
            .run(a, Some(&ctx.cancel))
            .await
            .map_err(|e| match e {
                VBoxError::Cancelled { .. } => PlatformError::Cancelled,
                e => vbox_err(e),
            })
    }

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
                label: p.label.clone(),
                serial_log: p.spec.serial_log.clone(),
                own_disk: None,
                pids: Vec::new(),
            });
            self.details.insert(format!("vm.{}", p.label), name.clone());
            let scratch = ctx.work_dir.join(format!("{name}.own.vdi"));
            let disk = self.appliance.disk_for(&name, &p.guest, &scratch).await?;
            let vm_dir = ctx.work_dir.join(&name);
            let planned_disk = PlannedDisk::resolve(&disk, mode, &vm_dir);
            let extradata = match &disk {
                VmDisk::Shared { base, extradata } => {
                    if !self.shared_bases.contains(base) {
                        self.shared_bases.push(base.clone());
                    }
                    extradata.clone()
                }
                VmDisk::Own(path) => {
                    if let Some(vm) = self.vms.last_mut() {
                        vm.own_disk = Some(path.clone());
                    }
                    Vec::new()
                }
            };
            for cmd in create_commands(
                &p.spec,
                &ctx.work_dir,
                controller,
                &planned_disk,
                &extradata,
            ) {
                self.run(&cmd, ctx).await?;
            }
        }
        let created = t0.elapsed();
        let t1 = Instant::now();
        for p in planned {
            self.run(&vboxmanage::startvm(&p.spec.name), ctx).await?;
        }
        let started = t1.elapsed();
        for vm in &mut self.vms {
            vm.pids = vboxmanage::headless_pids(&vm.name);
        }
        self.phases = vec![("create".into(), created), ("start".into(), started)];
        self.details
            .insert("vm.endpoint".into(), self.endpoint_vm.clone());
        Ok(())
    }
}

fn alive(pid: u32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
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
        let Some(vm) = self.vms.iter().find(|v| v.name == self.endpoint_vm) else {
            return Vec::new();
        };
        let Ok(log) = std::fs::read(&vm.serial_log) else {
            return Vec::new();
        };
        match self.appliance.boot_marker(&String::from_utf8_lossy(&log)) {
            Some(d) => vec![("guest_boot".into(), d)],
            None => Vec::new(),
        }
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
                    vm.name, vm.label
                )));
            }
            pids.extend(found);
        }
        Ok(resources::processes(&pids))
    }

    fn exited(&mut self) -> Option<String> {
        for vm in &mut self.vms {
            if !vm.pids.is_empty() && vm.pids.iter().any(|&p| alive(p)) {
                continue;
            }
            let now = vboxmanage::headless_pids(&vm.name);
            if now.is_empty() && !vm.pids.is_empty() {
                return Some(format!(
                    "VirtualBox VM {} ({}) stopped: its VBoxHeadless process exited (serial log: {})",
                    vm.name,
                    vm.label,
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
        let mut first_err = None;
        let mut failed = Vec::new();
        while let Some(vm) = self.vms.pop() {
            match destroy_vm(&self.vbm, &vm.name).await {
                Ok(()) => {
                    if let Some(d) = &vm.own_disk {
                        let _ = std::fs::remove_file(d);
                    }
                }
                Err(e) => {
                    first_err.get_or_insert(e);
                    failed.push(vm);
                }
            }
        }
        // Kept so a second teardown retries them (cleanup(run_id) is the backstop).
        self.vms = failed;
        if self.vms.is_empty() {
            for base in std::mem::take(&mut self.shared_bases) {
                if let Err(e) = self.vbm.run(&vboxmanage::closemedium(&base), None).await {
                    tracing::debug!("closemedium {}: {e}", base.display());
                }
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
            .map_err(|e| match e {
                VBoxError::Cancelled { .. } => PlatformError::Cancelled,
                e => vbox_err(e),
            })
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
            "snapshot_take_ms",
            "ms",
            self.timed(&vboxmanage::snapshot_take(&self.vm, SNAPSHOT))
                .await?,
        );

        // C11: full and linked clone of the running VM's snapshot; disk cost from the
        // clone's folder (allocated blocks: VDIs are sparse).
        for (kind, linked) in [("full", false), ("linked", true)] {
            let clone = vboxmanage::vm_name(&self.ctx.run_id, &format!("clone-{kind}"));
            let cmd = vboxmanage::clonevm(&self.vm, SNAPSHOT, &clone, &self.ctx.work_dir, linked);
            let took = self.timed(&cmd).await;
            let bytes = allocated_bytes(&self.ctx.work_dir.join(&clone));
            destroy_vm(&self.vbm, &clone).await?;
            put(&format!("clone_{kind}_ms"), "ms", took?);
            put(&format!("clone_{kind}_bytes"), "bytes", bytes as f64);
        }

        // C13 resize: VirtualBox refuses modifyvm on a running VM (it needs the machine's
        // write lock); recorded as observed, then the stop-resize-start downtime.
        let memory = self
            .ctx
            .scenario
            .virtualbox
            .memory_mib
            .unwrap_or(self.ctx.scenario.qemu.memory_mib);
        let online = self
            .call(&vboxmanage::modifyvm_memory(&self.vm, memory * 2))
            .await;
        if let Err(e) = &online {
            tracing::info!(vm = %self.vm, "resize of a running VM refused, as expected: {e}");
        }
        put(
            "resize_while_running_refused",
            "1 = refused",
            if online.is_err() { 1.0 } else { 0.0 },
        );
        let t = Instant::now();
        self.call(&vboxmanage::poweroff(&self.vm)).await?;
        self.modify_when_unlocked(&vboxmanage::modifyvm_memory(&self.vm, memory * 2))
            .await?;
        self.call(&vboxmanage::startvm(&self.vm)).await?;
        let ready = self.wait_ready().await?;
        put("resize_downtime_ms", "ms", ms(ready.duration_since(t)));

        // C13 restore: VirtualBox restores only a stopped VM; the live snapshot brings
        // back the running guest (and the memory size it had).
        let t = Instant::now();
        self.call(&vboxmanage::poweroff(&self.vm)).await?;
        let restore = Instant::now();
        self.modify_when_unlocked(&vboxmanage::snapshot_restore(&self.vm, SNAPSHOT))
            .await?;
        let restore_ms = ms(restore.elapsed());
        self.call(&vboxmanage::startvm(&self.vm)).await?;
        let ready = self.wait_ready().await?;
        put("snapshot_restore_ms", "ms", restore_ms);
        put(
            "snapshot_restore_downtime_ms",
            "ms",
            ms(ready.duration_since(t)),
        );
        Ok(out)
    }

    /// Right after poweroff the session lock is still being released: retry briefly.
    async fn modify_when_unlocked(&self, a: &Args) -> Result<(), PlatformError> {
        for _ in 0..20 {
            match self.vbm.run(a, Some(&self.ctx.cancel)).await {
                Ok(_) => return Ok(()),
                Err(e) if vboxmanage::is_locked(e.stderr()) => {
                    tokio::time::sleep(Duration::from_millis(250)).await
                }
                Err(VBoxError::Cancelled { .. }) => return Err(PlatformError::Cancelled),
                Err(e) => return Err(vbox_err(e)),
            }
        }
        self.call(a).await.map(|_| ())
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

/// Argument lists as strings, for tests and logs.
pub fn strings(cmds: &[Args]) -> Vec<String> {
    cmds.iter().map(|a| vboxmanage::display(a)).collect()
}

#[cfg(test)]
mod tests;
