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

mod deployment;
mod experiments;
mod plan;
pub mod vboxmanage;

pub use experiments::{allocated_bytes, live_resize_figure};
pub use plan::*;

use deployment::VboxDeployment;
use experiments::Experiments;

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;

use self::vboxmanage::{Controller, VBoxError, VBoxManage};
use super::{
    free_loopback_port, Availability, Deployment, Platform, PlatformError, RunContext, Variant,
    ROLES,
};
use crate::results::ArtifactRecord;
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
        VBoxError::Harness(e) => e,
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
            PlatformError::at(
                "virtualbox",
                "deploy",
                "no appliance VDI yet: deploy before prepare",
            )
        })?;
        let vbm = VBoxManage::new(self.locate(Some(&ctx.scenario))?);
        let s = &ctx.scenario;
        let bad = |field: &str, v: &str| {
            PlatformError::at("virtualbox", "variant", format!("unknown {field} {v:?}"))
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
                    crate::measure::outside::Access::Forwarded.as_str().into(),
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
        let vm = deployment
            .as_any_mut()
            .and_then(|d| d.downcast_mut::<VboxDeployment>())
            .and_then(|d| d.endpoint_vm())
            .ok_or_else(|| {
                PlatformError::at("virtualbox", "extras", "not a VirtualBox deployment")
            })?;
        let x = Experiments {
            vbm: VBoxManage::new(self.locate(Some(&ctx.scenario))?),
            ctx,
            vm,
            endpoint: deployment.endpoint(),
        };
        x.run().await
    }

    async fn leftovers(&self, run_id: Option<&str>) -> Result<Option<Vec<String>>, PlatformError> {
        let Ok(program) = self.locate(None) else {
            return Ok(Some(Vec::new()));
        };
        let out = VBoxManage::new(program)
            .with_timeout(Duration::from_secs(30))
            .run(&vboxmanage::list_vms(), None)
            .await
            .map_err(vbox_err)?;
        Ok(Some(
            vboxmanage::parse_list_vms(&out)
                .into_iter()
                .filter(|vm| vboxmanage::is_run_vm(&vm.name, run_id))
                .map(|vm| format!("vm {}", vm.name))
                .collect(),
        ))
    }

    fn leftovers_impossible(&self) -> Option<String> {
        self.locate(None)
            .err()
            .map(|e| format!("{e}: no VirtualBox VM can exist"))
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

#[cfg(test)]
mod tests;
