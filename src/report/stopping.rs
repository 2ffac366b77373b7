//! How much each figure was repeated and why it stopped (`PlatformResult::stopping`,
//! docs/stopping.md): one row per variant, one cell per repeated figure. A class reads
//! it to see that a VM's startup needed 3 boots where a noisy container needed 8, and
//! that a figure cut by the budget is less sure than one that converged.

use std::fmt::Write;

use super::view::{self, esc};
use crate::results::{RunResults, StopReason, Stopping};
use crate::stats::fmt_num;

/// The words for why a figure stopped.
fn reason(s: &Stopping) -> &'static str {
    match s.reason {
        StopReason::Decided => "decided",
        StopReason::Spread => "converged",
        StopReason::Budget => "budget spent",
        StopReason::Fixed => "fixed count",
    }
}

/// "n=3, decided" with the rule's words on hover and the spread reached.
fn cell(s: &Stopping) -> String {
    let spread = s
        .spread
        .filter(|v| v.is_finite())
        .map(|v| format!(", ±{} %", fmt_num(v * 100.0)))
        .unwrap_or_default();
    format!(
        "<td title=\"{}\">n={}, {}{spread}, {} s</td>",
        esc(&s.detail),
        s.n,
        reason(s),
        fmt_num(s.spent_s)
    )
}

/// A folded block in "This host and this run": the repetitions table, or nothing when
/// the results predate sequential stopping.
pub fn fold(r: &RunResults) -> String {
    let mut figures: Vec<&str> = Vec::new();
    for p in view::measured(r) {
        for k in p.stopping.keys() {
            if !figures.contains(&k.as_str()) {
                figures.push(k);
            }
        }
    }
    if figures.is_empty() {
        return String::new();
    }
    let count = |why: StopReason| {
        view::measured(r)
            .flat_map(|p| p.stopping.values())
            .filter(|s| s.reason == why)
            .count()
    };
    let mut out = String::new();
    let _ = writeln!(
        out,
        "<details class=\"stopping\"><summary>Repetitions: how many samples each figure took, and why it stopped ({} decided by a claim's threshold, {} converged, {} ended by the budget, {} fixed)</summary>",
        count(StopReason::Decided),
        count(StopReason::Spread),
        count(StopReason::Budget),
        count(StopReason::Fixed)
    );
    out.push_str("<p>Each figure is repeated until its verdict is decided (the interval of the deciding ratio lies wholly in one band of a claim's rule), or its own spread is under the scenario's target, or its budget is spent; \"fixed count\" when the scenario asks for a fixed number. Hover a cell for the rule's words. Startup counts deployments; windows count samples or chunks of the window.</p>\n<table><thead><tr><th>Variant</th>");
    for f in &figures {
        let _ = write!(out, "<th>{}</th>", esc(&f.replace('_', " ")));
    }
    out.push_str("</tr></thead><tbody>\n");
    for p in view::measured(r).filter(|p| !p.stopping.is_empty()) {
        let _ = write!(out, "<tr><td>{}</td>", esc(&view::display(p)));
        for f in &figures {
            match p.stopping.get(*f) {
                Some(s) => out.push_str(&cell(s)),
                None => out.push_str("<td class=\"nm\">–</td>"),
            }
        }
        out.push_str("</tr>\n");
    }
    out.push_str("</tbody></table>\n</details>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_repeated_figure_says_its_count_and_why() {
        let r: RunResults =
            serde_json::from_str(include_str!("../../tests/fixtures/default-run.json"))
                .expect("fixture parses");
        // That fixture predates sequential stopping: no empty block for it.
        assert_eq!(fold(&r), "");
        let mut r = r;
        r.platforms[0].stopping.insert(
            crate::results::stop_key::STARTUP.into(),
            Stopping {
                n: 3,
                reason: StopReason::Decided,
                interval: None,
                spread: Some(0.04),
                target: 0.05,
                spent_s: 7.5,
                detail: "C4: qemu/x / lxc/bridge = 41x wholly at or above 5x".into(),
            },
        );
        let html = fold(&r);
        assert!(html.contains("1 decided by a claim's threshold"), "{html}");
        assert!(html.contains("n=3, decided, ±4.00 %, 7.50 s"), "{html}");
        assert!(html.contains("title=\"C4: qemu/x"), "{html}");
    }
}
