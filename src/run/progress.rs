//! The plain progress output of `virtbench run`: a spinner with the current step and
//! one permanent line per finished variant; silent with --quiet. An [`Observer`] of the
//! run's events, like the classroom demo.

use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};

use super::events::{Event, Observer};
use crate::results::PlatformResult;

pub struct Progress {
    bar: Option<ProgressBar>,
}

impl Progress {
    pub fn new(quiet: bool) -> Self {
        let bar = (!quiet).then(|| {
            let b = ProgressBar::new_spinner();
            b.set_style(
                ProgressStyle::with_template("{spinner} [{elapsed_precise}] {msg}")
                    .expect("valid template"),
            );
            b.enable_steady_tick(Duration::from_millis(120));
            b
        });
        Progress { bar }
    }

    fn step(&self, msg: String) {
        tracing::info!("{msg}");
        if let Some(b) = &self.bar {
            b.set_message(msg);
        }
    }

    fn line(&self, msg: String) {
        match &self.bar {
            // indicatif draws nothing when stderr is not a terminal (CI, pipes): the
            // result lines must still show.
            Some(b) if b.is_hidden() => eprintln!("{msg}"),
            Some(b) => b.println(msg),
            None => {}
        }
    }
}

impl Observer for Progress {
    fn on(&self, event: &Event<'_>) {
        match *event {
            Event::RunStarted {
                run_id,
                scenario_path,
                ..
            } => self.line(format!(
                "virtbench run {run_id}: scenario {}",
                scenario_path.display()
            )),
            Event::Step { label, step, .. } => self.step(format!("{label}: {}", step.describe())),
            Event::PlatformUnavailable { platform, reason } => {
                self.line(format!("{platform:<10} unavailable: {reason}"))
            }
            Event::VariantFinished { result } => match &result.error {
                Some(e) => self.line(format!("{:<10} {}: {e}", result.name, result.label)),
                None => self.line(summary_line(result)),
            },
            Event::Note { text } => self.line(text.to_string()),
            Event::RunFinished { .. } => {
                if let Some(b) = &self.bar {
                    b.finish_and_clear();
                }
            }
            Event::Figure { .. } | Event::PlatformFinished { .. } => {}
        }
    }
}

fn summary_line(r: &PlatformResult) -> String {
    let mut parts = vec![format!("{:<24}", r.label)];
    // A variant not deployed (it needs root, for a user who is not): say why.
    if let (false, Some(why)) = (r.available, &r.unavailable_reason) {
        parts.push(format!("unavailable: {why}"));
    }
    if let Some(s) = &r.startup_ms {
        parts.push(format!("startup {}", s.describe()));
    }
    // PSS: the memory figure the verdicts judge (the same definition on every platform).
    if let Some(m) = &r.memory_idle_pss_bytes {
        parts.push(format!("idle PSS {:.1} MiB", m.median() / 1048576.0));
    }
    if let Some(l) = r.latency_us.last() {
        parts.push(format!("p99 {:.0} us @ {} req/s", l.p99, l.rate_rps));
    }
    let mut line = parts.join("  ");
    if !r.stopping.is_empty() {
        line.push_str(&format!("\n{:<11}stopped: {}", "", stopped(r)));
    }
    line
}

/// What stopped each figure of a variant: "startup n=3 spread 2.1 s, idle n=9 spread
/// 2.0 s, ..." (the reasons of docs/stopping.md).
fn stopped(r: &PlatformResult) -> String {
    use crate::results::StopReason;
    r.stopping
        .iter()
        .map(|(k, s)| {
            let why = match s.reason {
                StopReason::Decided => "decided",
                StopReason::Spread => "spread",
                StopReason::Budget => "budget",
                StopReason::Fixed => "fixed",
            };
            let name = k.trim_end_matches("_ms").trim_start_matches("max_");
            format!("{name} n={} {why} {:.1} s", s.n, s.spent_s)
        })
        .collect::<Vec<_>>()
        .join(", ")
}
