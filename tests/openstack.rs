//! The openstack platform against a real cloud: the devcloud (`devcloud/up`, a real
//! Keystone, Glance, Nova and Neutron on this machine). Authentication from a
//! clouds.yaml, the appliance deployed all-in-one and per-role answering `result = 4`
//! through a floating IP, a wrong secret, a flavor that does not exist, a quota
//! exceeded midway, cleanup by tag; after each, nothing of the run is left (listed
//! through the APIs by tag, by name, and everything created since the test began).
//!
//! The suite's cloud is the devcloud as a campus cloud looks from a student's machine:
//! its `virtbench-devcloud-tls` entry (Keystone and every API over https, only the
//! devcloud's CA file given as `cacert`, an application credential whose secret is in
//! the `secure.yaml` beside the clouds.yaml), in remote mode (`OpenStack::remote`, the
//! binary's `VIRTBENCH_OPENSTACK_REMOTE=1`: the instances' QEMU processes are not looked
//! for on this host, so no host-side memory or CPU). One test,
//! `all_in_one_answers_through_a_floating_ip`, keeps local mode (the plain
//! `virtbench-devcloud` entry, password over http, memory read from the instance's QEMU
//! process here). The admin entry is used only to set the scene (a quota, HA and DVR
//! routers).
//!
//! These tests FAIL when no cloud answers: start one with `devcloud/up` (as root).
//! `VIRTBENCH_SKIP_OPENSTACK=1` skips them instead (with a message).
//!
//! They run one at a time (a lock): the instances boot under TCG on a small machine,
//! and the quota test changes the project's quota for a moment.

use std::path::{Path, PathBuf};
use std::time::Instant;

use serde_json::json;
use tokio_util::sync::CancellationToken;
use virtbench::measure::Probe;
use virtbench::platform::openstack::client::{Client, Service};
use virtbench::platform::openstack::clouds::{Sources, DEVCLOUD};
use virtbench::platform::openstack::{api, cleanup, OpenStack};
use virtbench::platform::{Availability, Platform, RunContext};
use virtbench::scenario::Scenario;

static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// The suite's cloud: the devcloud's TLS + application-credential entry.
fn suite_cloud() -> String {
    format!("{DEVCLOUD}-tls")
}

/// The devcloud's clouds.yaml (and the secure.yaml beside it) with `cloud` chosen as
/// OS_CLOUD would choose it; nothing read from this process's environment.
fn sources_for(cloud: &str) -> Sources {
    Sources {
        env: [("OS_CLOUD".to_string(), cloud.to_string())].into(),
        files: vec![devcloud_clouds_yaml()],
    }
}

/// The platform as the suite measures it: the suite's cloud, remote mode.
fn platform() -> OpenStack {
    OpenStack::with_sources(sources_for(&suite_cloud())).remote()
}

/// Local mode: the plain devcloud entry (password, http), instances found on this host.
fn local_platform() -> OpenStack {
    OpenStack::with_sources(sources_for(DEVCLOUD))
}

/// Everything created on the cloud at or after `since` (second resolution), whatever
/// its tags or name: servers, ports, floating IPs, security groups, routers, networks,
/// subnets, images (not the cached appliance image, kept across runs like docker's
/// image cache). After a test nothing it made may be in this list.
async fn created_since(c: &Client, since: chrono::DateTime<chrono::Utc>) -> Vec<String> {
    let since = since - chrono::Duration::seconds(1);
    let mut out = Vec::new();
    let young = |v: &serde_json::Value| {
        ["created_at", "created"].iter().any(|k| {
            v[*k].as_str().is_some_and(|t| {
                chrono::DateTime::parse_from_rfc3339(t)
                    .or_else(|_| chrono::DateTime::parse_from_rfc3339(&format!("{t}Z")))
                    .is_ok_and(|t| t >= since)
            })
        })
    };
    for (service, path, key) in [
        (Service::Compute, "/servers/detail", "servers"),
        (Service::Network, "/ports", "ports"),
        (Service::Network, "/floatingips", "floatingips"),
        (Service::Network, "/security-groups", "security_groups"),
        (Service::Network, "/routers", "routers"),
        (Service::Network, "/networks", "networks"),
        (Service::Network, "/subnets", "subnets"),
        (Service::Image, "/images?limit=1000", "images"),
    ] {
        let v = c.get(service, path).await.unwrap();
        for r in v[key].as_array().into_iter().flatten() {
            let appliance = key == "images"
                && r["status"] == "active"
                && r["tags"].as_array().is_some_and(|t| {
                    t.iter()
                        .any(|t| t == virtbench::platform::openstack::IMAGE_TAG)
                });
            if young(r) && !appliance {
                out.push(format!(
                    "{key} {} {} created {}",
                    r["name"].as_str().unwrap_or(""),
                    r["id"].as_str().unwrap_or(""),
                    r["created_at"]
                        .as_str()
                        .or(r["created"].as_str())
                        .unwrap_or("")
                ));
            }
        }
    }
    out
}

const TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);

/// When the running test began (set by [`cloud_or_skip`], which every test calls first
/// under the lock): what was created since is the test's.
static SINCE: std::sync::Mutex<Option<chrono::DateTime<chrono::Utc>>> = std::sync::Mutex::new(None);

/// Is the cloud there? Panics (the test fails) when it is not, unless
/// VIRTBENCH_SKIP_OPENSTACK=1.
async fn cloud_or_skip() -> bool {
    *SINCE.lock().unwrap() = Some(chrono::Utc::now());
    match platform().probe().await {
        Availability::Available { details } => {
            eprintln!("openstack available: {details:?}");
            true
        }
        Availability::Unavailable { reason, fix } => {
            if std::env::var("VIRTBENCH_SKIP_OPENSTACK").as_deref() == Ok("1") {
                eprintln!("SKIPPED (VIRTBENCH_SKIP_OPENSTACK=1): openstack unavailable: {reason}");
                false
            } else {
                panic!(
                    "no OpenStack cloud answers: {reason}; fix: {fix} \
                     (or set VIRTBENCH_SKIP_OPENSTACK=1 to skip these tests)"
                )
            }
        }
    }
}

fn scenario(topology: &str, extra: &str) -> Scenario {
    scenario_on(topology, "virtbench-net", extra)
}

fn scenario_on(topology: &str, network: &str, extra: &str) -> Scenario {
    let text = format!(
        "name = \"openstack-test\"\nplatforms = [\"openstack\"]\n[startup]\nrepetitions = 1\ntimeout_s = 300\n\
         [openstack]\ncloud = \"{}\"\naccess = \"floating-ip\"\ntopologies = [\"{topology}\"]\n\
         network = \"{network}\"\nflavor = \"virtbench.tiny\"\n{extra}",
        suite_cloud()
    );
    Scenario::parse(Path::new("openstack-test.toml"), &text).unwrap()
}

fn run_id(what: &str) -> String {
    format!("t{}-{what}", std::process::id())
}

/// The devcloud's own clouds.yaml (the state directory's copy).
fn devcloud_clouds_yaml() -> PathBuf {
    let state =
        std::env::var("DEVCLOUD_STATE").unwrap_or_else(|_| "/var/lib/virtbench-devcloud".into());
    PathBuf::from(state).join("clouds.yaml")
}

/// A clouds.yaml + secure.yaml pair of the test's own, as Horizon hands them out: the
/// suite cloud's entry (no secret in it, its `cacert`) under the name `entry`, its
/// application credential secret in the secure.yaml beside it, replaced by `secret`
/// when given.
fn own_clouds_yaml(dir: &Path, entry: &str, secret: Option<&str>) -> Sources {
    let read = |path: PathBuf| -> serde_yaml::Value {
        serde_yaml::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
    };
    let clouds = read(devcloud_clouds_yaml());
    let secure = read(devcloud_clouds_yaml().with_file_name("secure.yaml"));
    let cloud = clouds["clouds"][suite_cloud().as_str()].clone();
    assert!(
        cloud["auth"]["application_credential_secret"].is_null(),
        "the secret belongs in secure.yaml"
    );
    let mut hidden = secure["clouds"][suite_cloud().as_str()].clone();
    if let Some(s) = secret {
        hidden["auth"]["application_credential_secret"] = serde_yaml::Value::String(s.into());
    }
    for (file, value) in [("clouds.yaml", cloud), ("secure.yaml", hidden)] {
        let mut doc = serde_yaml::Mapping::new();
        let mut named = serde_yaml::Mapping::new();
        named.insert(entry.into(), value);
        doc.insert("clouds".into(), named.into());
        std::fs::write(dir.join(file), serde_yaml::to_string(&doc).unwrap()).unwrap();
    }
    Sources {
        env: [("OS_CLOUD".to_string(), entry.to_string())].into(),
        files: vec![dir.join("clouds.yaml")],
    }
}

/// A client on the suite's cloud.
async fn client() -> Client {
    let cloud = sources_for(&suite_cloud()).select(None).unwrap();
    Client::connect(cloud, TIMEOUT).await.unwrap()
}

/// What the run left on the cloud, listed through the APIs with every page read: by tag
/// (`virtbench-run-<id>`), by name (`virtbench-<id>-...`, a floating IP's description,
/// a server's metadata), and anything at all created since the test began, tagged
/// or not ([`created_since`]).
async fn leftovers(run_id: &str) -> Vec<String> {
    let mut left = tagged_or_named(run_id).await;
    let since = SINCE.lock().unwrap().expect("cloud_or_skip first");
    for l in created_since(&client().await, since).await {
        left.push(format!("created since the test began: {l}"));
    }
    left
}

/// What the run left, by tag and by name only.
async fn tagged_or_named(run_id: &str) -> Vec<String> {
    let c = client().await;
    let (found, errors) = cleanup::find(&c, &cleanup::Scope::Run(run_id.into())).await;
    assert_eq!(errors, Vec::<String>::new());
    let mut left: Vec<String> = found.iter().map(|f| f.to_string()).collect();
    // Nova's own tag filter as a second witness.
    for s in api::servers_tagged(&c, &api::run_tag(run_id))
        .await
        .unwrap()
    {
        if !found.iter().any(|f| f.id == s.id) {
            left.push(format!("tagged server {}", s.name));
        }
    }
    left
}

async fn post(addr: std::net::SocketAddr, body: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let req = format!(
        "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).await.unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).await.unwrap();
    out.split("\r\n\r\n")
        .nth(1)
        .unwrap_or_default()
        .trim()
        .to_string()
}

/// Deploy, get `result = 4` through the floating IP, check phases and memory (host-side
/// in local mode, "not observable" in remote mode), tear down, and prove by listing
/// that nothing of the run is left.
async fn deploy_and_answer(topology: &str, mode: Mode) {
    deploy_on_and_answer(topology, "virtbench-net", mode).await
}

#[derive(Clone, Copy, PartialEq, Debug)]
enum Mode {
    /// The suite's cloud (TLS, application credential), remote mode.
    Remote,
    /// The plain devcloud entry, instances looked for on this host.
    Local,
}

/// Subnets of the tests' created networks: not the lab's 10.5.7.0/24 and 10.5.8.0/24,
/// which the docker platform's routed variant puts on this host's bridges too.
const TEST_SUBNETS: &str = "subnet = \"10.5.17.0/24\"\ncalculator_subnet = \"10.5.18.0/24\"\n";

async fn deploy_on_and_answer(topology: &str, network: &str, mode: Mode) {
    let id = run_id(&format!("{topology}-{}", &network[..3]));
    let mut s = scenario_on(topology, network, TEST_SUBNETS);
    let platform = match mode {
        Mode::Remote => platform(),
        Mode::Local => {
            s.openstack.cloud = DEVCLOUD.into();
            local_platform()
        }
    };
    let ctx = RunContext::new(&id, s, CancellationToken::new()).unwrap();
    let records = platform.prepare(&ctx).await.unwrap();
    let image = records.iter().find(|r| r.name == "glance-image").unwrap();
    eprintln!("glance image: {image:?}");
    let variant = platform.variants(&ctx.scenario).remove(0);
    assert_eq!(variant.label, format!("openstack/{topology}/floating-ip"));
    let probe = Probe::for_expression("(5+3)/2").unwrap();
    let ready = virtbench::run::deploy_ready(&platform, &ctx, &variant, &probe)
        .await
        .unwrap_or_else(|e| panic!("{topology} did not answer: {e}"));
    let startup = ready.ready.duration_since(ready.t0);
    let mut dep = ready.dep;
    // Everything observed first, torn down, then checked: a failed check must not
    // leave instances on the cloud for the next test.
    let endpoint = dep.endpoint();
    let details = dep.details();
    let answer = post(endpoint, "(5+3)/2").await;
    let mut phases = dep.deploy_phases();
    phases.extend(dep.ready_phases().await);
    let sample = dep.sample().await;
    let t = Instant::now();
    let down = dep.teardown().await;
    eprintln!("{topology}: teardown {:.1} s", t.elapsed().as_secs_f64());
    down.unwrap();
    assert_eq!(leftovers(&id).await, Vec::<String>::new());

    assert_eq!(details.get("floating_ip"), Some(&endpoint.ip().to_string()));
    assert_eq!(answer, "result = 4");
    let mut names: Vec<&str> = phases.iter().map(|(n, _)| n.as_str()).collect();
    if network == "create" {
        assert_eq!(names.remove(0), "network");
    }
    assert_eq!(
        names,
        [
            "security_group",
            "ports",
            "floating_ip",
            "server_create",
            "active",
            "port_active",
            "first_answer"
        ]
    );
    let memory = match mode {
        Mode::Local => {
            assert_eq!(details.get("cloud").map(String::as_str), Some(DEVCLOUD));
            assert_eq!(
                details.get("cloud_location").map(String::as_str),
                Some("local")
            );
            let sample = sample.unwrap();
            assert!(sample.rss_bytes > 0, "{sample:?}");
            format!(
                "host-side RSS {:.0} MiB",
                sample.rss_bytes as f64 / 1048576.0
            )
        }
        Mode::Remote => {
            assert_eq!(details.get("cloud"), Some(&suite_cloud()));
            assert_eq!(
                details.get("auth_method").map(String::as_str),
                Some("application credential")
            );
            assert_eq!(
                details.get("cloud_location").map(String::as_str),
                Some("remote")
            );
            let e = sample.unwrap_err();
            assert!(
                matches!(e, virtbench::error::Error::NotObservable(_)),
                "{e}"
            );
            details.get("memory_scope").cloned().unwrap_or_default()
        }
    };
    eprintln!(
        "{topology} on {network} ({mode:?}): startup {:.1} s, phases {:?}, memory: {memory}",
        startup.as_secs_f64(),
        phases
            .iter()
            .map(|(n, d)| format!("{n}={:.2}s", d.as_secs_f64()))
            .collect::<Vec<_>>(),
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auth_from_a_clouds_yaml() {
    let _serial = SERIAL.lock().await;
    if !cloud_or_skip().await {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let sources = own_clouds_yaml(dir.path(), "from-a-test", None);
    let cloud = sources.select(None).unwrap();
    assert_eq!(cloud.name, "from-a-test");
    let password = match &cloud.auth {
        virtbench::platform::openstack::clouds::AuthMethod::ApplicationCredential {
            secret,
            ..
        } => secret.expose().to_string(),
        other => panic!("{other:?}"),
    };
    let c = Client::connect(cloud, TIMEOUT).await.unwrap();
    let session = c.session().await;
    assert_eq!(session.project_name.as_deref(), Some("virtbench"));
    for s in [Service::Compute, Service::Image, Service::Network] {
        assert!(
            c.endpoint(s).await.starts_with("https://127.0.0.1:"),
            "{s:?}"
        );
    }
    // A call with the token works; nothing prints a secret.
    assert!(!api::flavors(&c).await.unwrap().is_empty());
    for shown in [
        format!("{c:?}"),
        format!("{:?}", c.cloud),
        format!("{session:?}"),
    ] {
        assert!(!shown.contains(&password), "{shown}");
        assert!(!shown.contains(session.token.expose()), "{shown}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn all_in_one_answers_through_a_floating_ip() {
    let _serial = SERIAL.lock().await;
    if cloud_or_skip().await {
        deploy_and_answer("all-in-one", Mode::Local).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn per_role_answers_through_a_floating_ip() {
    let _serial = SERIAL.lock().await;
    if cloud_or_skip().await {
        deploy_and_answer("per-role", Mode::Remote).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_secret_is_one_clear_line_and_creates_nothing() {
    let _serial = SERIAL.lock().await;
    if !cloud_or_skip().await {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let wrong = "not-the-secret-4711";
    let sources = own_clouds_yaml(dir.path(), "wrong-secret", Some(wrong));
    let id = run_id("wrongpw");
    let ctx = RunContext::new(&id, scenario("all-in-one", ""), CancellationToken::new()).unwrap();
    let platform = OpenStack::with_sources(sources).remote();
    let e = platform.prepare(&ctx).await.unwrap_err().to_string();
    eprintln!("error: {e}");
    assert!(
        e.starts_with("wrong-secret: keystone POST /auth/tokens: 401 Unauthorized: "),
        "{e}"
    );
    assert!(!e.contains(wrong), "{e}");
    assert!(!e.contains('\n'), "{e}");
    let variant = platform.variants(&ctx.scenario).remove(0);
    assert!(platform.deploy(&ctx, &variant).await.is_err());
    assert_eq!(leftovers(&id).await, Vec::<String>::new());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flavor_that_does_not_exist() {
    let _serial = SERIAL.lock().await;
    if !cloud_or_skip().await {
        return;
    }
    let id = run_id("noflavor");
    let mut s = scenario("all-in-one", "");
    s.openstack.flavor = "virtbench.no-such-flavor".into();
    let ctx = RunContext::new(&id, s, CancellationToken::new()).unwrap();
    let e = platform().prepare(&ctx).await.unwrap_err().to_string();
    eprintln!("error: {e}");
    assert!(
        e.starts_with(&format!(
            "{}: flavor \"virtbench.no-such-flavor\" does not exist (flavors: ",
            suite_cloud()
        )),
        "{e}"
    );
    assert!(e.contains("virtbench.tiny"), "{e}");
    assert_eq!(leftovers(&id).await, Vec::<String>::new());
}

/// Two instances allowed, five asked for: Nova refuses the third server create after
/// the ports, the floating IP and two servers exist. The deploy fails with Nova's
/// message, and everything created so far is gone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quota_exceeded_midway_removes_what_was_created() {
    let _serial = SERIAL.lock().await;
    if !cloud_or_skip().await {
        return;
    }
    let user = client().await;
    let project = user.session().await.project_id.unwrap();
    let admin = Client::connect(admin_sources().select(None).unwrap(), TIMEOUT)
        .await
        .unwrap();
    let path = format!("/os-quota-sets/{project}");
    let before = admin.get(Service::Compute, &path).await.unwrap();
    let instances = before["quota_set"]["instances"].as_i64().unwrap();
    admin
        .put(
            Service::Compute,
            &path,
            json!({"quota_set": {"instances": 2}}),
        )
        .await
        .unwrap();
    let id = run_id("quota");
    let ctx = RunContext::new(&id, scenario("per-role", ""), CancellationToken::new()).unwrap();
    let platform = platform();
    let outcome = async {
        platform.prepare(&ctx).await?;
        let variant = platform.variants(&ctx.scenario).remove(0);
        platform.deploy(&ctx, &variant).await.map(|_| ())
    }
    .await;
    admin
        .put(
            Service::Compute,
            &path,
            json!({"quota_set": {"instances": instances}}),
        )
        .await
        .unwrap();
    let e = outcome
        .expect_err("five instances under a quota of two")
        .to_string();
    eprintln!("error: {e}");
    assert!(
        e.contains("nova POST /servers: 403 Forbidden: Quota exceeded for instances"),
        "{e}"
    );
    assert!(!e.contains('\n'), "{e}");
    assert_eq!(leftovers(&id).await, Vec::<String>::new());
}

/// A port left by a crashed run (tagged with its run id) is found and removed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cleanup_removes_what_a_run_left_by_tag() {
    let _serial = SERIAL.lock().await;
    if !cloud_or_skip().await {
        return;
    }
    let c = client().await;
    let id = run_id("cleanup");
    let net = api::networks(&c, "?name=virtbench-net")
        .await
        .unwrap()
        .remove(0);
    // One port tagged with the run, one with no tag at all (a create whose tag call
    // never happened): both are the run's, by tag and by name.
    api::create_port(
        &c,
        &net.id,
        &format!("virtbench-{id}-d1-forgotten"),
        "virtbench",
        &[api::TAG.into(), api::run_tag(&id)],
        None,
    )
    .await
    .unwrap();
    api::create_port(
        &c,
        &net.id,
        &format!("virtbench-{id}-d2-untagged"),
        "",
        &[],
        None,
    )
    .await
    .unwrap();
    assert_eq!(
        leftovers(&id).await.len(),
        2 + 2,
        "by tag or name, and by time"
    );
    let removed = platform().cleanup(Some(&id)).await.unwrap();
    assert_eq!(removed, 2);
    assert_eq!(leftovers(&id).await, Vec::<String>::new());
}

/// C13: snapshot, restore from it, resize to the next flavor, each with the downtime a
/// 50 ms prober saw; the snapshot image is gone afterwards with everything else.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn snapshot_restore_resize_with_a_prober() {
    let _serial = SERIAL.lock().await;
    if !cloud_or_skip().await {
        return;
    }
    let id = run_id("c13");
    let ctx = RunContext::new(&id, scenario("all-in-one", ""), CancellationToken::new()).unwrap();
    let platform = platform();
    platform.prepare(&ctx).await.unwrap();
    let variant = platform.variants(&ctx.scenario).remove(0);
    let probe = Probe::for_expression("(5+3)/2").unwrap();
    let mut dep = virtbench::run::deploy_ready(&platform, &ctx, &variant, &probe)
        .await
        .unwrap_or_else(|e| panic!("did not answer: {e}"))
        .dep;
    let extras = platform.extras(&ctx, dep.as_mut()).await;
    let endpoint = dep.endpoint();
    let answer = post(endpoint, "(5+3)/2").await;
    dep.teardown().await.unwrap();
    let extras = extras.unwrap();
    let shown: Vec<String> = extras
        .iter()
        .map(|(k, v)| format!("{k}={:?} {}", v.samples, v.unit))
        .collect();
    eprintln!("extras: {shown:#?}");
    for key in [
        "snapshot_ms",
        "snapshot_bytes",
        "restore_ms",
        "restore_downtime_ms",
        "resize_ms",
        "resize_downtime_ms",
    ] {
        assert!(extras.contains_key(key), "{key} missing: {shown:?}");
    }
    // Remote mode: the cloud's control plane is not this host's to measure.
    assert!(!extras.contains_key("control_plane_rss_bytes"), "{shown:?}");
    assert_eq!(extras["resize_live_ok"].samples, vec![1.0]);
    assert_eq!(answer, "result = 4", "the resized instance answers");
    assert_eq!(leftovers(&id).await, Vec::<String>::new());
}

/// Security groups are enforced on the devcloud: with the deployment's rule for the
/// calculator's ports removed, its port no longer answers (through the floating IP).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_security_group_without_the_port_blocks_it() {
    let _serial = SERIAL.lock().await;
    if !cloud_or_skip().await {
        return;
    }
    let id = run_id("sg");
    let ctx = RunContext::new(&id, scenario("all-in-one", ""), CancellationToken::new()).unwrap();
    let platform = platform();
    platform.prepare(&ctx).await.unwrap();
    let variant = platform.variants(&ctx.scenario).remove(0);
    let probe = Probe::for_expression("(5+3)/2").unwrap();
    let mut dep = virtbench::run::deploy_ready(&platform, &ctx, &variant, &probe)
        .await
        .unwrap_or_else(|e| panic!("did not answer: {e}"))
        .dep;
    let endpoint = dep.endpoint();
    let c = client().await;
    let groups = api::security_groups(&c, &format!("?name=virtbench-{id}-d1-sg"))
        .await
        .unwrap();
    let rules = c
        .get(
            Service::Network,
            &format!(
                "/security-group-rules?security_group_id={}&protocol=tcp",
                groups[0].id
            ),
        )
        .await
        .unwrap();
    for r in rules["security_group_rules"].as_array().unwrap() {
        c.delete(
            Service::Network,
            &format!("/security-group-rules/{}", r["id"].as_str().unwrap()),
        )
        .await
        .unwrap();
    }
    // The data plane applies Neutron's state within a poll (1 s): allow a few.
    let deadline = Instant::now() + std::time::Duration::from_secs(15);
    let mut blocked = false;
    while Instant::now() < deadline && !blocked {
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        let attempt = tokio::time::timeout(
            std::time::Duration::from_secs(2),
            tokio::net::TcpStream::connect(endpoint),
        )
        .await;
        blocked = !matches!(attempt, Ok(Ok(_)));
    }
    dep.teardown().await.unwrap();
    assert!(
        blocked,
        "{endpoint} still answers without a rule for its port"
    );
    assert_eq!(leftovers(&id).await, Vec::<String>::new());
}

/// The lab's topology created through the API: network, subnet, router with its
/// gateway on the external network; five instances answering through a floating IP.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn created_network_per_role_answers_through_a_floating_ip() {
    let _serial = SERIAL.lock().await;
    if cloud_or_skip().await {
        deploy_on_and_answer("per-role", "create", Mode::Remote).await;
    }
}

/// The routed variant (C15): sub-services on one created subnet, the calculator on
/// another, one router between them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn routed_topology_answers_across_the_router() {
    let _serial = SERIAL.lock().await;
    if cloud_or_skip().await {
        deploy_on_and_answer("routed", "create", Mode::Remote).await;
    }
}

/// The devcloud's admin entry: routers of the HA and DVR kinds need admin on it.
fn admin_sources() -> Sources {
    Sources {
        env: [(
            virtbench::platform::openstack::clouds::OVERRIDE_VAR.to_string(),
            format!("{DEVCLOUD}-admin"),
        )]
        .into(),
        files: vec![devcloud_clouds_yaml()],
    }
}

/// A DVR router and an L3-HA router in the run's project (made by the cloud's admin,
/// as a campus cloud's defaults make them for every user), each with an interface on a
/// network of the run (device owners `network:router_interface_distributed` and
/// `network:ha_router_replicated_interface`), are removed by the run's cleanup on the
/// suite's cloud (the user's application credential), with their networks; the old
/// teardown met a 409 on the router delete here.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cleanup_detaches_ha_and_dvr_router_interfaces() {
    let _serial = SERIAL.lock().await;
    if !cloud_or_skip().await {
        return;
    }
    let id = run_id("hadvr");
    let admin = Client::connect(admin_sources().select(None).unwrap(), TIMEOUT)
        .await
        .unwrap();
    let c = client().await;
    let project = c.session().await.project_id.unwrap();
    let tags = vec![api::TAG.to_string(), api::run_tag(&id)];
    let mut owners = Vec::new();
    for (kind, flag, cidr) in [
        ("dvr", "distributed", "10.5.27.0/24"),
        ("ha", "ha", "10.5.28.0/24"),
    ] {
        let r = admin
            .post(
                Service::Network,
                "/routers",
                json!({"router": {
                    "name": format!("virtbench-{id}-d1-{kind}-router"),
                    "project_id": project,
                    flag: true,
                }}),
            )
            .await
            .unwrap();
        let router = r["router"]["id"].as_str().unwrap().to_string();
        api::set_tags(&c, "routers", &router, &tags).await.unwrap();
        let net = api::create_network(
            &c,
            &format!("virtbench-{id}-d1-{kind}-net"),
            "virtbench",
            &tags,
        )
        .await
        .unwrap();
        let subnet = api::create_subnet(
            &c,
            &net.id,
            &format!("virtbench-{id}-d1-{kind}-subnet"),
            cidr,
        )
        .await
        .unwrap();
        api::add_router_interface(&c, &router, &subnet)
            .await
            .unwrap();
        for p in api::ports(&c, &format!("?device_id={router}"))
            .await
            .unwrap()
        {
            owners.push(p.device_owner);
        }
    }
    eprintln!("router port owners: {owners:?}");
    assert!(
        owners
            .iter()
            .any(|o| o == "network:router_interface_distributed"),
        "{owners:?}"
    );
    assert!(
        owners
            .iter()
            .any(|o| o == "network:ha_router_replicated_interface"),
        "{owners:?}"
    );
    let scope = cleanup::Scope::Run(id.clone());
    assert_eq!(cleanup::find(&c, &scope).await.0.len(), 4);
    let removed = platform().cleanup(Some(&id)).await;
    assert_eq!(leftovers(&id).await, Vec::<String>::new());
    assert_eq!(removed.unwrap(), 4);
}

/// `cleanup` without a run id on a shared project: this host and user's runs go, a
/// classmate's (another owner tag) stays; `--run-id` of the classmate's run removes it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cleanup_without_a_run_id_leaves_a_classmates_run() {
    let _serial = SERIAL.lock().await;
    if !cloud_or_skip().await {
        return;
    }
    let c = client().await;
    let mine = run_id("mine");
    let theirs = run_id("theirs");
    let net = api::networks(&c, "?name=virtbench-net")
        .await
        .unwrap()
        .remove(0);
    let me = virtbench::platform::openstack::labels::Labels::for_run(&mine);
    api::create_port(
        &c,
        &net.id,
        &format!("virtbench-{mine}-d1-sum"),
        &me.description,
        &me.tags,
        None,
    )
    .await
    .unwrap();
    let their_tags = vec![
        api::TAG.to_string(),
        api::run_tag(&theirs),
        "virtbench-by-classmate@another-pc".to_string(),
    ];
    api::create_port(
        &c,
        &net.id,
        &format!("virtbench-{theirs}-d1-sum"),
        "virtbench",
        &their_tags,
        None,
    )
    .await
    .unwrap();
    let platform = platform();
    let listed = platform.leftovers(None).await.unwrap().unwrap();
    eprintln!("cleanup --dry-run: {listed:?}");
    assert!(listed.iter().any(|l| l.contains(&mine)), "{listed:?}");
    assert!(!listed.iter().any(|l| l.contains(&theirs)), "{listed:?}");
    assert!(platform.cleanup(None).await.unwrap() >= 1);
    assert_eq!(tagged_or_named(&mine).await, Vec::<String>::new());
    assert_eq!(
        tagged_or_named(&theirs).await.len(),
        1,
        "the classmate's port stays"
    );
    assert_eq!(platform.cleanup(Some(&theirs)).await.unwrap(), 1);
    assert_eq!(leftovers(&theirs).await, Vec::<String>::new());
}

/// A campus-style cloud: Keystone and every API behind TLS with a CA of the cloud's
/// own (only its CA file given), an application credential from a clouds.yaml +
/// secure.yaml pair, chosen by OS_CLOUD over the scenario's `cloud` (the other, plain
/// entry), measured in remote mode (the instances' processes not looked for on this
/// host): the calculator answers through the floating IP, memory is "not observable",
/// and nothing is left. Without the CA file: one line with the hint.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn campus_cloud_over_tls_with_an_application_credential_in_remote_mode() {
    let _serial = SERIAL.lock().await;
    if !cloud_or_skip().await {
        return;
    }
    let tls_cloud = format!("{DEVCLOUD}-tls");
    let sources = Sources {
        env: [("OS_CLOUD".to_string(), tls_cloud.clone())].into(),
        files: vec![devcloud_clouds_yaml()],
    };
    // Without its CA: refused, with the hint.
    let mut no_ca = sources.select(None).unwrap();
    assert!(matches!(
        no_ca.auth,
        virtbench::platform::openstack::clouds::AuthMethod::ApplicationCredential { .. }
    ));
    no_ca.tls.cacert = None;
    let e = Client::connect(no_ca, TIMEOUT)
        .await
        .unwrap_err()
        .to_string();
    eprintln!("without the CA: {e}");
    assert!(e.contains("hint: ") && e.contains("cacert"), "{e}");

    let id = run_id("tls");
    // The scenario names the plain devcloud entry; OS_CLOUD wins.
    let ctx = RunContext::new(
        &id,
        scenario_on("all-in-one", "virtbench-net", ""),
        CancellationToken::new(),
    )
    .unwrap();
    let platform = OpenStack::with_sources(sources).remote();
    let variant = platform.variants(&ctx.scenario).remove(0);
    let probed = match platform.probe().await {
        Availability::Available { details } => details,
        other => panic!("{other:?}"),
    };
    eprintln!("probe: {probed:?}");
    assert_eq!(probed.get("cloud"), Some(&tls_cloud));
    assert_eq!(
        probed.get("auth_host").map(String::as_str),
        Some("127.0.0.1:36010")
    );
    assert_eq!(
        probed.get("auth_method").map(String::as_str),
        Some("application credential")
    );
    assert_eq!(probed.get("region").map(String::as_str), Some("RegionOne"));
    platform.prepare(&ctx).await.unwrap();
    let probe = Probe::for_expression("(5+3)/2").unwrap();
    let ready = virtbench::run::deploy_ready(&platform, &ctx, &variant, &probe)
        .await
        .unwrap_or_else(|e| panic!("over TLS, remote mode: did not answer: {e}"));
    let startup = ready.ready.duration_since(ready.t0);
    let mut dep = ready.dep;
    let answer = post(dep.endpoint(), "(5+3)/2").await;
    let mut phases = dep.deploy_phases();
    phases.extend(dep.ready_phases().await);
    let details = dep.details();
    let sample = dep.sample().await;
    let down = dep.teardown().await;
    // The run's cleanup on the same platform (the backstop) uses the same cloud.
    let backstop = platform.cleanup(Some(&id)).await;
    down.unwrap();
    assert_eq!(backstop.unwrap(), 0);
    assert_eq!(leftovers(&id).await, Vec::<String>::new());
    assert_eq!(answer, "result = 4");
    assert_eq!(details.get("cloud"), Some(&tls_cloud));
    assert_eq!(
        details.get("cloud_location").map(String::as_str),
        Some("remote")
    );
    let scope = details.get("memory_scope").cloned().unwrap_or_default();
    assert!(
        scope.starts_with("not observable on a remote cloud"),
        "{scope}"
    );
    assert!(scope.contains("MiB RAM"), "{scope}");
    // A state the runner measures around (latency, throughput, experiments), not a
    // failure of the run.
    let e = sample.unwrap_err();
    assert!(
        matches!(e, virtbench::error::Error::NotObservable(_)),
        "{e}"
    );
    eprintln!(
        "remote mode over TLS: startup {:.1} s, phases {:?}, memory: {scope}; details: {details:?}",
        startup.as_secs_f64(),
        phases
            .iter()
            .map(|(n, d)| format!("{n}={:.2}s", d.as_secs_f64()))
            .collect::<Vec<_>>(),
    );
}

// ---- The built binary on the devcloud as a campus cloud -------------------------------
//
// `virtbench` itself, as a student runs it: a clouds.yaml + secure.yaml pair of the
// test's own holding two clouds (`campus`: the devcloud's TLS + application-credential
// entry; `unreachable`: the same with an auth URL where nothing listens), the scenario
// naming `unreachable`, OS_CLOUD naming the one to use, remote mode forced with
// `VIRTBENCH_OPENSTACK_REMOTE=1`, the run's log read at info to stop it at a phase.

/// The binary's scenario: one all-in-one deployment on the lab's created topology,
/// short windows; C13 only where asked (`lifecycle`).
fn binary_scenario(dir: &Path, lifecycle: bool) -> PathBuf {
    let text = format!(
        r#"name = "openstack-binary"
platforms = ["openstack"]
[workload]
expressions = ["(5+3)/2"]
[startup]
repetitions = 1
timeout_s = 300
[idle]
window_s = 2
interval_ms = 200
[load]
rates_rps = [50]
duration_s = 3
warmup_s = 0.5
connections = 2
timeout_ms = 3000
[throughput]
duration_s = 2
connections = 4
[experiments]
noise_windows = 1
[openstack]
cloud = "unreachable"
access = "floating-ip"
topologies = ["all-in-one"]
network = "create"
subnet = "10.5.37.0/24"
calculator_subnet = "10.5.38.0/24"
flavor = "virtbench.tiny"
lifecycle = {lifecycle}
"#
    );
    let path = dir.join(format!("openstack-binary-{lifecycle}.toml"));
    std::fs::write(&path, text).unwrap();
    path
}

/// Two clouds in one clouds.yaml (+ secure.yaml): `campus` and `unreachable`.
fn two_clouds(dir: &Path) -> PathBuf {
    own_clouds_yaml(dir, "campus", None);
    let read = |f: &str| -> serde_yaml::Value {
        serde_yaml::from_str(&std::fs::read_to_string(dir.join(f)).unwrap()).unwrap()
    };
    for f in ["clouds.yaml", "secure.yaml"] {
        let mut doc = read(f);
        let mut bad = doc["clouds"]["campus"].clone();
        if f == "clouds.yaml" {
            // A port where nothing listens on this host: refused at once.
            bad["auth"]["auth_url"] = "https://127.0.0.1:9/v3".into();
        }
        doc["clouds"]
            .as_mapping_mut()
            .unwrap()
            .insert("unreachable".into(), bad);
        std::fs::write(dir.join(f), serde_yaml::to_string(&doc).unwrap()).unwrap();
    }
    dir.join("clouds.yaml")
}

/// The binary with OS_CLOUD=`cloud`, its clouds.yaml the test's, nothing of this
/// process's OS_* environment, remote mode, info logs.
fn virtbench(clouds_yaml: &Path, cloud: &str) -> std::process::Command {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_virtbench"));
    for (k, _) in std::env::vars() {
        if k.starts_with("OS_") || k == "VIRTBENCH_OS_CLOUD" {
            cmd.env_remove(k);
        }
    }
    cmd.current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("OS_CLIENT_CONFIG_FILE", clouds_yaml)
        .env("OS_CLOUD", cloud)
        .env(virtbench::platform::openstack::REMOTE_VAR, "1")
        .env("RUST_LOG", "virtbench=info");
    cmd
}

fn output(mut cmd: std::process::Command) -> (Option<i32>, String) {
    let out = cmd.output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code(), text)
}

/// Run the binary; when a stderr line contains `marker`, wait `after` and send
/// `signal`. Returns the exit code, what it wrote and the run id.
fn run_until(
    mut cmd: std::process::Command,
    marker: &str,
    after: std::time::Duration,
    signal: i32,
) -> (Option<i32>, String, String) {
    use std::io::BufRead;
    let mut child = cmd
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let stderr = child.stderr.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut all = String::new();
        for line in std::io::BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
        {
            all.push_str(&line);
            all.push('\n');
            let _ = tx.send(line);
        }
        all
    });
    // A bound on waiting for the phase, not a timing assertion.
    let deadline = Instant::now() + std::time::Duration::from_secs(600);
    let mut run_id = String::new();
    let mut seen = String::new();
    loop {
        let Ok(line) = rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) else {
            let _ = child.kill();
            let status = child.wait().unwrap();
            panic!("no line with {marker:?} from the run ({status}); it wrote:\n{seen}");
        };
        seen.push_str(&line);
        seen.push('\n');
        if let Some(rest) = line.split("virtbench run ").nth(1) {
            if run_id.is_empty() {
                run_id = rest.split(':').next().unwrap().trim().to_string();
            }
        }
        if line.contains(marker) {
            break;
        }
    }
    std::thread::sleep(after);
    assert_eq!(unsafe { libc::kill(child.id() as i32, signal) }, 0);
    let status = child.wait().unwrap();
    let all = reader.join().unwrap();
    assert!(!run_id.is_empty(), "{all}");
    (status.code(), all, run_id)
}

/// OS_CLOUD picks the cloud for doctor, run and cleanup, over the scenario's `cloud`,
/// with two clouds configured: doctor reports the one named; a whole run (remote mode)
/// measures startup, latency and throughput on it with memory "not observable"; a run
/// killed (-9) midway leaves resources that a cleanup on the other cloud does not
/// touch and a cleanup on the named cloud removes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn os_cloud_picks_the_cloud_for_doctor_run_and_cleanup() {
    let _serial = SERIAL.lock().await;
    if !cloud_or_skip().await {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let clouds = two_clouds(dir.path());
    let scenario = binary_scenario(dir.path(), false);

    // doctor, once per cloud (the scenario names the unreachable one).
    let mut doctor = virtbench(&clouds, "campus");
    doctor.arg("doctor").arg(&scenario);
    let (_, said) = output(doctor);
    let line = said
        .lines()
        .find(|l| l.starts_with("openstack "))
        .unwrap_or_else(|| panic!("{said}"));
    eprintln!("OS_CLOUD=campus doctor: {line}");
    assert!(line.contains("available"), "{line}");
    assert!(line.contains("cloud=campus "), "{line}");
    assert!(line.contains("auth_host=127.0.0.1:36010"), "{line}");
    let mut doctor = virtbench(&clouds, "unreachable");
    doctor.arg("doctor").arg(&scenario);
    let (_, said) = output(doctor);
    let line = said
        .lines()
        .find(|l| l.starts_with("openstack "))
        .unwrap_or_else(|| panic!("{said}"));
    eprintln!("OS_CLOUD=unreachable doctor: {line}");
    assert!(line.contains("unavailable"), "{line}");
    assert!(line.contains("unreachable"), "{line}");

    // A whole run on campus.
    let out = dir.path().join("reports");
    let mut run = virtbench(&clouds, "campus");
    run.args(["run", "--platforms", "openstack"])
        .arg(&scenario)
        .arg("--out")
        .arg(&out);
    let (code, said) = output(run);
    assert_eq!(code, Some(0), "{said}");
    let run_id = said
        .split("virtbench run ")
        .nth(1)
        .and_then(|r| r.split(':').next())
        .unwrap_or_else(|| panic!("{said}"))
        .trim()
        .to_string();
    let results: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(out.join(&run_id).join("results.json")).unwrap(),
    )
    .unwrap();
    let v = &results["platforms"][0];
    eprintln!(
        "OS_CLOUD=campus run {run_id} (remote mode): {}",
        serde_json::to_string_pretty(&json!({
            "label": v["label"],
            "error": v["error"],
            "startup_ms": v["startup_ms"]["samples"],
            "startup_phases_ms": v["startup_phases_ms"].as_object().map(|m| m
                .iter()
                .map(|(k, s)| (k.clone(), s["samples"].clone()))
                .collect::<serde_json::Map<_, _>>()),
            "latency_us": v["latency_us"].as_array().map(|l| l
                .iter()
                .map(|r| json!({"rate": r["rate_rps"], "p50": r["p50"], "p99": r["p99"], "errors": r["errors"]}))
                .collect::<Vec<_>>()),
            "max_throughput_rps": v["max_throughput_rps"],
            "memory_idle_bytes": v["memory_idle_bytes"],
            "details": v["details"],
        }))
        .unwrap()
    );
    assert_eq!(v["error"], serde_json::Value::Null, "{v}");
    assert_eq!(v["details"]["cloud"], "campus", "{v}");
    assert_eq!(v["details"]["auth_host"], "127.0.0.1:36010", "{v}");
    assert_eq!(v["details"]["cloud_location"], "remote", "{v}");
    assert!(v["startup_ms"]["samples"][0].as_f64().unwrap() > 0.0, "{v}");
    assert!(!v["latency_us"].as_array().unwrap().is_empty(), "{v}");
    assert!(v["max_throughput_rps"].is_object(), "{v}");
    assert!(v["memory_idle_bytes"].is_null(), "{v}");
    assert!(
        v["details"]["resources_not_observable"]
            .as_str()
            .is_some_and(|s| s.contains("remote")),
        "{v}"
    );
    assert_eq!(leftovers(&run_id).await, Vec::<String>::new());

    // Killed midway: what it left is on campus; cleanup on the other cloud leaves it,
    // cleanup on campus removes it.
    let (_, said, killed) = run_until(
        {
            let mut c = virtbench(&clouds, "campus");
            c.args(["run", "--platforms", "openstack"])
                .arg(&scenario)
                .arg("--out")
                .arg(&out);
            c
        },
        "openstack phase: server_create",
        std::time::Duration::from_millis(300),
        libc::SIGKILL,
    );
    let left = tagged_or_named(&killed).await;
    assert!(
        !left.is_empty(),
        "a run killed at its servers left nothing?\n{said}"
    );
    let mut cleanup = virtbench(&clouds, "unreachable");
    cleanup.args(["cleanup", "--run-id", &killed]);
    let (code, said) = output(cleanup);
    eprintln!("OS_CLOUD=unreachable cleanup: {code:?} {said}");
    assert_eq!(tagged_or_named(&killed).await.len(), left.len(), "{said}");
    let mut cleanup = virtbench(&clouds, "campus");
    cleanup.args(["cleanup", "--run-id", &killed]);
    let (code, said) = output(cleanup);
    eprintln!("OS_CLOUD=campus cleanup: {code:?} {said}");
    assert_eq!(code, Some(0), "{said}");
    assert_eq!(leftovers(&killed).await, Vec::<String>::new(), "{said}");
}

/// A run of the binary stopped at each OpenStack phase leaves nothing (by tag, by name,
/// and anything created since the test began): SIGINT (the run's own teardown and
/// backstop; exit 130) or kill -9 followed by `virtbench cleanup --run-id`. Each phase
/// gets one of the two in turn; `VIRTBENCH_TEST_OPENSTACK_BOTH_SIGNALS=1` (read only
/// by this test) gives every phase both. The image-upload phase is reached by deleting
/// the cached appliance image first (the next run uploads it again).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_stopped_at_each_phase_leaves_nothing() {
    let _serial = SERIAL.lock().await;
    if !cloud_or_skip().await {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let clouds = two_clouds(dir.path());
    let both = std::env::var("VIRTBENCH_TEST_OPENSTACK_BOTH_SIGNALS").as_deref() == Ok("1");
    let phases = [
        ("image upload", false),
        ("network (router", false),
        ("security_group", false),
        ("ports", false),
        ("floating_ip", false),
        ("server_create", false),
        ("boot (servers created", false),
        ("snapshot (C13)", true),
    ];
    let c = client().await;
    let mut summary = Vec::new();
    for (i, (phase, lifecycle)) in phases.iter().enumerate() {
        let signals: Vec<i32> = if both {
            vec![libc::SIGINT, libc::SIGKILL]
        } else if i % 2 == 0 {
            vec![libc::SIGKILL]
        } else {
            vec![libc::SIGINT]
        };
        for signal in signals {
            if *phase == "image upload" {
                for img in api::images(&c).await.unwrap() {
                    if img
                        .meta
                        .tags
                        .iter()
                        .any(|t| t == virtbench::platform::openstack::IMAGE_TAG)
                    {
                        api::delete_image(&c, &img.id).await.unwrap();
                    }
                }
            }
            *SINCE.lock().unwrap() = Some(chrono::Utc::now());
            let scenario = binary_scenario(dir.path(), *lifecycle);
            let mut cmd = virtbench(&clouds, "campus");
            cmd.args(["run", "--platforms", "openstack"])
                .arg(&scenario)
                .arg("--out")
                .arg(dir.path().join("reports"));
            let (code, said, id) = run_until(
                cmd,
                &format!("openstack phase: {phase}"),
                std::time::Duration::from_millis(300),
                signal,
            );
            let name = if signal == libc::SIGINT {
                "SIGINT"
            } else {
                "kill -9"
            };
            let before = tagged_or_named(&id).await;
            if signal == libc::SIGINT {
                assert_eq!(code, Some(130), "{phase}, {name}:\n{said}");
            } else {
                let mut cleanup = virtbench(&clouds, "campus");
                cleanup.args(["cleanup", "--run-id", &id]);
                let (code, out) = output(cleanup);
                assert_eq!(code, Some(0), "{phase}, {name}: cleanup said\n{out}");
            }
            let left = leftovers(&id).await;
            summary.push(format!(
                "{phase} / {name}: {} of the run's found before any cleanup command, {} left",
                before.len(),
                left.len()
            ));
            eprintln!("{}", summary.last().unwrap());
            assert_eq!(left, Vec::<String>::new(), "{phase}, {name}:\n{said}");
        }
    }
    eprintln!("stopped at each phase:\n{}", summary.join("\n"));
}
