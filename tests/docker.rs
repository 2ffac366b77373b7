//! The docker platform against the real engine (`DOCKER_HOST`, else the local socket).
//! No engine, no pass: these tests fail rather than skip when the engine does not
//! answer (CI starts dockerd first).
//!
//! Each test has its own run id and, in bridge mode, its own subnet, so they run in
//! parallel; the image build is serialised so it happens once.

use std::collections::HashMap;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bollard::query_parameters::{
    ListContainersOptionsBuilder, ListImagesOptionsBuilder, ListNetworksOptionsBuilder,
};
use futures_util::FutureExt;
use virtbench::platform::docker::{self, stats::Sampler, Docker};
use virtbench::platform::{Availability, Platform, RunContext, Variant};
use virtbench::scenario::Scenario;

mod common;
use common::{post, wait_correct, READY_BOUND};

/// One image build for the whole test binary (the other tests then find it cached).
static PREPARE: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn context(test: &str, subnet_octet: u8) -> RunContext {
    let mut scenario: Scenario =
        toml::from_str("name = \"docker-test\"\nplatforms = [\"docker\"]\n").unwrap();
    scenario.docker.subnet = format!("10.213.{subnet_octet}.0/24");
    common::context("docker", test, scenario)
}

/// Run a test body; if it panics, remove what the run left before failing.
async fn guarded(ctx: &RunContext, body: impl Future<Output = ()>) {
    if let Err(panic) = AssertUnwindSafe(body).catch_unwind().await {
        // The run's resources, and those a test made for a pretend other run.
        for run in [ctx.run_id.clone(), format!("{}-other", ctx.run_id)] {
            if let Err(e) = Docker::default().cleanup(Some(&run)).await {
                eprintln!("cleanup after the failure failed too: {e}");
            }
        }
        std::panic::resume_unwind(panic);
    }
}

async fn platform(ctx: &RunContext) -> Docker {
    let docker = Docker::default();
    if let Availability::Unavailable { reason, fix } = docker.probe().await {
        panic!("the Docker engine must be running for these tests: {reason} (fix: {fix})");
    }
    let _once = PREPARE.lock().await;
    let artifacts = docker.prepare(ctx).await.expect("prepare");
    let image = artifacts
        .iter()
        .find(|a| a.name == "docker-image")
        .expect("image record");
    assert!(image.bytes > 0, "{image:?}");
    docker
}

fn variant(docker: &Docker, ctx: &RunContext, network: &str) -> Variant {
    docker
        .variants(&ctx.scenario)
        .into_iter()
        .find(|v| v.get("network") == Some(network))
        .expect("variant")
}

/// Poll until `(5+3)/2` is answered correctly; returns how long it took. Fails early
/// with the platform's reason when a container died.
fn label_filter(run_id: &str) -> HashMap<String, Vec<String>> {
    HashMap::from([("label".to_string(), vec![format!("virtbench.run={run_id}")])])
}

/// Containers, networks and images still labelled with the run.
async fn leftovers(run_id: &str) -> Vec<String> {
    let engine = docker::connect().await.unwrap();
    let mut left = Vec::new();
    for c in engine
        .list_containers(Some(
            ListContainersOptionsBuilder::default()
                .all(true)
                .filters(&label_filter(run_id))
                .build(),
        ))
        .await
        .unwrap()
    {
        left.push(format!("container {:?}", c.names));
    }
    for n in engine
        .list_networks(Some(
            ListNetworksOptionsBuilder::default()
                .filters(&label_filter(run_id))
                .build(),
        ))
        .await
        .unwrap()
    {
        left.push(format!("network {:?}", n.name));
    }
    for i in engine
        .list_images(Some(
            ListImagesOptionsBuilder::default()
                .filters(&label_filter(run_id))
                .build(),
        ))
        .await
        .unwrap()
    {
        left.push(format!("image {:?}", i.repo_tags));
    }
    left
}

async fn deploy_answer_teardown(ctx: &RunContext, network: &str) {
    let ctx = ctx.clone();
    let docker = platform(&ctx).await;
    let v = variant(&docker, &ctx, network);
    let created = Instant::now();
    let mut d = docker.deploy(&ctx, &v).await.expect("deploy");
    let deployed = created.elapsed();
    let ready = wait_correct(d.as_mut()).await;
    eprintln!(
        "{}: deploy call {deployed:?}, first correct answer {:?} after the create call",
        v.label,
        deployed + ready
    );

    assert!(d.endpoint().ip().is_loopback());
    let phases: Vec<String> = d.deploy_phases().into_iter().map(|(n, _)| n).collect();
    assert_eq!(phases, ["create", "start"]);
    let details = d.details();
    assert_eq!(details.get("network").map(String::as_str), Some(network));

    // Every sub-service is reached: one expression using all four operators.
    assert_eq!(
        post(d.endpoint(), "(7-1)*2+8/4").await.unwrap(),
        "result = 14\r\n"
    );

    let s = d.sample().await.expect("sample");
    let details = d.details();
    eprintln!("{}: sample {s:?}; {details:?}", v.label);
    assert!(
        details["last_sample.containers_bytes"]
            .parse::<u64>()
            .unwrap()
            > 0
    );
    assert!(
        details["last_sample.shims_rss_bytes"]
            .parse::<u64>()
            .unwrap()
            > 0
    );
    let proxies: u64 = details["last_sample.proxies_rss_bytes"].parse().unwrap();
    // Only a published port (bridge mode) has a docker-proxy; host mode has none.
    assert!(network == "bridge" || proxies == 0, "{details:?}");
    assert!(s.rss_bytes > 0, "{s:?}");
    assert!(s.pss_bytes.unwrap_or(0) > 0, "{s:?}");
    assert!(s.cpu_seconds > 0.0, "{s:?}");

    // Isolation facts asked of the calculator container (C3), reachability (C9).
    let engine = docker::connect().await.unwrap();
    let facts = docker::facts(&engine, &ctx.run_id, d.endpoint())
        .await
        .expect("facts");
    let fact = |k: &str| facts.get(k).map(|s| s.summary.median);
    eprintln!(
        "{}: facts {:?}",
        v.label,
        facts
            .iter()
            .map(|(k, s)| (k, s.summary.median))
            .collect::<Vec<_>>()
    );
    // The container's boot id is the host's: one kernel.
    assert_eq!(fact("isolation_shared_kernel"), Some(1.0));
    assert_eq!(fact("isolation_pid_namespace_private"), Some(1.0));
    assert_eq!(fact("isolation_host_processes_visible"), Some(0.0));
    // The calculator is its container's PID 1 and the only process it lists.
    assert_eq!(fact("isolation_workload_pid"), Some(1.0));
    assert_eq!(fact("isolation_processes_visible"), Some(1.0));
    let caps = fact("isolation_capabilities").unwrap();
    // Docker's default set is a subset of root's (41 on current kernels).
    assert!((1.0..30.0).contains(&caps), "{caps}");
    if network == "bridge" {
        assert_eq!(fact("isolation_net_namespace_private"), Some(1.0));
        // Its 127.0.0.1 is its own; the host is reached at the bridge's gateway.
        assert_eq!(fact("isolation_reaches_host_loopback"), Some(0.0));
        assert_eq!(fact("isolation_reaches_host_bridge"), Some(1.0));
        assert_eq!(fact("reach_guest_direct"), Some(1.0));
        assert_eq!(fact("reach_forwarded"), Some(1.0));
        // From a LAN PC: the port is published on 127.0.0.1 only (the project's rule),
        // so not at the host's LAN address; the container's own address, routed through
        // the host, is Docker's firewall's decision (recorded either way).
        assert_eq!(fact("reach_outside_forwarded"), Some(0.0));
        assert!(fact("reach_outside_direct").is_some());
        assert_eq!(details["access"], "forwarded-port");
    } else {
        assert_eq!(fact("isolation_net_namespace_private"), Some(0.0));
        assert_eq!(fact("isolation_reaches_host_loopback"), Some(1.0));
        assert_eq!(fact("isolation_reaches_host_bridge"), None);
        assert_eq!(fact("reach_guest_direct"), None);
        // Host networking listens on the host's loopback: not at its LAN address; its
        // access path is the host's own stack, neither a forward nor an address of its own.
        assert_eq!(fact("reach_outside_direct"), Some(0.0));
        assert_eq!(fact("reach_outside_forwarded"), None);
        assert_eq!(details["access"], "host-network");
    }

    let containers = leftovers(&ctx.run_id).await;
    assert_eq!(
        containers.len(),
        5 + usize::from(network == "bridge"),
        "{containers:?}"
    );

    d.teardown().await.expect("teardown");
    assert_eq!(leftovers(&ctx.run_id).await, Vec::<String>::new());
    d.teardown().await.expect("teardown is idempotent");
    assert!(d.sample().await.is_err(), "no sample after teardown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn probe_reports_engine_and_cgroups() {
    match Docker::default().probe().await {
        Availability::Available { details } => {
            for key in [
                "engine_version",
                "api_version",
                "cgroup_version",
                "cgroup_driver",
            ] {
                assert!(
                    details.get(key).is_some_and(|v| !v.is_empty()),
                    "{key} missing: {details:?}"
                );
            }
        }
        Availability::Unavailable { reason, fix } => {
            panic!("the Docker engine must be running for these tests: {reason} (fix: {fix})")
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn probe_of_a_missing_engine_says_why_and_how_to_fix() {
    // A child process, so that DOCKER_HOST is not changed under the other tests.
    if std::env::var_os("VB_PROBE_CHILD").is_some() {
        match Docker::default().probe().await {
            Availability::Unavailable { reason, fix } => {
                println!("UNAVAILABLE|{reason}|{fix}");
            }
            other => println!("UNEXPECTED|{other:?}"),
        }
        return;
    }
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "probe_of_a_missing_engine_says_why_and_how_to_fix",
            "--nocapture",
        ])
        .env("VB_PROBE_CHILD", "1")
        .env("DOCKER_HOST", "unix:///nonexistent/docker.sock")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout
        .lines()
        .find(|l| l.starts_with("UNAVAILABLE|") || l.starts_with("UNEXPECTED|"))
        .unwrap_or_else(|| panic!("child said nothing: {stdout}"));
    assert!(line.starts_with("UNAVAILABLE|"), "{line}");
    assert!(line.contains("/nonexistent/docker.sock"), "{line}");
    assert!(line.contains("apt-get install docker.io"), "{line}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bridge_deploy_answers_through_published_port_and_teardown_leaves_nothing() {
    let ctx = context("bridge", 101);
    guarded(&ctx, deploy_answer_teardown(&ctx, "bridge")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn host_deploy_answers_on_loopback_and_teardown_leaves_nothing() {
    let ctx = context("host", 102);
    guarded(&ctx, deploy_answer_teardown(&ctx, "host")).await;
}

async fn port_taken(ctx: &RunContext, network: &str) {
    let ctx = ctx.clone();
    let docker = platform(&ctx).await;
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let mut v = variant(&docker, &ctx, network);
    v.settings.insert("host_port".into(), port.to_string());
    let err = match docker.deploy(&ctx, &v).await {
        Ok(mut d) => {
            d.teardown().await.ok();
            panic!("deployment on a taken port {port} succeeded");
        }
        Err(e) => e.to_string(),
    };
    eprintln!("{network}: {err}");
    assert!(err.contains(&format!("127.0.0.1:{port}")), "{err}");
    assert!(err.contains("calculator"), "{err}");
    assert!(!err.contains('\n'), "one line: {err}");
    assert_eq!(leftovers(&ctx.run_id).await, Vec::<String>::new());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bridge_deploy_on_a_taken_port_fails_clearly_and_leaves_nothing() {
    let ctx = context("taken-bridge", 103);
    guarded(&ctx, port_taken(&ctx, "bridge")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn host_deploy_on_a_taken_port_fails_clearly_and_leaves_nothing() {
    let ctx = context("taken-host", 104);
    guarded(&ctx, port_taken(&ctx, "host")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cleanup_removes_a_forgotten_deployment() {
    let ctx = context("cleanup", 105);
    guarded(&ctx, async {
        let docker = platform(&ctx).await;
        let v = variant(&docker, &ctx, "bridge");
        let d = docker.deploy(&ctx, &v).await.expect("deploy");
        // As after a crash: the deployment is gone without a teardown.
        drop(d);
        assert_eq!(leftovers(&ctx.run_id).await.len(), 6);
        let removed = docker.cleanup(Some(&ctx.run_id)).await.expect("cleanup");
        assert_eq!(removed, 6, "five containers and the network");
        assert_eq!(leftovers(&ctx.run_id).await, Vec::<String>::new());
        assert_eq!(docker.cleanup(Some(&ctx.run_id)).await.unwrap(), 0);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commit_and_dockerfile_rebuild_are_timed_and_removed() {
    let ctx = context("extras", 106);
    guarded(&ctx, async {
        let docker = platform(&ctx).await;
        let v = variant(&docker, &ctx, "bridge");
        let mut d = docker.deploy(&ctx, &v).await.expect("deploy");
        wait_correct(d.as_mut()).await;
        let extras = docker.extras(&ctx, d.as_mut()).await;
        // The service keeps answering after being committed (commit pauses it briefly).
        let after = post(d.endpoint(), "(5+3)/2").await;
        d.teardown().await.unwrap();
        let extras = extras.expect("extras");
        for (name, unit) in [
            ("docker_commit_ms", "ms"),
            ("docker_commit_image_bytes", "bytes"),
            ("docker_build_ms", "ms"),
            ("docker_build_image_bytes", "bytes"),
            ("image_export_ms", "ms"),
            ("image_export_bytes", "bytes"),
            ("image_import_ms", "ms"),
        ] {
            let s = &extras[name];
            eprintln!("{name}: {}", s.describe());
            assert_eq!(s.unit, unit);
            assert_eq!(s.summary.n, 3);
            assert!(s.summary.min > 0.0, "{name}: {s:?}");
        }
        // The facts run first, as part of the same extras call.
        assert_eq!(extras["reach_guest_direct"].summary.median, 1.0);
        // Noisy neighbour (C6): p99 quiet and beside a disk-only and a CPU-only noise
        // container, since removed.
        for name in [
            "noisy_baseline_p99_us",
            "noisy_disk_p99_us",
            "noisy_cpu_p99_us",
        ] {
            let s = &extras[name];
            eprintln!("{name}: {}", s.describe());
            assert_eq!((s.unit.as_str(), s.summary.n), ("us", 3), "{s:?}");
            assert!(s.summary.min > 0.0, "{s:?}");
        }
        assert_eq!(after.unwrap(), "result = 4\r\n");
        assert_eq!(leftovers(&ctx.run_id).await, Vec::<String>::new());
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sample_sources_agree() {
    let ctx = context("sources", 107);
    guarded(&ctx, async {
        let docker = platform(&ctx).await;
        let v = variant(&docker, &ctx, "bridge");
        let mut d = docker.deploy(&ctx, &v).await.expect("deploy");
        wait_correct(d.as_mut()).await;
        let engine = docker::connect().await.unwrap();
        let containers = engine
            .list_containers(Some(
                ListContainersOptionsBuilder::default()
                    .all(false)
                    .filters(&label_filter(&ctx.run_id))
                    .build(),
            ))
            .await
            .unwrap();
        let ids: Vec<String> = containers.into_iter().filter_map(|c| c.id).collect();
        assert_eq!(ids.len(), 5);
        let host = Sampler::discover(&engine, &ids, &[]).await.unwrap();
        assert!(
            matches!(host, Sampler::Host { .. }),
            "cgroup files readable here"
        );
        let api = Sampler::Api {
            engine: engine.clone(),
            ids: ids.clone(),
        };
        let time = |s: &Sampler| {
            let s = s.clone();
            async move {
                let mut costs = Vec::new();
                let mut last = None;
                for _ in 0..20 {
                    let t = Instant::now();
                    last = Some(s.sample().await.unwrap().0);
                    costs.push(t.elapsed().as_secs_f64() * 1e3);
                }
                (virtbench::stats::Series::new("ms", costs), last.unwrap())
            }
        };
        let (host_cost, _) = time(&host).await;
        let (api_cost, api_sample) = time(&api).await;
        // Right after the last API sample, so the two reads are of the same moment
        // (give or take the API's own second).
        let (host_sample, split) = host.sample().await.unwrap();
        let split = split.expect("the files give the split");
        d.teardown().await.unwrap();
        eprintln!(
            "cgroup files: {} -> {host_sample:?} {split:?}",
            host_cost.describe()
        );
        eprintln!("stats API:    {} -> {api_sample:?}", api_cost.describe());
        assert!(host_sample.rss_bytes > 0 && api_sample.rss_bytes > 0);
        // Like with like: the API sees the containers' cgroups only, the files add the
        // shims and the proxy. The cgroup part of both is the same counters (usage
        // minus inactive file cache) of idle containers read about a second apart:
        // they agree within 10% (allocator and page-cache churn of five idle services,
        // measured well under 1%), in both directions.
        let (files, engine) = (split.containers as f64, api_sample.rss_bytes as f64);
        assert!(
            (files - engine).abs() <= 0.10 * engine,
            "cgroup files {files} vs stats API {engine}: {split:?} {api_sample:?}"
        );
        // The whole host figure is the cgroups plus the helper processes, no more.
        assert_eq!(
            host_sample.rss_bytes,
            split.containers + split.shims_rss + split.proxies_rss
        );
        assert!(split.shims_rss > 0, "{split:?}");
        assert!(api_sample.pss_bytes.is_none());
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_container_that_dies_is_reported() {
    let ctx = context("dies", 108);
    guarded(&ctx, async {
        let docker = platform(&ctx).await;
        let v = variant(&docker, &ctx, "bridge");
        let mut d = docker.deploy(&ctx, &v).await.expect("deploy");
        wait_correct(d.as_mut()).await;
        assert_eq!(d.exited(), None);
        let engine = docker::connect().await.unwrap();
        let victim = format!("vb-{}-mul", ctx.run_id);
        engine
            .kill_container(
                &victim,
                None::<bollard::query_parameters::KillContainerOptions>,
            )
            .await
            .unwrap();
        let started = Instant::now();
        let why = loop {
            if let Some(why) = d.exited() {
                break why;
            }
            assert!(
                started.elapsed() < READY_BOUND,
                "death of {victim} not noticed"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        eprintln!("{why}");
        assert!(
            why.contains(&victim) && why.contains("exited (code 137)"),
            "{why}"
        );
        d.teardown().await.unwrap();
        assert_eq!(leftovers(&ctx.run_id).await, Vec::<String>::new());
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subnet_already_in_use_is_named_in_the_error() {
    let ctx = context("subnet", 109);
    guarded(&ctx, async {
        let docker = platform(&ctx).await;
        let engine = docker::connect().await.unwrap();
        // A leftover network of another run on the scenario's subnet.
        let other_run = format!("{}-other", ctx.run_id);
        let squatter = format!("vb-{other_run}");
        engine
            .create_network(bollard::models::NetworkCreateRequest {
                name: squatter.clone(),
                ipam: Some(bollard::models::Ipam {
                    config: Some(vec![bollard::models::IpamConfig {
                        subnet: Some(ctx.scenario.docker.subnet.clone()),
                        ..Default::default()
                    }]),
                    ..Default::default()
                }),
                labels: Some(docker::labels(&other_run, None)),
                ..Default::default()
            })
            .await
            .unwrap();
        let v = variant(&docker, &ctx, "bridge");
        let err = match docker.deploy(&ctx, &v).await {
            Ok(mut d) => {
                d.teardown().await.ok();
                panic!("deployment on a subnet in use succeeded");
            }
            Err(e) => e.to_string(),
        };
        eprintln!("{err}");
        assert!(err.contains(&squatter), "{err}");
        assert!(err.contains("10.213.109.0/24"), "{err}");
        let squatter_left = leftovers(&other_run).await;
        docker.cleanup(Some(&other_run)).await.unwrap();
        assert_eq!(leftovers(&ctx.run_id).await, Vec::<String>::new());
        assert_eq!(
            squatter_left.len(),
            1,
            "another run's network is not ours to remove"
        );
    })
    .await;
}

/// The routed topology (C15): the sub-services on one network, the calculator on
/// another, a router container between them. Answers through the published port, then
/// stops answering when the router stops (the hop is real), and leaves nothing behind.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn routed_deploy_answers_across_the_router_and_teardown_leaves_nothing() {
    let mut ctx = context("routed", 103);
    // Not the scenario defaults, so that a benchmark run may use those meanwhile.
    let mut scenario = (*ctx.scenario).clone();
    scenario.docker.networks = vec!["routed".into()];
    scenario.docker.routed_services_subnet = "10.5.17.0/24".into();
    scenario.docker.routed_calculator_subnet = "10.5.18.0/24".into();
    ctx.scenario = Arc::new(scenario);
    let body = async {
        let docker = platform(&ctx).await;
        let v = variant(&docker, &ctx, "routed");
        assert_eq!(v.get("topology"), Some("routed"));
        let mut d = docker.deploy(&ctx, &v).await.expect("deploy");
        wait_correct(d.as_mut()).await;
        assert!(d.endpoint().ip().is_loopback());
        // All four sub-services, each across the router.
        assert_eq!(
            post(d.endpoint(), "(7-1)*2+8/4").await.unwrap(),
            "result = 14\r\n"
        );
        let details = d.details();
        assert_eq!(details["address.sum"], "http://10.5.17.2:50001");
        assert_eq!(details["subnet.calculator"], "10.5.18.0/24");
        let left = leftovers(&ctx.run_id).await;
        // Six containers and two networks.
        assert_eq!(left.len(), 8, "{left:?}");

        // Without the router the calculator cannot reach its sub-services.
        let engine = docker::connect().await.unwrap();
        engine
            .stop_container(&format!("vb-{}-router", ctx.run_id), None)
            .await
            .unwrap();
        let err = post(d.endpoint(), "(5+3)/2").await.unwrap_err();
        assert!(
            err.starts_with("502") || err.starts_with("504"),
            "expected a sub-service failure, got {err}"
        );

        d.teardown().await.expect("teardown");
        assert_eq!(leftovers(&ctx.run_id).await, Vec::<String>::new());
    };
    guarded(&ctx, body).await;
}
