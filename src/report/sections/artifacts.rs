//! The artifacts section: what each platform runs from, its chart and table.

use crate::report::charts::{bars_height, hbars, make_chart, Bar, Chart};
use crate::report::view::MIB;
use std::fmt::Write as _;

use crate::report::view::{self, esc, fmt_bytes, fmt_ms};
use crate::report::widgets::{figure, fold, nothing, section, swatch, NOT_MEASURED};
use crate::results::RunResults;

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

/// Artifact sizes per platform (binary, image, kernel, disks), each file once per
/// platform however many variants run from it.
pub fn chart(r: &RunResults) -> Option<Chart> {
    let mut bars: Vec<Bar> = Vec::new();
    for s in view::shared_artifacts(r) {
        let k = bars.iter().filter(|b| b.group == s.platform).count();
        let mut text = format!("{} {}", s.artifact.name, fmt_bytes(s.artifact.bytes as f64));
        if !s.everywhere {
            let labels: Vec<&str> = s.variants.iter().map(|p| p.label.as_str()).collect();
            text.push_str(&format!(" ({})", labels.join(", ")));
        }
        bars.push(Bar {
            group: s.platform.to_string(),
            colour: view::colour(r, &s.variants[0].label),
            shade: (k as f64 * 0.22).min(0.7),
            value: s.artifact.bytes as f64,
            whisker: None,
            text,
        });
    }
    if bars.is_empty() {
        return None;
    }
    let title = "Artifacts each platform runs from (size on disk)";
    Some(make_chart(
        "chart-artifacts",
        title,
        "Each bar is one file or image a platform needs, as stored on this host. Longer bars \
         are more to build, store and move between machines.",
        bars_height(&bars),
        |root| hbars(root, "MiB", &bars, MIB),
    ))
}
