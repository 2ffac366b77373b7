//! What a run tells the outside while it goes: typed events, sent to an [`Observer`].
//!
//! The runner knows nothing of spinners or tables: it says which platform it is on,
//! which step it started, which figure it just measured and what a variant or platform
//! ended with. The plain progress output (`progress.rs`) and the classroom demo
//! (`crate::demo`) are two observers of the same stream, so they cannot disagree on
//! what happened, and the demo's table model can be tested with events made by hand.

use std::path::Path;

use crate::results::PlatformResult;
use crate::scenario::Scenario;

/// One platform the run means to measure, with the variants the scenario gives it
/// (known before probing, so progress can be estimated from the start).
#[derive(Debug, Clone, PartialEq)]
pub struct Planned {
    pub platform: String,
    pub variants: Vec<String>,
}

/// What the runner is doing now.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Step {
    Probing,
    Preparing,
    /// Fresh deployment `i` of `n` (1-based), up to its first correct answer.
    Startup {
        i: u32,
        n: u32,
    },
    /// Waiting for the deployment's CPU to go quiet before the idle window
    /// (`measure::settle`, bounded by its `MAX_WAIT`).
    Settling,
    Idle {
        window_s: f64,
    },
    Load {
        rate_rps: f64,
        duration_s: f64,
    },
    Throughput {
        duration_s: f64,
    },
    Extras,
    /// Density sweep: copy `i` of `n` starting.
    Density {
        n: u32,
        i: u32,
    },
}

impl Step {
    /// The step in a few words, as the spinner shows it.
    pub fn describe(&self) -> String {
        match *self {
            Step::Probing => "probing".into(),
            Step::Preparing => "preparing artifacts".into(),
            Step::Startup { i, n } => format!("startup {i}/{n}"),
            Step::Settling => "settling".into(),
            Step::Idle { window_s } => format!("idle window {window_s} s"),
            Step::Load {
                rate_rps,
                duration_s,
            } => format!("open-loop load {rate_rps} req/s for {duration_s} s"),
            Step::Throughput { duration_s } => format!("closed-loop throughput {duration_s} s"),
            Step::Extras => "platform experiments".into(),
            Step::Density { n, i } => format!("density: copy {i} of {n}"),
        }
    }
}

/// A figure just measured for one variant.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Figure {
    /// Median of the startups measured so far (ms), after deployment `i` of `n`.
    Startup { median_ms: f64, i: u32, n: u32 },
    /// Median idle resident memory (bytes).
    IdleMemory { bytes: f64 },
    /// Open-loop latency at one rate (µs).
    Latency {
        rate_rps: f64,
        p50_us: f64,
        p99_us: f64,
    },
    /// Closed-loop throughput (requests per second).
    Throughput { rps: f64 },
}

#[derive(Debug, Clone, Copy)]
pub enum Event<'a> {
    RunStarted {
        run_id: &'a str,
        scenario_path: &'a Path,
        scenario: &'a Scenario,
        plan: &'a [Planned],
    },
    /// `label` is the variant's label, or the platform's name before its variants run.
    Step {
        platform: &'a str,
        label: &'a str,
        step: Step,
    },
    PlatformUnavailable {
        platform: &'a str,
        reason: &'a str,
    },
    Figure {
        platform: &'a str,
        label: &'a str,
        figure: Figure,
    },
    /// A variant is done, measured or failed (`result.error`); a platform whose
    /// preparation failed ends with one such failed result named after the platform.
    VariantFinished {
        result: &'a PlatformResult,
    },
    /// A platform is done; `so_far` is every result of the run until now.
    PlatformFinished {
        platform: &'a str,
        so_far: &'a [PlatformResult],
    },
    /// Something worth a line that is none of the above (a failed cleanup).
    Note {
        text: &'a str,
    },
    /// The report is written.
    RunFinished {
        dir: &'a Path,
    },
}

/// Receives a run's events, in order, from the runner's task. Must be cheap: the
/// runner waits for it.
pub trait Observer: Send + Sync {
    fn on(&self, event: &Event<'_>);
}
