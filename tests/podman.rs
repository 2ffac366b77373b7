//! The podman platform against the real engine (rootful `podman`). No podman, no pass:
//! these tests fail rather than skip, unless `VIRTBENCH_SKIP_PODMAN=1` says this host
//! is not meant to run them.
//!
//! Each test has its own run id and, in bridge mode, its own subnet, so they run in
//! parallel; the image import is serialised so it happens once.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::time::Instant;

use futures_util::FutureExt;
use virtbench::platform::podman::{self, Podman};
use virtbench::platform::{Availability, Platform, RunContext};
use virtbench::scenario::Scenario;

mod common;
use common::{post, wait_correct};

static PREPARE: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn skipped() -> bool {
    std::env::var("VIRTBENCH_SKIP_PODMAN").as_deref() == Ok("1")
}

fn context(test: &str, subnet_octet: u8) -> RunContext {
    let mut scenario: Scenario =
        toml::from_str("name = \"podman-test\"\nplatforms = [\"podman\"]\n").unwrap();
    scenario.podman.subnet = format!("10.216.{subnet_octet}.0/24");
    common::context("podman", test, scenario)
}

async fn guarded(ctx: &RunContext, body: impl Future<Output = ()>) {
    if let Err(panic) = AssertUnwindSafe(body).catch_unwind().await {
        if let Err(e) = Podman::default().cleanup(Some(&ctx.run_id)).await {
            eprintln!("cleanup after the failure failed too: {e}");
        }
        std::panic::resume_unwind(panic);
    }
}

async fn platform(ctx: &RunContext) -> Podman {
    let p = Podman::default();
    if let Availability::Unavailable { reason, fix } = p.probe().await {
        panic!("podman must run here for these tests (VIRTBENCH_SKIP_PODMAN=1 to skip): {reason} (fix: {fix})");
    }
    let _once = PREPARE.lock().await;
    let artifacts = p.prepare(ctx).await.expect("prepare");
    let image = artifacts
        .iter()
        .find(|a| a.name == "podman-image")
        .expect("image record");
    assert!(image.bytes > 0, "{image:?}");
    p
}

async fn deploy_answer_teardown(ctx: &RunContext, network: &str) {
    let p = platform(ctx).await;
    let variant = p
        .variants(&ctx.scenario)
        .into_iter()
        .find(|v| v.get("network") == Some(network))
        .expect("variant");
    let t0 = Instant::now();
    let mut d = p.deploy(ctx, &variant).await.expect("deploy");
    let ready = wait_correct(d.as_mut()).await;
    let total = t0.elapsed();
    assert_eq!(d.endpoint().ip().to_string(), "127.0.0.1");
    let phases: Vec<String> = d.deploy_phases().into_iter().map(|(n, _)| n).collect();
    assert_eq!(phases, ["create", "start"]);
    let sample = d.sample().await.expect("sample");
    assert!(sample.rss_bytes > 0, "{sample:?}");
    let details = d.details();
    let conmon: u64 = details["last_sample.conmon_rss_bytes"].parse().unwrap();
    let containers: u64 = details["last_sample.containers_bytes"].parse().unwrap();
    assert!(conmon > 0 && containers > 0, "{details:?}");
    println!(
        "podman/{network}: deploy+first answer {:.0} ms (answer {:.0} ms after deploy returned), \
         memory {:.1} MiB (containers {:.1} MiB + conmon RSS {:.1} MiB), cpu {:.3} s",
        total.as_secs_f64() * 1e3,
        ready.as_secs_f64() * 1e3,
        sample.rss_bytes as f64 / 1048576.0,
        containers as f64 / 1048576.0,
        conmon as f64 / 1048576.0,
        sample.cpu_seconds
    );
    let listed = podman::leftovers(&ctx.run_id).await.expect("listing");
    assert_eq!(
        listed.len(),
        if network == "bridge" { 6 } else { 5 },
        "{listed:?}"
    );
    d.teardown().await.expect("teardown");
    d.teardown().await.expect("teardown is idempotent");
    let left = podman::leftovers(&ctx.run_id).await.expect("listing");
    assert!(left.is_empty(), "left after teardown: {left:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bridge_deploy_answers_through_published_port_and_teardown_leaves_nothing() {
    if skipped() {
        return;
    }
    let ctx = context("bridge", 11);
    guarded(&ctx, deploy_answer_teardown(&ctx, "bridge")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn host_deploy_answers_on_loopback_and_teardown_leaves_nothing() {
    if skipped() {
        return;
    }
    let ctx = context("host", 12);
    guarded(&ctx, deploy_answer_teardown(&ctx, "host")).await;
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
        assert!(!facts.is_empty());
        println!("podman facts: {:?}", facts.keys().collect::<Vec<_>>());
        // Forget the deployment (a crash): cleanup by label must find everything.
        std::mem::forget(d);
        let removed = p.cleanup(Some(&ctx.run_id)).await.expect("cleanup");
        assert_eq!(removed, 6, "five containers and the network");
        let left = podman::leftovers(&ctx.run_id).await.expect("listing");
        assert!(left.is_empty(), "left after cleanup: {left:?}");
    })
    .await;
}

/// Podman's side of C7, for real: `kill -9` of the calculator container's conmon while
/// the prober asks every 50 ms. The trial's containers are named apart from a main
/// deployment of the same run (which must come out untouched) and removed afterwards;
/// the daemonless fact is probed (no podman process among the calculator's ancestors).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conmon_kill_under_load_records_the_fault_series_and_leaves_nothing() {
    if skipped() {
        return;
    }
    let ctx = context("conmon", 14);
    guarded(&ctx, async {
        let p = platform(&ctx).await;
        let variant = p
            .variants(&ctx.scenario)
            .into_iter()
            .find(|v| v.get("network") == Some("host"))
            .expect("host variant");
        let mut main = p.deploy(&ctx, &variant).await.expect("deploy");
        wait_correct(main.as_mut()).await;
        let image = p
            .prepare(&ctx)
            .await
            .expect("prepare")
            .into_iter()
            .find(|a| a.name == "podman-image")
            .and_then(|a| a.path)
            .expect("image tag");
        let series = podman::faults::run(&ctx.run_id, &image, &ctx.cancel)
            .await
            .expect("conmon kill trial");
        for (name, s) in &series {
            eprintln!("{name}: {:?} {} {:?}", s.samples, s.unit, s.note);
        }
        // The main deployment still answers and is all that is left of the run.
        assert_eq!(
            post(main.endpoint(), "(5+3)/2").await.as_deref(),
            Ok("result = 4\r\n")
        );
        assert_eq!(podman::leftovers(&ctx.run_id).await.unwrap().len(), 5);
        main.teardown().await.expect("teardown");
        let left = podman::leftovers(&ctx.run_id).await.expect("listing");
        assert!(left.is_empty(), "left: {left:?}");

        assert_eq!(series["podman_daemon_processes"].samples, [0.0]);
        let ok = &series["fault_conmon_kill_ok_per_100ms"];
        let err = &series["fault_conmon_kill_errors_per_100ms"];
        assert_eq!(ok.summary.n, err.summary.n);
        assert!(
            ok.samples[..10].iter().sum::<f64>() > 0.0,
            "answers before the kill: {:?}",
            ok.samples
        );
        for key in [
            "fault_conmon_kill_survived",
            "fault_conmon_kill_answered_fraction",
            "fault_conmon_kill_containers_running",
            "fault_conmon_kill_restart_containers_running",
            "fault_conmon_kill_restart_to_answer_ms",
        ] {
            assert!(
                series.contains_key(key),
                "{key} missing: {:?}",
                series.keys()
            );
        }
    })
    .await;
}
