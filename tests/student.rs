//! virtbench as a student runs it: an ordinary account in the `docker` group on a lab
//! machine. The test (as root) creates that user (`vbstudent`, with `useradd`, once),
//! then runs `virtbench doctor` and a short run as the user (`runuser`), and checks
//! each platform's state: what runs without root is measured, what needs root says so
//! with the fix and is marked "needs root" in results.json and the report; nothing it
//! cannot do is "available". Fails when not root, unless `VIRTBENCH_SKIP_STUDENT=1`.

use std::path::Path;
use std::process::Command;

const USER: &str = "vbstudent";

fn skipped() -> bool {
    std::env::var("VIRTBENCH_SKIP_STUDENT").as_deref() == Ok("1")
}

fn sh(program: &str, args: &[&str]) -> std::process::Output {
    Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{program}: {e}"))
}

/// The user, in the docker group, with a runtime directory as a login session makes
/// it (Podman's rootless network namespace lives there); its uid.
fn student() -> u32 {
    if !sh("id", &[USER]).status.success() {
        let out = sh("useradd", &["--create-home", "--groups", "docker", USER]);
        assert!(out.status.success(), "useradd: {out:?}");
    }
    let uid: u32 = String::from_utf8(sh("id", &["-u", USER]).stdout)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let run = format!("/run/user/{uid}");
    std::fs::create_dir_all(&run).unwrap();
    assert!(sh("chown", &[USER, &run]).status.success());
    assert!(sh("chmod", &["700", &run]).status.success());
    uid
}

/// `virtbench ARGS` as the student, from `dir`; stdout, stderr, exit code.
fn as_student(uid: u32, dir: &Path, args: &[&str], calculator: &Path) -> (String, String, i32) {
    let out = Command::new("runuser")
        .args(["-u", USER, "--", "env"])
        .arg(format!("HOME=/home/{USER}"))
        .arg(format!("XDG_RUNTIME_DIR=/run/user/{uid}"))
        .arg("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
        // The student has no Rust toolchain: the static calculator root built.
        .arg(format!("VIRTBENCH_CALCULATOR={}", calculator.display()))
        .arg(env!("CARGO_BIN_EXE_virtbench"))
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    let text = |b: Vec<u8>| String::from_utf8(b).unwrap();
    (
        text(out.stdout),
        text(out.stderr),
        out.status.code().unwrap_or(-1),
    )
}

/// Doctor's lines for `platform` (its own and the indented ones under it).
fn section<'a>(doctor: &'a str, platform: &str) -> Vec<&'a str> {
    let mut out = Vec::new();
    let mut inside = false;
    for l in doctor.lines() {
        if !l.starts_with(' ') {
            inside = l.split_whitespace().next() == Some(platform);
        }
        if inside {
            out.push(l);
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_student_account_measures_what_it_can_and_is_told_what_needs_root() {
    if skipped() {
        eprintln!("skipped: VIRTBENCH_SKIP_STUDENT=1");
        return;
    }
    // SAFETY: geteuid has no preconditions.
    assert_eq!(
        unsafe { libc::geteuid() },
        0,
        "this test creates a user: run it as root (VIRTBENCH_SKIP_STUDENT=1 to skip)"
    );
    let uid = student();
    let calculator = virtbench::artifact::calculator::binary()
        .await
        .expect("the static calculator")
        .path
        .clone();
    let tmp = tempfile::Builder::new()
        .prefix("vb-student-test")
        .tempdir()
        .unwrap();
    assert!(sh("chmod", &["755", tmp.path().to_str().unwrap()])
        .status
        .success());
    let out_dir = tmp.path().join("reports");
    std::fs::create_dir_all(&out_dir).unwrap();
    assert!(sh("chown", &[USER, out_dir.to_str().unwrap()])
        .status
        .success());
    let scenario = tmp.path().join("student.toml");
    std::fs::write(
        &scenario,
        r#"name = "student"
platforms = ["native", "docker", "podman", "lxc", "qemu"]
[workload]
expressions = ["(5+3)/2"]
[startup]
repetitions = 1
timeout_s = 90
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
[experiments]
noise_windows = 1
[docker]
networks = ["bridge"]
subnet = "10.237.0.0/24"
faults = true
[podman]
networks = ["bridge"]
subnet = "10.238.0.0/24"
[qemu]
topologies = ["all-in-one"]
boot = ["kernel"]
networks = ["nat", "bridge"]
memory_mib = 128
cpus = 1
"#,
    )
    .unwrap();
    let scenario_arg = scenario.to_str().unwrap();

    // Doctor, as the student.
    let (doctor, err, code) = as_student(uid, tmp.path(), &["doctor", scenario_arg], &calculator);
    eprintln!("doctor as {USER}:\n{doctor}{err}");
    assert_eq!(code, 0);
    assert!(
        doctor.starts_with(&format!("user       {USER}")),
        "{doctor}"
    );
    let native = section(&doctor, "native");
    assert!(native[0].contains(" available "), "{native:?}");
    assert!(
        native
            .iter()
            .any(|l| l.contains("needs root") && l.contains("outside namespace")),
        "{native:?}"
    );
    let docker = section(&doctor, "docker");
    assert!(
        docker[0].contains(" available ")
            && docker[0].contains(&format!("access={USER} through the docker group")),
        "{docker:?}"
    );
    assert!(
        docker
            .iter()
            .any(|l| l.contains("needs root") && l.contains("private Docker engine")),
        "{docker:?}"
    );
    let lxc = section(&doctor, "lxc");
    assert!(
        lxc[0].contains("unavailable  needs root") && lxc[0].contains("fix: run virtbench as root"),
        "{lxc:?}"
    );
    let qemu = section(&doctor, "qemu");
    assert!(qemu[0].contains(" available "), "{qemu:?}");
    assert!(
        qemu.iter().any(
            |l| l.contains("needs root") && l.contains("variant qemu/all-in-one/kernel/bridge")
        ),
        "{qemu:?}"
    );
    assert!(
        !qemu.iter().any(|l| l.contains("kernel/nat: needs root")),
        "{qemu:?}"
    );
    // Podman: rootless where this host allows it; else the fix names what it lacks
    // (uidmap...), not "install Podman".
    let podman = section(&doctor, "podman");
    let rootless = podman[0].contains(" available ");
    if rootless {
        assert!(podman[0].contains("rootless=true"), "{podman:?}");
    } else {
        assert!(
            podman[0].contains(&format!("rootless Podman for {USER}"))
                && podman[0].contains("fix: as root:"),
            "{podman:?}"
        );
    }
    assert!(section(&doctor, "virtualbox")[0].contains("unavailable"));

    // A short run, as the student.
    let (stdout, stderr, code) = as_student(
        uid,
        tmp.path(),
        &[
            "run",
            "-q",
            scenario_arg,
            "--out",
            out_dir.to_str().unwrap(),
        ],
        &calculator,
    );
    eprintln!("run as {USER}: exit {code}\n{stdout}{stderr}");
    let results =
        virtbench::report::read_results(&out_dir.join("latest").join("results.json")).unwrap();
    let find = |label: &str| {
        results
            .platforms
            .iter()
            .find(|p| p.label == label)
            .unwrap_or_else(|| panic!("{label} missing"))
    };
    for label in ["native", "docker/bridge", "qemu/all-in-one/kernel/nat"] {
        let r = find(label);
        assert!(r.available && r.error.is_none(), "{label}: {r:?}");
        assert!(r.startup_ms.is_some(), "{label} measured");
        assert!(
            r.needs_root.iter().any(|l| l.contains("outside namespace")),
            "{label}: {:?}",
            r.needs_root
        );
    }
    assert!(find("docker/bridge")
        .needs_root
        .iter()
        .any(|l| l.contains("private Docker engine")));
    let bridged = find("qemu/all-in-one/kernel/bridge");
    assert!(
        !bridged.available && bridged.startup_ms.is_none(),
        "{bridged:?}"
    );
    assert!(
        bridged.needs_root.iter().any(|l| l.starts_with("variant ")),
        "{bridged:?}"
    );
    let lxc = find("lxc");
    assert!(!lxc.available && lxc.needs_root.len() == 1, "{lxc:?}");
    if rootless {
        let podman = find("podman/bridge");
        assert!(podman.available && podman.error.is_none(), "{podman:?}");
        assert_eq!(
            podman.details.get("rootless").map(String::as_str),
            Some("true")
        );
    } else {
        // A fresh machine without uidmap: the platform's row says what rootless lacks.
        let podman = find("podman");
        assert!(
            !podman.available
                && podman
                    .unavailable_reason
                    .as_deref()
                    .is_some_and(|w| w.contains("uidmap")),
            "{podman:?}"
        );
    }
    // The report says what needed root (the reasons it lists for what did not run).
    let html = std::fs::read_to_string(out_dir.join("latest").join("index.html")).unwrap();
    assert!(html.contains("needs root"), "the report does not say it");
    // The whole run leaves nothing of its own behind, as the student can check too.
    let (left, _, _) = as_student(
        uid,
        tmp.path(),
        &["cleanup", "--dry-run", "--run-id", &results.run_id],
        &calculator,
    );
    for l in left.lines() {
        assert!(
            l.contains("nothing left") || l.contains("cannot list"),
            "left by the student's run: {l}"
        );
    }
}

/// Root runs `podman/rootless` beside rootful as the student (`[podman] rootless_user`):
/// both measured, the rootless one by the student's own Podman (results say
/// `rootless=true`, whose, and its engine's details); with no user named and no
/// SUDO_USER the variant is unavailable with why and the fix, and nothing deployed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn root_measures_rootless_podman_beside_rootful_as_an_ordinary_user() {
    if skipped() {
        eprintln!("skipped: VIRTBENCH_SKIP_STUDENT=1");
        return;
    }
    // SAFETY: geteuid has no preconditions.
    assert_eq!(
        unsafe { libc::geteuid() },
        0,
        "this test creates a user: run it as root (VIRTBENCH_SKIP_STUDENT=1 to skip)"
    );
    student();
    let tmp = tempfile::tempdir().unwrap();
    let base = r#"name = "rootless"
platforms = ["podman"]
[workload]
expressions = ["(5+3)/2"]
[startup]
repetitions = 1
timeout_s = 90
[stopping]
mode = "fixed"
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
[experiments]
noise_windows = 1
[podman]
networks = ["bridge"]
subnet = "10.242.0.0/24"
rootless = true
"#;
    let run = |name: &str, text: String| {
        let scenario = tmp.path().join(format!("{name}.toml"));
        std::fs::write(&scenario, text).unwrap();
        let out = tmp.path().join(name);
        let status = Command::new(env!("CARGO_BIN_EXE_virtbench"))
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .env_remove("SUDO_USER")
            .arg("run")
            .arg(&scenario)
            .arg("--out")
            .arg(&out)
            .status()
            .unwrap();
        let text = std::fs::read_to_string(out.join("latest/results.json")).unwrap();
        (
            status.code(),
            serde_json::from_str::<serde_json::Value>(&text).unwrap(),
        )
    };
    let find = |r: &serde_json::Value, label: &str| -> serde_json::Value {
        r["platforms"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["label"] == label)
            .unwrap_or_else(|| panic!("no {label} in {r}"))
            .clone()
    };

    let (code, r) = run("named", format!("{base}rootless_user = \"{USER}\"\n"));
    assert_eq!(code, Some(0), "{r}");
    let rootful = find(&r, "podman/bridge");
    let rootless = find(&r, "podman/rootless");
    assert_eq!(rootful["details"]["rootless"], "false", "{rootful}");
    assert_eq!(rootless["details"]["rootless"], "true", "{rootless}");
    assert_eq!(rootless["details"]["rootless_user"], USER, "{rootless}");
    for p in [&rootful, &rootless] {
        assert!(p["error"].is_null(), "{p}");
        assert!(
            p["startup_ms"]["summary"]["median"].as_f64().is_some(),
            "{p}"
        );
        assert!(
            p["memory_idle_bytes"]["summary"]["median"]
                .as_f64()
                .is_some(),
            "{p}"
        );
        assert!(
            p["details"]["last_sample.processes_rss_bytes"].is_string(),
            "{p}"
        );
    }
    // Nothing of the run in either store afterwards.
    let run_id = r["run_id"].as_str().unwrap().to_string();
    let dry = Command::new(env!("CARGO_BIN_EXE_virtbench"))
        .args([
            "cleanup",
            "--dry-run",
            "--platforms",
            "podman",
            "--run-id",
            &run_id,
        ])
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8(dry.stdout).unwrap().trim(),
        "podman     nothing left"
    );

    let (code, r) = run("nobody", base.to_string());
    assert_eq!(code, Some(0), "{r}");
    let v = find(&r, "podman/rootless");
    assert_eq!(v["available"], false, "{v}");
    let why = v["unavailable_reason"].as_str().unwrap();
    assert!(
        why.starts_with("variant podman/rootless: no unprivileged user")
            && why.contains("fix: ")
            && why.contains("rootless_user"),
        "{why}"
    );
    assert!(v["startup_ms"].is_null(), "{v}");
    assert!(find(&r, "podman/bridge")["error"].is_null());
}
