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
    let mut lacks = common_lacks(&user, uid);
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
    (!lacks.is_empty()).then(|| lacks.join(", "))
}

/// What rootless Podman needs whoever runs it: the uid-mapping helpers, slirp4netns,
/// and subordinate id ranges for `user`.
fn common_lacks(user: &str, uid: u32) -> Vec<String> {
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
    for file in ["/etc/subuid", "/etc/subgid"] {
        let text = std::fs::read_to_string(file).unwrap_or_default();
        if !has_range(&text, user, uid) {
            lacks.push(format!("no range for {user} in {file}"));
        }
    }
    lacks
}

/// An unprivileged user whose rootless Podman root drives for the `podman/rootless`
/// variant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub name: String,
    pub uid: u32,
    pub home: String,
}

impl User {
    /// The user's runtime directory, as a login session (logind) makes it: Podman keeps
    /// its rootless network namespace and locks there.
    pub fn runtime_dir(&self) -> String {
        format!("/run/user/{}", self.uid)
    }
}

/// The user named `name` (or uid) in `passwd` (an /etc/passwd-shaped text).
pub fn lookup(passwd: &str, name: &str) -> Option<User> {
    passwd.lines().find_map(|l| {
        let f: Vec<&str> = l.split(':').collect();
        if f.len() < 6 || (f[0] != name && f[2] != name) {
            return None;
        }
        Some(User {
            name: f[0].to_string(),
            uid: f[2].parse().ok()?,
            home: f[5].to_string(),
        })
    })
}

/// Where the user comes from, said in the reason when none is found.
pub const USER_FIX: &str = "run virtbench through sudo from an ordinary account (SUDO_USER), or \
                            name one in the scenario: [podman] rootless_user = \"NAME\"";

/// The user for the `podman/rootless` variant when root runs virtbench: the scenario's
/// `[podman] rootless_user`, else the account that ran sudo (`SUDO_USER`). Never root,
/// never created here. Err: why there is none, or what it lacks (one line each).
pub fn user_for(configured: &str) -> Result<User, String> {
    let (name, from) = if !configured.is_empty() {
        (configured.to_string(), "[podman] rootless_user")
    } else {
        match std::env::var("SUDO_USER") {
            Ok(u) if !u.is_empty() && u != "root" => (u, "SUDO_USER"),
            _ => {
                return Err(
                    "no unprivileged user to run rootless Podman as (virtbench runs as root, \
                     SUDO_USER is not set and the scenario names no [podman] rootless_user)"
                        .into(),
                )
            }
        }
    };
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
    let user = lookup(&passwd, &name)
        .ok_or_else(|| format!("{from} names {name:?}, which is no user of this host"))?;
    if user.uid == 0 {
        return Err(format!(
            "{from} names {name:?}, which is root: rootless needs an ordinary user"
        ));
    }
    let mut lacks = common_lacks(&user.name, user.uid);
    // The TUN device as the user would open it: by its mode (root can always open it).
    let tun_mode = std::fs::metadata(TUN).map(|m| {
        use std::os::unix::fs::MetadataExt;
        (m.mode(), m.uid())
    });
    match tun_mode {
        Ok((mode, owner))
            if mode & 0o006 == 0o006 || (owner == user.uid && mode & 0o600 == 0o600) => {}
        _ => lacks.push(format!(
            "{TUN} cannot be opened by {} (slirp4netns needs it)",
            user.name
        )),
    }
    if lacks.is_empty() {
        Ok(user)
    } else {
        Err(format!(
            "rootless Podman for {}: {}",
            user.name,
            lacks.join(", ")
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_user_is_found_by_name_or_uid_with_its_home() {
        let passwd =
            "root:x:0:0:root:/root:/bin/bash\nvbstudent:x:1001:1001::/home/vbstudent:/bin/sh\n";
        let u = lookup(passwd, "vbstudent").unwrap();
        assert_eq!((u.uid, u.home.as_str()), (1001, "/home/vbstudent"));
        assert_eq!(lookup(passwd, "1001"), Some(u.clone()));
        assert_eq!(u.runtime_dir(), "/run/user/1001");
        assert_eq!(lookup(passwd, "nobody"), None);
    }

    #[test]
    fn no_configured_user_and_no_sudo_user_says_why() {
        if std::env::var_os("SUDO_USER").is_none() {
            let e = user_for("").unwrap_err();
            assert!(e.contains("SUDO_USER is not set"), "{e}");
        }
        let e = user_for("no-such-user-virtbench").unwrap_err();
        assert!(e.contains("no user of this host"), "{e}");
        let e = user_for("root").unwrap_err();
        assert!(e.contains("which is root"), "{e}");
    }

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
