//! The latency section: its charts and its table of figures.

use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use crate::report::charts::{label_style, make_chart, rgb, tick_us, Chart, FONT};

use crate::report::view::{self, esc, fmt_us};
use crate::report::widgets::{figures, figures_table, not_measured, num, section};
use crate::results::{PlatformResult, RunResults};
use crate::stats::fmt_num;

pub(crate) fn latency(out: &mut String, r: &RunResults, charts: &[Chart]) {
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
pub fn charts(r: &RunResults) -> Vec<Chart> {
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
    make_chart(
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
