//! The section of per-platform experiments (commit, clone, snapshot...).

use std::fmt::Write as _;

use crate::report::view::{self, describe, esc};
use crate::report::widgets::{platform_cell, platform_names, section, swatch};
use crate::results::{PlatformResult, RunResults};

/// Experiments that only some platforms offer, one folded block per platform.
pub(crate) fn experiments(out: &mut String, r: &RunResults) {
    section(out, "experiments", "Platform-specific experiments");
    let mut any = false;
    for name in platform_names(r) {
        let variants: Vec<&PlatformResult> = view::measured(r)
            .filter(|p| p.name == name && !p.extras.is_empty())
            .collect();
        let count: usize = variants.iter().map(|p| p.extras.len()).sum();
        if count == 0 {
            continue;
        }
        if !any {
            out.push_str("<p>Experiments that only some platforms offer (image commit and build, VM clones, snapshots, isolation probes, reachability). Names are documented in docs/results-schema.md.</p>\n");
            any = true;
        }
        let labels: Vec<String> = variants.iter().map(|p| esc(&view::display(p))).collect();
        let _ = writeln!(
            out,
            "<details class=\"platform\" id=\"experiments-{}\"><summary>{}<strong>{}</strong> — {count} result{} on {}</summary>",
            esc(name),
            swatch(r, variants[0]),
            esc(name),
            if count == 1 { "" } else { "s" },
            labels.join(", ")
        );
        out.push_str("<table><thead><tr><th>Variant</th><th>Experiment</th><th>Result</th></tr></thead><tbody>\n");
        for p in &variants {
            for (k, s) in &p.extras {
                let note = s
                    .note
                    .as_deref()
                    .map(|n| format!(" <span class=\"muted\">({})</span>", esc(n)))
                    .unwrap_or_default();
                let _ = writeln!(
                    out,
                    "<tr><td>{}</td><td><code>{}</code></td><td>{}{note}</td></tr>",
                    platform_cell(r, p),
                    esc(k),
                    esc(&describe(s))
                );
            }
        }
        out.push_str("</tbody></table>\n</details>\n");
    }
    if !any {
        out.push_str("<p class=\"nm\">Not measured: no platform ran a platform-specific experiment (commit, clone, snapshot, isolation probe...) in this run.</p>\n");
    }
    out.push_str(&crate::report::reach::matrix_html(r));
    out.push_str("</section>\n");
}
