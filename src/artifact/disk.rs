//! The appliance as a bootable BIOS disk: an MBR partition table, one FAT16 partition
//! holding syslinux, the kernel and the initramfs, then converted with `qemu-img` to
//! qcow2 (QEMU, OpenStack/Glance) and VDI (VirtualBox). Built without root or loop
//! devices: `sfdisk`, `mkfs.fat --offset`, `syslinux --offset` and `mcopy -i IMG@@OFF`
//! all work on a plain file.
//!
//! The disk is generic: it carries no role. Each VM gets its role and peers from the
//! SMBIOS serial number (QEMU `-smbios type=1,serial=...`, VirtualBox
//! `DmiSystemSerial`) or from OpenStack's metadata service, and its address by DHCP.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::error::Error;

/// Partition start: 1 MiB, the usual alignment.
pub const PARTITION_START_SECTOR: u64 = 2048;
const SECTOR: u64 = 512;
/// The MBR boot code of syslinux (Debian: package syslinux-common).
pub const MBR_CANDIDATES: [&str; 2] = [
    "/usr/lib/syslinux/mbr/mbr.bin",
    "/usr/share/syslinux/mbr.bin",
];

/// Kernel command line of the disk boot: everything VM-specific comes from elsewhere
/// (the address is DHCP's unless the SMBIOS serial names one: the command line would
/// take precedence, so it says nothing). `console=ttyS0` last so that /dev/console
/// (our markers) is the serial port, which QEMU logs and OpenStack's console log
/// shows; tty0 for VirtualBox's screen. `tsc=unstable no_timer_check`: see
/// [`GUEST_CLOCK`].
pub const DISK_APPEND: &str =
    "console=tty0 console=ttyS0 quiet panic=-1 tsc=unstable no_timer_check";

/// Why the appliance's kernels get `tsc=unstable`: under QEMU TCG on a loaded host the
/// guest's TSC was seen to jump ahead by seconds during boot (the kernel's watchdog then
/// says "Marking clocksource 'tsc' as unstable"), which made the guest's own uptime in
/// the boot markers wrong. Without the TSC the guest uses kvm-clock under KVM (QEMU,
/// OpenStack, VirtualBox's default KVM paravirtualization) and the HPET under TCG,
/// both consistent with the host's clock.
///
/// `no_timer_check`: at boot the kernel checks that the IO-APIC timer ticks within a
/// few milliseconds of wall time; a TCG vCPU descheduled on a loaded host misses that
/// window and the kernel panics ("IO-APIC + timer doesn't work!", in
/// `x86_late_time_init`), seen here once in a parallel test run. Cloud images pass the
/// same flag for the same reason; the timer works, it is only slow to be observed.
pub const GUEST_CLOCK: &str = "tsc=unstable no_timer_check";

/// Tools the disk build needs, with the Debian package that has each.
pub const TOOLS: [(&str, &str); 5] = [
    ("sfdisk", "fdisk"),
    ("mkfs.fat", "dosfstools"),
    ("syslinux", "syslinux"),
    ("mcopy", "mtools"),
    ("qemu-img", "qemu-utils"),
];

/// Which of the tools are missing (as "tool (package)").
pub fn missing_tools() -> Vec<String> {
    TOOLS
        .iter()
        .filter(|(tool, _)| which(tool).is_none())
        .map(|(tool, pkg)| format!("{tool} ({pkg})"))
        .collect()
}

pub fn which(tool: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")
        .unwrap_or_else(|| "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin".into());
    std::env::split_paths(&path)
        .chain(["/usr/sbin".into(), "/sbin".into()])
        .map(|d| d.join(tool))
        .find(|p| p.is_file())
}

fn tool(name: &str) -> Command {
    Command::new(which(name).unwrap_or_else(|| PathBuf::from(name)))
}

fn run(cmd: &mut Command, stdin: Option<&str>) -> Result<(), Error> {
    use std::io::Write;
    use std::process::Stdio;
    let shown = format!("{cmd:?}");
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    if stdin.is_some() {
        cmd.stdin(Stdio::piped());
    }
    let mut child = cmd.spawn().map_err(Error::io(format!("running {shown}")))?;
    if let Some(text) = stdin {
        if let Some(mut i) = child.stdin.take() {
            i.write_all(text.as_bytes())
                .map_err(Error::io(format!("writing to {shown}")))?;
        }
    }
    let out = child
        .wait_with_output()
        .map_err(Error::io(format!("waiting for {shown}")))?;
    super::check_status(&shown, &out)
}

/// The syslinux configuration: boot straight away, no menu.
pub fn syslinux_cfg(append: &str) -> String {
    format!(
        "SERIAL 0 115200\nDEFAULT virtbench\nPROMPT 0\nTIMEOUT 0\nLABEL virtbench\n  LINUX /vmlinuz\n  INITRD /initrd.gz\n  APPEND {append}\n"
    )
}

/// Disk size: the files plus FAT overhead and slack, rounded up to whole MiB.
fn disk_bytes(payload: u64) -> u64 {
    let mib = 1024 * 1024;
    let needed = payload + payload / 8 + 4 * mib + PARTITION_START_SECTOR * SECTOR;
    needed.div_ceil(mib) * mib
}

/// Write a raw bootable disk image to `out` (replaced if present).
pub fn build_raw(kernel: &Path, initramfs: &Path, out: &Path) -> Result<(), Error> {
    let missing = missing_tools();
    if !missing.is_empty() {
        return Err(Error::Failed(format!(
            "building the disk image needs {} (apt-get install syslinux syslinux-common mtools dosfstools fdisk qemu-utils)",
            missing.join(", ")
        )));
    }
    let mbr = MBR_CANDIDATES
        .iter()
        .map(Path::new)
        .find(|p| p.is_file())
        .ok_or_else(|| {
            Error::Failed("syslinux mbr.bin not found (apt-get install syslinux-common)".into())
        })?;
    let size = |p: &Path| {
        std::fs::metadata(p)
            .map(|m| m.len())
            .map_err(Error::io(format!("reading {}", p.display())))
    };
    let total = disk_bytes(size(kernel)? + size(initramfs)?);
    let _ = std::fs::remove_file(out);
    let f = std::fs::File::create(out).map_err(Error::io(format!("creating {}", out.display())))?;
    f.set_len(total)
        .map_err(Error::io(format!("sizing {}", out.display())))?;
    drop(f);

    run(
        tool("sfdisk").arg("--quiet").arg("--no-reread").arg(out),
        Some(&format!(
            "label: dos\nlabel-id: 0x56420001\nstart={PARTITION_START_SECTOR}, type=6, bootable\n"
        )),
    )?;
    let part_sectors = total / SECTOR - PARTITION_START_SECTOR;
    // Hidden sectors = partition start: syslinux's boot sector adds it to find itself.
    run(
        tool("mkfs.fat")
            .args(["--invariant", "-F", "16", "-n", "VIRTBENCH"])
            .arg(format!("-h{PARTITION_START_SECTOR}"))
            .arg(format!("--offset={PARTITION_START_SECTOR}"))
            .arg(out)
            .arg((part_sectors / 2).to_string()),
        None,
    )?;
    let offset = PARTITION_START_SECTOR * SECTOR;
    run(
        tool("syslinux")
            .arg("--offset")
            .arg(offset.to_string())
            .arg("--install")
            .arg(out),
        None,
    )?;
    let image = format!("{}@@{offset}", out.display());
    let cfg_dir = out.with_extension("cfg.d");
    let _ = std::fs::remove_dir_all(&cfg_dir);
    std::fs::create_dir_all(&cfg_dir)
        .map_err(Error::io(format!("creating {}", cfg_dir.display())))?;
    let cfg = cfg_dir.join("syslinux.cfg");
    std::fs::write(&cfg, syslinux_cfg(DISK_APPEND))
        .map_err(Error::io(format!("writing {}", cfg.display())))?;
    let copies = [
        (kernel, "vmlinuz"),
        (initramfs, "initrd.gz"),
        (cfg.as_path(), "syslinux.cfg"),
    ];
    let result = copies.iter().try_for_each(|(src, name)| {
        run(
            tool("mcopy")
                .env("MTOOLS_SKIP_CHECK", "1")
                .arg("-o")
                .arg("-i")
                .arg(&image)
                .arg(src)
                .arg(format!("::{name}")),
            None,
        )
    });
    let _ = std::fs::remove_dir_all(&cfg_dir);
    result?;
    // The MBR boot code (first 440 bytes; the partition table after it stays).
    let code = std::fs::read(mbr).map_err(Error::io(format!("reading {}", mbr.display())))?;
    write_at(out, 0, &code[..code.len().min(440)])?;
    Ok(())
}

fn write_at(path: &Path, offset: u64, data: &[u8]) -> Result<(), Error> {
    use std::io::{Seek, SeekFrom, Write};
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .open(path)
        .map_err(Error::io(format!("opening {}", path.display())))?;
    f.seek(SeekFrom::Start(offset))
        .and_then(|_| f.write_all(data))
        .map_err(Error::io(format!("writing {}", path.display())))
}

/// Convert the raw image with `qemu-img convert` (`format`: qcow2 or vdi). qcow2 stays
/// uncompressed: a compressed qcow2 boots about 3x slower.
pub fn convert(raw: &Path, format: &str, out: &Path) -> Result<(), Error> {
    let _ = std::fs::remove_file(out);
    run(
        tool("qemu-img")
            .args(["convert", "-q", "-f", "raw", "-O", format])
            .arg(raw)
            .arg(out),
        None,
    )
}

/// A copy-on-write qcow2 overlay on `base` (a VM clone costs kilobytes).
pub fn overlay(base: &Path, out: &Path) -> Result<(), Error> {
    let _ = std::fs::remove_file(out);
    run(
        tool("qemu-img")
            .args(["create", "-q", "-f", "qcow2", "-F", "qcow2", "-b"])
            .arg(base)
            .arg(out),
        None,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn disk_size_has_room_and_is_whole_mib() {
        let mib = 1024 * 1024;
        for payload in [0, 1, 20 * mib, 20 * mib + 1] {
            let d = disk_bytes(payload);
            assert_eq!(d % mib, 0);
            assert!(d >= payload + 5 * mib, "{payload} -> {d}");
        }
    }

    #[test]
    fn disk_kernel_line_is_generic() {
        assert!(DISK_APPEND.contains(GUEST_CLOCK));
        assert!(DISK_APPEND.ends_with("console=ttyS0 quiet panic=-1 tsc=unstable no_timer_check"));
        assert!(
            !DISK_APPEND.contains("virtbench."),
            "no per-VM setting on a shared disk"
        );
    }

    #[test]
    fn syslinux_cfg_boots_without_prompt() {
        let c = syslinux_cfg("console=ttyS0");
        assert!(c.contains("PROMPT 0\n"));
        assert!(c.contains("TIMEOUT 0\n"));
        assert!(c.contains("  APPEND console=ttyS0\n"));
        assert!(c.contains("  INITRD /initrd.gz\n"));
    }
}
