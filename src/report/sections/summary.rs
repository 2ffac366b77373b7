//! The report's first screen: what was measured in a few sentences, and the caveats that change how to read it.

use std::fmt::Write as _;

use crate::report::view::{self, fmt_bytes, fmt_ms, fmt_ratio, fmt_us, Kind};
use crate::results::{PlatformResult, RunResults};

/// The colour swatch of a measured platform (none for an unavailable one).
/// The best (lowest) value of a kind of platform, with its display label.
pub(crate) fn best_of(
    r: &RunResults,
    k: Kind,
    f: impl Fn(&PlatformResult) -> Option<f64>,
) -> Option<(String, f64)> {
    view::measured(r)
        .filter(|p| view::kind(p) == k)
        .filter_map(|p| f(p).map(|v| (view::display(p), v)))
        .min_by(|a, b| a.1.total_cmp(&b.1))
}

pub(crate) fn lowest_rate_p50(p: &PlatformResult, rate: f64) -> Option<f64> {
    p.latency_us
        .iter()
        .find(|l| l.rate_rps == rate && l.count > 0)
        .map(|l| l.p50)
}

/// Up to three plain sentences a student can repeat, built only from figures present,
/// plus caveats (TCG, unavailable platforms).
pub(crate) fn summary_sentences(r: &RunResults) -> (Vec<String>, Vec<String>) {
    let mut out = Vec::new();
    let st = |p: &PlatformResult| view::median(&p.startup_ms);
    let ct = best_of(r, Kind::Container, st);
    let vm = best_of(r, Kind::Vm, st);
    let na = best_of(r, Kind::Native, st);
    match (&ct, &vm) {
        (Some((cl, cv)), Some((vl, vv))) => {
            let mut s = if vv >= cv {
                format!(
                    "On this host a container ({cl}) started in {}, {} faster than a VM ({vl}, {})",
                    fmt_ms(*cv),
                    fmt_ratio(vv / cv),
                    fmt_ms(*vv)
                )
            } else {
                format!(
                    "On this host a VM ({vl}) started in {}, {} faster than a container ({cl}, {})",
                    fmt_ms(*vv),
                    fmt_ratio(cv / vv),
                    fmt_ms(*cv)
                )
            };
            if let Some((nl, nv)) = &na {
                let _ = write!(
                    s,
                    "; the same services as plain processes ({nl}) started in {}",
                    fmt_ms(*nv)
                );
            }
            s.push('.');
            out.push(s);
        }
        _ => {
            let all: Vec<String> = view::measured(r)
                .filter_map(|p| st(p).map(|v| format!("{} {}", view::display(p), fmt_ms(v))))
                .collect();
            if !all.is_empty() {
                out.push(format!("Median startup on this host: {}.", all.join(", ")));
            }
        }
    }
    // PSS: the one memory definition the verdicts use.
    let mem = |p: &PlatformResult| view::median(&p.memory_idle_pss_bytes);
    match (best_of(r, Kind::Container, mem), best_of(r, Kind::Vm, mem)) {
        (Some((cl, cv)), Some((vl, vv))) if cv > 0.0 => out.push(format!(
            "While idle, the lightest VM ({vl}) held {} of host memory (PSS), {} the lightest container's ({cl}, {}).",
            fmt_bytes(vv),
            fmt_ratio(vv / cv),
            fmt_bytes(cv)
        )),
        _ => {
            let all: Vec<String> = view::measured(r)
                .filter_map(|p| mem(p).map(|v| format!("{} {}", view::display(p), fmt_bytes(v))))
                .collect();
            if !all.is_empty() {
                out.push(format!("Idle host memory (PSS): {}.", all.join(", ")));
            }
        }
    }
    if let Some(&rate) = super::latency::rates(r).first() {
        let mut parts = Vec::new();
        for (k, name) in [
            (Kind::Native, "as plain processes"),
            (Kind::Container, "in a container"),
            (Kind::Vm, "in a VM"),
        ] {
            if let Some((l, v)) = best_of(r, k, |p| lowest_rate_p50(p, rate)) {
                parts.push(format!("{} {name} ({l})", fmt_us(v)));
            }
        }
        if !parts.is_empty() {
            let last = parts.pop().unwrap_or_default();
            let list = if parts.is_empty() {
                last
            } else {
                format!("{} and {last}", parts.join(", "))
            };
            out.push(format!(
                "At {} requests per second, half of the calculator's answers came back within {list}.",
                view::fmt_rate(rate)
            ));
        }
    }
    // C7, when the daemon-kill trials ran: the sentence a student can say in class.
    out.extend(super::faults::c7_headline(r));
    if out.is_empty() {
        out.push("No platform produced figures in this run.".into());
    }
    let mut caveats = Vec::new();
    let tcg: Vec<String> = view::measured(r)
        .filter(|p| view::is_tcg(p))
        .map(|p| p.label.clone())
        .collect();
    if !tcg.is_empty() {
        caveats.push(format!(
            "VM figures for {} come from QEMU TCG, a software emulator, because hardware virtualization (KVM) was not usable here: a KVM VM would start and answer much faster. They are not KVM figures.",
            tcg.join(", ")
        ));
    }
    let off: Vec<String> = r
        .platforms
        .iter()
        .filter(|p| !p.available)
        .map(|p| {
            format!(
                "{} ({})",
                p.label,
                p.unavailable_reason.as_deref().unwrap_or("unavailable")
            )
        })
        .collect();
    if !off.is_empty() {
        caveats.push(format!("Not measured on this host: {}.", off.join("; ")));
    }
    (out, caveats)
}
