//! The memory section: its charts and its table of figures.

use crate::report::charts::{bars_height, hbars, iqr, make_chart, with_samples, Bar, Chart};
use crate::report::view::MIB;

use crate::report::view::{self, fmt_bytes};
use crate::report::widgets::{cell, figure, figures_table, nothing, section, td};
use crate::results::RunResults;

pub(crate) fn memory(out: &mut String, r: &RunResults, charts: &[Chart]) {
    section(
        out,
        "memory",
        "Memory: what the host pays, idle and under load",
    );
    out.push_str("<p>Sampled from outside: <b>PSS</b> of every process the deployment owns (a VM's hypervisor, guest RAM included; a container's processes with its shims, proxy, conmon or monitor), the same on every platform and the figure the verdicts judge; beside it RSS, or a container's cgroup usage, which counts page cache differently per platform (not judged). The engine's shared daemons are counted apart (below).</p>\n");
    match charts.iter().find(|c| c.id == "chart-memory") {
        Some(c) => out.push_str(&figure(c)),
        None => out.push_str(&nothing(r, "host memory")),
    }
    figures_table(
        out,
        r,
        (
            "Figures per variant: idle and loaded memory, PSS (judged) and RSS / cgroup",
            "",
        ),
        &[
            "Idle PSS",
            "Loaded PSS",
            "Idle RSS / cgroup",
            "Loaded RSS / cgroup",
        ],
        |p| {
            vec![[
                &p.memory_idle_pss_bytes,
                &p.memory_load_pss_bytes,
                &p.memory_idle_bytes,
                &p.memory_load_bytes,
            ]
            .into_iter()
            .map(|s| td(cell(s.as_ref())))
            .collect()]
        },
    );
    out.push_str(&crate::report::idle::breakdown_table(r));
    out.push_str("</details>\n</section>\n");
}

/// Host memory per platform: idle and under load, PSS (judged) and RSS / cgroup.
pub fn chart(r: &RunResults) -> Option<Chart> {
    let mut bars = Vec::new();
    for p in view::measured(r) {
        let colour = view::colour(r, &p.label);
        let series = [
            // PSS first: the figure the verdicts judge.
            ("idle PSS", &p.memory_idle_pss_bytes, 0.0),
            ("loaded PSS", &p.memory_load_pss_bytes, 0.3),
            ("idle RSS / cgroup", &p.memory_idle_bytes, 0.5),
            ("loaded RSS / cgroup", &p.memory_load_bytes, 0.7),
        ];
        for (name, s, shade) in series {
            if let Some(s) = with_samples(s) {
                bars.push(Bar {
                    group: view::display(p),
                    colour,
                    shade,
                    value: s.summary.median,
                    whisker: iqr(s),
                    text: format!("{name} {}", fmt_bytes(s.summary.median)),
                });
            }
        }
    }
    if bars.is_empty() {
        return None;
    }
    let title = "Host memory of the whole deployment, idle and under load";
    Some(make_chart(
        "chart-memory",
        title,
        "Bars are medians of the samples, whiskers the IQR. RSS counts every page a process \
         maps; PSS shares pages among the processes that map them (closer to the real cost). \
         Longer bars cost the host more memory.",
        bars_height(&bars),
        |root| hbars(root, "MiB", &bars, MIB),
    ))
}
