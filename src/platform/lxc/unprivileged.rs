//! Could this user run unprivileged LXC containers here? Probed, not assumed: Debian
//! 12's LXC 5 runs them for a user with subordinate id ranges (mapped by `newuidmap`,
//! package `uidmap`), an allowance of veths on a bridge in /etc/lxc/lxc-usernet
//! (created by the setuid `lxc-user-nic`), user namespaces enabled, and a cgroup v2
//! subtree delegated to the user (a systemd user session gives one). The lxc platform
//! as built runs privileged containers on a bridge of its own, which needs root in
//! any case; doctor says which of these this host lacks, so the student knows what
//! an unprivileged variant would need.

use crate::artifact::disk::which;

/// Where the veth helper is installed: Debian 12's LXC 5 (liblxc-common), and older
/// releases'.
const USER_NIC: [&str; 2] = [
    "/usr/libexec/lxc/lxc-user-nic",
    "/usr/lib/x86_64-linux-gnu/lxc/lxc-user-nic",
];

/// Has `user` an allowance in an lxc-usernet text (`user type bridge count`)?
pub fn usernet_allows(text: &str, user: &str) -> bool {
    text.lines().any(|l| {
        let f: Vec<&str> = l.split_whitespace().collect();
        f.len() == 4 && f[0] == user && f[1] == "veth" && f[3].parse::<u32>().is_ok_and(|n| n > 0)
    })
}

/// Is the cgroup this process is in writable by it (delegated)? cgroup v2: its one
/// cgroup; v1: its cgroup in the memory controller (pam_cgfs makes them per user).
fn cgroup_delegated(unified: bool) -> bool {
    let own = std::fs::read_to_string("/proc/self/cgroup").unwrap_or_default();
    let found = own.lines().find_map(|l| {
        let mut f = l.splitn(3, ':');
        let (_, controllers, path) = (f.next()?, f.next()?, f.next()?);
        if unified && controllers.is_empty() {
            Some(format!("/sys/fs/cgroup{path}"))
        } else if !unified && controllers.split(',').any(|c| c == "memory") {
            Some(format!("/sys/fs/cgroup/{controllers}{path}"))
        } else {
            None
        }
    });
    let Some(Ok(c)) = found.map(std::ffi::CString::new) else {
        return false;
    };
    // SAFETY: access(2) on a NUL-terminated path.
    unsafe { libc::access(c.as_ptr(), libc::W_OK) == 0 }
}

/// One line: what unprivileged LXC would need for the user running virtbench that this
/// host lacks, and that the platform does not run it.
pub fn assess() -> String {
    // SAFETY: geteuid has no preconditions.
    let uid = unsafe { libc::geteuid() };
    let user = crate::platform::privilege::user_name();
    let mut lacks = Vec::new();
    if which("newuidmap").is_none() {
        lacks.push("newuidmap (package uidmap)".to_string());
    }
    let subuid = std::fs::read_to_string("/etc/subuid").unwrap_or_default();
    if !crate::platform::podman::rootless::has_range(&subuid, &user, uid) {
        lacks.push(format!("a range for {user} in /etc/subuid and /etc/subgid"));
    }
    if !USER_NIC.iter().any(|p| std::path::Path::new(p).exists()) {
        lacks.push(format!("{} (the setuid veth helper)", USER_NIC[0]));
    }
    let usernet = std::fs::read_to_string("/etc/lxc/lxc-usernet").unwrap_or_default();
    if !usernet_allows(&usernet, &user) {
        lacks.push(format!(
            "a veth allowance for {user} in /etc/lxc/lxc-usernet"
        ));
    }
    let userns = std::fs::read_to_string("/proc/sys/kernel/unprivileged_userns_clone")
        .map(|v| v.trim() == "1")
        .unwrap_or(true);
    if !userns {
        lacks.push("kernel.unprivileged_userns_clone = 1".into());
    }
    let unified = std::path::Path::new("/sys/fs/cgroup/cgroup.controllers").exists();
    if !cgroup_delegated(unified) {
        lacks.push(if unified {
            "a cgroup v2 subtree delegated to the user (a systemd user session)".into()
        } else {
            "cgroup v1 groups of the user's own (pam_cgfs)".into()
        });
    }
    let host = if lacks.is_empty() {
        "this host has what unprivileged LXC needs".to_string()
    } else {
        format!("unprivileged LXC here would also need {}", lacks.join(", "))
    };
    format!("{host}; virtbench does not run unprivileged LXC containers")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernet_needs_a_veth_line_with_a_count() {
        assert!(usernet_allows("alice veth lxcbr0 10\n", "alice"));
        assert!(!usernet_allows("alice veth lxcbr0 0\n", "alice"));
        assert!(!usernet_allows(
            "# alice veth lxcbr0 10\nbob veth lxcbr0 2\n",
            "alice"
        ));
    }
}
