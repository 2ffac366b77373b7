//! The facts of files written before `PlatformResult::facts` existed (schema version 1
//! files up to git 7343fdf). Such a file does not say what its platforms were, so they
//! are inferred here, once, from the platform's name, as the platforms stated them at
//! that time. This table is a record of the past: it is never updated when a platform
//! changes (a new platform records its facts in the results and never appears here).
//! The only place outside `platform/` that spells platform names, for that reason.

use std::borrow::Cow::Borrowed;

use super::facts::{Hypervisor, Isolation, PlatformFacts};

const fn facts(
    title: &'static str,
    isolation: Isolation,
    hypervisor: Option<Hypervisor>,
    workload_artifact: Option<&'static str>,
    helper_kill: Option<&'static str>,
    order: u8,
    lab_column: Option<u8>,
) -> PlatformFacts {
    PlatformFacts {
        title: Borrowed(title),
        isolation,
        hypervisor,
        workload_artifact: match workload_artifact {
            Some(a) => Some(Borrowed(a)),
            None => None,
        },
        helper_kill: match helper_kill {
            Some(k) => Some(Borrowed(k)),
            None => None,
        },
        order,
        lab_column,
    }
}

use Isolation::{Container, Process, Vm};

/// name -> facts, in the runner's order of that time.
pub static PLATFORMS: [(&str, PlatformFacts); 7] = [
    (
        "native",
        facts("native processes", Process, None, None, None, 0, None),
    ),
    (
        "docker",
        facts(
            "Docker",
            Container,
            None,
            Some("docker-image"),
            Some("dockerd_kill"),
            1,
            Some(1),
        ),
    ),
    (
        "podman",
        facts(
            "Podman",
            Container,
            None,
            Some("podman-image"),
            Some("conmon_kill"),
            2,
            None,
        ),
    ),
    (
        "lxc",
        facts(
            "LXC",
            Container,
            None,
            Some("calculator-binary"),
            None,
            3,
            Some(0),
        ),
    ),
    (
        "qemu",
        facts("QEMU", Vm, Some(Hypervisor::Direct), None, None, 4, None),
    ),
    (
        "virtualbox",
        facts(
            "VirtualBox",
            Vm,
            Some(Hypervisor::Hosted),
            None,
            None,
            5,
            None,
        ),
    ),
    (
        "openstack",
        facts(
            "OpenStack",
            Vm,
            Some(Hypervisor::Cloud),
            None,
            None,
            6,
            None,
        ),
    ),
];

/// The facts a file written before the field existed had for platform `name`.
pub fn of(name: &str) -> Option<&'static PlatformFacts> {
    PLATFORMS.iter().find(|(n, _)| *n == name).map(|(_, f)| f)
}
