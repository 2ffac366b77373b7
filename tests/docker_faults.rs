//! C7 on a private Docker engine, for real: dockerd and containerd killed under load.
//! The user's engine must come out untouched (a container started on it first still
//! runs and answers afterwards) and nothing of the private engine may be left
//! (processes, directories, mounts, network namespaces). Needs root, dockerd and a
//! running default engine; fails rather than skips without them.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use virtbench::platform::docker::{self, faults, private_engine, Docker};
use virtbench::platform::{Availability, Platform, RunContext, Variant};
use virtbench::scenario::Scenario;

fn context(test: &str) -> RunContext {
    let scenario: Scenario =
        toml::from_str("name = \"faults-test\"\nplatforms = [\"docker\"]\n").unwrap();
    common::context("faults", test, scenario)
}

async fn answer(addr: SocketAddr) -> Option<String> {
    // reqwest is built without a crypto provider (Cargo.toml): plain HTTP needs none,
    // but the builder insists on one being installed.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(2))
        .build()
        .unwrap();
    let r = client
        .post(format!("http://{addr}/"))
        .body("(5+3)/2")
        .send()
        .await
        .ok()?;
    r.text().await.ok()
}

/// Network namespaces mounted under a private engine's directory.
fn netns_of(dir: &std::path::Path) -> Vec<String> {
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .filter(|m| m.starts_with(dir.to_string_lossy().as_ref()))
        .map(str::to_string)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn daemon_kill_on_a_private_engine_leaves_the_users_engine_alone() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter("virtbench=info")
        .with_test_writer()
        .try_init();
    let ctx = context("c7");
    let docker = Docker::default();
    if let Availability::Unavailable { reason, fix } = docker.probe().await {
        panic!("the Docker engine must be running for this test: {reason} (fix: {fix})");
    }
    if let Some(why) = private_engine::PrivateEngine::unsupported() {
        panic!("this test needs a private engine: {why}");
    }
    docker.prepare(&ctx).await.expect("prepare");
    // The user's container: on the default engine, before the fault test.
    let variant = Variant::new("docker/host", &[("network", "host")]);
    let mut theirs = docker.deploy(&ctx, &variant).await.expect("deploy");
    let mut ready = None;
    for _ in 0..300 {
        ready = answer(theirs.endpoint()).await;
        if ready.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(ready.as_deref(), Some("result = 4\r\n"));

    let engine = docker::connect().await.unwrap();
    let binary = virtbench::artifact::calculator::binary().await.unwrap();
    let image = virtbench::platform::docker::image::ensure(&engine, binary)
        .await
        .unwrap();
    let result = faults::run(&engine, &ctx.run_id, &image, &ctx.cancel).await;

    // The user's container still runs and answers.
    let still = answer(theirs.endpoint()).await;
    let exited = theirs.exited();
    theirs.teardown().await.unwrap();
    let dir = private_engine::dir_for(&ctx.run_id);
    let left = private_engine::leftovers(Some(&ctx.run_id));
    let netns = netns_of(&dir);
    let series = result.expect("fault test");

    for (name, s) in &series {
        eprintln!("{name}: {:?} {}", s.samples, s.unit);
    }
    assert_eq!(still.as_deref(), Some("result = 4\r\n"), "{exited:?}");
    assert_eq!(exited, None);
    assert_eq!(left, Vec::<String>::new());
    assert_eq!(netns, Vec::<String>::new());
    assert!(!dir.exists());

    // C7 reads the engine as installed: the default configuration's trial alone (the
    // live-restore and containerd trials are their own `fault_<trial>_*` rows).
    let survived = &series["daemon_kill_survived"];
    assert_eq!((survived.unit.as_str(), survived.summary.n), ("ratio", 1));
    for trial in [
        "dockerd_kill",
        "dockerd_kill_live_restore",
        "containerd_kill",
    ] {
        let ok = &series[&format!("fault_{trial}_ok_per_100ms")];
        let err = &series[&format!("fault_{trial}_errors_per_100ms")];
        assert_eq!(ok.summary.n, err.summary.n);
        // Before the kill the calculator answered: the first second has correct answers.
        let before: f64 = ok.samples[..10].iter().sum();
        assert!(before > 0.0, "{trial}: {:?}", ok.samples);
    }
}
