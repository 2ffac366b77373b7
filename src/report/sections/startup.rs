//! The startup section: its charts and its table of figures.

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

pub(crate) fn startup(out: &mut String, r: &RunResults, charts: &[Chart]) {
    section(
        out,
        "startup",
        "Startup: create call to first correct answer",
    );
    out.push_str("<p>Each sample is a fresh deployment, timed from the platform's create call until the calculator first answers <code>(5+3)/2</code> correctly. Artifact builds are timed apart (see Artifacts).</p>\n");
    figures(out, r, charts, "chart-startup", "startup");
    figures_table(
        out,
        r,
        (
            "Figures per variant: startup and each phase (median, sample count, IQR)",
            "",
        ),
        &["Startup", "Phases (median)"],
        |p| {
            let phases = if p.startup_phases_ms.is_empty() {
                NOT_MEASURED.to_string()
            } else {
                view::ordered_phases(p)
                    .into_iter()
                    .map(|(k, s)| format!("{} {}", esc(&charts::phase_name(k)), esc(&describe(s))))
                    .collect::<Vec<_>>()
                    .join("<br>")
            };
            vec![vec![td(cell(p.startup_ms.as_ref())), td(phases)]]
        },
    );
    out.push_str("</details>\n</section>\n");
}
