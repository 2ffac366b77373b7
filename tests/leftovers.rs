//! `virtbench cleanup --dry-run --run-id X` and `cleanup --run-id X`, on real leftovers:
//! a run X, its density copy X-c1 and another run Y each deploy for real on native,
//! Docker, Podman and LXC, and X-c1 and Y create a bridged QEMU network namespace and X
//! an outside namespace, the way the platforms do; then the harness "dies": the
//! deployments are forgotten, never torn down, as after `kill -9`. The dry run must
//! list exactly X's and X-c1's resources by name, the cleanup remove exactly those,
//! and Y's must stay until its own cleanup. As root (LXC, namespaces); Docker, Podman
//! and LXC must be there: the test fails otherwise, unless `VIRTBENCH_SKIP_LEFTOVERS=1`.

use std::collections::BTreeSet;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::process::Command;

use futures_util::FutureExt;
use virtbench::platform::docker::deployment::resource_name;
use virtbench::platform::qemu::bridge::BridgeNet;
use virtbench::platform::{self, lxc, Availability, RunContext, ROLES};
use virtbench::scenario::Scenario;

mod common;

/// The platforms whose leftovers this test makes (in `platform::all()` names).
const MADE: [&str; 5] = ["native", "docker", "podman", "lxc", "qemu"];

fn skipped() -> bool {
    std::env::var("VIRTBENCH_SKIP_LEFTOVERS").as_deref() == Ok("1")
}

/// `virtbench cleanup ARGS`: stdout lines by platform (first column), and the exit code.
fn cleanup(args: &[&str]) -> (Vec<(String, String)>, Option<i32>) {
    let out = Command::new(env!("CARGO_BIN_EXE_virtbench"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .arg("cleanup")
        .args(args)
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    eprintln!("virtbench cleanup {}:\n{text}", args.join(" "));
    let lines = text
        .lines()
        .filter_map(|l| {
            let (p, rest) = l.split_once(' ')?;
            Some((p.to_string(), rest.trim().to_string()))
        })
        .collect();
    (lines, out.status.code())
}

/// What the dry run lists for `platform`, each line's resource by name (its last word:
/// `container <id> /vb-...` names the container last); "nothing left" lines dropped.
fn listed(lines: &[(String, String)], platform: &str) -> BTreeSet<String> {
    lines
        .iter()
        .filter(|(p, rest)| p == platform && !rest.starts_with("nothing left"))
        .map(|(_, rest)| {
            let last = rest.split_whitespace().last().unwrap_or("");
            // `process <pid>` and `iptables rule ...`: the whole line.
            if rest.starts_with("process") || rest.starts_with("iptables") {
                rest.clone()
            } else {
                last.trim_start_matches('/').to_string()
            }
        })
        .collect()
}

/// What run `run` deployed, by name, per platform, as the dry run should list it.
fn expected(run: &str, lxc_rule: bool) -> Vec<(&'static str, Vec<String>)> {
    let names = |net: bool| {
        let mut v: Vec<String> = ROLES.iter().map(|r| resource_name(run, Some(r))).collect();
        if net {
            v.push(resource_name(run, None));
        }
        v
    };
    let bridge = lxc::bridge_name(run);
    let mut lxc_items = names(false);
    lxc_items.push(bridge.clone());
    lxc_items.extend((0..ROLES.len()).map(|i| format!("{bridge}v{i}")));
    if lxc_rule {
        lxc_items.push(format!(
            "iptables rule -A FORWARD -i {bridge} -o {bridge} -j ACCEPT"
        ));
    }
    vec![
        ("docker", names(true)),
        ("podman", names(true)),
        ("lxc", lxc_items),
    ]
}

/// The native processes of a run: read from /proc here, as a user would with `ps e`.
fn native_processes(run: &str) -> Vec<String> {
    let wanted = format!("VIRTBENCH_RUN={run}");
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        if std::fs::read(format!("/proc/{pid}/environ"))
            .is_ok_and(|env| env.split(|&b| b == 0).any(|v| v == wanted.as_bytes()))
        {
            out.push(format!("process {pid}"));
        }
    }
    out
}

/// Deploy run `ctx` on native, docker, podman and lxc, and forget every deployment.
async fn deploy_and_die(ctx: &RunContext) {
    for p in platform::all() {
        if !["native", "docker", "podman", "lxc"].contains(&p.name()) {
            continue;
        }
        if let Availability::Unavailable { reason, fix } = p.probe().await {
            panic!(
                "{} must run here (VIRTBENCH_SKIP_LEFTOVERS=1 to skip): {reason} (fix: {fix})",
                p.name()
            );
        }
        p.prepare(ctx).await.expect("prepare");
        let variant = p.variants(&ctx.scenario).remove(0);
        let d = p
            .deploy(ctx, &variant)
            .await
            .unwrap_or_else(|e| panic!("{}: {e}", p.name()));
        // What kill -9 leaves: nothing torn down.
        std::mem::forget(d);
    }
}

fn scenario(octet: u8) -> Scenario {
    let mut s: Scenario = toml::from_str(
        "name = \"leftovers\"\nplatforms = [\"native\", \"docker\", \"podman\", \"lxc\"]\n\
         [docker]\nnetworks = [\"bridge\"]\n[podman]\nnetworks = [\"bridge\"]\n",
    )
    .unwrap();
    s.docker.subnet = format!("10.233.{octet}.0/24");
    s.podman.subnet = format!("10.234.{octet}.0/24");
    s.lxc.subnet = format!("10.235.{octet}.0/24");
    s
}

async fn guarded(runs: &[String], body: impl Future<Output = ()>) {
    let outcome = AssertUnwindSafe(body).catch_unwind().await;
    // Whatever happened: nothing of these runs may stay on the shared host.
    for run in runs {
        for p in platform::all() {
            if MADE.contains(&p.name()) {
                let _ = p.cleanup(Some(run)).await;
            }
        }
    }
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dry_run_lists_exactly_the_runs_leftovers_and_cleanup_removes_only_them() {
    if skipped() {
        eprintln!("skipped: VIRTBENCH_SKIP_LEFTOVERS=1");
        return;
    }
    let x = common::context("leftovers", "x", scenario(1));
    let copy_dir = x.work_dir.join("density-c1");
    std::fs::create_dir_all(&copy_dir).unwrap();
    let mut copy = x.copy(format!("{}-c1", x.run_id), copy_dir);
    copy.scenario = std::sync::Arc::new(scenario(2));
    let y = common::context("leftovers", "y", scenario(3));
    let runs = [x.run_id.clone(), copy.run_id.clone(), y.run_id.clone()];
    guarded(&runs, async {
        for ctx in [&x, &copy, &y] {
            deploy_and_die(ctx).await;
        }
        // QEMU's bridged network of a deployment (`vb-<run>-d<n>`) and the outside
        // namespace (`vbo-<run>`), made by the platform's own code and then forgotten.
        for run in [&copy.run_id, &y.run_id] {
            let net = BridgeNet::create(&format!("vb-{run}-d1"), 1)
                .await
                .expect("qemu bridge network (needs root)");
            std::mem::forget(net);
        }
        let lan = virtbench::measure::outside::Outside::create(&x.run_id)
            .await
            .expect("outside namespace (needs root)");
        std::mem::forget(lan);

        // The dry run: exactly X's and X-c1's, by name.
        let (lines, code) = cleanup(&["--dry-run", "--run-id", &x.run_id]);
        assert_eq!(code, Some(0));
        assert!(
            !lines
                .iter()
                .any(|(p, l)| MADE.contains(&p.as_str()) && l.contains("cannot list")),
            "{lines:?}"
        );
        let outside_ns = format!("vbo-{}", x.run_id);
        for (platform, _) in expected(&x.run_id, true) {
            let mut want: BTreeSet<String> = BTreeSet::new();
            for run in [&x.run_id, &copy.run_id] {
                for (p, items) in expected(run, true) {
                    if p == platform {
                        want.extend(items);
                    }
                }
            }
            if platform == "docker" {
                want.insert(outside_ns.clone());
            }
            assert_eq!(listed(&lines, platform), want, "{platform}");
        }
        let mut native: BTreeSet<String> = native_processes(&x.run_id).into_iter().collect();
        native.extend(native_processes(&copy.run_id));
        assert_eq!(native.len(), 2 * ROLES.len());
        native.insert(outside_ns.clone());
        assert_eq!(listed(&lines, "native"), native);
        let qemu: BTreeSet<String> = [format!("vb-{}-d1", copy.run_id), outside_ns.clone()].into();
        assert_eq!(listed(&lines, "qemu"), qemu);
        for (_, l) in &lines {
            assert!(!l.contains(&y.run_id), "Y listed under X: {l}");
        }

        // The cleanup: X's and X-c1's go, Y's stay.
        let (_, code) = cleanup(&["--run-id", &x.run_id]);
        assert_eq!(code, Some(0));
        let (after, _) = cleanup(&["--dry-run", "--run-id", &x.run_id]);
        for m in MADE {
            assert!(listed(&after, m).is_empty(), "{m}: {after:?}");
        }
        let (of_y, _) = cleanup(&["--dry-run", "--run-id", &y.run_id]);
        for (platform, items) in expected(&y.run_id, true) {
            let want: BTreeSet<String> = items.into_iter().collect();
            assert_eq!(
                listed(&of_y, platform),
                want,
                "Y's {platform} after X's cleanup"
            );
        }
        assert_eq!(listed(&of_y, "native").len(), ROLES.len());
        assert_eq!(
            listed(&of_y, "qemu"),
            [format!("vb-{}-d1", y.run_id)].into()
        );
        let (_, code) = cleanup(&["--run-id", &y.run_id]);
        assert_eq!(code, Some(0));
        let (gone, _) = cleanup(&["--dry-run", "--run-id", &y.run_id]);
        for m in MADE {
            assert!(listed(&gone, m).is_empty(), "{m}: {gone:?}");
        }
    })
    .await;
}

/// A real `virtbench run` killed with SIGKILL while `platform` has resources up (for
/// docker: while the density sweep's second copy, `<run>-c2`, is up): the dry run of
/// its run id lists them, every one named after the run (or one of its copies, or its
/// lxc bridge), and `cleanup --run-id` leaves nothing, its scratch directory included.
async fn killed_mid_run(platform: &str, scenario_text: &str, wait_for: &str) {
    use std::io::BufRead;
    let dir = tempfile::tempdir().unwrap();
    let scenario = dir.path().join("killed.toml");
    std::fs::write(&scenario, scenario_text).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_virtbench"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .arg("run")
        .arg(&scenario)
        .arg("--out")
        .arg(dir.path().join("reports"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // The first line names the run: "virtbench run <id>: scenario ...".
    let mut stderr = std::io::BufReader::new(child.stderr.take().unwrap());
    let mut first = String::new();
    stderr.read_line(&mut first).unwrap();
    let run_id = first
        .strip_prefix("virtbench run ")
        .and_then(|r| r.split(':').next())
        .unwrap_or_else(|| panic!("no run id in {first:?}"))
        .to_string();
    // Drain the rest, so the run never blocks on a full pipe.
    std::thread::spawn(move || for _ in stderr.lines() {});
    let marker = wait_for.replace("{run}", &run_id);
    let started = std::time::Instant::now();
    let lines = loop {
        let (lines, _) = cleanup(&["--dry-run", "--run-id", &run_id]);
        if lines
            .iter()
            .any(|(p, l)| p == platform && l.contains(&marker))
        {
            break lines;
        }
        assert!(
            started.elapsed() < std::time::Duration::from_secs(300),
            "{platform}: {marker} never appeared"
        );
        assert!(child.try_wait().unwrap().is_none(), "the run ended first");
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    };
    child.kill().unwrap(); // SIGKILL: no teardown, no backstop
    child.wait().unwrap();
    let (lines_after_kill, _) = cleanup(&["--dry-run", "--run-id", &run_id]);
    let bridge = lxc::bridge_name(&run_id);
    for (p, l) in lines_after_kill.iter().filter(|(p, l)| {
        MADE.contains(&p.as_str()) && !l.starts_with("nothing left") && !l.starts_with("process")
    }) {
        // Containers, networks, images and namespaces carry the run id in their names;
        // lxc's bridge, veths and rule carry a hash of it (no copies in this scenario).
        let named = l.contains(&run_id) || (p == "lxc" && l.contains(&bridge));
        assert!(named, "{p}: {l} is not the killed run's");
    }
    assert!(lines.iter().any(|(p, _)| p == platform), "{lines:?}");
    assert!(
        lines_after_kill
            .iter()
            .any(|(p, l)| p == "run" && l.contains(&format!("virtbench-{run_id}"))),
        "the scratch directory is listed: {lines_after_kill:?}"
    );
    let (_, code) = cleanup(&["--run-id", &run_id]);
    assert_eq!(code, Some(0));
    let (gone, _) = cleanup(&["--dry-run", "--run-id", &run_id]);
    for (p, l) in &gone {
        assert!(
            !(MADE.contains(&p.as_str()) || p == "run") || l.starts_with("nothing left"),
            "left after cleanup: {p} {l}"
        );
    }
}

const KILLED_BASE: &str = r#"
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
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_killed_with_sigkill_leaves_only_what_the_dry_run_lists() {
    if skipped() {
        eprintln!("skipped: VIRTBENCH_SKIP_LEFTOVERS=1");
        return;
    }
    // Docker, killed while the density sweep's copy 2 runs (`<run>-c2`).
    killed_mid_run(
        "docker",
        &format!(
            "name = \"killed\"\nplatforms = [\"docker\"]\n{KILLED_BASE}[docker]\n\
             networks = [\"bridge\"]\nsubnet = \"10.239.0.0/24\"\n[density]\n\
             platforms = [\"docker\"]\ncounts = [1, 2]\n"
        ),
        "/vb-{run}-c2-calculator",
    )
    .await;
    // Podman and LXC, killed while their deployment is up.
    killed_mid_run(
        "podman",
        &format!(
            "name = \"killed\"\nplatforms = [\"podman\"]\n{KILLED_BASE}[podman]\n\
             networks = [\"bridge\"]\nsubnet = \"10.240.0.0/24\"\n"
        ),
        "vb-{run}-calculator",
    )
    .await;
    killed_mid_run(
        "lxc",
        &format!(
            "name = \"killed\"\nplatforms = [\"lxc\"]\n{KILLED_BASE}[lxc]\n\
             subnet = \"10.241.0.0/24\"\n"
        ),
        "vb-{run}-calculator",
    )
    .await;
}
