//! The plan of a VirtualBox deployment: which VMs (one per role, or all five in one),
//! their ports, disks and the `VBoxManage` commands that create each; pure data, tested
//! without VirtualBox.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::vboxmanage::{self, Args, Controller, Forward, VmSpec};
use super::{DMI_SERIAL_KEY, NAT_HOST};
use crate::platform::{default_port, ROLES};

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

/// Argument lists as a user would type them, for tests and logs.
pub fn strings(cmds: &[Args]) -> Vec<String> {
    cmds.iter().map(|a| vboxmanage::display(a)).collect()
}
