//! The lxc platform against the real LXC (as root). No LXC, no pass: these tests fail
//! rather than skip, unless `VIRTBENCH_SKIP_LXC=1` says this host is not meant to run
//! them. Each test has its own run id and subnet, so they run in parallel.

use std::future::Future;
use std::net::SocketAddr;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::FutureExt;
use tokio_util::sync::CancellationToken;
use virtbench::platform::lxc::{self, Lxc};
use virtbench::platform::{Availability, Deployment, Platform, RunContext};
use virtbench::scenario::Scenario;

/// Give up waiting for the first correct answer after this long (a bound, not a
/// timing assertion).
const READY_BOUND: Duration = Duration::from_secs(30);

fn skipped() -> bool {
    std::env::var("VIRTBENCH_SKIP_LXC").as_deref() == Ok("1")
}

fn context(test: &str, subnet_octet: u8) -> RunContext {
    let mut scenario: Scenario =
        toml::from_str("name = \"lxc-test\"\nplatforms = [\"lxc\"]\n").unwrap();
    scenario.lxc.subnet = format!("10.217.{subnet_octet}.0/24");
    let dir = std::env::temp_dir().join(format!("vb-lxc-test-{}-{test}", std::process::id()));
    RunContext {
        run_id: format!("t{}-{test}", std::process::id()),
        scenario: Arc::new(scenario),
        cache_dir: dir.join("cache"),
        work_dir: dir.join("work"),
        cancel: CancellationToken::new(),
    }
}

async fn guarded(ctx: &RunContext, body: impl Future<Output = ()>) {
    if let Err(panic) = AssertUnwindSafe(body).catch_unwind().await {
        if let Err(e) = Lxc.cleanup(Some(&ctx.run_id)).await {
            eprintln!("cleanup after the failure failed too: {e}");
        }
        std::panic::resume_unwind(panic);
    }
}

async fn platform(ctx: &RunContext) -> Lxc {
    let p = Lxc;
    if let Availability::Unavailable { reason, fix } = p.probe().await {
        panic!("LXC must run here for these tests (VIRTBENCH_SKIP_LXC=1 to skip): {reason} (fix: {fix})");
    }
    p.prepare(ctx).await.expect("prepare");
    p
}

async fn post(addr: SocketAddr, body: &str) -> Result<String, String> {
    // reqwest is built without a default TLS provider (the crate picks ring for its
    // OpenStack client); a client made here needs one installed too.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(3))
        .build()
        .unwrap();
    let resp = client
        .post(format!("http://{addr}/"))
        .body(body.to_string())
        .send()
        .await
        .map_err(|e| e.to_string())?;
    let status = resp.status();
    let text = resp.text().await.map_err(|e| e.to_string())?;
    if status.is_success() {
        Ok(text)
    } else {
        Err(format!("{status}: {text}"))
    }
}

async fn wait_correct(d: &mut dyn Deployment) -> Duration {
    let addr = d.endpoint();
    let started = Instant::now();
    let mut last = String::new();
    while started.elapsed() < READY_BOUND {
        match post(addr, "(5+3)/2").await {
            Ok(body) if body == "result = 4\r\n" => return started.elapsed(),
            Ok(body) => last = format!("wrong answer {body:?}"),
            Err(e) => last = e,
        }
        if let Some(why) = d.exited() {
            panic!("no correct answer from {addr}: {why}");
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    panic!("no correct answer from {addr} within {READY_BOUND:?}; last: {last}");
}

async fn deploy_answer_teardown(ctx: &RunContext) {
    let p = platform(ctx).await;
    let variant = p.variants(&ctx.scenario).remove(0);
    let t0 = Instant::now();
    let mut d = p.deploy(ctx, &variant).await.expect("deploy");
    let ready = wait_correct(d.as_mut()).await;
    let total = t0.elapsed();
    let phases: Vec<String> = d.deploy_phases().into_iter().map(|(n, _)| n).collect();
    assert_eq!(phases, ["prepare", "start"]);
    let sample = d.sample().await.expect("sample");
    let details = d.details();
    let monitors: u64 = details["last_sample.monitors_rss_bytes"].parse().unwrap();
    let containers: u64 = details["last_sample.containers_bytes"].parse().unwrap();
    assert!(monitors > 0 && containers > 0, "{details:?}");
    println!(
        "lxc/bridge: deploy+first answer {:.0} ms (answer {:.0} ms after deploy returned), \
         memory {:.1} MiB (containers {:.1} MiB + lxc monitors RSS {:.1} MiB), cpu {:.3} s",
        total.as_secs_f64() * 1e3,
        ready.as_secs_f64() * 1e3,
        sample.rss_bytes as f64 / 1048576.0,
        containers as f64 / 1048576.0,
        monitors as f64 / 1048576.0,
        sample.cpu_seconds
    );
    let listed = lxc::leftovers(&ctx.run_id).await;
    // Five containers, the bridge, the five host ends of the veths, the FORWARD rule.
    assert_eq!(listed.len(), 12, "{listed:?}");
    d.teardown().await.expect("teardown");
    d.teardown().await.expect("teardown is idempotent");
    let left = lxc::leftovers(&ctx.run_id).await;
    assert!(left.is_empty(), "left after teardown: {left:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bridge_deploy_answers_directly_and_teardown_leaves_nothing() {
    if skipped() {
        return;
    }
    let ctx = context("bridge", 11);
    guarded(&ctx, deploy_answer_teardown(&ctx)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cleanup_removes_a_forgotten_deployment_and_the_probe_answers() {
    if skipped() {
        return;
    }
    let ctx = context("cleanup", 13);
    guarded(&ctx, async {
        let p = platform(&ctx).await;
        let variant = p.variants(&ctx.scenario).remove(0);
        let mut d = p.deploy(&ctx, &variant).await.expect("deploy");
        wait_correct(d.as_mut()).await;
        let facts = p.extras(&ctx, d.as_mut()).await.expect("isolation facts");
        println!("lxc facts: {facts:?}");
        assert!(!facts.is_empty());
        // The boot id LXC gives its containers is its own: no shared-kernel verdict.
        assert!(!facts.contains_key("isolation_shared_kernel"), "{facts:?}");
        assert_eq!(facts["isolation_net_namespace_private"].samples, [1.0]);
        // Forget the deployment (a crash): cleanup must find everything.
        std::mem::forget(d);
        let removed = p.cleanup(Some(&ctx.run_id)).await.expect("cleanup");
        assert_eq!(
            removed, 7,
            "five containers, the bridge and its FORWARD rule"
        );
        let left = lxc::leftovers(&ctx.run_id).await;
        assert!(left.is_empty(), "left after cleanup: {left:?}");
    })
    .await;
}
