//! The throughput section: its chart and its table of figures.

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

pub(crate) fn throughput(out: &mut String, r: &RunResults, charts: &[Chart]) {
    section(out, "throughput", "Throughput: as fast as it can answer");
    match charts.iter().find(|c| c.id == "chart-throughput") {
        Some(c) => out.push_str(&figure(c)),
        None => out.push_str(&nothing(r, "maximum throughput")),
    }
    const THROUGHPUT: [&str; 7] = [
        "Requests/s",
        "Per second",
        "Connections",
        "Duration",
        "Correct",
        "Failed",
        "Wrong",
    ];
    figures_table(
        out,
        r,
        (
            "Figures per variant: requests per second, correct, failed and wrong answers",
            "",
        ),
        &THROUGHPUT,
        |p| match &p.max_throughput_rps {
            Some(t) => vec![vec![
                num(fmt_num(t.rps)),
                td(esc(&describe(&t.per_second))),
                num(t.connections),
                num(format!("{} s", fmt_num(t.duration_s))),
                num(t.count),
                num(t.errors),
                num(t.wrong_answers),
            ]],
            None => vec![not_measured(THROUGHPUT.len())],
        },
    );
    out.push_str("</details>\n</section>\n");
}
