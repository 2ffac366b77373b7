//! `virtbench cleanup --dry-run --run-id X` and `cleanup --run-id X`, on real leftovers.
//!
//! 1. A run X, its density copy X-c1 and another run Y each deploy for real on native,
//!    Docker, Podman and LXC, and X-c1 and Y create a bridged QEMU network namespace and
//!    X an outside namespace, the way the platforms do; then the harness "dies": the
//!    deployments are forgotten, never torn down. The dry run must list exactly X's and
//!    X-c1's resources by name, the cleanup remove exactly those, and Y's must stay
//!    until its own cleanup.
//! 2. Real `virtbench run`s killed with SIGKILL in each phase (startup, idle, load,
//!    experiments; Docker also in the density sweep's second copy) on native, Docker,
//!    Podman, LXC and QEMU, side by side (`podman/rootless`, root driving an ordinary
//!    user's rootless Podman, too when `VIRTBENCH_LEFTOVERS_ONLY` names it): the dry
//!    run of each lists exactly what the host holds of it (found with the host's own
//!    tools), its cleanup removes exactly that, and the other killed runs' resources
//!    all survive it. VirtualBox cannot be
//!    installed here: the dry run must say why nothing of it can exist. (OpenStack's
//!    leftovers are checked by tests/openstack.rs and by the OpenStack interrupt test.)
//!
//! As root (LXC, namespaces); every platform above must be there: the test fails
//! otherwise, unless `VIRTBENCH_SKIP_LEFTOVERS=1`.

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

/// One test of this file at a time: side by side on two cores, `podman info` took
/// longer than the probe waits.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

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
    let _one = SERIAL.lock().await;
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

/// The ordinary user whose rootless Podman the `podman/rootless` runs use (the one
/// tests/student.rs makes).
const ROOTLESS_USER: &str = "vbstudent";

fn uid_of(user: &str) -> String {
    Command::new("id")
        .args(["-u", user])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default()
}

/// The rootless user, made as tests/student.rs makes it when absent (a test may).
fn rootless_user() {
    if uid_of(ROOTLESS_USER).is_empty() {
        let out = Command::new("useradd")
            .args(["--create-home", "--groups", "docker", ROOTLESS_USER])
            .output()
            .unwrap();
        assert!(out.status.success(), "useradd: {out:?}");
    }
}

/// The phases a run is killed in, each with the progress line that starts it and how
/// long to wait after that line before `kill -9` (to land inside the phase's work, with
/// whatever of it exists then).
const PHASES: [(&str, &str, u64); 5] = [
    ("startup", ": startup 1/", 400),
    ("idle", ": idle window", 200),
    ("load", ": open-loop load", 200),
    ("extras", ": platform experiments", 1200),
    // Docker only: the density sweep's second copy (`<run>-c2`).
    ("density", ": density: copy 2 of 2", 1500),
];

/// Everything on this host named after `run` (or one of its copies `run-c<k>`), found
/// as a user would with the host's own tools, not with virtbench's listing: processes
/// whose environment carries `VIRTBENCH_RUN=<run>` (native services) or whose command
/// line names `vb-<run>-` (QEMU VMs); containers and networks of Docker and Podman
/// named `vb-<run>`; LXC containers under /var/lib/virtbench/lxc; the run's LXC bridge
/// and veths (their names hash the run id); network namespaces `vb-<run>-...` and
/// `vbo-<run>`; FORWARD rules naming the run or its bridge; the scratch directory.
fn inventory(run: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let ours = |name: &str| name.contains(&format!("vb-{run}-")) || name == format!("vb-{run}");
    let env_marker = format!("VIRTBENCH_RUN={run}");
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let env = std::fs::read(format!("/proc/{pid}/environ")).unwrap_or_default();
        let native = env.split(|&b| b == 0).any(|v| {
            v.strip_prefix(env_marker.as_bytes()).is_some_and(|rest| {
                rest.is_empty()
                    || (rest.starts_with(b"-c") && rest[2..].iter().all(u8::is_ascii_digit))
            })
        });
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        // argv[0]: a VM names itself (`-name ...,process=`), so its comm is not qemu's.
        let cmdline = String::from_utf8_lossy(&cmdline);
        let vm = cmdline
            .split('\0')
            .next()
            .unwrap_or("")
            .contains("qemu-system")
            && cmdline.contains(&format!("vb-{run}-"));
        if native || vm {
            out.insert(format!("pid {pid}"));
        }
    }
    let lines = |program: &str, args: &[&str]| -> Vec<String> {
        Command::new(program)
            .args(args)
            .output()
            .map(|o| {
                String::from_utf8_lossy(&o.stdout)
                    .lines()
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default()
    };
    for engine in ["docker", "podman"] {
        for args in [
            &["ps", "-a", "--format", "{{.Names}}"][..],
            &["network", "ls", "--format", "{{.Name}}"][..],
        ] {
            out.extend(lines(engine, args).into_iter().filter(|n| ours(n)));
        }
    }
    // The ordinary user's rootless Podman store, as that user lists it.
    let home = format!("HOME=/home/{ROOTLESS_USER}");
    let runtime = format!("XDG_RUNTIME_DIR=/run/user/{}", uid_of(ROOTLESS_USER));
    for args in [
        &["ps", "-a", "--format", "{{.Names}}"][..],
        &["network", "ls", "--format", "{{.Name}}"][..],
    ] {
        let mut full = vec!["-u", ROOTLESS_USER, "--", "env", &home, &runtime, "podman"];
        full.extend(args);
        out.extend(lines("runuser", &full).into_iter().filter(|n| ours(n)));
    }
    if let Ok(dir) = std::fs::read_dir("/var/lib/virtbench/lxc") {
        out.extend(
            dir.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| ours(n)),
        );
    }
    let bridge = lxc::bridge_name(run);
    for l in lines("ip", &["-o", "link", "show"]) {
        // "7: vb1234abcdv0@if6: <...": the name is the second field, before any '@'.
        if let Some(name) = l.split(": ").nth(1).and_then(|n| n.split('@').next()) {
            if name.starts_with(&bridge) {
                out.insert(name.to_string());
            }
        }
    }
    for n in lines("ip", &["netns", "list"]) {
        let name = n.split_whitespace().next().unwrap_or("").to_string();
        if ours(&name) || name == format!("vbo-{run}") || name.starts_with(&format!("vbo-{run}-c"))
        {
            out.insert(name);
        }
    }
    for r in lines("iptables", &["-S", "FORWARD"]) {
        if r.contains(run) || r.contains(&bridge) {
            out.insert(r);
        }
    }
    let scratch = std::env::temp_dir().join(format!("virtbench-{run}"));
    if scratch.exists() {
        out.insert(scratch.display().to_string());
    }
    out
}

/// Does the listing line `line` name `item` (an inventory entry)? Names are whole
/// words of the line (`/vb-x-calculator` names `vb-x-calculator`); a process is named
/// by its pid after "process"; a rule by its whole text.
fn names(line: &str, item: &str) -> bool {
    if let Some(pid) = item.strip_prefix("pid ") {
        let words: Vec<&str> = line.split_whitespace().collect();
        return words.windows(2).any(|w| w[0] == "process" && w[1] == pid);
    }
    if item.starts_with('-') {
        return line.contains(item);
    }
    line.split_whitespace().any(|w| {
        w == item
            || w.trim_start_matches('/')
                .trim_matches(|c| c == '(' || c == ')')
                == item
    })
}

/// `cleanup --dry-run --run-id RUN` over the platforms made here: its lines that list
/// something.
fn dry_run(run: &str) -> Vec<(String, String)> {
    let (lines, code) = cleanup(&["--dry-run", "--run-id", run, "--platforms", PLATFORMS_ARG]);
    assert_eq!(code, Some(0), "dry run of {run}: {lines:?}");
    lines
        .into_iter()
        .filter(|(_, l)| !l.starts_with("nothing left"))
        .collect()
}

const PLATFORMS_ARG: &str = "native,docker,podman,lxc,qemu,virtualbox";

/// The dry run lists exactly what the host holds of `run`: every inventory entry on
/// some line, and every line naming some entry.
fn assert_lists_exactly(run: &str, what: &str) -> BTreeSet<String> {
    let have = inventory(run);
    let listed = dry_run(run);
    for item in &have {
        assert!(
            listed.iter().any(|(_, l)| names(l, item)),
            "{what}: {item} is on the host but not in the dry run: {listed:?}"
        );
    }
    for (p, l) in &listed {
        assert!(
            have.iter().any(|item| names(l, item)),
            "{what}: the dry run lists `{p} {l}`, which is not {run}'s: {have:?}"
        );
    }
    have
}

/// One `virtbench run` of `scenario_text`, killed with SIGKILL `delay_ms` after its
/// progress shows `marker`; its run id.
async fn run_and_kill(scenario_text: String, marker: String, delay_ms: u64) -> String {
    use tokio::io::AsyncBufReadExt;
    let dir = tempfile::tempdir().unwrap();
    let scenario = dir.path().join("killed.toml");
    std::fs::write(&scenario, scenario_text).unwrap();
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_virtbench"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("RUST_LOG", "virtbench::run::progress=info")
        .arg("run")
        .arg(&scenario)
        .arg("--out")
        .arg(dir.path().join("reports"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = tokio::io::BufReader::new(child.stderr.take().unwrap()).lines();
    let mut run_id = None;
    let mut seen = Vec::new();
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(240);
    loop {
        let line = tokio::time::timeout_at(deadline, lines.next_line())
            .await
            .unwrap_or_else(|_| panic!("{marker:?} never came: {seen:#?}"))
            .unwrap()
            .unwrap_or_else(|| panic!("the run ended before {marker:?}: {seen:#?}"));
        if run_id.is_none() {
            // The first line names the run: "virtbench run <id>: scenario ...".
            run_id = line
                .strip_prefix("virtbench run ")
                .and_then(|r| r.split(':').next())
                .map(str::to_string);
        }
        let hit = line.contains(&marker);
        seen.push(line);
        if hit {
            break;
        }
    }
    tokio::time::sleep(std::time::Duration::from_millis(delay_ms)).await;
    assert!(
        child.try_wait().unwrap().is_none(),
        "the run ended before the kill ({marker:?}): {seen:#?}"
    );
    child.start_kill().unwrap(); // SIGKILL: no teardown, no backstop
    child.wait().await.unwrap();
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    run_id.unwrap_or_else(|| panic!("no run id in {seen:#?}"))
}

const KILLED_BASE: &str = r#"
[workload]
expressions = ["(5+3)/2"]
[startup]
repetitions = 1
timeout_s = 180
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
"#;

/// The scenario of the run killed in phase `k` on `platform`: one variant, a subnet
/// of its own per phase (the runs go side by side).
fn killed_scenario(platform: &str, k: usize) -> String {
    let own = match platform {
        "docker" => format!(
            "[docker]\nnetworks = [\"bridge\"]\nsubnet = \"10.239.{k}.0/24\"\nfaults = false\n\
             [density]\nplatforms = [\"docker\"]\ncounts = [1, 2]\n"
        ),
        "podman" => format!("[podman]\nnetworks = [\"bridge\"]\nsubnet = \"10.240.{k}.0/24\"\n"),
        // Root's rootful variant first, then the same under the ordinary user's
        // rootless Podman: these runs are killed in the rootless one's phases.
        "podman/rootless" => format!(
            "[podman]\nnetworks = [\"bridge\"]\nsubnet = \"10.243.{k}.0/24\"\n\
             rootless = true\nrootless_user = \"{ROOTLESS_USER}\"\n"
        ),
        "lxc" => format!("[lxc]\nsubnet = \"10.241.{k}.0/24\"\n"),
        "qemu" => {
            "[qemu]\ntopologies = [\"all-in-one\"]\nboot = [\"kernel\"]\nnetworks = [\"nat\"]\n\
                   memory_mib = 128\ncpus = 1\n"
                .into()
        }
        _ => String::new(),
    };
    let engine = platform.split('/').next().unwrap_or(platform);
    format!("name = \"killed-{engine}-{k}\"\nplatforms = [\"{engine}\"]\n{KILLED_BASE}{own}")
}

/// `platform` killed once in each phase, the runs side by side: after each kill the
/// dry run of its id lists exactly what the host holds of it; then each run's cleanup
/// removes exactly its own, and the other killed runs' resources are all still there.
async fn killed_in_every_phase(platform: &'static str) {
    let phases: Vec<(usize, &(&str, &'static str, u64))> = PHASES
        .iter()
        .enumerate()
        .filter(|(_, (phase, _, _))| *phase != "density" || platform == "docker")
        .collect();
    let runs = futures_util::future::join_all(phases.iter().map(|(k, (phase, marker, delay))| {
        let text = killed_scenario(platform, k + 1);
        // QEMU's experiments (NAT: no namespace, no canary) end within a second here.
        let delay = if platform == "qemu" && *phase == "extras" {
            100
        } else {
            *delay
        };
        // The rootless variant's own phases (it runs after the rootful one).
        let marker = match platform {
            "podman/rootless" => format!("{platform}{marker}"),
            _ => marker.to_string(),
        };
        async move {
            let t0 = std::time::Instant::now();
            let id = run_and_kill(text, marker, delay).await;
            eprintln!(
                "{platform}: run {id} killed in {phase} after {:.1} s",
                t0.elapsed().as_secs_f64()
            );
            (phase.to_string(), id)
        }
    }))
    .await;
    let ids: Vec<String> = runs.iter().map(|(_, id)| id.clone()).collect();
    guarded(&ids, async {
        let mut left: Vec<(String, BTreeSet<String>)> = Vec::new();
        for (phase, id) in &runs {
            let have = assert_lists_exactly(id, &format!("{platform} killed in {phase}"));
            eprintln!(
                "{platform} killed in {phase}: {} left: {have:?}",
                have.len()
            );
            if *phase != "startup" {
                // Past startup the deployment was up: something of it must be left.
                assert!(have.len() > 1, "{platform} {phase}: only {have:?}");
            }
            left.push((id.clone(), have));
        }
        while let Some((id, _)) = left.first().cloned() {
            left.remove(0);
            let (_, code) = cleanup(&["--run-id", &id, "--platforms", PLATFORMS_ARG]);
            assert_eq!(code, Some(0));
            assert_eq!(
                inventory(&id),
                BTreeSet::new(),
                "{platform}: {id} after its cleanup"
            );
            assert_eq!(
                dry_run(&id),
                Vec::new(),
                "{platform}: {id} after its cleanup"
            );
            for (other, had) in &left {
                assert_eq!(
                    &inventory(other),
                    had,
                    "{platform}: {other} after {id}'s cleanup"
                );
            }
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runs_killed_in_each_phase_leave_only_what_the_dry_run_lists() {
    if skipped() {
        eprintln!("skipped: VIRTBENCH_SKIP_LEFTOVERS=1");
        return;
    }
    let _one = SERIAL.lock().await;
    // Every platform at once (each run has its own subnet and names): the file's time
    // is the longest platform's, not their sum.
    let only = std::env::var("VIRTBENCH_LEFTOVERS_ONLY").ok();
    let platforms = MADE.iter().filter(|p| {
        only.as_deref()
            .is_none_or(|o| o.split(',').any(|o| o == **p))
    });
    // A thread and a runtime per platform: one platform's checks run blocking
    // commands, which must not hold up another's reading of its runs' progress.
    let threads: Vec<_> = platforms
        .map(|p| {
            std::thread::spawn(move || {
                tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap()
                    .block_on(killed_in_every_phase(p))
            })
        })
        .collect();
    // `podman/rootless` (root driving an ordinary user's rootless Podman) on request
    // only: its runs doubled the file's time on this 2-core host (389 s against 192 s).
    if only
        .as_deref()
        .is_some_and(|o| o.split(',').any(|o| o == "podman/rootless"))
    {
        rootless_user();
        killed_in_every_phase("podman/rootless").await;
    }
    let mut failed = None;
    for t in threads {
        if let Err(panic) = t.join() {
            failed = Some(panic);
        }
    }
    if let Some(panic) = failed {
        std::panic::resume_unwind(panic);
    }
    // VirtualBox cannot be installed here: the dry run must say why nothing can exist.
    let (lines, _) = cleanup(&["--dry-run", "--platforms", "virtualbox"]);
    let vbox: Vec<&String> = lines
        .iter()
        .filter(|(p, _)| p == "virtualbox")
        .map(|(_, l)| l)
        .collect();
    assert!(!vbox.is_empty(), "{lines:?}");
    if virtbench::artifact::disk::which("VBoxManage").is_none() {
        assert!(
            vbox.iter()
                .all(|l| l.starts_with("nothing left: VBoxManage not found")
                    && l.contains("no VirtualBox VM can exist")),
            "{vbox:?}"
        );
    }
}
