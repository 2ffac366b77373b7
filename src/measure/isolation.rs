//! Isolation and reachability facts (claims C3 and C9), asked of the running workload
//! itself: facts, not a score, and nothing assumed from a platform's name.
//!
//! - The workload's front service answers `GET /virtbench/probe` from inside (see
//!   `calculator::probe`): its kernel's boot id, its pid and net namespaces, the
//!   processes it sees, its capabilities. The harness compares them with its own: the
//!   same boot id is the same running kernel, and only then can namespace identities be
//!   compared (another kernel's namespaces are other namespaces, whatever their inode).
//! - Canaries: the harness listens on host loopback and on the host's address on the
//!   workload's network (a Docker bridge's gateway, QEMU's bridge veth, slirp's 10.0.2.2
//!   which QEMU maps to host loopback) and the probe says whether the workload could
//!   open a TCP connection to each.
//! - Reachability: does the service answer at an address, from the host. A connection
//!   is only attempted when the host routes that address to a directly attached network
//!   other than its uplink (a Docker bridge, our veth): nothing leaves the machine.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use crate::error::Error;
use crate::measure::http::Client;
use crate::measure::Probe;
use crate::results::keys;
use crate::stats::Series;

/// Connect + answer deadline of a reachability attempt.
pub const REACH_TIMEOUT: Duration = Duration::from_millis(500);
/// Deadline of the probe request: the workload tries its canaries (1 s each, at once)
/// before answering, and an emulated guest answers slowly.
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(15);

/// A yes/no fact as a one-sample series (1 = yes).
pub fn flag(yes: bool) -> Series {
    Series::new("bool", vec![if yes { 1.0 } else { 0.0 }])
}

fn count(n: usize) -> Series {
    Series::new("count", vec![n as f64])
}

/// What the workload answered to `GET /virtbench/probe`; a field it could not read is
/// `None`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ProbeAnswer {
    pub kernel_release: Option<String>,
    pub boot_id: Option<String>,
    pub pid: Option<u32>,
    pub processes: Option<usize>,
    pub cap_eff_count: Option<u32>,
    /// `CapEff` as a bit set (bit n = capability n).
    pub cap_eff: Option<u64>,
    pub net_ns: Option<String>,
    pub pid_ns: Option<String>,
    /// `(address, outcome)` per canary, e.g. `connected`, `refused`, `timeout`.
    pub canaries: Vec<(SocketAddr, String)>,
    /// The answer as received, for the logs.
    pub text: String,
}

impl ProbeAnswer {
    /// Parse the `key=value` lines; unknown keys are ignored (a newer calculator may
    /// say more), a known key with a malformed value is an error naming it.
    pub fn parse(text: &str) -> Result<ProbeAnswer, String> {
        let mut a = ProbeAnswer {
            text: text.to_string(),
            ..Default::default()
        };
        for (n, line) in text.lines().enumerate() {
            let Some((key, value)) = line.split_once('=') else {
                continue;
            };
            let bad = || format!("probe answer line {}: {key}={value:?} is malformed", n + 1);
            let value = value.trim();
            match key {
                "kernel_release" => a.kernel_release = Some(value.into()),
                "boot_id" => a.boot_id = Some(value.into()),
                "pid" => a.pid = Some(value.parse().map_err(|_| bad())?),
                "processes" => a.processes = Some(value.parse().map_err(|_| bad())?),
                "cap_eff_count" => a.cap_eff_count = Some(value.parse().map_err(|_| bad())?),
                "cap_eff" => a.cap_eff = Some(u64::from_str_radix(value, 16).map_err(|_| bad())?),
                "net_ns" => a.net_ns = Some(value.into()),
                "pid_ns" => a.pid_ns = Some(value.into()),
                "canary" => {
                    let (addr, outcome) = value.split_once(' ').ok_or_else(bad)?;
                    let addr = addr.parse().map_err(|_| bad())?;
                    a.canaries.push((addr, outcome.trim().to_string()));
                }
                _ => {}
            }
        }
        if a.boot_id.is_none() {
            return Err(format!("probe answer without a boot_id: {:?}", text.trim()));
        }
        Ok(a)
    }

    /// Did the connection to canary `addr` open? `None` when it was not tried.
    pub fn reached(&self, addr: SocketAddr) -> Option<bool> {
        self.canaries
            .iter()
            .find(|(a, _)| *a == addr)
            .map(|(_, outcome)| outcome == "connected")
    }
}

/// The harness's own view, to compare a probe answer with.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct HostView {
    pub boot_id: Option<String>,
    pub net_ns: Option<String>,
    pub pid_ns: Option<String>,
}

impl HostView {
    /// This process's kernel and namespaces.
    pub fn of_harness() -> HostView {
        let ns = |kind: &str| {
            std::fs::read_link(format!("/proc/self/ns/{kind}"))
                .ok()
                .map(|p| p.to_string_lossy().into_owned())
        };
        HostView {
            boot_id: std::fs::read_to_string("/proc/sys/kernel/random/boot_id")
                .ok()
                .map(|s| s.trim().to_string()),
            net_ns: ns("net"),
            pid_ns: ns("pid"),
        }
    }
}

/// A TCP listener of the harness that the workload is asked to connect to. `dial` is
/// the address as the workload must write it (slirp's 10.0.2.2 reaches a listener on
/// host loopback); the listener lives as long as the value (connections complete in
/// the kernel's backlog: nothing needs to accept them).
#[derive(Debug)]
pub struct Canary {
    /// The fact it decides, e.g. [`keys::ISOLATION_REACHES_HOST_LOOPBACK`].
    pub key: &'static str,
    pub dial: SocketAddr,
    _listener: std::sync::Arc<std::net::TcpListener>,
}

impl Canary {
    /// Listen on `bind` (a port of the kernel's choice); the workload dials `dial_ip`
    /// (default: the bound address) on that port.
    pub fn listen(
        key: &'static str,
        bind: IpAddr,
        dial_ip: Option<IpAddr>,
    ) -> Result<Canary, Error> {
        let listener = std::net::TcpListener::bind((bind, 0))
            .map_err(Error::io(format!("isolation: canary listener on {bind}")))?;
        let port = listener
            .local_addr()
            .map_err(Error::io("isolation: canary address"))?
            .port();
        Ok(Canary {
            key,
            dial: SocketAddr::new(dial_ip.unwrap_or(bind), port),
            _listener: std::sync::Arc::new(listener),
        })
    }

    /// The same listener dialled at another address (slirp's view of host loopback).
    pub fn also_as(&self, key: &'static str, dial_ip: IpAddr) -> Canary {
        Canary {
            key,
            dial: SocketAddr::new(dial_ip, self.dial.port()),
            _listener: self._listener.clone(),
        }
    }

    /// The usual pair: host loopback, and the host's address `bridge` on the workload's
    /// network when it has one.
    pub fn host_pair(bridge: Option<IpAddr>) -> Result<Vec<Canary>, Error> {
        let mut out = vec![Canary::listen(
            keys::ISOLATION_REACHES_HOST_LOOPBACK,
            Ipv4Addr::LOCALHOST.into(),
            None,
        )?];
        if let Some(ip) = bridge {
            out.push(Canary::listen(
                keys::ISOLATION_REACHES_HOST_BRIDGE,
                ip,
                None,
            )?);
        }
        Ok(out)
    }
}

/// Ask the service at `endpoint` for its probe answer, with `canaries` to try.
pub async fn ask(endpoint: SocketAddr, canaries: &[Canary]) -> Result<ProbeAnswer, Error> {
    let list: Vec<String> = canaries.iter().map(|c| c.dial.to_string()).collect();
    let mut path = calculator::probe::PATH.to_string();
    if !list.is_empty() {
        path.push_str(&format!("?canary={}", list.join(",")));
    }
    let deadline = tokio::time::Instant::now() + PROBE_TIMEOUT;
    let answer = Client::new(endpoint)
        .get(&path, deadline)
        .await
        .map_err(|e| Error::Failed(format!("isolation probe: {e}")))?;
    if !answer.status.is_success() {
        return Err(Error::Failed(format!(
            "isolation probe {endpoint}{path}: {}",
            answer.describe()
        )));
    }
    let text = String::from_utf8_lossy(&answer.body);
    let parsed = ProbeAnswer::parse(&text)
        .map_err(|e| Error::Failed(format!("isolation probe {endpoint}: {e}")))?;
    tracing::info!(%endpoint, answer = %text.trim().replace('\n', " "), "isolation probe");
    Ok(parsed)
}

/// The facts a probe answer gives, against the harness's own view.
///
/// - shared kernel: the same boot id (one running kernel has one);
/// - pid / net namespace private: on the same kernel, a namespace other than the
///   harness's; on another kernel, necessarily (that kernel's namespaces are its own);
/// - host processes visible: the processes besides itself that the workload lists when
///   it shares the harness's pid namespace; none otherwise (a pid namespace never shows
///   its parent's processes, another kernel has none of ours). The raw count the
///   workload listed is kept beside it;
/// - capabilities, its own pid: as answered;
/// - each canary: whether the connection opened.
///
/// A fact whose inputs the workload could not read is left out.
pub fn facts(
    answer: &ProbeAnswer,
    host: &HostView,
    canaries: &[Canary],
) -> BTreeMap<String, Series> {
    let shared = match (&answer.boot_id, &host.boot_id) {
        (Some(a), Some(h)) => Some(a == h),
        _ => None,
    };
    facts_on_kernel(answer, host, canaries, shared)
}

/// [`facts`] with the shared-kernel fact told otherwise than by the boot id (`None`:
/// unknown), for a runtime that gives its workload a boot id of its own (LXC).
pub fn facts_on_kernel(
    answer: &ProbeAnswer,
    host: &HostView,
    canaries: &[Canary],
    shared: Option<bool>,
) -> BTreeMap<String, Series> {
    let mut out = BTreeMap::new();
    let private = |theirs: &Option<String>, ours: &Option<String>| match shared? {
        false => Some(true),
        true => Some(theirs.as_ref()? != ours.as_ref()?),
    };
    let pid_private = private(&answer.pid_ns, &host.pid_ns);
    let mut put = |k: &str, s: Option<Series>| {
        if let Some(s) = s {
            out.insert(k.to_string(), s);
        }
    };
    put(keys::ISOLATION_SHARED_KERNEL, shared.map(flag));
    put(keys::ISOLATION_PID_NAMESPACE_PRIVATE, pid_private.map(flag));
    put(
        keys::ISOLATION_NET_NAMESPACE_PRIVATE,
        private(&answer.net_ns, &host.net_ns).map(flag),
    );
    put(
        keys::ISOLATION_HOST_PROCESSES_VISIBLE,
        match (pid_private, answer.processes) {
            (Some(true), _) => Some(count(0)),
            (Some(false), Some(n)) => Some(count(n.saturating_sub(1))),
            _ => None,
        },
    );
    put(
        keys::ISOLATION_PROCESSES_VISIBLE,
        answer.processes.map(count),
    );
    put(
        keys::ISOLATION_CAPABILITIES,
        answer.cap_eff_count.map(|n| count(n as usize)),
    );
    // CAP_SYS_ADMIN on the host's own kernel: mount, namespaces, most of what a
    // container escape needs. On another kernel it is that kernel's, not the host's.
    put(
        keys::ISOLATION_HOST_CAP_SYS_ADMIN,
        match (shared, answer.cap_eff) {
            (Some(true), Some(bits)) => Some(flag((bits >> CAP_SYS_ADMIN) & 1 == 1)),
            (Some(false), _) => Some(flag(false)),
            _ => None,
        },
    );
    put(
        keys::ISOLATION_WORKLOAD_PID,
        answer.pid.map(|p| count(p as usize)),
    );
    for c in canaries {
        put(c.key, answer.reached(c.dial).map(flag));
    }
    out
}

/// Does the workload run on this kernel, told by its namespaces instead of its boot
/// id: a process of this kernel (in this /proc) lives in both the pid and the net
/// namespace the workload answered. Namespace inode numbers are this kernel's own; the
/// init namespaces carry the same numbers on every kernel, so a workload in the
/// harness's own namespaces tells nothing (`None`). `None` too when no other process's
/// namespaces could be read (not root).
pub fn runs_on_this_kernel(answer: &ProbeAnswer, host: &HostView) -> Option<bool> {
    let (pid_ns, net_ns) = (answer.pid_ns.as_ref()?, answer.net_ns.as_ref()?);
    if Some(pid_ns) == host.pid_ns.as_ref() || Some(net_ns) == host.net_ns.as_ref() {
        return None;
    }
    let me = std::process::id().to_string();
    let mut readable = false;
    for entry in std::fs::read_dir("/proc").ok()?.flatten() {
        let name = entry.file_name();
        let Some(pid) = name
            .to_str()
            .filter(|n| n.bytes().all(|b| b.is_ascii_digit()))
        else {
            continue;
        };
        if pid == me {
            continue;
        }
        let ns = |kind: &str| {
            std::fs::read_link(format!("/proc/{pid}/ns/{kind}"))
                .ok()
                .map(|p| p.to_string_lossy().into_owned())
        };
        let Some(pid_of) = ns("pid") else { continue };
        readable = true;
        if &pid_of == pid_ns && ns("net").as_ref() == Some(net_ns) {
            return Some(true);
        }
    }
    readable.then_some(false)
}

/// The capability's number (linux/capability.h).
const CAP_SYS_ADMIN: u32 = 21;

/// [`ask`] then [`facts`] against this process's view.
pub async fn probe_facts(
    endpoint: SocketAddr,
    canaries: &[Canary],
) -> Result<BTreeMap<String, Series>, Error> {
    let answer = ask(endpoint, canaries).await?;
    Ok(facts(&answer, &HostView::of_harness(), canaries))
}

/// The isolation and reachability facts of a container: `endpoint` is where the harness
/// reaches it (a published port, or the host's port under host networking), `direct`
/// its own address on a bridge network and `gateway` the host's address there (host
/// networking has neither). Shared by the container engines, which only differ in how
/// they tell these addresses.
pub async fn container_facts(
    run_id: &str,
    endpoint: SocketAddr,
    direct: Option<SocketAddr>,
    gateway: Option<IpAddr>,
) -> Result<BTreeMap<String, Series>, Error> {
    let canaries = Canary::host_pair(gateway)?;
    let mut out = probe_facts(endpoint, &canaries).await?;
    let probe = probe();
    if let Some(addr) = direct {
        out.insert(
            keys::REACH_GUEST_DIRECT.into(),
            flag(answers(addr, &probe).await),
        );
        out.insert(
            keys::REACH_FORWARDED.into(),
            flag(answers(endpoint, &probe).await),
        );
    }
    // From a LAN PC: the container's own address and the published port (bridge), or
    // the host's address (host networking: the container's stack is the host's).
    let targets = match direct {
        Some(addr) => super::outside::Targets {
            direct: Some(addr),
            forwarded_port: Some(endpoint.port()),
            ..Default::default()
        },
        None => super::outside::Targets {
            on_host_port: Some(endpoint.port()),
            ..Default::default()
        },
    };
    out.extend(super::outside::reachability(run_id, &targets).await?);
    Ok(out)
}

/// `(destination, mask, gateway, interface)` of each IPv4 route in /proc/net/route.
pub fn parse_routes(text: &str) -> Vec<(Ipv4Addr, Ipv4Addr, Ipv4Addr, String)> {
    // The file prints addresses as the kernel's u32 in host order (little-endian here).
    let addr = |h: &str| {
        u32::from_str_radix(h, 16)
            .ok()
            .map(|v| Ipv4Addr::from(v.to_le_bytes()))
    };
    text.lines()
        .skip(1)
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            Some((
                addr(f.get(1)?)?,
                addr(f.get(7)?)?,
                addr(f.get(2)?)?,
                f[0].to_string(),
            ))
        })
        .collect()
}

/// Is `ip` on a network attached directly to this host other than its uplink (the
/// default route's interface)? Only then may a reachability probe be sent to it.
pub fn attached_locally(routes: &[(Ipv4Addr, Ipv4Addr, Ipv4Addr, String)], ip: Ipv4Addr) -> bool {
    let uplinks: Vec<&str> = routes
        .iter()
        .filter(|r| r.1.is_unspecified())
        .map(|r| r.3.as_str())
        .collect();
    let best = routes
        .iter()
        .filter(|(dest, mask, _, _)| u32::from(ip) & u32::from(*mask) == u32::from(*dest))
        .max_by_key(|r| u32::from(r.1).count_ones());
    matches!(best, Some((_, mask, gw, iface))
        if !mask.is_unspecified() && gw.is_unspecified() && !uplinks.contains(&iface.as_str()))
}

/// Does the calculator answer `probe` correctly at `addr` within [`REACH_TIMEOUT`]?
/// Loopback is always tried; another address only when [`attached_locally`] (else
/// the answer is "no" without sending anything).
pub async fn answers(addr: SocketAddr, probe: &Probe) -> bool {
    if !addr.ip().is_loopback() {
        let std::net::IpAddr::V4(ip) = addr.ip() else {
            return false;
        };
        let routes = std::fs::read_to_string("/proc/net/route").unwrap_or_default();
        if !attached_locally(&parse_routes(&routes), ip) {
            tracing::debug!(%addr, "reach: no host route to a local network, not tried");
            return false;
        }
    }
    let deadline = tokio::time::Instant::now() + REACH_TIMEOUT;
    match Client::new(addr).post(probe.body.clone(), deadline).await {
        Ok(a) => a.status.is_success() && probe.accepts(&a.body),
        Err(e) => {
            tracing::debug!(%addr, error = %e, "reach: no answer");
            false
        }
    }
}

/// The probe used for reachability.
pub fn probe() -> Probe {
    Probe::for_expression("(5+3)/2").expect("constant expression")
}

#[cfg(test)]
mod tests {
    use super::*;

    const ROUTES: &str =
        "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n\
        eth0\t00000000\t010200C0\t0003\t0\t0\t0\t00000000\t0\t0\t0\n\
        docker0\t000011AC\t00000000\t0001\t0\t0\t0\t0000FFFF\t0\t0\t0\n\
        eth0\t000200C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n";

    #[test]
    fn routes_parse_in_kernel_byte_order() {
        let r = parse_routes(ROUTES);
        assert_eq!(r.len(), 3);
        assert_eq!(r[0].2, Ipv4Addr::new(192, 0, 2, 1));
        assert_eq!(r[1].0, Ipv4Addr::new(172, 17, 0, 0));
        assert_eq!(r[1].1, Ipv4Addr::new(255, 255, 0, 0));
    }

    #[test]
    fn only_local_non_uplink_networks_are_probed() {
        let r = parse_routes(ROUTES);
        assert!(attached_locally(&r, Ipv4Addr::new(172, 17, 0, 5)));
        // Only the default route: it would leave the machine.
        assert!(!attached_locally(&r, Ipv4Addr::new(10, 0, 2, 15)));
        // The uplink's own LAN is not ours either.
        assert!(!attached_locally(&r, Ipv4Addr::new(192, 0, 2, 9)));
    }

    const NATIVE: &str = "kernel_release=6.1.0\nboot_id=b-1\npid=4242\nprocesses=137\n\
        cap_eff=000001ffffffffff\ncap_eff_count=41\nnet_ns=net:[1]\npid_ns=pid:[2]\n";

    fn host() -> HostView {
        HostView {
            boot_id: Some("b-1".into()),
            net_ns: Some("net:[1]".into()),
            pid_ns: Some("pid:[2]".into()),
        }
    }

    fn median(f: &BTreeMap<String, Series>, k: &str) -> f64 {
        f[k].summary.median
    }

    #[test]
    fn a_host_process_shares_everything() {
        let f = facts(&ProbeAnswer::parse(NATIVE).unwrap(), &host(), &[]);
        assert_eq!(median(&f, keys::ISOLATION_SHARED_KERNEL), 1.0);
        assert_eq!(median(&f, keys::ISOLATION_PID_NAMESPACE_PRIVATE), 0.0);
        assert_eq!(median(&f, keys::ISOLATION_NET_NAMESPACE_PRIVATE), 0.0);
        assert_eq!(median(&f, keys::ISOLATION_HOST_PROCESSES_VISIBLE), 136.0);
        assert_eq!(median(&f, keys::ISOLATION_CAPABILITIES), 41.0);
        assert_eq!(median(&f, keys::ISOLATION_WORKLOAD_PID), 4242.0);
        assert_eq!(median(&f, keys::ISOLATION_HOST_CAP_SYS_ADMIN), 1.0);
    }

    #[test]
    fn a_container_shares_the_kernel_not_the_namespaces() {
        let text = NATIVE
            .replace("pid=4242", "pid=1")
            .replace("processes=137", "processes=1")
            .replace("net:[1]", "net:[7]")
            .replace("pid:[2]", "pid:[8]");
        let f = facts(&ProbeAnswer::parse(&text).unwrap(), &host(), &[]);
        assert_eq!(median(&f, keys::ISOLATION_SHARED_KERNEL), 1.0);
        assert_eq!(median(&f, keys::ISOLATION_PID_NAMESPACE_PRIVATE), 1.0);
        assert_eq!(median(&f, keys::ISOLATION_NET_NAMESPACE_PRIVATE), 1.0);
        assert_eq!(median(&f, keys::ISOLATION_HOST_PROCESSES_VISIBLE), 0.0);
        assert_eq!(median(&f, keys::ISOLATION_PROCESSES_VISIBLE), 1.0);
        assert_eq!(median(&f, keys::ISOLATION_HOST_CAP_SYS_ADMIN), 1.0);
        // Docker's default set (CapEff a80425fb) has no CAP_SYS_ADMIN.
        let default = text.replace("cap_eff=000001ffffffffff", "cap_eff=00000000a80425fb");
        let f = facts(&ProbeAnswer::parse(&default).unwrap(), &host(), &[]);
        assert_eq!(median(&f, keys::ISOLATION_HOST_CAP_SYS_ADMIN), 0.0);
        // `--net=host`: the network is the host's, and the probe says so.
        let text = text.replace("net:[7]", "net:[1]");
        let f = facts(&ProbeAnswer::parse(&text).unwrap(), &host(), &[]);
        assert_eq!(median(&f, keys::ISOLATION_NET_NAMESPACE_PRIVATE), 0.0);
    }

    #[test]
    fn another_kernel_has_namespaces_of_its_own() {
        // The init namespaces of any kernel carry the same inode numbers: equal names
        // on another kernel are not the host's namespaces.
        let text = NATIVE.replace("boot_id=b-1", "boot_id=b-2");
        let f = facts(&ProbeAnswer::parse(&text).unwrap(), &host(), &[]);
        assert_eq!(median(&f, keys::ISOLATION_SHARED_KERNEL), 0.0);
        assert_eq!(median(&f, keys::ISOLATION_PID_NAMESPACE_PRIVATE), 1.0);
        assert_eq!(median(&f, keys::ISOLATION_NET_NAMESPACE_PRIVATE), 1.0);
        assert_eq!(median(&f, keys::ISOLATION_HOST_PROCESSES_VISIBLE), 0.0);
        // Root in a VM holds every capability of its own kernel, none of the host's.
        assert_eq!(median(&f, keys::ISOLATION_HOST_CAP_SYS_ADMIN), 0.0);
        // Unknown on either side: no fact.
        let f = facts(
            &ProbeAnswer::parse(&text).unwrap(),
            &HostView::default(),
            &[],
        );
        assert!(!f.contains_key(keys::ISOLATION_SHARED_KERNEL));
        assert!(!f.contains_key(keys::ISOLATION_NET_NAMESPACE_PRIVATE));
    }

    #[test]
    fn a_workload_in_the_harness_namespaces_tells_nothing_by_namespaces() {
        let me = HostView::of_harness();
        let mut answer = ProbeAnswer::parse(NATIVE).unwrap();
        answer.pid_ns = me.pid_ns.clone();
        answer.net_ns = me.net_ns.clone();
        assert_eq!(runs_on_this_kernel(&answer, &me), None);
        // Namespaces no process of this kernel lives in: another kernel's.
        answer.pid_ns = Some("pid:[1]".into());
        answer.net_ns = Some("net:[1]".into());
        assert_eq!(runs_on_this_kernel(&answer, &me), Some(false));
        // Told otherwise, the shared kernel decides the other facts as the boot id does.
        let f = facts_on_kernel(&answer, &me, &[], Some(true));
        assert_eq!(median(&f, keys::ISOLATION_SHARED_KERNEL), 1.0);
        assert_eq!(median(&f, keys::ISOLATION_PID_NAMESPACE_PRIVATE), 1.0);
    }

    #[test]
    fn malformed_answers_are_named() {
        assert!(ProbeAnswer::parse("pid=1\n")
            .unwrap_err()
            .contains("boot_id"));
        let e = ProbeAnswer::parse("boot_id=x\npid=one\n").unwrap_err();
        assert!(e.contains("line 2") && e.contains("pid"), "{e}");
    }

    #[tokio::test]
    async fn the_calculator_answers_the_probe_and_its_canaries() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let endpoint = listener.local_addr().unwrap();
        let server = tokio::spawn(calculator::serve_all_on(
            listener,
            calculator::DEFAULT_TIMEOUT,
        ));
        let open = Canary::host_pair(None).unwrap();
        let closed = {
            let c = Canary::listen(
                keys::ISOLATION_REACHES_HOST_BRIDGE,
                Ipv4Addr::LOCALHOST.into(),
                None,
            )
            .unwrap();
            c.also_as(
                keys::ISOLATION_REACHES_HOST_BRIDGE,
                Ipv4Addr::new(127, 0, 0, 2).into(),
            )
        };
        let canaries = [open.into_iter().next().unwrap(), closed];
        let f = probe_facts(endpoint, &canaries).await.unwrap();
        server.abort();
        assert_eq!(median(&f, keys::ISOLATION_SHARED_KERNEL), 1.0);
        assert_eq!(median(&f, keys::ISOLATION_NET_NAMESPACE_PRIVATE), 0.0);
        assert_eq!(
            median(&f, keys::ISOLATION_WORKLOAD_PID),
            f64::from(std::process::id())
        );
        assert_eq!(median(&f, keys::ISOLATION_REACHES_HOST_LOOPBACK), 1.0);
        // Nothing listens on 127.0.0.2 at that port.
        assert_eq!(median(&f, keys::ISOLATION_REACHES_HOST_BRIDGE), 0.0);
    }
}
