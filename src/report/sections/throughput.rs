//! The throughput section: its chart and its table of figures.

use crate::report::charts::{bars_height, hbars, iqr, make_chart, Bar, Chart};

use crate::report::view::{self, describe, esc};
use crate::report::widgets::{figure, figures_table, not_measured, nothing, num, section, td};
use crate::results::RunResults;
use crate::stats::fmt_num;

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

/// Closed-loop maximum throughput per platform.
pub fn chart(r: &RunResults) -> Option<Chart> {
    let bars: Vec<Bar> = view::measured(r)
        .filter_map(|p| {
            let t = p.max_throughput_rps.as_ref()?;
            Some(Bar {
                group: view::display(p),
                colour: view::colour(r, &p.label),
                shade: 0.0,
                value: t.rps,
                whisker: iqr(&t.per_second),
                text: format!(
                    "{} requests/s ({} connections)",
                    fmt_num(t.rps),
                    t.connections
                ),
            })
        })
        .collect();
    if bars.is_empty() {
        return None;
    }
    let title = "Maximum throughput (closed loop)";
    Some(make_chart(
        "chart-throughput",
        title,
        "Bars are correct answers per second with every connection sending its next request \
         as soon as the previous one is answered; whiskers are the IQR over one-second \
         slices. Longer is better.",
        bars_height(&bars),
        |root| hbars(root, "requests per second", &bars, 1.0),
    ))
}
