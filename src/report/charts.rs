//! The report's charts: plotters drawing into an in-memory SVG string, inlined in the
//! page. Every chart has a title, axis units and a one-line "how to read this"; each
//! platform keeps its colour (`view::colour`) across charts. A chart whose figures are
//! absent everywhere is not drawn (the page says "not measured" instead).

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::view::{self, esc, fmt_bytes, fmt_ms, fmt_us, MIB};
use crate::results::{PlatformResult, RunResults};
use crate::stats::{fmt_num, Series};

/// One drawn chart: the SVG is ready to inline in HTML.
#[derive(Debug, Clone)]
pub struct Chart {
    /// HTML id of the figure, unique in the page.
    pub id: String,
    pub title: String,
    pub how_to_read: String,
    pub svg: String,
}

const WIDTH: u32 = 960;
const FONT: &str = "sans-serif";
const LABEL_AREA: u32 = 250;

type DrawResult = Result<(), Box<dyn std::error::Error>>;

fn rgb(c: (u8, u8, u8)) -> RGBColor {
    RGBColor(c.0, c.1, c.2)
}

/// `c` mixed with white: `amount` 0 keeps the colour, 1 gives white.
fn lighten(c: (u8, u8, u8), amount: f64) -> RGBColor {
    let m = |v: u8| (v as f64 + (255.0 - v as f64) * amount).round() as u8;
    RGBColor(m(c.0), m(c.1), m(c.2))
}

/// Draw with `f` into a fresh SVG string and make it fit for inlining: no xmlns URL (HTML
/// parsers do not need it and the page carries no URL at all), scalable, titled.
fn render_svg(
    id: &str,
    title: &str,
    height: u32,
    f: impl FnOnce(&DrawingArea<SVGBackend, Shift>) -> DrawResult,
) -> String {
    let mut buf = String::new();
    let outcome = {
        let root = SVGBackend::with_string(&mut buf, (WIDTH, height)).into_drawing_area();
        let drawn = root
            .fill(&WHITE)
            .map_err(|e| e.into())
            .and_then(|_| f(&root));
        drawn.and_then(|_| root.present().map_err(|e| e.into()))
    };
    if let Err(e) = outcome {
        tracing::warn!(chart = id, error = %e, "chart could not be drawn");
        return format!(
            "<p class=\"warn\">This chart could not be drawn: {}</p>",
            esc(&e.to_string())
        );
    }
    let body_start = buf.find('>').map(|i| i + 1).unwrap_or(0);
    format!(
        "<svg class=\"chart\" viewBox=\"0 0 {WIDTH} {height}\" width=\"{WIDTH}\" height=\"{height}\" \
         role=\"img\" aria-labelledby=\"{id}-title\"><title id=\"{id}-title\">{}</title>{}",
        esc(title),
        &buf[body_start..]
    )
}

fn chart(
    id: &str,
    title: &str,
    how: &str,
    height: u32,
    f: impl FnOnce(&DrawingArea<SVGBackend, Shift>) -> DrawResult,
) -> Chart {
    Chart {
        id: id.into(),
        title: title.into(),
        how_to_read: how.into(),
        svg: render_svg(id, title, height, f),
    }
}

/// Axis tick: whole numbers without decimals ("1000", not "1000.0").
fn tick(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e12 {
        format!("{}", v as i64)
    } else {
        fmt_num(v)
    }
}

/// Log-axis tick for milliseconds: "10 ms", "1 s".
fn tick_ms(v: f64) -> String {
    if v >= 1000.0 {
        format!("{} s", tick(v / 1000.0))
    } else {
        format!("{} ms", tick(v))
    }
}

/// Log-axis tick for microseconds: "100 µs", "1 ms", "1 s".
fn tick_us(v: f64) -> String {
    if v >= 1_000_000.0 {
        format!("{} s", tick(v / 1_000_000.0))
    } else if v >= 1000.0 {
        format!("{} ms", tick(v / 1000.0))
    } else {
        format!("{} µs", tick(v))
    }
}

fn label_style(size: u32) -> TextStyle<'static> {
    (FONT, size).into_font().color(&BLACK)
}

/// One horizontal bar of a bar chart.
struct Bar {
    /// Platform label shown at the left of the first bar of its group.
    group: String,
    colour: (u8, u8, u8),
    /// 0 = the platform's colour, towards 1 = lighter (a second series of the group).
    shade: f64,
    value: f64,
    /// Spread drawn as a whisker (IQR), in the axis unit.
    whisker: Option<(f64, f64)>,
    /// Printed after the bar: what it is and its value.
    text: String,
}

/// Horizontal bars grouped by platform, linear x axis from 0.
fn hbars(
    root: &DrawingArea<SVGBackend, Shift>,
    x_desc: &str,
    bars: &[Bar],
    scale: f64,
) -> DrawResult {
    let rows = layout_rows(bars);
    let max = bars
        .iter()
        .map(|b| b.whisker.map_or(b.value, |w| w.1.max(b.value)))
        .fold(0.0f64, f64::max)
        / scale;
    // Room on the right for the value text printed after the longest bar.
    let x_max = if max > 0.0 { max * 1.45 } else { 1.0 };
    let y_max = rows.last().map_or(1.0, |r| r + 1.0);
    let mut chart = ChartBuilder::on(root)
        .margin(12)
        .x_label_area_size(48)
        .y_label_area_size(LABEL_AREA)
        .build_cartesian_2d(0.0..x_max, 0.0..y_max)?;
    chart
        .configure_mesh()
        .disable_y_mesh()
        .y_labels(0)
        .x_labels(8)
        .x_desc(x_desc)
        .x_label_formatter(&|v| tick(*v))
        .label_style((FONT, 17))
        .axis_desc_style((FONT, 18))
        .draw()?;
    let mut last_group = None;
    for (bar, &row) in bars.iter().zip(&rows) {
        let top = y_max - row - 0.1;
        let bottom = y_max - row - 0.9;
        let fill = lighten(bar.colour, bar.shade);
        let v = bar.value / scale;
        chart.draw_series(std::iter::once(Rectangle::new(
            [(0.0, bottom), (v, top)],
            fill.filled(),
        )))?;
        chart.draw_series(std::iter::once(Rectangle::new(
            [(0.0, bottom), (v, top)],
            rgb(bar.colour).stroke_width(1),
        )))?;
        let mut text_x = v;
        if let Some((lo, hi)) = bar.whisker {
            let (lo, hi) = (lo / scale, hi / scale);
            let mid = (top + bottom) / 2.0;
            let ink = BLACK.stroke_width(1);
            chart.draw_series(std::iter::once(PathElement::new(
                vec![(lo, mid), (hi, mid)],
                ink,
            )))?;
            for x in [lo, hi] {
                chart.draw_series(std::iter::once(PathElement::new(
                    vec![(x, mid - 0.2), (x, mid + 0.2)],
                    ink,
                )))?;
            }
            text_x = text_x.max(hi);
        }
        let (px, py) = chart.backend_coord(&(text_x, (top + bottom) / 2.0));
        root.draw(&Text::new(
            bar.text.clone(),
            (px + 6, py),
            label_style(16).pos(Pos::new(HPos::Left, VPos::Center)),
        ))?;
        if last_group.as_deref() != Some(bar.group.as_str()) {
            draw_row_label(
                root,
                &chart.backend_coord(&(0.0, (top + bottom) / 2.0)),
                &bar.group,
                bar.colour,
            )?;
            last_group = Some(bar.group.clone());
        }
    }
    Ok(())
}

/// Row positions (top = 0) leaving a gap between platform groups.
fn layout_rows(bars: &[Bar]) -> Vec<f64> {
    let mut y = 0.0;
    let mut out = Vec::with_capacity(bars.len());
    let mut last: Option<&str> = None;
    for b in bars {
        if last.is_some_and(|g| g != b.group) {
            y += 0.5;
        }
        out.push(y);
        y += 1.0;
        last = Some(&b.group);
    }
    out
}

/// Platform name at the left of its row, with a colour swatch.
fn draw_row_label(
    root: &DrawingArea<SVGBackend, Shift>,
    at: &(i32, i32),
    text: &str,
    colour: (u8, u8, u8),
) -> DrawResult {
    let (x, y) = *at;
    root.draw(&Rectangle::new(
        [(x - 16, y - 6), (x - 4, y + 6)],
        rgb(colour).filled(),
    ))?;
    root.draw(&Text::new(
        text.to_string(),
        (x - 22, y),
        label_style(17).pos(Pos::new(HPos::Right, VPos::Center)),
    ))?;
    Ok(())
}

fn bars_height(bars: &[Bar]) -> u32 {
    let rows = layout_rows(bars);
    let span = rows.last().map_or(1.0, |r| r + 1.0);
    110 + (span * 26.0) as u32
}

fn iqr(s: &Series) -> Option<(f64, f64)> {
    (s.summary.n > 1).then_some((s.summary.p25, s.summary.p75))
}

fn with_samples(s: &Option<Series>) -> Option<&Series> {
    s.as_ref().filter(|s| s.summary.n > 0)
}

/// Startup: one box per platform (IQR box, median line, min-max whiskers, every sample a
/// dot) on a log axis, since a process starts in milliseconds and a VM in seconds.
pub fn startup(r: &RunResults) -> Option<Chart> {
    let rows: Vec<(&PlatformResult, &Series)> = view::measured(r)
        .filter_map(|p| with_samples(&p.startup_ms).map(|s| (p, s)))
        .collect();
    if rows.is_empty() {
        return None;
    }
    let lo = rows
        .iter()
        .map(|(_, s)| s.summary.min)
        .fold(f64::INFINITY, f64::min)
        .max(0.01);
    let hi = rows
        .iter()
        .map(|(_, s)| s.summary.max)
        .fold(0.0, f64::max)
        .max(lo * 10.0);
    let title = "Startup: create call to first correct answer";
    let height = 120 + rows.len() as u32 * 46;
    Some(chart(
        "chart-startup",
        title,
        "Each row is one platform; the box spans the middle half of the fresh deployments \
         (IQR), the thick line is the median, whiskers reach min and max, dots are single \
         deployments. Log scale: each grid step is 10x; further right is slower.",
        height,
        |root| {
            let y_max = rows.len() as f64;
            let mut c = ChartBuilder::on(root)
                .margin(12)
                .x_label_area_size(48)
                .y_label_area_size(LABEL_AREA)
                // Extra room on the right for the median text.
                .build_cartesian_2d((lo / 2.0..hi * 8.0).log_scale(), 0.0..y_max)?;
            c.configure_mesh()
                .disable_y_mesh()
                .y_labels(0)
                .x_desc("time to first correct answer (log scale)")
                .x_label_formatter(&|v| tick_ms(*v))
                .label_style((FONT, 17))
                .axis_desc_style((FONT, 18))
                .draw()?;
            for (i, (p, s)) in rows.iter().enumerate() {
                let mid = y_max - i as f64 - 0.5;
                let colour = view::colour(r, &p.label);
                let m = &s.summary;
                let ink = rgb(colour).stroke_width(2);
                c.draw_series(std::iter::once(Rectangle::new(
                    [(m.p25, mid - 0.28), (m.p75, mid + 0.28)],
                    lighten(colour, 0.6).filled(),
                )))?;
                c.draw_series(std::iter::once(Rectangle::new(
                    [(m.p25, mid - 0.28), (m.p75, mid + 0.28)],
                    ink,
                )))?;
                c.draw_series(std::iter::once(PathElement::new(
                    vec![(m.min, mid), (m.p25, mid)],
                    ink,
                )))?;
                c.draw_series(std::iter::once(PathElement::new(
                    vec![(m.p75, mid), (m.max, mid)],
                    ink,
                )))?;
                for x in [m.min, m.max] {
                    c.draw_series(std::iter::once(PathElement::new(
                        vec![(x, mid - 0.15), (x, mid + 0.15)],
                        ink,
                    )))?;
                }
                c.draw_series(std::iter::once(PathElement::new(
                    vec![(m.median, mid - 0.36), (m.median, mid + 0.36)],
                    BLACK.stroke_width(3),
                )))?;
                let n = s.samples.len().max(1) as f64;
                c.draw_series(s.samples.iter().enumerate().map(|(k, &x)| {
                    // Spread the dots vertically so equal samples stay visible.
                    let dy = -0.2 + 0.4 * (k as f64 + 0.5) / n;
                    Circle::new((x, mid + dy), 3, rgb(colour).mix(0.9).filled())
                }))?;
                let (px, py) = c.backend_coord(&(m.max, mid));
                root.draw(&Text::new(
                    format!("median {}", fmt_ms(m.median)),
                    (px + 8, py),
                    label_style(16).pos(Pos::new(HPos::Left, VPos::Center)),
                ))?;
                draw_row_label(
                    root,
                    &c.backend_coord(&(lo / 2.0, mid)),
                    &view::display(p),
                    colour,
                )?;
            }
            Ok(())
        },
    ))
}

/// Startup phases as shares of each platform's median startup (100% stacked), with the
/// total printed: the absolute scale is in the box plot above.
pub fn startup_phases(r: &RunResults) -> Option<Chart> {
    let rows: Vec<(&PlatformResult, Vec<(String, f64)>)> = view::measured(r)
        .filter_map(|p| {
            let phases: Vec<(String, f64)> = view::ordered_phases(p)
                .into_iter()
                .filter(|(_, s)| s.summary.n > 0)
                .map(|(k, s)| (phase_name(k), s.summary.median))
                .collect();
            (!phases.is_empty()).then_some((p, phases))
        })
        .collect();
    if rows.is_empty() {
        return None;
    }
    let title = "Startup phases: share of each platform's median startup";
    let height = 120 + rows.len() as u32 * 40;
    Some(chart(
        "chart-startup-phases",
        title,
        "Each bar is one platform's startup split into its phases (median of each phase), \
         as a share of their sum; darker segments come first. The sum of the phase medians is \
         printed at the right (it can differ a little from the median startup above).",
        height,
        |root| {
            let y_max = rows.len() as f64;
            let mut c = ChartBuilder::on(root)
                .margin(12)
                .x_label_area_size(48)
                .y_label_area_size(LABEL_AREA)
                .build_cartesian_2d(0.0..125.0, 0.0..y_max)?;
            c.configure_mesh()
                .disable_y_mesh()
                .y_labels(0)
                .x_labels(6)
                .x_desc("share of startup (%)")
                .x_label_formatter(&|v| {
                    if *v <= 100.0 {
                        tick(*v)
                    } else {
                        String::new()
                    }
                })
                .label_style((FONT, 17))
                .axis_desc_style((FONT, 18))
                .draw()?;
            for (i, (p, phases)) in rows.iter().enumerate() {
                let mid = y_max - i as f64 - 0.5;
                let colour = view::colour(r, &p.label);
                let total: f64 = phases.iter().map(|(_, v)| v).sum();
                let mut x = 0.0;
                for (k, (name, v)) in phases.iter().enumerate() {
                    let w = if total > 0.0 { v / total * 100.0 } else { 0.0 };
                    let shade = (k as f64 * 0.28).min(0.8);
                    let fill = lighten(colour, shade);
                    c.draw_series(std::iter::once(Rectangle::new(
                        [(x, mid - 0.32), (x + w, mid + 0.32)],
                        fill.filled(),
                    )))?;
                    c.draw_series(std::iter::once(Rectangle::new(
                        [(x, mid - 0.32), (x + w, mid + 0.32)],
                        WHITE.stroke_width(1),
                    )))?;
                    let (x0, y0) = c.backend_coord(&(x, mid));
                    let (x1, _) = c.backend_coord(&(x + w, mid));
                    let text = format!("{name} {}", fmt_ms(*v));
                    // Only label a segment the text fits in; the table lists them all.
                    if (x1 - x0) as f64 > text.len() as f64 * 7.0 + 8.0 {
                        let ink = if shade < 0.35 { WHITE } else { BLACK };
                        root.draw(&Text::new(
                            text,
                            (x0 + 4, y0),
                            label_style(15)
                                .color(&ink)
                                .pos(Pos::new(HPos::Left, VPos::Center)),
                        ))?;
                    }
                    x += w;
                }
                let (px, py) = c.backend_coord(&(100.0, mid));
                root.draw(&Text::new(
                    format!("sum {}", fmt_ms(total)),
                    (px + 6, py),
                    label_style(16).pos(Pos::new(HPos::Left, VPos::Center)),
                ))?;
                draw_row_label(
                    root,
                    &c.backend_coord(&(0.0, mid)),
                    &view::display(p),
                    colour,
                )?;
            }
            Ok(())
        },
    ))
}

/// "2_boot" -> "boot": runners may prefix phases with their order.
pub fn phase_name(key: &str) -> String {
    match key.split_once('_') {
        Some((n, rest)) if n.chars().all(|c| c.is_ascii_digit()) => rest.replace('_', " "),
        _ => key.replace('_', " "),
    }
}

/// Host memory per platform: idle and under load, PSS (judged) and RSS / cgroup.
pub fn memory(r: &RunResults) -> Option<Chart> {
    let mut bars = Vec::new();
    for p in view::measured(r) {
        let colour = view::colour(r, &p.label);
        let series = [
            // PSS first: the figure the verdicts judge.
            ("idle PSS", &p.memory_idle_pss_bytes, 0.0),
            ("loaded PSS", &p.memory_load_pss_bytes, 0.3),
            ("idle RSS / cgroup", &p.memory_idle_bytes, 0.5),
            ("loaded RSS / cgroup", &p.memory_load_bytes, 0.7),
        ];
        for (name, s, shade) in series {
            if let Some(s) = with_samples(s) {
                bars.push(Bar {
                    group: view::display(p),
                    colour,
                    shade,
                    value: s.summary.median,
                    whisker: iqr(s),
                    text: format!("{name} {}", fmt_bytes(s.summary.median)),
                });
            }
        }
    }
    if bars.is_empty() {
        return None;
    }
    let title = "Host memory of the whole deployment, idle and under load";
    Some(chart(
        "chart-memory",
        title,
        "Bars are medians of the samples, whiskers the IQR. RSS counts every page a process \
         maps; PSS shares pages among the processes that map them (closer to the real cost). \
         Longer bars cost the host more memory.",
        bars_height(&bars),
        |root| hbars(root, "MiB", &bars, MIB),
    ))
}

/// CPU while idle, as a percentage of one core over the idle window.
pub fn cpu_idle(r: &RunResults) -> Option<Chart> {
    let bars: Vec<Bar> = view::measured(r)
        .filter_map(|p| {
            let c = p.cpu_idle_seconds.as_ref()?;
            let pct = |s: f64| s / c.window_s * 100.0;
            let per_slice = (c.per_slice.summary.n > 1).then(|| {
                let k = 100.0 / c.slice_s;
                (c.per_slice.summary.p25 * k, c.per_slice.summary.p75 * k)
            });
            Some(Bar {
                group: view::display(p),
                colour: view::colour(r, &p.label),
                shade: 0.0,
                value: pct(c.measured_seconds().unwrap_or(0.0)),
                whisker: per_slice,
                text: match c.measured_seconds() {
                    Some(v) => format!(
                        "{}% of a core ({} s over {} s)",
                        fmt_num(pct(v)),
                        fmt_num(v),
                        fmt_num(c.window_s)
                    ),
                    None => format!("{} over {} s", view::fmt_idle_cpu(c), fmt_num(c.window_s)),
                },
            })
        })
        .collect();
    if bars.is_empty() {
        return None;
    }
    let title = "Host CPU while idle (no requests)";
    Some(chart(
        "chart-cpu-idle",
        title,
        "Bars are the host CPU time the deployment used over the idle window, as a percentage \
         of one core; whiskers are the IQR over the window's slices. Near zero means the \
         platform costs nothing while it waits.",
        bars_height(&bars),
        |root| hbars(root, "% of one CPU core", &bars, 1.0),
    ))
}

/// CPU seconds per 1,000 requests under the open-loop load.
pub fn cpu_per_1k(r: &RunResults) -> Option<Chart> {
    let bars: Vec<Bar> = view::measured(r)
        .filter_map(|p| {
            let s = with_samples(&p.cpu_seconds_per_1k_requests)?;
            Some(Bar {
                group: view::display(p),
                colour: view::colour(r, &p.label),
                shade: 0.0,
                value: s.summary.median,
                whisker: iqr(s),
                text: format!("{} CPU s (n={})", fmt_num(s.summary.median), s.summary.n),
            })
        })
        .collect();
    if bars.is_empty() {
        return None;
    }
    let title = "Host CPU per 1,000 requests";
    Some(chart(
        "chart-cpu-load",
        title,
        "Bars are the host CPU seconds (all cores) spent per 1,000 answered requests, median \
         over the load runs, whiskers the IQR. This is the price of each request, including \
         the platform's own layers (NAT, virtual devices, emulation).",
        bars_height(&bars),
        |root| hbars(root, "CPU seconds per 1,000 requests", &bars, 1.0),
    ))
}

const PERCENTILES: [&str; 5] = ["p50", "p90", "p99", "p99.9", "max"];

/// All open-loop rates present in the run, ascending.
pub fn rates(r: &RunResults) -> Vec<f64> {
    let mut rates: Vec<f64> = view::measured(r)
        .flat_map(|p| p.latency_us.iter().map(|l| l.rate_rps))
        .collect();
    rates.sort_by(|a, b| a.total_cmp(b));
    rates.dedup();
    rates
}

/// Latency percentile curves (p50 -> max), log scale, one chart per open-loop rate.
pub fn latency(r: &RunResults) -> Vec<Chart> {
    rates(r)
        .into_iter()
        .enumerate()
        .map(|(idx, rate)| latency_at(r, idx, rate))
        .collect()
}

fn latency_at(r: &RunResults, idx: usize, rate: f64) -> Chart {
    let lines: Vec<(&PlatformResult, [f64; 5], u64)> = view::measured(r)
        .filter_map(|p| {
            let l = p.latency_us.iter().find(|l| l.rate_rps == rate)?;
            (l.count > 0).then_some((
                p,
                [l.p50, l.p90, l.p99, l.p999, l.max],
                l.errors + l.wrong_answers,
            ))
        })
        .collect();
    let lo = lines
        .iter()
        .map(|(_, v, _)| v[0])
        .fold(f64::INFINITY, f64::min)
        .clamp(1.0, f64::MAX);
    let hi = lines
        .iter()
        .map(|(_, v, _)| v[4])
        .fold(0.0, f64::max)
        .max(lo * 10.0);
    let title = format!(
        "Latency percentiles at {} requests/s (open loop)",
        view::fmt_rate(rate)
    );
    let legend_rows = lines.len() as u32;
    let height = 430 + legend_rows * 20;
    let id = format!("chart-latency-{idx}");
    chart(
        &id,
        &title.clone(),
        "Each line is one platform: how long the slowest 50%, 10%, 1%, 0.1% of requests and the \
         single slowest took, measured from the intended send time. Log scale; lower is faster, \
         a steep rise at the right means rare long stalls.",
        height,
        |root| {
            let (plot, legend) = root.split_vertically(height - legend_rows * 20 - 10);
            let mut c = ChartBuilder::on(&plot)
                .margin(12)
                .x_label_area_size(40)
                .y_label_area_size(80)
                .build_cartesian_2d(-0.3..4.3, (lo / 1.5..hi * 1.5).log_scale())?;
            c.configure_mesh()
                .disable_x_mesh()
                .x_labels(0)
                .y_desc("latency (log scale)")
                .y_label_formatter(&|v| tick_us(*v))
                .label_style((FONT, 17))
                .axis_desc_style((FONT, 18))
                .draw()?;
            for (k, name) in PERCENTILES.iter().enumerate() {
                let (px, py) = c.backend_coord(&(k as f64, lo / 1.5));
                root.draw(&Text::new(
                    name.to_string(),
                    (px, py + 8),
                    label_style(17).pos(Pos::new(HPos::Center, VPos::Top)),
                ))?;
            }
            for (p, v, _) in &lines {
                let colour = rgb(view::colour(r, &p.label));
                let pts: Vec<(f64, f64)> = v
                    .iter()
                    .enumerate()
                    .map(|(k, &y)| (k as f64, y.max(lo / 1.5)))
                    .collect();
                let dashed = view::is_tcg(p);
                if dashed {
                    // Emulated VMs are drawn dashed so a TCG line is never taken for KVM.
                    for w in pts.windows(2) {
                        let steps = 8;
                        for s in (0..steps).step_by(2) {
                            let t0 = s as f64 / steps as f64;
                            let t1 = (s + 1) as f64 / steps as f64;
                            let lerp = |t: f64| {
                                (
                                    w[0].0 + (w[1].0 - w[0].0) * t,
                                    (w[0].1.ln() + (w[1].1.ln() - w[0].1.ln()) * t).exp(),
                                )
                            };
                            c.draw_series(std::iter::once(PathElement::new(
                                vec![lerp(t0), lerp(t1)],
                                colour.stroke_width(3),
                            )))?;
                        }
                    }
                } else {
                    c.draw_series(LineSeries::new(pts.clone(), colour.stroke_width(3)))?;
                }
                c.draw_series(pts.iter().map(|&pt| Circle::new(pt, 4, colour.filled())))?;
            }
            for (i, (p, v, bad)) in lines.iter().enumerate() {
                let y = 6 + i as i32 * 20;
                let colour = view::colour(r, &p.label);
                legend.draw(&Rectangle::new(
                    [(92, y), (112, y + 12)],
                    rgb(colour).filled(),
                ))?;
                let mut text = format!(
                    "{}: p50 {}, p99 {}, max {}",
                    view::display(p),
                    fmt_us(v[0]),
                    fmt_us(v[2]),
                    fmt_us(v[4])
                );
                if *bad > 0 {
                    text.push_str(&format!(" ({bad} failed requests)"));
                }
                if view::is_tcg(p) {
                    text.push_str(" (dashed: emulated, TCG)");
                }
                legend.draw(&Text::new(
                    text,
                    (120, y + 6),
                    label_style(16).pos(Pos::new(HPos::Left, VPos::Center)),
                ))?;
            }
            Ok(())
        },
    )
}

/// Closed-loop maximum throughput per platform.
pub fn throughput(r: &RunResults) -> Option<Chart> {
    let bars: Vec<Bar> = view::measured(r)
        .filter_map(|p| {
            let t = p.max_throughput_rps.as_ref()?;
            Some(Bar {
                group: view::display(p),
                colour: view::colour(r, &p.label),
                shade: 0.0,
                value: t.rps,
                whisker: iqr(&t.per_second),
                text: format!(
                    "{} requests/s ({} connections)",
                    fmt_num(t.rps),
                    t.connections
                ),
            })
        })
        .collect();
    if bars.is_empty() {
        return None;
    }
    let title = "Maximum throughput (closed loop)";
    Some(chart(
        "chart-throughput",
        title,
        "Bars are correct answers per second with every connection sending its next request \
         as soon as the previous one is answered; whiskers are the IQR over one-second \
         slices. Longer is better.",
        bars_height(&bars),
        |root| hbars(root, "requests per second", &bars, 1.0),
    ))
}

/// Artifact sizes per platform (binary, image, kernel, disks), each file once per
/// platform however many variants run from it.
pub fn artifacts(r: &RunResults) -> Option<Chart> {
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
    Some(chart(
        "chart-artifacts",
        title,
        "Each bar is one file or image a platform needs, as stored on this host. Longer bars \
         are more to build, store and move between machines.",
        bars_height(&bars),
        |root| hbars(root, "MiB", &bars, MIB),
    ))
}

/// Every chart the run's figures allow, in page order.
pub fn all(r: &RunResults) -> Vec<Chart> {
    let mut out = Vec::new();
    out.extend(startup(r));
    out.extend(startup_phases(r));
    out.extend(memory(r));
    out.extend(density(r));
    out.extend(cpu_idle(r));
    out.extend(cpu_per_1k(r));
    out.extend(latency(r));
    out.extend(throughput(r));
    out.extend(artifacts(r));
    out.extend(faults(r));
    out
}

/// One kill trial of one platform: its name and its time series (`fault_<trial>_*`).
pub struct FaultRow<'a> {
    pub platform: &'a PlatformResult,
    pub trial: String,
    pub ok: &'a [f64],
    pub errors: &'a [f64],
}

/// Every kill trial recorded in the run, in platform order then trial order.
pub fn fault_rows(r: &RunResults) -> Vec<FaultRow<'_>> {
    fault_rows_of(&view::measured(r).collect::<Vec<_>>())
}

/// [`fault_rows`] of some platforms.
pub fn fault_rows_of<'a>(ps: &[&'a PlatformResult]) -> Vec<FaultRow<'a>> {
    let mut rows = Vec::new();
    for &p in ps {
        let trials: Vec<&str> = p
            .extras
            .keys()
            .filter_map(|k| k.strip_prefix("fault_")?.strip_suffix("_ok_per_100ms"))
            .collect();
        for t in trials {
            let (Some(ok), Some(err)) = (
                p.extras.get(&format!("fault_{t}_ok_per_100ms")),
                p.extras.get(&format!("fault_{t}_errors_per_100ms")),
            ) else {
                continue;
            };
            if ok.samples.is_empty() {
                continue;
            }
            rows.push(FaultRow {
                platform: p,
                trial: t.to_string(),
                ok: &ok.samples,
                errors: &err.samples,
            });
        }
    }
    // Engine trials first (what C7 is about), platforms in run order within a trial.
    rows.sort_by_key(|row| fault_order(&row.trial).0);
    rows
}

/// Where a trial ran, for its row: docker's engine trials on the private engine, and
/// podman's on containers of their own, both on the host network; the sub-service
/// trials on the variant (docker) or processes of their own (native).
pub fn fault_where(row: &FaultRow) -> String {
    match row.trial.as_str() {
        "dockerd_kill" | "dockerd_kill_live_restore" | "containerd_kill" => {
            "docker, private engine".into()
        }
        "conmon_kill" => "podman, host network".into(),
        _ => view::display(row.platform),
    }
}

/// Engine trials first (what C7 is about), then the sub-service ones.
fn fault_order(trial: &str) -> (usize, String) {
    let rank = [
        "dockerd_kill",
        "dockerd_kill_live_restore",
        "containerd_kill",
        "conmon_kill",
        "mul_kill",
        "mul_kill_supervised",
    ]
    .iter()
    .position(|t| *t == trial)
    .unwrap_or(99);
    (rank, trial.to_string())
}

/// What a trial did, in words ("kill -9 dockerd, live-restore on").
pub fn fault_trial_name(trial: &str) -> String {
    match trial {
        "dockerd_kill" => "kill -9 dockerd".into(),
        "dockerd_kill_live_restore" => "kill -9 dockerd, live-restore on".into(),
        "containerd_kill" => "kill -9 containerd".into(),
        "conmon_kill" => "kill -9 the calculator's conmon".into(),
        "mul_kill" => "kill -9 mul, no restart policy".into(),
        "mul_kill_supervised" => "kill -9 mul, restart policy".into(),
        other => other.replace('_', " "),
    }
}

/// Share of failed probes in each 100 ms bucket, None where no probe fell in it.
pub fn error_rates(ok: &[f64], errors: &[f64]) -> Vec<Option<f64>> {
    ok.iter()
        .zip(errors)
        .map(|(o, e)| (o + e > 0.0).then(|| e / (o + e)))
        .collect()
}

/// The error rate over time around every kill: one strip per trial, one cell per
/// 100 ms, green when every probe of the cell was answered correctly, red when every
/// one failed, grey when none was sent (a probe waiting on its 200 ms deadline).
pub fn faults(r: &RunResults) -> Option<Chart> {
    let rows = fault_rows(r);
    if rows.is_empty() {
        return None;
    }
    let before = crate::measure::fault::BEFORE.as_secs_f64();
    let bucket = crate::measure::fault::BUCKET.as_secs_f64();
    let longest = rows
        .iter()
        .map(|row| row.ok.len() as f64 * bucket - before)
        .fold(0.0, f64::max)
        .max(1.0);
    let x_max = longest.ceil();
    let title = "Error rate over time around each kill (per 100 ms)";
    let height = 130 + rows.len() as u32 * 34;
    const LABELS: u32 = 400;
    Some(chart(
        "chart-faults",
        title,
        "Each strip is one kill trial; time runs left to right from 1 s before the kill \
         (the black line at 0). Each cell is 100 ms of probes (POST every 50 ms, 200 ms \
         deadline): green when every answer was correct, red when every probe failed, \
         orange in between, grey when no probe was sent (one was waiting for its \
         deadline). A strip that stays green after 0 kept serving; red that turns green \
         again is a restart. On the dockerd strips a tick marks dockerd being started \
         again, 3 s after the kill.",
        height,
        |root| {
            let (plot, key) = root.split_vertically(height - 34);
            let y_max = rows.len() as f64;
            let mut c = ChartBuilder::on(&plot)
                .margin(12)
                .x_label_area_size(44)
                .y_label_area_size(LABELS)
                .build_cartesian_2d(-before..x_max, 0.0..y_max)?;
            c.configure_mesh()
                .disable_y_mesh()
                .y_labels(0)
                .x_labels(12)
                .x_desc("seconds from the kill")
                .x_label_formatter(&|v| tick(*v))
                .label_style((FONT, 16))
                .axis_desc_style((FONT, 17))
                .draw()?;
            for (i, row) in rows.iter().enumerate() {
                let top = y_max - i as f64 - 0.12;
                let bottom = y_max - i as f64 - 0.88;
                for (k, rate) in error_rates(row.ok, row.errors).into_iter().enumerate() {
                    let x0 = k as f64 * bucket - before;
                    let fill = match rate {
                        None => RGBColor(0xd8, 0xdd, 0xe6),
                        Some(e) if e <= 0.0 => RGBColor(0x3b, 0x9c, 0x4f),
                        Some(e) if e >= 1.0 => RGBColor(0xc6, 0x28, 0x28),
                        Some(_) => RGBColor(0xf0, 0x9a, 0x1a),
                    };
                    c.draw_series(std::iter::once(Rectangle::new(
                        [(x0, bottom), ((x0 + bucket).min(x_max), top)],
                        fill.filled(),
                    )))?;
                }
                if row.trial.starts_with("dockerd") {
                    // dockerd is started again AFTER the kill: mark it on its strip.
                    let at = crate::measure::fault::AFTER.as_secs_f64();
                    c.draw_series(std::iter::once(PathElement::new(
                        vec![(at, bottom - 0.08), (at, top + 0.08)],
                        BLACK.stroke_width(2),
                    )))?;
                    let (px, py) = c.backend_coord(&(at, top));
                    root.draw(&Text::new(
                        "dockerd started again",
                        (px + 4, py + 2),
                        label_style(12).pos(Pos::new(HPos::Left, VPos::Top)),
                    ))?;
                }
                let colour = view::colour(r, &row.platform.label);
                let label = format!("{} · {}", fault_where(row), fault_trial_name(&row.trial));
                draw_row_label(
                    root,
                    &c.backend_coord(&(-before, (top + bottom) / 2.0)),
                    &label,
                    colour,
                )?;
            }
            c.draw_series(std::iter::once(PathElement::new(
                vec![(0.0, 0.0), (0.0, y_max)],
                BLACK.stroke_width(2),
            )))?;
            let mut x = LABELS as i32 + 12;
            for (text, fill) in [
                ("all correct", RGBColor(0x3b, 0x9c, 0x4f)),
                ("some failed", RGBColor(0xf0, 0x9a, 0x1a)),
                ("all failed", RGBColor(0xc6, 0x28, 0x28)),
                ("no probe sent", RGBColor(0xd8, 0xdd, 0xe6)),
            ] {
                key.draw(&Rectangle::new([(x, 8), (x + 14, 22)], fill.filled()))?;
                key.draw(&Text::new(
                    text,
                    (x + 20, 15),
                    label_style(15).pos(Pos::new(HPos::Left, VPos::Center)),
                ))?;
                x += 140;
            }
            Ok(())
        },
    ))
}

/// Density: memory per copy and startup of the last copy against the number of copies
/// running, one line per platform (log scales: a VM's figures are orders of magnitude
/// above a process's).
pub fn density(r: &RunResults) -> Option<Chart> {
    type Line<'a> = (&'a PlatformResult, Vec<(f64, f64)>, Vec<(f64, f64)>);
    let lines: Vec<Line> = view::measured(r)
        .filter_map(|p| {
            let d = p.density.as_ref()?;
            let mem: Vec<(f64, f64)> = d
                .steps
                .iter()
                .filter(|s| s.memory_bytes > 0)
                .map(|s| (s.n as f64, s.memory_per_copy_bytes() / MIB))
                .collect();
            let start: Vec<(f64, f64)> = d
                .steps
                .iter()
                .filter_map(|s| Some((s.n as f64, *s.startup_ms.last()?)))
                .collect();
            (!mem.is_empty() || !start.is_empty()).then_some((p, mem, start))
        })
        .collect();
    if lines.is_empty() {
        return None;
    }
    let max_n = lines
        .iter()
        .flat_map(|(_, m, s)| m.iter().chain(s).map(|p| p.0))
        .fold(1.0, f64::max);
    let range = |vals: Vec<f64>| {
        let lo = vals.iter().copied().fold(f64::INFINITY, f64::min).max(1e-3);
        let hi = vals.iter().copied().fold(0.0, f64::max).max(lo * 10.0);
        (lo / 1.5, hi * 1.5)
    };
    let (mlo, mhi) = range(lines.iter().flat_map(|l| l.1.iter().map(|p| p.1)).collect());
    let (slo, shi) = range(lines.iter().flat_map(|l| l.2.iter().map(|p| p.1)).collect());
    let legend_rows = lines.len() as u32;
    let height = 420 + legend_rows * 20;
    Some(chart(
        "chart-density",
        "Density: memory per copy and startup of the last copy, against copies running",
        "One line per platform. Left: host memory of all copies divided by their number \
         (the platform's fixed cost, such as the Docker daemons, not included): flat means \
         each copy costs the same, falling means copies share memory. Right: how long the \
         last copy took to answer while the others ran. Log scales; lower is cheaper.",
        height,
        |root| {
            let (plots, legend) = root.split_vertically(height - legend_rows * 20 - 10);
            let (left, right) = plots.split_horizontally(WIDTH / 2);
            let panels = [
                (&left, "memory per copy (MiB, log)", mlo, mhi, true),
                (&right, "startup of the last copy (log)", slo, shi, false),
            ];
            for (area, desc, lo, hi, is_mem) in panels {
                let mut c = ChartBuilder::on(area)
                    .margin(12)
                    .x_label_area_size(40)
                    .y_label_area_size(70)
                    .build_cartesian_2d((0.8..max_n * 1.25).log_scale(), (lo..hi).log_scale())?;
                c.configure_mesh()
                    .x_desc("copies running (log)")
                    .y_desc(desc)
                    .x_label_formatter(&|v| tick(v.round()))
                    .y_label_formatter(&|v| if is_mem { tick(*v) } else { tick_ms(*v) })
                    .label_style((FONT, 15))
                    .axis_desc_style((FONT, 16))
                    .draw()?;
                for (p, mem, start) in &lines {
                    let colour = rgb(view::colour(r, &p.label));
                    let pts = if is_mem { mem } else { start };
                    c.draw_series(LineSeries::new(pts.clone(), colour.stroke_width(3)))?;
                    c.draw_series(pts.iter().map(|&pt| Circle::new(pt, 4, colour.filled())))?;
                }
            }
            for (i, (p, mem, _)) in lines.iter().enumerate() {
                let y = 6 + i as i32 * 20;
                let colour = view::colour(r, &p.label);
                legend.draw(&Rectangle::new(
                    [(92, y), (112, y + 12)],
                    rgb(colour).filled(),
                ))?;
                let d = p.density.as_ref().expect("filtered above");
                let mut text = format!("{}: {}", view::display(p), d.copy);
                if let Some(&(n, m)) = mem.last() {
                    text.push_str(&format!(", {} per copy at {n}", fmt_bytes(m * MIB)));
                }
                if d.stopped.is_some() {
                    text.push_str(" (sweep stopped early, see the table)");
                }
                legend.draw(&Text::new(
                    text,
                    (120, y + 6),
                    label_style(16).pos(Pos::new(HPos::Left, VPos::Center)),
                ))?;
            }
            Ok(())
        },
    ))
}
