//! The latency section: its charts and its table of figures.

#![allow(unused_imports)]
use std::fmt::Write as _;

use crate::report::charts::{self, Chart};
use crate::report::claims::{self, ClaimRow, Verdict};
use crate::report::view::{
    self, css_colour, describe, esc, fmt_bytes, fmt_ms, fmt_ratio, fmt_us, Kind,
};
use crate::report::widgets::{
    cell, figure, figures, figures_table, fold, not_measured, nothing, num, platform_cell,
    platform_names, section, swatch, td, NOT_MEASURED,
};
use crate::results::{keys, PlatformResult, RunResults};
use crate::stats::{fmt_num, Series};

pub(crate) fn latency(out: &mut String, r: &RunResults, charts: &[Chart]) {
    section(
        out,
        "latency",
        "Latency: percentiles at constant request rates",
    );
    out.push_str("<p>Open-loop load: requests leave at a fixed rate whatever the answers do, and each latency counts from the moment the request was <em>meant</em> to leave, so a stalled platform cannot hide its stall. Every answer is checked; failures and wrong answers are counted apart.</p>\n");
    figures(out, r, charts, "chart-latency", "request latency");
    const LATENCY: [&str; 11] = [
        "Rate (req/s)",
        "Achieved",
        "p50",
        "p90",
        "p99",
        "p99.9",
        "max",
        "Mean ± sd",
        "Correct",
        "Failed",
        "Wrong",
    ];
    figures_table(
        out,
        r,
        (
            "Figures per variant and rate: every percentile, correct, failed and wrong answers",
            "dense",
        ),
        &LATENCY,
        |p| {
            if p.latency_us.is_empty() {
                return vec![not_measured(LATENCY.len())];
            }
            p.latency_us
                .iter()
                .map(|l| {
                    let mut row = vec![
                        num(view::fmt_rate(l.rate_rps)),
                        num(fmt_num(l.achieved_rps)),
                    ];
                    row.extend(
                        [l.p50, l.p90, l.p99, l.p999, l.max]
                            .into_iter()
                            .map(|v| num(esc(&fmt_us(v)))),
                    );
                    row.push(num(format!(
                        "{} ± {}",
                        esc(&fmt_us(l.mean)),
                        esc(&fmt_us(l.stddev))
                    )));
                    row.extend([l.count, l.errors, l.wrong_answers].into_iter().map(num));
                    row
                })
                .collect()
        },
    );
    out.push_str("</details>\n</section>\n");
}
