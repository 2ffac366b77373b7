//! A sub-service killed mid-load, for real (issue 13): `kill -9` of `mul` on native
//! processes and in a Docker container while the prober asks `2*(3+4)-10/4` every
//! 50 ms; without a restart policy the calculator answers 502 with its one-line reason,
//! with one (a respawn for native, `--restart always` for docker) it answers correctly
//! again. Nothing of the run is left. Docker needs a running engine; fails rather than
//! skips without it.

mod common;

use std::collections::BTreeMap;

use virtbench::platform::docker::{self, Docker};
use virtbench::platform::native::{self, Native};
use virtbench::platform::{Availability, Platform, RunContext, Variant};
use virtbench::scenario::Scenario;
use virtbench::stats::Series;

fn context(test: &str) -> RunContext {
    let scenario: Scenario =
        toml::from_str("name = \"service-kill-test\"\nplatforms = [\"native\", \"docker\"]\n")
            .unwrap();
    common::context("sk", test, scenario)
}

fn show(platform: &str, series: &BTreeMap<String, Series>) {
    for (name, s) in series {
        eprintln!("{platform} {name}: {:?} {} {:?}", s.samples, s.unit, s.note);
    }
}

/// What both platforms must show.
fn check(series: &BTreeMap<String, Series>) {
    for trial in ["mul_kill", "mul_kill_supervised"] {
        let ok = &series[&format!("fault_{trial}_ok_per_100ms")];
        let err = &series[&format!("fault_{trial}_errors_per_100ms")];
        assert_eq!(ok.summary.n, err.summary.n);
        assert!(
            ok.samples[..10].iter().sum::<f64>() > 0.0,
            "{trial}: {:?}",
            ok.samples
        );
        // The kill shows: failed probes after it, counted as 502 with a reason naming mul.
        assert!(
            err.samples[10..].iter().sum::<f64>() > 0.0,
            "{trial}: {:?}",
            err.samples
        );
        let bad = &series[&format!("fault_{trial}_http_502")];
        assert!(bad.samples[0] > 0.0);
        let reason = bad.note.as_deref().unwrap_or_default();
        assert!(
            reason.starts_with("HTTP 502: ") && reason.contains("mul"),
            "{reason}"
        );
    }
    assert_eq!(series["fault_mul_kill_survived"].samples, [0.0]);
    // The restart policy brought it back: a time, and the service running again.
    assert_eq!(
        series["fault_mul_kill_supervised_restart_to_answer_ms"]
            .summary
            .n,
        1
    );
    assert_eq!(
        series["fault_mul_kill_supervised_restart_containers_running"].samples,
        [1.0]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn native_mul_killed_mid_load_then_respawned() {
    let ctx = context("native");
    let series = native::service_kill::run(&ctx).await;
    let left = native::processes_of_run(Some(&ctx.run_id));
    let _ = Native.cleanup(Some(&ctx.run_id)).await;
    let series = series.expect("native sub-service kill");
    show("native", &series);
    assert_eq!(left, Vec::<u32>::new());
    check(&series);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn docker_mul_killed_mid_load_then_restarted_by_the_engine() {
    let ctx = context("docker");
    let d = Docker::default();
    if let Availability::Unavailable { reason, fix } = d.probe().await {
        panic!("the Docker engine must be running for this test: {reason} (fix: {fix})");
    }
    d.prepare(&ctx).await.expect("prepare");
    let variant = Variant::new("docker/host", &[("network", "host")]);
    let mut dep = d.deploy(&ctx, &variant).await.expect("deploy");
    let engine = docker::connect().await.unwrap();
    let series = docker::service_kill::run(&engine, &ctx.run_id, dep.endpoint(), &ctx.cancel).await;
    dep.teardown().await.expect("teardown");
    let left = d.leftovers(Some(&ctx.run_id)).await.expect("listing");
    let series = series.expect("docker sub-service kill");
    show("docker", &series);
    assert_eq!(left, Some(Vec::new()));
    check(&series);
}
