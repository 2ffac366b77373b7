//! Reachability from "outside" (claims C9, C10): a network namespace of the run's own
//! stands for another PC on the LAN. The host is every bridge's router, so a probe sent
//! from the host itself reaches everything and tells nothing about NAT or bridging.
//!
//! ```text
//! host: vboh<hash> 10.215.X.1/30 ──veth── netns vbo-<run>: vbo0 10.215.X.2/30
//! ```
//!
//! From inside, for a variant: its direct address (container IP, bridged VM address),
//! routed through the host as a LAN PC whose router is the host would send it, and its
//! forwarded port at the host's LAN address (10.215.X.1:port). A direct address the host
//! itself only reaches through its uplink (slirp's 10.0.2.15) gets no route: no LAN PC
//! can have one, and nothing is sent off the machine. Where both ends are the run's own
//! interfaces (the bridged VMs' veth), the host is allowed to forward between the two
//! (iptables rules tagged with the run id), as a LAN does; Docker's networks keep
//! Docker's own rules: what they let through is Docker's behaviour, measured.
//!
//! Needs root and iproute2's `ip` (and `iptables` for a bridged VM). Everything is
//! removed before returning; `cleanup` removes leftovers of a crashed run.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::os::fd::AsRawFd;
use std::time::Duration;

use crate::error::Error;
use crate::measure::isolation;
use crate::results::keys;
use crate::stats::Series;

/// Namespace name prefix: `vbo-<run id>`.
pub const PREFIX: &str = "vbo-";
/// Comment of the iptables rules, followed by the run id.
const RULE_TAG: &str = "virtbench-outside-";
/// The LAN PC's side of the veth (inside its namespace).
const PEER: &str = "vbo0";
/// Connect deadline of one attempt; the answer gets twice that.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);

/// How a variant is reached by its clients: the `access` detail every platform
/// records (`results::keys::ACCESS`), in one vocabulary, so that C9 and C10 group
/// variants by what was deployed and never by a platform's name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// A published or forwarded host port (Docker -p, QEMU hostfwd, VirtualBox NAT rule).
    Forwarded,
    /// An address of its own on a network the host is attached to, no forward (LXC and
    /// Docker bridge addresses, a bridged VM, an OpenStack fixed IP).
    Direct,
    /// An OpenStack floating IP: a 1:1 NAT, a forward of the whole address.
    Floating,
    /// The host's own network stack (native processes, `--network host`): neither a
    /// forward nor an address of its own.
    HostNetwork,
}

impl Access {
    pub const ALL: [Access; 4] = [
        Access::Forwarded,
        Access::Direct,
        Access::Floating,
        Access::HostNetwork,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Access::Forwarded => "forwarded-port",
            Access::Direct => "direct-address",
            Access::Floating => "floating-ip",
            Access::HostNetwork => "host-network",
        }
    }

    /// The access path a result recorded; `None` for a value this version does not know.
    pub fn parse(s: &str) -> Option<Access> {
        Access::ALL.into_iter().find(|a| a.as_str() == s)
    }

    /// Reached through a forward (a port, or a whole address).
    pub fn through_forward(self) -> bool {
        matches!(self, Access::Forwarded | Access::Floating)
    }

    /// Reached at an address of its own, with no forward.
    pub fn at_own_address(self) -> bool {
        self == Access::Direct
    }
}

async fn run(program: &str, args: &[&str]) -> Result<String, Error> {
    crate::host::command::run(program, args).await
}

fn short_hash(s: &str) -> u32 {
    // FNV-1a, as the bridge's names: stable, enough to spread names and subnets.
    s.bytes().fold(0x811c_9dc5u32, |h, b| {
        (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
    })
}

/// The LAN PC of a run.
#[derive(Debug)]
pub struct Outside {
    netns: String,
    host_if: String,
    /// Third octet: the link is 10.215.X.0/30.
    subnet: u8,
    /// iptables rule specifications added (removed by [`Outside::destroy`]).
    rules: Vec<Vec<String>>,
    run_id: String,
}

impl Outside {
    pub fn host_ip(&self) -> Ipv4Addr {
        Ipv4Addr::new(10, 215, self.subnet, 1)
    }

    fn peer_ip(&self) -> Ipv4Addr {
        Ipv4Addr::new(10, 215, self.subnet, 2)
    }

    /// Create the namespace and its link to the host; on failure, nothing is left.
    pub async fn create(run_id: &str) -> Result<Outside, Error> {
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            return Err(Error::Failed(
                "reachability from outside needs root (a network namespace and a veth)".into(),
            ));
        }
        let netns = format!("{PREFIX}{run_id}");
        let hash = short_hash(&netns);
        let used = run("ip", &["-4", "-o", "addr", "show"]).await?;
        let subnet = (0..256u32)
            .map(|k| (hash.wrapping_add(k) % 256) as u8)
            .find(|x| !used.contains(&format!("10.215.{x}.")))
            .ok_or_else(|| Error::Failed("no free 10.215.X.0/30 link".into()))?;
        let out = Outside {
            host_if: format!("vboh{hash:08x}"),
            netns,
            subnet,
            rules: Vec::new(),
            run_id: run_id.to_string(),
        };
        if let Err(e) = out.build().await {
            out.destroy().await;
            return Err(e);
        }
        Ok(out)
    }

    async fn build(&self) -> Result<(), Error> {
        let ns = self.netns.as_str();
        run("ip", &["netns", "add", ns]).await?;
        run("ip", &["-n", ns, "link", "set", "lo", "up"]).await?;
        crate::host::command::add_veth(&self.host_if, PEER, ns).await?;
        let host = format!("{}/30", self.host_ip());
        let peer = format!("{}/30", self.peer_ip());
        run("ip", &["addr", "add", &host, "dev", &self.host_if]).await?;
        run("ip", &["link", "set", &self.host_if, "up"]).await?;
        run("ip", &["-n", ns, "addr", "add", &peer, "dev", PEER]).await?;
        run("ip", &["-n", ns, "link", "set", PEER, "up"]).await?;
        Ok(())
    }

    /// Insert a FORWARD rule tagged with the run id (`matches`, then `-j target`),
    /// remembered so that [`Outside::destroy`] (and `cleanup`, by the tag) removes it.
    async fn insert_rule(&mut self, matches: &[&str], target: &str) -> Result<(), Error> {
        let tag = format!("{RULE_TAG}{}", self.run_id);
        let spec: Vec<String> = std::iter::once("FORWARD")
            .chain(matches.iter().copied())
            .chain(["-m", "comment", "--comment", &tag, "-j", target])
            .map(str::to_string)
            .collect();
        let args: Vec<&str> = std::iter::once("-I")
            .chain(spec.iter().map(String::as_str))
            .collect();
        run("iptables", &args).await?;
        self.rules.push(spec);
        Ok(())
    }

    /// Let the host forward between the LAN PC and `iface` (both the run's own).
    pub async fn allow_forward(&mut self, iface: &str) -> Result<(), Error> {
        let host_if = self.host_if.clone();
        self.insert_rule(&["-i", &host_if, "-o", iface], "ACCEPT")
            .await?;
        self.insert_rule(&["-i", iface, "-o", &host_if], "ACCEPT")
            .await
    }

    /// Reject, at the host, what the LAN PC sends to `dst` (an address the host does
    /// not reach locally): the attempt is made, and nothing leaves the machine.
    async fn reject_forward_to(&mut self, dst: Ipv4Addr) -> Result<(), Error> {
        let host_if = self.host_if.clone();
        let dst = format!("{dst}/32");
        self.insert_rule(&["-i", &host_if, "-d", &dst], "REJECT")
            .await
    }

    /// Route `dst` from the LAN PC through the host.
    async fn route(&self, dst: Ipv4Addr) -> Result<(), Error> {
        let via = self.host_ip().to_string();
        let dst = format!("{dst}/32");
        run(
            "ip",
            &["-n", &self.netns, "route", "replace", &dst, "via", &via],
        )
        .await?;
        Ok(())
    }

    /// Does the calculator answer correctly at `addr`, asked from the LAN PC?
    pub async fn answers(&self, addr: SocketAddr) -> Result<bool, Error> {
        let path = format!("/run/netns/{}", self.netns);
        let probe = isolation::probe();
        // setns changes the calling thread only: a thread of our own, never one of the
        // runtime's pools.
        let thread = std::thread::spawn(move || -> Result<bool, String> {
            let ns = std::fs::File::open(&path).map_err(|e| format!("{path}: {e}"))?;
            // SAFETY: a valid namespace descriptor; only this thread changes namespace.
            if unsafe { libc::setns(ns.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
                return Err(format!("setns {path}: {}", std::io::Error::last_os_error()));
            }
            Ok(ask(addr, &probe).unwrap_or_else(|e| {
                tracing::debug!(%addr, error = %e, "outside: no answer");
                false
            }))
        });
        tokio::task::spawn_blocking(move || thread.join())
            .await
            .map_err(|e| Error::Failed(format!("outside probe: {e}")))?
            .map_err(|_| Error::Failed("outside probe thread panicked".into()))?
            .map_err(Error::Failed)
    }

    /// Remove the rules, the namespace (its veth end goes with it) and the host end.
    /// Idempotent; errors are logged (teardown must go on).
    pub async fn destroy(&self) {
        for spec in &self.rules {
            let mut args = vec!["-D"];
            args.extend(spec.iter().map(String::as_str));
            if let Err(e) = run("iptables", &args).await {
                tracing::warn!("{e}");
            }
        }
        if let Err(e) = run("ip", &["netns", "del", &self.netns]).await {
            if !e.to_string().contains("No such file") {
                tracing::warn!("{e}");
            }
        }
        let _ = run("ip", &["link", "del", &self.host_if]).await;
    }
}

/// One blocking `POST /` of the probe expression; `Ok(true)` for a correct answer.
fn ask(addr: SocketAddr, probe: &crate::measure::Probe) -> std::io::Result<bool> {
    let mut s = TcpStream::connect_timeout(&addr, CONNECT_TIMEOUT)?;
    s.set_read_timeout(Some(CONNECT_TIMEOUT * 2))?;
    s.set_write_timeout(Some(CONNECT_TIMEOUT))?;
    let head = format!(
        "POST / HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n\r\n",
        probe.body.len()
    );
    s.write_all(head.as_bytes())?;
    s.write_all(&probe.body)?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw)?;
    let text = String::from_utf8_lossy(&raw);
    let ok = text.starts_with("HTTP/1.1 200");
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or("");
    Ok(ok && probe.accepts(body.as_bytes()))
}

/// What a variant offers to be reached at from outside.
#[derive(Debug, Clone, Default)]
pub struct Targets {
    /// Its own address (container IP, bridged VM address, slirp's guest address).
    pub direct: Option<SocketAddr>,
    /// The host port forwarded to it (published port, hostfwd).
    pub forwarded_port: Option<u16>,
    /// A host interface of the run's own behind which `direct` lives (bridged VMs).
    pub own_bridge_if: Option<String>,
    /// Its own address is the host's (host processes, host networking): the port it
    /// listens on, tried at the host's LAN address as its direct address.
    pub on_host_port: Option<u16>,
}

/// `reach_outside_direct` and `reach_outside_forwarded` of a variant, probed from a LAN
/// PC of the run's own (created and removed here). A target the variant does not have
/// gives no fact.
pub async fn reachability(
    run_id: &str,
    targets: &Targets,
) -> Result<BTreeMap<String, Series>, Error> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        // A user who is not root: left out, not failed (the other facts of the
        // deployment stand); the platform's `needs_root` puts it in the results.
        tracing::info!("reachability from outside: left out, needs root");
        return Ok(BTreeMap::new());
    }
    let mut lan = Outside::create(run_id).await?;
    let result = probe_from(&mut lan, targets).await;
    lan.destroy().await;
    result
}

async fn probe_from(
    lan: &mut Outside,
    targets: &Targets,
) -> Result<BTreeMap<String, Series>, Error> {
    let mut out = BTreeMap::new();
    if let Some(addr) = targets.direct {
        let std::net::IpAddr::V4(ip) = addr.ip() else {
            return Err(Error::at(
                "outside probe",
                format!("reaching {addr}"),
                "not an IPv4 address",
            ));
        };
        let routes = std::fs::read_to_string("/proc/net/route").unwrap_or_default();
        let reached = if isolation::attached_locally(&isolation::parse_routes(&routes), ip) {
            if let Some(iface) = &targets.own_bridge_if {
                lan.allow_forward(iface).await?;
            }
            lan.route(ip).await?;
            lan.answers(addr).await?
        } else {
            // The host has no local route to it (slirp's 10.0.2.15 lives inside the
            // QEMU process): a LAN PC's packet would go to the host and no further.
            // It is still sent, so the 0 is an answer and not an assumption; a rule of
            // the run's own rejects it at the host, so that nothing leaves the machine
            // through the uplink.
            lan.reject_forward_to(ip).await?;
            lan.route(ip).await?;
            lan.answers(addr).await?
        };
        out.insert(
            keys::REACH_OUTSIDE_DIRECT.to_string(),
            isolation::flag(reached),
        );
    }
    if let Some(port) = targets.on_host_port {
        let addr = SocketAddr::new(lan.host_ip().into(), port);
        out.insert(
            keys::REACH_OUTSIDE_DIRECT.to_string(),
            isolation::flag(lan.answers(addr).await?),
        );
    }
    if let Some(port) = targets.forwarded_port {
        let addr = SocketAddr::new(lan.host_ip().into(), port);
        out.insert(
            keys::REACH_OUTSIDE_FORWARDED.to_string(),
            isolation::flag(lan.answers(addr).await?),
        );
    }
    Ok(out)
}

/// The LAN PCs' namespaces of `run_id` (any run when `None`) that exist now.
pub fn namespaces(run_id: Option<&str>) -> Vec<String> {
    let prefix = format!("{PREFIX}{}", run_id.unwrap_or(""));
    std::fs::read_dir("/run/netns")
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.starts_with(&prefix))
                .collect()
        })
        .unwrap_or_default()
}

/// The FORWARD rules tagged for the LAN PCs of `run_id` (any run when `None`), as
/// `iptables -S` prints them: a run killed with its LAN PC up leaves them.
pub async fn rules(run_id: Option<&str>) -> Vec<String> {
    let tag = format!("{RULE_TAG}{}", run_id.unwrap_or(""));
    run("iptables", &["-S", "FORWARD"])
        .await
        .map(|rules| {
            rules
                .lines()
                .filter(|l| l.contains(&tag))
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

/// Remove the LAN PCs (namespaces `vbo-<run id>`, any run when `None`), their host veth
/// ends and iptables rules left by a crashed run. Returns how many namespaces went.
pub async fn cleanup(run_id: Option<&str>) -> Result<usize, Error> {
    let names = namespaces(run_id);
    for ns in &names {
        run("ip", &["netns", "del", ns]).await?;
        let _ = run(
            "ip",
            &["link", "del", &format!("vboh{:08x}", short_hash(ns))],
        )
        .await;
    }
    // Rules: `iptables -S` prints each as its -A form; the same words after -D delete it.
    let tag = format!("{RULE_TAG}{}", run_id.unwrap_or(""));
    if let Ok(rules) = run("iptables", &["-S", "FORWARD"]).await {
        for rule in rules.lines().filter(|l| l.contains(&tag)) {
            let words: Vec<&str> = rule.split_whitespace().skip(1).collect();
            let mut args = vec!["-D"];
            args.extend(words);
            run("iptables", &args).await?;
        }
    }
    Ok(names.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_fit_interface_limits() {
        let n = format!("vboh{:08x}", short_hash("vbo-20261125-192311-1b97"));
        assert!(n.len() <= 15, "{n}");
    }
}
