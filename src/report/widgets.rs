//! The report's small HTML widgets, in one place so that every section reads and folds
//! alike: a section heading, a folded block, a chart's figure, a platform's cell with
//! its colour swatch, figure cells and the folded table of figures under a chart.

use std::fmt::Write as _;

use super::charts::Chart;
use super::view::{self, css_colour, describe, esc, Kind};
use crate::results::{PlatformResult, RunResults};
use crate::stats::Series;

pub(crate) fn swatch(r: &RunResults, p: &PlatformResult) -> String {
    if p.available {
        format!(
            "<span class=\"sw\" style=\"background:{}\"></span>",
            css_colour(view::colour(r, &p.label))
        )
    } else {
        String::new()
    }
}

/// A platform label with its colour swatch and accelerator badge, escaped.
pub(crate) fn platform_cell(r: &RunResults, p: &PlatformResult) -> String {
    let sw = swatch(r, p);
    let badge = match view::accelerator(p) {
        Some(a) if view::is_tcg(p) => format!(" <span class=\"badge tcg\" title=\"emulated by QEMU TCG, not hardware virtualization\">{} emulated</span>", esc(&a.to_uppercase())),
        Some(a) if view::kind(p) == Kind::Vm => format!(" <span class=\"badge kvm\">{}</span>", esc(&a.to_uppercase())),
        _ => String::new(),
    };
    format!("{sw}{}{badge}", esc(&p.label))
}

pub(crate) const NOT_MEASURED: &str = "<span class=\"nm\">not measured</span>";

pub(crate) fn cell(s: Option<&Series>) -> String {
    match s {
        Some(s) => esc(&describe(s)),
        None => NOT_MEASURED.into(),
    }
}

/// One `<td>`: text already escaped.
pub(crate) fn td(html: impl std::fmt::Display) -> String {
    format!("<td>{html}</td>")
}

/// One right-aligned number cell.
pub(crate) fn num(html: impl std::fmt::Display) -> String {
    format!("<td class=\"num\">{html}</td>")
}

/// The rest of a row whose variant has no figure here.
pub(crate) fn not_measured(columns: usize) -> Vec<String> {
    vec![format!("<td colspan=\"{columns}\">{NOT_MEASURED}</td>")]
}

/// The folded table of figures under a section's chart: one row (or several) per
/// measured variant, the first cell naming the variant, `rows` giving the other cells.
/// Every figures table is built here, so they read and fold alike. Leaves the fold
/// open: the caller may add below the table before closing it.
pub(crate) fn figures_table(
    out: &mut String,
    r: &RunResults,
    (summary, class): (&str, &str),
    headers: &[&str],
    rows: impl Fn(&PlatformResult) -> Vec<Vec<String>>,
) {
    fold(out, "numbers", summary);
    let class = if class.is_empty() {
        String::new()
    } else {
        format!(" class=\"{class}\"")
    };
    let _ = write!(out, "<table{class}><thead><tr><th>Platform</th>");
    for h in headers {
        let _ = write!(out, "<th>{h}</th>");
    }
    out.push_str("</tr></thead><tbody>\n");
    for p in view::measured(r) {
        for cells in rows(p) {
            let _ = writeln!(
                out,
                "<tr><td>{}</td>{}</tr>",
                platform_cell(r, p),
                cells.concat()
            );
        }
    }
    out.push_str("</tbody></table>\n");
}

pub(crate) fn figure(c: &Chart) -> String {
    format!(
        "<figure class=\"chart\" id=\"{}\"><figcaption><strong>{}</strong><span class=\"how\">How to read this: {}</span></figcaption>{}</figure>\n",
        esc(&c.id),
        esc(&c.title),
        esc(&c.how_to_read),
        c.svg
    )
}

/// "Not measured" paragraph for a section whose chart has no figure at all.
pub(crate) fn nothing(r: &RunResults, what: &str) -> String {
    let mut s = format!(
        "<p class=\"nm\">Not measured: no platform recorded {}.",
        esc(what)
    );
    let off: Vec<String> = r
        .platforms
        .iter()
        .filter(|p| !p.available)
        .map(|p| {
            format!(
                "{} ({})",
                esc(&p.label),
                esc(p.unavailable_reason.as_deref().unwrap_or("unavailable"))
            )
        })
        .collect();
    if !off.is_empty() {
        let _ = write!(s, " Unavailable here: {}.", off.join("; "));
    }
    s.push_str("</p>\n");
    s
}

pub(crate) fn section(out: &mut String, id: &str, title: &str) {
    let _ = writeln!(out, "<section id=\"{id}\"><h2>{}</h2>", esc(title));
}

/// Opens a folded block: shown on demand on screen, printed open (see CSS).
pub(crate) fn fold(out: &mut String, class: &str, summary: &str) {
    let _ = writeln!(
        out,
        "<details class=\"{class}\"><summary>{summary}</summary>"
    );
}

/// Platform names in run order, each once ("docker" for docker/bridge and docker/host).
pub(crate) fn platform_names(r: &RunResults) -> Vec<&str> {
    let mut names: Vec<&str> = Vec::new();
    for p in &r.platforms {
        if !names.contains(&p.name.as_str()) {
            names.push(&p.name);
        }
    }
    names
}

/// The charts whose id starts with `prefix`, or a line saying `what` was not measured.
pub(crate) fn figures(
    out: &mut String,
    r: &RunResults,
    charts: &[Chart],
    prefix: &str,
    what: &str,
) {
    let mut any = false;
    for c in charts.iter().filter(|c| c.id.starts_with(prefix)) {
        out.push_str(&figure(c));
        any = true;
    }
    if !any {
        out.push_str(&nothing(r, what));
    }
}
