//! Ctrl-C at phase boundaries of a real run: the built binary on native and Docker with
//! a short scenario, SIGINT sent when its log says a phase began. Each time: exit 130,
//! a results.json marked `interrupted: true`, and nothing of the run left (processes,
//! containers and networks by label, network namespaces, the private Docker engine,
//! the scratch directory). Needs root, a running Docker engine and dockerd.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

const SCENARIO: &str = r#"name = "interrupt"
platforms = ["native", "docker"]
[startup]
repetitions = 1
timeout_s = 60
[idle]
window_s = 3
interval_ms = 100
[load]
rates_rps = [50]
duration_s = 3
warmup_s = 0.2
connections = 2
timeout_ms = 2000
[throughput]
duration_s = 0
connections = 1
[docker]
networks = ["host"]
subnet = "10.213.9.0/24"
faults = true
[experiments]
noise_windows = 1
service_kill = true
"#;

/// The same without the kill tests, for a run that reaches its teardown quickly.
fn without_faults() -> String {
    SCENARIO
        .replace("faults = true", "faults = false")
        .replace("service_kill = true", "service_kill = false")
}

/// Bound on waiting for a phase or for the exit (not a timing assertion).
const BOUND: Duration = Duration::from_secs(300);

/// Run the harness with `scenario_text` on `platform`; when a stderr line contains
/// `marker`, wait `after` and send `signal` `times` times, `gap` apart (`repeat`).
/// Returns the exit code, stderr and the run id.
fn interrupt_at(
    scenario_text: &str,
    signal: i32,
    platform: &str,
    marker: &str,
    after: Duration,
    (times, gap): (usize, Duration),
    out: &Path,
) -> (Option<i32>, String, String) {
    let scenario = out.join("interrupt.toml");
    std::fs::write(&scenario, scenario_text).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_virtbench"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("RUST_LOG", "virtbench=info")
        .args(["run", "--platforms", platform])
        .arg(&scenario)
        .arg("--out")
        .arg(out.join("reports"))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (tx, rx) = mpsc::channel();
    let stderr = child.stderr.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut all = String::new();
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            all.push_str(&line);
            all.push('\n');
            let _ = tx.send(line);
        }
        all
    });
    let mut run_id = String::new();
    let mut seen = String::new();
    let deadline = std::time::Instant::now() + BOUND;
    loop {
        let Ok(line) =
            rx.recv_timeout(deadline.saturating_duration_since(std::time::Instant::now()))
        else {
            let _ = child.kill();
            let status = child.wait().unwrap();
            panic!("no line with {marker:?} from the run ({status}); it wrote:\n{seen}");
        };
        seen.push_str(&line);
        seen.push('\n');
        if let Some(rest) = line.split("virtbench run ").nth(1) {
            run_id = rest.split(':').next().unwrap().to_string();
        }
        if line.contains(marker) {
            break;
        }
    }
    std::thread::sleep(after);
    let pid = child.id() as i32;
    assert_eq!(unsafe { libc::kill(pid, signal) }, 0);
    for _ in 1..times {
        std::thread::sleep(gap);
        unsafe { libc::kill(pid, signal) };
    }
    let status = child.wait().unwrap();
    let err = reader.join().unwrap();
    assert!(!run_id.is_empty(), "{err}");
    (status.code(), err, run_id)
}

/// What the run left, one line each.
fn leftovers(run_id: &str) -> Vec<String> {
    let mut left = Vec::new();
    for pid in virtbench::platform::native::processes_of_run(Some(run_id)) {
        left.push(format!("native process {pid}"));
    }
    for what in [
        vec!["ps", "-aq"],
        vec!["network", "ls", "-q"],
        vec!["volume", "ls", "-q"],
    ] {
        let out = Command::new("docker")
            .args(&what)
            .args(["--filter", &format!("label=virtbench.run={run_id}")])
            .output()
            .unwrap();
        for id in String::from_utf8_lossy(&out.stdout).split_whitespace() {
            left.push(format!("docker {} {id}", what[0]));
        }
    }
    // The private engine's containers carry the label of `<run id>-c7`, on its own
    // engine: its processes, mounts and directory are what could be left.
    left.extend(virtbench::platform::docker::private_engine::leftovers(
        Some(run_id),
    ));
    let netns = Command::new("ip").args(["netns", "list"]).output().unwrap();
    for ns in String::from_utf8_lossy(&netns.stdout).lines() {
        if ns.contains(run_id) {
            left.push(format!("netns {ns}"));
        }
    }
    let work = std::env::temp_dir().join(format!("virtbench-{run_id}"));
    if work.exists() {
        left.push(format!("scratch {}", work.display()));
    }
    left
}

fn check(platform: &str, marker: &str, after: Duration, second: bool) {
    check_signal(libc::SIGINT, platform, marker, after, second)
}

fn check_signal(signal: i32, platform: &str, marker: &str, after: Duration, second: bool) {
    check_scenario(SCENARIO, signal, platform, marker, after, second)
}

fn check_scenario(
    scenario: &str,
    signal: i32,
    platform: &str,
    marker: &str,
    after: Duration,
    second: bool,
) {
    let tmp = tempfile::tempdir().unwrap();
    let times = if second { 2 } else { 1 };
    let (code, err, run_id) = interrupt_at(
        scenario,
        signal,
        platform,
        marker,
        after,
        (times, Duration::from_millis(300)),
        tmp.path(),
    );
    eprintln!("--- {platform} at {marker:?}: exit {code:?}\n{err}");
    assert_eq!(code, Some(130), "{err}");
    let results = virtbench::report::read_results(
        &tmp.path()
            .join("reports")
            .join(&run_id)
            .join("results.json"),
    )
    .unwrap_or_else(|e| panic!("partial results.json: {e}\n{err}"));
    assert!(results.interrupted, "{err}");
    assert_eq!(leftovers(&run_id), Vec::<String>::new(), "{err}");
    if second {
        assert!(err.contains("still tearing down"), "{err}");
    }
}

#[test]
fn sigint_during_native_deploy() {
    check("native", "native: startup 1/", Duration::ZERO, false);
}

#[test]
fn sigint_during_native_load() {
    check(
        "native",
        "open-loop load",
        Duration::from_millis(500),
        false,
    );
}

#[test]
fn sigterm_during_native_idle() {
    check_signal(
        libc::SIGTERM,
        "native",
        "idle window",
        Duration::from_millis(500),
        false,
    );
}

#[test]
fn sigint_during_docker_deploy() {
    check("docker", "docker/host: startup 1/", Duration::ZERO, false);
}

#[test]
fn sigint_during_docker_idle() {
    check("docker", "idle window", Duration::from_millis(500), false);
}

/// During the extras, once the private engine of the C7 test runs; a second Ctrl-C
/// during the teardown does not stop it.
#[test]
fn sigint_twice_during_docker_fault_test() {
    check(
        "docker",
        "starting a private dockerd",
        Duration::from_millis(1500),
        true,
    );
}

/// While the artifacts are checked or built (the image against the engine's store).
#[test]
fn sigint_during_docker_artifact_build() {
    check(
        "docker",
        "docker: preparing artifacts",
        Duration::ZERO,
        false,
    );
}

/// During the last teardown (five containers removed): it finishes, nothing is left.
#[test]
fn sigint_during_docker_teardown() {
    check_scenario(
        &without_faults(),
        libc::SIGINT,
        "docker",
        "docker/host: tearing the deployment down",
        Duration::ZERO,
        false,
    );
}

/// While `mul` is dead on the native sub-service kill's own deployment.
#[test]
fn sigint_during_native_service_kill() {
    check(
        "native",
        "native: kill -9 of a sub-service",
        Duration::from_millis(500),
        false,
    );
}

/// While the docker sub-service kill has given `mul` a restart policy and killed it.
#[test]
fn sigint_during_docker_service_kill() {
    check(
        "docker",
        "docker: kill -9 of a sub-service",
        Duration::from_millis(500),
        false,
    );
}

fn virtbench(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_virtbench"))
        .args(args)
        .output()
        .unwrap();
    assert!(out.status.success(), "{args:?}: {out:?}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A third Ctrl-C exits at once and names the cleanup command; `cleanup --dry-run`
/// lists what is left without removing it, and `cleanup` then leaves nothing.
#[test]
fn third_sigint_exits_and_cleanup_removes_the_rest() {
    let tmp = tempfile::tempdir().unwrap();
    let (code, err, run_id) = interrupt_at(
        SCENARIO,
        libc::SIGINT,
        "docker",
        "docker/host: idle window",
        Duration::ZERO,
        // Within the teardown of five containers (the first signal starts it).
        (3, Duration::from_millis(50)),
        tmp.path(),
    );
    eprintln!("{err}");
    assert_eq!(code, Some(130), "{err}");
    let command = format!("virtbench cleanup --run-id {run_id}");
    assert!(err.contains(&command), "{err}");
    // Removals the harness had sent before it exited may still complete: let them.
    std::thread::sleep(Duration::from_secs(3));
    let before = leftovers(&run_id);
    let listed = virtbench(&["cleanup", "--dry-run", "--run-id", &run_id]);
    eprintln!("left: {before:?}\ndry run:\n{listed}");
    // The dry run removed nothing and lists each container still there.
    assert_eq!(leftovers(&run_id), before);
    let containers = before.iter().filter(|l| l.starts_with("docker ps")).count();
    assert_eq!(listed.matches("container ").count(), containers, "{listed}");
    let scratch = before.iter().filter(|l| l.starts_with("scratch")).count();
    assert_eq!(
        listed.matches("scratch directory").count(),
        scratch,
        "{listed}"
    );
    virtbench(&["cleanup", "--run-id", &run_id]);
    assert_eq!(leftovers(&run_id), Vec::<String>::new());
}
