//! `virtbench demo` in a real pseudo-terminal: tmux runs it in an 80x30 window and the
//! test reads the screen the class would see (`tmux capture-pane`), not the program's
//! output stream. Native and Docker for real, with a short scenario: the table's rows
//! must carry figures and the verdicts the claims code gives on them must be on screen.
//! Needs tmux (setup-host --tests) and a Docker engine: fails rather than skips.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

/// A short scenario: two startups, one-second windows.
const SCENARIO: &str = r#"
name = "demo-test"
platforms = ["native", "docker"]
[workload]
expressions = ["(5+3)/2"]
[startup]
repetitions = 2
timeout_s = 60
[idle]
window_s = 1
interval_ms = 200
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
networks = ["bridge", "host"]
subnet = "10.213.0.0/24"
"#;

/// tmux on a server of this test's own (-L), so it never touches anyone's sessions.
struct Tmux {
    socket: String,
}

impl Tmux {
    fn cmd(&self) -> Command {
        let mut c = Command::new("tmux");
        c.args(["-L", &self.socket]);
        c
    }

    fn screen(&self) -> String {
        let out = self
            .cmd()
            .args(["capture-pane", "-p", "-t", "demo"])
            .output()
            .expect("tmux capture-pane runs");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.cmd().arg("kill-server").status();
    }
}

#[test]
fn the_demo_fills_its_table_and_gives_verdicts_on_a_real_terminal() {
    let tmp = tempfile::tempdir().unwrap();
    let scenario = tmp.path().join("demo-test.toml");
    std::fs::write(&scenario, SCENARIO).unwrap();
    let reports = tmp.path().join("reports");
    let bin = env!("CARGO_BIN_EXE_virtbench");
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    // The shell keeps the pane open after the demo so its last screen can be read; the
    // marker says the demo has exited, and with which code.
    let script = format!(
        "cd '{}' && TERM=xterm-256color '{bin}' demo '{}' --out '{}' --no-open; echo DEMO-EXIT=$?; sleep 3600",
        root.display(),
        scenario.display(),
        reports.display()
    );
    let tmux = Tmux {
        socket: format!("virtbench-demo-test-{}", std::process::id()),
    };
    let started = tmux
        .cmd()
        .args([
            "new-session",
            "-d",
            "-x",
            "80",
            "-y",
            "30",
            "-s",
            "demo",
            &script,
        ])
        .status()
        .expect("tmux is installed (setup-host --tests)");
    assert!(started.success(), "tmux new-session failed");

    // Mid-run: the table is drawn before any figure, one row per planned variant.
    let mut mid = String::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        mid = tmux.screen();
        if mid.contains("docker/host") {
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(mid.contains("virtbench demo · scenario demo-test"), "{mid}");
    assert!(mid.contains("platform / variant"), "{mid}");
    assert!(mid.contains("elapsed, about"), "{mid}");

    let deadline = Instant::now() + Duration::from_secs(900);
    let mut screen = String::new();
    while Instant::now() < deadline {
        screen = tmux.screen();
        if screen.contains("DEMO-EXIT=") {
            break;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    println!("{screen}");
    assert!(screen.contains("DEMO-EXIT=0"), "{screen}");
    let lines: Vec<&str> = screen.lines().collect();
    for l in &lines {
        assert!(l.chars().count() <= 80, "wider than 80: {l:?}");
    }
    // One finished row per variant, each with its startup and idle memory.
    for label in ["native", "docker/bridge", "docker/host"] {
        let row = lines
            .iter()
            .find(|l| l.starts_with(&format!("✓ {label} ")))
            .unwrap_or_else(|| panic!("no finished row for {label}:\n{screen}"));
        assert!(row.contains("MiB") && row.contains("/s"), "{row}");
        assert!(row.contains(" ms") || row.contains(" s "), "{row}");
    }
    // The verdicts the claims code gave once both platforms were measured, one a line.
    assert!(
        screen.contains("verdicts so far (native, docker measured):"),
        "{screen}"
    );
    // "C6 supported: p99 with a noisy neighbour ...": the verdict comes first.
    let verdicts: Vec<&&str> = lines
        .iter()
        .filter(|l| {
            let id = l.split(' ').next().unwrap_or_default();
            id.len() >= 2 && id.starts_with('C') && id[1..].chars().all(|c| c.is_ascii_digit())
        })
        .collect();
    assert!(!verdicts.is_empty(), "no verdict line:\n{screen}");
    for v in &verdicts {
        let verdict = v.split_once(' ').map(|(_, rest)| rest).unwrap_or_default();
        assert!(
            ["supported", "contradicted", "mixed", "undecided"]
                .iter()
                .any(|w| verdict.starts_with(w)),
            "{v}"
        );
    }
    assert!(screen.contains("report: "), "{screen}");
    let report = std::fs::read_link(reports.join("latest")).expect("reports/latest");
    assert!(reports.join(report).join("index.html").exists());
}
