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

/// A value of the wrong type: one line with the file, the line, the field and the
/// value as written, exit 2, and nothing started (no run directory).
#[test]
fn wrong_type_names_file_line_field_value() {
    let tmp = tempfile::tempdir().unwrap();
    let p = write(
        tmp.path(),
        "typo.toml",
        "name = \"x\"\nplatforms = [\"native\"]\n\n[startup]\nrepetitions = \"three\"\ntimeout_s = 5\n",
    );
    let out_dir = tmp.path().join("reports");
    let out = virtbench()
        .args(["run", "-q"])
        .arg(&p)
        .arg("--out")
        .arg(&out_dir)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8(out.stderr).unwrap();
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains(
            "typo.toml:5: field `startup.repetitions` = \"three\": expected a whole number"
        ),
        "{err}"
    );
    assert!(!out_dir.exists(), "a rejected scenario starts nothing");
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

/// The tests run after `.ci/setup-host --tests` (the README's test command): every
/// command of the requirements table is then present, so doctor has nothing to fix. A
/// missing command shows as a `missing` line naming its package.
#[test]
fn doctor_finds_every_command_setup_host_installs() {
    let out = virtbench().arg("doctor").output().unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    let missing: Vec<&str> = text.lines().filter(|l| l.contains(" missing ")).collect();
    assert!(missing.is_empty(), "run .ci/setup-host --tests:\n{text}");
    assert!(
        text.lines()
            .any(|l| l.starts_with("tests") && l.contains("ready")),
        "{text}"
    );
    // The same table, on a PATH where nothing is found: each line names the fix.
    let out = virtbench()
        .arg("doctor")
        .env("PATH", "/nonexistent")
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.lines().any(|l| l.contains("missing      qemu-img")
            && l.contains("fix: apt-get install qemu-utils")),
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
    // The wall time is split into parts that add up to it; -q keeps the block quiet.
    let split = results
        .wall_split
        .as_ref()
        .expect("a new run records its split");
    assert!(
        (split.wall_s() - results.wall_time_s).abs() < 1e-6,
        "{split:?} vs {}",
        results.wall_time_s
    );
    assert!(split.idle_s > 0.0 && split.load_s > 0.0 && split.startup_s > 0.0);
    assert!(!String::from_utf8_lossy(&out.stderr).contains("time: wall"));
    // Isolation facts (C3): host processes in the harness's namespaces.
    let fact = |k: &str| native.extras.get(k).map(|s| s.summary.median);
    assert_eq!(
        fact("isolation_shared_kernel"),
        Some(1.0),
        "{:?}",
        native.extras
    );
    assert_eq!(fact("isolation_pid_namespace_private"), Some(0.0));
    assert!(fact("isolation_host_processes_visible").unwrap() >= 1.0);
    assert_eq!(fact("reach_guest_direct"), Some(1.0));
    // Noisy neighbour (C6): three p99 windows quiet, beside disk-only and CPU-only
    // noise, and the siblings are gone.
    for name in [
        "noisy_baseline_p99_us",
        "noisy_disk_p99_us",
        "noisy_cpu_p99_us",
    ] {
        let s = &native.extras[name];
        assert_eq!((s.unit.as_str(), s.summary.n), ("us", 3), "{s:?}");
        assert!(s.summary.min > 0.0, "{s:?}");
    }
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

#[test]
fn load_refuses_non_loopback_addresses() {
    let out = virtbench()
        .args(["load", "192.0.2.1:50000", "--duration", "1"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("only loopback"));
}

/// `virtbench load` against a calculator started by hand (the five roles in one process).
#[test]
fn load_measures_a_running_calculator() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let bin = rt
        .block_on(virtbench::artifact::calculator::binary())
        .unwrap();
    let port = virtbench::platform::free_loopback_port().unwrap();
    let mut calc = Command::new(&bin.path)
        .args(["all", "--listen", &format!("127.0.0.1:{port}")])
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let addr: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while std::net::TcpStream::connect(addr).is_err() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    let out = virtbench()
        .args([
            "load",
            &addr.to_string(),
            "--duration",
            "1",
            "--connections",
            "2",
            "--expression",
            "2*(3+4)",
        ])
        .output()
        .unwrap();
    calc.kill().unwrap();
    calc.wait().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(v["count"].as_u64().unwrap() > 0, "{v}");
    assert_eq!(v["errors"], 0, "{v}");
    assert_eq!(v["wrong_answers"], 0, "{v}");
}
