//! `results.csv`: the figures of results.json as one flat table, one row per platform
//! variant x metric (layout documented in docs/results-schema.md, "results.csv").
//!
//! Every row has the same columns. Series rows fill the summary columns; latency rows
//! (one per open-loop rate) fill `rate_rps` and the percentile columns; an unavailable
//! platform gets one `unavailable` row whose `note` is the reason, so no platform is ever
//! silently missing. Empty cells mean "not applicable", never zero.

use crate::results::{PlatformResult, RunResults};
use crate::stats::Series;

pub const COLUMNS: [&str; 21] = [
    "label",
    "platform",
    "metric",
    "unit",
    "n",
    "median",
    "mean",
    "p25",
    "p75",
    "min",
    "max",
    "stddev",
    "rate_rps",
    "p50",
    "p90",
    "p99",
    "p999",
    "count",
    "errors",
    "wrong_answers",
    "note",
];

/// Quote a field per RFC 4180 when it holds a comma, quote, CR/LF or edge spaces.
pub fn quote(field: &str) -> String {
    let needs =
        field.contains([',', '"', '\n', '\r']) || field.starts_with(' ') || field.ends_with(' ');
    if needs {
        format!("\"{}\"", field.replace('"', "\"\""))
    } else {
        field.to_string()
    }
}

/// Full precision for numbers (the CSV is for analysis; the HTML rounds).
fn num(x: f64) -> String {
    if x.is_finite() {
        format!("{x}")
    } else {
        String::new()
    }
}

#[derive(Default)]
struct Row {
    metric: String,
    unit: String,
    series: Option<Series>,
    /// Columns rate_rps .. wrong_answers, already formatted.
    latency: Option<[String; 8]>,
    note: String,
}

fn series_row(metric: &str, s: &Series, note: impl Into<String>) -> Row {
    Row {
        metric: metric.into(),
        unit: s.unit.clone(),
        series: Some(s.clone()),
        note: note.into(),
        ..Default::default()
    }
}

fn single(metric: &str, unit: &str, value: f64, note: impl Into<String>) -> Row {
    series_row(metric, &Series::new(unit, vec![value]), note)
}

fn rows_of(p: &PlatformResult) -> Vec<Row> {
    let mut rows = Vec::new();
    if !p.available {
        rows.push(Row {
            metric: "unavailable".into(),
            note: p.unavailable_reason.clone().unwrap_or_default(),
            ..Default::default()
        });
        return rows;
    }
    if let Some(e) = &p.error {
        rows.push(Row {
            metric: "error".into(),
            note: e.clone(),
            ..Default::default()
        });
    }
    if let Some(s) = &p.startup_ms {
        rows.push(series_row("startup_ms", s, ""));
    }
    for (phase, s) in &p.startup_phases_ms {
        rows.push(series_row(&format!("startup_phase.{phase}"), s, ""));
    }
    for (metric, s) in [
        ("memory_idle_bytes", &p.memory_idle_bytes),
        ("memory_idle_pss_bytes", &p.memory_idle_pss_bytes),
        ("memory_load_bytes", &p.memory_load_bytes),
        ("memory_load_pss_bytes", &p.memory_load_pss_bytes),
    ] {
        if let Some(s) = s {
            rows.push(series_row(metric, s, ""));
        }
    }
    if let Some(c) = &p.cpu_idle_seconds {
        rows.push(single(
            "cpu_idle_seconds",
            "s",
            c.total_seconds,
            format!("total over a {} s idle window", c.window_s),
        ));
        rows.push(series_row(
            "cpu_idle_seconds_per_slice",
            &c.per_slice,
            format!("one sample per {} s slice", c.slice_s),
        ));
    }
    if let Some(s) = &p.cpu_seconds_per_1k_requests {
        rows.push(series_row("cpu_seconds_per_1k_requests", s, ""));
    }
    for l in &p.latency_us {
        let mut s = Series::new("us", vec![]);
        // A histogram, not samples: only the moments it has go in the summary columns.
        s.summary.n = l.count as usize;
        s.summary.mean = l.mean;
        s.summary.stddev = l.stddev;
        s.summary.median = l.p50;
        s.summary.max = l.max;
        rows.push(Row {
            metric: "latency_us".into(),
            unit: "us".into(),
            series: Some(s),
            latency: Some([
                num(l.rate_rps),
                num(l.p50),
                num(l.p90),
                num(l.p99),
                num(l.p999),
                l.count.to_string(),
                l.errors.to_string(),
                l.wrong_answers.to_string(),
            ]),
            note: format!(
                "open loop, {} s, {} connections, achieved {} rps",
                l.duration_s, l.connections, l.achieved_rps
            ),
        });
    }
    if let Some(t) = &p.max_throughput_rps {
        let mut row = series_row(
            "max_throughput_rps",
            &t.per_second,
            format!(
                "closed loop, {} s, {} connections; overall {} rps",
                t.duration_s, t.connections, t.rps
            ),
        );
        row.latency = Some([
            String::new(),
            String::new(),
            String::new(),
            String::new(),
            String::new(),
            t.count.to_string(),
            t.errors.to_string(),
            t.wrong_answers.to_string(),
        ]);
        rows.push(row);
    }
    for a in &p.artifacts {
        let cache = if a.cached { "from cache" } else { "built" };
        rows.push(single(
            &format!("artifact.{}.bytes", a.name),
            "bytes",
            a.bytes as f64,
            cache,
        ));
        if let Some(ms) = a.build_ms {
            rows.push(single(
                &format!("artifact.{}.build_ms", a.name),
                "ms",
                ms,
                "",
            ));
        }
    }
    for (name, s) in &p.extras {
        rows.push(series_row(&format!("extra.{name}"), s, ""));
    }
    rows
}

pub fn render(results: &RunResults) -> String {
    let mut out = COLUMNS.join(",");
    out.push('\n');
    for p in &results.platforms {
        for row in rows_of(p) {
            let mut cells: Vec<String> = vec![
                quote(&p.label),
                quote(&p.name),
                quote(&row.metric),
                quote(&row.unit),
            ];
            match &row.series {
                Some(s) => {
                    let m = &s.summary;
                    cells.push(m.n.to_string());
                    if m.n == 0 {
                        cells.extend(vec![String::new(); 7]);
                    } else if row.latency.is_some() && row.metric == "latency_us" {
                        // Histogram rows have no quartiles or min.
                        cells.extend([
                            num(m.median),
                            num(m.mean),
                            String::new(),
                            String::new(),
                            String::new(),
                            num(m.max),
                            num(m.stddev),
                        ]);
                    } else {
                        cells.extend(
                            [m.median, m.mean, m.p25, m.p75, m.min, m.max, m.stddev].map(num),
                        );
                    }
                }
                None => cells.extend(vec![String::new(); 8]),
            }
            match &row.latency {
                Some(l) => cells.extend(l.iter().cloned()),
                None => cells.extend(vec![String::new(); 8]),
            }
            cells.push(quote(&row.note));
            out.push_str(&cells.join(","));
            out.push('\n');
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::results::LatencyResult;

    #[test]
    fn quoting_follows_rfc4180() {
        assert_eq!(quote("plain"), "plain");
        assert_eq!(quote("a,b"), "\"a,b\"");
        assert_eq!(quote("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(quote("two\nlines"), "\"two\nlines\"");
        assert_eq!(quote(" padded"), "\" padded\"");
    }

    fn results(platforms: Vec<PlatformResult>) -> RunResults {
        let text = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/results.json"
        ))
        .unwrap();
        let mut r: RunResults = serde_json::from_str(&text).unwrap();
        r.platforms = platforms;
        r
    }

    /// Split one CSV line honouring quotes (enough for the test rows).
    fn fields(line: &str) -> Vec<String> {
        let mut out = vec![String::new()];
        let mut quoted = false;
        let mut chars = line.chars().peekable();
        while let Some(c) = chars.next() {
            match (c, quoted) {
                ('"', true) if chars.peek() == Some(&'"') => {
                    chars.next();
                    out.last_mut().unwrap().push('"');
                }
                ('"', _) => quoted = !quoted,
                (',', false) => out.push(String::new()),
                (c, _) => out.last_mut().unwrap().push(c),
            }
        }
        out
    }

    #[test]
    fn unavailable_platform_is_a_row_with_its_reason() {
        let r = results(vec![PlatformResult::unavailable(
            "virtualbox",
            "VBoxManage not found, \"really\"",
        )]);
        let csv = render(&r);
        let lines: Vec<&str> = csv.lines().collect();
        assert_eq!(lines.len(), 2);
        let f = fields(lines[1]);
        assert_eq!(f.len(), COLUMNS.len());
        assert_eq!(f[2], "unavailable");
        assert_eq!(f[20], "VBoxManage not found, \"really\"");
    }

    #[test]
    fn every_row_has_every_column_and_latency_is_per_rate() {
        let mut p = PlatformResult {
            name: "native".into(),
            label: "native, \"odd\" label".into(),
            available: true,
            startup_ms: Some(Series::new("ms", vec![5.0, 6.0, 7.0])),
            ..Default::default()
        };
        for rate in [50.0, 200.0] {
            p.latency_us.push(LatencyResult {
                rate_rps: rate,
                duration_s: 10.0,
                achieved_rps: rate,
                p50: 380.0,
                p90: 520.0,
                p99: 900.0,
                p999: 1400.0,
                max: 2100.0,
                mean: 400.0,
                stddev: 90.0,
                count: 500,
                errors: 1,
                wrong_answers: 0,
                connections: 8,
            });
        }
        let csv = render(&results(vec![p]));
        let rows: Vec<Vec<String>> = csv.lines().skip(1).map(fields).collect();
        assert!(rows.iter().all(|r| r.len() == COLUMNS.len()), "{csv}");
        assert!(rows.iter().all(|r| r[0] == "native, \"odd\" label"));
        let lat: Vec<&Vec<String>> = rows.iter().filter(|r| r[2] == "latency_us").collect();
        assert_eq!(lat.len(), 2);
        assert_eq!(lat[1][12], "200");
        assert_eq!(lat[0][15], "900");
        let st = rows.iter().find(|r| r[2] == "startup_ms").unwrap();
        assert_eq!((st[4].as_str(), st[5].as_str()), ("3", "6"));
    }

    #[test]
    fn fixture_renders_rows_for_every_platform() {
        let text = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/results.json"
        ))
        .unwrap();
        let r: RunResults = serde_json::from_str(&text).unwrap();
        let csv = render(&r);
        for p in &r.platforms {
            assert!(
                csv.lines().any(|l| fields(l)[0] == p.label),
                "no row for {}",
                p.label
            );
        }
    }
}
