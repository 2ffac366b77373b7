//! The rules: pure functions from plain numbers to a verdict, the deciding figure in a
//! few words (the `headline` the report's first screen shows) and the one line of
//! figures behind it. Each threshold is the one its claim's `rule` text states
//! (catalogue.rs). A figure measured as zero is below the resolution of its clock or
//! counter: it is never divided by, and the part of a rule that needs it says so.

use super::{Outcome, Verdict};
use crate::platform::facts::Isolation;
use crate::report::view::{fmt_bytes, fmt_ms, fmt_ratio};
use crate::stats::fmt_num;

/// A value for one platform variant, by display label.
pub type Named = (String, f64);

pub(super) fn outcome(
    verdict: Verdict,
    headline: impl Into<String>,
    because: impl Into<String>,
) -> Outcome {
    Outcome {
        verdict,
        headline: headline.into(),
        because: because.into(),
    }
}

pub(super) fn not_measured(reason: impl Into<String>) -> Outcome {
    let reason = reason.into();
    Outcome {
        headline: without_details(&reason),
        verdict: Verdict::NotMeasured(reason),
        because: String::new(),
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

/// All at or above `support_at` -> supported; all at or below `contradict_at` ->
/// contradicted; otherwise mixed. Higher ratios speak for the claim.
fn classify_high(values: &[Named], support_at: f64, contradict_at: f64) -> Verdict {
    if values.iter().all(|(_, v)| *v >= support_at) {
        Verdict::Supported
    } else if values.iter().all(|(_, v)| *v <= contradict_at) {
        Verdict::Contradicted
    } else {
        Verdict::Mixed
    }
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

/// Partial verdicts into one: agreeing parts stand, disagreeing parts are mixed.
fn combine(parts: &[Verdict]) -> Verdict {
    match parts.split_first() {
        None => Verdict::Mixed,
        Some((first, rest)) if rest.iter().all(|v| v == first) => first.clone(),
        Some(_) => Verdict::Mixed,
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

/// One resource of C1 (memory or CPU): the VMs against native (their background cost)
/// and against the heaviest container (containers much lighter). Returns the verdicts
/// of the parts that could be computed, their line, and their deciding ratios with
/// what they are against (("3.20x", "native"), ("2.10x", "container")).
fn c1_part(
    what: &str,
    native: Option<f64>,
    vm: &[Named],
    ct: &[Named],
    support_at: f64,
    fmt: fn(f64) -> String,
) -> (Vec<Verdict>, String, Vec<(String, &'static str)>) {
    let mut parts = Vec::new();
    let mut line = Vec::new();
    let mut few = Vec::new();
    match native {
        Some(n) if n > 0.0 => {
            let vm_r = over(vm, n).unwrap_or_default();
            let ct_r = over(ct, n).unwrap_or_default();
            parts.push(classify_high(&vm_r, support_at, 1.0));
            few.push((ratio_span(&vm_r), Isolation::Process.noun()));
            line.push(format!(
                "{what} against native ({}): {}; containers {}",
                fmt(n),
                list_plain(&vm_r),
                list_plain(&ct_r)
            ));
        }
        Some(_) => line.push(format!(
            "native {what} measured 0 (below resolution): no ratio to native"
        )),
        None => line.push(format!(
            "native {what} not measured or below the method's resolution: no ratio to native"
        )),
    }
    match ratios(vm, ct) {
        Some(((rl, _), rs)) => {
            parts.push(classify_high(&rs, support_at, 1.0));
            few.push((ratio_span(&rs), "container"));
            line.push(format!(
                "VMs against the heaviest container {rl}: {}",
                list_plain(&rs)
            ));
        }
        None => line.push(format!(
            "the heaviest container's {what} measured 0 (below resolution): no ratio to it"
        )),
    }
    (parts, line.join("; "), few)
}

/// C1: idle host memory and idle CPU, native processes as the baseline. `native` is
/// native's (idle memory, idle CPU seconds).
pub fn rule_c1(
    native: (Option<f64>, Option<f64>),
    vm_mem: &[Named],
    ct_mem: &[Named],
    vm_cpu: &[Named],
    ct_cpu: &[Named],
) -> Outcome {
    if vm_mem.is_empty() || ct_mem.is_empty() {
        return not_measured("idle memory of both a VM and a container platform is needed");
    }
    if !native.0.is_some_and(|m| m > 0.0) {
        return not_measured("idle memory of native processes (the baseline) is needed");
    }
    let (mut verdicts, mem_line, mem_few) =
        c1_part("idle memory", native.0, vm_mem, ct_mem, 3.0, fmt_bytes);
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
        let (cpu_parts, cpu_line, cpu_few) =
            c1_part("idle CPU", native.1, vm_cpu, ct_cpu, 1.5, |s| {
                format!("{} s", fmt_num(s))
            });
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
    }
    outcome(combine(&verdicts), headline, because)
}

/// C2: idle memory much higher in VMs, CPU per request only a little higher.
pub fn rule_c2(
    vm_mem: &[Named],
    ct_mem: &[Named],
    vm_cpu1k: &[Named],
    ct_cpu1k: &[Named],
) -> Outcome {
    if vm_mem.is_empty() || ct_mem.is_empty() {
        return not_measured("idle memory of both a VM and a container platform is needed");
    }
    let Some(((ref_mem, _), mem)) = ratios(vm_mem, ct_mem) else {
        return not_measured("the heaviest container's idle memory measured 0");
    };
    let mut verdicts = vec![classify_high(&mem, 3.0, 1.0)];
    let mut because = format!("idle memory: {}", list_ratios(&mem, &ref_mem));
    let mut headline = format!("VM/container: memory {}", ratio_span(&mem));
    if vm_cpu1k.is_empty() || ct_cpu1k.is_empty() {
        because.push_str("; CPU per request not measured, judged on memory alone");
    } else if let Some(((ref_cpu, _), cpu)) = ratios(vm_cpu1k, ct_cpu1k) {
        because.push_str(&format!(
            "; CPU per 1,000 requests: {}",
            list_ratios(&cpu, &ref_cpu)
        ));
        headline.push_str(&format!(", CPU/request {}", ratio_span(&cpu)));
        verdicts.push(classify_low(&cpu, 2.0, 5.0));
    } else {
        because.push_str(
            "; the heaviest container's CPU per request measured 0 (below resolution), judged on memory alone",
        );
    }
    outcome(combine(&verdicts), headline, because)
}

/// "label yes; label no; ..." for yes/no facts (1 = yes), `a`'s then `b`'s.
fn flag_facts(a: &[Named], b: &[Named], yes: &str, no: &str) -> String {
    a.iter()
        .chain(b)
        .map(|v| format!("{} {}", v.0, if v.1 >= 0.5 { yes } else { no }))
        .collect::<Vec<_>>()
        .join("; ")
}

/// C3: 1 = the workload runs on the host's kernel, 0 = its own kernel.
pub fn rule_c3(ct_shared: &[Named], vm_shared: &[Named]) -> Outcome {
    if ct_shared.is_empty() && vm_shared.is_empty() {
        return not_measured("isolation probe not run");
    }
    let because = flag_facts(
        ct_shared,
        vm_shared,
        "shares the host kernel",
        "has its own kernel",
    );
    let shares = |v: &Named| v.1 >= 0.5;
    let headline = format!(
        "host kernel shared: {} containers, {} VMs",
        count_of(ct_shared, shares),
        count_of(vm_shared, shares)
    );
    // A comparison with one side missing is not a verdict: "mixed" would read as a
    // measured disagreement (a real native + docker run showed it).
    if ct_shared.is_empty() || vm_shared.is_empty() {
        let missing = if vm_shared.is_empty() {
            "VM"
        } else {
            "container"
        };
        return not_measured(format!("no {missing} probed, only one side ({because})"));
    }
    let ct_shared_all = ct_shared.iter().all(|(_, v)| *v >= 0.5);
    let vm_own_all = vm_shared.iter().all(|(_, v)| *v < 0.5);
    let ct_own_all = ct_shared.iter().all(|(_, v)| *v < 0.5);
    let vm_shared_all = vm_shared.iter().all(|(_, v)| *v >= 0.5);
    let v = if ct_shared_all && vm_own_all {
        Verdict::Supported
    } else if ct_own_all && vm_shared_all {
        Verdict::Contradicted
    } else {
        Verdict::Mixed
    };
    outcome(v, headline, because)
}

/// C4: median startup of each VM against the slowest container.
pub fn rule_c4(vm: &[Named], ct: &[Named]) -> Outcome {
    if vm.is_empty() || ct.is_empty() {
        return not_measured("startup of both a VM and a container platform is needed");
    }
    let Some(((ref_label, _), rs)) = ratios(vm, ct) else {
        return not_measured("the slowest container's startup measured 0");
    };
    outcome(
        classify_high(&rs, 5.0, 1.0),
        format!("VM startup {} a container's", ratio_span(&rs)),
        format!(
            "median startup: {}",
            list_ratios(&rs, &format!("slower than {ref_label}"))
        ),
    )
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
    let v = if ratio <= 2.0 {
        Verdict::Contradicted
    } else if ratio >= 10.0 && small.1 >= GIB {
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

/// One platform's noisy-neighbour figures, p99 in µs: quiet, beside a disk-only
/// sibling, beside a CPU-only sibling.
#[derive(Debug, Clone, PartialEq)]
pub struct Noise {
    pub label: String,
    pub quiet: f64,
    pub disk: Option<f64>,
    pub cpu: Option<f64>,
}

impl Noise {
    fn ratio(&self, noisy: Option<f64>) -> Option<Named> {
        (self.quiet > 0.0).then_some((self.label.clone(), noisy? / self.quiet))
    }
}

/// C6: judged on the disk-only sibling of each container variant (the claim is about
/// disk); the CPU-only sibling and native processes (the same host without any
/// container) are shown beside it.
pub fn rule_c6(cts: &[Noise], native: Option<&Noise>) -> Outcome {
    if cts.is_empty() {
        return not_measured("noisy-neighbour test not run");
    }
    let disk: Vec<Named> = cts.iter().filter_map(|n| n.ratio(n.disk)).collect();
    if disk.is_empty() {
        return not_measured(
            "no container p99 beside a disk-only sibling above a quiet p99 of more than 0 (older results mixed disk and CPU noise in one sibling)",
        );
    }
    let mut because = format!(
        "p99 beside a disk-only sibling: {}",
        list_ratios(&disk, "the quiet p99")
    );
    let cpu: Vec<Named> = cts.iter().filter_map(|n| n.ratio(n.cpu)).collect();
    if !cpu.is_empty() {
        because.push_str(&format!(
            "; beside a CPU-only sibling (shown, not judged): {}",
            list_plain(&cpu)
        ));
    }
    match native {
        Some(n) => {
            let parts: Vec<String> = [("disk", n.disk), ("CPU", n.cpu)]
                .into_iter()
                .filter_map(|(what, v)| Some(format!("{what} {}", fmt_ratio(n.ratio(v)?.1))))
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
        classify_high(&disk, 1.5, 1.1),
        format!("p99 beside disk-only noise: {} quiet", ratio_span(&disk)),
        because,
    )
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

/// C8: (what, KVM figure, hosted/emulated figure); lower is faster.
pub fn rule_c8(comparisons: &[(String, f64, f64)]) -> Outcome {
    if comparisons.is_empty() {
        return not_measured("a KVM VM and a hosted or emulated VM are both needed");
    }
    let faster = comparisons.iter().filter(|(_, k, s)| k < s).count();
    let v = if faster == comparisons.len() {
        Verdict::Supported
    } else if faster == 0 {
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
        "KVM faster in {faster} of {} comparisons",
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

/// C10: variants reached through a forwarded port.
pub fn rule_c10(forwarded: &[Health]) -> Outcome {
    if forwarded.is_empty() {
        return not_measured("no variant reached through a forwarded port was measured");
    }
    // None answering is a contradiction; a wrong answer is a calculator fault, not the
    // forward's, so only reachability counts here.
    let v = if forwarded.iter().all(|h| h.correct == 0) {
        Verdict::Contradicted
    } else if forwarded
        .iter()
        .all(|h| h.correct > 0 && h.failure_rate() <= 0.01)
    {
        Verdict::Supported
    } else {
        Verdict::Mixed
    };
    outcome(v, health_headline(forwarded), describe_all(forwarded))
}

/// C11: clone medians in ms (overlay and full, per VM platform).
pub fn rule_c11(clone_ms: &[Named]) -> Outcome {
    let Some(best) = smallest(clone_ms) else {
        return not_measured("VM clone experiment not run");
    };
    let v = if best.1 <= 5000.0 {
        Verdict::Supported
    } else if best.1 > 60000.0 {
        Verdict::Contradicted
    } else {
        Verdict::Mixed
    };
    outcome(
        v,
        format!("fastest clone: {}", fmt_ms(best.1)),
        format!("fastest clone: {} in {}", best.0, fmt_ms(best.1)),
    )
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

/// C13: fraction of attempts in which a running VM was resized without stopping it
/// (a refusal counts 0 only when the platform refused because the VM was running).
pub fn rule_c13(openstack_live: Option<f64>, virtualbox_live: Option<f64>) -> Outcome {
    let (Some(os), Some(vb)) = (openstack_live, virtualbox_live) else {
        return not_measured("live resize needs both OpenStack and VirtualBox");
    };
    let because = format!(
        "OpenStack resized a running VM in {}% of attempts, VirtualBox in {}%",
        fmt_num(os * 100.0),
        fmt_num(vb * 100.0)
    );
    let headline = format!(
        "live resize: OpenStack {}%, VirtualBox {}%",
        fmt_num(os * 100.0),
        fmt_num(vb * 100.0)
    );
    let v = if os > 0.0 && vb == 0.0 {
        Verdict::Supported
    } else if os == 0.0 && vb > 0.0 {
        Verdict::Contradicted
    } else {
        Verdict::Mixed
    };
    outcome(v, headline, because)
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
