//! The density section: how many copies fit, its chart and table.

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

pub(crate) fn density(out: &mut String, r: &RunResults, charts: &[Chart]) {
    let swept: Vec<&crate::results::PlatformResult> =
        view::measured(r).filter(|p| p.density.is_some()).collect();
    if swept.is_empty() {
        // Not every scenario runs it (scenarios/density.toml does): no empty section.
        return;
    }
    section(out, "density", "Density: what each extra copy costs");
    out.push_str("<p>N copies of one variant side by side, started one after the other, for growing N: each copy's startup, the host memory of all copies when idle, and the open-loop latency of copy 1 while the others idle. The platform's fixed cost (a daemon shared by every copy) is on its own line, never divided among the copies. A sweep stops before a step that would cross the scenario's memory or time budget, and says so.</p>\n");
    if let Some(c) = charts.iter().find(|c| c.id == "chart-density") {
        out.push_str(&figure(c));
    }
    out.push_str("<table><thead><tr><th>Platform</th><th>Copies</th><th>Startup of each copy</th><th>Memory, all copies</th><th>Per copy</th><th>Copy 1 latency p50 / p99</th></tr></thead><tbody>\n");
    for p in swept {
        let d = p.density.as_ref().expect("filtered above");
        for s in &d.steps {
            let starts = s
                .startup_ms
                .iter()
                .map(|&m| fmt_ms(m))
                .collect::<Vec<_>>()
                .join(", ");
            let lat = match &s.latency {
                Some(l) if l.count > 0 => format!("{} / {}", fmt_us(l.p50), fmt_us(l.p99)),
                _ => NOT_MEASURED.to_string(),
            };
            let _ = writeln!(
                out,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{} ({})</td><td>{}</td><td>{}</td></tr>",
                platform_cell(r, p),
                s.n,
                esc(&starts),
                esc(&view::fmt_bytes(s.memory_bytes as f64)),
                esc(&d.memory_measure.to_uppercase()),
                esc(&view::fmt_bytes(s.memory_per_copy_bytes())),
                esc(&lat)
            );
        }
        let mut notes = vec![format!("one copy: {}", d.copy)];
        notes.push(if d.fixed.counted.is_empty() {
            "fixed cost: none (no daemon)".to_string()
        } else {
            format!(
                "fixed cost: {} ({}), once for every copy",
                view::fmt_bytes(d.fixed.bytes as f64),
                d.fixed.counted.join(", ")
            )
        });
        if let Some(m) = d.marginal_bytes() {
            notes.push(format!(
                "marginal cost: {} per extra copy",
                view::fmt_bytes(m)
            ));
        }
        if let Some(why) = &d.stopped {
            notes.push(why.clone());
        }
        let _ = writeln!(
            out,
            "<tr><td colspan=\"6\" class=\"muted\">{}: {}</td></tr>",
            esc(&view::display(p)),
            esc(&notes.join("; "))
        );
    }
    out.push_str("</tbody></table>\n</section>\n");
}
