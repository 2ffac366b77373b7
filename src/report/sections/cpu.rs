//! The CPU section: its charts and its table of figures.

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

pub(crate) fn cpu(out: &mut String, r: &RunResults, charts: &[Chart]) {
    section(out, "cpu", "CPU: idle and per 1,000 requests");
    figures(out, r, charts, "chart-cpu", "host CPU time");
    if let Some(rule) = crate::report::idle::settle_rule(r) {
        let _ = writeln!(out, "<p>{}</p>", esc(&rule));
    }
    figures_table(
        out,
        r,
        (
            "Figures per variant: idle CPU and CPU per 1,000 requests",
            "",
        ),
        &["Idle CPU", "CPU per 1,000 requests"],
        |p| {
            let idle = match &p.cpu_idle_seconds {
                Some(c) => esc(&crate::report::idle::idle_cpu_cell(c)),
                None => NOT_MEASURED.into(),
            };
            vec![vec![
                td(idle),
                td(cell(p.cpu_seconds_per_1k_requests.as_ref())),
            ]]
        },
    );
    out.push_str("</details>\n</section>\n");
}
