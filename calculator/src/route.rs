//! `--route DST/LEN,GATEWAY`: a static route added at start. The docker routed topology
//! puts the sub-services and the calculator on two networks joined by a router
//! container; the images have no `ip` binary, so the service sets its own route.

use std::fmt;
use std::net::Ipv4Addr;
use std::str::FromStr;

use crate::net;

/// A route to `dst/prefix` through `via`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Route {
    pub dst: Ipv4Addr,
    pub prefix: u8,
    pub via: Ipv4Addr,
}

impl Route {
    /// Add the route (needs CAP_NET_ADMIN); the kernel picks the interface that
    /// reaches the gateway.
    pub fn add(&self) -> std::io::Result<()> {
        net::add_route(None, self.dst, net::netmask(self.prefix), Some(self.via))
    }

    /// Several routes separated by `;` or white space (the environment variable form).
    pub fn parse_list(value: &str) -> Result<Vec<Route>, String> {
        value
            .split(|c: char| c == ';' || c.is_whitespace())
            .filter(|s| !s.is_empty())
            .map(str::parse)
            .collect()
    }
}

impl FromStr for Route {
    type Err = String;

    fn from_str(s: &str) -> Result<Route, String> {
        let bad = || format!("'{s}' is not DST/LEN,GATEWAY (e.g. 10.5.7.0/24,10.5.8.254)");
        let (net, via) = s.split_once(',').ok_or_else(bad)?;
        let (dst, len) = net.split_once('/').ok_or_else(bad)?;
        let dst: Ipv4Addr = dst.trim().parse().map_err(|_| bad())?;
        let prefix: u8 = len
            .trim()
            .parse()
            .ok()
            .filter(|l| *l <= 32)
            .ok_or_else(bad)?;
        let via: Ipv4Addr = via.trim().parse().map_err(|_| bad())?;
        // The kernel refuses a destination with host bits set: clear them.
        let dst = Ipv4Addr::from(u32::from(dst) & u32::from(net::netmask(prefix)));
        Ok(Route { dst, prefix, via })
    }
}

impl fmt::Display for Route {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{},{}", self.dst, self.prefix, self.via)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_destination_and_gateway() {
        let r: Route = "10.5.7.9/24,10.5.8.254".parse().unwrap();
        assert_eq!(r.dst, Ipv4Addr::new(10, 5, 7, 0), "host bits cleared");
        assert_eq!(r.prefix, 24);
        assert_eq!(r.via, Ipv4Addr::new(10, 5, 8, 254));
        assert_eq!(r.to_string(), "10.5.7.0/24,10.5.8.254");
        let all = Route::parse_list("10.5.7.0/24,10.5.8.254; 0.0.0.0/0,10.0.0.1").unwrap();
        assert_eq!(all.len(), 2);
        assert_eq!(all[1].prefix, 0);
    }

    #[test]
    fn rejects_malformed_routes() {
        for bad in [
            "10.5.7.0/24",
            "10.5.7.0,10.5.8.254",
            "10.5.7.0/33,10.5.8.254",
            "10.5.7/24,10.5.8.254",
            "10.5.7.0/24,router",
        ] {
            let e = bad.parse::<Route>().unwrap_err();
            assert!(e.contains("is not DST/LEN,GATEWAY"), "{bad}: {e}");
        }
    }
}
