//! What every resource of a run carries, in its create call where the API takes it:
//! the tags `virtbench`, `virtbench-run-<run id>` and `virtbench-by-<user>@<host>`
//! (who made the run: on a project shared with classmates, `cleanup` without a run id
//! removes only this host and user's runs), and a description naming the run (Neutron
//! description, Nova metadata, Glance property), which survives a lost tag call.

use super::api;

/// Longest tag Nova and Neutron accept.
const MAX_TAG: usize = 60;

#[derive(Debug, Clone, PartialEq)]
pub struct Labels {
    pub run_id: String,
    /// `virtbench`, the run's tag, the owner's tag.
    pub tags: Vec<String>,
    /// `virtbench run <run id> by <user>@<host>`.
    pub description: String,
}

impl Labels {
    pub fn for_run(run_id: &str) -> Labels {
        let owner = owner_tag();
        Labels {
            run_id: run_id.to_string(),
            description: format!(
                "virtbench run {run_id} by {}",
                owner.trim_start_matches(OWNER_PREFIX)
            ),
            tags: vec![api::TAG.to_string(), api::run_tag(run_id), owner],
        }
    }
}

pub const OWNER_PREFIX: &str = "virtbench-by-";

/// The tag of runs made by this user on this host.
pub fn owner_tag() -> String {
    owner_tag_of(&user(), &host())
}

/// `virtbench-by-<user>@<host>`, within what Nova and Neutron accept: at most 60
/// characters, no `/` or `,` (Nova), only `[A-Za-z0-9._@-]` kept.
pub fn owner_tag_of(user: &str, host: &str) -> String {
    let clean = |s: &str| {
        s.chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                    c
                } else {
                    '_'
                }
            })
            .collect::<String>()
    };
    let t = format!("{OWNER_PREFIX}{}@{}", clean(user), clean(host));
    t.chars().take(MAX_TAG).collect()
}

fn user() -> String {
    ["USER", "LOGNAME"]
        .iter()
        .find_map(|k| std::env::var(k).ok().filter(|v| !v.is_empty()))
        // SAFETY: getuid has no preconditions and cannot fail.
        .unwrap_or_else(|| format!("uid{}", unsafe { libc::getuid() }))
}

fn host() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "unknown-host".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owner_tag_fits_nova_and_neutron() {
        assert_eq!(
            owner_tag_of("alice", "lab-pc-07"),
            "virtbench-by-alice@lab-pc-07"
        );
        assert_eq!(owner_tag_of("a,b/c", "h"), "virtbench-by-a_b_c@h");
        let long = owner_tag_of(&"u".repeat(80), "host");
        assert_eq!(long.len(), 60);
        let l = Labels::for_run("20261207-120000-abcd");
        assert_eq!(l.tags[0], "virtbench");
        assert_eq!(l.tags[1], "virtbench-run-20261207-120000-abcd");
        assert!(l.tags[2].starts_with(OWNER_PREFIX));
        assert!(l
            .description
            .starts_with("virtbench run 20261207-120000-abcd by "));
    }
}
