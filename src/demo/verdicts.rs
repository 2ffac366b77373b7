//! The verdicts a partial run can already give: the report's own claims code
//! (`claims::evaluate`) run on the platforms finished so far, keeping the claims it
//! could decide. The same rules as the report, so a verdict shown to the class is the
//! one the report will print unless a later platform changes it.

use std::collections::BTreeMap;

use crate::report::claims::{self, Verdict};
use crate::results::{HostInfo, PlatformResult, RunResults, ScenarioRecord, SCHEMA_VERSION};

/// One claim decided so far.
#[derive(Debug, Clone, PartialEq)]
pub struct Given {
    pub id: &'static str,
    /// The deciding figure in a few words ("VM startup 9.8x a container's").
    pub headline: String,
    pub verdict: Verdict,
}

impl Given {
    /// "C4 supported, emulated VM only: VM startup 9.8x a container's": the verdict
    /// before the figure, so that a line cut to the screen's width keeps it.
    pub fn line(&self) -> String {
        format!("{} {}: {}", self.id, self.verdict.label(), self.headline)
    }
}

/// The claims decided by `so_far` (every result of the run until now), in ID order.
pub fn given(so_far: &[PlatformResult]) -> Vec<Given> {
    // The judges read the platforms only; the rest of a run's record is not theirs.
    let partial = RunResults {
        schema_version: SCHEMA_VERSION,
        run_id: String::new(),
        git_revision: String::new(),
        started_at: String::new(),
        finished_at: String::new(),
        wall_time_s: 0.0,
        wall_split: None,
        interrupted: false,
        host: HostInfo {
            hostname: String::new(),
            cpu_model: String::new(),
            cores: 0,
            memory_bytes: 0,
            kernel: String::new(),
            os: String::new(),
            virtbench_version: String::new(),
            tools: BTreeMap::new(),
        },
        scenario: ScenarioRecord {
            name: String::new(),
            path: String::new(),
            text: String::new(),
        },
        platforms: so_far.to_vec(),
    };
    claims::evaluate(&partial)
        .into_iter()
        .filter(|row| !matches!(row.verdict, Verdict::NotMeasured(_)))
        .map(|row| Given {
            id: row.id,
            headline: row.headline,
            verdict: row.verdict,
        })
        .collect()
}
