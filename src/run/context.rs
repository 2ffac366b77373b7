//! What the runner hands every step of one run: the run id that labels every resource,
//! the scenario, the artifact cache, the run's scratch directory and the cancellation
//! that Ctrl-C fires.

use std::path::PathBuf;
use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use crate::scenario::Scenario;

/// Shared by every step of one run.
#[derive(Debug, Clone)]
pub struct RunContext {
    pub run_id: String,
    pub scenario: Arc<Scenario>,
    /// Artifacts cache shared by runs (binary, image context, kernel, disks).
    pub cache_dir: PathBuf,
    /// Scratch directory of this run (overlays, console logs); removed at the end.
    pub work_dir: PathBuf,
    /// Fired on Ctrl-C: long waits must return `crate::error::Error::Cancelled`.
    pub cancel: CancellationToken,
}

impl RunContext {
    /// A context with the default cache and a fresh scratch directory for `run_id`.
    pub fn new(
        run_id: &str,
        scenario: Scenario,
        cancel: CancellationToken,
    ) -> std::io::Result<Self> {
        let work_dir = std::env::temp_dir().join(format!("virtbench-{run_id}"));
        std::fs::create_dir_all(&work_dir)?;
        Ok(RunContext {
            run_id: run_id.into(),
            scenario: Arc::new(scenario),
            cache_dir: crate::artifact::cache_dir(),
            work_dir,
            cancel,
        })
    }
}
