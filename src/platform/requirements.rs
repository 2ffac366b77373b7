//! The host commands each platform runs, with the Debian package that provides each.
//!
//! One table (`requirements.tsv`, next to this file) read by two readers: `.ci/setup-host`,
//! which installs what is missing and checks the commands again *after* installing (apt can
//! remove a package while installing another: installing Debian's `qemu-system-x86`
//! removes a backported `qemu-utils`), and `virtbench doctor`, which prints the exact fix.
//! Checking commands, not package states, is what tells whether a platform can run.

use std::path::Path;

use crate::artifact::disk::which;

const TABLE: &str = include_str!("requirements.tsv");

/// One command (or file) a platform needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Requirement {
    /// The platform that needs it (`tests` for the test suite).
    pub platform: &'static str,
    /// A command looked up in PATH (plus /usr/sbin, /sbin), or absolute file paths
    /// separated by `|` of which one must exist.
    pub command: &'static str,
    /// The Debian package that provides it.
    pub package: &'static str,
    pub why: &'static str,
}

impl Requirement {
    pub fn present(&self) -> bool {
        if self.command.starts_with('/') {
            self.command.split('|').any(|p| Path::new(p).is_file())
        } else {
            which(self.command).is_some()
        }
    }

    /// The command that installs it, as `doctor` prints it.
    pub fn fix(&self) -> String {
        format!("apt-get install {} (or .ci/setup-host)", self.package)
    }
}

/// Every line of the table, in order.
pub fn all() -> Vec<Requirement> {
    parse(TABLE)
}

/// The requirements of one platform that are not met on this host.
pub fn missing(platform: &str) -> Vec<Requirement> {
    all()
        .into_iter()
        .filter(|r| r.platform == platform && !r.present())
        .collect()
}

fn parse(table: &'static str) -> Vec<Requirement> {
    table
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .map(|l| {
            let f: Vec<&'static str> = l.split('\t').collect();
            // The table is part of the source: a malformed line is a bug, caught by the
            // test below before it ships.
            assert_eq!(f.len(), 4, "requirements.tsv: malformed line {l:?}");
            Requirement {
                platform: f[0],
                command: f[1],
                package: f[2],
                why: f[3],
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::artifact::disk;

    #[test]
    fn table_parses_and_names_a_package_for_every_command() {
        let all = all();
        assert!(all.len() >= 10);
        for r in &all {
            assert!(!r.package.is_empty() && !r.command.is_empty() && !r.why.is_empty());
            assert!(
                ["docker", "podman", "lxc", "qemu", "tests"].contains(&r.platform),
                "{r:?}"
            );
        }
    }

    /// The disk builder has its own list (it names the package in its error): both must
    /// say the same, or doctor and setup-host would miss what the build then fails on.
    #[test]
    fn the_disk_builders_tools_are_all_in_the_table() {
        let all = all();
        for (tool, pkg) in disk::TOOLS {
            assert!(
                all.iter()
                    .any(|r| r.platform == "qemu" && r.command == tool && r.package == pkg),
                "{tool} ({pkg}) is missing from requirements.tsv"
            );
        }
        for mbr in disk::MBR_CANDIDATES {
            assert!(all.iter().any(|r| r.command.split('|').any(|c| c == mbr)));
        }
    }

    #[test]
    fn files_and_commands_are_checked_on_this_host() {
        let sh = Requirement {
            platform: "tests",
            command: "sh",
            package: "dash",
            why: "",
        };
        assert!(sh.present());
        let nothing = Requirement {
            command: "/nonexistent/a|/nonexistent/b",
            ..sh.clone()
        };
        assert!(!nothing.present());
        let file = Requirement {
            command: "/nonexistent/a|/bin/sh",
            ..sh
        };
        assert!(file.present());
    }
}
