//! The memory section: its charts and its table of figures.

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

pub(crate) fn memory(out: &mut String, r: &RunResults, charts: &[Chart]) {
    section(
        out,
        "memory",
        "Memory: what the host pays, idle and under load",
    );
    out.push_str("<p>Sampled from outside the platform, two columns. <b>PSS</b> (proportional set size, from <code>/proc/PID/smaps_rollup</code>) of every process the deployment owns: the calculators, the hypervisor processes of a VM (guest RAM included), a container's processes with its shims, docker-proxy, conmon or lxc monitor. It is measured the same way on every platform and is the figure every verdict judges. <b>RSS / cgroup</b>: RSS of those processes, or for containers the cgroup usage (minus inactive file cache) plus the shims: it counts page cache and shared libraries differently per platform, so it is shown, never judged. The engine's daemons, shared by every container, are counted apart (below).</p>\n");
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
