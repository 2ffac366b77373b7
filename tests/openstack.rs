//! The openstack platform against a real cloud: the devcloud (`devcloud/up`, a real
//! Keystone, Glance, Nova and Neutron on this machine). Authentication from a
//! clouds.yaml, the appliance deployed all-in-one and per-role answering `result = 4`
//! through a floating IP, a wrong password, a flavor that does not exist, a quota
//! exceeded midway, cleanup by tag; after each, nothing of the run is left (listed
//! through the APIs).
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

const TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);

/// Is the cloud there? Panics (the test fails) when it is not, unless
/// VIRTBENCH_SKIP_OPENSTACK=1.
async fn cloud_or_skip() -> bool {
    match OpenStack::default().probe().await {
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
         [openstack]\ncloud = \"{DEVCLOUD}\"\naccess = \"floating-ip\"\ntopologies = [\"{topology}\"]\n\
         network = \"{network}\"\nflavor = \"virtbench.tiny\"\n{extra}"
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

/// A clouds.yaml of the test's own: the devcloud's `virtbench-devcloud` entry under
/// the name `entry`, its password replaced when `password` is given.
fn own_clouds_yaml(dir: &Path, entry: &str, password: Option<&str>) -> Sources {
    let text = std::fs::read_to_string(devcloud_clouds_yaml()).unwrap();
    let mut doc: serde_yaml::Value = serde_yaml::from_str(&text).unwrap();
    let mut cloud = doc["clouds"][DEVCLOUD].clone();
    if let Some(p) = password {
        cloud["auth"]["password"] = serde_yaml::Value::String(p.into());
    }
    doc["clouds"]
        .as_mapping_mut()
        .unwrap()
        .insert(serde_yaml::Value::String(entry.into()), cloud);
    let path = dir.join("clouds.yaml");
    std::fs::write(&path, serde_yaml::to_string(&doc).unwrap()).unwrap();
    Sources {
        env: Default::default(),
        files: vec![path],
    }
}

async fn client() -> Client {
    let cloud = Sources::from_process().select(Some(DEVCLOUD)).unwrap();
    Client::connect(cloud, TIMEOUT).await.unwrap()
}

/// What the run left on the cloud, listed through the APIs with every page read: by tag
/// (`virtbench-run-<id>`), by name (`virtbench-<id>-...`, a floating IP's description,
/// a server's metadata), and what was created untagged since `since` with a run's
/// name: servers, ports, floating IPs, security groups, routers, networks, images.
async fn leftovers(run_id: &str) -> Vec<String> {
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

/// Deploy, get `result = 4` through the floating IP, check phases and host-side
/// memory, tear down, and prove by listing that nothing of the run is left.
async fn deploy_and_answer(topology: &str) {
    deploy_on_and_answer(topology, "virtbench-net").await
}

/// Subnets of the tests' created networks: not the lab's 10.5.7.0/24 and 10.5.8.0/24,
/// which the docker platform's routed variant puts on this host's bridges too.
const TEST_SUBNETS: &str = "subnet = \"10.5.17.0/24\"\ncalculator_subnet = \"10.5.18.0/24\"\n";

async fn deploy_on_and_answer(topology: &str, network: &str) {
    let id = run_id(&format!("{topology}-{}", &network[..3]));
    let ctx = RunContext::new(
        &id,
        scenario_on(topology, network, TEST_SUBNETS),
        CancellationToken::new(),
    )
    .unwrap();
    let platform = OpenStack::default();
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
    let sample = sample.unwrap();
    assert!(sample.rss_bytes > 0, "{sample:?}");
    eprintln!(
        "{topology}: startup {:.1} s, phases {:?}, host-side RSS {:.0} MiB",
        startup.as_secs_f64(),
        phases
            .iter()
            .map(|(n, d)| format!("{n}={:.2}s", d.as_secs_f64()))
            .collect::<Vec<_>>(),
        sample.rss_bytes as f64 / 1048576.0
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
    let cloud = sources.select(Some("from-a-test")).unwrap();
    let password = match &cloud.auth {
        virtbench::platform::openstack::clouds::AuthMethod::Password { password, .. } => {
            password.expose().to_string()
        }
        other => panic!("{other:?}"),
    };
    let c = Client::connect(cloud, TIMEOUT).await.unwrap();
    let session = c.session().await;
    assert_eq!(session.project_name.as_deref(), Some("virtbench"));
    for s in [Service::Compute, Service::Image, Service::Network] {
        assert!(
            c.endpoint(s).await.starts_with("http://127.0.0.1:"),
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
        deploy_and_answer("all-in-one").await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn per_role_answers_through_a_floating_ip() {
    let _serial = SERIAL.lock().await;
    if cloud_or_skip().await {
        deploy_and_answer("per-role").await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_password_is_one_clear_line_and_creates_nothing() {
    let _serial = SERIAL.lock().await;
    if !cloud_or_skip().await {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let wrong = "not-the-password-4711";
    let sources = own_clouds_yaml(dir.path(), "wrong-password", Some(wrong));
    let id = run_id("wrongpw");
    let mut s = scenario("all-in-one", "");
    s.openstack.cloud = "wrong-password".into();
    let ctx = RunContext::new(&id, s, CancellationToken::new()).unwrap();
    let platform = OpenStack::with_sources(sources);
    let e = platform.prepare(&ctx).await.unwrap_err().to_string();
    eprintln!("error: {e}");
    assert!(
        e.starts_with("wrong-password: keystone POST /auth/tokens: 401 Unauthorized: "),
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
    let platform = OpenStack::default();
    let e = platform.prepare(&ctx).await.unwrap_err().to_string();
    eprintln!("error: {e}");
    assert!(
        e.starts_with(&format!(
            "{DEVCLOUD}: flavor \"virtbench.no-such-flavor\" does not exist (flavors: "
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
    let admin = Client::connect(
        Sources::from_process()
            .select(Some("virtbench-devcloud-admin"))
            .unwrap(),
        TIMEOUT,
    )
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
    let platform = OpenStack::default();
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
    assert_eq!(leftovers(&id).await.len(), 2);
    let removed = OpenStack::default().cleanup(Some(&id)).await.unwrap();
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
    let platform = OpenStack::default();
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
        "control_plane_rss_bytes",
    ] {
        assert!(extras.contains_key(key), "{key} missing: {shown:?}");
    }
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
    let platform = OpenStack::default();
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
        deploy_on_and_answer("per-role", "create").await;
    }
}

/// The routed variant (C15): sub-services on one created subnet, the calculator on
/// another, one router between them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn routed_topology_answers_across_the_router() {
    let _serial = SERIAL.lock().await;
    if cloud_or_skip().await {
        deploy_on_and_answer("routed", "create").await;
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

/// A DVR router and an L3-HA router, each with an interface on a network of the run
/// (device owners `network:router_interface_distributed` and
/// `network:ha_router_replicated_interface`: the devcloud's Neutron makes them as a
/// campus cloud does), are removed by the run's cleanup, with their networks; the old
/// teardown met a 409 on the router delete here.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cleanup_detaches_ha_and_dvr_router_interfaces() {
    let _serial = SERIAL.lock().await;
    if !cloud_or_skip().await {
        return;
    }
    let id = run_id("hadvr");
    let sources = admin_sources();
    let cloud = sources.select(None).unwrap();
    let c = Client::connect(cloud, TIMEOUT).await.unwrap();
    let tags = vec![api::TAG.to_string(), api::run_tag(&id)];
    let mut owners = Vec::new();
    for (kind, flag, cidr) in [
        ("dvr", "distributed", "10.5.27.0/24"),
        ("ha", "ha", "10.5.28.0/24"),
    ] {
        let r = c
            .post(
                Service::Network,
                "/routers",
                json!({"router": {"name": format!("virtbench-{id}-d1-{kind}-router"), flag: true}}),
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
    let removed = OpenStack::with_sources(sources).cleanup(Some(&id)).await;
    let (left, errors) = cleanup::find(&c, &scope).await;
    assert_eq!(errors, Vec::<String>::new());
    assert_eq!(left, Vec::new());
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
    let platform = OpenStack::default();
    let listed = platform.leftovers(None).await.unwrap().unwrap();
    eprintln!("cleanup --dry-run: {listed:?}");
    assert!(listed.iter().any(|l| l.contains(&mine)), "{listed:?}");
    assert!(!listed.iter().any(|l| l.contains(&theirs)), "{listed:?}");
    assert!(platform.cleanup(None).await.unwrap() >= 1);
    assert_eq!(leftovers(&mine).await, Vec::<String>::new());
    assert_eq!(
        leftovers(&theirs).await.len(),
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
