//! The VM experiments of claims C11 (cloning) and C13 (snapshot, restore, resize) on a
//! VirtualBox deployment.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use super::vboxmanage::{self, Args, VBoxError, VBoxManage};
use super::{destroy_vm, vbox_err};
use crate::platform::{PlatformError, RunContext};
use crate::results::keys;
use crate::stats::Series;

/// The VM experiments of claims C11 (cloning) and C13 (snapshot, restore, resize), on
/// the VM that serves the calculator. One sample each: every one costs a VM restart.
pub(super) struct Experiments<'a> {
    pub(super) vbm: VBoxManage,
    pub(super) ctx: &'a RunContext,
    pub(super) vm: String,
    pub(super) endpoint: SocketAddr,
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

    pub(super) async fn run(&self) -> Result<BTreeMap<String, Series>, PlatformError> {
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
