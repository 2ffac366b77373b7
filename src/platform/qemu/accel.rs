//! Which accelerator QEMU can use here. `/dev/kvm` opening is not enough: under
//! nested virtualization KVM may hang in early boot (as on the machines this was
//! written on), so the probe boots the appliance's kernel under KVM with an empty
//! initramfs and waits, bounded, for the kernel to get as far as looking for its init
//! (it then panics, and `-no-reboot` makes QEMU exit). Done once per process.

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use tokio::sync::OnceCell;

use super::args::{self, Accel, Boot, Net, VmSpec};
use crate::artifact::initramfs::{self, Entry};
use crate::platform::PlatformError;

/// Long enough for a slow KVM host (a KVM boot to this point takes well under a
/// second), short enough not to stall a run when KVM hangs.
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(12);

#[derive(Debug, Clone, PartialEq)]
pub struct Probed {
    pub accel: Accel,
    /// Why: e.g. "kvm probe boot reached the kernel's init in 0.6 s", or why not.
    pub reason: String,
}

static PROBED: OnceCell<Probed> = OnceCell::const_new();

/// The accelerator to use for `requested` (auto, kvm, tcg); `auto` probes once.
pub async fn choose(
    requested: &str,
    kernel: &Path,
    work_dir: &Path,
) -> Result<Probed, PlatformError> {
    match requested {
        "tcg" => Ok(Probed {
            accel: Accel::Tcg,
            reason: "requested by the scenario (qemu.accelerator = \"tcg\")".into(),
        }),
        "kvm" => Ok(Probed {
            accel: Accel::Kvm,
            reason: "requested by the scenario (qemu.accelerator = \"kvm\"), not probed".into(),
        }),
        _ => PROBED
            .get_or_try_init(|| probe(kernel, work_dir))
            .await
            .cloned(),
    }
}

async fn probe(kernel: &Path, work_dir: &Path) -> Result<Probed, PlatformError> {
    if let Err(e) = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/kvm")
    {
        return Ok(Probed {
            accel: Accel::Tcg,
            reason: format!("/dev/kvm unusable ({e}): TCG emulation"),
        });
    }
    let dir = work_dir.join(format!("kvm-probe-{}", std::process::id()));
    std::fs::create_dir_all(&dir)
        .map_err(PlatformError::io(format!("creating {}", dir.display())))?;
    let result = probe_boot(kernel, &dir).await;
    let _ = std::fs::remove_dir_all(&dir);
    let probed = result?;
    tracing::info!(accel = probed.accel.name(), reason = %probed.reason, "accelerator chosen");
    Ok(probed)
}

async fn probe_boot(kernel: &Path, dir: &Path) -> Result<Probed, PlatformError> {
    let initrd = dir.join("empty.cpio.gz");
    let f = std::fs::File::create(&initrd)
        .map_err(PlatformError::io(format!("creating {}", initrd.display())))?;
    initramfs::write_gz(
        f,
        &[
            Entry::dir("dev"),
            Entry::char_dev("dev/console", 0o600, 5, 1),
        ],
    )
    .map_err(PlatformError::io(format!("writing {}", initrd.display())))?;
    let log = dir.join("console.log");
    let spec = VmSpec {
        name: format!("vb-kvmprobe-{}", std::process::id()),
        accel: Accel::Kvm,
        machine: args::Machine::Q35,
        memory_mib: 128,
        cpus: 1,
        boot: Boot::Kernel {
            kernel: kernel.to_owned(),
            initrd: initrd.clone(),
            append: "console=ttyS0 panic=-1".into(),
        },
        net: Net::None,
        console_log: log.clone(),
        qmp_socket: None,
        netns: None,
        resizable: None,
    };
    let started = Instant::now();
    let mut child = tokio::process::Command::new("qemu-system-x86_64")
        .args(args::qemu_args(&spec))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(PlatformError::io(
            "starting qemu-system-x86_64 for the KVM probe",
        ))?;
    let status = tokio::time::timeout(PROBE_TIMEOUT, child.wait()).await;
    let console = std::fs::read_to_string(&log).unwrap_or_default();
    let reached_init = console.contains("Kernel panic") || console.contains("Run /init");
    match status {
        Ok(Ok(_)) if reached_init => Ok(Probed {
            accel: Accel::Kvm,
            reason: format!(
                "KVM probe boot reached the kernel's init in {:.1} s",
                started.elapsed().as_secs_f64()
            ),
        }),
        Ok(_) => {
            let mut stderr = String::new();
            if let Some(mut e) = child.stderr.take() {
                use tokio::io::AsyncReadExt;
                let _ = e.read_to_string(&mut stderr).await;
            }
            let why = stderr
                .lines()
                .rev()
                .find(|l| !l.trim().is_empty())
                .unwrap_or("no kernel output")
                .trim()
                .to_string();
            Ok(Probed {
                accel: Accel::Tcg,
                reason: format!("KVM probe boot failed ({why}): TCG emulation"),
            })
        }
        Err(_) => {
            let _ = child.start_kill();
            let _ = child.wait().await;
            Ok(Probed {
                accel: Accel::Tcg,
                reason: format!(
                    "KVM probe boot hung for {} s (nested KVM?): TCG emulation",
                    PROBE_TIMEOUT.as_secs()
                ),
            })
        }
    }
}
