//! Who runs virtbench, and what that user may do. A teacher runs it as root on a
//! prepared machine; a student runs it from an ordinary account on a lab machine (in
//! the `docker` group, say). Each platform says, per variant and per experiment, what
//! needs root ([`RootOnly`]); the runner skips a root-only variant (recorded "needs
//! root" in the results, its claims left undecided) and the platform leaves a
//! root-only experiment out, instead of failing half-way through it.

use crate::results::NEEDS_ROOT;

/// The fix for everything here that needs root.
pub const RUN_AS_ROOT: &str = "run virtbench as root (`sudo virtbench ...`)";

/// Is the effective user root?
pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// The effective user's name (its uid when /etc/passwd does not know it).
pub fn user_name() -> String {
    // SAFETY: geteuid has no preconditions.
    let uid = unsafe { libc::geteuid() };
    std::fs::read_to_string("/etc/passwd")
        .ok()
        .and_then(|t| {
            t.lines().find_map(|l| {
                let f: Vec<&str> = l.split(':').collect();
                (f.len() > 2 && f[2] == uid.to_string()).then(|| f[0].to_string())
            })
        })
        .unwrap_or_else(|| format!("uid {uid}"))
}

/// Is this process a member of group `name` (as its supplementary or primary group)?
/// What the process holds counts, not /etc/group: a user added to a group gets it at
/// the next login only.
pub fn in_group(name: &str) -> bool {
    let Some(gid) = std::fs::read_to_string("/etc/group").ok().and_then(|t| {
        t.lines().find_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            (f.len() > 2 && f[0] == name).then(|| f[2].parse::<u32>().ok())?
        })
    }) else {
        return false;
    };
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            let groups = s.lines().find(|l| l.starts_with("Groups:"))?.to_string();
            let gid_line = s.lines().find(|l| l.starts_with("Gid:"))?.to_string();
            Some((groups, gid_line))
        })
        .is_some_and(|(groups, gid_line)| {
            let has = |line: &str| {
                line.split_whitespace()
                    .skip(1)
                    .any(|g| g.parse::<u32>() == Ok(gid))
            };
            has(&groups) || has(&gid_line)
        })
}

/// Something of a platform the user running virtbench cannot do without root.
#[derive(Debug, Clone, PartialEq)]
pub struct RootOnly {
    /// `variant <label>` or `experiment <what>`.
    pub what: String,
    /// What it does that needs root.
    pub why: String,
    /// True: the whole variant (not deployed); false: one experiment of it (left out).
    pub whole_variant: bool,
}

impl RootOnly {
    pub fn variant(label: &str, why: impl Into<String>) -> Self {
        RootOnly {
            what: format!("variant {label}"),
            why: why.into(),
            whole_variant: true,
        }
    }

    pub fn experiment(what: &str, why: impl Into<String>) -> Self {
        RootOnly {
            what: format!("experiment {what}"),
            why: why.into(),
            whole_variant: false,
        }
    }

    /// One line, as doctor prints it and the results record it.
    pub fn line(&self) -> String {
        format!(
            "{}: {NEEDS_ROOT} ({}); fix: {RUN_AS_ROOT}",
            self.what, self.why
        )
    }
}

/// Why reaching the deployment from a LAN PC (the outside namespace) needs root.
pub const OUTSIDE_WHY: &str =
    "the LAN PC is a network namespace of the run's own with a veth to the host";
/// What the outside probe is called in doctor and the results.
pub const OUTSIDE_WHAT: &str = "reachability from a LAN PC (outside namespace)";

/// The outside-namespace experiment, as every platform that runs it declares it.
pub fn outside_experiment() -> RootOnly {
    RootOnly::experiment(OUTSIDE_WHAT, OUTSIDE_WHY)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_says_what_why_and_the_fix() {
        let r = RootOnly::variant("qemu/per-role/kernel/bridge", "taps and a bridge");
        assert_eq!(
            r.line(),
            "variant qemu/per-role/kernel/bridge: needs root (taps and a bridge); \
             fix: run virtbench as root (`sudo virtbench ...`)"
        );
        assert!(r.whole_variant);
        assert!(!outside_experiment().whole_variant);
    }

    #[test]
    fn this_process_is_in_its_own_primary_group() {
        // SAFETY: getegid has no preconditions.
        let gid = unsafe { libc::getegid() };
        let name = std::fs::read_to_string("/etc/group").ok().and_then(|t| {
            t.lines().find_map(|l| {
                let f: Vec<&str> = l.split(':').collect();
                (f.len() > 2 && f[2] == gid.to_string()).then(|| f[0].to_string())
            })
        });
        if let Some(name) = name {
            assert!(in_group(&name), "{name}");
        }
        assert!(!in_group("no-such-group-virtbench"));
    }
}
