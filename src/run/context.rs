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
    /// Removes the scratch directory when the last clone of a context made by
    /// [`RunContext::new`] is dropped: at the end of a run, on an error and on a panic
    /// alike (tests make contexts too, and a failing test must not leave it).
    scratch: Option<Arc<Scratch>>,
}

#[derive(Debug)]
struct Scratch(PathBuf);

impl Drop for Scratch {
    fn drop(&mut self) {
        if let Err(e) = std::fs::remove_dir_all(&self.0) {
            if e.kind() != std::io::ErrorKind::NotFound {
                tracing::warn!(dir = %self.0.display(), error = %e, "removing the run's scratch directory");
            }
        }
    }
}

impl RunContext {
    /// A context with the default cache and a fresh scratch directory for `run_id`,
    /// removed when the context (and every clone of it) is dropped.
    pub fn new(
        run_id: &str,
        scenario: Scenario,
        cancel: CancellationToken,
    ) -> std::io::Result<Self> {
        let work_dir = std::env::temp_dir().join(format!("virtbench-{run_id}"));
        std::fs::create_dir_all(&work_dir)?;
        let mut ctx = RunContext::with_dirs(
            run_id,
            scenario,
            crate::artifact::cache_dir(),
            work_dir.clone(),
            cancel,
        );
        ctx.scratch = Some(Arc::new(Scratch(work_dir)));
        Ok(ctx)
    }

    /// A context on directories the caller owns (and removes): tests, or a cache of
    /// their own.
    pub fn with_dirs(
        run_id: &str,
        scenario: Scenario,
        cache_dir: PathBuf,
        work_dir: PathBuf,
        cancel: CancellationToken,
    ) -> Self {
        RunContext {
            run_id: run_id.into(),
            scenario: Arc::new(scenario),
            cache_dir,
            work_dir,
            cancel,
            scratch: None,
        }
    }

    /// A context for copy `run_id` of this run (density): its own run id and a
    /// scratch directory under this run's, removed with it.
    pub fn copy(&self, run_id: String, work_dir: PathBuf) -> Self {
        RunContext {
            run_id,
            work_dir,
            ..self.clone()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_scratch_directory_goes_with_the_last_context() {
        let s: Scenario = toml::from_str("name = \"t\"\nplatforms = [\"native\"]\n").unwrap();
        let id = format!("ctx-test-{}", std::process::id());
        let ctx = RunContext::new(&id, s, CancellationToken::new()).unwrap();
        let dir = ctx.work_dir.clone();
        std::fs::write(dir.join("console.log"), "x").unwrap();
        let copy = ctx.copy(format!("{id}-c1"), dir.join("density-c1"));
        drop(ctx);
        assert!(dir.is_dir(), "a clone still holds it");
        drop(copy);
        assert!(!dir.exists());
    }
}
