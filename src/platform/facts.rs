//! What a platform is, stated by the platform itself ([`super::Platform::facts`]): how
//! it isolates the calculator and what kind of hypervisor runs it. The report groups
//! and compares platforms by these facts (VMs against containers, a hosted hypervisor
//! against a cloud), so that it never matches on a platform's name and a new platform
//! is classified by what it says of itself.

// The kinds are results' types: they are recorded with each result, and the report
// reads them from there without knowing platforms.
use crate::results::facts::PlatformFacts;
pub use crate::results::facts::{Hypervisor, Isolation};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Facts {
    /// The platform's name as people write it ("Docker", "QEMU", "native processes").
    pub title: &'static str,
    pub isolation: Isolation,
    /// `Some` for VM platforms.
    pub hypervisor: Option<Hypervisor>,
    /// The artifact record (`ArtifactRecord::name`) of what the workload ships in
    /// ("docker-image"), where the platform has one of its own.
    pub workload_artifact: Option<&'static str>,
    /// The kill test (`fault_<trial>_*` extras) that kills the runtime's own helper
    /// of the workload (dockerd, conmon), where there is one.
    pub helper_kill: Option<&'static str>,
}

/// The container platforms the lab report's own comparison table names as its columns,
/// in its order (LXC, Docker; its third, rkt, is discontinued and not measured).
pub const LAB_TABLE_COLUMNS: [&str; 2] = ["lxc", "docker"];

impl Facts {
    /// The facts as `results.json` records them for platform `name`, `order`-th in the
    /// runner's list.
    pub fn record(&self, name: &str, order: usize) -> PlatformFacts {
        PlatformFacts {
            title: self.title.into(),
            isolation: self.isolation,
            hypervisor: self.hypervisor,
            workload_artifact: self.workload_artifact.map(Into::into),
            helper_kill: self.helper_kill.map(Into::into),
            order: u8::try_from(order).unwrap_or(u8::MAX),
            lab_column: LAB_TABLE_COLUMNS
                .iter()
                .position(|c| *c == name)
                .and_then(|i| u8::try_from(i).ok()),
        }
    }

    pub const fn process(title: &'static str) -> Facts {
        Facts {
            title,
            isolation: Isolation::Process,
            hypervisor: None,
            workload_artifact: None,
            helper_kill: None,
        }
    }

    pub const fn container(title: &'static str) -> Facts {
        Facts {
            title,
            isolation: Isolation::Container,
            hypervisor: None,
            workload_artifact: None,
            helper_kill: None,
        }
    }

    pub const fn vm(title: &'static str, hypervisor: Hypervisor) -> Facts {
        Facts {
            title,
            isolation: Isolation::Vm,
            hypervisor: Some(hypervisor),
            workload_artifact: None,
            helper_kill: None,
        }
    }

    /// The same facts, the workload shipped in artifact `name`.
    pub const fn ships_in(mut self, name: &'static str) -> Facts {
        self.workload_artifact = Some(name);
        self
    }

    /// The same facts, with the kill test of the runtime's own helper.
    pub const fn helper_kill(mut self, trial: &'static str) -> Facts {
        self.helper_kill = Some(trial);
        self
    }
}

/// The facts of the platform named `name` (`None` for a name virtbench does not know,
/// e.g. in a results file of another version).
pub fn of(name: &str) -> Option<Facts> {
    super::all()
        .iter()
        .find(|p| p.name() == name)
        .map(|p| p.facts())
}

/// Names of the platforms whose facts satisfy `f`, in report order.
pub fn names_where(f: impl Fn(&Facts) -> bool) -> Vec<(&'static str, Facts)> {
    super::all()
        .iter()
        .map(|p| (p.name(), p.facts()))
        .filter(|(_, facts)| f(facts))
        .collect()
}
