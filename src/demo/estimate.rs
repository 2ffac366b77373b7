//! About how long the run has left, from the scenario's windows (idle, load, throughput:
//! fixed lengths) and the startups measured so far (a VM's differ from a container's by
//! orders of magnitude, so each platform's own are used once it has some). What the
//! scenario does not bound (settling, extras, teardowns) is learnt from the variants
//! finished: each took some time beyond its startups and windows, and the mean of that
//! is added to each variant to come. Builds are not estimated: the screen says "about".

use std::collections::BTreeMap;
use std::time::Duration;

use crate::run::events::{Event, Figure, Step};

/// A startup not measured yet, on a platform none of whose startups are: a guess that a
/// container is closer to than a VM, corrected by the first real figure.
const STARTUP_GUESS_S: f64 = 2.0;

#[derive(Debug, Clone, Default)]
pub struct Estimate {
    reps: u32,
    /// One variant's windows, seconds: idle, every open-loop rate, throughput.
    idle_s: f64,
    loads_s: f64,
    throughput_s: f64,
    /// Variants not finished, by platform, in run order.
    pending: Vec<(String, String)>,
    /// Per platform, the wall time of each startup measured (deploy to first answer).
    startups_s: BTreeMap<String, Vec<f64>>,
    /// The variant under way: its platform and label, the step, when the step began.
    current: Option<(String, String, Step, Duration)>,
    /// When the variant under way took its first step.
    variant_began: Option<Duration>,
    /// Per finished variant, its wall time beyond the startups and windows: settling,
    /// extras, teardowns. The mean is added to each variant still to come.
    overheads_s: Vec<f64>,
}

impl Estimate {
    pub fn apply(&mut self, event: &Event<'_>, at: Duration) {
        match *event {
            Event::RunStarted { scenario, plan, .. } => {
                self.reps = scenario.startup.repetitions;
                self.idle_s = scenario.idle.window_s;
                self.loads_s = scenario.load.rates_rps.len() as f64 * scenario.load.duration_s;
                self.throughput_s = scenario.throughput.duration_s;
                self.pending = plan
                    .iter()
                    .flat_map(|p| p.variants.iter().map(|v| (p.platform.clone(), v.clone())))
                    .collect();
            }
            Event::Step {
                platform,
                label,
                step,
            } => {
                if !matches!(step, Step::Probing | Step::Preparing)
                    && self.current.as_ref().is_none_or(|c| c.1 != label)
                {
                    self.variant_began = Some(at);
                }
                self.current = Some((platform.into(), label.into(), step, at));
            }
            Event::Figure {
                platform,
                figure: Figure::Startup { .. },
                ..
            } => {
                if let Some((_, _, Step::Startup { .. }, began)) = &self.current {
                    let s = at.saturating_sub(*began).as_secs_f64();
                    self.startups_s.entry(platform.into()).or_default().push(s);
                }
            }
            Event::VariantFinished { result } => {
                if let (Some(began), false) = (self.variant_began.take(), result.error.is_some()) {
                    let modelled =
                        self.still_to_do(&result.name, Step::Preparing) - self.overhead_s();
                    let took = at.saturating_sub(began).as_secs_f64();
                    self.overheads_s.push((took - modelled).max(0.0));
                }
                let name = &result.name;
                if result.label == *name {
                    self.pending.retain(|(p, _)| p != name);
                } else {
                    self.pending.retain(|(_, l)| *l != result.label);
                }
                self.current = None;
            }
            Event::PlatformUnavailable { platform, .. }
            | Event::PlatformFinished { platform, .. } => {
                self.pending.retain(|(p, _)| p != platform);
                if self.current.as_ref().is_some_and(|c| c.0 == platform) {
                    self.current = None;
                }
            }
            Event::Figure { .. } | Event::Note { .. } | Event::RunFinished { .. } => {}
        }
    }

    /// One startup on `platform`: the mean of its own, else of all measured, else a guess.
    fn startup_s(&self, platform: &str) -> f64 {
        let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
        match self.startups_s.get(platform) {
            Some(v) if !v.is_empty() => mean(v),
            _ => {
                let all: Vec<f64> = self.startups_s.values().flatten().copied().collect();
                if all.is_empty() {
                    STARTUP_GUESS_S
                } else {
                    mean(&all)
                }
            }
        }
    }

    /// Seconds of one variant's measurement from the start of `step` to its end.
    fn still_to_do(&self, platform: &str, step: Step) -> f64 {
        let startup = self.startup_s(platform);
        let reps = self.reps as f64;
        let windows = self.idle_s + self.loads_s + self.throughput_s;
        match step {
            Step::Probing | Step::Preparing => reps * startup + windows + self.overhead_s(),
            Step::Startup { i, .. } => (reps - i as f64 + 1.0) * startup + windows,
            // Settling takes from nothing to `settle::MAX_WAIT`: counted as nothing, the
            // estimate grows while it lasts.
            Step::Settling | Step::Idle { .. } => windows,
            // Which of several rates is under way is not tracked: all of them are
            // counted, an upper bound.
            Step::Load { .. } => self.loads_s + self.throughput_s,
            Step::Throughput { .. } => self.throughput_s,
            Step::Extras | Step::Density { .. } => 0.0,
        }
    }

    /// The mean overhead of the variants finished so far (none before the first).
    fn overhead_s(&self) -> f64 {
        if self.overheads_s.is_empty() {
            0.0
        } else {
            self.overheads_s.iter().sum::<f64>() / self.overheads_s.len() as f64
        }
    }

    /// The time left, as of `now`.
    pub fn left(&self, now: Duration) -> Duration {
        let mut left = 0.0;
        let mut current_label = None;
        // While probing or preparing, the platform's variants are all still pending.
        if let Some((platform, label, step, began)) = &self.current {
            if !matches!(step, Step::Probing | Step::Preparing) {
                let spent = now.saturating_sub(*began).as_secs_f64();
                left += (self.still_to_do(platform, *step) - spent).max(0.0);
                current_label = Some(label.as_str());
            }
        }
        for (platform, label) in &self.pending {
            if Some(label.as_str()) != current_label {
                left += self.still_to_do(platform, Step::Preparing);
            }
        }
        Duration::from_secs_f64(left)
    }
}
