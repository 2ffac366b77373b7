//! A run as the judges see it: platforms sorted by kind, the reason a side has no
//! figure, and which VMs a VM-vs-container claim is judged on. Emulated VMs (QEMU TCG,
//! from the accelerator each result records) stand for the VM side only when no
//! hardware-assisted VM has the figure; the verdict then says "emulated VM only".

use super::rules::Named;
use super::{Figure, Health, Outcome, Verdict};
use crate::report::view::{self, Kind};
use crate::results::facts::{Hypervisor, Isolation};
use crate::results::{PlatformResult, RunResults};
use crate::stats::Series;

pub(super) struct Run<'a> {
    pub r: &'a RunResults,
    pub natives: Vec<&'a PlatformResult>,
    pub cts: Vec<&'a PlatformResult>,
    pub vms: Vec<&'a PlatformResult>,
    /// VMs then containers.
    pub vm_and_ct: Vec<&'a PlatformResult>,
    /// Native, VMs, containers: everything a figure is shown for.
    pub all: Vec<&'a PlatformResult>,
}

fn of_kind(r: &RunResults, k: Kind) -> Vec<&PlatformResult> {
    view::measured(r).filter(|p| view::kind(p) == k).collect()
}

impl<'a> Run<'a> {
    pub fn new(r: &'a RunResults) -> Run<'a> {
        let natives = of_kind(r, Kind::Native);
        let cts = of_kind(r, Kind::Container);
        let vms = of_kind(r, Kind::Vm);
        let vm_and_ct: Vec<&PlatformResult> = vms.iter().chain(&cts).copied().collect();
        let all = natives.iter().chain(&vm_and_ct).copied().collect();
        Run {
            r,
            natives,
            cts,
            vms,
            vm_and_ct,
            all,
        }
    }

    /// Why no figure exists for platform `name`: unavailable (with its reason), not in
    /// the scenario, or available but silent.
    pub fn why_missing(&self, name: &str, pretty: &str) -> String {
        let ps: Vec<&PlatformResult> = self.r.platforms.iter().filter(|p| p.name == name).collect();
        if ps.is_empty() {
            return format!("{pretty} not in this run's scenario");
        }
        if let Some(p) = ps.iter().find(|p| !p.available) {
            return format!(
                "no {pretty} on this host ({})",
                p.unavailable_reason.as_deref().unwrap_or("unavailable")
            );
        }
        if let Some(p) = ps.iter().find(|p| p.error.is_some()) {
            return format!(
                "{pretty} failed: {}",
                p.error.as_deref().unwrap_or_default()
            );
        }
        format!("{pretty} did not record the figures this claim needs")
    }

    /// Why no platform of kind `k` has figures: for native and containers, the first
    /// such platform's reason (the reference one); for VMs, every VM platform's.
    pub fn kind_missing(&self, k: Kind) -> String {
        let of = |isolation: Isolation| {
            self.r
                .known_platforms()
                .into_iter()
                .filter(|(_, f)| f.isolation == isolation)
                .collect::<Vec<_>>()
        };
        let first = |isolation: Isolation| {
            of(isolation)
                .first()
                .map(|(name, f)| self.why_missing(name, &f.title))
                .unwrap_or_default()
        };
        match k {
            Kind::Container => first(Isolation::Container),
            Kind::Native => first(Isolation::Process),
            _ => {
                let reasons: Vec<String> = of(Isolation::Vm)
                    .iter()
                    .map(|(name, f)| self.why_missing(name, &f.title))
                    .collect();
                format!("no VM measured: {}", reasons.join("; "))
            }
        }
    }

    /// Why no platform whose VMs run on hypervisor `h` has figures.
    pub fn hypervisor_missing(&self, h: Hypervisor) -> String {
        self.r
            .known_platforms()
            .iter()
            .filter(|(_, f)| f.hypervisor == Some(h))
            .map(|(name, f)| self.why_missing(name, &f.title))
            .collect::<Vec<_>>()
            .join("; ")
    }

    /// Why a VM-vs-container claim has no verdict when a side has no figure (`vm_has`,
    /// `ct_has`): no platform of that kind measured, or `vm_why` / `ct_why`.
    pub fn side_missing(
        &self,
        vm_has: bool,
        ct_has: bool,
        vm_why: &str,
        ct_why: &str,
    ) -> Option<String> {
        let why = |kind, none: bool, why: &str| {
            if none {
                self.kind_missing(kind)
            } else {
                why.to_string()
            }
        };
        if !vm_has {
            return Some(why(Kind::Vm, self.vms.is_empty(), vm_why));
        }
        if !ct_has {
            return Some(why(Kind::Container, self.cts.is_empty(), ct_why));
        }
        None
    }

    /// The missing side of a VM-vs-container claim, or None when both sides have figures.
    pub fn sides_missing(&self, vm: &[Named], ct: &[Named], what: &str) -> Option<String> {
        self.side_missing(
            !vm.is_empty(),
            !ct.is_empty(),
            &format!("no VM recorded {what}"),
            &format!("no container recorded {what}"),
        )
    }

    /// The results `judged_vms` judges on, for reading their samples.
    pub fn judged_vm_results(
        &self,
        f: impl Fn(&PlatformResult) -> Option<f64>,
    ) -> Vec<&'a PlatformResult> {
        let (emulated, hardware): (Vec<&PlatformResult>, Vec<&PlatformResult>) =
            self.vms.iter().copied().partition(|p| view::is_tcg(p));
        let has = |ps: Vec<&'a PlatformResult>| -> Vec<&'a PlatformResult> {
            ps.into_iter().filter(|p| f(p).is_some()).collect()
        };
        let hw = has(hardware);
        if hw.is_empty() {
            has(emulated)
        } else {
            hw
        }
    }

    /// The VMs a VM-vs-container claim judges on for the figure `f`: the
    /// hardware-assisted ones that have it, else the emulated ones.
    pub fn judged_vms(&self, f: impl Fn(&PlatformResult) -> Option<f64>) -> VmSide {
        let (emulated, hardware): (Vec<&PlatformResult>, Vec<&PlatformResult>) =
            self.vms.iter().copied().partition(|p| view::is_tcg(p));
        let hw = named(&hardware, &f);
        let emu = named(&emulated, &f);
        if hw.is_empty() {
            VmSide {
                values: emu,
                emulated_only: true,
                set_aside: Vec::new(),
            }
        } else {
            VmSide {
                values: hw,
                emulated_only: false,
                set_aside: emu.into_iter().map(|(l, _)| l).collect(),
            }
        }
    }
}

/// The VM side of a comparison.
pub(super) struct VmSide {
    pub values: Vec<Named>,
    /// Only emulated VMs had the figure: the verdict is "…, emulated VM only".
    pub emulated_only: bool,
    /// Emulated VMs shown beside but not judged (a hardware-assisted VM was).
    pub set_aside: Vec<String>,
}

impl VmSide {
    /// Any side judged on emulated VMs makes the verdict an emulated-only one.
    pub fn mark(sides: &[&VmSide], out: Outcome) -> Outcome {
        let judged: Vec<String> = sides
            .iter()
            .filter(|s| s.emulated_only)
            .flat_map(|s| s.values.iter().map(|(l, _)| l.clone()))
            .collect();
        let aside: Vec<String> = sides.iter().flat_map(|s| s.set_aside.clone()).collect();
        mark_emulated(out, &judged, &aside)
    }
}

/// `out` judged on the emulated VMs `judged` (its verdict becomes the emulated-only
/// state), with the emulated VMs `aside` shown but not judged; the line names both.
pub(super) fn mark_emulated(mut out: Outcome, judged: &[String], aside: &[String]) -> Outcome {
    if matches!(out.verdict, Verdict::NotMeasured(_)) {
        return out;
    }
    let unique = |ls: &[String]| {
        let mut v: Vec<&str> = ls.iter().map(String::as_str).collect();
        v.sort_unstable();
        v.dedup();
        v.join(", ")
    };
    if !judged.is_empty() {
        out.verdict = out.verdict.emulated_only();
        out.because.push_str(&format!(
            ". Judged on emulated VMs only ({}: QEMU TCG, no hardware virtualization): not a KVM figure",
            unique(judged)
        ));
    }
    if !aside.is_empty() {
        out.because.push_str(&format!(
            ". Emulated VMs shown, not judged: {}",
            unique(aside)
        ));
    }
    out
}

pub(super) fn named(
    ps: &[&PlatformResult],
    f: impl Fn(&PlatformResult) -> Option<f64>,
) -> Vec<Named> {
    ps.iter()
        .filter_map(|p| f(p).map(|v| (view::display(p), v)))
        .collect()
}

/// The median of an `extras` series that has samples.
pub(super) fn extra(p: &PlatformResult, name: &str) -> Option<f64> {
    p.extras
        .get(name)
        .filter(|s| s.summary.n > 0)
        .map(|s| s.summary.median)
}

pub(super) fn health(p: &PlatformResult) -> Option<Health> {
    if p.latency_us.is_empty() {
        return None;
    }
    Some(Health {
        label: view::display(p),
        correct: p.latency_us.iter().map(|l| l.count).sum(),
        failed: p.latency_us.iter().map(|l| l.errors).sum(),
        wrong: p.latency_us.iter().map(|l| l.wrong_answers).sum(),
    })
}

/// p50 latency at the lowest rate the platform was loaded at: (rate, p50 µs).
pub(super) fn p50(p: &PlatformResult) -> Option<(f64, f64)> {
    p.latency_us
        .iter()
        .filter(|l| l.count > 0)
        .min_by(|a, b| a.rate_rps.total_cmp(&b.rate_rps))
        .map(|l| (l.rate_rps, l.p50))
}

/// p50 at exactly `rate`, if the platform was loaded at it.
pub(super) fn p50_at(p: &PlatformResult, rate: f64) -> Option<f64> {
    p.latency_us
        .iter()
        .find(|l| l.rate_rps == rate && l.count > 0)
        .map(|l| l.p50)
}

pub(super) fn fig(p: &PlatformResult, text: String) -> Figure {
    Figure {
        platform: view::display(p),
        text,
    }
}

pub(super) fn series_figs(
    ps: &[&PlatformResult],
    what: &str,
    get: impl Fn(&PlatformResult) -> Option<&Series>,
) -> Vec<Figure> {
    ps.iter()
        .filter_map(|p| get(p).map(|s| fig(p, format!("{what} {}", view::describe(s)))))
        .collect()
}
