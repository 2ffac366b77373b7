//! The lxc platform against the real LXC (as root). No LXC, no pass: these tests fail
//! rather than skip, unless `VIRTBENCH_SKIP_LXC=1` says this host is not meant to run
//! them. Each test has its own run id and subnet, so they run in parallel.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::time::Instant;

use futures_util::FutureExt;
use virtbench::platform::lxc::{self, Lxc};
use virtbench::platform::{Availability, Platform, RunContext};
use virtbench::scenario::Scenario;

mod common;
use common::wait_correct;

fn skipped() -> bool {
    std::env::var("VIRTBENCH_SKIP_LXC").as_deref() == Ok("1")
}

fn context(test: &str, subnet_octet: u8) -> RunContext {
    let mut scenario: Scenario =
        toml::from_str("name = \"lxc-test\"\nplatforms = [\"lxc\"]\n").unwrap();
    scenario.lxc.subnet = format!("10.217.{subnet_octet}.0/24");
    common::context("lxc", test, scenario)
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
        // LXC's own boot id: the kernel is told by the namespaces, and it is the host's.
        assert_eq!(facts["isolation_shared_kernel"].samples, [1.0], "{facts:?}");
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
