//! What a cloud running on this very host costs, seen from the host: the QEMU process
//! of each instance (libvirt puts the server's UUID on its command line as `-uuid`),
//! and the devcloud's control plane (the PIDs `devcloud/up` records, plus their
//! children: uWSGI workers, dnsmasq). On a remote cloud neither is observable.

use std::path::PathBuf;

use crate::host::procfs;

/// Memory figures of instances are labelled with this: they are what the host's
/// QEMU processes use, not what the guest sees, and only a local cloud shows them.
pub const SCOPE: &str = "host-side, local cloud: the instances' QEMU processes";

/// PIDs of the QEMU processes running the given servers, in the order found.
pub fn qemu_pids(server_ids: &[String]) -> Vec<u32> {
    procfs::with_cmdline(|args| {
        let is_qemu = args
            .first()
            .and_then(|a| a.rsplit('/').next())
            .is_some_and(|exe| exe.starts_with("qemu-system") || exe.starts_with("qemu-kvm"));
        let uuid = args
            .windows(2)
            .find(|w| w[0] == "-uuid")
            .map(|w| w[1].to_ascii_lowercase());
        is_qemu
            && uuid.is_some_and(|uuid| server_ids.iter().any(|id| id.to_ascii_lowercase() == uuid))
    })
}

/// The accelerator an instance's QEMU process runs with, read from its command line
/// (`-accel tcg`, or `accel=kvm` in `-machine`): a local cloud without KVM emulates its
/// guests, and the report must say so as it does for the qemu platform.
pub fn accelerator(pid: u32) -> Option<String> {
    accelerator_in(&procfs::cmdline(pid)?)
}

fn accelerator_in(args: &[String]) -> Option<String> {
    let first = |v: &str| v.split(',').next().map(str::to_string);
    args.windows(2)
        .find(|w| w[0] == "-accel")
        .and_then(|w| first(&w[1]))
        .or_else(|| {
            args.iter()
                .flat_map(|a| a.split(','))
                .find_map(|kv| kv.strip_prefix("accel=").map(str::to_string))
        })
        .filter(|a| !a.is_empty())
}

/// The devcloud's state directory, when its control plane runs here.
pub fn devcloud_state() -> Option<PathBuf> {
    let dir = std::env::var_os("DEVCLOUD_STATE")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/var/lib/virtbench-devcloud"));
    dir.join("run").is_dir().then_some(dir)
}

/// The devcloud's control-plane processes (recorded PIDs that are alive, and their
/// descendants), QEMU instances excluded.
pub fn control_plane_pids() -> Vec<u32> {
    let Some(state) = devcloud_state() else {
        return Vec::new();
    };
    let Ok(dir) = std::fs::read_dir(state.join("run")) else {
        return Vec::new();
    };
    let mut pids = Vec::new();
    for e in dir.flatten() {
        if e.path().extension().and_then(|x| x.to_str()) != Some("pid") {
            continue;
        }
        let Some(pid) = std::fs::read_to_string(e.path())
            .ok()
            .and_then(|s| s.trim().parse::<u32>().ok())
        else {
            continue;
        };
        if !procfs::exists(pid) {
            continue;
        }
        pids.push(pid);
        pids.extend(procfs::descendants(pid));
    }
    pids.sort_unstable();
    pids.dedup();
    // libvirtd's children are the instances: they are per-instance figures.
    pids.retain(|&p| {
        procfs::cmdline(p).is_some_and(|args| {
            let exe = args.first().map(String::as_str).unwrap_or_default();
            !exe.rsplit('/')
                .next()
                .unwrap_or_default()
                .starts_with("qemu-system")
        })
    });
    pids
}

#[cfg(test)]
mod tests {
    #[test]
    fn no_qemu_for_unknown_servers() {
        assert!(super::qemu_pids(&["00000000-0000-0000-0000-000000000000".into()]).is_empty());
    }

    #[test]
    fn accelerator_from_libvirts_command_line() {
        let args = |s: &str| s.split(' ').map(String::from).collect::<Vec<_>>();
        assert_eq!(
            super::accelerator_in(&args(
                "qemu-system-x86_64 -name guest=i-1 -accel tcg -uuid x"
            )),
            Some("tcg".into())
        );
        assert_eq!(
            super::accelerator_in(&args(
                "qemu-system-x86_64 -machine pc-q35-7.2,accel=kvm,usb=off"
            )),
            Some("kvm".into())
        );
        assert_eq!(
            super::accelerator_in(&args("qemu-system-x86_64 -m 256")),
            None
        );
    }
}
