//! Rootless Podman: what a user who is not root needs for it on Debian 12 (Podman 4.3).
//! Podman maps the container's users onto a range of the user's subordinate ids with
//! the setuid helpers `newuidmap`/`newgidmap` (package `uidmap`), which needs a range
//! for the user in /etc/subuid and /etc/subgid; a network of the run's own lives in a
//! rootless network namespace that `slirp4netns` (package `slirp4netns`) connects to
//! the host. Without them `podman info` fails with "newuidmap not found" and the like,
//! which is the wrong thing to tell a student to fix by installing Podman.

use crate::artifact::disk::which;

/// The TUN device slirp4netns opens.
const TUN: &str = "/dev/net/tun";

/// The fix for everything [`missing`] names.
pub const FIX: &str = "as root: `apt-get install uidmap slirp4netns`, give the user ranges \
                       in /etc/subuid and /etc/subgid (`usermod --add-subuids 100000-165535 \
                       --add-subgids 100000-165535 USER`) and make /dev/net/tun 0666 (Debian's \
                       default); as the user: run from a login session (XDG_RUNTIME_DIR set)";

/// Has `user` (name or uid) a range in `text` (an /etc/subuid-shaped file)?
pub fn has_range(text: &str, user: &str, uid: u32) -> bool {
    text.lines().any(|l| {
        let mut f = l.split(':');
        let who = f.next().unwrap_or("");
        let count = f.nth(1).and_then(|c| c.trim().parse::<u64>().ok());
        (who == user || who == uid.to_string()) && count.is_some_and(|c| c > 0)
    })
}

/// What rootless Podman lacks for the user running virtbench, in one line (`None`:
/// nothing known to be missing).
pub fn missing() -> Option<String> {
    // SAFETY: geteuid has no preconditions.
    let uid = unsafe { libc::geteuid() };
    let user = crate::platform::privilege::user_name();
    let mut lacks = Vec::new();
    for (cmd, package) in [
        ("newuidmap", "uidmap"),
        ("newgidmap", "uidmap"),
        ("slirp4netns", "slirp4netns"),
    ] {
        if which(cmd).is_none() {
            lacks.push(format!("{cmd} not found (package {package})"));
        }
    }
    // slirp4netns opens the TUN device as the user: Debian's udev makes it 0666, a
    // container or a hardened host may not.
    if std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(TUN)
        .is_err()
    {
        lacks.push(format!(
            "{TUN} cannot be opened by {user} (slirp4netns needs it)"
        ));
    }
    // Podman keeps the rootless network namespace under the user's runtime directory,
    // which a login session creates (/run/user/<uid>); `su`, `runuser` or cron do not.
    match std::env::var_os("XDG_RUNTIME_DIR") {
        Some(d) if std::path::Path::new(&d).is_dir() => {}
        _ => lacks.push(
            "XDG_RUNTIME_DIR is not set to a directory (a login session sets /run/user/<uid>)"
                .into(),
        ),
    }
    for file in ["/etc/subuid", "/etc/subgid"] {
        let text = std::fs::read_to_string(file).unwrap_or_default();
        if !has_range(&text, &user, uid) {
            lacks.push(format!("no range for {user} in {file}"));
        }
    }
    (!lacks.is_empty()).then(|| lacks.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_range_is_found_by_name_or_uid_and_must_not_be_empty() {
        let text = "alice:100000:65536\n1001:165536:65536\nbob:231072:0\n";
        assert!(has_range(text, "alice", 1000));
        assert!(has_range(text, "carol", 1001));
        assert!(!has_range(text, "bob", 1002));
        assert!(!has_range(text, "dave", 1003));
        assert!(!has_range("", "alice", 1000));
    }
}
