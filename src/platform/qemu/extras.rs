//! VM experiments beside the main benchmark:
//! - clone (claim C11): a copy-on-write qcow2 overlay vs a full copy of the disk image,
//!   time and bytes;
//! - snapshot / restore (claim C13): `savevm` / `loadvm` of a running appliance
//!   through QMP, the time each takes, the service's time to answer again after a
//!   restore, and the bytes a snapshot adds to the disk.
//!
//! The snapshot runs on a VM of its own (booted from a qcow2 overlay, which savevm
//! needs), so the measured deployment is left as it was.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

use super::args::{self, Accel, Boot, Net, VmSpec};
use super::qmp::Qmp;
use super::vm::Vm;
use crate::artifact::disk;
use crate::measure::{startup, Probe};
use crate::platform::{free_loopback_port, PlatformError};
use crate::results::keys;
use crate::stats::Series;

/// Clones measured per kind.
pub const CLONES: usize = 5;
/// Snapshot/restore cycles.
pub const SNAPSHOTS: usize = 3;
const HMP_TIMEOUT: Duration = Duration::from_secs(120);

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn size(p: &Path) -> f64 {
    std::fs::metadata(p).map(|m| m.len() as f64).unwrap_or(0.0)
}

/// Allocated bytes on disk (a sparse or copy-on-write file costs less than its length).
fn allocated(p: &Path) -> f64 {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(p)
        .map(|m| m.blocks() as f64 * 512.0)
        .unwrap_or(0.0)
}

/// Clone the qcow2 image `CLONES` times each way.
pub async fn clones(base: &Path, dir: &Path) -> Result<BTreeMap<String, Series>, PlatformError> {
    let (base, dir) = (base.to_owned(), dir.to_owned());
    tokio::task::spawn_blocking(move || {
        let mut overlay_ms = Vec::new();
        let mut overlay_bytes = Vec::new();
        let mut copy_ms = Vec::new();
        let mut copy_bytes = Vec::new();
        for i in 0..CLONES {
            let o = dir.join(format!("clone-overlay-{i}.qcow2"));
            let t = Instant::now();
            disk::overlay(&base, &o)?;
            overlay_ms.push(ms(t.elapsed()));
            overlay_bytes.push(allocated(&o));
            let c = dir.join(format!("clone-copy-{i}.qcow2"));
            let t = Instant::now();
            // A full clone as VirtualBox's `clonevm` or `cp` makes it: every byte,
            // written to disk.
            std::fs::copy(&base, &c)
                .and_then(|_| std::fs::File::open(&c)?.sync_all())
                .map_err(PlatformError::io(format!("copying {}", base.display())))?;
            copy_ms.push(ms(t.elapsed()));
            copy_bytes.push(allocated(&c));
            let _ = std::fs::remove_file(&o);
            let _ = std::fs::remove_file(&c);
        }
        Ok(BTreeMap::from([
            (
                keys::VM_CLONE_OVERLAY_MS.to_string(),
                Series::new("ms", overlay_ms),
            ),
            (
                keys::VM_CLONE_OVERLAY_BYTES.to_string(),
                Series::new("bytes", overlay_bytes),
            ),
            (
                keys::VM_CLONE_FULL_MS.to_string(),
                Series::new("ms", copy_ms),
            ),
            (
                keys::VM_CLONE_FULL_BYTES.to_string(),
                Series::new("bytes", copy_bytes),
            ),
        ]))
    })
    .await
    .map_err(|e| PlatformError::Failed(format!("clone task: {e}")))?
}

/// Boot one all-in-one VM from an overlay of `base`, then savevm/loadvm it.
pub async fn snapshots(
    base: &Path,
    dir: &Path,
    accel: Accel,
    memory_mib: u32,
    name: &str,
    cancel: &CancellationToken,
) -> Result<BTreeMap<String, Series>, PlatformError> {
    let overlay = dir.join("snapshot.qcow2");
    {
        let (b, o) = (base.to_owned(), overlay.clone());
        tokio::task::spawn_blocking(move || disk::overlay(&b, &o))
            .await
            .map_err(|e| PlatformError::Failed(format!("overlay task: {e}")))??;
    }
    let port = free_loopback_port().map_err(PlatformError::io("finding a free loopback port"))?;
    let qmp_socket = dir.join("snapshot.qmp");
    let spec = VmSpec {
        name: name.into(),
        accel,
        machine: args::Machine::Q35,
        memory_mib,
        cpus: 1,
        boot: Boot::Disk {
            image: overlay.clone(),
            smbios_serial: args::guest_config("all", None, None, None),
        },
        net: Net::Nat {
            forwards: vec![(port, crate::platform::default_port("calculator"))],
            user_data: None,
        },
        console_log: dir.join("snapshot.console.log"),
        qmp_socket: Some(qmp_socket.clone()),
        netns: None,
        resizable: None,
    };
    let mut vm = Vm::spawn("all", &spec, &dir.join("snapshot.qemu.log"))?;
    let result = snapshot_cycles(&mut vm, &qmp_socket, &overlay, port, cancel).await;
    let stopped = vm.stop().await;
    let _ = std::fs::remove_file(&overlay);
    let out = result?;
    stopped?;
    Ok(out)
}

async fn snapshot_cycles(
    vm: &mut Vm,
    qmp_socket: &Path,
    overlay: &Path,
    port: u16,
    cancel: &CancellationToken,
) -> Result<BTreeMap<String, Series>, PlatformError> {
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let probe = Probe::for_expression("(5+3)/2").expect("constant expression");
    let answer = |timeout: Duration| {
        let probe = probe.clone();
        async move {
            startup::wait_first_correct(addr, &probe, timeout, cancel)
                .await
                .map_err(|e| e.context("snapshot VM"))
        }
    };
    answer(Duration::from_secs(120))
        .await
        .map_err(|e| match vm.exited() {
            Some(why) => PlatformError::Failed(why),
            None => e,
        })?;
    let mut qmp = Qmp::connect(qmp_socket, Duration::from_secs(5)).await?;
    let mut save_ms = Vec::new();
    let mut restore_ms = Vec::new();
    let mut restore_answer_ms = Vec::new();
    let mut bytes = Vec::new();
    for i in 0..SNAPSHOTS {
        let before = size(overlay);
        let t = Instant::now();
        let out = qmp.hmp(&format!("savevm vb{i}"), HMP_TIMEOUT).await?;
        save_ms.push(ms(t.elapsed()));
        // HMP reports failures as text, not as a QMP error.
        if !out.trim().is_empty() {
            return Err(PlatformError::Failed(format!("savevm: {}", out.trim())));
        }
        bytes.push((size(overlay) - before).max(0.0));
        answer(Duration::from_secs(30)).await?;
        let t = Instant::now();
        let out = qmp.hmp(&format!("loadvm vb{i}"), HMP_TIMEOUT).await?;
        restore_ms.push(ms(t.elapsed()));
        if !out.trim().is_empty() {
            return Err(PlatformError::Failed(format!("loadvm: {}", out.trim())));
        }
        answer(Duration::from_secs(30)).await?;
        restore_answer_ms.push(ms(t.elapsed()));
    }
    Ok(BTreeMap::from([
        (keys::SNAPSHOT_MS.to_string(), Series::new("ms", save_ms)),
        (keys::RESTORE_MS.to_string(), Series::new("ms", restore_ms)),
        (
            keys::RESTORE_TO_ANSWER_MS.to_string(),
            Series::new("ms", restore_answer_ms),
        ),
        (
            keys::SNAPSHOT_BYTES.to_string(),
            Series::new("bytes", bytes),
        ),
    ]))
}
