//! The CPU section: its charts and its table of figures.

use crate::report::charts::{bars_height, hbars, iqr, make_chart, with_samples, Bar, Chart};
use std::fmt::Write as _;

use crate::report::view::{self, esc};
use crate::report::widgets::{cell, figures, figures_table, section, td, NOT_MEASURED};
use crate::results::RunResults;
use crate::stats::fmt_num;

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

/// CPU while idle, as a percentage of one core over the idle window.
pub fn idle_chart(r: &RunResults) -> Option<Chart> {
    let bars: Vec<Bar> = view::measured(r)
        .filter_map(|p| {
            let c = p.cpu_idle_seconds.as_ref()?;
            let pct = |s: f64| s / c.window_s * 100.0;
            let per_slice = (c.per_slice.summary.n > 1).then(|| {
                let k = 100.0 / c.slice_s;
                (c.per_slice.summary.p25 * k, c.per_slice.summary.p75 * k)
            });
            Some(Bar {
                group: view::display(p),
                colour: view::colour(r, &p.label),
                shade: 0.0,
                value: pct(c.measured_seconds().unwrap_or(0.0)),
                whisker: per_slice,
                text: match c.measured_seconds() {
                    Some(v) => format!(
                        "{}% of a core ({} s over {} s)",
                        fmt_num(pct(v)),
                        fmt_num(v),
                        fmt_num(c.window_s)
                    ),
                    None => format!("{} over {} s", view::fmt_idle_cpu(c), fmt_num(c.window_s)),
                },
            })
        })
        .collect();
    if bars.is_empty() {
        return None;
    }
    let title = "Host CPU while idle (no requests)";
    Some(make_chart(
        "chart-cpu-idle",
        title,
        "Bars are the host CPU time the deployment used over the idle window, as a percentage \
         of one core; whiskers are the IQR over the window's slices. Near zero means the \
         platform costs nothing while it waits.",
        bars_height(&bars),
        |root| hbars(root, "% of one CPU core", &bars, 1.0),
    ))
}

/// CPU seconds per 1,000 requests under the open-loop load.
pub fn per_1k_chart(r: &RunResults) -> Option<Chart> {
    let bars: Vec<Bar> = view::measured(r)
        .filter_map(|p| {
            let s = with_samples(&p.cpu_seconds_per_1k_requests)?;
            Some(Bar {
                group: view::display(p),
                colour: view::colour(r, &p.label),
                shade: 0.0,
                value: s.summary.median,
                whisker: iqr(s),
                text: format!("{} CPU s (n={})", fmt_num(s.summary.median), s.summary.n),
            })
        })
        .collect();
    if bars.is_empty() {
        return None;
    }
    let title = "Host CPU per 1,000 requests";
    Some(make_chart(
        "chart-cpu-load",
        title,
        "Bars are the host CPU seconds (all cores) spent per 1,000 answered requests, median \
         over the load runs, whiskers the IQR. This is the price of each request, including \
         the platform's own layers (NAT, virtual devices, emulation).",
        bars_height(&bars),
        |root| hbars(root, "CPU seconds per 1,000 requests", &bars, 1.0),
    ))
}
