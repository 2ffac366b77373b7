//! `index.html`: one self-contained page (inline CSS and SVG, no script, no external
//! URL), readable offline and printable. Every text that comes from the results is
//! escaped; every missing figure reads "not measured" and every unavailable platform is
//! listed with its reason.

use std::fmt::Write as _;

use super::charts::{self, Chart};
use super::claims::{self, ClaimRow, Verdict};
use super::view::{self, css_colour, describe, esc, fmt_bytes, fmt_ms, fmt_ratio, fmt_us, Kind};
use crate::results::{PlatformResult, RunResults};
use crate::stats::{fmt_num, Series};

pub(crate) const CSS: &str = r#"
:root { --ink:#1d2330; --muted:#5b6475; --line:#d8dde6; --soft:#f4f6f9; --ok:#1e7a3a; --bad:#b3261e; --mix:#9a6700; --nm:#5b6475; }
* { box-sizing: border-box; }
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; color: var(--ink); margin: 0 auto; max-width: 1040px; padding: 24px 28px 60px; line-height: 1.45; background: #fff; }
h1 { font-size: 1.7rem; margin: 0 0 4px; }
h2 { font-size: 1.3rem; margin: 36px 0 10px; padding-bottom: 4px; border-bottom: 2px solid var(--line); }
h3 { font-size: 1.05rem; margin: 22px 0 8px; }
p.meta, .muted { color: var(--muted); font-size: .9rem; }
.summary { background: var(--soft); border-left: 5px solid #2f6db5; padding: 12px 18px; margin: 18px 0; font-size: 1.08rem; }
.summary p { margin: 6px 0; }
.caveat { border-left: 5px solid var(--mix); background: #fff8e6; padding: 8px 14px; margin: 10px 0; }
nav ol { columns: 3; margin: 8px 0; padding-left: 20px; font-size: .92rem; }
nav a { color: #2f6db5; text-decoration: none; }
table { border-collapse: collapse; width: 100%; margin: 8px 0 14px; font-size: .88rem; }
th, td { border-bottom: 1px solid var(--line); padding: 5px 8px; text-align: left; vertical-align: top; }
th { background: var(--soft); font-weight: 600; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
.nm { color: var(--nm); font-style: italic; }
.sw { display: inline-block; width: 11px; height: 11px; border-radius: 2px; margin-right: 6px; vertical-align: baseline; print-color-adjust: exact; -webkit-print-color-adjust: exact; }
.badge { display: inline-block; font-size: .75rem; font-weight: 700; padding: 1px 6px; border-radius: 9px; margin-left: 4px; white-space: nowrap; print-color-adjust: exact; -webkit-print-color-adjust: exact; }
.badge.tcg { background: #fde2c4; color: #8c2d04; border: 1px solid #e06c00; }
.badge.kvm { background: #dcebd9; color: #1f5e20; border: 1px solid #3b8c3a; }
.badge.off { background: #eceef2; color: var(--muted); border: 1px solid var(--line); }
figure.chart { margin: 14px 0 22px; padding: 10px; border: 1px solid var(--line); border-radius: 6px; break-inside: avoid; page-break-inside: avoid; }
figure.chart figcaption { font-size: .9rem; margin-bottom: 6px; }
figure.chart .how { color: var(--muted); display: block; }
svg.chart { width: 100%; height: auto; display: block; }
.verdict { font-weight: 700; display: inline-block; padding: 2px 8px; border-radius: 4px; color: #fff; print-color-adjust: exact; -webkit-print-color-adjust: exact; }
.verdict.supported { background: var(--ok); }
.verdict.contradicted { background: var(--bad); }
.verdict.mixed { background: var(--mix); }
.verdict.not-measured { background: #eceef2; color: var(--ink); font-weight: 600; }
.verdict.emulated-only { background-image: repeating-linear-gradient(135deg, transparent 0 6px, rgba(255,255,255,.3) 6px 12px); }
table.dense th, table.dense td { padding: 4px 5px; font-size: .8rem; }
table.claims td { font-size: .84rem; }
table.claims td.id { font-weight: 700; white-space: nowrap; }
table.claims .fr { font-style: italic; color: var(--muted); margin: 4px 0 0; border-left: 3px solid var(--line); padding-left: 8px; }
table.claims ul { margin: 0; padding-left: 16px; }
table.claims .rule { color: var(--muted); font-size: .8rem; margin-top: 4px; }
.ref { font-size: .8rem; margin-top: 4px; }
pre { background: var(--soft); padding: 10px 14px; overflow-x: auto; font-size: .82rem; border-radius: 4px; white-space: pre-wrap; }
.warn { color: var(--bad); }
footer { margin-top: 40px; font-size: .82rem; color: var(--muted); border-top: 1px solid var(--line); padding-top: 10px; }
@media print {
  body { max-width: none; padding: 0; font-size: 10pt; }
  nav { display: none; }
  h2 { break-after: avoid; page-break-after: avoid; }
  tr, figure.chart, .summary { break-inside: avoid; page-break-inside: avoid; }
  a { color: inherit; }
}
"#;

/// A platform label with its colour swatch and accelerator badge, escaped.
fn platform_cell(r: &RunResults, p: &PlatformResult) -> String {
    let sw = if p.available {
        format!(
            "<span class=\"sw\" style=\"background:{}\"></span>",
            css_colour(view::colour(r, &p.label))
        )
    } else {
        String::new()
    };
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

fn figure(c: &Chart) -> String {
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
    let mem = |p: &PlatformResult| view::median(&p.memory_idle_bytes);
    match (best_of(r, Kind::Container, mem), best_of(r, Kind::Vm, mem)) {
        (Some((cl, cv)), Some((vl, vv))) if cv > 0.0 => out.push(format!(
            "While idle, the lightest VM ({vl}) held {} of host memory, {} the lightest container's ({cl}, {}).",
            fmt_bytes(vv),
            fmt_ratio(vv / cv),
            fmt_bytes(cv)
        )),
        _ => {
            let all: Vec<String> = view::measured(r)
                .filter_map(|p| mem(p).map(|v| format!("{} {}", view::display(p), fmt_bytes(v))))
                .collect();
            if !all.is_empty() {
                out.push(format!("Idle host memory: {}.", all.join(", ")));
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

fn context(out: &mut String, r: &RunResults) {
    section(out, "context", "This host and this run");
    let h = &r.host;
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
            let probe = p
                .details
                .get("kvm_probe")
                .map(|s| format!(" — {}", esc(s)))
                .unwrap_or_default();
            format!(
                "{}: <strong>{}</strong>{probe}",
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
    out.push_str("</tbody></table>\n");

    out.push_str("<h3>Platforms</h3>\n<table><thead><tr><th>Platform</th><th>Status</th><th>Variant</th><th>Details</th></tr></thead><tbody>\n");
    for p in &r.platforms {
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
        let kv = |m: &std::collections::BTreeMap<String, String>| {
            m.iter()
                .map(|(k, v)| format!("{}: {}", esc(k), esc(v)))
                .collect::<Vec<_>>()
                .join("<br>")
        };
        let _ = writeln!(
            out,
            "<tr><td>{}</td><td>{status}</td><td>{}</td><td>{}</td></tr>",
            platform_cell(r, p),
            kv(&p.variant),
            kv(&p.details)
        );
    }
    out.push_str("</tbody></table>\n</section>\n");
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
    out.push_str("<table><thead><tr><th>Platform</th><th>Startup</th><th>Phases (median)</th></tr></thead><tbody>\n");
    for p in view::measured(r) {
        let phases = if p.startup_phases_ms.is_empty() {
            NOT_MEASURED.to_string()
        } else {
            view::ordered_phases(p)
                .into_iter()
                .map(|(k, s)| format!("{} {}", esc(&charts::phase_name(k)), esc(&describe(s))))
                .collect::<Vec<_>>()
                .join("<br>")
        };
        let _ = writeln!(
            out,
            "<tr><td>{}</td><td>{}</td><td>{phases}</td></tr>",
            platform_cell(r, p),
            cell(p.startup_ms.as_ref())
        );
    }
    out.push_str("</tbody></table>\n</section>\n");
}

fn memory(out: &mut String, r: &RunResults, charts: &[Chart]) {
    section(
        out,
        "memory",
        "Memory: what the host pays, idle and under load",
    );
    out.push_str("<p>Sampled from outside the platform: RSS and PSS of every process of the deployment (hypervisor processes for VMs), or for containers the cgroup usage plus the shims and docker-proxy; the engine's daemons, shared by every container, are counted apart (below).</p>\n");
    match charts.iter().find(|c| c.id == "chart-memory") {
        Some(c) => out.push_str(&figure(c)),
        None => out.push_str(&nothing(r, "host memory")),
    }
    out.push_str("<table><thead><tr><th>Platform</th><th>Idle RSS</th><th>Idle PSS</th><th>Loaded RSS</th><th>Loaded PSS</th></tr></thead><tbody>\n");
    for p in view::measured(r) {
        let _ = writeln!(
            out,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            platform_cell(r, p),
            cell(p.memory_idle_bytes.as_ref()),
            cell(p.memory_idle_pss_bytes.as_ref()),
            cell(p.memory_load_bytes.as_ref()),
            cell(p.memory_load_pss_bytes.as_ref())
        );
    }
    out.push_str("</tbody></table>\n");
    out.push_str(&super::idle::breakdown_table(r));
    out.push_str("</section>\n");
}

fn cpu(out: &mut String, r: &RunResults, charts: &[Chart]) {
    section(out, "cpu", "CPU: idle and per 1,000 requests");
    figures(out, r, charts, "chart-cpu", "host CPU time");
    if let Some(rule) = super::idle::settle_rule(r) {
        let _ = writeln!(out, "<p>{}</p>", esc(&rule));
    }
    out.push_str("<table><thead><tr><th>Platform</th><th>Idle CPU</th><th>CPU per 1,000 requests</th></tr></thead><tbody>\n");
    for p in view::measured(r) {
        let idle = match &p.cpu_idle_seconds {
            Some(c) => esc(&super::idle::idle_cpu_cell(c)),
            None => NOT_MEASURED.into(),
        };
        let _ = writeln!(
            out,
            "<tr><td>{}</td><td>{idle}</td><td>{}</td></tr>",
            platform_cell(r, p),
            cell(p.cpu_seconds_per_1k_requests.as_ref())
        );
    }
    out.push_str("</tbody></table>\n</section>\n");
}

fn latency(out: &mut String, r: &RunResults, charts: &[Chart]) {
    section(
        out,
        "latency",
        "Latency: percentiles at constant request rates",
    );
    out.push_str("<p>Open-loop load: requests leave at a fixed rate whatever the answers do, and each latency counts from the moment the request was <em>meant</em> to leave, so a stalled platform cannot hide its stall. Every answer is checked; failures and wrong answers are counted apart.</p>\n");
    figures(out, r, charts, "chart-latency", "request latency");
    out.push_str("<table class=\"dense\"><thead><tr><th>Platform</th><th>Rate (req/s)</th><th>Achieved</th><th>p50</th><th>p90</th><th>p99</th><th>p99.9</th><th>max</th><th>Mean ± sd</th><th>Correct</th><th>Failed</th><th>Wrong</th></tr></thead><tbody>\n");
    for p in view::measured(r) {
        if p.latency_us.is_empty() {
            let _ = writeln!(
                out,
                "<tr><td>{}</td><td colspan=\"11\">{NOT_MEASURED}</td></tr>",
                platform_cell(r, p)
            );
        }
        for l in &p.latency_us {
            let _ = writeln!(
                out,
                "<tr><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{} ± {}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td></tr>",
                platform_cell(r, p),
                view::fmt_rate(l.rate_rps),
                fmt_num(l.achieved_rps),
                esc(&fmt_us(l.p50)),
                esc(&fmt_us(l.p90)),
                esc(&fmt_us(l.p99)),
                esc(&fmt_us(l.p999)),
                esc(&fmt_us(l.max)),
                esc(&fmt_us(l.mean)),
                esc(&fmt_us(l.stddev)),
                l.count,
                l.errors,
                l.wrong_answers
            );
        }
    }
    out.push_str("</tbody></table>\n</section>\n");
}

fn throughput(out: &mut String, r: &RunResults, charts: &[Chart]) {
    section(out, "throughput", "Throughput: as fast as it can answer");
    match charts.iter().find(|c| c.id == "chart-throughput") {
        Some(c) => out.push_str(&figure(c)),
        None => out.push_str(&nothing(r, "maximum throughput")),
    }
    out.push_str("<table><thead><tr><th>Platform</th><th>Requests/s</th><th>Per second</th><th>Connections</th><th>Duration</th><th>Correct</th><th>Failed</th><th>Wrong</th></tr></thead><tbody>\n");
    for p in view::measured(r) {
        match &p.max_throughput_rps {
            Some(t) => {
                let _ = writeln!(
                    out,
                    "<tr><td>{}</td><td class=\"num\">{}</td><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{} s</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td></tr>",
                    platform_cell(r, p),
                    fmt_num(t.rps),
                    esc(&describe(&t.per_second)),
                    t.connections,
                    fmt_num(t.duration_s),
                    t.count,
                    t.errors,
                    t.wrong_answers
                );
            }
            None => {
                let _ = writeln!(
                    out,
                    "<tr><td>{}</td><td colspan=\"7\">{NOT_MEASURED}</td></tr>",
                    platform_cell(r, p)
                );
            }
        }
    }
    out.push_str("</tbody></table>\n</section>\n");
}

fn artifacts(out: &mut String, r: &RunResults, charts: &[Chart]) {
    section(out, "artifacts", "Artifacts: what each platform runs from");
    match charts.iter().find(|c| c.id == "chart-artifacts") {
        Some(c) => out.push_str(&figure(c)),
        None => out.push_str(&nothing(r, "artifacts")),
    }
    out.push_str("<table><thead><tr><th>Platform</th><th>Artifact</th><th>Size</th><th>Build time</th><th>Path</th></tr></thead><tbody>\n");
    for p in view::measured(r) {
        for a in &p.artifacts {
            let build = match (a.build_ms, a.cached) {
                (Some(ms), _) => esc(&fmt_ms(ms)),
                (None, true) => "from cache".into(),
                (None, false) => NOT_MEASURED.into(),
            };
            let _ = writeln!(
                out,
                "<tr><td>{}</td><td>{}</td><td class=\"num\">{}</td><td>{build}</td><td><code>{}</code></td></tr>",
                platform_cell(r, p),
                esc(&a.name),
                esc(&fmt_bytes(a.bytes as f64)),
                esc(a.path.as_deref().unwrap_or(""))
            );
        }
    }
    out.push_str("</tbody></table>\n</section>\n");
}

fn experiments(out: &mut String, r: &RunResults) {
    section(out, "experiments", "Platform-specific experiments");
    let rows: Vec<String> = view::measured(r)
        .flat_map(|p| {
            p.extras.iter().map(move |(k, s)| {
                format!(
                    "<tr><td>{}</td><td><code>{}</code></td><td>{}</td></tr>",
                    platform_cell(r, p),
                    esc(k),
                    esc(&describe(s))
                )
            })
        })
        .collect();
    if rows.is_empty() {
        out.push_str("<p class=\"nm\">Not measured: no platform ran a platform-specific experiment (commit, clone, snapshot, isolation probe...) in this run.</p>\n");
    } else {
        out.push_str("<p>Experiments that only some platforms offer (image commit and build, VM clones, snapshots, isolation probes). Names are documented in docs/results-schema.md.</p>\n");
        out.push_str("<table><thead><tr><th>Platform</th><th>Experiment</th><th>Result</th></tr></thead><tbody>\n");
        for row in rows {
            out.push_str(&row);
            out.push('\n');
        }
        out.push_str("</tbody></table>\n");
    }
    out.push_str("</section>\n");
}

fn claims_table(out: &mut String, rows: &[ClaimRow]) {
    section(
        out,
        "claims",
        "The lab report's claims, with a number beside each",
    );
    let count = |f: fn(&Verdict) -> bool| rows.iter().filter(|c| f(&c.verdict)).count();
    let _ = writeln!(
        out,
        "<p>Each claim of the student lab report (in French, quoted under the English line) is judged by a rule written in code, stated under the verdict. On this host: {} supported, {} contradicted, {} mixed, {} not measured.</p>",
        count(|v| *v == Verdict::Supported),
        count(|v| *v == Verdict::Contradicted),
        count(|v| *v == Verdict::Mixed),
        count(|v| matches!(v, Verdict::NotMeasured(_)))
    );
    out.push_str("<table class=\"claims\"><thead><tr><th>ID</th><th>Claim</th><th>Figures on this host</th><th>Verdict and rule</th></tr></thead><tbody>\n");
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
            NOT_MEASURED.to_string()
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
        let (label, because) = match &c.verdict {
            Verdict::NotMeasured(why) => (
                "not measured here".to_string(),
                format!("<div>{}</div>", esc(why)),
            ),
            v if c.because.is_empty() => (v.label(), String::new()),
            v => (v.label(), format!("<div>{}</div>", esc(&c.because))),
        };
        let _ = writeln!(
            out,
            "<tr id=\"claim-{id}\"><td class=\"id\">{id}</td><td title=\"{fr}\"><div>{claim}</div><blockquote class=\"fr\" lang=\"fr\">{fr}</blockquote><div class=\"muted\">Lab report §{section}</div></td><td>{figures}{refs}{note}</td><td><span class=\"verdict {class}\">{label}</span>{because}<div class=\"rule\">Rule: {rule}</div></td></tr>",
            id = esc(c.id),
            fr = esc(c.french),
            claim = esc(c.claim),
            section = esc(c.section),
            class = c.verdict.class(),
            label = esc(&label),
            rule = esc(c.rule),
        );
    }
    out.push_str("</tbody></table>\n</section>\n");
}

fn references(out: &mut String) {
    section(out, "references", "Figures from elsewhere");
    let _ = writeln!(
        out,
        "<ul><li>{}: Docker's NAT roughly doubles round-trip latency in netperf request/response; KVM adds about 30 µs per transaction; Docker equals or beats KVM almost everywhere.</li><li>{}: about 125 ms from start to guest init, and at most 5 MiB of VMM memory overhead per microVM.</li></ul>",
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
    let (sentences, caveats) = summary_sentences(r);
    out.push_str("<section id=\"summary\" class=\"summary\">\n");
    for s in &sentences {
        let _ = writeln!(out, "<p>{}</p>", esc(s));
    }
    let count = |f: fn(&Verdict) -> bool| claim_rows.iter().filter(|c| f(&c.verdict)).count();
    let _ = writeln!(
        out,
        "<p class=\"muted\">Of the lab report's {} claims, on this host {} are supported, {} contradicted, {} mixed and {} not measured: <a href=\"#claims\">see the claims</a>.</p>",
        claim_rows.len(),
        count(|v| *v == Verdict::Supported),
        count(|v| *v == Verdict::Contradicted),
        count(|v| *v == Verdict::Mixed),
        count(|v| matches!(v, Verdict::NotMeasured(_)))
    );
    out.push_str("</section>\n");
    for c in &caveats {
        let _ = writeln!(out, "<p class=\"caveat\">{}</p>", esc(c));
    }
    out.push_str(
        "<nav><ol><li><a href=\"#context\">This host and this run</a></li><li><a href=\"#startup\">Startup</a></li><li><a href=\"#memory\">Memory</a></li><li><a href=\"#cpu\">CPU</a></li><li><a href=\"#latency\">Latency</a></li><li><a href=\"#throughput\">Throughput</a></li><li><a href=\"#artifacts\">Artifacts</a></li><li><a href=\"#experiments\">Experiments</a></li><li><a href=\"#claims\">The claims</a></li><li><a href=\"#references\">Figures from elsewhere</a></li><li><a href=\"#scenario\">Scenario</a></li></ol></nav>\n",
    );
    context(&mut out, r);
    startup(&mut out, r, &charts);
    memory(&mut out, r, &charts);
    cpu(&mut out, r, &charts);
    latency(&mut out, r, &charts);
    throughput(&mut out, r, &charts);
    artifacts(&mut out, r, &charts);
    experiments(&mut out, r);
    claims_table(&mut out, &claim_rows);
    references(&mut out);
    section(&mut out, "scenario", "The scenario that was run");
    let _ = writeln!(
        out,
        "<p class=\"muted\">{} — read from <code>{}</code></p><pre>{}</pre></section>",
        esc(&r.scenario.name),
        esc(&r.scenario.path),
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
