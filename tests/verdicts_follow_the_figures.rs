//! Every judge can come out otherwise: a real default run's results.json
//! (tests/fixtures/default-run.json, measured on this kind of host: native, Docker,
//! Podman, LXC and QEMU under TCG), mutated toward each claim's opposite, gives the
//! opposite verdict, and mutated toward the claim gives "supported". Each case is a
//! configuration a real machine can produce (the case says which), written into the
//! figures the run recorded; `virtbench report results.json` re-renders the same way.
//!
//! The real-run tests that deploy the opposite configurations for real are in
//! tests/claims_from_a_real_run.rs; this table shows each outcome of each rule from
//! real figures, cheaply, and that a verdict follows its deciding figure.

use virtbench::platform::facts::{self, Hypervisor, Isolation};
use virtbench::report::claims::{self, Verdict};
use virtbench::results::{keys, PlatformResult, RunResults};
use virtbench::stats::Series;

fn real_run() -> RunResults {
    serde_json::from_str(include_str!("fixtures/default-run.json"))
        .expect("the checked-in default run parses")
}

fn isolation(p: &PlatformResult) -> Option<Isolation> {
    facts::of(&p.name).map(|f| f.isolation)
}

/// A result the report shows figures of: available, even when a later step failed
/// (the run's all-in-one microVM timed out after its artifacts were recorded).
fn measured(p: &PlatformResult) -> bool {
    p.available
}

fn each(r: &mut RunResults, kind: Isolation, f: impl Fn(&mut PlatformResult)) {
    for p in r.platforms.iter_mut() {
        if measured(p) && isolation(p) == Some(kind) {
            f(p);
        }
    }
}

/// `v` five times: a figure measured without spread (its interval is one point).
fn five(v: f64, unit: &str) -> Series {
    Series::new(unit, vec![v; 5])
}

fn median(s: &Option<Series>) -> f64 {
    s.as_ref()
        .expect("the real run has this figure")
        .summary
        .median
}

/// The largest median of `get` among the measured results of `kind`.
fn largest(r: &RunResults, kind: Isolation, get: impl Fn(&PlatformResult) -> Option<f64>) -> f64 {
    r.platforms
        .iter()
        .filter(|p| measured(p) && isolation(p) == Some(kind))
        .filter_map(get)
        .fold(0.0, f64::max)
}

fn verdict(r: &RunResults, id: &str) -> (Verdict, String) {
    let row = claims::evaluate(r)
        .into_iter()
        .find(|c| c.id == id)
        .expect("every claim has a row");
    (row.verdict, row.because)
}

/// "supported", "contradicted", "mixed", "undecided", "not measured" (emulated-only
/// states count as their plain outcome: QEMU runs under TCG here).
fn outcome(v: &Verdict) -> &'static str {
    match v.plain() {
        Verdict::Supported => "supported",
        Verdict::Contradicted => "contradicted",
        Verdict::Mixed => "mixed",
        Verdict::Undecided(_) => "undecided",
        Verdict::NotMeasured(_) => "not measured",
        _ => unreachable!("plain() folds the emulated states"),
    }
}

struct Case {
    claim: &'static str,
    /// The configuration a real machine would need to produce these figures.
    configuration: &'static str,
    mutate: fn(&mut RunResults),
    want: &'static str,
}

/// Every VM's idle PSS (the memory the verdicts judge) set to a factor of the heaviest
/// container's.
fn vm_memory(r: &mut RunResults, factor_of_heaviest_container: f64) {
    let ct = largest(r, Isolation::Container, |p| {
        p.memory_idle_pss_bytes.as_ref().map(|s| s.summary.median)
    });
    let native = largest(r, Isolation::Process, |p| {
        p.memory_idle_pss_bytes.as_ref().map(|s| s.summary.median)
    });
    let v = (ct * factor_of_heaviest_container).min(if factor_of_heaviest_container < 1.0 {
        native * 0.9
    } else {
        f64::MAX
    });
    each(r, Isolation::Vm, |p| {
        p.memory_idle_pss_bytes = Some(five(v, "bytes"));
    });
}

fn vm_idle_cpu_like_native(r: &mut RunResults) {
    let native = r
        .platforms
        .iter()
        .find(|p| measured(p) && isolation(p) == Some(Isolation::Process))
        .and_then(|p| p.cpu_idle_seconds.clone());
    each(r, Isolation::Vm, |p| {
        p.cpu_idle_seconds = native.clone();
    });
}

fn vm_startup(r: &mut RunResults, factor_of_slowest_container: f64) {
    let ct = largest(r, Isolation::Container, |p| {
        p.startup_ms.as_ref().map(|s| s.summary.median)
    });
    each(r, Isolation::Vm, |p| {
        p.startup_ms = Some(five(ct * factor_of_slowest_container, "ms"));
    });
}

fn container_noise(r: &mut RunResults, disk_over_quiet: f64) {
    each(r, Isolation::Container, |p| {
        let quiet = p
            .extras
            .get(keys::NOISY_BASELINE_P99_US)
            .map(|s| s.summary.median)
            .unwrap_or(1000.0);
        p.extras
            .insert(keys::NOISY_BASELINE_P99_US.into(), five(quiet, "us"));
        p.extras.insert(
            keys::NOISY_DISK_P99_US.into(),
            five(quiet * disk_over_quiet, "us"),
        );
    });
}

fn flag_all(r: &mut RunResults, kind: Isolation, key: &'static str, v: f64) {
    each(r, kind, |p| {
        p.extras.insert(key.into(), Series::new("ratio", vec![v]));
    });
}

fn survived(r: &mut RunResults, v: f64) {
    each(r, Isolation::Container, |p| {
        if p.extras.contains_key(keys::DAEMON_KILL_SURVIVED) {
            p.extras.insert(
                keys::DAEMON_KILL_SURVIVED.into(),
                Series::new("ratio", vec![v]),
            );
        }
    });
}

fn access_of(p: &PlatformResult) -> Option<&str> {
    p.details.get(keys::ACCESS).map(String::as_str)
}

/// The reach from the LAN PC: `forwarded` on forwarded variants' own address and
/// through their forward, `direct` on direct variants' own address.
fn lan_reach(r: &mut RunResults, forwarded_own: f64, through_forward: f64, direct: f64) {
    for p in r.platforms.iter_mut().filter(|p| measured(p)) {
        match access_of(p) {
            Some("forwarded-port") | Some("floating-ip") => {
                p.extras.insert(
                    keys::REACH_OUTSIDE_DIRECT.into(),
                    Series::new("ratio", vec![forwarded_own]),
                );
                p.extras.insert(
                    keys::REACH_OUTSIDE_FORWARDED.into(),
                    Series::new("ratio", vec![through_forward]),
                );
            }
            Some("direct-address") => {
                p.extras.insert(
                    keys::REACH_OUTSIDE_DIRECT.into(),
                    Series::new("ratio", vec![direct]),
                );
            }
            _ => {}
        }
    }
}

fn clones(r: &mut RunResults, ms: f64) {
    each(r, Isolation::Vm, |p| {
        for key in [keys::VM_CLONE_OVERLAY_MS, keys::VM_CLONE_FULL_MS] {
            if p.extras.contains_key(key) {
                p.extras.insert(key.into(), five(ms, "ms"));
            }
        }
    });
}

fn image_outcomes(r: &mut RunResults, ok: f64) {
    each(r, Isolation::Container, |p| {
        for key in [keys::DOCKER_COMMIT_OK, keys::DOCKER_BUILD_OK] {
            if p.extras.contains_key(key) {
                p.extras
                    .insert(key.into(), Series::new("ratio", vec![ok; 3]));
            }
        }
    });
}

fn vm_disks(r: &mut RunResults, bytes: u64) {
    each(r, Isolation::Vm, |p| {
        for a in p
            .artifacts
            .iter_mut()
            .filter(|a| a.name.starts_with("disk"))
        {
            a.bytes = bytes;
        }
    });
}

fn container_image_bytes(r: &RunResults) -> u64 {
    r.platforms
        .iter()
        .filter(|p| measured(p) && isolation(p) == Some(Isolation::Container))
        .flat_map(|p| p.artifacts.iter())
        .filter(|a| a.name.contains("image"))
        .map(|a| a.bytes)
        .max()
        .expect("the real run built a container image")
}

fn wrong_answer_on_a_vm(r: &mut RunResults) {
    let vm = r
        .platforms
        .iter_mut()
        .find(|p| measured(p) && isolation(p) == Some(Isolation::Vm) && !p.latency_us.is_empty())
        .expect("a loaded VM");
    vm.latency_us[0].wrong_answers = 1;
}

fn all_healthy(r: &mut RunResults) {
    for p in r.platforms.iter_mut() {
        for l in &mut p.latency_us {
            l.errors = 0;
            l.wrong_answers = 0;
            l.count = l.count.max(1);
        }
    }
}

fn routed_dead(r: &mut RunResults) {
    for p in r.platforms.iter_mut() {
        if p.variant.get(keys::TOPOLOGY).is_some_and(|t| t == "routed") {
            for l in &mut p.latency_us {
                l.errors += l.count;
                l.count = 0;
            }
        }
    }
}

/// A KVM twin of the run's first QEMU result, `factor` times its startup and p50: the
/// same machine with working KVM (nested KVM hangs here).
fn kvm_twin(r: &mut RunResults, factor: f64) {
    let mut p = r
        .platforms
        .iter()
        .find(|p| {
            measured(p) && facts::of(&p.name).and_then(|f| f.hypervisor) == Some(Hypervisor::Direct)
        })
        .expect("a QEMU result")
        .clone();
    p.label = format!("{}/kvm", p.label);
    p.details.insert(keys::ACCELERATOR.into(), "kvm".into());
    p.variant.insert(keys::ACCELERATOR.into(), "kvm".into());
    let startup = median(&p.startup_ms);
    p.startup_ms = Some(five(startup * factor, "ms"));
    for l in &mut p.latency_us {
        l.p50 *= factor;
    }
    r.platforms.push(p);
}

/// A platform made available, as a run that measured it would leave it.
fn make_available(p: &mut PlatformResult) {
    p.available = true;
    p.error = None;
    p.unavailable_reason = None;
}

fn flag(v: bool) -> Series {
    Series::new("bool", vec![if v { 1.0 } else { 0.0 }])
}

/// OpenStack's resize as its extras write it: done (with the boot id before and after:
/// Nova restarts the guest) or failed with its reason.
fn cloud_resize(r: &mut RunResults, ok: bool) {
    for p in r.platforms.iter_mut() {
        if facts::of(&p.name).and_then(|f| f.hypervisor) != Some(Hypervisor::Cloud) {
            continue;
        }
        make_available(p);
        if ok {
            p.extras.insert(keys::RESIZE_OK.into(), flag(true));
            p.extras
                .insert(keys::RESIZE_DEMANDED_STOP.into(), flag(false));
            p.extras
                .insert(keys::RESIZE_GUEST_KEPT_RUNNING.into(), flag(false));
        } else {
            p.extras.insert(
                keys::RESIZE_OK.into(),
                flag(false).with_note("no flavor bigger than virtbench.tiny to resize to"),
            );
        }
        p.extras.insert(keys::RESIZE_LIVE_OK.into(), flag(ok));
    }
}

/// VirtualBox's resize as its driver writes it: `resize_live_ok` 1 resized while
/// running, 0 refused because the VM was running.
fn virtualbox_resize(r: &mut RunResults, live: f64) {
    for p in r.platforms.iter_mut() {
        if facts::of(&p.name).and_then(|f| f.hypervisor) != Some(Hypervisor::Hosted) {
            continue;
        }
        make_available(p);
        p.extras.insert(
            keys::RESIZE_LIVE_OK.into(),
            Series::new("ratio", vec![live]),
        );
    }
}

/// QEMU's live resize as its extras write it on the first q35 variant (the figures of
/// tests/qemu.rs `live_resize_of_a_running_guest`: memory ballooned 128 -> 96 MiB, one
/// vCPU hot-added, same boot id, no stop).
fn qemu_resize(r: &mut RunResults) {
    let p = r
        .platforms
        .iter_mut()
        .find(|p| {
            measured(p) && facts::of(&p.name).and_then(|f| f.hypervisor) == Some(Hypervisor::Direct)
        })
        .expect("the real run has a QEMU variant");
    for k in [
        keys::RESIZE_OK,
        keys::RESIZE_MEMORY_OK,
        keys::RESIZE_CPUS_OK,
        keys::RESIZE_GUEST_KEPT_RUNNING,
        keys::RESIZE_LIVE_OK,
    ] {
        p.extras.insert(k.into(), flag(true));
    }
    p.extras
        .insert(keys::RESIZE_DEMANDED_STOP.into(), flag(false));
    p.extras.insert(
        keys::RESIZE_DOWNTIME_MS.into(),
        Series::new("ms", vec![0.0]),
    );
}

const CASES: &[Case] = &[
    Case {
        claim: "C1",
        configuration: "VMs as light as native processes at idle (memory and CPU): a VM with nothing but the service, ballooned down",
        mutate: |r| {
            vm_memory(r, 0.5);
            vm_idle_cpu_like_native(r);
        },
        want: "contradicted",
    },
    Case {
        claim: "C2",
        configuration: "VM idle memory half the heaviest container's",
        mutate: |r| {
            vm_memory(r, 0.5);
            each(r, Isolation::Vm, |p| {
                p.cpu_seconds_per_1k_requests = None;
            });
        },
        want: "contradicted",
    },
    Case {
        claim: "C2",
        configuration: "VM idle memory 20x the heaviest container's, CPU per request not measured",
        mutate: |r| {
            vm_memory(r, 20.0);
            each(r, Isolation::Vm, |p| {
                p.cpu_seconds_per_1k_requests = None;
            });
        },
        want: "supported",
    },
    Case {
        claim: "C3",
        configuration: "containers with a kernel of their own (Kata, gVisor) and VMs on the host's kernel",
        mutate: |r| {
            flag_all(r, Isolation::Container, keys::ISOLATION_SHARED_KERNEL, 0.0);
            flag_all(r, Isolation::Vm, keys::ISOLATION_SHARED_KERNEL, 1.0);
            for k in [keys::ISOLATION_HOST_PROCESSES_VISIBLE, keys::ISOLATION_REACHES_HOST_LOOPBACK] {
                flag_all(r, Isolation::Container, k, 0.0);
                flag_all(r, Isolation::Vm, k, 0.0);
            }
        },
        want: "contradicted",
    },
    Case {
        claim: "C3",
        configuration: "QEMU VMs behind user-mode NAT as they are now probed: slirp's 10.0.2.2 is the host's loopback, so the listener on host 127.0.0.1 the run recorded as their `reaches_host_bridge` opens as the loopback fact (tests/isolation_flip.rs measures it)",
        mutate: |r| {
            each(r, Isolation::Vm, |p| {
                if let Some(b) = p.extras.get(keys::ISOLATION_REACHES_HOST_BRIDGE).cloned() {
                    p.extras
                        .insert(keys::ISOLATION_REACHES_HOST_LOOPBACK.into(), b);
                }
            });
        },
        want: "mixed",
    },
    Case {
        claim: "C3",
        configuration: "VMs that reach nothing of the host (bridged, no user-mode NAT)",
        mutate: |r| {
            flag_all(r, Isolation::Container, keys::ISOLATION_SHARED_KERNEL, 1.0);
            flag_all(r, Isolation::Vm, keys::ISOLATION_SHARED_KERNEL, 0.0);
            flag_all(r, Isolation::Vm, keys::ISOLATION_HOST_PROCESSES_VISIBLE, 0.0);
            flag_all(r, Isolation::Vm, keys::ISOLATION_REACHES_HOST_LOOPBACK, 0.0);
        },
        want: "supported",
    },
    Case {
        claim: "C4",
        configuration: "VMs that start in half a container's time (a microVM against a slow image pull)",
        mutate: |r| vm_startup(r, 0.5),
        want: "contradicted",
    },
    Case {
        claim: "C4",
        configuration: "VMs that start 20x slower than the slowest container, repeatably",
        mutate: |r| vm_startup(r, 20.0),
        want: "supported",
    },
    Case {
        claim: "C4",
        configuration: "VM startups spread around 5x a container's (a loaded host)",
        mutate: |r| {
            let ct = largest(r, Isolation::Container, |p| {
                p.startup_ms.as_ref().map(|s| s.summary.median)
            });
            each(r, Isolation::Vm, |p| {
                p.startup_ms = Some(Series::new(
                    "ms",
                    [3.0, 7.0, 5.0, 4.0, 6.0].iter().map(|f| f * ct).collect(),
                ));
            });
        },
        want: "undecided",
    },
    Case {
        claim: "C5",
        configuration: "a VM disk barely larger than the container image",
        mutate: |r| {
            let img = container_image_bytes(r);
            vm_disks(r, img + img / 2);
        },
        want: "contradicted",
    },
    Case {
        claim: "C5",
        configuration: "a general-purpose VM disk of 2 GiB (a distribution with its packages)",
        mutate: |r| vm_disks(r, 2 << 30),
        want: "supported",
    },
    Case {
        claim: "C6",
        configuration: "a disk-hungry sibling that leaves the p99 where it was (separate disks)",
        mutate: |r| container_noise(r, 1.0),
        want: "contradicted",
    },
    Case {
        claim: "C6",
        configuration: "a disk-hungry sibling that triples the p99 (one shared slow disk)",
        mutate: |r| container_noise(r, 3.0),
        want: "supported",
    },
    Case {
        claim: "C7",
        configuration: "an engine whose containers die with its daemon",
        mutate: |r| survived(r, 0.0),
        want: "supported",
    },
    Case {
        claim: "C7",
        configuration: "an engine whose containers outlive its daemon (containerd's shims keep them)",
        mutate: |r| survived(r, 1.0),
        want: "contradicted",
    },
    Case {
        claim: "C8",
        configuration: "working KVM: a KVM VM at a tenth of the TCG one's startup and latency",
        mutate: |r| kvm_twin(r, 0.1),
        want: "supported",
    },
    Case {
        claim: "C8",
        configuration: "KVM no faster than emulation (a misconfigured VM)",
        mutate: |r| kvm_twin(r, 1.2),
        want: "contradicted",
    },
    Case {
        claim: "C9",
        configuration: "forwarded variants reached at their own address, direct ones not (a routed LAN, a firewalled bridge)",
        mutate: |r| lan_reach(r, 1.0, 1.0, 0.0),
        want: "contradicted",
    },
    Case {
        claim: "C9",
        configuration: "NAT variants unreachable at their own address, direct ones reachable (a bridged LAN)",
        mutate: |r| lan_reach(r, 0.0, 1.0, 1.0),
        want: "supported",
    },
    Case {
        claim: "C10",
        configuration: "forwards that drop most of what they are sent (user-mode NAT far past its rate)",
        mutate: |r| {
            for p in r.platforms.iter_mut() {
                if matches!(access_of(p), Some("forwarded-port") | Some("floating-ip")) {
                    for l in &mut p.latency_us {
                        l.errors = l.count * 3 + 1;
                    }
                }
            }
        },
        want: "contradicted",
    },
    Case {
        claim: "C10",
        configuration: "every answer through every forward correct",
        mutate: all_healthy,
        want: "supported",
    },
    Case {
        claim: "C11",
        configuration: "only full clones of a 20 GB disk on a slow disk (two minutes)",
        mutate: |r| clones(r, 120_000.0),
        want: "contradicted",
    },
    Case {
        claim: "C12",
        configuration: "an engine that refuses commit and build (read-only storage)",
        mutate: |r| image_outcomes(r, 0.0),
        want: "contradicted",
    },
    Case {
        claim: "C13",
        configuration: "a cloud that resized a running VM and a desktop hypervisor (VirtualBox) that demanded a stop",
        mutate: |r| {
            cloud_resize(r, true);
            virtualbox_resize(r, 0.0);
        },
        want: "supported",
    },
    Case {
        claim: "C13",
        configuration: "a cloud whose resize failed (no bigger flavor fits) and VirtualBox resizing live",
        mutate: |r| {
            cloud_resize(r, false);
            virtualbox_resize(r, 1.0);
        },
        want: "contradicted",
    },
    Case {
        claim: "C13",
        configuration: "this host with the devcloud: OpenStack resized a running VM, no VirtualBox, QEMU standing in resized a running guest live (balloon and CPU hotplug)",
        mutate: |r| {
            cloud_resize(r, true);
            qemu_resize(r);
        },
        want: "mixed",
    },
    Case {
        claim: "C13",
        configuration: "the devcloud with a flavor nothing bigger fits (the resize fails), QEMU standing in resized live",
        mutate: |r| {
            cloud_resize(r, false);
            qemu_resize(r);
        },
        want: "contradicted",
    },
    Case {
        claim: "C14",
        configuration: "a VM variant that answered one expression wrong",
        mutate: wrong_answer_on_a_vm,
        want: "contradicted",
    },
    Case {
        claim: "C14",
        configuration: "every variant answered every request correctly",
        mutate: all_healthy,
        want: "supported",
    },
    Case {
        claim: "C15",
        configuration: "a router that drops the tier-to-tier traffic",
        mutate: routed_dead,
        want: "contradicted",
    },
];

#[test]
fn each_claim_follows_its_figures_both_ways() {
    let base = real_run();
    let mut failures = Vec::new();
    for case in CASES {
        let mut r = base.clone();
        (case.mutate)(&mut r);
        let (v, because) = verdict(&r, case.claim);
        if outcome(&v) != case.want {
            failures.push(format!(
                "{} with {}: want {}, got {:?} ({because})",
                case.claim, case.configuration, case.want, v
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn every_claim_has_a_case_for_the_opposite_of_the_real_runs_verdict() {
    let base = real_run();
    let rows = claims::evaluate(&base);
    for row in rows {
        let now = outcome(&row.verdict);
        let flips = CASES
            .iter()
            .filter(|c| c.claim == row.id)
            .any(|c| c.want != now && (c.want == "supported" || c.want == "contradicted"));
        assert!(
            flips,
            "{}: the real run says {now}, and no case shows it coming out otherwise",
            row.id
        );
    }
}

/// Whether `key` is documented in docs/results-schema.md: named in backquotes, or an
/// instance of a documented pattern (`fault_<trial>_survived`, `address.<role>`).
fn documented(doc: &str, key: &str) -> bool {
    if doc.contains(&format!("`{key}`")) {
        return true;
    }
    let mut rest = doc;
    while let Some(i) = rest.find('`') {
        rest = &rest[i + 1..];
        let Some(j) = rest.find('`') else { break };
        let pattern = &rest[..j];
        rest = &rest[j + 1..];
        if let Some(lt) = pattern.find('<') {
            let Some(gt) = pattern[lt..].find('>') else {
                continue;
            };
            let (pre, post) = (&pattern[..lt], &pattern[lt + gt + 1..]);
            if !pre.is_empty()
                && key.len() > pre.len() + post.len()
                && key.starts_with(pre)
                && key.ends_with(post)
            {
                return true;
            }
        }
    }
    false
}

/// The maps a real run actually wrote, read from its results.json (not a search of the
/// source for constants): every `extras` series and `details` / `variant` key is
/// documented in the schema.
#[test]
fn every_name_a_real_run_wrote_is_documented() {
    let doc = include_str!("../docs/results-schema.md");
    let r = real_run();
    let mut missing = std::collections::BTreeSet::new();
    for p in &r.platforms {
        for key in p.extras.keys() {
            if !documented(doc, key) {
                missing.insert(format!("extras {key} ({})", p.label));
            }
        }
        for key in p.details.keys().chain(p.variant.keys()) {
            if !documented(doc, key) {
                missing.insert(format!("details/variant {key} ({})", p.label));
            }
        }
    }
    assert!(
        missing.is_empty(),
        "written by a real run, not in docs/results-schema.md:\n{}",
        missing.into_iter().collect::<Vec<_>>().join("\n")
    );
}

#[test]
fn the_pattern_reader_reads_patterns() {
    let doc = "| `fault_<trial>_survived` | x |\n| `address.<role>` |";
    assert!(documented(doc, "fault_dockerd_kill_survived"));
    assert!(documented(doc, "address.sum"));
    assert!(!documented(doc, "fault__survivedx"));
    assert!(!documented(doc, "other"));
}
