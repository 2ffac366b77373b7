//! Isolation and reachability facts (claims C3 and C9), observed from the host about a
//! running workload: facts, not a score.
//!
//! - For a workload made of host processes (native, containers) the facts come from
//!   procfs: the service process's namespaces against the harness's own, its effective
//!   capabilities, and how many other processes its pid namespace shows.
//! - A VM's service process is not in the host's process table at all; its facts come
//!   from the VM side (the guest kernel's own identity and boot clock).
//! - Reachability: does the service answer at an address, from the host. A connection
//!   is only attempted when the host routes that address to a directly attached network
//!   other than its uplink (a Docker bridge, our veth): nothing leaves the machine.

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;
use std::time::Duration;

use crate::measure::http::Client;
use crate::measure::Probe;
use crate::platform::PlatformError;
use crate::stats::Series;

/// Connect + answer deadline of a reachability attempt.
pub const REACH_TIMEOUT: Duration = Duration::from_millis(500);

/// A yes/no fact as a one-sample series (1 = yes).
pub fn flag(yes: bool) -> Series {
    Series::new("bool", vec![if yes { 1.0 } else { 0.0 }])
}

fn count(n: usize) -> Series {
    Series::new("count", vec![n as f64])
}

/// Number of capabilities in the `CapEff:` line of a /proc/PID/status text.
pub fn cap_eff_bits(status: &str) -> Option<u32> {
    let hex = status
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))?
        .trim();
    u64::from_str_radix(hex, 16).ok().map(u64::count_ones)
}

/// The namespace a process is in, e.g. `pid:[4026531836]`.
fn namespace(proc_root: &Path, pid: &str, kind: &str) -> std::io::Result<String> {
    std::fs::read_link(proc_root.join(pid).join("ns").join(kind))
        .map(|p| p.to_string_lossy().into_owned())
}

/// Facts about the host processes `service_pids` (the first one is the front service,
/// e.g. the calculator): all must be running.
pub fn host_process_facts(service_pids: &[u32]) -> Result<BTreeMap<String, Series>, PlatformError> {
    facts_in(Path::new("/proc"), "self", service_pids)
}

fn facts_in(
    proc_root: &Path,
    me: &str,
    service_pids: &[u32],
) -> Result<BTreeMap<String, Series>, PlatformError> {
    let front = service_pids
        .first()
        .ok_or_else(|| PlatformError::Failed("isolation: no service process to inspect".into()))?
        .to_string();
    let ns = |pid: &str, kind: &str| {
        namespace(proc_root, pid, kind).map_err(PlatformError::io(format!(
            "isolation: reading {}/{pid}/ns/{kind}",
            proc_root.display()
        )))
    };
    let status_path = proc_root.join(&front).join("status");
    let status = std::fs::read_to_string(&status_path).map_err(PlatformError::io(format!(
        "isolation: reading {}",
        status_path.display()
    )))?;
    let caps = cap_eff_bits(&status).ok_or_else(|| {
        PlatformError::Failed(format!("isolation: no CapEff in {}", status_path.display()))
    })?;
    let (pid_ns, my_pid_ns) = (ns(&front, "pid")?, ns(me, "pid")?);
    let net_private = ns(&front, "net")? != ns(me, "net")?;

    // Processes the service's pid namespace shows, besides the service's own. In our
    // own namespace that is everything our /proc lists; in another one, the processes
    // of that namespace (our containers nest none).
    let own: Vec<String> = service_pids.iter().map(u32::to_string).collect();
    let others = std::fs::read_dir(proc_root)
        .map_err(PlatformError::io(format!(
            "isolation: listing {}",
            proc_root.display()
        )))?
        .flatten()
        .filter_map(|e| e.file_name().to_str().map(str::to_owned))
        .filter(|p| p.bytes().all(|b| b.is_ascii_digit()) && !own.contains(p))
        .filter(|p| {
            pid_ns == my_pid_ns || namespace(proc_root, p, "pid").is_ok_and(|n| n == pid_ns)
        })
        .count();

    Ok(BTreeMap::from([
        // Listed in the host's process table: scheduled by the host's kernel.
        ("isolation_shared_kernel".to_string(), flag(true)),
        (
            "isolation_pid_namespace_private".to_string(),
            flag(pid_ns != my_pid_ns),
        ),
        (
            "isolation_net_namespace_private".to_string(),
            flag(net_private),
        ),
        (
            "isolation_capabilities".to_string(),
            Series::new("count", vec![f64::from(caps)]),
        ),
        (
            "isolation_host_processes_visible".to_string(),
            count(others),
        ),
    ]))
}

/// The host's kernel release (`uname -r`).
pub fn host_kernel_release() -> Option<String> {
    std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .ok()
        .map(|s| s.trim().to_string())
}

/// The host's uptime, seconds.
pub fn host_uptime_s() -> Option<f64> {
    std::fs::read_to_string("/proc/uptime")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// Facts about a VM's workload. The guest kernel is its own when its release differs
/// from the host's, or when its boot clock (the uptime the guest printed when its
/// service was ready) started well after the host's: a kernel booted for this VM.
/// Neither known: the fact is omitted. The guest's processes are absent from the
/// host's process table, so it sees no host process; its capabilities are invisible
/// from here and are omitted rather than invented.
pub fn vm_facts(
    guest_release: Option<&str>,
    guest_uptime_s: Option<f64>,
    host_release: Option<&str>,
    host_uptime_s: Option<f64>,
) -> BTreeMap<String, Series> {
    let other_release = matches!((guest_release, host_release), (Some(g), Some(h)) if g != h);
    // A generous margin: a guest clock read under TCG can drift by seconds.
    let own_clock = matches!((guest_uptime_s, host_uptime_s), (Some(g), Some(h)) if g + 60.0 < h);
    let mut out = BTreeMap::from([
        ("isolation_pid_namespace_private".to_string(), flag(true)),
        ("isolation_net_namespace_private".to_string(), flag(true)),
        ("isolation_host_processes_visible".to_string(), count(0)),
    ]);
    if other_release || own_clock {
        out.insert("isolation_shared_kernel".to_string(), flag(false));
    }
    out
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

    #[test]
    fn capabilities_are_counted_from_cap_eff() {
        let status = "Name:\tx\nCapInh:\t0000000000000000\nCapEff:\t00000000a80425fb\n";
        // Docker's default set: 14 capabilities.
        assert_eq!(cap_eff_bits(status), Some(14));
        assert_eq!(cap_eff_bits("CapEff:\t000001ffffffffff\n"), Some(41));
        assert_eq!(cap_eff_bits("Name: x\n"), None);
    }

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

    #[test]
    fn vm_kernel_is_own_when_release_or_boot_clock_differs() {
        let f = vm_facts(Some("6.1.0-27-amd64"), None, Some("6.18.44"), None);
        assert_eq!(f["isolation_shared_kernel"].summary.median, 0.0);
        let f = vm_facts(Some("6.1"), Some(4.2), Some("6.1"), Some(86400.0));
        assert_eq!(f["isolation_shared_kernel"].summary.median, 0.0);
        let f = vm_facts(Some("6.1"), Some(4.2), Some("6.1"), Some(30.0));
        assert!(!f.contains_key("isolation_shared_kernel"));
        assert!(!f.contains_key("isolation_capabilities"));
        assert_eq!(f["isolation_host_processes_visible"].summary.median, 0.0);
    }

    #[test]
    fn own_processes_see_the_whole_host() {
        let me = std::process::id();
        let f = host_process_facts(&[me]).unwrap();
        assert_eq!(f["isolation_shared_kernel"].summary.median, 1.0);
        assert_eq!(f["isolation_pid_namespace_private"].summary.median, 0.0);
        assert_eq!(f["isolation_net_namespace_private"].summary.median, 0.0);
        // At least init (pid 1) is visible besides this process.
        assert!(f["isolation_host_processes_visible"].summary.median >= 1.0);
        assert!(host_process_facts(&[]).is_err());
    }
}
