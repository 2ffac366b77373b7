//! Whether a scenario's verdicts hold from run to run (`virtbench stability A.json B.json
//! ...`): per claim, the verdict of each run and whether they agree; per deciding figure
//! (each variant's startup, idle PSS, CPU per 1,000 requests, p50/p99 at each rate,
//! throughput), the run-to-run spread of its medians. Issue 23 asked for it after three
//! identical runs gave C6 "mixed", "mixed", "contradicted": a class should see which
//! verdicts a rerun can change before it defends one.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use super::claims::{self, Verdict};
use super::view;
use crate::results::{PlatformResult, RunResults};
use crate::stats::fmt_num;

/// One claim across the runs.
#[derive(Debug, Clone, PartialEq)]
pub struct ClaimStability {
    pub id: &'static str,
    /// Each run's verdict in words, in the order of the runs.
    pub verdicts: Vec<String>,
    /// How many runs gave the most frequent verdict.
    pub agreeing: usize,
}

impl ClaimStability {
    pub fn holds(&self) -> bool {
        self.agreeing == self.verdicts.len()
    }
}

/// One figure of one variant across the runs.
#[derive(Debug, Clone, PartialEq)]
pub struct FigureStability {
    pub label: String,
    pub figure: String,
    pub medians: Vec<f64>,
}

impl FigureStability {
    /// Largest median over the smallest, minus one ("+12 %"); `None` when a median is
    /// not above zero (nothing is divided by it).
    pub fn spread(&self) -> Option<f64> {
        let lo = self.medians.iter().copied().fold(f64::INFINITY, f64::min);
        let hi = self
            .medians
            .iter()
            .copied()
            .fold(f64::NEG_INFINITY, f64::max);
        (lo > 0.0).then(|| hi / lo - 1.0)
    }
}

/// The verdict's name without its reason: "undecided", not the interval that made it.
fn word(v: &Verdict) -> String {
    match v {
        Verdict::NotMeasured(_) => "not measured".into(),
        other => other.label(),
    }
}

pub fn claims(runs: &[RunResults]) -> Vec<ClaimStability> {
    let rows: Vec<Vec<claims::ClaimRow>> = runs.iter().map(claims::evaluate).collect();
    let Some(first) = rows.first() else {
        return Vec::new();
    };
    first
        .iter()
        .map(|c| {
            let verdicts: Vec<String> = rows
                .iter()
                .map(|rs| {
                    rs.iter()
                        .find(|r| r.id == c.id)
                        .map_or_else(|| "absent".into(), |r| word(&r.verdict))
                })
                .collect();
            let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
            for v in &verdicts {
                *counts.entry(v.as_str()).or_default() += 1;
            }
            ClaimStability {
                id: c.id,
                agreeing: counts.values().copied().max().unwrap_or(0),
                verdicts,
            }
        })
        .collect()
}

/// The figures the verdicts decide on, by name, for one variant.
fn deciding(p: &PlatformResult) -> Vec<(String, f64)> {
    let mut out = Vec::new();
    let mut put = |name: String, v: Option<f64>| {
        if let Some(v) = v {
            out.push((name, v));
        }
    };
    put("startup ms".into(), view::median(&p.startup_ms));
    put(
        "idle PSS bytes".into(),
        view::median(&p.memory_idle_pss_bytes),
    );
    put(
        "CPU s per 1k requests".into(),
        view::median(&p.cpu_seconds_per_1k_requests),
    );
    for l in p.latency_us.iter().filter(|l| l.count > 0) {
        let rate = view::fmt_rate(l.rate_rps);
        put(format!("p50 us @ {rate} req/s"), Some(l.p50));
        put(format!("p99 us @ {rate} req/s"), Some(l.p99));
    }
    put(
        "throughput req/s".into(),
        p.max_throughput_rps
            .as_ref()
            .map(|t| t.per_second.summary.median),
    );
    out
}

/// Every deciding figure measured in every run, by variant label and figure.
pub fn figures(runs: &[RunResults]) -> Vec<FigureStability> {
    let mut by: BTreeMap<(String, String), Vec<f64>> = BTreeMap::new();
    for r in runs {
        for p in view::measured(r) {
            for (f, v) in deciding(p) {
                by.entry((p.label.clone(), f)).or_default().push(v);
            }
        }
    }
    by.into_iter()
        .filter(|(_, v)| v.len() == runs.len())
        .map(|((label, figure), medians)| FigureStability {
            label,
            figure,
            medians,
        })
        .collect()
}

/// The whole answer as Markdown: the claims, then the figures, widest spread first.
pub fn render(runs: &[RunResults]) -> String {
    let mut out = String::new();
    let ids: Vec<&str> = runs.iter().map(|r| r.run_id.as_str()).collect();
    let _ = writeln!(
        out,
        "# Stability of {} runs: {}\n",
        runs.len(),
        ids.join(", ")
    );
    let cs = claims(runs);
    let held = cs.iter().filter(|c| c.holds()).count();
    let _ = writeln!(
        out,
        "{held} of {} claims gave the same verdict in every run.\n",
        cs.len()
    );
    let _ = writeln!(out, "| claim | verdicts | same in |\n|---|---|---|");
    for c in &cs {
        let _ = writeln!(
            out,
            "| {} | {} | {} of {}{} |",
            c.id,
            c.verdicts.join(" / "),
            c.agreeing,
            c.verdicts.len(),
            if c.holds() { "" } else { " (differs)" }
        );
    }
    let mut fs = figures(runs);
    fs.sort_by(|a, b| {
        b.spread()
            .unwrap_or(f64::INFINITY)
            .total_cmp(&a.spread().unwrap_or(f64::INFINITY))
    });
    let _ = writeln!(
        out,
        "\nRun-to-run spread of each deciding figure's median (largest over smallest, minus one), widest first:\n\n| variant | figure | medians | spread |\n|---|---|---|---|"
    );
    for f in &fs {
        let medians: Vec<String> = f.medians.iter().map(|&m| fmt_num(m)).collect();
        let spread = f.spread().map_or_else(
            || "n/a (a median of 0)".into(),
            |s| format!("{} %", fmt_num(s * 100.0)),
        );
        let _ = writeln!(
            out,
            "| {} | {} | {} | {spread} |",
            f.label,
            f.figure,
            medians.join(", ")
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn real() -> RunResults {
        serde_json::from_str(include_str!("../../tests/fixtures/default-run.json"))
            .expect("fixture parses")
    }

    #[test]
    fn identical_runs_hold_and_a_flipped_claim_is_named() {
        let a = real();
        let same = claims(&[a.clone(), a.clone(), a.clone()]);
        assert!(same.iter().all(|c| c.holds()), "{same:?}");
        assert!(figures(&[a.clone(), a.clone()])
            .iter()
            .all(|f| f.spread() == Some(0.0) || f.spread().is_none()));
        // A third run whose containers all started as slowly as the VMs: C4 flips.
        let mut b = a.clone();
        let slowest = view::measured(&a)
            .filter_map(|p| view::median(&p.startup_ms))
            .fold(0.0, f64::max);
        for p in &mut b.platforms {
            if let Some(s) = &mut p.startup_ms {
                *s = crate::stats::Series::new("ms", vec![slowest; 5]);
            }
        }
        let c = claims(&[a.clone(), a.clone(), b.clone()]);
        let c4 = c.iter().find(|c| c.id == "C4").unwrap();
        assert!(!c4.holds(), "{c4:?}");
        assert_eq!(c4.agreeing, 2);
        let text = render(&[a.clone(), a, b]);
        assert!(text.contains("(differs)"), "{text}");
        assert!(text.contains("| startup ms |"), "{text}");
    }
}
