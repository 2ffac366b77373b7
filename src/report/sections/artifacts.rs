//! The artifacts section: what each platform runs from, its chart and table.

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

pub(crate) fn artifacts(out: &mut String, r: &RunResults, charts: &[Chart]) {
    section(out, "artifacts", "Artifacts: what each platform runs from");
    match charts.iter().find(|c| c.id == "chart-artifacts") {
        Some(c) => out.push_str(&figure(c)),
        None => out.push_str(&nothing(r, "artifacts")),
    }
    let shared = view::shared_artifacts(r);
    if shared.is_empty() {
        out.push_str("</section>\n");
        return;
    }
    fold(
        out,
        "numbers",
        "Files per platform: size, build time, path and the variants that run from each",
    );
    out.push_str("<table><thead><tr><th>Platform</th><th>Artifact</th><th>Size</th><th>Build time</th><th>Path</th><th>Used by</th></tr></thead><tbody>\n");
    for s in &shared {
        let a = s.artifact;
        let build = match s.builds_ms.as_slice() {
            [] if a.cached => "from cache".into(),
            [] => NOT_MEASURED.into(),
            builds => {
                let times: Vec<String> = builds.iter().map(|ms| esc(&fmt_ms(*ms))).collect();
                // Later variants usually reuse the first build: say so.
                let reused = s.variants.len() > builds.len();
                format!(
                    "{}{}",
                    times.join(", "),
                    if reused { " (then from cache)" } else { "" }
                )
            }
        };
        let used_by = if s.everywhere && s.variants.len() > 1 {
            format!("all {} variants", s.variants.len())
        } else {
            s.variants
                .iter()
                .map(|p| esc(&view::display(p)))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let _ = writeln!(
            out,
            "<tr><td>{}{}</td><td>{}</td><td class=\"num\">{}</td><td>{build}</td><td><code>{}</code></td><td>{used_by}</td></tr>",
            swatch(r, s.variants[0]),
            esc(s.platform),
            esc(&a.name),
            esc(&fmt_bytes(a.bytes as f64)),
            esc(a.path.as_deref().unwrap_or(""))
        );
    }
    out.push_str("</tbody></table>\n</details>\n</section>\n");
}
