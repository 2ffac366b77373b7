//! The demo's model of the run: one row per platform/variant with the figures measured
//! so far, where the run is, and the verdicts that can already be given. Built only from
//! the run's events (plus the time each arrived), so it is pure and tested with events
//! made by hand; the renderers only read it.

use std::path::PathBuf;
use std::time::Duration;

use super::estimate::Estimate;
use super::verdicts::{self, Given};
use crate::run::events::{Event, Figure, Step};

#[derive(Debug, Clone, PartialEq)]
pub enum RowState {
    Waiting,
    Running(Step),
    Done,
    Failed(String),
    Unavailable(String),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub platform: String,
    pub label: String,
    pub state: RowState,
    /// Median of the startups so far, ms.
    pub startup_ms: Option<f64>,
    pub idle_bytes: Option<f64>,
    /// Latency at the last rate measured, µs.
    pub p50_us: Option<f64>,
    pub p99_us: Option<f64>,
    pub rps: Option<f64>,
}

impl Row {
    fn new(platform: &str, label: &str) -> Row {
        Row {
            platform: platform.into(),
            label: label.into(),
            state: RowState::Waiting,
            startup_ms: None,
            idle_bytes: None,
            p50_us: None,
            p99_us: None,
            rps: None,
        }
    }
}

/// Where the run is: the platform and step under way.
#[derive(Debug, Clone, PartialEq)]
pub struct Now {
    pub platform: String,
    pub label: String,
    pub step: Step,
}

#[derive(Debug, Clone, Default)]
pub struct Board {
    pub run_id: String,
    pub scenario: String,
    pub rows: Vec<Row>,
    pub now: Option<Now>,
    /// Time since the run started, as of the last event or tick.
    pub elapsed: Duration,
    pub estimate: Estimate,
    /// The verdicts given on the platforms finished so far, and which platforms those are.
    pub verdicts: Vec<Given>,
    pub finished_platforms: Vec<String>,
    pub report: Option<PathBuf>,
}

impl Board {
    pub fn new() -> Board {
        Board::default()
    }

    /// Fold in one event that arrived `at` after the run started.
    pub fn apply(&mut self, event: &Event<'_>, at: Duration) {
        self.elapsed = at;
        self.estimate.apply(event, at);
        match *event {
            Event::RunStarted {
                run_id,
                scenario,
                plan,
                ..
            } => {
                self.run_id = run_id.into();
                self.scenario = scenario.name.clone();
                self.rows = plan
                    .iter()
                    .flat_map(|p| p.variants.iter().map(|v| Row::new(&p.platform, v)))
                    .collect();
            }
            Event::Step {
                platform,
                label,
                step,
            } => {
                self.now = Some(Now {
                    platform: platform.into(),
                    label: label.into(),
                    step,
                });
                if let Some(r) = self.row_mut(label) {
                    r.state = RowState::Running(step);
                }
            }
            Event::PlatformUnavailable { platform, reason } => {
                // One row says why, in place of the variants it would have had.
                let at = self.rows.iter().position(|r| r.platform == platform);
                self.rows.retain(|r| r.platform != platform);
                let mut row = Row::new(platform, platform);
                row.state = RowState::Unavailable(reason.into());
                self.rows
                    .insert(at.unwrap_or(self.rows.len()).min(self.rows.len()), row);
            }
            Event::Figure { label, figure, .. } => {
                if let Some(r) = self.row_mut(label) {
                    match figure {
                        Figure::Startup { median_ms, .. } => r.startup_ms = Some(median_ms),
                        Figure::IdleMemory { bytes } => r.idle_bytes = Some(bytes),
                        Figure::Latency { p50_us, p99_us, .. } => {
                            r.p50_us = Some(p50_us);
                            r.p99_us = Some(p99_us);
                        }
                        Figure::Throughput { rps } => r.rps = Some(rps),
                    }
                }
            }
            Event::VariantFinished { result } => {
                let state = match &result.error {
                    Some(e) => RowState::Failed(e.clone()),
                    None => RowState::Done,
                };
                if let Some(r) = self.row_mut(&result.label) {
                    r.state = state;
                } else if result.label == result.name {
                    // The platform failed before its variants (prepare, panic): every
                    // variant not yet finished failed with it.
                    for r in self.rows.iter_mut().filter(|r| r.platform == result.name) {
                        if matches!(r.state, RowState::Waiting | RowState::Running(_)) {
                            r.state = state.clone();
                        }
                    }
                } else {
                    let mut row = Row::new(&result.name, &result.label);
                    row.state = state;
                    self.rows.push(row);
                }
            }
            Event::PlatformFinished { platform, so_far } => {
                // An unavailable platform ends too, but measured nothing.
                let measured = self.rows.iter().any(|r| {
                    r.platform == platform && !matches!(r.state, RowState::Unavailable(_))
                });
                if measured {
                    self.finished_platforms.push(platform.into());
                }
                self.verdicts = verdicts::given(so_far);
                if self.now.as_ref().is_some_and(|n| n.platform == platform) {
                    self.now = None;
                }
            }
            Event::Note { .. } => {}
            Event::RunFinished { dir } => {
                self.now = None;
                self.report = Some(dir.join("index.html"));
            }
        }
    }

    /// Only the clock moved.
    pub fn tick(&mut self, at: Duration) {
        self.elapsed = at;
    }

    fn row_mut(&mut self, label: &str) -> Option<&mut Row> {
        self.rows.iter_mut().find(|r| r.label == label)
    }

    /// Share of the run done (0..1) and the time left, both estimated.
    pub fn progress(&self) -> (f64, Duration) {
        let left = self.estimate.left(self.elapsed);
        if self.report.is_some() {
            return (1.0, Duration::ZERO);
        }
        let total = self.elapsed + left;
        let done = if total.is_zero() {
            0.0
        } else {
            self.elapsed.as_secs_f64() / total.as_secs_f64()
        };
        (done, left)
    }
}
