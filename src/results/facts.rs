//! What a platform is (how it isolates the calculator, what runs its VMs, what the
//! workload ships in), as the platform stated it when it was measured
//! ([`super::PlatformResult::facts`]). The report and the claims classify, order and
//! colour platforms by these recorded facts only: they never ask `platform/`, so a file
//! renders with the facts it was measured under, and a platform added later needs no
//! change in the report.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};

/// How the five services are kept apart from the host and from each other.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Isolation {
    /// Host processes: the baseline every ratio is taken against.
    Process,
    Container,
    Vm,
}

impl Isolation {
    /// The word the report uses for the kind ("3.20x against native").
    pub fn noun(self) -> &'static str {
        match self {
            Isolation::Process => "native",
            Isolation::Container => "container",
            Isolation::Vm => "VM",
        }
    }
}

/// What runs the VMs of a VM platform.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Hypervisor {
    /// A VMM started by the harness on the host's accelerator (QEMU with KVM or TCG).
    Direct,
    /// A hosted (type 2) desktop hypervisor with its own management service.
    Hosted,
    /// A cloud's compute service: instances are asked for through an API.
    Cloud,
}

/// A platform's facts as recorded in `results.json` (field `facts` of each platform
/// result). `Cow` so that the table of [`super::legacy`] is a constant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlatformFacts {
    /// The platform's name as people write it ("Docker", "QEMU", "native processes").
    pub title: Cow<'static, str>,
    pub isolation: Isolation,
    /// `Some` for VM platforms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hypervisor: Option<Hypervisor>,
    /// The artifact record (`ArtifactRecord::name`) of what the workload ships in
    /// ("docker-image"), where the platform has one of its own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workload_artifact: Option<Cow<'static, str>>,
    /// The kill test (`fault_<trial>_*` extras) that kills the runtime's own helper of
    /// the workload (dockerd, conmon), where there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub helper_kill: Option<Cow<'static, str>>,
    /// The platform's place in the runner's list when measured: the report orders
    /// platforms and picks their colour family by it.
    pub order: u8,
    /// The column of the lab report's own container comparison table (section 2) this
    /// platform stands for (0 LXC, 1 Docker), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lab_column: Option<u8>,
}
