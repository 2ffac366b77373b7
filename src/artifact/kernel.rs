//! The guest kernel of the VM appliance and the virtio modules its initramfs loads.
//!
//! Source, in order: the host's own `/boot/vmlinuz-<release>` with `/lib/modules/<release>`
//! when both are readable; else Debian's `linux-image-cloud-amd64` (a small kernel made
//! for VMs) fetched with `apt-get download` into the cache and unpacked with `dpkg-deb`.
//! `VIRTBENCH_KERNEL=debian` skips the host kernel (a host kernel may lack virtio modules
//! or be unreadable; results record which one was used).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use crate::error::Error;
use crate::results::ArtifactRecord;

/// The Debian metapackage that always depends on the current cloud kernel.
pub const DEBIAN_META_PACKAGE: &str = "linux-image-cloud-amd64";

/// Modules the guest needs: virtio over PCI (q35, VirtualBox, OpenStack) and over MMIO
/// (QEMU's microvm, which announces its devices in ACPI tables: Debian's kernel lacks
/// `VIRTIO_MMIO_CMDLINE_DEVICES`), its network card and block device. Their
/// dependencies are added from the modules' own `.modinfo`, so the load order is right
/// for any kernel. On a PC, virtio_mmio finds no device and stays idle.
pub const WANTED_MODULES: [&str; 4] = ["virtio_pci", "virtio_mmio", "virtio_net", "virtio_blk"];

/// A kernel ready to boot, with the modules to put in the initramfs.
#[derive(Debug, Clone)]
pub struct Kernel {
    pub vmlinuz: PathBuf,
    /// Kernel release, e.g. `6.1.0-56-cloud-amd64`.
    pub release: String,
    /// Where it came from: `host` or `debian:<package>_<version>`.
    pub source: String,
    /// Uncompressed modules in load order (dependencies first); modules built into the
    /// kernel are absent.
    pub modules: Vec<Module>,
    pub fetch_ms: Option<f64>,
    pub cached: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Module {
    /// Name with underscores, e.g. `virtio_net`.
    pub name: String,
    pub path: PathBuf,
}

impl Kernel {
    pub fn record(&self) -> ArtifactRecord {
        ArtifactRecord {
            name: "vm-kernel".into(),
            bytes: std::fs::metadata(&self.vmlinuz)
                .map(|m| m.len())
                .unwrap_or(0),
            build_ms: self.fetch_ms,
            cached: self.cached,
            path: Some(self.vmlinuz.display().to_string()),
        }
    }

    /// Module content (decompressed when the kernel ships them compressed).
    pub fn module_bytes(&self, m: &Module) -> Result<Vec<u8>, Error> {
        read_module(&m.path)
    }
}

/// Find or fetch the kernel (blocking: runs `apt-get` and `dpkg-deb`).
pub fn obtain(cache_dir: &Path) -> Result<Kernel, Error> {
    let force_debian = std::env::var("VIRTBENCH_KERNEL").is_ok_and(|v| v == "debian");
    if !force_debian {
        if let Some(k) = host_kernel()? {
            return Ok(k);
        }
    }
    debian_kernel(cache_dir)
}

fn host_kernel() -> Result<Option<Kernel>, Error> {
    let release = match std::fs::read_to_string("/proc/sys/kernel/osrelease") {
        Ok(s) => s.trim().to_string(),
        Err(_) => return Ok(None),
    };
    let vmlinuz = PathBuf::from(format!("/boot/vmlinuz-{release}"));
    let moddir = PathBuf::from(format!("/lib/modules/{release}"));
    // Ubuntu keeps vmlinuz readable by root only: then fall back to Debian's.
    if std::fs::File::open(&vmlinuz).is_err() || !moddir.is_dir() {
        tracing::debug!(%release, "no usable host kernel in /boot and /lib/modules");
        return Ok(None);
    }
    let modules = resolve_modules(&moddir, &WANTED_MODULES)?;
    tracing::info!(%release, modules = modules.len(), "using the host kernel");
    Ok(Some(Kernel {
        vmlinuz,
        release,
        source: "host".into(),
        modules,
        fetch_ms: None,
        cached: true,
    }))
}

fn debian_kernel(cache_dir: &Path) -> Result<Kernel, Error> {
    let base = cache_dir.join("kernel");
    std::fs::create_dir_all(&base).map_err(Error::io(format!("creating {}", base.display())))?;
    // `apt-cache` only reads local lists: quick, works offline.
    let resolved = resolve_debian_package();
    let (pkg, version) = match resolved {
        Ok(pv) => pv,
        Err(e) => {
            // No apt here (or no lists): reuse any kernel fetched before.
            if let Some(k) = newest_cached(&base)? {
                tracing::warn!("apt-cache failed ({e}); reusing cached kernel {}", k.source);
                return Ok(k);
            }
            return Err(e);
        }
    };
    let dir = base.join(format!("{pkg}_{version}"));
    // Held until the kernel is unpacked: concurrent fetches would share a scratch dir.
    let _lock = crate::artifact::lock_dir(&base)?;
    if dir.join(".complete").exists() {
        return load_unpacked(&dir, &format!("debian:{pkg}_{version}"), None, true);
    }
    let started = Instant::now();
    let tmp = base.join(format!(".fetch-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir_all(&tmp).map_err(Error::io(format!("creating {}", tmp.display())))?;
    let result = (|| {
        run(Command::new("apt-get")
            .arg("download")
            .arg(format!("{pkg}={version}"))
            .current_dir(&tmp))?;
        let deb = std::fs::read_dir(&tmp)
            .map_err(Error::io(format!("listing {}", tmp.display())))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .find(|p| p.extension().is_some_and(|x| x == "deb"))
            .ok_or_else(|| Error::Failed(format!("apt-get download {pkg} produced no .deb")))?;
        let unpack = tmp.join("root");
        run(Command::new("dpkg-deb").arg("-x").arg(&deb).arg(&unpack))?;
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::rename(&unpack, &dir)
            .map_err(Error::io(format!("moving kernel into {}", dir.display())))?;
        std::fs::write(dir.join(".complete"), format!("{pkg} {version}\n"))
            .map_err(Error::io(format!("marking {}", dir.display())))?;
        Ok(())
    })();
    let _ = std::fs::remove_dir_all(&tmp);
    result?;
    let ms = started.elapsed().as_secs_f64() * 1e3;
    tracing::info!(%pkg, %version, ms, "fetched Debian kernel");
    load_unpacked(&dir, &format!("debian:{pkg}_{version}"), Some(ms), false)
}

/// The concrete kernel package the metapackage points to, and its candidate version.
fn resolve_debian_package() -> Result<(String, String), Error> {
    let out = run(Command::new("apt-cache").args(["depends", DEBIAN_META_PACKAGE]))?;
    let pkg = out
        .lines()
        .filter_map(|l| l.trim().strip_prefix("Depends: "))
        .map(str::trim)
        .find(|d| d.starts_with("linux-image-"))
        .ok_or_else(|| {
            Error::Failed(format!(
                "apt-cache depends {DEBIAN_META_PACKAGE}: no linux-image dependency"
            ))
        })?
        .to_string();
    let policy = run(Command::new("apt-cache").args(["policy", &pkg]))?;
    let version = policy
        .lines()
        .filter_map(|l| l.trim().strip_prefix("Candidate: "))
        .map(str::trim)
        .find(|v| *v != "(none)")
        .ok_or_else(|| Error::Failed(format!("apt-cache policy {pkg}: no candidate version")))?
        .to_string();
    Ok((pkg, version))
}

fn newest_cached(base: &Path) -> Result<Option<Kernel>, Error> {
    let mut dirs: Vec<(std::time::SystemTime, PathBuf)> = std::fs::read_dir(base)
        .map_err(Error::io(format!("listing {}", base.display())))?
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.join(".complete").exists())
        .filter_map(|p| Some((p.metadata().ok()?.modified().ok()?, p)))
        .collect();
    dirs.sort();
    match dirs.pop() {
        Some((_, dir)) => {
            let name = dir
                .file_name()
                .unwrap_or_default()
                .to_string_lossy()
                .to_string();
            load_unpacked(&dir, &format!("debian:{name}"), None, true).map(Some)
        }
        None => Ok(None),
    }
}

fn load_unpacked(
    dir: &Path,
    source: &str,
    fetch_ms: Option<f64>,
    cached: bool,
) -> Result<Kernel, Error> {
    let boot = dir.join("boot");
    let vmlinuz = std::fs::read_dir(&boot)
        .map_err(Error::io(format!("listing {}", boot.display())))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("vmlinuz-"))
        })
        .ok_or_else(|| Error::Failed(format!("no vmlinuz-* in {}", boot.display())))?;
    let release = vmlinuz.file_name().unwrap().to_string_lossy()["vmlinuz-".len()..].to_string();
    let moddir = dir.join("lib/modules").join(&release);
    let modules = resolve_modules(&moddir, &WANTED_MODULES)?;
    Ok(Kernel {
        vmlinuz,
        release,
        source: source.into(),
        modules,
        fetch_ms,
        cached,
    })
}

fn run(cmd: &mut Command) -> Result<String, Error> {
    let shown = format!("{cmd:?}");
    let out = cmd
        .output()
        .map_err(Error::io(format!("running {shown}")))?;
    super::check_status(&shown, &out)?;
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Module name as the kernel knows it: file stem without `.ko*`, dashes as underscores.
fn module_name(file_name: &str) -> Option<String> {
    let stem = file_name
        .split_once(".ko")
        .filter(|(_, rest)| rest.is_empty() || [".xz", ".zst", ".gz"].contains(rest))?;
    Some(stem.0.replace('-', "_"))
}

/// Find `wanted` and their dependencies under `moddir`; dependencies first. Missing
/// modules are skipped (built into the kernel, or `modules.builtin` lists them).
pub fn resolve_modules(moddir: &Path, wanted: &[&str]) -> Result<Vec<Module>, Error> {
    let mut index = BTreeMap::new();
    let kernel_dir = moddir.join("kernel");
    walk(&kernel_dir, &mut |p| {
        if let Some(name) = p
            .file_name()
            .and_then(|n| module_name(&n.to_string_lossy()))
        {
            index.entry(name).or_insert_with(|| p.to_owned());
        }
    })
    .map_err(Error::io(format!(
        "listing modules in {}",
        kernel_dir.display()
    )))?;
    let mut order = Vec::new();
    let mut seen = BTreeSet::new();
    for w in wanted {
        visit(w, &index, &mut seen, &mut order, 0)?;
    }
    Ok(order)
}

fn visit(
    name: &str,
    index: &BTreeMap<String, PathBuf>,
    seen: &mut BTreeSet<String>,
    order: &mut Vec<Module>,
    depth: usize,
) -> Result<(), Error> {
    if depth > 32 {
        return Err(Error::Failed(format!("module dependency loop at {name}")));
    }
    if !seen.insert(name.to_string()) {
        return Ok(());
    }
    let Some(path) = index.get(name) else {
        tracing::debug!(module = name, "not a loadable module (built in or absent)");
        return Ok(());
    };
    let bytes = read_module(path)?;
    for dep in modinfo(&bytes, "depends").iter().flat_map(|d| d.split(',')) {
        if !dep.is_empty() {
            visit(&dep.replace('-', "_"), index, seen, order, depth + 1)?;
        }
    }
    order.push(Module {
        name: name.to_string(),
        path: path.clone(),
    });
    Ok(())
}

fn walk(dir: &Path, f: &mut dyn FnMut(&Path)) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let path = entry.path();
        if entry.file_type()?.is_dir() {
            walk(&path, f)?;
        } else {
            f(&path);
        }
    }
    Ok(())
}

fn read_module(path: &Path) -> Result<Vec<u8>, Error> {
    let name = path.to_string_lossy();
    let ctx = || format!("reading module {}", path.display());
    if name.ends_with(".ko") {
        return std::fs::read(path).map_err(Error::io(ctx()));
    }
    if name.ends_with(".ko.gz") {
        use std::io::Read;
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(std::fs::File::open(path).map_err(Error::io(ctx()))?)
            .read_to_end(&mut out)
            .map_err(Error::io(ctx()))?;
        return Ok(out);
    }
    // Ubuntu and Fedora compress modules with xz or zstd: the host's tools decompress.
    let tool = if name.ends_with(".ko.xz") {
        "xz"
    } else {
        "zstd"
    };
    let out = Command::new(tool)
        .arg("-dc")
        .arg(path)
        .output()
        .map_err(Error::io(format!("running {tool} -dc {}", path.display())))?;
    if !out.status.success() {
        return Err(Error::Failed(format!(
            "{tool} -dc {} failed ({})",
            path.display(),
            out.status
        )));
    }
    Ok(out.stdout)
}

/// Values of `key` in an ELF module's `.modinfo` section (NUL-separated `key=value`).
pub fn modinfo(elf: &[u8], key: &str) -> Vec<String> {
    let Some(section) = elf_section(elf, ".modinfo") else {
        return Vec::new();
    };
    let prefix = format!("{key}=");
    section
        .split(|b| *b == 0)
        .filter_map(|s| std::str::from_utf8(s).ok())
        .filter_map(|s| s.strip_prefix(&prefix))
        .map(str::to_string)
        .collect()
}

/// A section's bytes from a little-endian ELF64 file.
fn elf_section<'a>(elf: &'a [u8], wanted: &str) -> Option<&'a [u8]> {
    let u16_at = |o: usize| Some(u16::from_le_bytes(elf.get(o..o + 2)?.try_into().ok()?));
    let u32_at = |o: usize| Some(u32::from_le_bytes(elf.get(o..o + 4)?.try_into().ok()?));
    let u64_at = |o: usize| Some(u64::from_le_bytes(elf.get(o..o + 8)?.try_into().ok()?));
    // ELF magic, 64-bit class, little endian.
    if elf.get(0..6)? != b"\x7fELF\x02\x01" {
        return None;
    }
    let shoff = u64_at(0x28)? as usize;
    let shentsize = u16_at(0x3a)? as usize;
    let shnum = u16_at(0x3c)? as usize;
    let shstrndx = u16_at(0x3e)? as usize;
    let header = |i: usize| -> Option<(u32, usize, usize)> {
        let h = shoff + i * shentsize;
        Some((
            u32_at(h)?,
            u64_at(h + 0x18)? as usize,
            u64_at(h + 0x20)? as usize,
        ))
    };
    let (_, stroff, strsize) = header(shstrndx)?;
    let strtab = elf.get(stroff..stroff.checked_add(strsize)?)?;
    for i in 0..shnum {
        let (name_off, off, size) = header(i)?;
        let name = strtab.get(name_off as usize..)?;
        let end = name.iter().position(|b| *b == 0)?;
        if &name[..end] == wanted.as_bytes() {
            return elf.get(off..off.checked_add(size)?);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn module_names_drop_suffix_and_dashes() {
        assert_eq!(module_name("virtio_net.ko").as_deref(), Some("virtio_net"));
        assert_eq!(
            module_name("virtio-rng.ko.xz").as_deref(),
            Some("virtio_rng")
        );
        assert_eq!(module_name("failover.ko.zst").as_deref(), Some("failover"));
        assert_eq!(module_name("modules.order"), None);
        assert_eq!(module_name("x.kobj"), None);
    }

    /// A minimal ELF64 with a `.modinfo` section and its section-name table.
    fn fake_module(modinfo: &[u8]) -> Vec<u8> {
        let shstrtab = b"\0.modinfo\0.shstrtab\0";
        let mut elf = vec![0u8; 64];
        elf[..6].copy_from_slice(b"\x7fELF\x02\x01");
        let modinfo_off = elf.len();
        elf.extend_from_slice(modinfo);
        let strtab_off = elf.len();
        elf.extend_from_slice(shstrtab);
        let shoff = elf.len();
        elf[0x28..0x30].copy_from_slice(&(shoff as u64).to_le_bytes());
        elf[0x3a..0x3c].copy_from_slice(&64u16.to_le_bytes());
        elf[0x3c..0x3e].copy_from_slice(&3u16.to_le_bytes());
        elf[0x3e..0x40].copy_from_slice(&2u16.to_le_bytes());
        for (name, off, size) in [
            (0u32, 0usize, 0usize),
            (1, modinfo_off, modinfo.len()),
            (10, strtab_off, shstrtab.len()),
        ] {
            let mut h = [0u8; 64];
            h[..4].copy_from_slice(&name.to_le_bytes());
            h[0x18..0x20].copy_from_slice(&(off as u64).to_le_bytes());
            h[0x20..0x28].copy_from_slice(&(size as u64).to_le_bytes());
            elf.extend_from_slice(&h);
        }
        elf
    }

    #[test]
    fn modinfo_reads_depends() {
        let elf =
            fake_module(b"license=GPL\0depends=virtio,virtio_ring,net_failover\0name=virtio_net\0");
        assert_eq!(
            modinfo(&elf, "depends"),
            vec!["virtio,virtio_ring,net_failover"]
        );
        assert_eq!(modinfo(&elf, "name"), vec!["virtio_net"]);
        assert!(modinfo(&elf, "alias").is_empty());
    }

    #[test]
    fn dependencies_come_first() {
        let dir = tempfile::tempdir().unwrap();
        let k = dir.path().join("kernel/drivers");
        std::fs::create_dir_all(&k).unwrap();
        std::fs::write(
            k.join("virtio_net.ko"),
            fake_module(b"depends=virtio,net_failover\0"),
        )
        .unwrap();
        std::fs::write(
            k.join("net_failover.ko"),
            fake_module(b"depends=failover\0"),
        )
        .unwrap();
        std::fs::write(k.join("failover.ko"), fake_module(b"depends=\0")).unwrap();
        std::fs::write(k.join("virtio.ko"), fake_module(b"depends=\0")).unwrap();
        // virtio_blk absent: built into that kernel.
        let order: Vec<String> = resolve_modules(dir.path(), &["virtio_net", "virtio_blk"])
            .unwrap()
            .into_iter()
            .map(|m| m.name)
            .collect();
        assert_eq!(
            order,
            vec!["virtio", "failover", "net_failover", "virtio_net"]
        );
    }

    #[test]
    fn modinfo_of_non_elf_is_empty() {
        assert!(modinfo(b"not an elf at all", "depends").is_empty());
        assert!(modinfo(b"\x7fELF", "depends").is_empty());
    }
}
