//! The claims table on a real run, not the hand-made fixture: native and Docker deployed
//! for real by the `virtbench` binary, then every verdict checked against what that run
//! measured. The fixture (tests/fixtures/results.json) stays for rendering tests; this
//! test is what shows that a verdict's inputs come from the run it is printed for.
//!
//! Needs a Docker engine (`.ci/setup-host` starts one): fails without it.

use std::process::Command;

use virtbench::report::claims::{self, Verdict};

const SCENARIO: &str = r#"name = "claims-real"
platforms = ["native", "docker"]
[workload]
expressions = ["(5+3)/2"]
[startup]
repetitions = 2
timeout_s = 60
[idle]
window_s = 1
interval_ms = 100
[load]
rates_rps = [50]
duration_s = 1
warmup_s = 0.2
connections = 2
timeout_ms = 2000
[throughput]
duration_s = 1
connections = 2
[docker]
networks = ["bridge"]
subnet = "10.213.77.0/24"
"#;

/// Claims whose rule needs a VM (or a cloud) on one side: with none in the run, any
/// verdict other than "not measured" would have come from somewhere else. (C3 compares
/// containers with VMs too: one side alone is not a verdict.)
const NEED_A_VM: [&str; 8] = ["C1", "C2", "C3", "C4", "C5", "C8", "C11", "C14"];

#[test]
fn every_verdict_of_a_real_native_and_docker_run_reads_that_run() {
    let tmp = tempfile::tempdir().unwrap();
    let scenario = tmp.path().join("claims-real.toml");
    std::fs::write(&scenario, SCENARIO).unwrap();
    let out_dir = tmp.path().join("reports");
    let out = Command::new(env!("CARGO_BIN_EXE_virtbench"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(["run", "-q"])
        .arg(&scenario)
        .arg("--out")
        .arg(&out_dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "the run failed (is the Docker engine up? .ci/setup-host starts it): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let results =
        virtbench::report::read_results(&out_dir.join("latest").join("results.json")).unwrap();
    let ran: Vec<&str> = results
        .platforms
        .iter()
        .filter(|p| p.available && p.error.is_none())
        .map(|p| p.label.as_str())
        .collect();
    assert_eq!(ran, ["native", "docker/bridge"], "{:?}", results.platforms);

    let rows = claims::evaluate(&results);
    assert_eq!(rows.len(), 15);
    for row in &rows {
        eprintln!("{} {:?}: {}", row.id, row.verdict, row.headline);
        // Every figure shown beside a verdict names a variant of this run.
        for f in &row.figures {
            assert!(
                ran.iter().any(|l| f.platform.starts_with(l)),
                "{}: figure for {:?}, not a variant of this run {ran:?}",
                row.id,
                f.platform
            );
        }
        if NEED_A_VM.contains(&row.id) {
            assert!(
                matches!(row.verdict, Verdict::NotMeasured(_)),
                "{}: no VM ran, yet {:?}",
                row.id,
                row.verdict
            );
            continue;
        }
        if !matches!(row.verdict, Verdict::NotMeasured(_)) {
            // A verdict rests on figures of this run, and on at least one named input
            // this run recorded (a results field, an extras series or a detail).
            assert!(
                !row.figures.is_empty() || !row.because.is_empty(),
                "{}",
                row.id
            );
            let recorded = row.reads.iter().any(|k| {
                results.platforms.iter().any(|p| {
                    p.extras.contains_key(*k)
                        || p.details.contains_key(*k)
                        || p.variant.contains_key(*k)
                        || serde_json::to_value(p)
                            .ok()
                            .and_then(|v| v.get(*k).cloned())
                            .is_some_and(|v| !v.is_null())
                })
            });
            assert!(
                recorded,
                "{}: none of {:?} is in this run",
                row.id, row.reads
            );
        }
    }
    // The claims this run can decide are decided, from its own figures.
    let verdict = |id: &str| &rows.iter().find(|r| r.id == id).unwrap().verdict;
    for id in ["C6", "C10", "C12"] {
        assert!(
            !matches!(verdict(id), Verdict::NotMeasured(_)),
            "{id}: {:?}",
            verdict(id)
        );
    }
    let docker = results
        .platforms
        .iter()
        .find(|p| p.label == "docker/bridge")
        .unwrap();
    for k in ["docker_commit_ms", "docker_build_ms"] {
        assert!(
            docker.extras.contains_key(k),
            "{k}: {:?}",
            docker.extras.keys()
        );
    }
}
