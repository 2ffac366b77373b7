//! The startup section: its charts and its table of figures.

use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use crate::report::charts::{
    draw_row_label, label_style, lighten, make_chart, rgb, tick, tick_ms, with_samples, Chart,
    FONT, LABEL_AREA,
};

use crate::report::view::{self, describe, esc, fmt_ms};
use crate::report::widgets::{cell, figures, figures_table, section, td, NOT_MEASURED};
use crate::results::{PlatformResult, RunResults};
use crate::stats::Series;

pub(crate) fn startup(out: &mut String, r: &RunResults, charts: &[Chart]) {
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
                    .map(|(k, s)| format!("{} {}", esc(&phase_name(k)), esc(&describe(s))))
                    .collect::<Vec<_>>()
                    .join("<br>")
            };
            vec![vec![td(cell(p.startup_ms.as_ref())), td(phases)]]
        },
    );
    out.push_str("</details>\n</section>\n");
}

/// Startup: one box per platform (IQR box, median line, min-max whiskers, every sample a
/// dot) on a log axis, since a process starts in milliseconds and a VM in seconds.
pub fn chart(r: &RunResults) -> Option<Chart> {
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
    Some(make_chart(
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
pub fn phases_chart(r: &RunResults) -> Option<Chart> {
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
    Some(make_chart(
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
