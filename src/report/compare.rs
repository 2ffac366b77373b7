//! Comparison of several runs (`virtbench report A.json B.json ...`): per platform label
//! and metric, each run's median, its change in % against the first run, and whether that
//! change exceeds the measured spread (the two IQRs do not overlap). Rendered as HTML (a
//! full self-contained page), CSV, JSON or Markdown.

use std::fmt::Write as _;
use std::str::FromStr;

use serde::Serialize;

use super::view::{self, esc};
use crate::results::{PlatformResult, RunResults};
use crate::stats::{fmt_num, Series};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Html,
    Csv,
    Json,
    Markdown,
}

impl Format {
    /// File extension for the format ("html", "csv", "json", "md").
    pub fn extension(self) -> &'static str {
        match self {
            Format::Html => "html",
            Format::Csv => "csv",
            Format::Json => "json",
            Format::Markdown => "md",
        }
    }
}

impl FromStr for Format {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "html" => Ok(Format::Html),
            "csv" => Ok(Format::Csv),
            "json" => Ok(Format::Json),
            "markdown" | "md" => Ok(Format::Markdown),
            other => Err(format!(
                "format `{other}`: expected html, csv, json or markdown"
            )),
        }
    }
}

/// The runs compared, in the order given (the first is the reference).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunInfo {
    pub run_id: String,
    pub started_at: String,
    pub git_revision: String,
    pub host: String,
}

impl RunInfo {
    /// Run id, start, git revision and host, in the order every rendering lists them.
    fn fields(&self) -> [&str; 4] {
        [
            &self.run_id,
            &self.started_at,
            &self.git_revision,
            &self.host,
        ]
    }
}

/// One run's figure for one label x metric.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Entry {
    Value {
        median: f64,
        /// Interquartile range, when the figure has several samples.
        iqr: Option<(f64, f64)>,
        n: usize,
        /// Change of the median against the first run, in %.
        change_pct: Option<f64>,
        /// True when this run's IQR and the first run's do not overlap; None when either
        /// figure has no spread (one sample, or a histogram percentile).
        beyond_spread: Option<bool>,
    },
    /// No figure, with why: "not in this run", "unavailable: <reason>", "not measured".
    Missing { reason: String },
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Row {
    pub label: String,
    pub metric: String,
    pub unit: String,
    /// One entry per run, in run order.
    pub entries: Vec<Entry>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Comparison {
    pub runs: Vec<RunInfo>,
    /// Labels present in some run and absent from others, or hosts that differ: reasons
    /// to read the changes with care.
    pub warnings: Vec<String>,
    pub rows: Vec<Row>,
}

/// A figure as (median, IQR, n, unit).
type Fig = (f64, Option<(f64, f64)>, usize, String);

fn from_series(s: &Series) -> Option<Fig> {
    let m = &s.summary;
    (m.n > 0).then(|| {
        (
            m.median,
            (m.n > 1).then_some((m.p25, m.p75)),
            m.n,
            s.unit.clone(),
        )
    })
}

/// Every comparable figure of one platform result, by metric name.
fn figures(p: &PlatformResult) -> Vec<(String, Fig)> {
    let mut out = Vec::new();
    let mut put = |name: String, s: Option<&Series>| {
        if let Some(f) = s.and_then(from_series) {
            out.push((name, f));
        }
    };
    put("startup_ms".into(), p.startup_ms.as_ref());
    for (k, s) in &p.startup_phases_ms {
        put(format!("startup_phase.{k}"), Some(s));
    }
    put("memory_idle_bytes".into(), p.memory_idle_bytes.as_ref());
    put(
        "memory_idle_pss_bytes".into(),
        p.memory_idle_pss_bytes.as_ref(),
    );
    put("memory_load_bytes".into(), p.memory_load_bytes.as_ref());
    put(
        "memory_load_pss_bytes".into(),
        p.memory_load_pss_bytes.as_ref(),
    );
    put(
        "cpu_seconds_per_1k_requests".into(),
        p.cpu_seconds_per_1k_requests.as_ref(),
    );
    put(
        "max_throughput_rps".into(),
        p.max_throughput_rps.as_ref().map(|t| &t.per_second),
    );
    for (k, s) in &p.extras {
        put(format!("extra.{k}"), Some(s));
    }
    if let Some(c) = &p.cpu_idle_seconds {
        out.push((
            "cpu_idle_seconds".into(),
            (c.total_seconds, None, 1, "s".into()),
        ));
    }
    for l in p.latency_us.iter().filter(|l| l.count > 0) {
        let rate = view::fmt_rate(l.rate_rps);
        for (name, v) in [("p50", l.p50), ("p99", l.p99), ("p999", l.p999)] {
            out.push((
                format!("latency_{name}_us@{rate}rps"),
                (v, None, l.count as usize, "us".into()),
            ));
        }
    }
    for a in &p.artifacts {
        out.push((
            format!("artifact.{}.bytes", a.name),
            (a.bytes as f64, None, 1, "bytes".into()),
        ));
    }
    out
}

/// Build the comparison table; the first run is the reference for changes.
pub fn compare(runs: &[RunResults]) -> Comparison {
    let infos: Vec<RunInfo> = runs
        .iter()
        .map(|r| RunInfo {
            run_id: r.run_id.clone(),
            started_at: r.started_at.clone(),
            git_revision: r.git_revision.clone(),
            host: format!(
                "{} ({}, {} cores)",
                r.host.hostname, r.host.cpu_model, r.host.cores
            ),
        })
        .collect();
    let mut warnings = Vec::new();
    if let Some(first) = infos.first() {
        for (i, info) in infos.iter().enumerate().skip(1) {
            if info.host != first.host {
                warnings.push(format!(
                    "run {} ({}) ran on a different host than run 1: {} vs {}",
                    i + 1,
                    info.run_id,
                    info.host,
                    first.host
                ));
            }
        }
    }
    // Labels and metrics in order of first appearance.
    let mut labels: Vec<String> = Vec::new();
    for r in runs {
        for p in &r.platforms {
            if !labels.contains(&p.label) {
                labels.push(p.label.clone());
            }
        }
    }
    let mut rows = Vec::new();
    for label in &labels {
        let per_run: Vec<Option<&PlatformResult>> = runs
            .iter()
            .map(|r| r.platforms.iter().find(|p| &p.label == label))
            .collect();
        let figs: Vec<Vec<(String, Fig)>> = per_run
            .iter()
            .map(|p| p.filter(|p| p.available).map(figures).unwrap_or_default())
            .collect();
        let mut metrics: Vec<(String, String)> = Vec::new();
        for f in &figs {
            for (m, fig) in f {
                if !metrics.iter().any(|(x, _)| x == m) {
                    metrics.push((m.clone(), fig.3.clone()));
                }
            }
        }
        let missing_runs: Vec<String> = per_run
            .iter()
            .enumerate()
            .filter(|(_, p)| p.is_none())
            .map(|(i, _)| (i + 1).to_string())
            .collect();
        if !missing_runs.is_empty() {
            warnings.push(format!(
                "{label} is not in run(s) {}",
                missing_runs.join(", ")
            ));
        }
        if metrics.is_empty() {
            // Unavailable everywhere: still one row, so the label is never dropped.
            metrics.push(("available".into(), String::new()));
        }
        for (metric, unit) in metrics {
            let reference = figs
                .first()
                .and_then(|f| f.iter().find(|(m, _)| *m == metric))
                .map(|(_, f)| f.clone());
            let entries = per_run
                .iter()
                .zip(&figs)
                .enumerate()
                .map(
                    |(i, (p, f))| match (p, f.iter().find(|(m, _)| *m == metric)) {
                        (None, _) => Entry::Missing {
                            reason: "not in this run".into(),
                        },
                        (Some(p), _) if !p.available => Entry::Missing {
                            reason: format!(
                                "unavailable: {}",
                                p.unavailable_reason
                                    .as_deref()
                                    .unwrap_or("no reason recorded")
                            ),
                        },
                        (Some(_), None) => Entry::Missing {
                            reason: "not measured".into(),
                        },
                        (Some(_), Some((_, (median, iqr, n, _)))) => {
                            let (change_pct, beyond_spread) = match (&reference, i) {
                                (Some((rm, riqr, _, _)), i) if i > 0 => (
                                    (*rm != 0.0).then(|| (median / rm - 1.0) * 100.0),
                                    match (riqr, iqr) {
                                        (Some((a0, a1)), Some((b0, b1))) => {
                                            Some(b0 > a1 || b1 < a0)
                                        }
                                        _ => None,
                                    },
                                ),
                                _ => (None, None),
                            };
                            Entry::Value {
                                median: *median,
                                iqr: *iqr,
                                n: *n,
                                change_pct,
                                beyond_spread,
                            }
                        }
                    },
                )
                .collect();
            rows.push(Row {
                label: label.clone(),
                metric,
                unit,
                entries,
            });
        }
    }
    Comparison {
        runs: infos,
        warnings,
        rows,
    }
}

/// Human value of a figure in its unit.
fn human(v: f64, unit: &str) -> String {
    match unit {
        "bytes" => view::fmt_bytes(v),
        "ms" => view::fmt_ms(v),
        "us" => view::fmt_us(v),
        "" => fmt_num(v),
        u => format!("{} {u}", fmt_num(v)),
    }
}

fn change_text(change: Option<f64>, beyond: Option<bool>) -> String {
    let Some(c) = change else {
        return String::new();
    };
    let mark = match beyond {
        Some(true) => "beyond spread",
        Some(false) => "within spread",
        None => "no spread",
    };
    format!("{c:+.1}% ({mark})")
}

fn entry_text(e: &Entry, unit: &str) -> String {
    match e {
        Entry::Missing { reason } => reason.clone(),
        Entry::Value {
            median,
            change_pct,
            beyond_spread,
            ..
        } => {
            let c = change_text(*change_pct, *beyond_spread);
            if c.is_empty() {
                human(*median, unit)
            } else {
                format!("{} {c}", human(*median, unit))
            }
        }
    }
}

fn csv_field(s: &str) -> String {
    super::csv::quote(s)
}

fn render_csv(c: &Comparison) -> String {
    let mut out = String::from(
        "label,metric,unit,run,run_id,median,p25,p75,n,change_pct,beyond_spread,note\n",
    );
    for row in &c.rows {
        for (i, e) in row.entries.iter().enumerate() {
            let head = format!(
                "{},{},{},{},{}",
                csv_field(&row.label),
                csv_field(&row.metric),
                csv_field(&row.unit),
                i + 1,
                csv_field(&c.runs[i].run_id)
            );
            let _ = match e {
                Entry::Missing { reason } => writeln!(out, "{head},,,,,,,{}", csv_field(reason)),
                Entry::Value {
                    median,
                    iqr,
                    n,
                    change_pct,
                    beyond_spread,
                } => writeln!(
                    out,
                    "{head},{median},{},{},{n},{},{},",
                    iqr.map(|x| x.0.to_string()).unwrap_or_default(),
                    iqr.map(|x| x.1.to_string()).unwrap_or_default(),
                    change_pct.map(|x| format!("{x:.3}")).unwrap_or_default(),
                    beyond_spread.map(|b| b.to_string()).unwrap_or_default()
                ),
            };
        }
    }
    out
}

fn md_cell(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

fn render_markdown(c: &Comparison) -> String {
    let mut out = String::from("# virtbench comparison\n\n");
    for (i, r) in c.runs.iter().enumerate() {
        let [id, started, git, host] = r.fields().map(md_cell);
        let _ = writeln!(
            out,
            "- run {}: `{id}` ({started}, git {git}, {host})",
            i + 1
        );
    }
    out.push_str("\nChanges are against run 1; \"beyond spread\" means the two interquartile ranges do not overlap.\n");
    for w in &c.warnings {
        let _ = writeln!(out, "\n> Warning: {}", md_cell(w));
    }
    let mut last = None;
    for row in &c.rows {
        if last != Some(&row.label) {
            let _ = write!(out, "\n## {}\n\n| metric |", md_cell(&row.label));
            for i in 0..c.runs.len() {
                let _ = write!(out, " run {} |", i + 1);
            }
            out.push_str("\n|---|");
            for _ in 0..c.runs.len() {
                out.push_str("---|");
            }
            out.push('\n');
            last = Some(&row.label);
        }
        let _ = write!(out, "| {} |", md_cell(&row.metric));
        for e in &row.entries {
            let _ = write!(out, " {} |", md_cell(&entry_text(e, &row.unit)));
        }
        out.push('\n');
    }
    out
}

fn render_html(c: &Comparison) -> String {
    let mut out = String::new();
    let _ = write!(
        out,
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>virtbench comparison</title><style>{}\
         td.beyond {{ background:#fdecea; font-weight:600; }} td.within {{ color: var(--muted); }}</style></head><body>\n<header><h1>virtbench: comparison of {} runs</h1></header>\n",
        super::html::CSS,
        c.runs.len()
    );
    out.push_str("<section id=\"runs\"><h2>Runs</h2><table><thead><tr><th>#</th><th>Run</th><th>Started</th><th>Git</th><th>Host</th></tr></thead><tbody>\n");
    for (i, r) in c.runs.iter().enumerate() {
        let [id, started, git, host] = r.fields().map(esc);
        let _ = writeln!(
            out,
            "<tr><td>{}</td><td>{id}</td><td>{started}</td><td>{git}</td><td>{host}</td></tr>",
            i + 1
        );
    }
    out.push_str("</tbody></table><p>Each change is against run 1. A change is marked <strong>beyond spread</strong> when the two runs' interquartile ranges do not overlap; percentiles of one latency histogram and single-sample figures have no spread to compare.</p>\n");
    for w in &c.warnings {
        let _ = writeln!(out, "<p class=\"caveat\">{}</p>", esc(w));
    }
    out.push_str("</section>\n<section id=\"comparison\"><h2>Figures per platform</h2>\n");
    let mut last: Option<&str> = None;
    for row in &c.rows {
        if last != Some(row.label.as_str()) {
            if last.is_some() {
                out.push_str("</tbody></table>\n");
            }
            let _ = write!(
                out,
                "<h3>{}</h3><table><thead><tr><th>Metric</th>",
                esc(&row.label)
            );
            for i in 0..c.runs.len() {
                let _ = write!(out, "<th>Run {}</th>", i + 1);
            }
            out.push_str("</tr></thead><tbody>\n");
            last = Some(&row.label);
        }
        let _ = write!(out, "<tr><td><code>{}</code></td>", esc(&row.metric));
        for e in &row.entries {
            let class = match e {
                Entry::Value {
                    beyond_spread: Some(true),
                    ..
                } => " class=\"num beyond\"",
                Entry::Value {
                    beyond_spread: Some(false),
                    ..
                } => " class=\"num within\"",
                Entry::Value { .. } => " class=\"num\"",
                Entry::Missing { .. } => " class=\"nm\"",
            };
            let _ = write!(out, "<td{class}>{}</td>", esc(&entry_text(e, &row.unit)));
        }
        out.push_str("</tr>\n");
    }
    if last.is_some() {
        out.push_str("</tbody></table>\n");
    }
    out.push_str("</section></body></html>\n");
    out
}

/// Render the comparison of `runs` (the first is the reference) in `format`. HTML is a
/// complete self-contained page.
pub fn render(runs: &[RunResults], format: Format) -> String {
    let c = compare(runs);
    match format {
        Format::Html => render_html(&c),
        Format::Csv => render_csv(&c),
        Format::Json => serde_json::to_string_pretty(&c).expect("comparison serialises"),
        Format::Markdown => render_markdown(&c),
    }
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

    fn entry<'a>(c: &'a Comparison, label: &str, metric: &str, run: usize) -> &'a Entry {
        &c.rows
            .iter()
            .find(|r| r.label == label && r.metric == metric)
            .unwrap_or_else(|| panic!("no row {label} {metric}"))
            .entries[run]
    }

    #[test]
    fn change_and_spread_against_first_run() {
        let a = fixture();
        let mut b = fixture();
        b.run_id = "second".into();
        // Slower startup everywhere in the second run (well beyond the IQR) and the same
        // memory (within it).
        let native = b
            .platforms
            .iter_mut()
            .find(|p| p.label == "native")
            .unwrap();
        let s = native.startup_ms.as_ref().unwrap();
        native.startup_ms = Some(Series::new(
            "ms",
            s.samples.iter().map(|x| x * 2.0).collect(),
        ));
        let c = compare(&[a, b]);
        match entry(&c, "native", "startup_ms", 1) {
            Entry::Value {
                change_pct: Some(pct),
                beyond_spread: Some(true),
                ..
            } => assert!((pct - 100.0).abs() < 1e-6, "{pct}"),
            e => panic!("{e:?}"),
        }
        match entry(&c, "native", "memory_idle_bytes", 1) {
            Entry::Value {
                change_pct: Some(pct),
                beyond_spread: Some(false),
                ..
            } => assert_eq!(*pct, 0.0),
            e => panic!("{e:?}"),
        }
        // The reference run carries no change.
        assert!(matches!(
            entry(&c, "native", "startup_ms", 0),
            Entry::Value {
                change_pct: None,
                ..
            }
        ));
        // Latency percentiles have no spread to compare.
        assert!(matches!(
            entry(&c, "native", "latency_p50_us@50rps", 1),
            Entry::Value {
                beyond_spread: None,
                ..
            }
        ));
    }

    #[test]
    fn missing_and_unavailable_labels_stay_visible() {
        let a = fixture();
        let mut b = fixture();
        b.platforms.retain(|p| p.label != "docker/host");
        let c = compare(&[a, b]);
        assert!(
            matches!(entry(&c, "docker/host", "startup_ms", 1), Entry::Missing { reason } if reason == "not in this run")
        );
        assert!(c.warnings.iter().any(|w| w.contains("docker/host")));
        assert!(
            matches!(entry(&c, "virtualbox", "available", 0), Entry::Missing { reason } if reason.starts_with("unavailable: VBoxManage"))
        );
    }

    #[test]
    fn every_format_renders() {
        let runs = [fixture(), fixture()];
        let md = render(&runs, Format::Markdown);
        assert!(
            md.contains("## qemu/per-role/kernel") && md.contains("| startup_ms |"),
            "{md}"
        );
        let csv = render(&runs, Format::Csv);
        assert!(csv.starts_with("label,metric,unit,run,"));
        assert!(csv.lines().skip(1).all(|l| !l.is_empty()));
        let json: serde_json::Value = serde_json::from_str(&render(&runs, Format::Json)).unwrap();
        assert_eq!(json["runs"].as_array().unwrap().len(), 2);
        let html = render(&runs, Format::Html);
        assert!(html.starts_with("<!doctype html>") && html.ends_with("</html>\n"));
        assert!(!html.contains("http://") && !html.contains("https://"));
    }

    #[test]
    fn html_escapes_labels() {
        let mut a = fixture();
        a.platforms[0].label = "<script>alert(1)</script>".into();
        let html = render(&[a], Format::Html);
        assert!(!html.contains("<script>"));
        assert!(html.contains("&lt;script&gt;"));
    }

    #[test]
    fn format_parses() {
        assert_eq!("md".parse::<Format>().unwrap(), Format::Markdown);
        assert_eq!("HTML".parse::<Format>().unwrap(), Format::Html);
        assert!("pdf".parse::<Format>().unwrap_err().contains("pdf"));
    }
}
