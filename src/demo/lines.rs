//! The demo on an output that is not a terminal (CI logs, a pipe, TERM=dumb): no
//! redrawing, one line per event, each with the run's clock, the same figures and
//! verdicts as the live table. Pure: the board after the event in, lines out.

use super::board::Board;
use super::screen::{clock, mib, ms, rps, us};
use crate::run::events::{Event, Figure, Step};

/// The lines `event` adds to the log; `b` has already applied it.
pub fn lines(b: &Board, event: &Event<'_>) -> Vec<String> {
    let t = format!("[{}]", clock(b.elapsed));
    let (done, left) = b.progress();
    match *event {
        Event::RunStarted { plan, .. } => {
            let names: Vec<&str> = plan.iter().map(|p| p.platform.as_str()).collect();
            vec![format!(
                "{t} demo: run {}, scenario {}, platforms {}; about {} to go",
                b.run_id,
                b.scenario,
                names.join(", "),
                clock(left)
            )]
        }
        // The startups after the first are figures of their own; their steps would
        // only repeat them.
        Event::Step {
            step: Step::Startup { i, .. },
            ..
        } if i > 1 => vec![],
        Event::Step { label, step, .. } => vec![format!(
            "{t} {:>3.0} % {label}: {} (about {} left)",
            done * 100.0,
            step.describe(),
            clock(left)
        )],
        Event::PlatformUnavailable { platform, reason } => {
            vec![format!("{t} {platform}: unavailable: {reason}")]
        }
        Event::Figure { label, figure, .. } => {
            let text = match figure {
                Figure::Startup { median_ms, i, n } => {
                    format!("startup {} (median of {i}/{n})", ms(median_ms))
                }
                Figure::IdleMemory { bytes } => format!("idle memory {}", mib(bytes)),
                Figure::Latency {
                    rate_rps,
                    p50_us,
                    p99_us,
                } => format!(
                    "latency at {rate_rps} req/s: p50 {}, p99 {}",
                    us(p50_us),
                    us(p99_us)
                ),
                Figure::Throughput { rps: v } => format!("throughput {}", rps(v)),
            };
            vec![format!("{t} {label}: {text}")]
        }
        Event::VariantFinished { result } => match &result.error {
            Some(e) => vec![format!("{t} {}: failed: {e}", result.label)],
            None => vec![format!("{t} {}: done", result.label)],
        },
        Event::PlatformFinished { platform, .. } => {
            let given = match b.verdicts.len() {
                0 => "none yet".to_string(),
                n => n.to_string(),
            };
            let mut out = vec![format!(
                "{t} {platform} finished; verdicts so far ({} measured): {given}",
                b.finished_platforms.join(", "),
            )];
            out.extend(b.verdicts.iter().map(|g| format!("{t}   {}", g.line())));
            out
        }
        Event::Note { text } => vec![format!("{t} {text}")],
        Event::RunFinished { .. } => match &b.report {
            Some(p) => vec![format!("{t} report: {}", p.display())],
            None => vec![],
        },
    }
}
