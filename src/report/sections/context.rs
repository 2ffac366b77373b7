//! The section "This host and this run": the host, then one folded block per platform with its variants' settings and details.

use std::fmt::Write as _;

use crate::report::view::{self, esc, fmt_bytes, fmt_ms, Kind};
use crate::report::widgets::{fold, platform_cell, platform_names, section, swatch};
use crate::results::{keys, PlatformResult, RunResults};

/// Where the figures were taken: the host, then one folded block per platform with its
/// variants' settings and details. Read when a figure needs its context, not before.
pub(crate) fn context(out: &mut String, r: &RunResults) {
    section(out, "context", "This host and this run");
    let h = &r.host;
    fold(
        out,
        "host",
        &format!(
            "<strong>{}</strong>: {} ({} logical cores), {} of memory, kernel {}",
            esc(&h.hostname),
            esc(&h.cpu_model),
            h.cores,
            esc(&fmt_bytes(h.memory_bytes as f64)),
            esc(&h.kernel)
        ),
    );
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
            // Why that accelerator: the KVM probe's result or the scenario's request.
            let reason = p
                .details
                .get(keys::ACCELERATOR_REASON)
                .map(|s| format!(" — {}", esc(s)))
                .unwrap_or_default();
            format!(
                "{}: <strong>{}</strong>{reason}",
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
    out.push_str("</tbody></table>\n</details>\n");
    out.push_str(&crate::report::stopping::fold(r));
    platforms(out, r);
    out.push_str("</section>\n");
}

/// One folded block per platform: its variants, their settings and details.
fn platforms(out: &mut String, r: &RunResults) {
    out.push_str("<h3>Platforms</h3>\n");
    let kv = |m: &std::collections::BTreeMap<String, String>| {
        m.iter()
            .map(|(k, v)| format!("{}: {}", esc(k), esc(v)))
            .collect::<Vec<_>>()
            .join("<br>")
    };
    for name in platform_names(r) {
        let variants: Vec<&PlatformResult> =
            r.platforms.iter().filter(|p| p.name == name).collect();
        let measured: Vec<String> = variants
            .iter()
            .filter(|p| p.available)
            .map(|p| esc(&view::display(p)))
            .collect();
        let off: Vec<String> = variants
            .iter()
            .filter(|p| !p.available)
            .map(|p| {
                esc(p
                    .unavailable_reason
                    .as_deref()
                    .unwrap_or("no reason recorded"))
            })
            .collect();
        let errors = variants
            .iter()
            .filter(|p| p.available && p.error.is_some())
            .count();
        let mut status = Vec::new();
        if !measured.is_empty() {
            status.push(format!("measured: {}", measured.join(", ")));
        }
        if errors > 0 {
            status.push(format!(
                "<span class=\"warn\">{errors} with an error</span>"
            ));
        }
        if !off.is_empty() {
            status.push(format!(
                "<span class=\"badge off\">unavailable</span> {}",
                off.join("; ")
            ));
        }
        if measured.is_empty() {
            // Nothing to unfold: the reason is the whole story.
            let _ = writeln!(
                out,
                "<p class=\"platform\" id=\"platform-{}\"><strong>{}</strong> — {}</p>",
                esc(name),
                esc(name),
                status.join(" · ")
            );
            continue;
        }
        let _ = writeln!(
            out,
            "<details class=\"platform\" id=\"platform-{}\"><summary>{}<strong>{}</strong> — {}</summary>",
            esc(name),
            swatch(r, variants[0]),
            esc(name),
            status.join(" · ")
        );
        out.push_str("<table><thead><tr><th>Variant</th><th>Status</th><th>Variant settings</th><th>Details</th></tr></thead><tbody>\n");
        for p in &variants {
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
            let _ = writeln!(
                out,
                "<tr><td>{}</td><td>{status}</td><td>{}</td><td>{}</td></tr>",
                platform_cell(r, p),
                kv(&p.variant),
                kv(&p.details)
            );
        }
        out.push_str("</tbody></table>\n</details>\n");
    }
}
