//! The report's charts: plotters drawing into an in-memory SVG string, inlined in the
//! page. Every chart has a title, axis units and a one-line "how to read this"; each
//! platform keeps its colour (`view::colour`) across charts. A chart whose figures are
//! absent everywhere is not drawn (the page says "not measured" instead).

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::view::esc;
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

pub(crate) const WIDTH: u32 = 960;
pub(crate) const FONT: &str = "sans-serif";
pub(crate) const LABEL_AREA: u32 = 250;

type DrawResult = Result<(), Box<dyn std::error::Error>>;

pub(crate) fn rgb(c: (u8, u8, u8)) -> RGBColor {
    RGBColor(c.0, c.1, c.2)
}

/// `c` mixed with white: `amount` 0 keeps the colour, 1 gives white.
pub(crate) fn lighten(c: (u8, u8, u8), amount: f64) -> RGBColor {
    let m = |v: u8| (v as f64 + (255.0 - v as f64) * amount).round() as u8;
    RGBColor(m(c.0), m(c.1), m(c.2))
}

/// Draw with `f` into a fresh SVG string and make it fit for inlining: no xmlns URL (HTML
/// parsers do not need it and the page carries no URL at all), scalable, titled.
pub(crate) fn render_svg(
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

pub(crate) fn make_chart(
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
pub(crate) fn tick(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e12 {
        format!("{}", v as i64)
    } else {
        fmt_num(v)
    }
}

/// Log-axis tick for milliseconds: "10 ms", "1 s".
pub(crate) fn tick_ms(v: f64) -> String {
    if v >= 1000.0 {
        format!("{} s", tick(v / 1000.0))
    } else {
        format!("{} ms", tick(v))
    }
}

/// Log-axis tick for microseconds: "100 µs", "1 ms", "1 s".
pub(crate) fn tick_us(v: f64) -> String {
    if v >= 1_000_000.0 {
        format!("{} s", tick(v / 1_000_000.0))
    } else if v >= 1000.0 {
        format!("{} ms", tick(v / 1000.0))
    } else {
        format!("{} µs", tick(v))
    }
}

pub(crate) fn label_style(size: u32) -> TextStyle<'static> {
    (FONT, size).into_font().color(&BLACK)
}

/// One horizontal bar of a bar chart.
pub(crate) struct Bar {
    /// Platform label shown at the left of the first bar of its group.
    pub(crate) group: String,
    pub(crate) colour: (u8, u8, u8),
    /// 0 = the platform's colour, towards 1 = lighter (a second series of the group).
    pub(crate) shade: f64,
    pub(crate) value: f64,
    /// Spread drawn as a whisker (IQR), in the axis unit.
    pub(crate) whisker: Option<(f64, f64)>,
    /// Printed after the bar: what it is and its value.
    pub(crate) text: String,
}

/// Horizontal bars grouped by platform, linear x axis from 0.
pub(crate) fn hbars(
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
pub(crate) fn layout_rows(bars: &[Bar]) -> Vec<f64> {
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
pub(crate) fn draw_row_label(
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

pub(crate) fn bars_height(bars: &[Bar]) -> u32 {
    let rows = layout_rows(bars);
    let span = rows.last().map_or(1.0, |r| r + 1.0);
    110 + (span * 26.0) as u32
}

pub(crate) fn iqr(s: &Series) -> Option<(f64, f64)> {
    (s.summary.n > 1).then_some((s.summary.p25, s.summary.p75))
}

pub(crate) fn with_samples(s: &Option<Series>) -> Option<&Series> {
    s.as_ref().filter(|s| s.summary.n > 0)
}
