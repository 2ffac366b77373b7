//! Networking of a docker deployment: the per-run user-defined bridge (a chosen subnet,
//! static container addresses), two bridges joined by a router container (routed), or
//! the host's own network, and the addresses each role listens on and is reached at.

use std::net::{Ipv4Addr, SocketAddr};

use bollard::models::{Ipam, IpamConfig, NetworkCreateRequest};
use bollard::query_parameters::ListNetworksOptions;
use bollard::Docker as Engine;

use super::{engine_error, labels};
use crate::platform::{default_port, PlatformError, ROLES};

/// How the five containers are networked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NetworkMode {
    /// User-defined bridge with static addresses; the calculator's port is published on
    /// 127.0.0.1 (NAT + port forwarding, the lab's set-up).
    Bridge { subnet: Subnet },
    /// The host's network namespace: no NAT, each role on its own loopback port.
    Host,
    /// The lab's routed topology: the four sub-services on `services`, the calculator
    /// on `front` (port published on 127.0.0.1 as in bridge mode), a router container
    /// on both at each subnet's last host address (10.5.7.254, 10.5.8.254).
    Routed { services: Subnet, front: Subnet },
}

impl NetworkMode {
    pub fn name(&self) -> &'static str {
        match self {
            NetworkMode::Bridge { .. } => "bridge",
            NetworkMode::Host => "host",
            NetworkMode::Routed { .. } => "routed",
        }
    }

    /// The subnet a role's container sits on (none on the host network).
    pub fn subnet_of(&self, role: &str) -> Option<&Subnet> {
        match self {
            NetworkMode::Bridge { subnet } => Some(subnet),
            NetworkMode::Host => None,
            NetworkMode::Routed { front, .. } if role == "calculator" => Some(front),
            NetworkMode::Routed { services, .. } => Some(services),
        }
    }
}

/// An IPv4 subnet such as `10.213.0.0/24`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Subnet {
    pub network: Ipv4Addr,
    pub prefix: u8,
}

impl Subnet {
    /// Parse `a.b.c.d/len`; host bits are cleared (10.213.0.7/24 means 10.213.0.0/24).
    pub fn parse(s: &str) -> Result<Subnet, String> {
        let (ip, len) = s.split_once('/').ok_or_else(|| {
            format!("docker.subnet {s:?}: expected an IPv4 CIDR such as 10.213.0.0/24")
        })?;
        let ip: Ipv4Addr = ip
            .parse()
            .map_err(|_| format!("docker.subnet {s:?}: {ip:?} is not an IPv4 address"))?;
        let prefix: u8 = len
            .parse()
            .ok()
            .filter(|l| *l <= 32)
            .ok_or_else(|| format!("docker.subnet {s:?}: bad prefix length {len:?}"))?;
        let subnet = Subnet {
            network: Ipv4Addr::from(u32::from(ip) & Self::mask(prefix)),
            prefix,
        };
        // Network address, gateway, five containers, broadcast.
        if subnet.size() < ROLES.len() as u64 + 3 {
            return Err(format!(
                "docker.subnet {s:?}: a /{prefix} has room for {} containers, {} are needed",
                subnet.size().saturating_sub(3),
                ROLES.len()
            ));
        }
        Ok(subnet)
    }

    fn mask(prefix: u8) -> u32 {
        if prefix == 0 {
            0
        } else {
            u32::MAX << (32 - prefix)
        }
    }

    fn size(&self) -> u64 {
        1u64 << (32 - self.prefix)
    }

    fn nth(&self, n: u32) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.network) + n)
    }

    /// The bridge's own address (first host address).
    pub fn gateway(&self) -> Ipv4Addr {
        self.nth(1)
    }

    /// Static address of the role at `index` in [`ROLES`]: .2, .3, ... after the gateway.
    pub fn role_address(&self, index: usize) -> Ipv4Addr {
        self.nth(2 + index as u32)
    }

    /// The router container's address: the last host address (.254 of a /24), clear of
    /// the gateway and the role addresses.
    pub fn router_address(&self) -> Result<Ipv4Addr, String> {
        let last = self.size() - 2;
        if last < 2 + ROLES.len() as u64 {
            return Err(format!(
                "docker: subnet {self} has no room for a router after the {} roles",
                ROLES.len()
            ));
        }
        Ok(self.nth(last as u32))
    }
}

impl std::fmt::Display for Subnet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix)
    }
}

/// Where one role listens and how the others reach it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleAddress {
    pub role: &'static str,
    /// `--listen` address inside the container.
    pub listen: SocketAddr,
    /// Base URL the calculator uses to call this role.
    pub url: String,
    /// Static address on the bridge (bridge mode only).
    pub ip: Option<Ipv4Addr>,
}

/// Addresses of all roles, in [`ROLES`] order. `host_ports` (host mode) gives each
/// role's loopback port, in the same order.
pub fn role_addresses(mode: &NetworkMode, host_ports: &[u16]) -> Vec<RoleAddress> {
    ROLES
        .iter()
        .enumerate()
        .map(|(i, &role)| match mode {
            NetworkMode::Bridge { .. } | NetworkMode::Routed { .. } => {
                let ip = mode
                    .subnet_of(role)
                    .expect("bridged roles have a subnet")
                    .role_address(i);
                let port = default_port(role);
                RoleAddress {
                    role,
                    listen: SocketAddr::from((Ipv4Addr::UNSPECIFIED, port)),
                    url: format!("http://{ip}:{port}"),
                    ip: Some(ip),
                }
            }
            NetworkMode::Host => {
                let port = host_ports[i];
                RoleAddress {
                    role,
                    listen: SocketAddr::from((Ipv4Addr::LOCALHOST, port)),
                    url: format!("http://127.0.0.1:{port}"),
                    ip: None,
                }
            }
        })
        .collect()
}

/// Create the run's bridge network; returns its id.
pub async fn create_bridge(
    engine: &Engine,
    name: &str,
    run_id: &str,
    subnet: &Subnet,
) -> Result<String, PlatformError> {
    // No `CheckDuplicate`: bollard's request lost the field (API 1.44 made the check
    // unconditional). Older engines would accept a second network of this name, but
    // the name holds the run id, and the subnet clash is what is caught below.
    let options = NetworkCreateRequest {
        name: name.to_string(),
        driver: Some("bridge".to_string()),
        ipam: Some(Ipam {
            driver: Some("default".into()),
            config: Some(vec![IpamConfig {
                subnet: Some(subnet.to_string()),
                gateway: Some(subnet.gateway().to_string()),
                ..Default::default()
            }]),
            options: None,
        }),
        labels: Some(labels(run_id, None)),
        ..Default::default()
    };
    match engine.create_network(options).await {
        Ok(created) => Ok(created.id),
        Err(e) => {
            let mut err = engine_error(&format!("creating network {name} ({subnet})"), &e);
            if let Some(other) = network_using(engine, subnet).await {
                err = PlatformError::at(
                    "docker",
                    format!("creating network {name} ({subnet})"),
                    format!(
                        "network {other:?} already uses {subnet} (a leftover of an earlier run?)"
                    ),
                )
                .with_fix(format!(
                    "`docker network rm {other}`, or set [docker] subnet in the scenario"
                ));
            }
            Err(err)
        }
    }
}

/// The name of an existing network whose IPAM config holds `subnet`.
async fn network_using(engine: &Engine, subnet: &Subnet) -> Option<String> {
    let networks = engine
        .list_networks(None::<ListNetworksOptions>)
        .await
        .ok()?;
    let wanted = subnet.to_string();
    networks.into_iter().find_map(|n| {
        let uses = n
            .ipam
            .as_ref()
            .and_then(|i| i.config.as_ref())
            .is_some_and(|c| {
                c.iter()
                    .any(|c| c.subnet.as_deref() == Some(wanted.as_str()))
            });
        uses.then(|| n.name.unwrap_or_default())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subnet_addresses() {
        let s = Subnet::parse("10.213.0.7/24").unwrap();
        assert_eq!(s.to_string(), "10.213.0.0/24");
        assert_eq!(s.gateway(), Ipv4Addr::new(10, 213, 0, 1));
        assert_eq!(s.role_address(0), Ipv4Addr::new(10, 213, 0, 2));
        assert_eq!(s.role_address(4), Ipv4Addr::new(10, 213, 0, 6));
    }

    #[test]
    fn subnet_too_small_is_rejected() {
        let e = Subnet::parse("10.0.0.0/30").unwrap_err();
        assert!(e.contains("room for 1 containers, 5 are needed"), "{e}");
        assert!(Subnet::parse("10.0.0.0/29").is_ok());
        assert!(Subnet::parse("10.0.0.0").is_err());
        assert!(Subnet::parse("10.0.0.0/33").is_err());
    }

    #[test]
    fn bridge_roles_use_lab_ports_and_static_addresses() {
        let mode = NetworkMode::Bridge {
            subnet: Subnet::parse("10.213.0.0/24").unwrap(),
        };
        let a = role_addresses(&mode, &[]);
        assert_eq!(a[0].role, "sum");
        assert_eq!(a[0].url, "http://10.213.0.2:50001");
        assert_eq!(a[0].listen.to_string(), "0.0.0.0:50001");
        assert_eq!(a[4].role, "calculator");
        assert_eq!(a[4].listen.to_string(), "0.0.0.0:50000");
    }

    #[test]
    fn routed_roles_split_over_two_subnets() {
        let services = Subnet::parse("10.5.7.0/24").unwrap();
        let front = Subnet::parse("10.5.8.0/24").unwrap();
        assert_eq!(front.router_address(), Ok(Ipv4Addr::new(10, 5, 8, 254)));
        assert!(Subnet::parse("10.0.0.0/29")
            .unwrap()
            .router_address()
            .is_err());
        assert_eq!(
            Subnet::parse("10.0.0.0/28").unwrap().router_address(),
            Ok(Ipv4Addr::new(10, 0, 0, 14))
        );
        let a = role_addresses(&NetworkMode::Routed { services, front }, &[]);
        assert_eq!(a[0].url, "http://10.5.7.2:50001");
        assert_eq!(a[3].url, "http://10.5.7.5:50004");
        assert_eq!(a[4].ip, Some(Ipv4Addr::new(10, 5, 8, 6)));
        assert_eq!(a[4].listen.to_string(), "0.0.0.0:50000");
    }

    #[test]
    fn host_roles_listen_on_loopback_ports() {
        let a = role_addresses(&NetworkMode::Host, &[4001, 4002, 4003, 4004, 4000]);
        assert_eq!(a[1].listen.to_string(), "127.0.0.1:4002");
        assert_eq!(a[1].url, "http://127.0.0.1:4002");
        assert!(a.iter().all(|r| r.ip.is_none()));
    }
}
