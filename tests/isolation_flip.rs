//! C3 comes out otherwise on real platforms: the isolation facts of a Docker container
//! with CAP_SYS_ADMIN in the host's PID namespace (`--cap-add SYS_ADMIN --pid=host`;
//! `--privileged` cannot start on this host: runc cannot grant the one capability the
//! host's own root lacks), measured for real,
//! judged against a QEMU VM on a bridge (supported: the container sees the host's
//! processes, holds CAP_SYS_ADMIN on its kernel, and no VM does), then against the
//! same VM behind user-mode NAT (mixed: slirp's 10.0.2.2 opens a service bound to the
//! host's loopback, which the bridged container cannot). The VM's network mode flips
//! the verdict; the container's privileges only add facts for the claim.
//!
//! Needs QEMU, a Docker engine and root (the bridged VM's namespace): fails without
//! them, unless VIRTBENCH_SKIP_QEMU=1 explicitly asks to skip.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use virtbench::measure::isolation::{self, Canary};
use virtbench::measure::Probe;
use virtbench::platform::qemu::{Qemu, QemuDeployment};
use virtbench::platform::{Platform, RunContext};
use virtbench::report::claims::{rule_c3, Exposure, Named, Verdict};
use virtbench::results::keys;
use virtbench::scenario::Scenario;
use virtbench::stats::Series;

type Facts = BTreeMap<String, Series>;

fn docker(args: &[&str]) -> Result<String, String> {
    let out = Command::new("docker")
        .args(args)
        .output()
        .map_err(|e| format!("docker: {e}"))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
    } else {
        Err(format!(
            "docker {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// Removes the run's container and image however the test ends.
struct DockerGuard {
    name: String,
    image: String,
    network: String,
}

impl Drop for DockerGuard {
    fn drop(&mut self) {
        let _ = docker(&["rm", "-f", &self.name]);
        let _ = docker(&["network", "rm", &self.network]);
        let _ = docker(&["rmi", "-f", &self.image]);
    }
}

/// The calculator in a container with CAP_SYS_ADMIN in the host's PID namespace, on a bridge
/// network of the run's own (this host's engine has no default bridge) with its port
/// published on 127.0.0.1; its probe facts.
async fn privileged_container(run_id: &str) -> Facts {
    let binary = virtbench::artifact::calculator::binary().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(&binary.path, dir.path().join("calculator")).unwrap();
    let guard = DockerGuard {
        name: format!("vb-{run_id}-privileged"),
        image: format!("vb-{run_id}-calculator:latest"),
        network: format!("vb-{run_id}-net"),
    };
    docker(&[
        "network",
        "create",
        "--label",
        &format!("virtbench.run={run_id}"),
        &guard.network,
    ])
    .unwrap();
    // An image from a tarball of the static binary: no registry needed.
    let tar = Command::new("tar")
        .args(["-C", &dir.path().to_string_lossy(), "-cf"])
        .arg(dir.path().join("image.tar"))
        .arg("calculator")
        .status()
        .unwrap();
    assert!(tar.success());
    docker(&[
        "import",
        "--change",
        "ENTRYPOINT [\"/calculator\"]",
        &dir.path().join("image.tar").to_string_lossy(),
        &guard.image,
    ])
    .unwrap();
    docker(&[
        "run",
        "-d",
        "--name",
        &guard.name,
        "--label",
        &format!("virtbench.run={run_id}"),
        "--network",
        &guard.network,
        // Not --privileged: runc cannot give a capability this host's own root lacks
        // (here 40 of the kernel's 41: "unable to apply caps"); CAP_SYS_ADMIN is
        // what the fact is about.
        "--cap-add",
        "SYS_ADMIN",
        "--pid=host",
        "-p",
        "127.0.0.1::50000",
        &guard.image,
        "all",
    ])
    .unwrap();
    let port = docker(&["port", &guard.name, "50000/tcp"]).unwrap();
    let endpoint: SocketAddr = port.lines().next().unwrap().parse().unwrap();
    let probe = Probe::for_expression("(5+3)/2").unwrap();
    virtbench::measure::startup::wait_first_correct(
        endpoint,
        &probe,
        Duration::from_secs(30),
        &CancellationToken::new(),
    )
    .await
    .unwrap();
    let canaries = Canary::host_pair(None).unwrap();
    let facts = isolation::probe_facts(endpoint, &canaries).await.unwrap();
    drop(guard);
    facts
}

fn scenario() -> Scenario {
    let text = "name = \"c3-flip\"\nplatforms = [\"qemu\"]\n[startup]\nrepetitions = 1\ntimeout_s = 120\n\
         [qemu]\ntopologies = [\"all-in-one\"]\nboot = [\"kernel\"]\nnetworks = [\"nat\", \"bridge\"]\naccelerator = \"auto\"\nmemory_mib = 128\ncpus = 1\n";
    Scenario::parse(Path::new("c3-flip.toml"), text).unwrap()
}

/// Each variant's (label, probe facts), one VM at a time.
async fn vm_facts(ctx: &RunContext) -> Vec<(String, Facts)> {
    let platform = Qemu::default();
    platform.prepare(ctx).await.unwrap();
    let probe = Probe::for_expression("(5+3)/2").unwrap();
    let mut out = Vec::new();
    for variant in platform.variants(&ctx.scenario) {
        let ready = virtbench::run::deploy_ready(&platform, ctx, &variant, &probe)
            .await
            .unwrap_or_else(|e| panic!("{} did not answer: {e}", variant.label));
        let mut dep = ready.dep;
        let facts = {
            let q = dep
                .as_any_mut()
                .and_then(|d| d.downcast_mut::<QemuDeployment>())
                .expect("a QEMU deployment");
            q.facts(&ctx.run_id).await
        };
        dep.teardown().await.unwrap();
        out.push((variant.label.clone(), facts.unwrap()));
    }
    out
}

fn value(f: &Facts, key: &str) -> Option<f64> {
    f.get(key).map(|s| s.summary.median)
}

fn c3(container: &(String, Facts), vm: &(String, Facts)) -> (Verdict, String) {
    let side = |(l, f): &(String, Facts), key: &str| -> Vec<Named> {
        value(f, key).map(|v| (l.clone(), v)).into_iter().collect()
    };
    let e = |fact: &'static str, key: &str| Exposure {
        fact,
        containers: side(container, key),
        vms: side(vm, key),
    };
    let o = rule_c3(&[
        e("shares the host kernel", keys::ISOLATION_SHARED_KERNEL),
        e(
            "sees host processes",
            keys::ISOLATION_HOST_PROCESSES_VISIBLE,
        ),
        e(
            "holds CAP_SYS_ADMIN on the host's kernel",
            keys::ISOLATION_HOST_CAP_SYS_ADMIN,
        ),
        e(
            "opens a service on the host's loopback",
            keys::ISOLATION_REACHES_HOST_LOOPBACK,
        ),
    ]);
    (o.verdict, o.because)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn c3_follows_the_vms_network_mode_beside_a_host_pid_sys_admin_container() {
    if std::env::var("VIRTBENCH_SKIP_QEMU").as_deref() == Ok("1") {
        eprintln!("SKIPPED (VIRTBENCH_SKIP_QEMU=1)");
        return;
    }
    let run_id = format!("t{}-c3flip", std::process::id());
    let ctx = RunContext::new(&run_id, scenario(), CancellationToken::new()).unwrap();
    let vms = {
        use futures_util::FutureExt;
        let r = std::panic::AssertUnwindSafe(vm_facts(&ctx))
            .catch_unwind()
            .await;
        // Backstop: a failed step must not leave the run's VMs or namespaces.
        let _ = Qemu::default().cleanup(Some(&run_id)).await;
        r.unwrap_or_else(|p| std::panic::resume_unwind(p))
    };
    let container = (
        "docker --cap-add SYS_ADMIN --pid=host".to_string(),
        privileged_container(&run_id).await,
    );
    for (l, f) in vms.iter().chain(std::iter::once(&container)) {
        for (k, s) in f.iter().filter(|(k, _)| k.starts_with("isolation_")) {
            eprintln!("{l} {k}: {}", s.describe());
        }
    }
    // The container's facts, measured.
    let cf = &container.1;
    assert_eq!(value(cf, keys::ISOLATION_SHARED_KERNEL), Some(1.0));
    assert!(
        value(cf, keys::ISOLATION_HOST_PROCESSES_VISIBLE).unwrap() > 0.0,
        "--pid=host shows the host's processes: {cf:?}"
    );
    assert_eq!(value(cf, keys::ISOLATION_HOST_CAP_SYS_ADMIN), Some(1.0));
    let vm = |mode: &str| {
        vms.iter()
            .find(|(l, _)| l.ends_with(mode))
            .unwrap_or_else(|| panic!("no {mode} VM in {vms:?}"))
    };
    let (nat, bridge) = (vm("/nat"), vm("/bridge"));
    assert_eq!(
        value(&nat.1, keys::ISOLATION_REACHES_HOST_LOOPBACK),
        Some(1.0)
    );
    assert_eq!(
        value(&bridge.1, keys::ISOLATION_REACHES_HOST_LOOPBACK),
        Some(0.0)
    );
    let (v, because) = c3(&container, bridge);
    eprintln!("C3 with the bridged VM: {v:?}: {because}");
    assert_eq!(v, Verdict::Supported, "{because}");
    let (v, because) = c3(&container, nat);
    eprintln!("C3 with the NAT VM: {v:?}: {because}");
    assert_eq!(v, Verdict::Mixed, "{because}");
    assert!(Qemu::default()
        .leftovers(Some(&run_id))
        .await
        .unwrap()
        .unwrap()
        .is_empty());
}
