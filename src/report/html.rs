//! `index.html`: one self-contained page (inline CSS and SVG, no script, no external
//! URL), readable offline and printable. Every text that comes from the results is
//! escaped; every missing figure reads "not measured" and every unavailable platform is
//! listed with its reason.
//!
//! The page is read by a class, top down: the first screen holds the summary and every
//! claim's verdict with the figure that decides it (the reason the report exists); the
//! charts follow as evidence, each claim linking to its section. What only some readers
//! need (per-variant tables, per-platform settings and experiments, each claim in full,
//! the scenario) is folded in `<details>`, which needs no script; in print only the claims
//! open (without their figure lists), so that a real run prints on a few pages.

use std::fmt::Write as _;

use super::charts::{self, Chart};
use super::claims::{self, ClaimRow, Verdict};
use super::view::{self, css_colour, describe, esc, fmt_bytes, fmt_ms, fmt_ratio, fmt_us, Kind};
use crate::results::{keys, PlatformResult, RunResults};
use crate::stats::{fmt_num, Series};

pub(crate) const CSS: &str = r#"
:root { --ink:#1d2330; --muted:#5b6475; --line:#d8dde6; --soft:#f4f6f9; --ok:#1e7a3a; --bad:#b3261e; --mix:#9a6700; --nm:#5b6475; --link:#2f6db5; }
* { box-sizing: border-box; }
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; color: var(--ink); margin: 0 auto; max-width: 1040px; padding: 18px 28px 60px; line-height: 1.45; background: #fff; }
a { color: var(--link); }
h1 { font-size: 1.6rem; margin: 0 0 2px; line-height: 1.25; }
h2 { font-size: 1.3rem; margin: 24px 0 8px; padding-bottom: 4px; border-bottom: 2px solid var(--line); }
h3 { font-size: 1.05rem; margin: 22px 0 8px; }
p.meta, .muted { color: var(--muted); font-size: .9rem; }
p.meta { margin: 0; font-size: .82rem; }
.summary { background: var(--soft); border-left: 5px solid var(--link); padding: 6px 16px; margin: 10px 0 8px; }
.summary p { margin: 4px 0; }
.caveat { border-left: 5px solid var(--mix); background: #fff8e6; padding: 4px 14px; margin: 6px 0; font-size: .84rem; }
#glance h2 { margin-top: 14px; font-size: 1.15rem; }
#glance h2 .emu { font-size: .8rem; font-weight: 400; color: var(--muted); white-space: nowrap; }
table.glance { margin: 4px 0 10px; font-size: .82rem; }
table.glance th, table.glance td { padding: 3px 5px; vertical-align: middle; }
/* The claim, verdict and link stay on one line each; the deciding figure takes the
   rest of the width and wraps only when it must. */
table.glance td.one, table.glance td.ev, table.glance td.v { white-space: nowrap; }
table.glance td.id a, table.glance td.ev a { text-decoration: none; }
table.glance .verdict { font-size: .74rem; padding: 1px 6px; }
nav { font-size: .9rem; margin: 4px 0; }
nav ol { display: flex; flex-wrap: wrap; gap: 2px 18px; list-style: none; margin: 0; padding: 0; }
nav a { text-decoration: none; }
table { border-collapse: collapse; width: 100%; margin: 8px 0 14px; font-size: .88rem; }
th, td { border-bottom: 1px solid var(--line); padding: 5px 8px; text-align: left; vertical-align: top; }
th { background: var(--soft); font-weight: 600; }
th .muted { font-weight: 400; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
.nm { color: var(--nm); font-style: italic; }
.sw { display: inline-block; width: 11px; height: 11px; border-radius: 2px; margin-right: 6px; vertical-align: baseline; print-color-adjust: exact; -webkit-print-color-adjust: exact; }
.badge { display: inline-block; font-size: .75rem; font-weight: 700; padding: 1px 6px; border-radius: 9px; margin-left: 4px; white-space: nowrap; print-color-adjust: exact; -webkit-print-color-adjust: exact; }
.badge.tcg { background: #fde2c4; color: #8c2d04; border: 1px solid #e06c00; }
.badge.kvm { background: #dcebd9; color: #1f5e20; border: 1px solid #3b8c3a; }
.badge.off { background: #eceef2; color: var(--muted); border: 1px solid var(--line); }
figure.chart { margin: 8px 0 10px; padding: 6px 10px; border: 1px solid var(--line); border-radius: 6px; break-inside: avoid; page-break-inside: avoid; }
figure.chart figcaption { font-size: .88rem; margin-bottom: 4px; line-height: 1.35; }
figure.chart .how { color: var(--muted); display: block; }
svg.chart { width: 100%; height: auto; display: block; }
.verdict { font-weight: 700; display: inline-block; padding: 2px 8px; border-radius: 4px; color: #fff; white-space: nowrap; print-color-adjust: exact; -webkit-print-color-adjust: exact; }
.verdict.supported { background: var(--ok); }
.verdict.contradicted { background: var(--bad); }
.verdict.mixed { background: var(--mix); }
.verdict.not-measured { background: #eceef2; color: var(--ink); font-weight: 600; }
.verdict.undecided { background: #fff; color: var(--ink); border: 1px dashed var(--muted); font-weight: 600; }
.thresholds { font-size: .8rem; margin: 4px 0 0 1.2em; padding: 0; }
.ci { color: var(--muted); font-size: .8rem; }
.verdict.emulated-only { background-image: repeating-linear-gradient(135deg, transparent 0 6px, rgba(255,255,255,.3) 6px 12px); }
table.dense th, table.dense td { padding: 4px 5px; font-size: .8rem; }
details { margin: 4px 0; }
details > summary { cursor: pointer; padding: 4px 6px; border-radius: 4px; }
details > summary:hover { background: var(--soft); }
details.numbers > summary { color: var(--link); font-size: .88rem; }
details.claim { border-bottom: 1px solid var(--line); margin: 0; }
details.claim > summary { padding: 2px 6px; font-size: .85rem; line-height: 1.35; display: grid; grid-template-columns: 1.2em 2.6em 8.4em 1fr; align-items: baseline; list-style: none; }
details.claim > summary::-webkit-details-marker { display: none; }
details.claim > summary::before { content: "▸"; color: var(--muted); }
details.claim[open] > summary::before { content: "▾"; }
details.claim > summary .verdict { font-size: .76rem; padding: 0 6px; }
details.claim > summary .id { font-weight: 700; }
details.claim .why { padding: 2px 6px 12px 3.8em; font-size: .86rem; }
details.claim .why p { margin: 6px 0; }
details.claim ul { margin: 4px 0; padding-left: 18px; }
details.platform > summary, p.platform { font-size: .92rem; }
p.platform { margin: 4px 0; padding: 4px 6px 4px 1.6em; }
.fr { font-style: italic; color: var(--muted); margin: 4px 0 0; border-left: 3px solid var(--line); padding-left: 8px; }
.rule { color: var(--muted); font-size: .8rem; margin-top: 4px; }
.ref { font-size: .8rem; margin-top: 4px; }
ul.refs { font-size: .88rem; margin: 4px 0; }
pre { background: var(--soft); padding: 10px 14px; overflow-x: auto; font-size: .82rem; border-radius: 4px; white-space: pre-wrap; }
.warn { color: var(--bad); }
footer { margin-top: 40px; font-size: .82rem; color: var(--muted); border-top: 1px solid var(--line); padding-top: 10px; }
@page { size: A4; margin: 12mm 11mm; }
@media print {
  body { max-width: none; padding: 0; font-size: 9.5pt; }
  nav, .no-print { display: none; }
  h2 { break-after: avoid; page-break-after: avoid; margin-top: 12px; }
  tr, figure.chart, .summary { break-inside: avoid; page-break-inside: avoid; }
  /* A claim may run onto the next page (kept whole, each left half a page blank). */
  details.claim > summary { break-after: avoid; page-break-after: avoid; }
  details.claim .why { font-size: 8.5pt; }
  details.claim .thresholds, details.claim .ci, details.claim .rule { font-size: 7.5pt; }
  /* In print the thresholds (condition, basis, reason) stand for the rule's words. */
  details.claim .rule.text { display: none; }
  details.claim .thresholds .muted { font-size: inherit; }
  details.claim blockquote.fr { margin: 2px 0 2px 1em; }
  table.glance th, table.glance td { padding: 1px 4px; }
  #glance { break-after: page; page-break-after: always; }
    figure.chart { margin: 6px 0 10px; padding: 4px; }
  /* Two charts to a page: a chart of 13 variants drawn page-high made the latency
     section alone four pages. The SVG keeps its proportions (viewBox). */
  svg.chart { max-height: 95mm; }
  /* The first page holds every verdict: the claim's few words may wrap, the deciding
     figure gets the room. */
  table.glance { font-size: 7.5pt; width: 100%; }
  /* The first screen's sentences and caveats, compact so the glance stays on page 1. */
  .summary p, p.caveat { font-size: 8.5pt; margin: 2px 0; }
  table.glance td.one { white-space: normal; width: 34%; }
  table.glance td:nth-child(4) { width: 40%; }
  a { color: inherit; text-decoration: none; }
  /* The header already prints the run, revision, start and wall time. */
  footer { display: none; }
  details > summary { list-style: none; padding-left: 0; }
  details > summary::-webkit-details-marker { display: none; }
}
@media print {
  /* The claims print open (no script is needed where the browser styles the content
     slot: Chromium 131 and later; elsewhere they print folded), without their figure
     lists: the sections above print the same figures as charts. Per-variant numbers,
     per-platform experiments, host and scenario stay folded in print, their summary
     line saying what is there: the class's printout is the verdicts and the charts,
     not every table (a real default run printed on 43 pages with them open). */
  details.claim::details-content { content-visibility: visible; display: block; }
  details.claim .figs { display: none; }
  details:not(.claim) > summary::after { content: " (folded: open it on screen)"; color: #666; font-size: .8em; }
}
"#;

/// The colour swatch of a measured platform (none for an unavailable one).
fn swatch(r: &RunResults, p: &PlatformResult) -> String {
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
fn platform_cell(r: &RunResults, p: &PlatformResult) -> String {
    let sw = swatch(r, p);
    let badge = match view::accelerator(p) {
        Some(a) if view::is_tcg(p) => format!(" <span class=\"badge tcg\" title=\"emulated by QEMU TCG, not hardware virtualization\">{} emulated</span>", esc(&a.to_uppercase())),
        Some(a) if view::kind(p) == Kind::Vm => format!(" <span class=\"badge kvm\">{}</span>", esc(&a.to_uppercase())),
        _ => String::new(),
    };
    format!("{sw}{}{badge}", esc(&p.label))
}

const NOT_MEASURED: &str = "<span class=\"nm\">not measured</span>";

fn cell(s: Option<&Series>) -> String {
    match s {
        Some(s) => esc(&describe(s)),
        None => NOT_MEASURED.into(),
    }
}

/// One `<td>`: text already escaped.
fn td(html: impl std::fmt::Display) -> String {
    format!("<td>{html}</td>")
}

/// One right-aligned number cell.
fn num(html: impl std::fmt::Display) -> String {
    format!("<td class=\"num\">{html}</td>")
}

/// The rest of a row whose variant has no figure here.
fn not_measured(columns: usize) -> Vec<String> {
    vec![format!("<td colspan=\"{columns}\">{NOT_MEASURED}</td>")]
}

/// The folded table of figures under a section's chart: one row (or several) per
/// measured variant, the first cell naming the variant, `rows` giving the other cells.
/// Every figures table is built here, so they read and fold alike. Leaves the fold
/// open: the caller may add below the table before closing it.
fn figures_table(
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
fn nothing(r: &RunResults, what: &str) -> String {
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

/// The best (lowest) value of a kind of platform, with its display label.
fn best_of(
    r: &RunResults,
    k: Kind,
    f: impl Fn(&PlatformResult) -> Option<f64>,
) -> Option<(String, f64)> {
    view::measured(r)
        .filter(|p| view::kind(p) == k)
        .filter_map(|p| f(p).map(|v| (view::display(p), v)))
        .min_by(|a, b| a.1.total_cmp(&b.1))
}

fn lowest_rate_p50(p: &PlatformResult, rate: f64) -> Option<f64> {
    p.latency_us
        .iter()
        .find(|l| l.rate_rps == rate && l.count > 0)
        .map(|l| l.p50)
}

/// Up to three plain sentences a student can repeat, built only from figures present,
/// plus caveats (TCG, unavailable platforms).
pub fn summary_sentences(r: &RunResults) -> (Vec<String>, Vec<String>) {
    let mut out = Vec::new();
    let st = |p: &PlatformResult| view::median(&p.startup_ms);
    let ct = best_of(r, Kind::Container, st);
    let vm = best_of(r, Kind::Vm, st);
    let na = best_of(r, Kind::Native, st);
    match (&ct, &vm) {
        (Some((cl, cv)), Some((vl, vv))) => {
            let mut s = if vv >= cv {
                format!(
                    "On this host a container ({cl}) started in {}, {} faster than a VM ({vl}, {})",
                    fmt_ms(*cv),
                    fmt_ratio(vv / cv),
                    fmt_ms(*vv)
                )
            } else {
                format!(
                    "On this host a VM ({vl}) started in {}, {} faster than a container ({cl}, {})",
                    fmt_ms(*vv),
                    fmt_ratio(cv / vv),
                    fmt_ms(*cv)
                )
            };
            if let Some((nl, nv)) = &na {
                let _ = write!(
                    s,
                    "; the same services as plain processes ({nl}) started in {}",
                    fmt_ms(*nv)
                );
            }
            s.push('.');
            out.push(s);
        }
        _ => {
            let all: Vec<String> = view::measured(r)
                .filter_map(|p| st(p).map(|v| format!("{} {}", view::display(p), fmt_ms(v))))
                .collect();
            if !all.is_empty() {
                out.push(format!("Median startup on this host: {}.", all.join(", ")));
            }
        }
    }
    // PSS: the one memory definition the verdicts use.
    let mem = |p: &PlatformResult| view::median(&p.memory_idle_pss_bytes);
    match (best_of(r, Kind::Container, mem), best_of(r, Kind::Vm, mem)) {
        (Some((cl, cv)), Some((vl, vv))) if cv > 0.0 => out.push(format!(
            "While idle, the lightest VM ({vl}) held {} of host memory (PSS), {} the lightest container's ({cl}, {}).",
            fmt_bytes(vv),
            fmt_ratio(vv / cv),
            fmt_bytes(cv)
        )),
        _ => {
            let all: Vec<String> = view::measured(r)
                .filter_map(|p| mem(p).map(|v| format!("{} {}", view::display(p), fmt_bytes(v))))
                .collect();
            if !all.is_empty() {
                out.push(format!("Idle host memory (PSS): {}.", all.join(", ")));
            }
        }
    }
    if let Some(&rate) = charts::rates(r).first() {
        let mut parts = Vec::new();
        for (k, name) in [
            (Kind::Native, "as plain processes"),
            (Kind::Container, "in a container"),
            (Kind::Vm, "in a VM"),
        ] {
            if let Some((l, v)) = best_of(r, k, |p| lowest_rate_p50(p, rate)) {
                parts.push(format!("{} {name} ({l})", fmt_us(v)));
            }
        }
        if !parts.is_empty() {
            let last = parts.pop().unwrap_or_default();
            let list = if parts.is_empty() {
                last
            } else {
                format!("{} and {last}", parts.join(", "))
            };
            out.push(format!(
                "At {} requests per second, half of the calculator's answers came back within {list}.",
                view::fmt_rate(rate)
            ));
        }
    }
    // C7, when the daemon-kill trials ran: the sentence a student can say in class.
    out.extend(super::faults::c7_headline(r));
    if out.is_empty() {
        out.push("No platform produced figures in this run.".into());
    }
    let mut caveats = Vec::new();
    let tcg: Vec<String> = view::measured(r)
        .filter(|p| view::is_tcg(p))
        .map(|p| p.label.clone())
        .collect();
    if !tcg.is_empty() {
        caveats.push(format!(
            "VM figures for {} come from QEMU TCG, a software emulator, because hardware virtualization (KVM) was not usable here: a KVM VM would start and answer much faster. They are not KVM figures.",
            tcg.join(", ")
        ));
    }
    let off: Vec<String> = r
        .platforms
        .iter()
        .filter(|p| !p.available)
        .map(|p| {
            format!(
                "{} ({})",
                p.label,
                p.unavailable_reason.as_deref().unwrap_or("unavailable")
            )
        })
        .collect();
    if !off.is_empty() {
        caveats.push(format!("Not measured on this host: {}.", off.join("; ")));
    }
    (out, caveats)
}

fn section(out: &mut String, id: &str, title: &str) {
    let _ = writeln!(out, "<section id=\"{id}\"><h2>{}</h2>", esc(title));
}

/// Opens a folded block: shown on demand on screen, printed open (see CSS).
pub(super) fn fold(out: &mut String, class: &str, summary: &str) {
    let _ = writeln!(
        out,
        "<details class=\"{class}\"><summary>{summary}</summary>"
    );
}

/// Where the figures were taken: the host, then one folded block per platform with its
/// variants' settings and details. Read when a figure needs its context, not before.
fn context(out: &mut String, r: &RunResults) {
    section(out, "context", "This host and this run");
    let h = &r.host;
    fold(
        out,
        "host",
        &format!(
            "<strong>{}</strong>: {} ({} logical cores), {} of memory, kernel {}",
            esc(&h.hostname),
            esc(&h.cpu_model),
            h.cores,
            esc(&fmt_bytes(h.memory_bytes as f64)),
            esc(&h.kernel)
        ),
    );
    out.push_str("<table><tbody>\n");
    let mut row = |k: &str, v: String| {
        let _ = writeln!(
            out,
            "<tr><th scope=\"row\">{}</th><td>{}</td></tr>",
            esc(k),
            v
        );
    };
    row("Host", esc(&h.hostname));
    row(
        "CPU",
        format!("{} ({} logical cores)", esc(&h.cpu_model), h.cores),
    );
    row("Memory", esc(&fmt_bytes(h.memory_bytes as f64)));
    row("Kernel", esc(&h.kernel));
    row("OS", esc(&h.os));
    row("virtbench", esc(&h.virtbench_version));
    for (tool, version) in &h.tools {
        row(&format!("{tool} version"), esc(version));
    }
    let accels: Vec<String> = view::measured(r)
        .filter(|p| view::kind(p) == Kind::Vm)
        .map(|p| {
            let a = view::accelerator(p).unwrap_or("not recorded");
            // Why that accelerator: the KVM probe's result or the scenario's request.
            let reason = p
                .details
                .get(keys::ACCELERATOR_REASON)
                .map(|s| format!(" — {}", esc(s)))
                .unwrap_or_default();
            format!(
                "{}: <strong>{}</strong>{reason}",
                esc(&p.label),
                esc(&a.to_uppercase())
            )
        })
        .collect();
    row(
        "VM accelerator",
        if accels.is_empty() {
            "<span class=\"nm\">no VM measured</span>".into()
        } else {
            accels.join("<br>")
        },
    );
    row("Run id", esc(&r.run_id));
    row("Git revision", esc(&r.git_revision));
    row(
        "Started / finished",
        format!("{} / {}", esc(&r.started_at), esc(&r.finished_at)),
    );
    row("Wall time of the run", esc(&fmt_ms(r.wall_time_s * 1000.0)));
    row(
        "Scenario",
        format!(
            "{} (<code>{}</code>)",
            esc(&r.scenario.name),
            esc(&r.scenario.path)
        ),
    );
    out.push_str("</tbody></table>\n</details>\n");
    out.push_str(&super::stopping::fold(r));

    out.push_str("<h3>Platforms</h3>\n");
    let kv = |m: &std::collections::BTreeMap<String, String>| {
        m.iter()
            .map(|(k, v)| format!("{}: {}", esc(k), esc(v)))
            .collect::<Vec<_>>()
            .join("<br>")
    };
    for name in platform_names(r) {
        let variants: Vec<&PlatformResult> =
            r.platforms.iter().filter(|p| p.name == name).collect();
        let measured: Vec<String> = variants
            .iter()
            .filter(|p| p.available)
            .map(|p| esc(&view::display(p)))
            .collect();
        let off: Vec<String> = variants
            .iter()
            .filter(|p| !p.available)
            .map(|p| {
                esc(p
                    .unavailable_reason
                    .as_deref()
                    .unwrap_or("no reason recorded"))
            })
            .collect();
        let errors = variants
            .iter()
            .filter(|p| p.available && p.error.is_some())
            .count();
        let mut status = Vec::new();
        if !measured.is_empty() {
            status.push(format!("measured: {}", measured.join(", ")));
        }
        if errors > 0 {
            status.push(format!(
                "<span class=\"warn\">{errors} with an error</span>"
            ));
        }
        if !off.is_empty() {
            status.push(format!(
                "<span class=\"badge off\">unavailable</span> {}",
                off.join("; ")
            ));
        }
        if measured.is_empty() {
            // Nothing to unfold: the reason is the whole story.
            let _ = writeln!(
                out,
                "<p class=\"platform\" id=\"platform-{}\"><strong>{}</strong> — {}</p>",
                esc(name),
                esc(name),
                status.join(" · ")
            );
            continue;
        }
        let _ = writeln!(
            out,
            "<details class=\"platform\" id=\"platform-{}\"><summary>{}<strong>{}</strong> — {}</summary>",
            esc(name),
            swatch(r, variants[0]),
            esc(name),
            status.join(" · ")
        );
        out.push_str("<table><thead><tr><th>Variant</th><th>Status</th><th>Variant settings</th><th>Details</th></tr></thead><tbody>\n");
        for p in &variants {
            let status = match (p.available, &p.error) {
                (false, _) => format!(
                    "<span class=\"badge off\">unavailable</span> {}",
                    esc(p
                        .unavailable_reason
                        .as_deref()
                        .unwrap_or("no reason recorded"))
                ),
                (true, Some(e)) => format!(
                    "measured, with an error: <span class=\"warn\">{}</span>",
                    esc(e)
                ),
                (true, None) => "measured".into(),
            };
            let _ = writeln!(
                out,
                "<tr><td>{}</td><td>{status}</td><td>{}</td><td>{}</td></tr>",
                platform_cell(r, p),
                kv(&p.variant),
                kv(&p.details)
            );
        }
        out.push_str("</tbody></table>\n</details>\n");
    }
    out.push_str("</section>\n");
}

/// Platform names in run order, each once ("docker" for docker/bridge and docker/host).
fn platform_names(r: &RunResults) -> Vec<&str> {
    let mut names: Vec<&str> = Vec::new();
    for p in &r.platforms {
        if !names.contains(&p.name.as_str()) {
            names.push(&p.name);
        }
    }
    names
}

/// The charts whose id starts with `prefix`, or a line saying `what` was not measured.
fn figures(out: &mut String, r: &RunResults, charts: &[Chart], prefix: &str, what: &str) {
    let mut any = false;
    for c in charts.iter().filter(|c| c.id.starts_with(prefix)) {
        out.push_str(&figure(c));
        any = true;
    }
    if !any {
        out.push_str(&nothing(r, what));
    }
}

fn startup(out: &mut String, r: &RunResults, charts: &[Chart]) {
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

fn memory(out: &mut String, r: &RunResults, charts: &[Chart]) {
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
    out.push_str(&super::idle::breakdown_table(r));
    out.push_str("</details>\n</section>\n");
}

fn density(out: &mut String, r: &RunResults, charts: &[Chart]) {
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

fn cpu(out: &mut String, r: &RunResults, charts: &[Chart]) {
    section(out, "cpu", "CPU: idle and per 1,000 requests");
    figures(out, r, charts, "chart-cpu", "host CPU time");
    if let Some(rule) = super::idle::settle_rule(r) {
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
                Some(c) => esc(&super::idle::idle_cpu_cell(c)),
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

fn latency(out: &mut String, r: &RunResults, charts: &[Chart]) {
    section(
        out,
        "latency",
        "Latency: percentiles at constant request rates",
    );
    out.push_str("<p>Open-loop load: requests leave at a fixed rate whatever the answers do, and each latency counts from the moment the request was <em>meant</em> to leave, so a stalled platform cannot hide its stall. Every answer is checked; failures and wrong answers are counted apart.</p>\n");
    figures(out, r, charts, "chart-latency", "request latency");
    const LATENCY: [&str; 11] = [
        "Rate (req/s)",
        "Achieved",
        "p50",
        "p90",
        "p99",
        "p99.9",
        "max",
        "Mean ± sd",
        "Correct",
        "Failed",
        "Wrong",
    ];
    figures_table(
        out,
        r,
        (
            "Figures per variant and rate: every percentile, correct, failed and wrong answers",
            "dense",
        ),
        &LATENCY,
        |p| {
            if p.latency_us.is_empty() {
                return vec![not_measured(LATENCY.len())];
            }
            p.latency_us
                .iter()
                .map(|l| {
                    let mut row = vec![
                        num(view::fmt_rate(l.rate_rps)),
                        num(fmt_num(l.achieved_rps)),
                    ];
                    row.extend(
                        [l.p50, l.p90, l.p99, l.p999, l.max]
                            .into_iter()
                            .map(|v| num(esc(&fmt_us(v)))),
                    );
                    row.push(num(format!(
                        "{} ± {}",
                        esc(&fmt_us(l.mean)),
                        esc(&fmt_us(l.stddev))
                    )));
                    row.extend([l.count, l.errors, l.wrong_answers].into_iter().map(num));
                    row
                })
                .collect()
        },
    );
    out.push_str("</details>\n</section>\n");
}

fn throughput(out: &mut String, r: &RunResults, charts: &[Chart]) {
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

fn artifacts(out: &mut String, r: &RunResults, charts: &[Chart]) {
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

/// Experiments that only some platforms offer, one folded block per platform.
fn experiments(out: &mut String, r: &RunResults) {
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
    out.push_str(&super::reach::matrix_html(r));
    out.push_str("</section>\n");
}

/// Sections that hold evidence, in page order, with their short names for the contents
/// and for the first screen's links.
const EVIDENCE: [(&str, &str); 9] = [
    ("startup", "Startup"),
    ("memory", "Memory"),
    ("cpu", "CPU"),
    ("latency", "Latency"),
    ("throughput", "Throughput"),
    ("artifacts", "Artifacts"),
    ("containers", "Containers"),
    ("faults", "Faults"),
    ("experiments", "Experiments"),
];

/// "9 supported, 1 contradicted, 2 mixed, 1 undecided, 3 not measured", counted by
/// plain outcome so
/// that they add up to the number of claims, and how many of those verdicts were
/// reached on emulated VMs only ("of which 3 on emulated VMs only"), if any.
fn counts(rows: &[ClaimRow]) -> (String, Option<String>) {
    let count = |f: fn(&Verdict) -> bool| rows.iter().filter(|c| f(&c.verdict)).count();
    let undecided = count(|v| matches!(v, Verdict::Undecided(_)));
    let plain = format!(
        "{} supported, {} contradicted, {} mixed, {}{} not measured",
        count(|v| v.plain() == Verdict::Supported),
        count(|v| v.plain() == Verdict::Contradicted),
        count(|v| v.plain() == Verdict::Mixed),
        if undecided > 0 {
            format!("{undecided} undecided, ")
        } else {
            String::new()
        },
        count(|v| matches!(v, Verdict::NotMeasured(_)))
    );
    let emulated = count(Verdict::is_emulated_only);
    (
        plain,
        (emulated > 0).then(|| format!("of which {emulated} on emulated VMs only")),
    )
}

fn badge(v: &Verdict) -> String {
    let label = match v {
        Verdict::NotMeasured(_) => "not measured".to_string(),
        v => v.label(),
    };
    format!(
        "<span class=\"verdict {}\">{}</span>",
        v.class(),
        esc(&label)
    )
}

/// The verdict on the first screen: as `badge`, but an emulated-only state reads
/// "supported, emulated" (striped like everywhere else, its full label as the tooltip)
/// so that the column stays narrow enough for each claim to fit on one line.
fn glance_badge(v: &Verdict) -> String {
    if !v.is_emulated_only() {
        return badge(v);
    }
    format!(
        "<span class=\"verdict {}\" title=\"{}: judged on VMs emulated by QEMU TCG, no hardware-assisted VM had the figure\">{}, emulated</span>",
        v.class(),
        esc(&v.label()),
        esc(&v.plain().label())
    )
}

/// The first screen: every claim in one line, its verdict, the figure that decides it,
/// and links to its evidence and to its full text. The reason the report exists, so it
/// comes before everything else.
fn glance(out: &mut String, rows: &[ClaimRow]) {
    let (plain, emulated) = counts(rows);
    let emulated = emulated
        .map(|e| format!(" <span class=\"emu\">({}, striped)</span>", esc(&e)))
        .unwrap_or_default();
    let _ = writeln!(
        out,
        "<section id=\"glance\"><h2>The lab report's {} claims on this host: {}{emulated}</h2>",
        rows.len(),
        esc(&plain)
    );
    out.push_str("<table class=\"glance\"><thead><tr><th>ID</th><th>Claim <span class=\"muted no-print\">(full text: click the ID)</span></th><th>Verdict</th><th>Deciding figure</th><th>Evidence</th></tr></thead><tbody>\n");
    for c in rows {
        let (figure, title) = match &c.verdict {
            Verdict::NotMeasured(why) => (
                format!("<span class=\"nm\">{}</span>", esc(&c.headline)),
                why.as_str(),
            ),
            Verdict::Undecided(why) => (
                format!(
                    "{} <span class=\"ci no-print\">(undecided at this n)</span>",
                    esc(&c.headline)
                ),
                why.as_str(),
            ),
            _ if !c.confidence.is_empty() => (esc(&c.headline), c.confidence.as_str()),
            _ => (esc(&c.headline), c.because.as_str()),
        };
        let section = EVIDENCE
            .iter()
            .find(|(id, _)| *id == c.evidence)
            .map_or("the figures", |(_, name)| name);
        let _ = writeln!(
            out,
            "<tr id=\"claim-{id}\"><td class=\"id\"><a href=\"#claim-{id}-full\">{id}</a></td><td class=\"one\" title=\"{claim}\">{short}</td><td class=\"v\">{badge}</td><td title=\"{title}\">{figure}</td><td class=\"ev\"><a href=\"#{evidence}\">{section}</a></td></tr>",
            id = esc(c.id),
            claim = esc(c.claim),
            short = esc(c.short),
            badge = glance_badge(&c.verdict),
            title = esc(title),
            evidence = esc(c.evidence),
            section = esc(section),
        );
    }
    out.push_str("</tbody></table>\n</section>\n");
}

/// Every claim in full, folded one per claim: the French original, the figures on this
/// host, the verdict with its reason, and the rule that gave it.
fn claims_in_full(out: &mut String, rows: &[ClaimRow]) {
    section(
        out,
        "claims",
        "The lab report's claims in full, with a number beside each",
    );
    let _ = writeln!(
        out,
        "<p>Each claim of the student lab report (in French, quoted under the English line) is judged by a rule written in code, stated under the verdict. On this host: {}. Open a claim for its figures.</p>",
        esc(&match counts(rows) {
            (plain, Some(emulated)) => format!("{plain} ({emulated})"),
            (plain, None) => plain,
        })
    );
    for c in rows {
        // One line per platform, its figures joined, in order of first appearance.
        let mut grouped: Vec<(&str, Vec<String>)> = Vec::new();
        for f in &c.figures {
            match grouped.iter_mut().find(|(p, _)| *p == f.platform) {
                Some((_, texts)) => texts.push(esc(&f.text)),
                None => grouped.push((&f.platform, vec![esc(&f.text)])),
            }
        }
        let figures = if grouped.is_empty() {
            format!("<p>{NOT_MEASURED}</p>")
        } else {
            let items: Vec<String> = grouped
                .iter()
                .map(|(p, texts)| {
                    format!(
                        "<li><strong>{}</strong>: {}</li>",
                        esc(p),
                        texts.join(" · ")
                    )
                })
                .collect();
            format!("<ul>{}</ul>", items.join(""))
        };
        let mut refs = String::new();
        for rf in &c.references {
            let _ = write!(
                refs,
                "<div class=\"ref\">Elsewhere: {} <span class=\"muted\">({})</span></div>",
                esc(rf.figure),
                esc(rf.cite)
            );
        }
        let note = c
            .note
            .map(|n| format!("<div class=\"ref\">Note: {}</div>", esc(n)))
            .unwrap_or_default();
        let because = match &c.verdict {
            Verdict::NotMeasured(why) => format!("not measured here: {}", esc(why)),
            Verdict::Undecided(why) => format!(
                "at this number of repetitions the interval of {}. Figures: {}",
                esc(why),
                esc(&c.because)
            ),
            _ if c.because.is_empty() => String::new(),
            _ => esc(&c.because),
        };
        let confidence = if c.confidence.is_empty() {
            String::new()
        } else {
            format!(
                "<div class=\"ci\">Interval (95 %, bootstrap over the repetitions): {}</div>",
                esc(&c.confidence)
            )
        };
        let thresholds: String = c
            .thresholds
            .iter()
            .map(|t| {
                format!(
                    "<li>{}: {} <span class=\"muted\">({}: {})</span></li>",
                    esc(t.figure),
                    esc(&t.condition),
                    esc(t.basis),
                    esc(t.reason)
                )
            })
            .collect();
        let _ = writeln!(
            out,
            "<details class=\"claim\" id=\"claim-{id}-full\"><summary><span class=\"id\">{id}</span><span>{badge}</span><span>{claim}</span></summary><div class=\"why\"><blockquote class=\"fr\" lang=\"fr\">{fr}</blockquote><div class=\"muted\">Lab report §{section}</div><p>{badge} {because}</p>{confidence}<div class=\"rule text\">Rule: {rule}</div><div class=\"rule\">Thresholds:</div><ul class=\"thresholds\">{thresholds}</ul><div class=\"figs\"><p><strong>Figures on this host</strong> (<a href=\"#{evidence}\">evidence</a>)</p>{figures}</div>{refs}{note}</div></details>",
            id = esc(c.id),
            claim = esc(c.claim),
            badge = badge(&c.verdict),
            fr = esc(c.french),
            section = esc(c.section),
            rule = esc(c.rule),
            evidence = esc(c.evidence),
        );
    }
    out.push_str("</section>\n");
}

fn references(out: &mut String) {
    section(out, "references", "Figures from elsewhere");
    let _ = writeln!(
        out,
        "<ul class=\"refs\"><li>{}: Docker's NAT roughly doubles round-trip latency in netperf request/response; KVM adds about 30 µs per transaction; Docker equals or beats KVM almost everywhere.</li><li>{}: about 125 ms from start to guest init, and at most 5 MiB of VMM memory overhead per microVM.</li></ul>",
        esc(claims::FELTER),
        esc(claims::FIRECRACKER)
    );
    out.push_str("<p class=\"muted\">These are other hosts and other workloads: they frame our figures, they do not replace them.</p>\n</section>\n");
}

pub fn render(results: &RunResults) -> String {
    let r = results;
    let charts = charts::all(r);
    let claim_rows = claims::evaluate(r);
    let mut out = String::with_capacity(256 * 1024);
    let _ = write!(
        out,
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>virtbench report {}</title><style>{CSS}</style></head><body>\n",
        esc(&r.run_id)
    );
    let _ = writeln!(
        out,
        "<header><h1>Virtual machines vs containers, measured on {}</h1><p class=\"meta\">virtbench {} · run {} · {} · git {} · the run took {}</p></header>",
        esc(&r.host.hostname),
        esc(&r.host.virtbench_version),
        esc(&r.run_id),
        esc(&r.started_at),
        esc(&r.git_revision),
        esc(&fmt_ms(r.wall_time_s * 1000.0))
    );
    // First screen: what was measured, the caveats that change how to read it, and every
    // claim's verdict. Everything after it is evidence.
    let (sentences, caveats) = summary_sentences(r);
    out.push_str("<section id=\"summary\" class=\"summary\">\n");
    for s in &sentences {
        let _ = writeln!(out, "<p>{}</p>", esc(s));
    }
    out.push_str("</section>\n");
    for c in &caveats {
        let _ = writeln!(out, "<p class=\"caveat\">{}</p>", esc(c));
    }
    glance(&mut out, &claim_rows);
    out.push_str("<nav aria-label=\"Contents\"><ol><li class=\"muted\">Contents:</li>");
    for (id, name) in EVIDENCE {
        let _ = write!(out, "<li><a href=\"#{id}\">{name}</a></li>");
    }
    out.push_str("<li><a href=\"#claims\">The claims in full</a></li><li><a href=\"#context\">This host and this run</a></li><li><a href=\"#references\">Figures from elsewhere</a></li><li><a href=\"#scenario\">Scenario</a></li></ol></nav>\n");
    startup(&mut out, r, &charts);
    memory(&mut out, r, &charts);
    density(&mut out, r, &charts);
    cpu(&mut out, r, &charts);
    latency(&mut out, r, &charts);
    throughput(&mut out, r, &charts);
    artifacts(&mut out, r, &charts);
    out.push_str(&super::containers::section(r));
    out.push_str(&super::faults::section(r, &charts));
    experiments(&mut out, r);
    claims_in_full(&mut out, &claim_rows);
    context(&mut out, r);
    references(&mut out);
    section(&mut out, "scenario", "The scenario that was run");
    fold(
        &mut out,
        "scenario",
        &format!(
            "{} — read from <code>{}</code>",
            esc(&r.scenario.name),
            esc(&r.scenario.path)
        ),
    );
    let _ = writeln!(
        out,
        "<pre>{}</pre></details></section>",
        esc(&r.scenario.text)
    );
    let _ = writeln!(
        out,
        "<footer>Generated by virtbench {} from results.json schema version {} · run {} · git {} · started {} · finished {} · wall time {} ({} s).</footer>",
        esc(&r.host.virtbench_version),
        r.schema_version,
        esc(&r.run_id),
        esc(&r.git_revision),
        esc(&r.started_at),
        esc(&r.finished_at),
        esc(&fmt_ms(r.wall_time_s * 1000.0)),
        fmt_num(r.wall_time_s)
    );
    out.push_str("</body></html>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture() -> RunResults {
        let text = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/results.json"
        ))
        .unwrap();
        serde_json::from_str(&text).unwrap()
    }

    #[test]
    fn summary_is_built_from_figures_present() {
        let r = fixture();
        let (s, caveats) = summary_sentences(&r);
        assert_eq!(s.len(), 3, "{s:?}");
        assert!(
            s[0].contains("container (docker/host)") && s[0].contains("faster than a VM"),
            "{}",
            s[0]
        );
        assert!(
            s[0].contains("[TCG]"),
            "a TCG VM is named as such: {}",
            s[0]
        );
        assert!(caveats.iter().any(|c| c.contains("TCG")));
        assert!(caveats
            .iter()
            .any(|c| c.contains("virtualbox") && c.contains("openstack")));
    }

    #[test]
    fn summary_without_vms_falls_back_to_a_list() {
        let mut r = fixture();
        r.platforms.retain(|p| p.name == "native");
        let (s, _) = summary_sentences(&r);
        assert!(
            s[0].starts_with("Median startup on this host: native"),
            "{s:?}"
        );
    }

    #[test]
    fn empty_run_renders_not_measured_everywhere() {
        let mut r = fixture();
        for p in &mut r.platforms {
            p.available = false;
            p.unavailable_reason = Some("test".into());
        }
        let html = render(&r);
        assert!(!html.contains("<svg"));
        assert!(html.contains("Not measured: no platform recorded startup"));
        assert!(html.contains("No platform produced figures in this run."));
    }
}
