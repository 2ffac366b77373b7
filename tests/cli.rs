//! The `virtbench` command line, end to end: in-process where only the exit code
//! matters, through the built binary where the output is checked.

use std::path::Path;
use std::process::{Command, ExitCode};

fn virtbench() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_virtbench"));
    c.current_dir(env!("CARGO_MANIFEST_DIR"));
    c
}

fn write(dir: &Path, name: &str, text: &str) -> std::path::PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

#[test]
fn bad_scenario_is_one_line_and_exit_2() {
    let tmp = tempfile::tempdir().unwrap();
    let p = write(tmp.path(), "bad.toml", "name = \"x\"\nplatforms = [\"native\"]\n[load]\nrates_rps = [0]\nduration_s = 1\nwarmup_s = 0\nconnections = 1\ntimeout_ms = 10\n");
    let out = virtbench()
        .args(["run", "-q"])
        .arg(&p)
        .arg("--out")
        .arg(tmp.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8(out.stderr).unwrap();
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("bad.toml") && err.contains("load.rates_rps") && err.contains("= 0"),
        "{err}"
    );
}

#[test]
fn missing_scenario_file_is_bad_input() {
    let code = virtbench::cli::run_cli(["virtbench", "run", "-q", "/nonexistent/s.toml"]);
    assert_eq!(code, ExitCode::from(2));
}

#[test]
fn unknown_platform_flag_is_bad_input() {
    let out = virtbench()
        .args(["run", "-q", "--platforms", "native,xen"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("\"xen\""));
}

#[test]
fn report_rejects_non_results_file() {
    let tmp = tempfile::tempdir().unwrap();
    let p = write(tmp.path(), "r.json", "{\"hello\": 1}");
    let out = virtbench().arg("report").arg(&p).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("r.json"));
}

#[test]
fn doctor_lists_every_platform() {
    let out = virtbench().arg("doctor").output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    for p in virtbench::scenario::PLATFORMS {
        assert!(
            text.lines().any(|l| l.starts_with(p)),
            "{p} missing from:\n{text}"
        );
    }
    assert!(
        text.lines()
            .any(|l| l.starts_with("native") && l.contains(" available")),
        "{text}"
    );
}

/// The whole pipeline on the native platform with a short load: deploy, measure, tear
/// down, write results.json, results.csv, index.html and reports/latest.
#[test]
fn run_native_end_to_end() {
    let tmp = tempfile::tempdir().unwrap();
    let scenario = write(
        tmp.path(),
        "native.toml",
        r#"name = "native-e2e"
platforms = ["native"]
[workload]
expressions = ["(5+3)/2", "2*(3+4)-10/4"]
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
"#,
    );
    let out_dir = tmp.path().join("reports");
    let out = virtbench()
        .args(["run", "-q"])
        .arg(&scenario)
        .arg("--out")
        .arg(&out_dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let latest = out_dir.join("latest");
    let results = virtbench::report::read_results(&latest.join("results.json")).unwrap();
    assert!(latest.join("index.html").exists() && latest.join("results.csv").exists());
    let native = results
        .platforms
        .iter()
        .find(|p| p.name == "native")
        .unwrap();
    assert!(native.available && native.error.is_none(), "{native:?}");
    assert_eq!(native.startup_ms.as_ref().unwrap().summary.n, 2);
    assert!(native.memory_idle_bytes.as_ref().unwrap().median() > 0.0);
    let lat = &native.latency_us[0];
    assert!(
        lat.count > 0 && lat.errors == 0 && lat.wrong_answers == 0,
        "{lat:?}"
    );
    assert!(native.max_throughput_rps.as_ref().unwrap().count > 0);
    // Platforms not selected are listed with a reason, not omitted.
    for name in ["docker", "qemu", "virtualbox", "openstack"] {
        let p = results.platforms.iter().find(|p| p.name == name).unwrap();
        assert!(!p.available && p.unavailable_reason.is_some());
    }
    // Nothing of this run is left running.
    assert!(virtbench::platform::native::processes_of_run(Some(&results.run_id)).is_empty());
}

#[test]
fn report_rerenders_fixture_and_compares_runs() {
    let tmp = tempfile::tempdir().unwrap();
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/results.json");
    let out = virtbench()
        .arg("report")
        .arg(&fixture)
        .arg("--out")
        .arg(tmp.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for f in ["index.html", "results.json", "results.csv"] {
        assert!(tmp.path().join(f).exists(), "{f}");
    }
    let out = virtbench()
        .arg("report")
        .arg(&fixture)
        .arg(tmp.path().join("results.json"))
        .args(["--format", "markdown"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let md = String::from_utf8(out.stdout).unwrap();
    assert!(md.contains('|') && md.contains("native"), "{md}");
    let out = virtbench()
        .arg("report")
        .arg(&fixture)
        .args(["--format", "xml"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}
