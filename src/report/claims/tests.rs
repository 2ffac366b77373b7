//! The claims table: each rule on plain numbers, the table run on the checked-in
//! fixture (emulated-only states, native baseline), and the names the claims read
//! (documented, and written by some platform or experiment).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use super::catalogue::CLAIMS;
use super::rules::*;
use super::*;
use crate::report::view;
use crate::results::{keys, PlatformResult, RunResults};
use crate::stats::Series;

/// Each case's inputs give its verdict under `rule`.
fn verdicts<T: std::fmt::Debug>(rule: impl Fn(&T) -> Outcome, cases: Vec<(T, Verdict)>) {
    for (input, want) in cases {
        assert_eq!(rule(&input).verdict, want, "{input:?}");
    }
}

fn n(label: &str, v: f64) -> Named {
    (label.into(), v)
}

/// Five repetitions of the same value: an interval of one point, n = 5, which decides.
fn s(label: &str, v: f64) -> Samples {
    (label.into(), vec![v; 5])
}

/// C1 on single values per side (five equal repetitions each), CPU resolution 0.
fn c1(
    native: (Option<f64>, Option<f64>),
    vm_mem: &[Samples],
    ct_mem: &[Samples],
    vm_cpu: &[Samples],
    ct_cpu: &[Samples],
) -> Outcome {
    let m = native.0.map(|v| vec![v; 5]);
    let c = native.1.map(|v| vec![v; 5]);
    rule_c1(
        (m.as_deref(), c.as_deref()),
        vm_mem,
        ct_mem,
        vm_cpu,
        ct_cpu,
        0.0,
    )
}

fn h(label: &str, correct: u64, failed: u64, wrong: u64) -> Health {
    Health {
        label: label.into(),
        correct,
        failed,
        wrong,
    }
}

fn is_nm(o: &Outcome) -> bool {
    matches!(o.verdict, Verdict::NotMeasured(_))
}

#[test]
fn c2_rules() {
    let ct = [s("docker", 30.0)];
    let cpu = [s("docker", 0.2)];
    assert_eq!(
        rule_c2(&[s("vm", 300.0)], &ct, &[s("vm", 0.3)], &cpu).verdict,
        Verdict::Supported
    );
    // TCG-like: memory holds, CPU 20x the container's.
    assert_eq!(
        rule_c2(&[s("vm", 300.0)], &ct, &[s("vm", 4.0)], &cpu).verdict,
        Verdict::Mixed
    );
    assert_eq!(
        rule_c2(&[s("vm", 20.0)], &ct, &[s("vm", 2.0)], &cpu).verdict,
        Verdict::Contradicted
    );
    assert!(is_nm(&rule_c2(&[s("vm", 1.0)], &[], &[], &[])));
}

#[test]
fn c3_rules() {
    let kernel = |ct: &[Named], vm: &[Named]| Exposure {
        fact: "shares the host kernel",
        containers: ct.to_vec(),
        vms: vm.to_vec(),
    };
    let loopback = |ct: &[Named], vm: &[Named]| Exposure {
        fact: "opens a service on the host's loopback",
        containers: ct.to_vec(),
        vms: vm.to_vec(),
    };
    assert_eq!(
        rule_c3(&[kernel(&[n("docker", 1.0)], &[n("qemu", 0.0)])]).verdict,
        Verdict::Supported
    );
    assert_eq!(
        rule_c3(&[kernel(&[n("kata", 0.0)], &[n("qemu", 1.0)])]).verdict,
        Verdict::Contradicted
    );
    assert_eq!(
        rule_c3(&[kernel(
            &[n("docker", 1.0), n("gvisor", 0.0)],
            &[n("qemu", 1.0)]
        )])
        .verdict,
        Verdict::Mixed
    );
    // Own kernel, but a user-mode NAT VM opens the host's loopback services where no
    // container does: the facts disagree.
    assert_eq!(
        rule_c3(&[
            kernel(&[n("docker", 1.0)], &[n("qemu", 0.0)]),
            loopback(&[n("docker", 0.0)], &[n("qemu/nat", 1.0)]),
        ])
        .verdict,
        Verdict::Mixed
    );
    // A host-network container opens them too: that fact does not speak for the VM.
    assert_eq!(
        rule_c3(&[
            kernel(&[n("docker", 1.0)], &[n("qemu", 0.0)]),
            loopback(&[n("docker/host", 1.0)], &[n("qemu/bridge", 0.0)]),
        ])
        .verdict,
        Verdict::Supported
    );
    assert!(is_nm(&rule_c3(&[])));
    assert!(is_nm(&rule_c3(&[kernel(&[n("docker", 1.0)], &[])])));
}

#[test]
fn c4_rules() {
    let ct = [s("docker/bridge", 600.0), s("docker/host", 650.0)];
    let o = rule_c4(&[s("qemu", 9000.0)], &ct);
    assert_eq!(o.verdict, Verdict::Supported);
    assert!(
        o.because.contains("docker/host"),
        "compares to the slowest container: {}",
        o.because
    );
    assert_eq!(
        rule_c4(&[s("qemu", 500.0)], &ct).verdict,
        Verdict::Contradicted
    );
    assert_eq!(rule_c4(&[s("qemu", 2000.0)], &ct).verdict, Verdict::Mixed);
    assert_eq!(
        rule_c4(&[s("fast", 150.0), s("slow", 9000.0)], &ct).verdict,
        Verdict::Mixed
    );
    assert!(is_nm(&rule_c4(&[], &ct)));
}

#[test]
fn c5_rules() {
    let img = [n("docker-image", 2.0 * 1024.0 * 1024.0)];
    assert_eq!(
        rule_c5(&[n("disk-vdi", 3.0 * GIB)], &img).verdict,
        Verdict::Supported
    );
    assert_eq!(
        rule_c5(&[n("disk-qcow2", 36.0 * 1024.0 * 1024.0)], &img).verdict,
        Verdict::Mixed
    );
    assert_eq!(
        rule_c5(&[n("disk-qcow2", 3.0 * 1024.0 * 1024.0)], &img).verdict,
        Verdict::Contradicted
    );
    assert!(is_nm(&rule_c5(&[], &img)));
}

fn noise(label: &str, quiet: f64, disk: Option<f64>, cpu: Option<f64>) -> Noise {
    Noise {
        label: label.into(),
        quiet: vec![quiet; 3],
        disk: disk.map(|v| vec![v; 3]),
        cpu: cpu.map(|v| vec![v; 3]),
    }
}

#[test]
fn c6_rules() {
    let d = |disk: f64| [noise("d", 1000.0, Some(disk), Some(5000.0))];
    assert_eq!(rule_c6(&d(2000.0), None).verdict, Verdict::Supported);
    // The CPU-only sibling never decides: 5x with CPU noise, 1.05x with disk noise.
    assert_eq!(rule_c6(&d(1050.0), None).verdict, Verdict::Contradicted);
    assert_eq!(rule_c6(&d(1300.0), None).verdict, Verdict::Mixed);
    assert_eq!(
        rule_c6(&[], None).verdict,
        Verdict::NotMeasured("noisy-neighbour test not run".into())
    );
    // Older results (one sibling doing both) have no disk-only figure: not judged.
    assert!(is_nm(&rule_c6(
        &[noise("d", 1000.0, None, Some(9000.0))],
        None
    )));
    let native = noise("native", 500.0, Some(600.0), Some(1000.0));
    let o = rule_c6(&d(2000.0), Some(&native));
    assert!(
        o.because
            .contains("CPU-only sibling (shown, not judged): d 5.00x"),
        "{}",
        o.because
    );
    assert!(
        o.because.contains("baseline): disk 1.20x, CPU 2.00x"),
        "{}",
        o.because
    );
}

#[test]
fn c7_rules() {
    assert_eq!(rule_c7(&[n("docker", 0.0)]).verdict, Verdict::Supported);
    assert_eq!(rule_c7(&[n("docker", 1.0)]).verdict, Verdict::Contradicted);
    assert_eq!(rule_c7(&[n("docker", 0.5)]).verdict, Verdict::Mixed);
    assert!(is_nm(&rule_c7(&[])));
}

#[test]
fn c8_rules() {
    assert_eq!(
        rule_c8(&[
            ("startup".into(), 300.0, 9000.0),
            ("p50".into(), 400.0, 4800.0)
        ])
        .verdict,
        Verdict::Supported
    );
    assert_eq!(
        rule_c8(&[("startup".into(), 900.0, 300.0)]).verdict,
        Verdict::Contradicted
    );
    // A 5 % difference is not "faster": within what two runs of one VM differ by.
    assert_eq!(
        rule_c8(&[("startup".into(), 950.0, 1000.0)]).verdict,
        Verdict::Mixed
    );
    assert_eq!(
        rule_c8(&[
            ("startup".into(), 300.0, 900.0),
            ("p50".into(), 500.0, 400.0)
        ])
        .verdict,
        Verdict::Mixed
    );
    assert!(is_nm(&rule_c8(&[])));
}

#[test]
fn c9_rules() {
    assert_eq!(
        rule_c9(&[n("qemu/nat", 0.0)], &[n("qemu/bridge", 1.0)]).verdict,
        Verdict::Supported
    );
    assert_eq!(
        rule_c9(&[n("qemu/nat", 1.0)], &[n("qemu/bridge", 0.0)]).verdict,
        Verdict::Contradicted
    );
    assert_eq!(
        rule_c9(&[n("qemu/nat", 1.0)], &[n("qemu/bridge", 1.0)]).verdict,
        Verdict::Mixed
    );
    assert!(is_nm(&rule_c9(&[], &[])));
}

#[test]
fn c10_rules() {
    let f = |label: &str, lan: Option<bool>, health: Option<Health>| Forward {
        label: label.into(),
        reached_from_lan: lan,
        health,
    };
    verdicts(
        |f: &Vec<Forward>| rule_c10(f),
        vec![
            (
                vec![
                    f("docker/bridge", Some(false), Some(h("d", 1000, 0, 0))),
                    f("qemu/nat", None, Some(h("q", 990, 5, 0))),
                ],
                Verdict::Supported,
            ),
            // A forward that drops most of what it is sent (slirp under load).
            (
                vec![f("qemu/nat", Some(false), Some(h("q", 300, 700, 0)))],
                Verdict::Contradicted,
            ),
            (
                vec![f("qemu/nat", None, Some(h("q", 0, 500, 0)))],
                Verdict::Contradicted,
            ),
            (
                vec![f("qemu/nat", None, Some(h("q", 800, 200, 0)))],
                Verdict::Mixed,
            ),
        ],
    );
    assert!(is_nm(&rule_c10(&[f("qemu/nat", Some(true), None)])));
    assert!(is_nm(&rule_c10(&[])));
}

#[test]
fn c11_rules() {
    assert_eq!(
        rule_c11(&[s("overlay", 13.0), s("full", 220.0)]).verdict,
        Verdict::Supported
    );
    assert_eq!(
        rule_c11(&[s("full", 120_000.0)]).verdict,
        Verdict::Contradicted
    );
    assert_eq!(rule_c11(&[s("full", 20_000.0)]).verdict, Verdict::Mixed);
    assert!(is_nm(&rule_c11(&[])));
}

#[test]
fn c12_rules() {
    assert_eq!(rule_c12(Some(3), Some(3)).verdict, Verdict::Supported);
    assert_eq!(rule_c12(Some(3), Some(0)).verdict, Verdict::Mixed);
    assert_eq!(rule_c12(Some(0), Some(0)).verdict, Verdict::Contradicted);
    assert!(is_nm(&rule_c12(None, None)));
}

fn resize(label: &str, resized: bool, stop: Option<bool>) -> Resize {
    Resize {
        label: label.into(),
        resized,
        demanded_stop: stop,
        kept_running: None,
        downtime_ms: None,
        note: None,
    }
}

#[test]
fn c13_rules() {
    let os_ok = resize("openstack", true, Some(false));
    let os_failed = resize("openstack", false, None);
    let vb_stop = resize("virtualbox", false, Some(true));
    let qemu_live = resize("qemu", true, Some(false));
    let v = |c: &Resize, h: &Resize| {
        rule_c13(std::slice::from_ref(c), std::slice::from_ref(h), None).verdict
    };
    assert_eq!(v(&os_ok, &vb_stop), Verdict::Supported);
    assert_eq!(v(&os_failed, &qemu_live), Verdict::Contradicted);
    // What this host measures: both resize a running VM.
    assert_eq!(v(&os_ok, &qemu_live), Verdict::Mixed);
    assert_eq!(v(&os_failed, &vb_stop), Verdict::Mixed);
    // A hosted attempt that neither resized nor asked for a stop says nothing.
    let o = rule_c13(
        std::slice::from_ref(&os_ok),
        &[resize("qemu", false, Some(false))],
        None,
    );
    assert!(is_nm(&o), "{o:?}");
    assert!(is_nm(&rule_c13(&[], std::slice::from_ref(&vb_stop), None)));
    // The stand-in and the guest's restart are said.
    let mut restarted = os_ok.clone();
    restarted.kept_running = Some(false);
    restarted.downtime_ms = Some(6600.0);
    let o = rule_c13(
        &[restarted],
        &[qemu_live],
        Some("hosted side: QEMU stands in for VirtualBox"),
    );
    assert!(o.because.contains("the console drops"), "{}", o.because);
    assert!(o.because.contains("QEMU stands in"), "{}", o.because);
    assert!(
        o.headline.contains("hosted (qemu) resized live"),
        "{}",
        o.headline
    );
}

#[test]
fn c14_rules() {
    let ct = [h("docker", 1000, 0, 0)];
    verdicts(
        |vm: &Health| rule_c14(std::slice::from_ref(vm), &ct),
        vec![
            (h("qemu", 2488, 12, 0), Verdict::Supported),
            (h("qemu", 1000, 0, 3), Verdict::Contradicted),
            (h("qemu", 900, 100, 0), Verdict::Mixed),
        ],
    );
    assert!(is_nm(&rule_c14(&[], &ct)));
}

#[test]
fn c15_rules() {
    verdicts(
        |r: &Health| rule_c15(std::slice::from_ref(r)),
        vec![
            (h("docker/routed", 1000, 0, 0), Verdict::Supported),
            (h("docker/routed", 0, 1000, 0), Verdict::Contradicted),
            (h("docker/routed", 900, 100, 0), Verdict::Mixed),
        ],
    );
    assert!(is_nm(&rule_c15(&[])));
}

#[test]
fn verdict_labels_state_the_reason() {
    assert_eq!(
        Verdict::NotMeasured("no VirtualBox on this host".into()).label(),
        "not measured here: no VirtualBox on this host"
    );
    assert_eq!(Verdict::Mixed.label(), "mixed");
}

#[test]
fn c1_rules_take_native_as_the_baseline() {
    let native = (Some(13.0), Some(0.004));
    let ct = [s("docker", 30.0)];
    let ct_cpu = [s("docker", 0.02)];
    let o = c1(native, &[s("qemu", 700.0)], &ct, &[s("qemu", 0.6)], &ct_cpu);
    assert_eq!(o.verdict, Verdict::Supported);
    assert!(o.because.contains("against native"), "{}", o.because);
    // VMs no heavier than native nor than the container, in memory and CPU.
    assert_eq!(
        c1(
            native,
            &[s("qemu", 12.0)],
            &ct,
            &[s("qemu", 0.003)],
            &ct_cpu
        )
        .verdict,
        Verdict::Contradicted
    );
    // Memory much higher but idle CPU lower: the parts disagree.
    assert_eq!(
        c1(
            native,
            &[s("qemu", 700.0)],
            &ct,
            &[s("qemu", 0.01)],
            &ct_cpu
        )
        .verdict,
        Verdict::Mixed
    );
    // 3x the container but under 3x native (a heavy native baseline): not supported.
    assert_eq!(
        c1(
            (Some(200.0), None),
            &[s("qemu", 300.0)],
            &[s("docker", 90.0)],
            &[],
            &[]
        )
        .verdict,
        Verdict::Mixed
    );
    // One VM heavy, one light.
    assert_eq!(
        c1(native, &[s("a", 700.0), s("b", 40.0)], &ct, &[], &[]).verdict,
        Verdict::Mixed
    );
    assert!(is_nm(&c1(native, &[], &ct, &[], &[])));
    assert!(
        is_nm(&c1((None, None), &[s("qemu", 700.0)], &ct, &[], &[])),
        "no native baseline, no verdict"
    );
}

#[test]
fn a_zero_is_never_divided_by() {
    // Native idle CPU of 0 ticks: no ratio to native, the container comparison stands.
    let o = c1(
        (Some(13.0), Some(0.0)),
        &[s("qemu", 700.0)],
        &[s("docker", 30.0)],
        &[s("qemu", 0.6)],
        &[s("docker", 0.0)],
    );
    assert_eq!(o.verdict, Verdict::Supported, "judged on memory alone");
    assert!(o.because.contains("below resolution"), "{}", o.because);
    assert!(
        o.because.contains("judged on memory alone"),
        "{}",
        o.because
    );
    let o = rule_c2(
        &[s("vm", 300.0)],
        &[s("docker", 30.0)],
        &[s("vm", 0.3)],
        &[s("docker", 0.0)],
    );
    assert_eq!(o.verdict, Verdict::Supported);
    assert!(!o.because.contains('∞'), "{}", o.because);
    assert!(is_nm(&rule_c6(&[noise("d", 0.0, Some(10.0), None)], None)));
}

#[test]
fn headlines_are_short_and_keep_the_deciding_figure() {
    let o = rule_c4(&[s("qemu", 9000.0)], &[s("docker", 600.0)]);
    assert_eq!(o.headline, "VM startup 15.0x a container's");
    let o = rule_c4(&[s("a", 1200.0), s("b", 9000.0)], &[s("docker", 600.0)]);
    assert_eq!(o.headline, "VM startup 2.00–15.0x a container's");
    let o = rule_c14(&[h("qemu", 990, 10, 0)], &[h("docker", 1000, 0, 0)]);
    assert_eq!(o.headline, "2 of 2 answered, 0 wrong, ≤ 1.00% failed");
    assert_eq!(
        rule_c13(&[], &[], None).headline,
        "a resize of a running VM on both a cloud and a hosted hypervisor is needed"
    );
    // C1's deciding figures are ratios to native and to the heaviest container.
    let o = c1(
        (Some(10.0), Some(0.01)),
        &[s("qemu", 400.0)],
        &[s("docker", 20.0)],
        &[s("qemu", 0.2)],
        &[s("docker", 0.1)],
    );
    assert_eq!(
        o.headline,
        "VM memory 40.0x native, 20.0x container; CPU 20.0x, 2.00x"
    );
    // A part the rule leaves out (native CPU below resolution) is not quoted.
    let o = c1(
        (Some(10.0), Some(0.0)),
        &[s("qemu", 400.0)],
        &[s("docker", 20.0)],
        &[s("qemu", 0.2)],
        &[s("docker", 0.0)],
    );
    assert_eq!(o.headline, "VM memory 40.0x native, 20.0x container");
    // Native CPU below resolution but the containers' measured: CPU's one ratio says
    // what it is against.
    let o = c1(
        (Some(10.0), Some(0.0)),
        &[s("qemu", 400.0)],
        &[s("docker", 20.0)],
        &[s("qemu", 0.2)],
        &[s("docker", 0.1)],
    );
    assert_eq!(
        o.headline,
        "VM memory 40.0x native, 20.0x container; CPU 2.00x container"
    );
}

#[test]
fn details_in_parentheses_are_left_out_of_a_short_reason() {
    assert_eq!(
        without_details("no OpenStack on this host (cloud `x` (devcloud) not found); no VirtualBox on this host (VBoxManage not found)."),
        "no OpenStack on this host; no VirtualBox on this host."
    );
    assert_eq!(without_details("plain"), "plain");
    assert_eq!(without_details("unbalanced ) (still"), "unbalanced )");
}

#[test]
fn every_row_has_its_few_words_and_a_deciding_figure() {
    let rows = evaluate(&fixture());
    for row in &rows {
        assert!(
            !row.short.is_empty() && !row.evidence.is_empty(),
            "{}",
            row.id
        );
        assert!(!row.headline.is_empty(), "{}: no deciding figure", row.id);
    }
    // The fixture's C1 is judged against native, and its few words say so.
    assert!(
        verdict_of(&rows, "C1").headline.contains("native"),
        "{}",
        verdict_of(&rows, "C1").headline
    );
    // C14's answers include a TCG VM's: its few words are marked, like its line.
    let c14 = verdict_of(&rows, "C14");
    if c14.because.contains("QEMU TCG") {
        assert!(c14.headline.ends_with("[TCG]"), "{}", c14.headline);
    }
}

fn fixture() -> RunResults {
    serde_json::from_str(include_str!("../../../tests/fixtures/results.json"))
        .expect("fixture parses")
}

fn verdict_of<'a>(rows: &'a [ClaimRow], id: &str) -> &'a ClaimRow {
    rows.iter().find(|c| c.id == id).expect("claim present")
}

/// The fixture's QEMU VM as if it had run under KVM, faster on every figure.
fn kvm_twin(r: &RunResults) -> PlatformResult {
    let mut p = r
        .platforms
        .iter()
        .find(|p| view::is_tcg(p))
        .expect("fixture has a TCG VM")
        .clone();
    p.label = "qemu/per-role/kernel/kvm".into();
    p.details.insert(keys::ACCELERATOR.into(), "kvm".into());
    p.variant.insert(keys::ACCELERATOR.into(), "kvm".into());
    p.startup_ms = Some(Series::new("ms", vec![310.0, 300.0, 320.0]));
    for l in &mut p.latency_us {
        l.p50 = 400.0;
    }
    p
}

#[test]
fn tcg_only_verdicts_are_emulated_only() {
    let rows = evaluate(&fixture());
    // C2's CPU per 1,000 requests has two load windows in the fixture: too few to
    // decide, so C2 is undecided (and still says its VM was emulated).
    let c2 = verdict_of(&rows, "C2");
    assert!(
        matches!(c2.verdict, Verdict::Undecided(_)),
        "{:?}",
        c2.verdict
    );
    assert!(c2.because.contains("emulated VMs only"), "{}", c2.because);
    for (id, v) in [
        ("C1", Verdict::SupportedEmulatedOnly),
        ("C4", Verdict::SupportedEmulatedOnly),
    ] {
        let row = verdict_of(&rows, id);
        assert_eq!(row.verdict, v, "{id}: {}", row.because);
        assert!(
            row.because.contains("emulated VMs only") && row.because.contains("[TCG]"),
            "{id}: {}",
            row.because
        );
        assert!(row.rule.contains("emulated VM only"), "{id}: {}", row.rule);
    }
    assert!(verdict_of(&rows, "C1").because.contains("against native"));
    // No KVM in the fixture: C8 cannot compare, and says why.
    assert!(matches!(
        verdict_of(&rows, "C8").verdict,
        Verdict::NotMeasured(_)
    ));
}

#[test]
fn a_kvm_vm_is_judged_and_tcg_set_aside() {
    let mut r = fixture();
    let twin = kvm_twin(&r);
    r.platforms.push(twin);
    let rows = evaluate(&r);
    let c4 = verdict_of(&rows, "C4");
    // 310 ms against docker's 643 ms: a KVM VM starting faster contradicts the claim.
    assert_eq!(c4.verdict, Verdict::Contradicted, "{}", c4.because);
    assert!(
        c4.because
            .contains("Emulated VMs shown, not judged: qemu/per-role/kernel [TCG]"),
        "{}",
        c4.because
    );
    assert!(
        !c4.because.contains("qemu/per-role/kernel [TCG] 14"),
        "{}",
        c4.because
    );
    // C8: KVM against TCG only, so emulated-only.
    let c8 = verdict_of(&rows, "C8");
    assert_eq!(c8.verdict, Verdict::SupportedEmulatedOnly, "{}", c8.because);
}

#[test]
fn c8_prefers_virtualbox_to_tcg() {
    let mut r = fixture();
    let twin = kvm_twin(&r);
    let mut vbox = twin.clone();
    vbox.name = "virtualbox".into();
    vbox.label = "virtualbox".into();
    vbox.details.clear();
    vbox.variant.clear();
    vbox.startup_ms = Some(Series::new("ms", vec![20_000.0]));
    for l in &mut vbox.latency_us {
        l.p50 = 900.0;
    }
    r.platforms.retain(|p| p.name != "virtualbox");
    r.platforms.push(twin);
    r.platforms.push(vbox);
    let rows = evaluate(&r);
    let c8 = verdict_of(&rows, "C8");
    assert_eq!(c8.verdict, Verdict::Supported, "{}", c8.because);
    assert!(
        c8.because.contains("Emulated VMs shown, not judged"),
        "{}",
        c8.because
    );
}

#[test]
fn emulation_is_read_from_the_accelerator_not_the_name() {
    let mut r = fixture();
    for p in &mut r.platforms {
        if view::is_tcg(p) {
            p.details.insert(keys::ACCELERATOR.into(), "kvm".into());
            p.variant.insert(keys::ACCELERATOR.into(), "kvm".into());
            p.label = "qemu/tcg-named".into();
        }
    }
    let rows = evaluate(&r);
    assert_eq!(verdict_of(&rows, "C4").verdict, Verdict::Supported);
}

#[test]
fn emulated_states_keep_their_colour_and_say_so() {
    for (plain, emulated) in [
        (Verdict::Supported, Verdict::SupportedEmulatedOnly),
        (Verdict::Contradicted, Verdict::ContradictedEmulatedOnly),
        (Verdict::Mixed, Verdict::MixedEmulatedOnly),
    ] {
        assert_eq!(plain.clone().emulated_only(), emulated);
        assert_eq!(emulated.plain(), plain);
        assert!(emulated.is_emulated_only() && !plain.is_emulated_only());
        assert_eq!(
            emulated.label(),
            format!("{}, emulated VM only", plain.label())
        );
        assert_eq!(
            emulated.class(),
            format!("{} emulated-only", plain.class()),
            "same colour class plus a mark"
        );
    }
    let nm = Verdict::NotMeasured("x".into());
    assert_eq!(nm.clone().emulated_only(), nm);
}

#[test]
fn every_claim_has_one_entry_in_id_order() {
    let ids: Vec<&str> = CLAIMS.iter().map(|c| c.id).collect();
    let want: Vec<String> = (1..=CLAIMS.len()).map(|n| format!("C{n}")).collect();
    assert_eq!(ids, want);
    for c in &CLAIMS {
        assert!(!c.claim.is_empty() && !c.french.is_empty() && !c.rule.is_empty());
    }
}

// ---- the names the claims read ----

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn rust_files(dir: &Path, out: &mut Vec<(PathBuf, String)>) {
    for e in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = e.expect("dir entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|x| x == "rs") {
            let text = std::fs::read_to_string(&path).expect("source reads");
            out.push((path, text));
        }
    }
}

/// `NAME -> "value"` of every constant in results/keys.rs.
fn key_constants() -> BTreeMap<String, String> {
    include_str!("../../results/keys.rs")
        .lines()
        .filter_map(|l| {
            let rest = l.trim().strip_prefix("pub const ")?;
            let (name, rest) = rest.split_once(": &str = \"")?;
            Some((name.to_string(), rest.strip_suffix("\";")?.to_string()))
        })
        .collect()
}

/// Some source under the writers' directories names `key`, as a literal or a constant.
fn written(key: &str, writers: &[(PathBuf, String)], consts: &BTreeMap<String, String>) -> bool {
    let literal = format!("\"{key}\"");
    let constant = consts
        .iter()
        .find(|(_, v)| v.as_str() == key)
        .map(|(k, _)| format!("keys::{k}"));
    writers.iter().any(|(_, text)| {
        text.contains(&literal) || constant.as_ref().is_some_and(|c| text.contains(c))
    })
}

#[test]
fn every_name_a_claim_reads_is_documented_and_written() {
    let schema = std::fs::read_to_string(root().join("docs/results-schema.md"))
        .expect("docs/results-schema.md reads");
    let consts = key_constants();
    // Platforms write their results; src/measure holds the experiments they share
    // (isolation facts, the noisy neighbour).
    let mut writers = Vec::new();
    rust_files(&root().join("src/platform"), &mut writers);
    rust_files(&root().join("src/measure"), &mut writers);
    let pending: BTreeMap<&str, &str> = keys::PENDING.iter().copied().collect();
    let mut problems = Vec::new();
    for c in &CLAIMS {
        for name in c.fields.iter().chain(c.extras).chain(c.facts) {
            if !schema.contains(&format!("`{name}`")) {
                problems.push(format!(
                    "{}: `{name}` is not in docs/results-schema.md",
                    c.id
                ));
            }
        }
        for name in c.extras.iter().chain(c.facts) {
            match (written(name, &writers, &consts), pending.get(name)) {
                (true, Some(_)) => problems.push(format!(
                    "{}: `{name}` is written now: remove it from keys::PENDING and the schema's \"not yet\"",
                    c.id
                )),
                (false, None) => problems.push(format!(
                    "{}: `{name}` is read but no file under src/platform or src/measure writes it",
                    c.id
                )),
                (false, Some(_)) => {
                    let line = schema
                        .lines()
                        .find(|l| l.contains(&format!("`{name}`")))
                        .unwrap_or_default();
                    if !line.contains("not yet") {
                        problems.push(format!(
                            "{}: `{name}` is pending: its schema line must say \"not yet\"",
                            c.id
                        ));
                    }
                }
                (true, None) => {}
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn judges_read_only_the_names_their_entries_list() {
    let consts = key_constants();
    let declared: BTreeSet<&str> = CLAIMS
        .iter()
        .flat_map(|c| c.extras.iter().chain(c.facts).copied())
        .collect();
    let mut sources = Vec::new();
    rust_files(&root().join("src/report/claims"), &mut sources);
    let mut undeclared = BTreeSet::new();
    for (path, text) in &sources {
        if path.ends_with("tests.rs") {
            continue;
        }
        for (i, _) in text.match_indices("keys::") {
            let name: String = text[i + 6..]
                .chars()
                .take_while(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || *c == '_')
                .collect();
            if name.is_empty() {
                continue;
            }
            let value = consts
                .get(&name)
                .unwrap_or_else(|| panic!("{}: keys::{name} is not in keys.rs", path.display()));
            if !declared.contains(value.as_str()) {
                undeclared.insert(format!("{} reads keys::{name}", path.display()));
            }
        }
    }
    assert!(
        undeclared.is_empty(),
        "add these to the claim's `extras` / `facts`: {undeclared:?}"
    );
}

/// A comparison with one side missing is "not measured", never "mixed" (seen on a real
/// native + docker run: C3 and C9 said "mixed" with no VM and no direct variant).
#[test]
fn one_sided_comparisons_are_not_verdicts() {
    let kernel = |ct: Vec<Named>, vm: Vec<Named>| Exposure {
        fact: "shares the host kernel",
        containers: ct,
        vms: vm,
    };
    let o = rule_c3(&[kernel(vec![n("docker/bridge", 1.0)], vec![])]);
    assert!(is_nm(&o), "{o:?}");
    assert!(o.verdict.label().contains("no VM probed"), "{o:?}");
    let o = rule_c3(&[kernel(vec![], vec![n("qemu", 0.0)])]);
    assert!(is_nm(&o), "{o:?}");
    let o = rule_c9(&[n("docker/bridge", 1.0)], &[]);
    assert!(is_nm(&o), "{o:?}");
    assert!(o.verdict.label().contains("no bridged or direct"), "{o:?}");
    let o = rule_c9(&[], &[n("qemu/bridge", 1.0)]);
    assert!(is_nm(&o), "{o:?}");
}

#[test]
fn a_ratio_whose_interval_spans_the_threshold_is_undecided_not_mixed() {
    // C6 as three quick runs gave it (1.21x, 1.17x, 1.02x the quiet p99): with the
    // windows' spread, the interval spans the 1.1x threshold, so the run says
    // "undecided" with the interval, never flipping between mixed and contradicted.
    let noisy = Noise {
        label: "docker/bridge".into(),
        quiet: vec![1000.0, 1150.0, 900.0],
        disk: Some(vec![1210.0, 1020.0, 1170.0]),
        cpu: None,
    };
    let o = rule_c6(std::slice::from_ref(&noisy), None);
    assert!(
        matches!(o.verdict, Verdict::Undecided(_)),
        "{:?} {}",
        o.verdict,
        o.confidence
    );
    assert!(o.confidence.contains("n=3"), "{}", o.confidence);
    // The same ratio, clearly measured, decides.
    let clear = Noise {
        quiet: vec![1000.0; 3],
        disk: Some(vec![2000.0; 3]),
        ..noisy
    };
    assert_eq!(rule_c6(&[clear], None).verdict, Verdict::Supported);
}

#[test]
fn startup_ratios_decide_only_when_their_interval_clears_the_threshold() {
    let ct = [(
        "docker".to_string(),
        vec![300.0, 310.0, 290.0, 305.0, 295.0],
    )];
    let far: Samples = ("qemu".into(), vec![1800.0, 1750.0, 1900.0, 1820.0, 1790.0]);
    let o = rule_c4(std::slice::from_ref(&far), &ct);
    assert_eq!(o.verdict, Verdict::Supported, "{}", o.confidence);
    assert!(o.confidence.contains("n=5"), "{}", o.confidence);
    assert!(
        o.confidence.contains("supported at >= 5.00x"),
        "{}",
        o.confidence
    );
    // Around 5x with a wide spread: undecided, with the interval.
    let near: Samples = ("qemu".into(), vec![1100.0, 1900.0, 1500.0, 1300.0, 1700.0]);
    let o = rule_c4(&[near], &ct);
    assert!(matches!(o.verdict, Verdict::Undecided(_)), "{o:?}");
    // Two repetitions decide nothing, however far apart the medians.
    let two: Samples = ("qemu".into(), vec![9000.0, 9100.0]);
    assert!(matches!(
        rule_c4(&[two], &ct).verdict,
        Verdict::Undecided(_)
    ));
    // One VM decided below 1x and another undecided: the decided ones already
    // disagree with "supported", so the run is mixed only if they disagree among
    // themselves; a lone undecided figure keeps the whole undecided.
    let slow: Samples = ("q35".into(), vec![9000.0; 5]);
    let fast: Samples = ("microvm".into(), vec![200.0; 5]);
    assert_eq!(rule_c4(&[slow, fast], &ct).verdict, Verdict::Mixed);
}

#[test]
fn every_band_a_rule_applies_is_stated_in_the_catalogue() {
    let stated: Vec<Band> = CLAIMS
        .iter()
        .flat_map(|c| c.thresholds.iter().filter_map(|t| t.band))
        .collect();
    for band in [
        C1_MEMORY,
        C1_CPU,
        C2_MEMORY,
        C2_CPU,
        C4_STARTUP,
        C5_SIZE,
        C6_DISK,
        C11_CLONE_MS,
    ] {
        assert!(stated.contains(&band), "{band:?} applied but not stated");
    }
    for c in CLAIMS.iter() {
        assert!(!c.thresholds.is_empty(), "{}: no threshold stated", c.id);
        for t in c.thresholds {
            assert!(
                !t.reason.is_empty(),
                "{}: a threshold without its reason",
                c.id
            );
        }
    }
    // The report's rows carry them.
    let rows = evaluate(&fixture());
    assert!(rows.iter().all(|r| !r.thresholds.is_empty()));
}

/// One memory definition: C1 and C2 judge PSS. The RSS / cgroup column counts page
/// cache and shared libraries differently per platform; moving it, even to the
/// opposite of the claim, must not move the verdicts, and a platform without PSS
/// drops out of the memory comparison instead of being judged on RSS.
#[test]
fn memory_verdicts_judge_pss_not_rss() {
    let before = evaluate(&fixture());
    let mut r = fixture();
    for p in &mut r.platforms {
        if p.memory_idle_bytes.is_some() {
            p.memory_idle_bytes = Some(Series::new("bytes", vec![1.0, 1.0, 1.0]));
            p.memory_load_bytes = Some(Series::new("bytes", vec![1.0, 1.0, 1.0]));
        }
    }
    let after = evaluate(&r);
    for id in ["C1", "C2"] {
        assert_eq!(
            verdict_of(&before, id).verdict,
            verdict_of(&after, id).verdict,
            "{id} moved with RSS"
        );
    }
    let mut r = fixture();
    for p in &mut r.platforms {
        p.memory_idle_pss_bytes = None;
    }
    let c1 = evaluate(&r);
    assert!(
        matches!(verdict_of(&c1, "C1").verdict, Verdict::NotMeasured(_)),
        "{:?}",
        verdict_of(&c1, "C1").verdict
    );
}
