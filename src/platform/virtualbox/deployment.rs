//! A running VirtualBox deployment: its VMs, their creation and start, readiness
//! markers from the serial console, host-side resources of the VBoxHeadless processes,
//! and teardown.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use async_trait::async_trait;

use super::plan::{create_commands, DiskMode, PlannedDisk, PlannedVm};
use super::vboxmanage::{self, Controller, VBoxManage};
use super::{destroy_vm, vbox_err};
use crate::measure::resources;
use crate::platform::{console, Deployment, PlatformError, ResourceSample, RunContext};

/// One created VM of a deployment.
#[derive(Debug)]
pub(super) struct VmState {
    pub(super) name: String,
    pub(super) role: String,
    pub(super) serial_log: PathBuf,
    /// VBoxHeadless pids last seen, for `exited`.
    pub(super) pids: Vec<u32>,
}

#[derive(Debug)]
pub(super) struct VboxDeployment {
    pub(super) vbm: VBoxManage,
    pub(super) vms: Vec<VmState>,
    /// The appliance VDI the VMs' disks derive from: closed (not deleted) at teardown
    /// so VirtualBox forgets it and a rebuilt VDI at the same path does not clash.
    pub(super) shared_base: PathBuf,
    pub(super) endpoint: SocketAddr,
    pub(super) phases: Vec<(String, Duration)>,
    /// Boot markers of the VM serving the endpoint, and when `startvm` was called.
    pub(super) watch: Option<(console::OwnedWatcher, Instant)>,
    pub(super) details: BTreeMap<String, String>,
}

impl VboxDeployment {
    pub(super) async fn create_and_start(
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

impl VboxDeployment {
    /// The VM serving the calculator's endpoint (the one the experiments work on).
    pub(super) fn endpoint_vm(&self) -> Option<String> {
        self.details.get("vm.endpoint").cloned()
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

    fn as_any_mut(&mut self) -> Option<&mut dyn std::any::Any> {
        Some(self)
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
