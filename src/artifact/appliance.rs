//! The VM appliance shared by QEMU, VirtualBox and OpenStack: a kernel, an initramfs
//! whose `/init` is the static calculator binary, and the same pair on a bootable
//! disk (raw, qcow2, VDI). Built once per (binary, kernel) pair and cached under
//! `<cache>/appliance/<key>/`.

use std::path::{Path, PathBuf};
use std::time::Instant;

use super::initramfs::{self, Entry};
use super::kernel::{self, Kernel};
use super::{calculator, disk};
use crate::error::Error;
use crate::results::ArtifactRecord;

/// Bumped when the layout of the initramfs or disk changes (invalidates the cache).
const FORMAT: u32 = 3;

/// Kernel + initramfs: enough for a direct kernel boot.
#[derive(Debug, Clone)]
pub struct BootFiles {
    pub dir: PathBuf,
    pub kernel: PathBuf,
    pub initramfs: PathBuf,
    /// Kernel release, e.g. `6.1.0-56-cloud-amd64`.
    pub kernel_version: String,
    /// `host` or `debian:<package>_<version>`.
    pub kernel_source: String,
    /// Modules in the initramfs, in load order.
    pub modules: Vec<String>,
    pub records: Vec<ArtifactRecord>,
}

/// Everything, disks included.
#[derive(Debug, Clone)]
pub struct Appliance {
    pub kernel: PathBuf,
    pub initramfs: PathBuf,
    pub disk_raw: PathBuf,
    pub qcow2: PathBuf,
    pub vdi: PathBuf,
    pub kernel_version: String,
    pub kernel_source: String,
    pub modules: Vec<String>,
    /// vm-kernel, vm-initramfs, disk-raw, disk-qcow2, disk-vdi (sizes, build times).
    pub records: Vec<ArtifactRecord>,
}

impl Appliance {
    /// Copy the images to `out` (created if needed) under stable names, for
    /// `virtbench appliance --out DIR`: vmlinuz, initrd.gz, virtbench.{raw,qcow2,vdi}.
    pub fn export(&self, out: &Path) -> Result<Vec<PathBuf>, Error> {
        std::fs::create_dir_all(out).map_err(Error::io(format!("creating {}", out.display())))?;
        let files = [
            (&self.kernel, "vmlinuz"),
            (&self.initramfs, "initrd.gz"),
            (&self.disk_raw, "virtbench.raw"),
            (&self.qcow2, "virtbench.qcow2"),
            (&self.vdi, "virtbench.vdi"),
        ];
        let mut written = Vec::new();
        for (src, name) in files {
            let dst = out.join(name);
            std::fs::copy(src, &dst).map_err(Error::io(format!(
                "copying {} to {}",
                src.display(),
                dst.display()
            )))?;
            written.push(dst);
        }
        Ok(written)
    }
}

/// Kernel and initramfs (fetching the kernel and building the calculator if needed).
pub async fn boot_files(cache_dir: &Path) -> Result<BootFiles, Error> {
    let binary = calculator::binary().await?.clone();
    let cache_dir = cache_dir.to_owned();
    tokio::task::spawn_blocking(move || {
        let kernel = kernel::obtain(&cache_dir)?;
        build_boot_files(&cache_dir, &binary, &kernel)
    })
    .await
    .map_err(|e| Error::Failed(format!("appliance build task: {e}")))?
}

/// Kernel and initramfs for the minimal kernel (built from Debian's kernel source on
/// first use: minutes): the same calculator as `/init`, no modules.
pub async fn minimal_boot_files(cache_dir: &Path) -> Result<BootFiles, Error> {
    let binary = calculator::binary().await?.clone();
    let cache_dir = cache_dir.to_owned();
    tokio::task::spawn_blocking(move || {
        let kernel = super::minimal_kernel::obtain(&cache_dir)?;
        build_boot_files(&cache_dir, &binary, &kernel)
    })
    .await
    .map_err(|e| Error::Failed(format!("minimal kernel build task: {e}")))?
}

/// The whole appliance: boot files and the disk in three formats.
pub async fn build(cache_dir: &Path) -> Result<Appliance, Error> {
    let boot = boot_files(cache_dir).await?;
    tokio::task::spawn_blocking(move || build_disks(boot))
        .await
        .map_err(|e| Error::Failed(format!("disk build task: {e}")))?
}

fn cache_key(binary_sha: &str, kernel: &Kernel) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    h.update(format!(
        "format {FORMAT}\nbinary {binary_sha}\nkernel {} {}\n",
        kernel.source, kernel.release
    ));
    for m in &kernel.modules {
        h.update(format!("module {} {}\n", m.name, m.path.display()));
    }
    crate::artifact::hex(&h.finalize())[..16].to_string()
}

fn file_record(name: &str, path: &Path, build_ms: Option<f64>) -> Result<ArtifactRecord, Error> {
    let bytes = std::fs::metadata(path)
        .map_err(Error::io(format!("reading {}", path.display())))?
        .len();
    Ok(ArtifactRecord {
        name: name.into(),
        bytes,
        build_ms,
        cached: build_ms.is_none(),
        path: Some(path.display().to_string()),
    })
}

fn build_boot_files(
    cache_dir: &Path,
    binary: &calculator::CalculatorBinary,
    kernel: &Kernel,
) -> Result<BootFiles, Error> {
    let dir = cache_dir
        .join("appliance")
        .join(cache_key(&binary.sha256, kernel));
    std::fs::create_dir_all(&dir).map_err(Error::io(format!("creating {}", dir.display())))?;
    let _lock = crate::artifact::lock_dir(&dir)?;
    let vmlinuz = dir.join("vmlinuz");
    let initrd = dir.join("initrd.gz");
    let mut initrd_ms = None;
    if !initrd.exists() || !vmlinuz.exists() {
        let started = Instant::now();
        // Write beside, then rename: a concurrent run never sees half a file.
        let tmp = dir.join(format!(".vmlinuz.{}", std::process::id()));
        std::fs::copy(&kernel.vmlinuz, &tmp)
            .and_then(|_| std::fs::rename(&tmp, &vmlinuz))
            .map_err(Error::io(format!("copying {}", kernel.vmlinuz.display())))?;
        let entries = initramfs_entries(binary, kernel)?;
        let tmp = dir.join(format!(".initrd.{}", std::process::id()));
        let f = std::fs::File::create(&tmp)
            .map_err(Error::io(format!("creating {}", tmp.display())))?;
        initramfs::write_gz(std::io::BufWriter::new(f), &entries)
            .and_then(|w| w.into_inner().map_err(|e| e.into_error()))
            .and_then(|f| f.sync_all())
            .map_err(Error::io(format!("writing {}", tmp.display())))?;
        std::fs::rename(&tmp, &initrd).map_err(Error::io(format!("renaming {}", tmp.display())))?;
        initrd_ms = Some(started.elapsed().as_secs_f64() * 1e3);
        tracing::info!(path = %initrd.display(), ms = initrd_ms, "initramfs written");
    }
    let mut kernel_record = kernel.record();
    kernel_record.path = Some(vmlinuz.display().to_string());
    // Both kernels' artifacts can be in one run: the minimal one's names say so.
    let suffix = if kernel.source.starts_with("minimal:") {
        "-minimal"
    } else {
        ""
    };
    kernel_record.name.push_str(suffix);
    Ok(BootFiles {
        records: vec![
            kernel_record,
            file_record(&format!("vm-initramfs{suffix}"), &initrd, initrd_ms)?,
        ],
        dir,
        kernel: vmlinuz,
        initramfs: initrd,
        kernel_version: kernel.release.clone(),
        kernel_source: kernel.source.clone(),
        modules: kernel.modules.iter().map(|m| m.name.clone()).collect(),
    })
}

/// The initramfs content: `/init`, `/dev/console`, mount points and the modules with
/// their load order.
pub fn initramfs_entries(
    binary: &calculator::CalculatorBinary,
    kernel: &Kernel,
) -> Result<Vec<Entry>, Error> {
    let init = std::fs::read(&binary.path)
        .map_err(Error::io(format!("reading {}", binary.path.display())))?;
    let moddir = initramfs::modules_dir(&kernel.release);
    let mut entries = vec![
        Entry::dir("dev"),
        Entry::char_dev("dev/console", 0o600, 5, 1),
        Entry::dir("proc"),
        Entry::dir("sys"),
        Entry::dir("tmp"),
    ];
    for d in initramfs::parents(&format!("{moddir}/x")) {
        entries.push(Entry::dir(&d));
    }
    let mut order = String::new();
    for m in &kernel.modules {
        entries.push(Entry::file(
            &format!("{moddir}/{}.ko", m.name),
            0o644,
            kernel.module_bytes(m)?,
        ));
        order.push_str(&m.name);
        order.push('\n');
    }
    entries.push(Entry::file(
        &format!("{moddir}/{}", initramfs::LOAD_ORDER_FILE),
        0o644,
        order.into_bytes(),
    ));
    entries.push(Entry::file("init", 0o755, init));
    Ok(entries)
}

fn build_disks(boot: BootFiles) -> Result<Appliance, Error> {
    let raw = boot.dir.join("disk.raw");
    let qcow2 = boot.dir.join("disk.qcow2");
    let vdi = boot.dir.join("disk.vdi");
    let done = boot.dir.join(".disks-complete");
    let _lock = crate::artifact::lock_dir(&boot.dir)?;
    let mut times = [None; 3];
    if !done.exists() {
        let t = Instant::now();
        disk::build_raw(&boot.kernel, &boot.initramfs, &raw)?;
        times[0] = Some(t.elapsed().as_secs_f64() * 1e3);
        let t = Instant::now();
        disk::convert(&raw, "qcow2", &qcow2)?;
        times[1] = Some(t.elapsed().as_secs_f64() * 1e3);
        let t = Instant::now();
        disk::convert(&raw, "vdi", &vdi)?;
        times[2] = Some(t.elapsed().as_secs_f64() * 1e3);
        std::fs::write(&done, b"").map_err(Error::io(format!("writing {}", done.display())))?;
        tracing::info!(dir = %boot.dir.display(), ?times, "disk images built");
    }
    let mut records = boot.records.clone();
    records.push(file_record("disk-raw", &raw, times[0])?);
    records.push(file_record("disk-qcow2", &qcow2, times[1])?);
    records.push(file_record("disk-vdi", &vdi, times[2])?);
    Ok(Appliance {
        kernel: boot.kernel,
        initramfs: boot.initramfs,
        disk_raw: raw,
        qcow2,
        vdi,
        kernel_version: boot.kernel_version,
        kernel_source: boot.kernel_source,
        modules: boot.modules,
        records,
    })
}
