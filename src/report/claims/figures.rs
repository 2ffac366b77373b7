//! The judges: for each claim, the figures of the run shown beside it and the verdict
//! its rule gives on them. Each reads only the results fields and `extras` its
//! catalogue entry lists (a test checks the `extras` names), and says specifically why
//! a claim cannot be judged when a figure is missing.

use super::context::{
    extra, fig, health, mark_emulated, named, p50, p50_at, series_figs, Run, VmSide,
};
use super::rules::{self, not_measured, Named, Samples};
use super::{Figure, Health, Outcome, Verdict};
use crate::measure::outside::Access;
use crate::report::view::{self, fmt_bytes, fmt_ms, fmt_us, Kind};
use crate::results::facts::Hypervisor;
use crate::results::{keys, PlatformResult};
use crate::stats::{fmt_num, Series};

/// The figures shown beside a claim and its outcome.
pub(super) type Judged = (Vec<Figure>, Outcome);

/// The one memory definition every verdict uses: PSS of every process the deployment
/// owns (hypervisor processes, containers' processes, their shims, conmon, lxc
/// monitors), measured the same way on every platform. The other column (RSS, or a
/// container's cgroup usage) counts page cache and shared libraries differently per
/// platform: it is shown in the memory section, never judged.
fn idle_memory(p: &PlatformResult) -> Option<f64> {
    view::median(&p.memory_idle_pss_bytes)
}

/// The samples of a series that has any.
fn samples_of(s: Option<&Series>) -> Option<Vec<f64>> {
    s.filter(|s| s.summary.n > 0).map(|s| s.samples.clone())
}

/// `(label, samples)` of each of `ps` that has the series `get` gives.
fn sampled(
    ps: &[&PlatformResult],
    get: impl Fn(&PlatformResult) -> Option<Vec<f64>>,
) -> Vec<Samples> {
    ps.iter()
        .filter_map(|p| get(p).map(|v| (view::display(p), v)))
        .collect()
}

fn idle_memory_samples(p: &PlatformResult) -> Option<Vec<f64>> {
    samples_of(p.memory_idle_pss_bytes.as_ref())
}

/// Idle CPU per slice of the idle window, where the window's total is above the
/// method's resolution (below it there is nothing to compare, let alone divide by).
fn idle_cpu_samples(p: &PlatformResult) -> Option<Vec<f64>> {
    let c = p.cpu_idle_seconds.as_ref()?;
    c.measured_seconds()?;
    samples_of(Some(&c.per_slice))
}

/// The coarsest per-sample CPU resolution among `ps`: no ratio divides by less.
fn cpu_resolution(ps: &[&PlatformResult]) -> f64 {
    ps.iter()
        .filter_map(|p| p.cpu_idle_seconds.as_ref().map(|c| c.resolution()))
        .fold(0.0, f64::max)
}

/// Idle CPU seconds where above the method's resolution: below it there is no figure
/// to compare, let alone divide by.
fn idle_cpu(p: &PlatformResult) -> Option<f64> {
    p.cpu_idle_seconds.as_ref()?.measured_seconds()
}

fn idle_cpu_figs(ps: &[&PlatformResult]) -> Vec<Figure> {
    ps.iter()
        .filter_map(|p| {
            p.cpu_idle_seconds.as_ref().map(|c| {
                fig(
                    p,
                    format!(
                        "idle CPU {} over {} s",
                        view::fmt_idle_cpu(c),
                        fmt_num(c.window_s)
                    ),
                )
            })
        })
        .collect()
}

/// The density sweep's marginal memory per extra copy beside the single copy's, where
/// a sweep ran (C1, C2: the claims are about what each instance costs). Shown, not
/// judged: the verdicts keep the single-instance rules.
fn density_figs(ps: &[&PlatformResult]) -> Vec<Figure> {
    ps.iter()
        .filter_map(|p| {
            let d = p.density.as_ref()?;
            let first = d.steps.first()?;
            let last = d.steps.last()?;
            let mut text = format!(
                "density: {} copy alone {}",
                d.memory_measure.to_uppercase(),
                fmt_bytes(first.memory_bytes as f64)
            );
            if let Some(m) = d.marginal_bytes() {
                text.push_str(&format!(
                    ", each extra copy {} (measured up to {} copies)",
                    fmt_bytes(m),
                    last.n
                ));
            }
            if !d.fixed.counted.is_empty() {
                text.push_str(&format!(
                    ", plus a fixed {} once",
                    fmt_bytes(d.fixed.bytes as f64)
                ));
            }
            Some(fig(p, text))
        })
        .collect()
}

pub(super) fn c1(run: &Run) -> Judged {
    let mut figs = series_figs(&run.all, "idle memory (PSS)", |p| {
        p.memory_idle_pss_bytes.as_ref()
    });
    figs.extend(idle_cpu_figs(&run.all));
    figs.extend(density_figs(&run.all));
    let vm_mem = run.judged_vms(idle_memory);
    let ct_mem = named(&run.cts, idle_memory);
    if let Some(why) = run.sides_missing(&vm_mem.values, &ct_mem, "idle memory (PSS)") {
        return (figs, not_measured(why));
    }
    let native_mem = run.natives.iter().find_map(|p| idle_memory_samples(p));
    if native_mem.is_none() {
        let why = if run.natives.is_empty() {
            run.kind_missing(Kind::Native)
        } else {
            "native processes did not record idle memory (PSS)".into()
        };
        return (figs, not_measured(format!("no baseline: {why}")));
    }
    let native_cpu = run.natives.iter().find_map(|p| idle_cpu_samples(p));
    let vm_cpu = run.judged_vms(idle_cpu);
    let vms = run.judged_vm_results(idle_memory);
    let cpu_vms = run.judged_vm_results(idle_cpu);
    let o = rules::rule_c1(
        (native_mem.as_deref(), native_cpu.as_deref()),
        &sampled(&vms, idle_memory_samples),
        &sampled(&run.cts, idle_memory_samples),
        &sampled(&cpu_vms, idle_cpu_samples),
        &sampled(&run.cts, idle_cpu_samples),
        cpu_resolution(&run.all),
    );
    (figs, VmSide::mark(&[&vm_mem, &vm_cpu], o))
}

pub(super) fn c2(run: &Run) -> Judged {
    let cpu1k = |p: &PlatformResult| view::median(&p.cpu_seconds_per_1k_requests);
    let cpu1k_samples = |p: &PlatformResult| samples_of(p.cpu_seconds_per_1k_requests.as_ref());
    let mut figs = series_figs(&run.all, "idle memory (PSS)", |p| {
        p.memory_idle_pss_bytes.as_ref()
    });
    figs.extend(series_figs(&run.all, "loaded memory (PSS)", |p| {
        p.memory_load_pss_bytes.as_ref()
    }));
    figs.extend(series_figs(&run.all, "CPU per 1,000 requests", |p| {
        p.cpu_seconds_per_1k_requests.as_ref()
    }));
    figs.extend(density_figs(&run.all));
    let vm_mem = run.judged_vms(idle_memory);
    let ct_mem = named(&run.cts, idle_memory);
    if let Some(why) = run.sides_missing(&vm_mem.values, &ct_mem, "idle memory (PSS)") {
        return (figs, not_measured(why));
    }
    let vm_cpu = run.judged_vms(cpu1k);
    let o = rules::rule_c2(
        &sampled(&run.judged_vm_results(idle_memory), idle_memory_samples),
        &sampled(&run.cts, idle_memory_samples),
        &sampled(&run.judged_vm_results(cpu1k), cpu1k_samples),
        &sampled(&run.cts, cpu1k_samples),
    );
    (figs, VmSide::mark(&[&vm_mem, &vm_cpu], o))
}

/// The isolation facts C3 shows, in this order.
pub(super) const ISOLATION_FACTS: [&str; 10] = [
    keys::ISOLATION_SHARED_KERNEL,
    keys::ISOLATION_PID_NAMESPACE_PRIVATE,
    keys::ISOLATION_NET_NAMESPACE_PRIVATE,
    keys::ISOLATION_HOST_PROCESSES_VISIBLE,
    keys::ISOLATION_PROCESSES_VISIBLE,
    keys::ISOLATION_WORKLOAD_PID,
    keys::ISOLATION_CAPABILITIES,
    keys::ISOLATION_HOST_CAP_SYS_ADMIN,
    keys::ISOLATION_REACHES_HOST_LOOPBACK,
    keys::ISOLATION_REACHES_HOST_BRIDGE,
];

pub(super) fn c3(run: &Run) -> Judged {
    let figs: Vec<Figure> = run
        .all
        .iter()
        .flat_map(|p| {
            ISOLATION_FACTS.iter().filter_map(|k| {
                let s = p.extras.get(*k).filter(|s| s.summary.n > 0)?;
                let what = k.trim_start_matches("isolation_").replace('_', " ");
                Some(fig(p, format!("{what}: {}", view::describe(s))))
            })
        })
        .collect();
    let exposure = |fact: &'static str, key: &'static str| rules::Exposure {
        fact,
        containers: named(&run.cts, |p| extra(p, key)),
        vms: named(&run.vms, |p| extra(p, key)),
    };
    (
        figs,
        rules::rule_c3(&[
            exposure("shares the host kernel", keys::ISOLATION_SHARED_KERNEL),
            exposure(
                "sees host processes",
                keys::ISOLATION_HOST_PROCESSES_VISIBLE,
            ),
            exposure(
                "holds CAP_SYS_ADMIN on the host's kernel",
                keys::ISOLATION_HOST_CAP_SYS_ADMIN,
            ),
            exposure(
                "opens a service on the host's loopback",
                keys::ISOLATION_REACHES_HOST_LOOPBACK,
            ),
        ]),
    )
}

pub(super) fn c4(run: &Run) -> Judged {
    let startup = |p: &PlatformResult| view::median(&p.startup_ms);
    let figs = series_figs(&run.all, "startup", |p| p.startup_ms.as_ref());
    let vm = run.judged_vms(startup);
    let ct = named(&run.cts, startup);
    if let Some(why) = run.sides_missing(&vm.values, &ct, "startup") {
        return (figs, not_measured(why));
    }
    let startups = |p: &PlatformResult| samples_of(p.startup_ms.as_ref());
    let o = rules::rule_c4(
        &sampled(&run.judged_vm_results(startup), startups),
        &sampled(&run.cts, startups),
    );
    (figs, VmSide::mark(&[&vm], o))
}

pub(super) fn c5(run: &Run) -> Judged {
    let artifacts = |ps: &[&PlatformResult], keep: fn(&str) -> bool| -> Vec<Named> {
        ps.iter()
            .flat_map(|p| {
                p.artifacts
                    .iter()
                    .filter(move |a| keep(&a.name))
                    .map(move |a| (format!("{} {}", view::display(p), a.name), a.bytes as f64))
            })
            .collect()
    };
    let disks = artifacts(&run.vms, |n| n.starts_with("disk"));
    let images = artifacts(&run.cts, |n| n.contains("image"));
    let mut figs: Vec<Figure> = run
        .vm_and_ct
        .iter()
        .flat_map(|p| {
            p.artifacts.iter().map(|a| {
                let built = a
                    .build_ms
                    .map(|b| format!(", built in {}", fmt_ms(b)))
                    .unwrap_or_else(|| ", from cache".into());
                fig(
                    p,
                    format!("{} {}{built}", a.name, fmt_bytes(a.bytes as f64)),
                )
            })
        })
        .collect();
    for (key, what) in [
        (keys::IMAGE_EXPORT_MS, "image export"),
        (keys::IMAGE_IMPORT_MS, "image import"),
    ] {
        figs.extend(series_figs(&run.vm_and_ct, what, |p| p.extras.get(key)));
    }
    let o = match run.side_missing(
        !disks.is_empty(),
        !images.is_empty(),
        "no VM disk image recorded",
        "no container image recorded",
    ) {
        Some(why) => not_measured(why),
        None => rules::rule_c5(&disks, &images),
    };
    (figs, o)
}

fn noise(p: &PlatformResult) -> Option<rules::Noise> {
    let windows = |key: &str| samples_of(p.extras.get(key));
    Some(rules::Noise {
        label: view::display(p),
        quiet: windows(keys::NOISY_BASELINE_P99_US)?,
        disk: windows(keys::NOISY_DISK_P99_US),
        cpu: windows(keys::NOISY_CPU_P99_US),
    })
}

fn median_of(v: &[f64]) -> f64 {
    crate::stats::Summary::of(v).median
}

pub(super) fn c6(run: &Run) -> Judged {
    let cts: Vec<rules::Noise> = run.cts.iter().filter_map(|p| noise(p)).collect();
    let native = run.natives.iter().find_map(|p| noise(p));
    let opt = |v: Option<f64>| v.map(fmt_us).unwrap_or_else(|| "not measured".into());
    let figs = native
        .iter()
        .chain(&cts)
        .map(|n| Figure {
            platform: n.label.clone(),
            text: format!(
                "p99 quiet {}, beside disk-only noise {}, beside CPU-only noise {} (medians of {} windows)",
                fmt_us(median_of(&n.quiet)),
                opt(n.disk.as_deref().map(median_of)),
                opt(n.cpu.as_deref().map(median_of)),
                n.quiet.len()
            ),
        })
        .collect();
    let o = if run.cts.is_empty() {
        not_measured(run.kind_missing(Kind::Container))
    } else {
        rules::rule_c6(&cts, native.as_ref())
    };
    (figs, o)
}

pub(super) fn c7(run: &Run) -> Judged {
    let survived = named(&run.cts, |p| extra(p, keys::DAEMON_KILL_SURVIVED));
    let o = if run.cts.is_empty() {
        not_measured(run.kind_missing(Kind::Container))
    } else if survived.is_empty() {
        not_measured(
            "daemon-kill fault test not run: it runs on a private Docker engine when the scenario sets `[docker] faults = true`, as root with dockerd installed",
        )
    } else {
        rules::rule_c7(&survived)
    };
    // Every engine trial in words (docker's private engine, podman's conmon).
    let figs = crate::report::sections::faults::fault_rows_of(&run.cts)
        .into_iter()
        .filter(|row| !row.trial.starts_with("mul_kill"))
        .filter_map(|row| {
            Some(Figure {
                platform: view::display(row.platform),
                text: crate::report::sections::faults::trial_sentence(row.platform, &row.trial)?,
            })
        })
        .collect();
    (figs, o)
}

/// C8's comparisons between the fastest KVM VM and the fastest of `other`: median
/// startup, and p50 latency at the lowest rate both sides were loaded at.
fn c8_comparisons(kvm: &[&PlatformResult], other: &[&PlatformResult]) -> Vec<(String, f64, f64)> {
    let best = |ps: &[&PlatformResult], f: &dyn Fn(&PlatformResult) -> Option<f64>| {
        ps.iter()
            .filter_map(|p| f(p))
            .fold(None, |a: Option<f64>, v| Some(a.map_or(v, |a| a.min(v))))
    };
    let mut comps = Vec::new();
    let startup = |p: &PlatformResult| view::median(&p.startup_ms);
    if let (Some(k), Some(s)) = (best(kvm, &startup), best(other, &startup)) {
        comps.push(("median startup (ms)".to_string(), k, s));
    }
    let mut rates: Vec<f64> = kvm
        .iter()
        .flat_map(|p| p.latency_us.iter().map(|l| l.rate_rps))
        .collect();
    rates.sort_by(|a, b| a.total_cmp(b));
    if let Some(&rate) = rates
        .iter()
        .find(|&&rate| other.iter().any(|p| p50_at(p, rate).is_some()))
    {
        let lat = |p: &PlatformResult| p50_at(p, rate);
        if let (Some(k), Some(s)) = (best(kvm, &lat), best(other, &lat)) {
            comps.push((
                format!("p50 latency at {} req/s (µs)", view::fmt_rate(rate)),
                k,
                s,
            ));
        }
    }
    comps
}

pub(super) fn c8(run: &Run) -> Judged {
    let is_kvm =
        |p: &PlatformResult| view::accelerator(p).is_some_and(|a| a.eq_ignore_ascii_case("kvm"));
    let kvm: Vec<&PlatformResult> = run.vms.iter().copied().filter(|p| is_kvm(p)).collect();
    // VirtualBox is the hosted (type 2) hypervisor; a TCG VM (accelerator recorded by
    // the result) is emulation, which only stands in for one.
    let hosted: Vec<&PlatformResult> = run
        .vms
        .iter()
        .copied()
        .filter(|p| {
            view::hypervisor(p) == Some(Hypervisor::Hosted) && !view::is_tcg(p) && !is_kvm(p)
        })
        .collect();
    let emulated: Vec<&PlatformResult> = run
        .vms
        .iter()
        .copied()
        .filter(|p| view::is_tcg(p))
        .collect();
    let mut figs = Vec::new();
    for p in kvm.iter().chain(&hosted).chain(&emulated) {
        if let Some(s) = p.startup_ms.as_ref().filter(|s| s.summary.n > 0) {
            figs.push(fig(p, format!("startup {}", view::describe(s))));
        }
        if let Some((rate, v)) = p50(p) {
            figs.push(fig(
                p,
                format!("p50 {} at {} req/s", fmt_us(v), view::fmt_rate(rate)),
            ));
        }
    }
    if kvm.is_empty() {
        let reason = run
            .vms
            .iter()
            .find_map(|p| p.details.get(keys::ACCELERATOR_REASON));
        let why = match (emulated.is_empty() && hosted.is_empty(), reason) {
            (false, Some(reason)) => {
                format!("no KVM variant in this run: QEMU ran under TCG only ({reason})")
            }
            (false, None) => "no KVM variant in this run: QEMU ran under TCG only".into(),
            (true, _) => format!(
                "no KVM VM and no hosted or emulated VM measured ({})",
                run.kind_missing(Kind::Vm)
            ),
        };
        return (figs, not_measured(why));
    }
    let labels =
        |ps: &[&PlatformResult]| -> Vec<String> { ps.iter().map(|p| view::display(p)).collect() };
    let against_hosted = c8_comparisons(&kvm, &hosted);
    if !against_hosted.is_empty() {
        let o = rules::rule_c8(&against_hosted);
        return (figs, mark_emulated(o, &[], &labels(&emulated)));
    }
    let against_emulated = c8_comparisons(&kvm, &emulated);
    if against_emulated.is_empty() {
        return (
            figs,
            not_measured(format!(
                "no hosted or emulated hypervisor beside KVM ({}; no QEMU TCG variant)",
                run.hypervisor_missing(Hypervisor::Hosted)
            )),
        );
    }
    let o = rules::rule_c8(&against_emulated);
    (figs, mark_emulated(o, &labels(&emulated), &[]))
}

/// How clients reach a variant, as the platform recorded it (the `access` detail):
/// never decided from a platform's name.
fn access(p: &PlatformResult) -> Option<Access> {
    p.details.get(keys::ACCESS).and_then(|a| Access::parse(a))
}

fn access_text(p: &PlatformResult) -> &str {
    p.details
        .get(keys::ACCESS)
        .map_or("access path not recorded", String::as_str)
}

/// Reached through a forward: a published / forwarded host port, or a floating IP (a
/// 1:1 NAT).
fn through_forward(p: &PlatformResult) -> bool {
    access(p).is_some_and(Access::through_forward)
}

/// Reached at an address of its own, with no forward (host networking is neither).
fn at_own_address(p: &PlatformResult) -> bool {
    access(p).is_some_and(Access::at_own_address)
}

/// p50 at the lowest rate per platform, with the direct-path difference for forwarded
/// variants.
fn latency_figs(ps: &[&PlatformResult]) -> Vec<Figure> {
    ps.iter()
        .filter_map(|p| {
            let (rate, v) = p50(p)?;
            let path = access_text(p);
            let mut text = format!(
                "p50 {} at {} req/s ({path})",
                fmt_us(v),
                view::fmt_rate(rate)
            );
            if through_forward(p) {
                // The same platform's direct variant at the same rate, if any.
                let direct = ps
                    .iter()
                    .filter(|q| q.name == p.name && at_own_address(q))
                    .find_map(|q| p50_at(q, rate).map(|dv| (view::display(q), dv)));
                if let Some((dl, dv)) = direct {
                    if dv > 0.0 {
                        text.push_str(&format!(", {:+.0}% vs {dl}", (v / dv - 1.0) * 100.0));
                    }
                }
            }
            Some(fig(p, text))
        })
        .collect()
}

/// "yes"/"no" of a bool fact, or `None` when not recorded.
fn yes_no(p: &PlatformResult, key: &str) -> Option<&'static str> {
    extra(p, key).map(|v| if v >= 0.5 { "yes" } else { "no" })
}

pub(super) fn c9(run: &Run) -> Judged {
    let reach = |p: &PlatformResult| extra(p, keys::REACH_OUTSIDE_DIRECT);
    let forwarded: Vec<&PlatformResult> = run
        .vm_and_ct
        .iter()
        .copied()
        .filter(|p| through_forward(p))
        .collect();
    let direct: Vec<&PlatformResult> = run
        .vm_and_ct
        .iter()
        .copied()
        .filter(|p| at_own_address(p))
        .collect();
    let mut figs = latency_figs(&run.all);
    figs.extend(run.all.iter().filter_map(|p| {
        let d = yes_no(p, keys::REACH_OUTSIDE_DIRECT)?;
        let mut text = format!(
            "access {}; a LAN PC reaches it at its own address: {d}",
            access_text(p)
        );
        if let Some(f) = yes_no(p, keys::REACH_OUTSIDE_FORWARDED) {
            text.push_str(&format!(", through the forwarded port: {f}"));
        }
        Some(fig(p, text))
    }));
    (
        figs,
        rules::rule_c9(&named(&forwarded, reach), &named(&direct, reach)),
    )
}

pub(super) fn c10(run: &Run) -> Judged {
    let forwarded: Vec<rules::Forward> = run
        .vm_and_ct
        .iter()
        .filter(|p| through_forward(p))
        .map(|p| rules::Forward {
            label: view::display(p),
            reached_from_lan: extra(p, keys::REACH_OUTSIDE_FORWARDED).map(|v| v >= 0.5),
            health: health(p),
        })
        .collect();
    let mut figs = latency_figs(&run.all);
    figs.extend(run.all.iter().filter_map(|p| {
        p.max_throughput_rps
            .as_ref()
            .map(|t| fig(p, format!("max throughput {} requests/s", fmt_num(t.rps))))
    }));
    figs.extend(
        run.all
            .iter()
            .filter(|p| through_forward(p))
            .filter_map(|p| {
                let f = yes_no(p, keys::REACH_OUTSIDE_FORWARDED)?;
                Some(fig(
                    p,
                    format!(
                        "a LAN PC reaches it through the forwarded port at the host's address: {f}"
                    ),
                ))
            }),
    );
    let o = if forwarded.is_empty() && run.vm_and_ct.is_empty() {
        not_measured(format!(
            "{}; {}",
            run.kind_missing(Kind::Container),
            run.kind_missing(Kind::Vm)
        ))
    } else {
        rules::rule_c10(&forwarded)
    };
    (figs, o)
}

pub(super) fn c11(run: &Run) -> Judged {
    let mut clones = Vec::new();
    let mut figs = Vec::new();
    for p in &run.vms {
        for (key, how) in [
            (keys::VM_CLONE_OVERLAY_MS, "copy-on-write overlay clone"),
            (keys::VM_CLONE_FULL_MS, "full disk copy clone"),
        ] {
            if let Some(s) = p.extras.get(key).filter(|s| s.summary.n > 0) {
                clones.push((format!("{} ({how})", view::display(p)), s.samples.clone()));
                figs.push(fig(p, format!("{how} {}", view::describe(s))));
            }
        }
        for (key, how) in [
            (keys::VM_CLONE_OVERLAY_BYTES, "overlay clone disk cost"),
            (keys::VM_CLONE_FULL_BYTES, "full clone disk cost"),
        ] {
            if let Some(v) = extra(p, key) {
                figs.push(fig(p, format!("{how} {}", fmt_bytes(v))));
            }
        }
    }
    figs.extend(series_figs(&run.cts, "one more container (startup)", |p| {
        p.startup_ms.as_ref()
    }));
    let o = if run.vms.is_empty() {
        not_measured(run.kind_missing(Kind::Vm))
    } else {
        rules::rule_c11(&clones)
    };
    (figs, o)
}

pub(super) fn c12(run: &Run) -> Judged {
    // Successful attempts: from each attempt's recorded outcome (0 = failed), or, in
    // results written before outcomes were recorded, from the timed successes.
    let count = |ok_key: &str, ms_key: &str| {
        run.cts
            .iter()
            .filter_map(|p| match p.extras.get(ok_key) {
                Some(ok) => Some(ok.samples.iter().filter(|v| **v >= 0.5).count()),
                None => p.extras.get(ms_key).map(|s| s.summary.n),
            })
            .max()
    };
    let mut figs = Vec::new();
    for (key, what) in [
        (keys::DOCKER_COMMIT_MS, "docker commit"),
        (keys::DOCKER_BUILD_MS, "docker build (Dockerfile)"),
        (keys::DOCKER_COMMIT_IMAGE_BYTES, "committed image"),
        (keys::DOCKER_BUILD_IMAGE_BYTES, "built image"),
    ] {
        figs.extend(series_figs(&run.cts, what, |p| p.extras.get(key)));
    }
    let o = if run.cts.is_empty() {
        not_measured(run.kind_missing(Kind::Container))
    } else {
        rules::rule_c12(
            count(keys::DOCKER_COMMIT_OK, keys::DOCKER_COMMIT_MS),
            count(keys::DOCKER_BUILD_OK, keys::DOCKER_BUILD_MS),
        )
    };
    (figs, o)
}

/// One platform's resize of a running VM as it recorded it: `resize_ok` with
/// `resize_demanded_stop` where written (OpenStack, QEMU), else VirtualBox's
/// `resize_live_ok` (1 = resized while running, 0 = refused because it was running).
fn resize_of(p: &PlatformResult) -> Option<rules::Resize> {
    let ok = p.extras.get(keys::RESIZE_OK).filter(|s| s.summary.n > 0);
    let (resized, demanded_stop, note) = match ok {
        Some(s) => (
            s.summary.median >= 0.5,
            extra(p, keys::RESIZE_DEMANDED_STOP).map(|v| v >= 0.5),
            s.note.clone(),
        ),
        None => {
            let live = extra(p, keys::RESIZE_LIVE_OK)?;
            let note = p
                .extras
                .get(keys::RESIZE_LIVE_OK)
                .and_then(|s| s.note.clone());
            (live >= 0.5, Some(live < 0.5), note)
        }
    };
    Some(rules::Resize {
        label: view::display(p),
        resized,
        demanded_stop,
        kept_running: extra(p, keys::RESIZE_GUEST_KEPT_RUNNING).map(|v| v >= 0.5),
        downtime_ms: extra(p, keys::RESIZE_DOWNTIME_MS),
        note,
    })
}

pub(super) fn c13(run: &Run) -> Judged {
    let resizes = |h: Hypervisor| -> Vec<rules::Resize> {
        run.r
            .platforms
            .iter()
            .filter(|p| p.available && view::hypervisor(p) == Some(h))
            .filter_map(resize_of)
            .collect()
    };
    let mut figs = Vec::new();
    for (key, what) in [
        (keys::SNAPSHOT_MS, "snapshot"),
        (keys::RESTORE_MS, "restore"),
        (
            keys::RESTORE_TO_ANSWER_MS,
            "restore call to the next answer",
        ),
        (keys::RESTORE_DOWNTIME_MS, "service downtime during restore"),
        (keys::RESIZE_DOWNTIME_MS, "service downtime during resize"),
    ] {
        figs.extend(series_figs(&run.vm_and_ct, what, |p| p.extras.get(key)));
    }
    for (key, what) in [
        (keys::RESIZE_MEMORY_OK, "memory changed while running"),
        (keys::RESIZE_CPUS_OK, "CPUs changed while running"),
    ] {
        figs.extend(run.vm_and_ct.iter().filter_map(|p| {
            let s = p.extras.get(key).filter(|s| s.summary.n > 0)?;
            let yes = if s.summary.median >= 0.5 { "yes" } else { "no" };
            let note = s
                .note
                .as_ref()
                .map(|n| format!(" ({n})"))
                .unwrap_or_default();
            Some(fig(p, format!("{what}: {yes}{note}")))
        }));
    }
    let cloud = resizes(Hypervisor::Cloud);
    let virtualbox = resizes(Hypervisor::Hosted);
    // The hosted half is VirtualBox's where it ran. Where it cannot, QEMU stands in: a
    // hypervisor hosted on this Linux as VirtualBox is on its host, asked the same
    // thing of a running guest (the catalogue states this choice).
    let (hosted, stand_in) = if virtualbox.is_empty() {
        (
            resizes(Hypervisor::Direct),
            Some(format!(
                "hosted side: QEMU stands in for VirtualBox ({})",
                run.hypervisor_missing(Hypervisor::Hosted)
            )),
        )
    } else {
        (virtualbox, None)
    };
    let o = if !cloud.is_empty() && !hosted.is_empty() {
        rules::rule_c13(&cloud, &hosted, stand_in.as_deref())
    } else {
        let mut why = Vec::new();
        if cloud.is_empty() {
            why.push(run.hypervisor_missing(Hypervisor::Cloud));
        }
        if hosted.is_empty() {
            why.push(format!(
                "{}; no QEMU resize recorded either",
                run.hypervisor_missing(Hypervisor::Hosted)
            ));
        }
        // The half that was measured is said, not hidden behind the other's absence:
        // a class sees what OpenStack or QEMU did even where the other cannot run. In
        // parentheses: the first screen's few words keep the reason alone.
        let mut measured: Vec<String> = cloud
            .iter()
            .chain(&hosted)
            .map(|r| format!("measured half: {}", r.describe()))
            .collect();
        if let Some(s) = stand_in.filter(|_| !hosted.is_empty()) {
            measured.push(s);
        }
        let mut why = why.join("; ");
        if !measured.is_empty() {
            why = format!("{why} ({})", measured.join("; "));
        }
        not_measured(why)
    };
    (figs, o)
}

pub(super) fn c14(run: &Run) -> Judged {
    let hv: Vec<Health> = run.vms.iter().filter_map(|p| health(p)).collect();
    let hc: Vec<Health> = run.cts.iter().filter_map(|p| health(p)).collect();
    let mut figs = latency_figs(&run.all);
    figs.extend(run.all.iter().filter_map(|p| {
        health(p).map(|h| {
            fig(
                p,
                format!(
                    "{} correct, {} failed, {} wrong answers",
                    h.correct, h.failed, h.wrong
                ),
            )
        })
    }));
    let mut o = match run.side_missing(
        !hv.is_empty(),
        !hc.is_empty(),
        "no VM was loaded",
        "no container was loaded",
    ) {
        Some(why) => not_measured(why),
        None => rules::rule_c14(&hv, &hc),
    };
    // Correct answers do not depend on the accelerator, failures under load may.
    let tcg: Vec<String> = run
        .vms
        .iter()
        .filter(|p| view::is_tcg(p) && health(p).is_some())
        .map(|p| view::display(p))
        .collect();
    if !tcg.is_empty() && !matches!(o.verdict, Verdict::NotMeasured(_)) {
        o.because.push_str(&format!(
            ". {} ran under QEMU TCG (emulation, no KVM): its answers count, its failures under load are not a KVM VM's",
            tcg.join(", ")
        ));
        // The few words on the first screen must not pass for KVM figures either.
        o.headline.push_str(" [TCG]");
    }
    (figs, o)
}

pub(super) fn c15(run: &Run) -> Judged {
    let routed_topology =
        |p: &PlatformResult| p.variant.get(keys::TOPOLOGY).is_some_and(|t| t == "routed");
    let routed: Vec<&PlatformResult> = run
        .all
        .iter()
        .copied()
        .filter(|p| routed_topology(p))
        .collect();
    let mut figs = Vec::new();
    for p in &routed {
        let Some((rate, v)) = p50(p) else { continue };
        let flat = run
            .all
            .iter()
            .filter(|q| q.name == p.name && !routed_topology(q))
            .find_map(|q| p50_at(q, rate).map(|fv| (view::display(q), fv)));
        let text = match flat {
            Some((fl, fv)) => format!(
                "p50 {} at {} req/s vs {} on {fl} ({}{} for the routed hop)",
                fmt_us(v),
                view::fmt_rate(rate),
                fmt_us(fv),
                if v >= fv { "+" } else { "-" },
                fmt_us((v - fv).abs())
            ),
            None => format!("p50 {} at {} req/s", fmt_us(v), view::fmt_rate(rate)),
        };
        figs.push(fig(p, text));
    }
    let hs: Vec<Health> = routed.iter().filter_map(|p| health(p)).collect();
    let o = if routed.is_empty() {
        not_measured(
            "routed two-network topology (10.5.7.0/24 + 10.5.8.0/24 via a router) not in this run's scenario",
        )
    } else {
        rules::rule_c15(&hs)
    };
    (figs, o)
}
