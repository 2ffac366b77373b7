//! The demo's screen as lines of text: title, progress, the table, the verdicts so far,
//! the report's path. Pure (board in, lines out), laid out for 80 columns and cut to the
//! terminal's width and height; colour is an option, added around text already cut to
//! size so escape codes never count as columns.

use std::time::Duration;

use super::board::{Board, Row, RowState};
use crate::report::claims::{self, Verdict};

/// Columns: status mark, label, then five figures.
const MARK: usize = 2;
const LABEL: usize = 24;
const CELL: usize = 10;

/// ANSI colour, or none (NO_COLOR, TERM=dumb, not a terminal).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Style {
    pub colour: bool,
}

impl Style {
    fn paint(&self, code: &str, text: &str) -> String {
        if self.colour && !text.is_empty() {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_string()
        }
    }
}

const BOLD: &str = "1";
const DIM: &str = "2";
const GREEN: &str = "32";
const RED: &str = "31";
const YELLOW: &str = "33";
const CYAN: &str = "36";

/// `s` cut to `w` columns (one column per char: the table's text is Latin and
/// box-drawing characters), with "…" when cut.
pub fn fit(s: &str, w: usize) -> String {
    if s.chars().count() <= w {
        s.to_string()
    } else if w == 0 {
        String::new()
    } else {
        let mut t: String = s.chars().take(w - 1).collect();
        t.push('…');
        t
    }
}

fn pad_left(s: &str, w: usize) -> String {
    format!("{:>w$}", fit(s, w))
}

fn pad_right(s: &str, w: usize) -> String {
    format!("{:<w$}", fit(s, w))
}

pub fn clock(d: Duration) -> String {
    let s = d.as_secs();
    format!("{}:{:02}", s / 60, s % 60)
}

pub fn ms(v: f64) -> String {
    if v < 1000.0 {
        format!("{v:.0} ms")
    } else {
        format!("{:.1} s", v / 1000.0)
    }
}

pub fn us(v: f64) -> String {
    if v < 1000.0 {
        format!("{v:.0} µs")
    } else {
        format!("{:.1} ms", v / 1000.0)
    }
}

pub fn mib(bytes: f64) -> String {
    format!("{:.1} MiB", bytes / 1048576.0)
}

pub fn rps(v: f64) -> String {
    format!("{v:.0}/s")
}

/// The claims each column bears on, from the catalogue: startup, idle memory, latency
/// (both latency columns), throughput.
fn claims_of(field: &str) -> String {
    claims::reading(field).join(" ")
}

fn header(style: Style) -> Vec<String> {
    let names = format!(
        "{}{}{}{}{}{}{}",
        " ".repeat(MARK),
        pad_right("platform / variant", LABEL),
        pad_left("startup", CELL),
        pad_left("idle PSS", CELL),
        pad_left("p50", CELL),
        pad_left("p99", CELL),
        pad_left("req/s", CELL),
    );
    let bears = format!(
        "{}{}{}{}{}{}",
        " ".repeat(MARK),
        pad_right("claims →", LABEL),
        pad_left(&claims_of("startup_ms"), CELL),
        pad_left(&claims_of("memory_idle_pss_bytes"), CELL),
        pad_left(&claims_of("latency_us"), 2 * CELL),
        pad_left(&claims_of("max_throughput_rps"), CELL),
    );
    vec![style.paint(BOLD, &names), style.paint(DIM, &bears)]
}

fn row_line(r: &Row, style: Style) -> String {
    let (mark, colour) = match &r.state {
        RowState::Waiting => ("·", DIM),
        RowState::Running(_) => ("▶", YELLOW),
        RowState::Done => ("✓", GREEN),
        RowState::Failed(_) => ("✗", RED),
        RowState::Unavailable(_) => ("–", DIM),
    };
    let head = format!("{}{}", pad_right(mark, MARK), pad_right(&r.label, LABEL));
    let head = style.paint(colour, &head);
    let rest_w = 5 * CELL;
    let rest = match &r.state {
        RowState::Unavailable(why) => {
            style.paint(DIM, &fit(&format!("unavailable: {why}"), rest_w))
        }
        RowState::Failed(why) => style.paint(RED, &fit(&format!("failed: {why}"), rest_w)),
        _ => {
            let cell = |v: Option<f64>, f: fn(f64) -> String| {
                pad_left(&v.map(f).unwrap_or_default(), CELL)
            };
            format!(
                "{}{}{}{}{}",
                cell(r.startup_ms, ms),
                cell(r.idle_bytes, mib),
                cell(r.p50_us, us),
                cell(r.p99_us, us),
                cell(r.rps, rps),
            )
        }
    };
    format!("{head}{rest}").trim_end().to_string()
}

fn bar(done: f64, w: usize) -> String {
    let full = ((done.clamp(0.0, 1.0)) * w as f64).round() as usize;
    format!("{}{}", "█".repeat(full), "░".repeat(w - full))
}

fn verdict_colour(v: &Verdict) -> &'static str {
    match v.plain() {
        Verdict::Supported => GREEN,
        Verdict::Contradicted => RED,
        Verdict::Mixed => YELLOW,
        _ => DIM,
    }
}

/// The whole screen, at most `height` lines of at most `width` columns.
pub fn render(b: &Board, width: usize, height: usize, style: Style) -> Vec<String> {
    let mut top = Vec::new();
    top.push(style.paint(
        BOLD,
        &fit(
            &format!(
                "virtbench demo · scenario {} · run {}",
                b.scenario, b.run_id
            ),
            width,
        ),
    ));
    let (done, left) = b.progress();
    let when = if b.report.is_some() {
        format!("done in {}", clock(b.elapsed))
    } else {
        format!("{} elapsed, about {} left", clock(b.elapsed), clock(left))
    };
    top.push(fit(
        &format!("{} {:>3.0} %  {when}", bar(done, 24), done * 100.0),
        width,
    ));
    let now = match &b.now {
        Some(n) => format!("now: {} · {}", n.label, n.step.describe()),
        None if b.report.is_some() => "finished".into(),
        None => String::new(),
    };
    top.push(style.paint(CYAN, &fit(&now, width)));
    top.push(String::new());
    top.extend(header(style).into_iter().map(|l| l.to_string()));
    top.extend(b.rows.iter().map(|r| row_line(r, style)));
    top.push(String::new());

    let mut bottom = Vec::new();
    if let Some(p) = &b.report {
        bottom.push(String::new());
        bottom.push(style.paint(BOLD, &fit(&format!("report: {}", p.display()), width)));
    }

    let mut verdicts = Vec::new();
    if b.finished_platforms.is_empty() {
        verdicts.push(style.paint(DIM, &fit("verdicts: after the first platform", width)));
    } else {
        verdicts.push(style.paint(
            BOLD,
            &fit(
                &format!(
                    "verdicts so far ({} measured):",
                    b.finished_platforms.join(", ")
                ),
                width,
            ),
        ));
        if b.verdicts.is_empty() {
            verdicts.push(style.paint(DIM, "  none yet: each claim needs more platforms"));
        }
        let room = height.saturating_sub(top.len() + bottom.len() + 1);
        let shown = if b.verdicts.len() > room {
            room.saturating_sub(1)
        } else {
            b.verdicts.len()
        };
        for g in &b.verdicts[..shown] {
            verdicts.push(style.paint(verdict_colour(&g.verdict), &fit(&g.line(), width)));
        }
        if shown < b.verdicts.len() {
            verdicts.push(fit(
                &format!("… {} more in the report", b.verdicts.len() - shown),
                width,
            ));
        }
    }
    let mut all = top;
    all.extend(verdicts);
    all.extend(bottom);
    all.truncate(height);
    all
}
