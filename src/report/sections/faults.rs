//! The report's "Faults" section, C7's evidence: what the calculator did while a
//! container engine's daemon, a container's monitor or one of its own sub-services was
//! killed under load. The error-rate chart, one row per trial (docker's private engine,
//! podman, the sub-service kills) and a few sentences a student can say in class, built
//! only from the `fault_*` figures present.

use std::fmt::Write as _;

use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use crate::report::charts::{draw_row_label, label_style, make_chart, tick, Chart, FONT};
use crate::report::view::{self, esc, fmt_ms};
use crate::results::{PlatformResult, RunResults};
use crate::stats::Series;

fn get<'a>(p: &'a PlatformResult, trial: &str, what: &str) -> Option<&'a Series> {
    p.extras
        .get(&format!("fault_{trial}_{what}"))
        .filter(|s| s.summary.n > 0)
}

/// A count as a whole number ("58", not "58.0").
pub(crate) fn whole(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        crate::stats::fmt_num(v)
    }
}

/// A failure's reason without the "HTTP 502: " its kind already says.
fn reason_only<'a>(kind: &str, reason: &'a str) -> &'a str {
    reason.strip_prefix(&format!("{kind}: ")).unwrap_or(reason)
}

fn yes_no(s: Option<&Series>, yes: &str, no: &str) -> Option<String> {
    s.map(|s| {
        if s.summary.median >= 0.5 {
            yes.to_string()
        } else {
            no.to_string()
        }
    })
}

/// Failed probes after the kill by kind, with the first reason of each kind.
fn failures(p: &PlatformResult, trial: &str) -> Vec<(String, f64, Option<String>)> {
    let prefix = format!("fault_{trial}_");
    p.extras
        .iter()
        .filter_map(|(k, s)| {
            let kind = k.strip_prefix(&prefix)?;
            let shown = match kind {
                "no_answer" => "no answer".to_string(),
                "wrong_answer" => "wrong answer".to_string(),
                k if k.starts_with("http_") && k[5..].chars().all(|c| c.is_ascii_digit()) => {
                    format!("HTTP {}", &k[5..])
                }
                _ => return None,
            };
            Some((shown, s.summary.median, s.note.clone()))
        })
        .collect()
}

/// What happened in one trial, in one sentence.
pub fn trial_sentence(p: &PlatformResult, trial: &str) -> Option<String> {
    let survived = get(p, trial, "survived")?.summary.median >= 0.5;
    let fraction = get(p, trial, "answered_fraction").map(|s| s.summary.median);
    let mut s = format!(
        "{} ({}): the calculator {}",
        fault_trial_name(trial),
        p.name,
        match (trial.starts_with("mul_kill"), survived) {
            (false, true) => "kept answering",
            (false, false) => "stopped answering",
            // A sub-service kill always costs answers; "survived" there means the
            // service was back before the end of the 3 s window.
            (true, true) => "failed for a moment, then answered correctly again",
            (true, false) => "failed from the kill to the end of the 3 s window",
        }
    );
    if let Some(f) = fraction {
        let _ = write!(
            s,
            " ({}% of probes correct in the 3 s after the kill)",
            crate::stats::fmt_num(f * 100.0)
        );
    }
    if let Some(r) = yes_no(
        get(p, trial, "containers_running"),
        "its processes were still running",
        "its processes were gone",
    ) {
        let _ = write!(s, "; {r}");
    }
    let restart = get(p, trial, "restart_containers_running");
    match trial {
        t if t.starts_with("dockerd") => {
            if let Some(r) = yes_no(
                restart,
                "once dockerd was started again the engine still ran the containers",
                "once dockerd was started again the engine had stopped the containers",
            ) {
                let _ = write!(s, "; {r}");
            }
        }
        t if t.starts_with("mul_kill") => {
            let fails = failures(p, trial);
            if let Some((kind, n, reason)) = fails.iter().max_by(|a, b| a.1.total_cmp(&b.1)) {
                let _ = write!(
                    s,
                    "; the failures were mostly {kind} ({} probes{})",
                    whole(*n),
                    reason
                        .as_deref()
                        .map(|r| format!(": {}", reason_only(kind, r)))
                        .unwrap_or_default()
                );
            }
        }
        _ => {}
    }
    match p.extras.get(&format!("fault_{trial}_restart_to_answer_ms")) {
        Some(b) if b.summary.n > 0 && b.summary.median > 0.0 => {
            let from = if trial.starts_with("dockerd") {
                "the restart"
            } else {
                "the kill"
            };
            let _ = write!(
                s,
                "; correct answers again {} after {from}",
                fmt_ms(b.summary.median)
            );
        }
        Some(b) if b.summary.n == 0 => s.push_str("; not answering again within 10 s"),
        _ => {}
    }
    s.push('.');
    Some(s)
}

/// C7 in one sentence a student can say in class, from the dockerd trials present.
pub fn c7_headline(r: &RunResults) -> Option<String> {
    let rows = fault_rows(r);
    let find = |t: &str| {
        rows.iter()
            .find(|row| row.trial == t)
            .map(|row| row.platform)
    };
    let p = find("dockerd_kill")?;
    let kept = get(p, "dockerd_kill", "survived")?.summary.median >= 0.5;
    let mut s = if kept {
        "Killing Docker's daemon did not kill its containers: the calculator kept answering while dockerd was dead".to_string()
    } else {
        "Killing Docker's daemon took its containers down: the calculator stopped answering once dockerd was dead".to_string()
    };
    match get(p, "dockerd_kill", "restart_containers_running").map(|s| s.summary.median >= 0.5) {
        Some(false) => s.push_str(
            "; it is starting dockerd again (without live-restore, the default) that stopped every container",
        ),
        Some(true) => s.push_str("; starting dockerd again left them running"),
        None => {}
    }
    if let Some(lr) = find("dockerd_kill_live_restore") {
        let both = get(lr, "dockerd_kill_live_restore", "survived").zip(get(
            lr,
            "dockerd_kill_live_restore",
            "restart_containers_running",
        ));
        if let Some((a, b)) = both {
            if a.summary.median >= 0.5 && b.summary.median >= 0.5 {
                s.push_str(
                    ", while with live-restore on they ran through the kill and the restart",
                );
            }
        }
    }
    s.push('.');
    Some(s)
}

/// The C7 result in words, docker first, then podman's fact.
pub fn c7_sentences(r: &RunResults) -> Vec<String> {
    let mut out = Vec::new();
    out.extend(c7_headline(r));
    for row in fault_rows(r) {
        if row.trial.starts_with("mul_kill") {
            continue;
        }
        out.extend(trial_sentence(row.platform, &row.trial));
    }
    // Recorded by podman only: how many podman processes served its containers.
    let daemons =
        view::measured(r).find_map(|p| p.extras.get(crate::results::keys::PODMAN_DAEMON_PROCESSES));
    if let Some(n) = daemons {
        if n.summary.n > 0 && n.summary.median == 0.0 {
            out.push("Podman has no daemon to kill: no podman process was running while its containers served (each container has its own conmon monitor instead, killed above).".into());
        }
    }
    out
}

pub fn section(r: &RunResults, all: &[Chart]) -> String {
    let mut out = String::new();
    out.push_str("<section id=\"faults\"><h2>Faults: killed daemons, monitors and services</h2>\n");
    out.push_str("<p>While the calculator serves, a prober sends <code>POST</code> every 50 ms (200 ms deadline) and each answer is checked. Then something is killed with <code>kill -9</code>: Docker's daemon (<code>dockerd</code>, with live-restore off and on) and its <code>containerd</code> on a private engine the run starts and removes, never the host's own; the <code>conmon</code> that Podman leaves beside each container (Podman has no daemon); and the calculator's <code>mul</code> sub-service, without and with a restart policy (<code>docker --restart always</code>, a respawn for native processes). The probe of the engine trials is <code>(5+3)/2</code>; the sub-service trials send <code>2*(3+4)-10/4</code>, which needs <code>mul</code>.</p>\n");
    let sentences = c7_sentences(r);
    if !sentences.is_empty() {
        out.push_str("<div class=\"summary\">\n");
        for s in &sentences {
            let _ = writeln!(out, "<p>{}</p>", esc(s));
        }
        out.push_str("</div>\n");
    }
    match all.iter().find(|c| c.id == "chart-faults") {
        Some(c) => out.push_str(&crate::report::widgets::figure(c)),
        None => out.push_str("<p class=\"nm\">Not measured: no kill test ran in this run (scenario <code>[docker] faults</code>, <code>[podman] faults</code>, <code>[experiments] service_kill</code>).</p>\n"),
    }
    let rows = fault_rows(r);
    if rows.is_empty() {
        out.push_str("</section>\n");
        return out;
    }
    // Per-trial details are evidence, read on demand: the sentence and the chart above
    // carry the verdict (the page stays a few screens long).
    crate::report::widgets::fold(
        &mut out,
        "numbers",
        "Every trial: what kept running, when service came back, and each failure's reason",
    );
    out.push_str("<table class=\"dense\"><thead><tr><th>Where</th><th>Trial</th><th>Kept answering</th><th>Correct in the 3 s after</th><th>Workload still running</th><th>After the restart</th><th>Failed probes after the kill</th></tr></thead><tbody>\n");
    let nm = "<span class=\"nm\">—</span>";
    for row in &rows {
        let (p, t) = (row.platform, row.trial.as_str());
        let survived = yes_no(get(p, t, "survived"), "yes", "no");
        let fraction = get(p, t, "answered_fraction")
            .map(|s| format!("{}%", crate::stats::fmt_num(s.summary.median * 100.0)));
        let running = yes_no(get(p, t, "containers_running"), "yes", "no");
        let mut after = Vec::new();
        if let Some(l) = yes_no(
            get(p, t, "restart_containers_running"),
            "listed running",
            "not running",
        ) {
            after.push(l);
        }
        match p.extras.get(&format!("fault_{t}_restart_to_answer_ms")) {
            Some(b) if b.summary.n > 0 => {
                after.push(format!("correct again after {}", fmt_ms(b.summary.median)))
            }
            Some(_) => after.push("not back within 10 s".into()),
            None => {}
        }
        let fails: Vec<String> = failures(p, t)
            .into_iter()
            .map(|(kind, n, reason)| {
                format!(
                    "{} {}{}",
                    whole(n),
                    esc(&kind),
                    reason
                        .map(|r| format!(
                            " <span class=\"muted\">({})</span>",
                            esc(reason_only(&kind, &r))
                        ))
                        .unwrap_or_default()
                )
            })
            .collect();
        let opt = |v: Option<String>| v.map(|v| esc(&v)).unwrap_or_else(|| nm.to_string());
        let _ = writeln!(
            out,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td class=\"num\">{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(&fault_where(row)),
            esc(&fault_trial_name(t)),
            opt(survived),
            opt(fraction),
            opt(running),
            if after.is_empty() { nm.to_string() } else { esc(&after.join(", ")) },
            if fails.is_empty() { "none".to_string() } else { fails.join("<br>") }
        );
    }
    out.push_str("</tbody></table>\n");
    out.push_str("<p class=\"muted\">Docker's engine trials run on a private engine with the five containers on the host's network, recorded under the first docker variant; \"after the restart\" is dockerd started again with the same live-restore setting (for containerd, dockerd's own restart of it). Podman's trial uses the host network too; Podman has no daemon to restart, so \"after the restart\" is what the next <code>podman ps</code> lists. Time series per trial: <code>fault_&lt;trial&gt;_ok_per_100ms</code> and <code>fault_&lt;trial&gt;_errors_per_100ms</code> in results.json (docs/results-schema.md).</p>\n");
    out.push_str("</details>\n</section>\n");
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
pub fn chart(r: &RunResults) -> Option<Chart> {
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
    Some(make_chart(
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
