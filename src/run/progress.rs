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
    if let Some(m) = &r.memory_idle_bytes {
        parts.push(format!("idle RSS {:.1} MiB", m.median() / 1048576.0));
    }
    if let Some(l) = r.latency_us.last() {
        parts.push(format!("p99 {:.0} us @ {} req/s", l.p99, l.rate_rps));
    }
    parts.join("  ")
}
