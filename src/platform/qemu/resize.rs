//! C13 on a hosted hypervisor: change a running guest's size without stopping it, and
//! record what happened, failures included, as data.
//!
//! The lab says VirtualBox "must stop the VM first" to resize it. VirtualBox cannot run
//! here; QEMU, a hypervisor hosted on this Linux like VirtualBox, can be asked the same
//! thing: on a VM of its own (booted with room to grow: `maxcpus` above its CPUs and a
//! virtio-balloon device), while a prober sends the workload's expression every 50 ms,
//! - memory: QMP `balloon` to three quarters of the guest's RAM; done when the guest's balloon
//!   driver reports the new size (`query-balloon`'s `actual`);
//! - CPUs: QMP `device_add` of one more vCPU in a free hotplug slot
//!   (`query-hotpluggable-cpus`); done when the guest kernel acknowledged the
//!   insertion through ACPI (`query-acpi-ospm-status`: source 1 = insert, status 0 =
//!   success). The appliance has no udev: the new CPU is present in the guest, and
//!   onlining it would be its userspace's job.
//!
//! Whether the guest kept running: the probe's boot id before and after, the QEMU
//! process the same and QMP `query-status` "running" throughout. Whether the platform
//! demanded a stop: a change refused with a reason asking for a stopped or paused VM.
//! The appliance's initramfs loads only the virtio modules its deployments need; this
//! VM's initramfs is the appliance's with `virtio_balloon` appended (a second cpio
//! archive, which the kernel unpacks over the first), so that the guest can answer the
//! balloon. The microvm machine has no CPU hotplug in QEMU 7.2: its refusal is recorded.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{json, Value};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::args::{self, Accel, Boot, Machine, Net, Resizable, VmSpec};
use super::qmp::Qmp;
use super::vm::Vm;
use crate::artifact::{initramfs, kernel};
use crate::measure::{isolation, startup};
use crate::platform::{default_port, free_loopback_port, PlatformError};
use crate::results::keys;
use crate::stats::Series;

use crate::measure::downtime::{Prober, PROBE_EVERY};

/// How long the guest gets to answer a change (a balloon inflates page by page).
const CHANGE_TIMEOUT: Duration = Duration::from_secs(30);
const QMP_TIMEOUT: Duration = Duration::from_secs(10);

/// The VM to resize: the stock kernel and the appliance's initramfs it boots.
#[derive(Debug, Clone)]
pub struct ResizeVm {
    pub kernel: PathBuf,
    pub initramfs: PathBuf,
    /// The kernel's release: the balloon module must be this kernel's.
    pub release: String,
    pub machine: Machine,
    pub accel: Accel,
    pub memory_mib: u32,
    pub cpus: u32,
    /// `vb-<run id>-...`: how cleanup finds it.
    pub name: String,
}

/// Boot `vm` in `dir`, resize it live, stop it. Every outcome is in the map; an error
/// is returned only when the VM never answered (nothing was resized) or on Ctrl-C.
pub async fn resize(
    vm: &ResizeVm,
    cache_dir: &Path,
    dir: &Path,
    cancel: &CancellationToken,
) -> Result<BTreeMap<String, Series>, PlatformError> {
    let initrd = dir.join("resize-initrd.gz");
    let balloon_driver = {
        let (v, c, i) = (vm.clone(), cache_dir.to_owned(), initrd.clone());
        tokio::task::spawn_blocking(move || with_balloon_module(&v, &c, &i))
            .await
            .map_err(|e| PlatformError::Failed(format!("initramfs task: {e}")))??
    };
    let port = free_loopback_port().map_err(PlatformError::io("finding a free loopback port"))?;
    let qmp_socket = dir.join("resize.qmp");
    let clock = args::guest_clock(vm.machine, vm.accel, super::tsc::host_khz());
    let spec = VmSpec {
        name: vm.name.clone(),
        accel: vm.accel,
        machine: vm.machine,
        memory_mib: vm.memory_mib,
        cpus: vm.cpus,
        boot: Boot::Kernel {
            kernel: vm.kernel.clone(),
            initrd: initrd.clone(),
            append: args::kernel_append(&clock, &args::guest_config("all", None, None, None)),
        },
        net: Net::Nat {
            forwards: vec![(port, default_port("calculator"))],
            user_data: None,
        },
        console_log: dir.join("resize.console.log"),
        qmp_socket: Some(qmp_socket.clone()),
        netns: None,
        resizable: Some(Resizable {
            max_cpus: vm.cpus + 1,
        }),
    };
    let mut qemu = Vm::spawn("all", &spec, &dir.join("resize.qemu.log"))?;
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let result = changes(vm, &mut qemu, &qmp_socket, addr, &balloon_driver, cancel).await;
    let stopped = qemu.stop().await;
    let _ = std::fs::remove_file(&initrd);
    let out = result?;
    if let Err(e) = stopped {
        tracing::warn!("stopping the resize VM: {e}");
    }
    Ok(out)
}

/// The appliance's initramfs with the guest kernel's `virtio_balloon` (and what it
/// needs) appended, written to `out`. Returns how the guest got its balloon driver, or
/// why it has none (then `out` is the appliance's initramfs unchanged, and the balloon
/// will not be answered: recorded as such).
fn with_balloon_module(
    vm: &ResizeVm,
    cache_dir: &Path,
    out: &Path,
) -> Result<String, PlatformError> {
    let base = std::fs::read(&vm.initramfs).map_err(PlatformError::io(format!(
        "reading {}",
        vm.initramfs.display()
    )))?;
    let extra = match balloon_archive(vm, cache_dir) {
        Ok(Some((bytes, how))) => Some((bytes, how)),
        Ok(None) => None,
        Err(why) => {
            tracing::warn!("resize VM: no balloon module: {why}");
            std::fs::write(out, &base)
                .map_err(PlatformError::io(format!("writing {}", out.display())))?;
            return Ok(format!("no balloon driver in the guest: {why}"));
        }
    };
    let mut all = base;
    let how = match extra {
        Some((bytes, how)) => {
            // Concatenated compressed cpio archives are one initramfs to Linux; a
            // later file of the same path replaces the earlier (the module list).
            all.extend(bytes);
            how
        }
        None => "virtio_balloon built into the guest kernel".to_string(),
    };
    std::fs::write(out, &all).map_err(PlatformError::io(format!("writing {}", out.display())))?;
    Ok(how)
}

/// A gzip cpio archive holding `virtio_balloon` and its dependencies and a module list
/// naming them after the appliance's; `None` when the kernel has it built in.
fn balloon_archive(vm: &ResizeVm, cache_dir: &Path) -> Result<Option<(Vec<u8>, String)>, String> {
    let k = kernel::obtain(cache_dir).map_err(|e| e.to_string())?;
    if k.release != vm.release {
        return Err(format!(
            "the kernel found is {}, the VM boots {}",
            k.release, vm.release
        ));
    }
    // The modules live under .../lib/modules/<release>/kernel/...
    let moddir = k
        .modules
        .first()
        .and_then(|m| {
            m.path
                .ancestors()
                .find(|a| a.file_name().is_some_and(|n| n == k.release.as_str()))
        })
        .map(Path::to_path_buf)
        .ok_or_else(|| format!("no module directory of {} found", k.release))?;
    let extra = kernel::resolve_modules(&moddir, &["virtio_balloon"]).map_err(|e| e.to_string())?;
    if !extra.iter().any(|m| m.name == "virtio_balloon") {
        return Ok(None);
    }
    let dir = initramfs::modules_dir(&k.release);
    let mut entries = Vec::new();
    let mut order: Vec<String> = k.modules.iter().map(|m| m.name.clone()).collect();
    for m in &extra {
        entries.push(initramfs::Entry::file(
            &format!("{dir}/{}.ko", m.name),
            0o644,
            k.module_bytes(m).map_err(|e| e.to_string())?,
        ));
        if !order.contains(&m.name) {
            order.push(m.name.clone());
        }
    }
    let mut list = order.join("\n");
    list.push('\n');
    entries.push(initramfs::Entry::file(
        &format!("{dir}/{}", initramfs::LOAD_ORDER_FILE),
        0o644,
        list.into_bytes(),
    ));
    let bytes = initramfs::write_gz(Vec::new(), &entries).map_err(|e| e.to_string())?;
    Ok(Some((
        bytes,
        format!(
            "virtio_balloon from {} appended to the appliance's initramfs",
            k.source
        ),
    )))
}

/// One part of the resize: done or not, with what happened in words.
struct Part {
    ok: bool,
    /// Refused by the platform because the VM was running.
    demanded_stop: bool,
    what: String,
    ms: Option<f64>,
}

async fn changes(
    vm: &ResizeVm,
    qemu: &mut Vm,
    qmp_socket: &Path,
    addr: SocketAddr,
    balloon_driver: &str,
    cancel: &CancellationToken,
) -> Result<BTreeMap<String, Series>, PlatformError> {
    let probe = isolation::probe();
    startup::wait_first_correct(addr, &probe, Duration::from_secs(180), cancel)
        .await
        .map_err(|e| match qemu.exited() {
            Some(why) => PlatformError::Failed(why),
            None => e.context("resize VM"),
        })?;
    let pid = qemu.pid;
    let boot_before = boot_id(addr).await;
    let mut qmp = Qmp::connect(qmp_socket, Duration::from_secs(5)).await?;
    let running_before = running(&mut qmp).await;
    let prober = Prober::start(addr, probe);
    let start = Instant::now();
    let mut memory = balloon(&mut qmp, vm.memory_mib, balloon_driver).await;
    exited_during(qemu, &mut memory);
    let mut cpus = hotplug(&mut qmp, vm.cpus).await;
    exited_during(qemu, &mut cpus);
    let end = Instant::now();
    // A last probe after the changes: the service must answer on its own.
    tokio::time::sleep(PROBE_EVERY * 4).await;
    let running_after = running(&mut qmp).await;
    let boot_after = boot_id(addr).await;
    let downtime = prober.downtime(start, end + PROBE_EVERY * 4);
    prober.stop();
    let same_process = qemu.exited().is_none() && qemu.pid == pid;

    let mut out = BTreeMap::new();
    let part = |p: &Part| isolation::flag(p.ok).with_note(p.what.clone());
    out.insert(keys::RESIZE_MEMORY_OK.into(), part(&memory));
    out.insert(keys::RESIZE_CPUS_OK.into(), part(&cpus));
    for (key, p) in [("resize_memory_ms", &memory), ("resize_cpus_ms", &cpus)] {
        if let Some(ms) = p.ms {
            out.insert(key.into(), Series::new("ms", vec![ms]));
        }
    }
    let done: Vec<&str> = [&memory, &cpus]
        .iter()
        .filter(|p| p.ok)
        .map(|p| p.what.as_str())
        .collect();
    let not_done: Vec<&str> = [&memory, &cpus]
        .iter()
        .filter(|p| !p.ok)
        .map(|p| p.what.as_str())
        .collect();
    let ok = !done.is_empty();
    let mut note = if ok {
        format!("resized while running: {}", done.join("; "))
    } else {
        format!("not resized: {}", not_done.join("; "))
    };
    if ok && !not_done.is_empty() {
        note.push_str(&format!("; not done: {}", not_done.join("; ")));
    }
    out.insert(keys::RESIZE_OK.into(), isolation::flag(ok).with_note(note));
    out.insert(
        keys::RESIZE_DEMANDED_STOP.into(),
        isolation::flag(memory.demanded_stop || cpus.demanded_stop),
    );
    // Kept running: the same guest kernel (boot id), the same QEMU process, and QEMU
    // saying "running" before and after.
    let kept = match (&boot_before, &boot_after) {
        (Some(b), Some(a)) => Some(b == a && same_process && running_before && running_after),
        // The VM is gone: it did not keep running, whatever the probe could say.
        (_, None) if !same_process => Some(false),
        _ => None,
    };
    match kept {
        Some(k) => {
            let why = format!(
                "boot id {} before, {} after; QEMU process {}; status {} before, {} after",
                boot_before.as_deref().unwrap_or("?"),
                boot_after.as_deref().unwrap_or("?"),
                if same_process { "the same" } else { "gone" },
                if running_before {
                    "running"
                } else {
                    "not running"
                },
                if running_after {
                    "running"
                } else {
                    "not running"
                },
            );
            out.insert(
                keys::RESIZE_GUEST_KEPT_RUNNING.into(),
                isolation::flag(k).with_note(why),
            );
            // Live: resized and the guest ran across it.
            out.insert(keys::RESIZE_LIVE_OK.into(), isolation::flag(ok && k));
        }
        None => tracing::warn!("resize: the probe gave no boot id before or after"),
    }
    out.insert(
        keys::RESIZE_DOWNTIME_MS.into(),
        Series::new("ms", vec![downtime.as_secs_f64() * 1e3]),
    );
    tracing::info!(
        memory = %memory.what,
        cpus = %cpus.what,
        downtime_ms = downtime.as_secs_f64() * 1e3,
        "qemu live resize"
    );
    Ok(out)
}

/// The guest's boot id as its probe answers it (three tries: a TCG guest on a busy
/// host can miss one).
async fn boot_id(addr: SocketAddr) -> Option<String> {
    for _ in 0..3 {
        match isolation::ask(addr, &[]).await {
            Ok(a) if a.boot_id.is_some() => return a.boot_id,
            Ok(a) => tracing::warn!(answer = %a.text, "resize: the probe gave no boot id"),
            Err(e) => tracing::warn!("resize: probe: {e}"),
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    None
}

/// A change after which the VM exited is not done, whatever QEMU said before; the
/// reason says how it ended (e.g. the guest's kernel panicked out of memory).
fn exited_during(qemu: &mut Vm, part: &mut Part) {
    if let Some(why) = qemu.exited() {
        part.ok = false;
        part.what = format!("{}; then the VM exited: {why}", part.what);
    }
}

async fn running(qmp: &mut Qmp) -> bool {
    qmp.execute("query-status", None, QMP_TIMEOUT)
        .await
        .ok()
        .and_then(|v| {
            v.get("status")
                .and_then(Value::as_str)
                .map(|s| s == "running")
        })
        .unwrap_or(false)
}

/// Did a refusal ask for a stopped VM? (QEMU words it "... while the VM is running"
/// or asks to stop or pause it first.)
fn asks_for_a_stop(why: &str) -> bool {
    let w = why.to_ascii_lowercase();
    [
        "stop",
        "paused",
        "while running",
        "is running",
        "power off",
        "powered off",
    ]
    .iter()
    .any(|k| w.contains(k))
}

fn refused(what: &str, why: String) -> Part {
    Part {
        demanded_stop: asks_for_a_stop(&why),
        ok: false,
        what: format!("{what}: {why}"),
        ms: None,
    }
}

const MIB: u64 = 1024 * 1024;

/// Balloon to three quarters of the guest's memory; done when the guest's driver
/// reports it. Not half: the appliance's guest keeps its initramfs in RAM, and half of
/// 128 MiB left a microvm guest's kernel without memory (it panicked: seen here).
async fn balloon(qmp: &mut Qmp, memory_mib: u32, driver: &str) -> Part {
    let target = u64::from(memory_mib / 4 * 3) * MIB;
    let t = Instant::now();
    if let Err(e) = qmp
        .execute("balloon", Some(json!({ "value": target })), QMP_TIMEOUT)
        .await
    {
        return refused("memory", e.to_string());
    }
    let mut actual = None;
    while t.elapsed() < CHANGE_TIMEOUT {
        actual = qmp
            .execute("query-balloon", None, QMP_TIMEOUT)
            .await
            .ok()
            .and_then(|v| v.get("actual").and_then(Value::as_u64));
        // The driver gives back whole pages: within 1 MiB of the target is there.
        if actual.is_some_and(|a| a <= target + MIB) {
            return Part {
                ok: true,
                demanded_stop: false,
                what: format!(
                    "memory {memory_mib} -> {} MiB (virtio-balloon, the guest's driver reported it; {driver})",
                    actual.unwrap_or(target) / MIB
                ),
                ms: Some(t.elapsed().as_secs_f64() * 1e3),
            };
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Part {
        ok: false,
        demanded_stop: false,
        what: format!(
            "memory: asked {} MiB, the guest still reported {} after {} s ({driver})",
            target / MIB,
            actual.map_or("nothing".to_string(), |a| format!("{} MiB", a / MIB)),
            CHANGE_TIMEOUT.as_secs()
        ),
        ms: None,
    }
}

/// One more vCPU in the first free hotplug slot; done when the guest kernel
/// acknowledged it through ACPI.
async fn hotplug(qmp: &mut Qmp, cpus: u32) -> Part {
    let slots = match qmp
        .execute("query-hotpluggable-cpus", None, QMP_TIMEOUT)
        .await
    {
        Ok(v) => v,
        Err(e) => return refused("CPUs", e.to_string()),
    };
    let Some(free) = slots
        .as_array()
        .into_iter()
        .flatten()
        .find(|s| s.get("qom-path").is_none())
    else {
        return refused("CPUs", "no free hotplug slot (maxcpus reached)".into());
    };
    let id = "vbcpu1";
    let mut arguments = json!({
        "driver": free["type"].as_str().unwrap_or("qemu64-x86_64-cpu"),
        "id": id,
    });
    if let (Some(a), Some(props)) = (arguments.as_object_mut(), free["props"].as_object()) {
        for (k, v) in props {
            a.insert(k.clone(), v.clone());
        }
    }
    let t = Instant::now();
    if let Err(e) = qmp
        .execute("device_add", Some(arguments), QMP_TIMEOUT)
        .await
    {
        return refused("CPUs", e.to_string());
    }
    while t.elapsed() < CHANGE_TIMEOUT {
        let acked = qmp
            .execute("query-acpi-ospm-status", None, QMP_TIMEOUT)
            .await
            .ok()
            .and_then(|v| {
                v.as_array()?.iter().find_map(|s| {
                    (s.get("device").and_then(Value::as_str) == Some(id)
                        && s.get("source").and_then(Value::as_u64) == Some(1))
                    .then(|| s.get("status").and_then(Value::as_u64))
                    .flatten()
                })
            });
        match acked {
            Some(0) => {
                let now = vcpus(qmp).await;
                return Part {
                    ok: true,
                    demanded_stop: false,
                    what: format!(
                        "CPUs {cpus} -> {} (hotplug; the guest kernel acknowledged it, ACPI _OST success)",
                        now.map_or("?".to_string(), |n| n.to_string())
                    ),
                    ms: Some(t.elapsed().as_secs_f64() * 1e3),
                };
            }
            Some(status) => {
                return Part {
                    ok: false,
                    demanded_stop: false,
                    what: format!(
                        "CPUs: the guest refused the new vCPU (ACPI _OST status {status})"
                    ),
                    ms: None,
                }
            }
            None => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
    Part {
        ok: false,
        demanded_stop: false,
        what: format!(
            "CPUs: QEMU added a vCPU, the guest kernel did not acknowledge it within {} s",
            CHANGE_TIMEOUT.as_secs()
        ),
        ms: None,
    }
}

async fn vcpus(qmp: &mut Qmp) -> Option<usize> {
    qmp.execute("query-cpus-fast", None, QMP_TIMEOUT)
        .await
        .ok()
        .and_then(|v| v.as_array().map(Vec::len))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refusal_that_asks_for_a_stop_is_told_apart() {
        assert!(asks_for_a_stop(
            "Cannot resize memory while the VM is running"
        ));
        assert!(asks_for_a_stop("the VM must be powered off first"));
        // microvm's refusal is about the machine, not about the VM running.
        assert!(!asks_for_a_stop(
            "QMP query-hotpluggable-cpus: The feature 'query-hotpluggable-cpus' is not enabled"
        ));
        assert!(!asks_for_a_stop("No balloon device has been activated"));
    }
}
