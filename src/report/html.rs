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

use super::view::{esc, fmt_ms};
use super::widgets::{fold, section};
use super::{claims, sections};
use crate::results::RunResults;
use crate::stats::fmt_num;

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
  details.claim .why { font-size: 8.5pt; padding-bottom: 4px; }
  details.claim .why p { margin: 3px 0; }
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

pub fn render(results: &RunResults) -> String {
    let r = results;
    let charts = sections::all(r);
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
    let (sentences, caveats) = sections::summary::summary_sentences(r);
    out.push_str("<section id=\"summary\" class=\"summary\">\n");
    for s in &sentences {
        let _ = writeln!(out, "<p>{}</p>", esc(s));
    }
    out.push_str("</section>\n");
    for c in &caveats {
        let _ = writeln!(out, "<p class=\"caveat\">{}</p>", esc(c));
    }
    sections::claims::glance(&mut out, &claim_rows);
    out.push_str("<nav aria-label=\"Contents\"><ol><li class=\"muted\">Contents:</li>");
    for (id, name) in sections::claims::EVIDENCE {
        let _ = write!(out, "<li><a href=\"#{id}\">{name}</a></li>");
    }
    out.push_str("<li><a href=\"#claims\">The claims in full</a></li><li><a href=\"#context\">This host and this run</a></li><li><a href=\"#references\">Figures from elsewhere</a></li><li><a href=\"#scenario\">Scenario</a></li></ol></nav>\n");
    sections::startup::startup(&mut out, r, &charts);
    sections::memory::memory(&mut out, r, &charts);
    sections::density::density(&mut out, r, &charts);
    sections::cpu::cpu(&mut out, r, &charts);
    sections::latency::latency(&mut out, r, &charts);
    sections::throughput::throughput(&mut out, r, &charts);
    sections::artifacts::artifacts(&mut out, r, &charts);
    out.push_str(&sections::containers::section(r));
    out.push_str(&sections::faults::section(r, &charts));
    sections::experiments::experiments(&mut out, r);
    sections::claims::claims_in_full(&mut out, &claim_rows);
    sections::context::context(&mut out, r);
    sections::claims::references(&mut out);
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
    use super::sections::summary::summary_sentences;
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
