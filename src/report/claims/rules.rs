//! The rules: pure functions from plain numbers to a verdict, the deciding figure in a
//! few words (the `headline` the report's first screen shows) and the one line of
//! figures behind it. Each threshold is the one its claim's `rule` text states
//! (catalogue.rs). A figure measured as zero is below the resolution of its clock or
//! counter: it is never divided by, and the part of a rule that needs it says so.

use super::{Outcome, Verdict};
use crate::report::view::{fmt_bytes, fmt_ms, fmt_ratio};
use crate::results::facts::Isolation;
use crate::stats::fmt_num;
use crate::stats::interval::{self, Interval};
use crate::stats::Summary;

/// A value for one platform variant, by display label.
pub type Named = (String, f64);

/// The repeated samples of one figure for one platform variant, by display label: what
/// a rule needs to put an interval on the figure it decides on.
pub type Samples = (String, Vec<f64>);

/// A deciding figure with its interval, by display label.
pub type Ranged = (String, Interval);

/// A rule's two thresholds on one figure. At or beyond `support_at` the claim holds; at
/// or beyond `contradict_at`, the other way, it is refuted; a figure clearly between
/// them neither supports nor refutes it (mixed). The catalogue states each band beside
/// its claim with the reason for it, and the judges apply the same constants.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Band {
    pub support_at: f64,
    pub contradict_at: f64,
    /// True when higher values speak for the claim (a VM/container ratio), false when
    /// lower ones do (a clone time).
    pub higher_supports: bool,
}

/// C1: a VM's idle memory against native's and the heaviest container's.
pub const C1_MEMORY: Band = Band {
    support_at: 3.0,
    contradict_at: 1.0,
    higher_supports: true,
};
/// C1: a VM's idle CPU against native's and the heaviest container's.
pub const C1_CPU: Band = Band {
    support_at: 1.5,
    contradict_at: 1.0,
    higher_supports: true,
};
/// C2: idle memory, VM against the heaviest container.
pub const C2_MEMORY: Band = C1_MEMORY;
/// C2: CPU per 1,000 requests, VM against the heaviest container ("small overhead").
pub const C2_CPU: Band = Band {
    support_at: 2.0,
    contradict_at: 5.0,
    higher_supports: false,
};
/// C4: median startup, VM against the slowest container.
pub const C4_STARTUP: Band = Band {
    support_at: 5.0,
    contradict_at: 1.0,
    higher_supports: true,
};
/// C6: p99 beside a disk-only sibling against the quiet p99.
pub const C6_DISK: Band = Band {
    support_at: 1.5,
    contradict_at: 1.1,
    higher_supports: true,
};
/// C11: the fastest way to clone a VM, in ms.
pub const C11_CLONE_MS: Band = Band {
    support_at: 5000.0,
    contradict_at: 60000.0,
    higher_supports: false,
};
/// C5: VM disk against container image; supported also needs the disk to be >= 1 GiB.
pub const C5_SIZE: Band = Band {
    support_at: 10.0,
    contradict_at: 2.0,
    higher_supports: true,
};

/// Where one figure's interval lies in a band.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Place {
    /// Wholly on the claim's side of `support_at`.
    Claim,
    /// Wholly on the other side of `contradict_at`.
    Against,
    /// Wholly between the two thresholds.
    Between,
    /// Spans a threshold, or too few samples to tell.
    Unsure,
}

impl Band {
    fn place(&self, iv: &Interval) -> Place {
        if iv.n < interval::MIN_SAMPLES {
            return Place::Unsure;
        }
        let (s, c) = (self.support_at, self.contradict_at);
        let (claim, against, between) = if self.higher_supports {
            (iv.lo >= s, iv.hi <= c, iv.lo > c && iv.hi < s)
        } else {
            (iv.hi <= s, iv.lo >= c, iv.hi < c && iv.lo > s)
        };
        if claim {
            Place::Claim
        } else if against {
            Place::Against
        } else if between {
            Place::Between
        } else {
            Place::Unsure
        }
    }

    /// "supported at >= 5x, contradicted at <= 1x" (`fmt` prints a threshold).
    pub fn describe(&self, fmt: impl Fn(f64) -> String) -> String {
        let (s, c) = if self.higher_supports {
            (">=", "<=")
        } else {
            ("<=", ">=")
        };
        format!(
            "supported at {s} {}, contradicted at {c} {}",
            fmt(self.support_at),
            fmt(self.contradict_at)
        )
    }
}

/// The verdict of one band on figures with intervals: supported or contradicted when
/// every interval clears that threshold; mixed when figures that are decided disagree
/// (or one lies clearly between the thresholds); otherwise undecided, naming the
/// figures whose interval spans a threshold.
fn judge(values: &[Ranged], band: Band, fmt: fn(f64) -> String) -> Verdict {
    let places: Vec<Place> = values.iter().map(|(_, iv)| band.place(iv)).collect();
    if places.is_empty() {
        return Verdict::Mixed;
    }
    if places.iter().all(|p| *p == Place::Claim) {
        return Verdict::Supported;
    }
    if places.iter().all(|p| *p == Place::Against) {
        return Verdict::Contradicted;
    }
    let decided: Vec<Place> = places
        .iter()
        .copied()
        .filter(|p| *p != Place::Unsure)
        .collect();
    if decided.contains(&Place::Between)
        || (decided.contains(&Place::Claim) && decided.contains(&Place::Against))
    {
        return Verdict::Mixed;
    }
    let unsure: Vec<String> = values
        .iter()
        .zip(&places)
        .filter(|(_, p)| **p == Place::Unsure)
        .map(|((l, iv), _)| format!("{l} {}", describe_iv(iv, fmt)))
        .collect();
    Verdict::Undecided(format!(
        "{} spans a threshold ({})",
        unsure.join("; "),
        band.describe(fmt)
    ))
}

/// "7.80x [6.90-9.10], n=5" with `fmt` for each number.
pub(super) fn describe_iv(iv: &Interval, fmt: fn(f64) -> String) -> String {
    if iv.lo == iv.hi {
        return format!("{}, n={}", fmt(iv.estimate), iv.n);
    }
    format!(
        "{} [{}-{}], n={}",
        fmt(iv.estimate),
        fmt(iv.lo),
        fmt(iv.hi),
        iv.n
    )
}

/// The confidence line of an outcome: each deciding figure with its interval, then the
/// band it was judged against.
fn confidence(what: &str, values: &[Ranged], band: Band, fmt: fn(f64) -> String) -> String {
    format!(
        "{what}: {} ({})",
        values
            .iter()
            .map(|(l, iv)| format!("{l} {}", describe_iv(iv, fmt)))
            .collect::<Vec<_>>()
            .join("; "),
        band.describe(fmt)
    )
}

fn times(x: f64) -> String {
    fmt_ratio(x)
}

fn median(v: &[f64]) -> f64 {
    Summary::of(v).median
}

/// The variant whose median is the largest (the conservative reference: a VM must beat
/// the heaviest container).
fn heaviest(values: &[Samples]) -> Option<&Samples> {
    values
        .iter()
        .filter(|(_, v)| !v.is_empty())
        .fold(None, |a: Option<&Samples>, b| match a {
            Some(a) if median(&a.1) >= median(&b.1) => Some(a),
            _ => Some(b),
        })
}

/// Each of `values` over `by` (ratio of medians, with its bootstrap interval); None when
/// `by`'s median is not above `resolution` (never divided by).
fn ratio_ivs(values: &[Samples], by: &[f64], resolution: f64) -> Option<Vec<Ranged>> {
    ratio_ivs_with(values, by, resolution, interval::ratio_of_medians)
}

type RatioFn = fn(&[f64], &[f64], f64) -> Option<Interval>;

fn ratio_ivs_with(
    values: &[Samples],
    by: &[f64],
    resolution: f64,
    ratio: RatioFn,
) -> Option<Vec<Ranged>> {
    // The reference itself must be measurable: its own ratio to itself exists.
    ratio(by, by, resolution)?;
    Some(
        values
            .iter()
            .filter_map(|(l, v)| ratio(v, by, resolution).map(|iv| (l.clone(), iv)))
            .collect(),
    )
}

/// The point ratios of `rs`, for the lines that list them.
fn points(rs: &[Ranged]) -> Vec<Named> {
    rs.iter().map(|(l, iv)| (l.clone(), iv.estimate)).collect()
}

pub(super) fn outcome(
    verdict: Verdict,
    headline: impl Into<String>,
    because: impl Into<String>,
) -> Outcome {
    Outcome {
        verdict,
        headline: headline.into(),
        because: because.into(),
        confidence: String::new(),
    }
}

impl Outcome {
    /// The same outcome with its confidence line.
    pub(super) fn with_confidence(mut self, line: impl Into<String>) -> Self {
        self.confidence = line.into();
        self
    }
}

pub(super) fn not_measured(reason: impl Into<String>) -> Outcome {
    let reason = reason.into();
    Outcome {
        headline: without_details(&reason),
        verdict: Verdict::NotMeasured(reason),
        because: String::new(),
        confidence: String::new(),
    }
}

/// `text` without its parenthesised parts (nested ones included), so that a reason such
/// as "no VirtualBox on this host (VBoxManage not found ...)" fits in a few words; the
/// full text stays in the claim's details.
pub(super) fn without_details(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut depth = 0usize;
    for c in text.chars() {
        match c {
            '(' => depth += 1,
            ')' if depth > 0 => depth -= 1,
            c if depth == 0 => out.push(c),
            _ => {}
        }
    }
    let mut tidy = out.split_whitespace().collect::<Vec<_>>().join(" ");
    for p in [";", ",", ".", ":"] {
        tidy = tidy.replace(&format!(" {p}"), p);
    }
    tidy.trim().to_string()
}

/// "3.26x", or "3.26–26.1x" when the ratios of several variants differ.
fn ratio_span(rs: &[Named]) -> String {
    let lo = rs.iter().map(|r| r.1).fold(f64::INFINITY, f64::min);
    let hi = rs.iter().map(|r| r.1).fold(f64::NEG_INFINITY, f64::max);
    if fmt_ratio(lo) == fmt_ratio(hi) {
        fmt_ratio(lo)
    } else {
        format!("{}–{}", fmt_num(lo), fmt_ratio(hi))
    }
}

/// "2 of 3": how many of `items` pass `f`.
fn count_of<T>(items: &[T], f: impl Fn(&T) -> bool) -> String {
    format!(
        "{} of {}",
        items.iter().filter(|i| f(i)).count(),
        items.len()
    )
}

/// Lower values speak for the claim.
fn classify_low(values: &[Named], support_at: f64, contradict_at: f64) -> Verdict {
    if values.iter().all(|(_, v)| *v <= support_at) {
        Verdict::Supported
    } else if values.iter().all(|(_, v)| *v >= contradict_at) {
        Verdict::Contradicted
    } else {
        Verdict::Mixed
    }
}

/// Partial verdicts into one: agreeing parts stand, disagreeing decided parts are
/// mixed; when the decided parts agree but another part is undecided, the whole is
/// undecided (its reasons joined).
fn combine(parts: &[Verdict]) -> Verdict {
    let undecided: Vec<&str> = parts
        .iter()
        .filter_map(|v| match v {
            Verdict::Undecided(why) => Some(why.as_str()),
            _ => None,
        })
        .collect();
    let decided: Vec<&Verdict> = parts
        .iter()
        .filter(|v| !matches!(v, Verdict::Undecided(_)))
        .collect();
    match decided.split_first() {
        Some((first, rest)) if rest.iter().any(|v| v != first) => Verdict::Mixed,
        Some((Verdict::Mixed, _)) => Verdict::Mixed,
        Some((first, _)) if undecided.is_empty() => (*first).clone(),
        _ if !undecided.is_empty() => Verdict::Undecided(undecided.join("; ")),
        _ => Verdict::Mixed,
    }
}

/// The largest of `values` (the conservative reference: a VM must beat the heaviest
/// container).
fn largest(values: &[Named]) -> Option<Named> {
    values
        .iter()
        .cloned()
        .fold(None, |a: Option<Named>, b| match a {
            Some(a) if a.1 >= b.1 => Some(a),
            _ => Some(b),
        })
}

fn smallest(values: &[Named]) -> Option<Named> {
    values
        .iter()
        .cloned()
        .fold(None, |a: Option<Named>, b| match a {
            Some(a) if a.1 <= b.1 => Some(a),
            _ => Some(b),
        })
}

/// Each of `values` divided by `by`; None when `by` is not above zero (never divided by).
fn over(values: &[Named], by: f64) -> Option<Vec<Named>> {
    (by > 0.0).then(|| values.iter().map(|(l, v)| (l.clone(), v / by)).collect())
}

/// Each of `values` divided by the largest of `reference`, with that reference; None
/// when the reference is missing or not above zero.
fn ratios(values: &[Named], reference: &[Named]) -> Option<(Named, Vec<Named>)> {
    let r = largest(reference)?;
    let rs = over(values, r.1)?;
    Some((r, rs))
}

fn list_ratios(rs: &[Named], vs: &str) -> String {
    rs.iter()
        .map(|(l, r)| format!("{l} {} {vs}", fmt_ratio(*r)))
        .collect::<Vec<_>>()
        .join("; ")
}

fn list_plain(rs: &[Named]) -> String {
    rs.iter()
        .map(|(l, r)| format!("{l} {}", fmt_ratio(*r)))
        .collect::<Vec<_>>()
        .join(", ")
}

/// How one resource of C1 is judged: its band, the method's resolution, the ratio it is
/// estimated by (medians, or means for a rate in slices) and how its values print.
struct Part {
    band: Band,
    resolution: f64,
    ratio: RatioFn,
    fmt: fn(f64) -> String,
}

/// One resource of C1 (memory or CPU): the VMs against native (their background cost)
/// and against the heaviest container (containers much lighter). Returns the verdicts
/// of the parts that could be computed, their line, their deciding ratios with what
/// they are against (("3.20x", "native"), ("2.10x", "container")), and their
/// confidence lines.
#[allow(clippy::type_complexity)]
fn c1_part(
    what: &str,
    native: Option<&[f64]>,
    vm: &[Samples],
    ct: &[Samples],
    how: Part,
) -> (
    Vec<Verdict>,
    String,
    Vec<(String, &'static str)>,
    Vec<String>,
) {
    let Part {
        band,
        resolution,
        ratio,
        fmt,
    } = how;
    let mut parts = Vec::new();
    let mut line = Vec::new();
    let mut few = Vec::new();
    let mut conf = Vec::new();
    match native.filter(|n| !n.is_empty()) {
        Some(n) => match (
            ratio_ivs_with(vm, n, resolution, ratio),
            ratio_ivs_with(ct, n, resolution, ratio),
        ) {
            (Some(vm_r), Some(ct_r)) => {
                parts.push(judge(&vm_r, band, times));
                few.push((ratio_span(&points(&vm_r)), Isolation::Process.noun()));
                conf.push(confidence(
                    &format!("{what}, VM/native"),
                    &vm_r,
                    band,
                    times,
                ));
                line.push(format!(
                    "{what} against native ({}): {}; containers {}",
                    fmt(median(n)),
                    list_plain(&points(&vm_r)),
                    list_plain(&points(&ct_r))
                ));
            }
            _ => line.push(format!(
                "native {what} measured 0 (below resolution): no ratio to native"
            )),
        },
        None => line.push(format!(
            "native {what} not measured or below the method's resolution: no ratio to native"
        )),
    }
    match heaviest(ct).and_then(|r| Some((r, ratio_ivs_with(vm, &r.1, resolution, ratio)?))) {
        Some(((rl, _), rs)) => {
            parts.push(judge(&rs, band, times));
            few.push((ratio_span(&points(&rs)), "container"));
            conf.push(confidence(
                &format!("{what}, VM/heaviest container"),
                &rs,
                band,
                times,
            ));
            line.push(format!(
                "VMs against the heaviest container {rl}: {}",
                list_plain(&points(&rs))
            ));
        }
        None => line.push(format!(
            "the heaviest container's {what} measured 0 (below resolution): no ratio to it"
        )),
    }
    (parts, line.join("; "), few, conf)
}

/// C1: idle host memory and idle CPU, native processes as the baseline. `native` is
/// native's (idle memory samples, idle CPU samples); `cpu_resolution` is the CPU
/// method's resolution per sample (nothing is divided by less).
pub fn rule_c1(
    native: (Option<&[f64]>, Option<&[f64]>),
    vm_mem: &[Samples],
    ct_mem: &[Samples],
    vm_cpu: &[Samples],
    ct_cpu: &[Samples],
    cpu_resolution: f64,
) -> Outcome {
    if vm_mem.is_empty() || ct_mem.is_empty() {
        return not_measured("idle memory of both a VM and a container platform is needed");
    }
    if !native.0.is_some_and(|m| !m.is_empty() && median(m) > 0.0) {
        return not_measured("idle memory of native processes (the baseline) is needed");
    }
    let (mut verdicts, mem_line, mem_few, mut conf) = c1_part(
        "idle memory",
        native.0,
        vm_mem,
        ct_mem,
        Part {
            band: C1_MEMORY,
            resolution: 0.0,
            ratio: interval::ratio_of_medians,
            fmt: fmt_bytes,
        },
    );
    let mut because = mem_line;
    // "VM memory 8.10x native, 3.20x container; CPU 2.00x, 1.60x": the ratios the
    // verdict was computed from, nothing the rule left out; CPU's say what they are
    // against only when it is not what memory's are.
    let labelled = |few: &[(String, &str)]| {
        few.iter()
            .map(|(r, against)| format!("{r} {against}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut headline = format!("VM memory {}", labelled(&mem_few));
    if vm_cpu.is_empty() || ct_cpu.is_empty() {
        because.push_str("; idle CPU not measured on both sides, judged on memory alone");
    } else {
        let (cpu_parts, cpu_line, cpu_few, cpu_conf) = c1_part(
            "idle CPU",
            native.1,
            vm_cpu,
            ct_cpu,
            Part {
                band: C1_CPU,
                resolution: cpu_resolution,
                // CPU over equal slices of the idle window: the ratio of the means is
                // the ratio of the totals the report prints.
                ratio: interval::ratio_of_means,
                fmt: |s| format!("{} s", fmt_num(s)),
            },
        );
        if cpu_parts.is_empty() {
            because.push_str(&format!("; {cpu_line}; judged on memory alone"));
        } else {
            because.push_str(&format!("; {cpu_line}"));
            let same = cpu_few.iter().map(|f| f.1).eq(mem_few.iter().map(|f| f.1));
            let cpu = if same {
                cpu_few
                    .iter()
                    .map(|f| f.0.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            } else {
                labelled(&cpu_few)
            };
            headline.push_str(&format!("; CPU {cpu}"));
        }
        verdicts.extend(cpu_parts);
        conf.extend(cpu_conf);
    }
    outcome(combine(&verdicts), headline, because).with_confidence(conf.join("; "))
}

/// C2: idle memory much higher in VMs, CPU per request only a little higher.
pub fn rule_c2(
    vm_mem: &[Samples],
    ct_mem: &[Samples],
    vm_cpu1k: &[Samples],
    ct_cpu1k: &[Samples],
) -> Outcome {
    if vm_mem.is_empty() || ct_mem.is_empty() {
        return not_measured("idle memory of both a VM and a container platform is needed");
    }
    let Some(((ref_mem, _), mem)) =
        heaviest(ct_mem).and_then(|r| Some((r, ratio_ivs(vm_mem, &r.1, 0.0)?)))
    else {
        return not_measured("the heaviest container's idle memory measured 0");
    };
    let mut verdicts = vec![judge(&mem, C2_MEMORY, times)];
    let mut conf = vec![confidence(
        "idle memory, VM/container",
        &mem,
        C2_MEMORY,
        times,
    )];
    let mut because = format!("idle memory: {}", list_ratios(&points(&mem), ref_mem));
    let mut headline = format!("VM/container: memory {}", ratio_span(&points(&mem)));
    if vm_cpu1k.is_empty() || ct_cpu1k.is_empty() {
        because.push_str("; CPU per request not measured, judged on memory alone");
    } else if let Some(((ref_cpu, _), cpu)) =
        heaviest(ct_cpu1k).and_then(|r| Some((r, ratio_ivs(vm_cpu1k, &r.1, 0.0)?)))
    {
        because.push_str(&format!(
            "; CPU per 1,000 requests: {}",
            list_ratios(&points(&cpu), ref_cpu)
        ));
        headline.push_str(&format!(", CPU/request {}", ratio_span(&points(&cpu))));
        verdicts.push(judge(&cpu, C2_CPU, times));
        conf.push(confidence(
            "CPU per 1,000 requests, VM/container",
            &cpu,
            C2_CPU,
            times,
        ));
    } else {
        because.push_str(
            "; the heaviest container's CPU per request measured 0 (below resolution), judged on memory alone",
        );
    }
    outcome(combine(&verdicts), headline, because).with_confidence(conf.join("; "))
}

/// "label yes; label no; ..." for yes/no facts (1 = yes), `a`'s then `b`'s.
fn flag_facts(a: &[Named], b: &[Named], yes: &str, no: &str) -> String {
    a.iter()
        .chain(b)
        .map(|v| format!("{} {}", v.0, if v.1 >= 0.5 { yes } else { no }))
        .collect::<Vec<_>>()
        .join("; ")
}

/// One isolation fact of C3 on each side, by display label: 1 (or any count above 0)
/// = the workload is exposed to the host this way (runs on its kernel, sees its
/// processes, opens its loopback services), 0 = it is not.
#[derive(Debug, Clone, PartialEq)]
pub struct Exposure {
    /// What the fact says when it holds ("shares the host kernel").
    pub fact: &'static str,
    pub containers: Vec<Named>,
    pub vms: Vec<Named>,
}

/// C3: "a VM isolates better": decided on the facts that tell isolation levels apart,
/// the shared kernel first (the claim's own words), then whether the workload sees the
/// host's processes and opens its loopback services. For each fact probed on both
/// sides: it speaks for the claim when some container is exposed and no VM is, against
/// it when some VM is exposed and no container is, and not at all when both sides are
/// alike. Supported when every fact that speaks, speaks for it (the kernel must be one
/// of them); contradicted when every one speaks against it; mixed otherwise.
pub fn rule_c3(facts: &[Exposure]) -> Outcome {
    let exposed = |v: &Named| v.1 >= 0.5;
    let Some(kernel) = facts.first() else {
        return not_measured("isolation probe not run");
    };
    if kernel.containers.is_empty() && kernel.vms.is_empty() {
        return not_measured("isolation probe not run");
    }
    let kernel_line = flag_facts(
        &kernel.containers,
        &kernel.vms,
        "shares the host kernel",
        "has its own kernel",
    );
    // A comparison with one side missing is not a verdict: "mixed" would read as a
    // measured disagreement (a real native + docker run showed it).
    if kernel.containers.is_empty() || kernel.vms.is_empty() {
        let missing = if kernel.vms.is_empty() {
            "VM"
        } else {
            "container"
        };
        return not_measured(format!(
            "no {missing} probed, only one side ({kernel_line})"
        ));
    }
    let mut parts = Vec::new();
    let mut lines = Vec::new();
    for f in facts
        .iter()
        .filter(|f| !f.containers.is_empty() && !f.vms.is_empty())
    {
        let ct = f.containers.iter().filter(|v| exposed(v)).count();
        let vm = f.vms.iter().filter(|v| exposed(v)).count();
        let (part, word) = if ct > 0 && vm == 0 {
            (Some(Verdict::Supported), "for the claim")
        } else if vm > 0 && ct == 0 {
            (Some(Verdict::Contradicted), "against the claim")
        } else if vm > 0 {
            (Some(Verdict::Mixed), "both sides exposed")
        } else {
            (None, "neither side exposed, not counted")
        };
        lines.push(format!(
            "{}: {} of {} containers, {} of {} VMs ({word})",
            f.fact,
            ct,
            f.containers.len(),
            vm,
            f.vms.len()
        ));
        parts.extend(part);
    }
    let shares = |v: &Named| v.1 >= 0.5;
    let headline = format!(
        "host kernel shared: {} containers, {} VMs",
        count_of(&kernel.containers, shares),
        count_of(&kernel.vms, shares)
    );
    outcome(
        combine(&parts),
        headline,
        format!("{}; {kernel_line}", lines.join("; ")),
    )
}

/// C4: median startup of each VM against the slowest container, with the interval of
/// each ratio from the startups' repetitions.
pub fn rule_c4(vm: &[Samples], ct: &[Samples]) -> Outcome {
    if vm.is_empty() || ct.is_empty() {
        return not_measured("startup of both a VM and a container platform is needed");
    }
    let Some(((ref_label, _), rs)) =
        heaviest(ct).and_then(|r| Some((r, ratio_ivs(vm, &r.1, 0.0)?)))
    else {
        return not_measured("the slowest container's startup measured 0");
    };
    outcome(
        judge(&rs, C4_STARTUP, times),
        format!("VM startup {} a container's", ratio_span(&points(&rs))),
        format!(
            "median startup: {}",
            list_ratios(&points(&rs), &format!("slower than {ref_label}"))
        ),
    )
    .with_confidence(confidence(
        &format!("startup, VM/{ref_label}"),
        &rs,
        C4_STARTUP,
        times,
    ))
}

pub(super) const GIB: f64 = 1024.0 * 1024.0 * 1024.0;

/// C5: VM disk image sizes (bytes) against container image sizes.
pub fn rule_c5(vm_disks: &[Named], ct_images: &[Named]) -> Outcome {
    let Some(small) = smallest(vm_disks) else {
        return not_measured("both a VM disk image and a container image are needed");
    };
    let Some(((ref_label, _), rs)) = ratios(std::slice::from_ref(&small), ct_images) else {
        return not_measured("both a VM disk image and a container image are needed");
    };
    let ratio = rs[0].1;
    let v = if ratio <= C5_SIZE.contradict_at {
        Verdict::Contradicted
    } else if ratio >= C5_SIZE.support_at && small.1 >= GIB {
        Verdict::Supported
    } else {
        Verdict::Mixed
    };
    outcome(
        v,
        format!(
            "smallest VM disk {}, {} the image",
            fmt_bytes(small.1),
            fmt_ratio(ratio)
        ),
        format!(
            "smallest VM disk {} ({}) is {} the container image {}; {} GiB is {} 1 GiB",
            small.0,
            fmt_bytes(small.1),
            fmt_ratio(ratio),
            ref_label,
            fmt_num(small.1 / GIB),
            if small.1 >= GIB { "at least" } else { "under" }
        ),
    )
}

/// One platform's noisy-neighbour figures, p99 in µs over repeated windows: quiet,
/// beside a disk-only sibling, beside a CPU-only sibling.
#[derive(Debug, Clone, PartialEq)]
pub struct Noise {
    pub label: String,
    pub quiet: Vec<f64>,
    pub disk: Option<Vec<f64>>,
    pub cpu: Option<Vec<f64>>,
}

impl Noise {
    fn ratio(&self, noisy: Option<&Vec<f64>>) -> Option<Ranged> {
        interval::ratio_of_medians(noisy?, &self.quiet, 0.0).map(|iv| (self.label.clone(), iv))
    }
}

/// C6: judged on the disk-only sibling of each container variant (the claim is about
/// disk), each ratio with its interval over the repeated windows; the CPU-only sibling
/// and native processes (the same host without any container) are shown beside it.
pub fn rule_c6(cts: &[Noise], native: Option<&Noise>) -> Outcome {
    if cts.is_empty() {
        return not_measured("noisy-neighbour test not run");
    }
    let disk: Vec<Ranged> = cts
        .iter()
        .filter_map(|n| n.ratio(n.disk.as_ref()))
        .collect();
    if disk.is_empty() {
        return not_measured(
            "no container p99 beside a disk-only sibling above a quiet p99 of more than 0 (older results mixed disk and CPU noise in one sibling)",
        );
    }
    let mut because = format!(
        "p99 beside a disk-only sibling: {}",
        list_ratios(&points(&disk), "the quiet p99")
    );
    let cpu: Vec<Named> = points(
        &cts.iter()
            .filter_map(|n| n.ratio(n.cpu.as_ref()))
            .collect::<Vec<_>>(),
    );
    if !cpu.is_empty() {
        because.push_str(&format!(
            "; beside a CPU-only sibling (shown, not judged): {}",
            list_plain(&cpu)
        ));
    }
    match native {
        Some(n) => {
            let parts: Vec<String> = [("disk", n.disk.as_ref()), ("CPU", n.cpu.as_ref())]
                .into_iter()
                .filter_map(|(what, v)| {
                    Some(format!("{what} {}", fmt_ratio(n.ratio(v)?.1.estimate)))
                })
                .collect();
            if !parts.is_empty() {
                because.push_str(&format!(
                    "; native processes on the same host (baseline): {}",
                    parts.join(", ")
                ));
            }
        }
        None => because.push_str("; no native baseline measured"),
    }
    outcome(
        judge(&disk, C6_DISK, times),
        format!(
            "p99 beside disk-only noise: {} quiet",
            ratio_span(&points(&disk))
        ),
        because,
    )
    .with_confidence(confidence(
        "p99 beside disk-only noise / quiet p99",
        &disk,
        C6_DISK,
        times,
    ))
}

/// C7: per container engine, fraction of trials where the calculator kept answering after
/// the daemon was killed.
pub fn rule_c7(survived: &[Named]) -> Outcome {
    if survived.is_empty() {
        return not_measured("daemon-kill fault test not run");
    }
    let because = survived
        .iter()
        .map(|(l, s)| format!("{l}: kept answering in {}% of trials", fmt_num(s * 100.0)))
        .collect::<Vec<_>>()
        .join("; ");
    let lo = survived.iter().map(|s| s.1).fold(f64::INFINITY, f64::min);
    let hi = survived
        .iter()
        .map(|s| s.1)
        .fold(f64::NEG_INFINITY, f64::max);
    let headline = if fmt_num(lo * 100.0) == fmt_num(hi * 100.0) {
        format!(
            "still answering after the kill in {}% of trials",
            fmt_num(hi * 100.0)
        )
    } else {
        format!(
            "still answering after the kill in {}–{}% of trials",
            fmt_num(lo * 100.0),
            fmt_num(hi * 100.0)
        )
    };
    // The claim is that containers die: a survival fraction of 0 supports it.
    outcome(classify_low(survived, 0.0, 1.0), headline, because)
}

/// C8: KVM counts as faster only at or below this fraction of the other's figure: a
/// difference under 10 % is within what two runs of the same VM differ by.
pub const C8_FASTER: f64 = 0.9;

/// C8: (what, KVM figure, hosted/emulated figure); lower is faster.
pub fn rule_c8(comparisons: &[(String, f64, f64)]) -> Outcome {
    if comparisons.is_empty() {
        return not_measured("a KVM VM and a hosted or emulated VM are both needed");
    }
    let faster = comparisons
        .iter()
        .filter(|(_, k, s)| *k <= C8_FASTER * s)
        .count();
    let not_faster = comparisons.iter().filter(|(_, k, s)| k >= s).count();
    let v = if faster == comparisons.len() {
        Verdict::Supported
    } else if not_faster == comparisons.len() {
        Verdict::Contradicted
    } else {
        Verdict::Mixed
    };
    let because = comparisons
        .iter()
        .map(|(w, k, s)| format!("{w}: KVM {} vs {}", fmt_num(*k), fmt_num(*s)))
        .collect::<Vec<_>>()
        .join("; ");
    let headline = format!(
        "KVM faster (by >= 10 %) in {faster} of {} comparisons",
        comparisons.len()
    );
    outcome(v, headline, because)
}

/// C9: 1 = the guest answered a LAN PC at its own address, 0 = it did not; `nat`: the
/// variants whose access path is a forward, `direct`: those reached at their own address.
pub fn rule_c9(nat: &[Named], direct: &[Named]) -> Outcome {
    if nat.is_empty() && direct.is_empty() {
        return not_measured("reachability matrix not probed in this run");
    }
    let because = flag_facts(
        nat,
        direct,
        "reachable from the LAN at its own address",
        "unreachable from the LAN at its own address",
    );
    let nat_ok = nat.iter().all(|(_, v)| *v < 0.5);
    let direct_ok = direct.iter().all(|(_, v)| *v >= 0.5);
    let nat_rev = nat.iter().all(|(_, v)| *v >= 0.5);
    let direct_rev = direct.iter().all(|(_, v)| *v < 0.5);
    if nat.is_empty() || direct.is_empty() {
        let missing = if direct.is_empty() {
            "bridged or direct"
        } else {
            "NAT"
        };
        return not_measured(format!(
            "no {missing} variant probed, only one side ({because})"
        ));
    }
    let v = if nat_ok && direct_ok {
        Verdict::Supported
    } else if nat_rev && direct_rev {
        Verdict::Contradicted
    } else {
        Verdict::Mixed
    };
    let reachable = |v: &Named| v.1 >= 0.5;
    let headline = format!(
        "reached by a LAN PC at its own address: behind a forward {}, direct {}",
        count_of(nat, reachable),
        count_of(direct, reachable)
    );
    outcome(v, headline, because)
}

/// Request outcomes of one variant over all its load runs.
#[derive(Debug, Clone, PartialEq)]
pub struct Health {
    pub label: String,
    pub correct: u64,
    /// Transport errors, timeouts and non-2xx statuses.
    pub failed: u64,
    pub wrong: u64,
}

impl Health {
    fn failure_rate(&self) -> f64 {
        let total = self.correct + self.failed + self.wrong;
        if total == 0 {
            1.0
        } else {
            self.failed as f64 / total as f64
        }
    }

    fn describe(&self) -> String {
        format!(
            "{}: {} correct, {} failed, {} wrong",
            self.label, self.correct, self.failed, self.wrong
        )
    }
}

/// Works end to end: no wrong answer, at most 1% failures.
fn works(items: &[Health]) -> Verdict {
    if items.iter().any(|h| h.wrong > 0 || h.correct == 0) {
        if items.iter().all(|h| h.correct == 0) || items.iter().any(|h| h.wrong > 0) {
            return Verdict::Contradicted;
        }
        return Verdict::Mixed;
    }
    if items.iter().all(|h| h.failure_rate() <= 0.01) {
        Verdict::Supported
    } else {
        Verdict::Mixed
    }
}

/// "4 of 4 answered, 0 wrong, ≤ 0.200% failed".
fn health_headline(items: &[Health]) -> String {
    let wrong: u64 = items.iter().map(|h| h.wrong).sum();
    let worst = items.iter().map(Health::failure_rate).fold(0.0, f64::max);
    format!(
        "{} answered, {wrong} wrong, ≤ {}% failed",
        count_of(items, |h| h.correct > 0),
        fmt_num(worst * 100.0)
    )
}

fn describe_all(items: &[Health]) -> String {
    items
        .iter()
        .map(Health::describe)
        .collect::<Vec<_>>()
        .join("; ")
}

/// One variant reached through a forward, for C10: did a LAN PC of the run's own get a
/// correct answer through the forwarded port at the host's address (`None`: not tried,
/// e.g. without root), and how its load through the forward went.
#[derive(Debug, Clone, PartialEq)]
pub struct Forward {
    pub label: String,
    pub reached_from_lan: Option<bool>,
    pub health: Option<Health>,
}

/// C10: the forward makes the guest reachable through the host. Decided by the
/// requests sent through each variant's forward (its load): supported when every
/// forwarded variant answered through it with at most 1 % failed; contradicted when
/// every one failed more than it answered (a forward that drops what it is sent, as
/// user-mode NAT can under load); mixed otherwise. What a LAN PC of the run's own got
/// through the forward at the host's address is shown beside, not judged: this project
/// publishes every forward on 127.0.0.1 only, so that figure measures the project's
/// network rule, not the forward.
pub fn rule_c10(forwarded: &[Forward]) -> Outcome {
    let loaded: Vec<(&Forward, &Health)> = forwarded
        .iter()
        .filter_map(|f| f.health.as_ref().map(|h| (f, h)))
        .collect();
    if loaded.is_empty() {
        return not_measured("no variant reached through a forwarded port was measured");
    }
    let dropped = |h: &Health| h.correct == 0 || h.failure_rate() > 0.5;
    let v = if loaded.iter().all(|(_, h)| dropped(h)) {
        Verdict::Contradicted
    } else if loaded
        .iter()
        .all(|(_, h)| h.correct > 0 && h.failure_rate() <= 0.01)
    {
        Verdict::Supported
    } else {
        Verdict::Mixed
    };
    let because = loaded
        .iter()
        .map(|(f, h)| {
            let lan = match f.reached_from_lan {
                Some(true) => "; a LAN PC got a correct answer through it",
                Some(false) => "; a LAN PC got none (published on 127.0.0.1 only)",
                None => "",
            };
            format!(
                "{}: {} correct, {} failed, {} wrong through the forward{lan}",
                f.label, h.correct, h.failed, h.wrong
            )
        })
        .collect::<Vec<_>>()
        .join("; ");
    let hs: Vec<Health> = loaded.iter().map(|(_, h)| (*h).clone()).collect();
    outcome(v, health_headline(&hs), because)
}

/// C11: clone times in ms (overlay and full, per VM platform); the fastest way decides
/// (the claim is that cloning is easy, so the easiest way to do it counts).
pub fn rule_c11(clone_ms: &[Samples]) -> Outcome {
    let Some(best) = clone_ms
        .iter()
        .filter(|(_, v)| !v.is_empty())
        .min_by(|a, b| median(&a.1).total_cmp(&median(&b.1)))
    else {
        return not_measured("VM clone experiment not run");
    };
    let Some(iv) = interval::median(&best.1) else {
        return not_measured("VM clone experiment not run");
    };
    let best_r = [(best.0.clone(), iv)];
    outcome(
        judge(&best_r, C11_CLONE_MS, fmt_ms),
        format!("fastest clone: {}", fmt_ms(iv.estimate)),
        format!("fastest clone: {} in {}", best.0, fmt_ms(iv.estimate)),
    )
    .with_confidence(confidence("fastest clone", &best_r, C11_CLONE_MS, fmt_ms))
}

/// C12: successful samples of `docker commit` and of a Dockerfile build; `None` when the
/// experiment was not attempted, `Some(0)` when it was and failed.
pub fn rule_c12(commit: Option<usize>, build: Option<usize>) -> Outcome {
    let ok = |x: Option<usize>| x.is_some_and(|n| n > 0);
    match (commit, build) {
        (None, None) => not_measured("docker commit / build experiment not run"),
        _ if ok(commit) && ok(build) => outcome(
            Verdict::Supported,
            "commit and build both made an image",
            "both docker commit and docker build produced an image",
        ),
        _ if ok(commit) || ok(build) => {
            let which = if ok(commit) {
                "docker commit"
            } else {
                "docker build"
            };
            outcome(
                Verdict::Mixed,
                format!("only {which} made an image"),
                format!("only {which} produced an image"),
            )
        }
        (Some(_), Some(_)) => outcome(
            Verdict::Contradicted,
            "neither made an image",
            "neither docker commit nor docker build produced an image",
        ),
        _ => outcome(
            Verdict::Mixed,
            "one attempted, and it failed",
            "only one of docker commit / docker build was attempted, and it failed",
        ),
    }
}

/// One platform's attempt at resizing a running VM, as it recorded it (C13).
#[derive(Debug, Clone, PartialEq)]
pub struct Resize {
    pub label: String,
    /// The new size took effect (for QEMU: at least one of memory and CPUs).
    pub resized: bool,
    /// The platform refused because the VM was running (stop it first).
    pub demanded_stop: Option<bool>,
    /// The same guest ran across it (same boot id); `Some(false)`: it was restarted.
    pub kept_running: Option<bool>,
    pub downtime_ms: Option<f64>,
    /// What was done or why not, as the platform recorded it.
    pub note: Option<String>,
}

impl Resize {
    /// Resized without being asked to stop first.
    fn live(&self) -> bool {
        self.resized && self.demanded_stop != Some(true)
    }

    pub(super) fn describe(&self) -> String {
        let mut s = match (self.resized, self.demanded_stop) {
            (_, Some(true)) => format!("{}: refused while running (stop it first)", self.label),
            (true, _) => format!("{}: resized a running VM without a stop", self.label),
            (false, _) => format!("{}: not resized", self.label),
        };
        match self.kept_running {
            Some(true) => s.push_str(", the guest kept running (same boot id)"),
            Some(false) => {
                s.push_str(", the guest was restarted (a new boot id: the console drops)")
            }
            None => {}
        }
        if let Some(d) = self.downtime_ms {
            s.push_str(&format!(", service down {}", fmt_ms(d)));
        }
        if let Some(n) = &self.note {
            s.push_str(&format!(" ({n})"));
        }
        s
    }
}

/// C13: "OpenStack can resize a running VM; VirtualBox must stop it first". Two halves,
/// each judged on what the platforms did: the cloud half speaks for the claim when
/// every cloud resized a running VM without a stop (a restart of the guest is the
/// claim's own "the console drops"), against it when none did; the hosted half speaks
/// for it when every hosted hypervisor refused because the VM was running, against it
/// when every one resized it live. `stand_in` says which hypervisor stood for the
/// hosted side and why (QEMU where VirtualBox cannot run). A hosted attempt that
/// neither resized nor asked for a stop says nothing of the claim: no verdict.
pub fn rule_c13(cloud: &[Resize], hosted: &[Resize], stand_in: Option<&str>) -> Outcome {
    if cloud.is_empty() || hosted.is_empty() {
        return not_measured(
            "a resize of a running VM on both a cloud and a hosted hypervisor is needed",
        );
    }
    let all = |v: &[Resize], f: fn(&Resize) -> bool| v.iter().all(f);
    let cloud_part = if all(cloud, Resize::live) {
        Verdict::Supported
    } else if !cloud.iter().any(Resize::live) {
        Verdict::Contradicted
    } else {
        Verdict::Mixed
    };
    let stopped = |r: &Resize| r.demanded_stop == Some(true);
    let mut because = cloud
        .iter()
        .chain(hosted)
        .map(Resize::describe)
        .collect::<Vec<_>>();
    if let Some(s) = stand_in {
        because.push(s.to_string());
    }
    let because = because.join("; ");
    let silent: Vec<&Resize> = hosted.iter().filter(|r| !r.live() && !stopped(r)).collect();
    if !silent.is_empty() {
        return not_measured(format!(
            "the hosted hypervisor neither resized the running VM nor demanded a stop, which says nothing of the claim: {because}"
        ));
    }
    let hosted_part = if all(hosted, stopped) {
        Verdict::Supported
    } else if all(hosted, Resize::live) {
        Verdict::Contradicted
    } else {
        Verdict::Mixed
    };
    let word = |v: &[Resize]| {
        if all(v, Resize::live) {
            "resized live"
        } else if v.iter().all(stopped) {
            "demanded a stop"
        } else if !v.iter().any(Resize::live) {
            "failed"
        } else {
            "some resized"
        }
    };
    let hosted_name = hosted
        .iter()
        .map(|r| r.label.as_str())
        .collect::<Vec<_>>()
        .join(", ");
    let headline = format!(
        "running VM resized: cloud {}; hosted ({hosted_name}) {}",
        word(cloud),
        word(hosted)
    );
    outcome(combine(&[cloud_part, hosted_part]), headline, because)
}

/// C14: every VM and container variant computes the same correct answers.
pub fn rule_c14(vms: &[Health], containers: &[Health]) -> Outcome {
    if vms.is_empty() || containers.is_empty() {
        return not_measured(
            "the calculator must have been loaded on both a VM and a container platform",
        );
    }
    let all: Vec<Health> = vms.iter().chain(containers).cloned().collect();
    outcome(works(&all), health_headline(&all), describe_all(&all))
}

/// C15: routed two-network variants work end to end.
pub fn rule_c15(routed: &[Health]) -> Outcome {
    if routed.is_empty() {
        return not_measured("routed two-network topology not run");
    }
    outcome(works(routed), health_headline(routed), describe_all(routed))
}
