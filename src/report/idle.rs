//! The idle figures as the report words them, kept apart from the page layout: the
//! memory breakdown per platform (the workload, the platform's cost per instance, its
//! fixed cost shared by every instance, and which processes each counted) and the
//! idle CPU cell (resolution of the method, how long the deployment took to settle).

use std::fmt::Write;

use super::view::{self, esc, fmt_bytes, fmt_resolution};
use crate::results::{CpuIdle, MemoryPart, RunResults};
use crate::stats::fmt_num;

/// "0.0123 CPU s over 10 s (0.12% of a core, resolution 1 ns); per 2 s slice: ...;
/// settled after 0.8 s".
pub fn idle_cpu_cell(c: &CpuIdle) -> String {
    let total = match c.measured_seconds() {
        Some(v) => format!(
            "{} CPU s over {} s ({}% of a core, resolution {})",
            fmt_num(v),
            fmt_num(c.window_s),
            fmt_num(v / c.window_s * 100.0),
            fmt_resolution(c.resolution())
        ),
        None => format!(
            "< {} CPU over {} s (below the method's resolution)",
            fmt_resolution(c.resolution()),
            fmt_num(c.window_s)
        ),
    };
    let mut s = format!(
        "{total}; per {} s slice: {}",
        fmt_num(c.slice_s),
        view::describe(&c.per_slice)
    );
    if let Some(st) = &c.settle {
        if st.timed_out {
            let _ = write!(
                s,
                "; still busy after the {} s settling wait (window opened anyway)",
                fmt_num(st.max_wait_s)
            );
        } else {
            let _ = write!(
                s,
                "; settled {} s after its first answer",
                fmt_num(st.waited_s)
            );
        }
    }
    s
}

/// One sentence on how the idle window is chosen, from the first recorded settle.
pub fn settle_rule(r: &RunResults) -> Option<String> {
    let st = r
        .platforms
        .iter()
        .find_map(|p| p.cpu_idle_seconds.as_ref()?.settle.as_ref())?;
    Some(format!(
        "The idle window opens once the deployment has settled: {} consecutive {} ms slices in each of which it used at most {}% of one core, waiting at most {} s (a deployment still busy then is measured busy, and the CPU table says so).",
        st.quiet_slices,
        fmt_num(st.slice_s * 1e3),
        fmt_num(st.threshold_core_share * 100.0),
        fmt_num(st.max_wait_s)
    ))
}

fn part(p: &MemoryPart, none: &str) -> String {
    if p.counted.is_empty() {
        format!("{} <small>({none})</small>", fmt_bytes(p.bytes as f64))
    } else {
        format!(
            "{} <small>({})</small>",
            fmt_bytes(p.bytes as f64),
            esc(&p.counted.join(", "))
        )
    }
}

/// The breakdown table (HTML), or nothing when no platform recorded one.
pub fn breakdown_table(r: &RunResults) -> String {
    let rows: Vec<String> = view::measured(r)
        .filter_map(|p| {
            let b = p.memory_breakdown.as_ref()?;
            Some(format!(
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                esc(&view::display(p)),
                part(&b.workload, "nothing counted"),
                part(&b.per_instance, "none: nothing runs beside the workload"),
                part(&b.shared, "none: no daemon serves every instance"),
            ))
        })
        .collect();
    if rows.is_empty() {
        return String::new();
    }
    let mut out = String::from(
        "<h3>Where the idle memory goes</h3>\n<p>This split is of the RSS / cgroup column (memory resident on the host: RSS of host processes; a container's cgroup usage minus inactive file cache), the one the platforms can split. The workload is the calculator itself (its processes, its containers, or the guest RAM a VM touched); the per-instance cost is what the platform adds for each deployment (hypervisor process minus guest RAM, containerd shims, docker-proxy). These two make up the idle memory above. The shared cost is what the platform runs once for every instance on the host (dockerd + containerd): shown on its own line and never added to a deployment's figure or to a ratio. Counted at the end of the idle window.</p>\n<table><thead><tr><th>Platform</th><th>Workload</th><th>Per-instance platform cost</th><th>Shared platform cost (not in the idle figure)</th></tr></thead><tbody>\n",
    );
    for row in rows {
        out.push_str(&row);
        out.push('\n');
    }
    out.push_str("</tbody></table>\n");
    out
}
