//! The density section: how many copies fit, its chart and table.

use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use crate::report::charts::{label_style, make_chart, rgb, tick, tick_ms, Chart, FONT, WIDTH};
use crate::report::view::MIB;
use std::fmt::Write as _;

use crate::report::view::{self, esc, fmt_bytes, fmt_ms, fmt_us};
use crate::report::widgets::{figure, platform_cell, section, NOT_MEASURED};
use crate::results::{PlatformResult, RunResults};

pub(crate) fn density(out: &mut String, r: &RunResults, charts: &[Chart]) {
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

/// Density: memory per copy and startup of the last copy against the number of copies
/// running, one line per platform (log scales: a VM's figures are orders of magnitude
/// above a process's).
pub fn chart(r: &RunResults) -> Option<Chart> {
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
    Some(make_chart(
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
