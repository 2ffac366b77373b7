//! Bridged networking (claim C9): the VMs' tap devices on a Linux bridge inside a
//! network namespace of their own, which the host reaches through a veth pair. The
//! guests are then on a network "like a PC", at addresses of their own, with no port
//! forwarding; the namespace keeps that network off the host's (and Docker's) rules.
//!
//! ```text
//! host: vbh<hash> 10.214.X.1/24 ──veth── netns vb-<run>-d<n>: vbp0 ─┐
//!                                                     vbt0..vbt4 ───┴─ vbbr0
//! ```
//!
//! Needs root (CAP_NET_ADMIN) and iproute2's `ip`. QEMU runs inside the namespace
//! (`ip netns exec`) to open its tap.

use std::net::Ipv4Addr;

use crate::platform::PlatformError;

const BRIDGE: &str = "vbbr0";
const PEER: &str = "vbp0";
/// Second octet of the bridged subnets (10.214.X.0/24), apart from Docker's default
/// subnet of the scenarios (10.213.0.0/24).
const SUBNET_B: u8 = 214;

#[derive(Debug, Clone)]
pub struct BridgeNet {
    pub netns: String,
    pub host_if: String,
    /// Third octet: the subnet is 10.214.X.0/24.
    pub subnet: u8,
    pub taps: Vec<String>,
}

async fn ip(args: &[&str]) -> Result<String, PlatformError> {
    crate::host::command::run("ip", args).await
}

fn short_hash(s: &str) -> u32 {
    // FNV-1a: stable across runs and platforms, enough to spread names and subnets.
    s.bytes().fold(0x811c_9dc5u32, |h, b| {
        (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
    })
}

impl BridgeNet {
    pub fn host_ip(&self) -> Ipv4Addr {
        Ipv4Addr::new(10, SUBNET_B, self.subnet, 1)
    }

    /// Address of VM number `i`.
    pub fn vm_ip(&self, i: usize) -> Ipv4Addr {
        Ipv4Addr::new(10, SUBNET_B, self.subnet, 10 + i as u8)
    }

    /// A distinct MAC per VM (QEMU's 52:54:00 prefix).
    pub fn vm_mac(&self, i: usize) -> [u8; 6] {
        [0x52, 0x54, 0x00, SUBNET_B, self.subnet, 10 + i as u8]
    }

    /// Create namespace, bridge, `vms` taps and the veth to the host. On failure,
    /// whatever was created is removed.
    pub async fn create(netns: &str, vms: usize) -> Result<BridgeNet, PlatformError> {
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            return Err(PlatformError::Failed(
                "qemu bridged network needs root (network namespace, bridge and taps)".into(),
            ));
        }
        let hash = short_hash(netns);
        let used = ip(&["-4", "-o", "addr", "show"]).await?;
        let subnet = (0..200u32)
            .map(|k| (20 + (hash.wrapping_add(k) % 200)) as u8)
            .find(|x| !used.contains(&format!("10.{SUBNET_B}.{x}.")))
            .ok_or_else(|| PlatformError::Failed(format!("no free 10.{SUBNET_B}.X.0/24 subnet")))?;
        let net = BridgeNet {
            netns: netns.into(),
            host_if: format!("vbh{hash:08x}"),
            subnet,
            taps: (0..vms).map(|i| format!("vbt{i}")).collect(),
        };
        if let Err(e) = net.build().await {
            net.destroy().await;
            return Err(e);
        }
        Ok(net)
    }

    async fn build(&self) -> Result<(), PlatformError> {
        let ns = self.netns.as_str();
        ip(&["netns", "add", ns]).await?;
        ip(&["-n", ns, "link", "set", "lo", "up"]).await?;
        ip(&["-n", ns, "link", "add", BRIDGE, "type", "bridge"]).await?;
        for tap in &self.taps {
            ip(&["-n", ns, "tuntap", "add", "dev", tap, "mode", "tap"]).await?;
            ip(&["-n", ns, "link", "set", tap, "master", BRIDGE, "up"]).await?;
        }
        crate::host::command::add_veth(&self.host_if, PEER, ns).await?;
        ip(&["-n", ns, "link", "set", PEER, "master", BRIDGE, "up"]).await?;
        ip(&["-n", ns, "link", "set", BRIDGE, "up"]).await?;
        let cidr = format!("{}/24", self.host_ip());
        ip(&["addr", "add", &cidr, "dev", &self.host_if]).await?;
        ip(&["link", "set", &self.host_if, "up"]).await?;
        Ok(())
    }

    /// Remove the namespace (its bridge, taps and veth end go with it) and the host
    /// end of the veth. Idempotent; errors are logged (teardown must go on).
    pub async fn destroy(&self) {
        if let Err(e) = ip(&["netns", "del", &self.netns]).await {
            if !e.to_string().contains("No such file") {
                tracing::warn!("{e}");
            }
        }
        // Normally gone with its peer; still there if the namespace never got the peer.
        let _ = ip(&["link", "del", &self.host_if]).await;
    }
}

/// Namespaces whose name starts with `prefix` (for cleanup after a crash).
pub fn namespaces(prefix: &str) -> Vec<String> {
    std::fs::read_dir("/run/netns")
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.starts_with(prefix))
                .collect()
        })
        .unwrap_or_default()
}

/// Delete a namespace by name (cleanup).
pub async fn delete_namespace(name: &str) -> Result<(), PlatformError> {
    ip(&["netns", "del", name]).await.map(|_| ())
}

/// The host end of the veth of namespace `netns`.
pub fn host_if_of(netns: &str) -> String {
    format!("vbh{:08x}", short_hash(netns))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_fit_interface_limits() {
        let n = host_if_of("vb-20261125-192311-1b97-d12");
        assert!(n.len() <= 15, "{n}");
        assert_eq!(n, host_if_of("vb-20261125-192311-1b97-d12"));
        assert_ne!(n, host_if_of("vb-20261125-192311-1b97-d13"));
    }

    #[test]
    fn addresses_and_macs() {
        let b = BridgeNet {
            netns: "x".into(),
            host_if: "vbh0".into(),
            subnet: 42,
            taps: vec![],
        };
        assert_eq!(b.host_ip(), Ipv4Addr::new(10, 214, 42, 1));
        assert_eq!(b.vm_ip(4), Ipv4Addr::new(10, 214, 42, 14));
        assert_eq!(b.vm_mac(1), [0x52, 0x54, 0, 214, 42, 11]);
    }
}
