//! A minimal DHCPv4 client (RFC 2131): DISCOVER, OFFER, REQUEST, ACK over a UDP
//! broadcast socket bound to the interface. Enough for QEMU's and VirtualBox's NAT
//! and OpenStack Neutron; the lease is not renewed (those servers lease for a day or
//! more, longer than a benchmark run).

use std::io;
use std::net::{Ipv4Addr, SocketAddrV4, UdpSocket};
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

const MAGIC_COOKIE: [u8; 4] = [99, 130, 83, 99];
const DISCOVER: u8 = 1;
const OFFER: u8 = 2;
const REQUEST: u8 = 3;
const ACK: u8 = 5;
const NAK: u8 = 6;

/// What the server granted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    pub address: Ipv4Addr,
    pub netmask: Ipv4Addr,
    pub router: Option<Ipv4Addr>,
    /// Option 121 (classless static routes): (destination, prefix, gateway). When
    /// present, clients must use it instead of the router option (RFC 3442).
    pub routes: Vec<(Ipv4Addr, u8, Ipv4Addr)>,
    pub server: Ipv4Addr,
    pub lease_s: Option<u32>,
}

/// A parsed server reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub xid: u32,
    pub kind: u8,
    pub yiaddr: Ipv4Addr,
    pub server_id: Option<Ipv4Addr>,
    pub netmask: Option<Ipv4Addr>,
    pub router: Option<Ipv4Addr>,
    pub routes: Vec<(Ipv4Addr, u8, Ipv4Addr)>,
    pub lease_s: Option<u32>,
}

/// A BOOTREQUEST with the broadcast flag (we have no address to receive unicast on).
pub fn build_message(
    kind: u8,
    xid: u32,
    mac: [u8; 6],
    requested: Option<(Ipv4Addr, Ipv4Addr)>,
) -> Vec<u8> {
    let mut m = vec![0u8; 236];
    m[0] = 1; // BOOTREQUEST
    m[1] = 1; // Ethernet
    m[2] = 6; // hardware address length
    m[4..8].copy_from_slice(&xid.to_be_bytes());
    m[10] = 0x80; // flags: broadcast
    m[28..34].copy_from_slice(&mac);
    m.extend_from_slice(&MAGIC_COOKIE);
    m.extend_from_slice(&[53, 1, kind]);
    // Client identifier: hardware type + MAC.
    m.extend_from_slice(&[61, 7, 1]);
    m.extend_from_slice(&mac);
    if let Some((addr, server)) = requested {
        m.push(50);
        m.push(4);
        m.extend_from_slice(&addr.octets());
        m.push(54);
        m.push(4);
        m.extend_from_slice(&server.octets());
    }
    // Parameter request list: netmask, router, classless routes, lease time.
    m.extend_from_slice(&[55, 4, 1, 3, 121, 51]);
    m.push(255);
    // Some servers drop messages shorter than a BOOTP packet (300 bytes).
    if m.len() < 300 {
        m.resize(300, 0);
    }
    m
}

fn ip_at(b: &[u8]) -> Option<Ipv4Addr> {
    Some(Ipv4Addr::new(
        *b.first()?,
        *b.get(1)?,
        *b.get(2)?,
        *b.get(3)?,
    ))
}

/// Parse a BOOTREPLY; None when it is not a well-formed DHCP reply.
pub fn parse_reply(b: &[u8]) -> Option<Reply> {
    if b.len() < 240 || b[0] != 2 || b[236..240] != MAGIC_COOKIE {
        return None;
    }
    let mut r = Reply {
        xid: u32::from_be_bytes(b[4..8].try_into().ok()?),
        kind: 0,
        yiaddr: ip_at(&b[16..20])?,
        server_id: None,
        netmask: None,
        router: None,
        routes: Vec::new(),
        lease_s: None,
    };
    let mut i = 240;
    while i < b.len() {
        let code = b[i];
        if code == 255 {
            break;
        }
        if code == 0 {
            i += 1;
            continue;
        }
        let len = *b.get(i + 1)? as usize;
        let v = b.get(i + 2..i + 2 + len)?;
        match code {
            53 if len == 1 => r.kind = v[0],
            54 => r.server_id = ip_at(v),
            1 => r.netmask = ip_at(v),
            3 => r.router = ip_at(v),
            51 if len == 4 => r.lease_s = Some(u32::from_be_bytes(v.try_into().ok()?)),
            121 => r.routes = parse_classless_routes(v)?,
            _ => {}
        }
        i += 2 + len;
    }
    (r.kind != 0).then_some(r)
}

/// RFC 3442: each route is a prefix length, the significant octets of the
/// destination, then the gateway.
fn parse_classless_routes(mut v: &[u8]) -> Option<Vec<(Ipv4Addr, u8, Ipv4Addr)>> {
    let mut routes = Vec::new();
    while !v.is_empty() {
        let prefix = v[0];
        if prefix > 32 {
            return None;
        }
        let n = (prefix as usize).div_ceil(8);
        let mut dst = [0u8; 4];
        dst[..n].copy_from_slice(v.get(1..1 + n)?);
        let gw = ip_at(v.get(1 + n..5 + n)?)?;
        routes.push((Ipv4Addr::from(dst), prefix, gw));
        v = &v[5 + n..];
    }
    Some(routes)
}

fn broadcast_socket(iface: &str) -> io::Result<UdpSocket> {
    let sock = UdpSocket::bind("0.0.0.0:68")?;
    sock.set_broadcast(true)?;
    // Without an address the kernel would not know where to send the broadcast.
    // SAFETY: valid fd, option value is the interface name of the given length.
    let rc = unsafe {
        libc::setsockopt(
            sock.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_BINDTODEVICE,
            iface.as_ptr().cast(),
            iface.len() as libc::socklen_t,
        )
    };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(sock)
}

/// Wait for a reply of one of `kinds` to `xid`, resending `msg` every second.
fn exchange(
    sock: &UdpSocket,
    msg: &[u8],
    xid: u32,
    kinds: &[u8],
    deadline: Instant,
) -> io::Result<Reply> {
    let server = SocketAddrV4::new(Ipv4Addr::BROADCAST, 67);
    let mut buf = [0u8; 1500];
    loop {
        sock.send_to(msg, server)?;
        let resend_at = Instant::now() + Duration::from_secs(1);
        loop {
            let now = Instant::now();
            if now >= deadline {
                return Err(io::Error::new(io::ErrorKind::TimedOut, "no DHCP answer"));
            }
            sock.set_read_timeout(Some(
                resend_at
                    .min(deadline)
                    .saturating_duration_since(now)
                    .max(Duration::from_millis(1)),
            ))?;
            match sock.recv_from(&mut buf) {
                Ok((n, _)) => {
                    if let Some(r) = parse_reply(&buf[..n]) {
                        if r.xid == xid && kinds.contains(&r.kind) {
                            return Ok(r);
                        }
                    }
                }
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) =>
                {
                    if Instant::now() >= resend_at {
                        break;
                    }
                }
                Err(e) => return Err(e),
            }
        }
    }
}

/// Obtain a lease on `iface` (which must be up), trying until `timeout`.
pub fn obtain(iface: &str, mac: [u8; 6], timeout: Duration) -> io::Result<Lease> {
    let deadline = Instant::now() + timeout;
    let sock = broadcast_socket(iface)?;
    let xid = u32::from_be_bytes([mac[2], mac[3], mac[4], mac[5]])
        ^ (std::process::id() << 16)
        ^ 0x5642_4e43;
    loop {
        let offer = exchange(
            &sock,
            &build_message(DISCOVER, xid, mac, None),
            xid,
            &[OFFER],
            deadline,
        )?;
        let server = offer.server_id.ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                "DHCP offer without a server identifier",
            )
        })?;
        let request = build_message(REQUEST, xid, mac, Some((offer.yiaddr, server)));
        let ack = exchange(&sock, &request, xid, &[ACK, NAK], deadline)?;
        if ack.kind == NAK {
            // The offer went to someone else meanwhile: start over.
            continue;
        }
        return Ok(Lease {
            address: ack.yiaddr,
            netmask: ack
                .netmask
                .or(offer.netmask)
                .unwrap_or(Ipv4Addr::new(255, 255, 255, 0)),
            router: ack.router.or(offer.router),
            routes: ack.routes,
            server,
            lease_s: ack.lease_s,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAC: [u8; 6] = [0x52, 0x54, 0x00, 0x12, 0x34, 0x56];

    fn option(msg: &[u8], code: u8) -> Option<&[u8]> {
        let mut i = 240;
        while i < msg.len() && msg[i] != 255 {
            let len = msg[i + 1] as usize;
            if msg[i] == code {
                return Some(&msg[i + 2..i + 2 + len]);
            }
            i += 2 + len;
        }
        None
    }

    #[test]
    fn discover_layout() {
        let m = build_message(DISCOVER, 0xdeadbeef, MAC, None);
        assert_eq!(m.len(), 300);
        assert_eq!(&m[..4], &[1, 1, 6, 0]);
        assert_eq!(&m[4..8], &[0xde, 0xad, 0xbe, 0xef]);
        assert_eq!(m[10], 0x80);
        assert_eq!(&m[28..34], &MAC);
        assert_eq!(&m[236..240], &MAGIC_COOKIE);
        assert_eq!(option(&m, 53), Some(&[DISCOVER][..]));
        assert_eq!(option(&m, 50), None);
    }

    #[test]
    fn request_names_address_and_server() {
        let m = build_message(
            REQUEST,
            1,
            MAC,
            Some((Ipv4Addr::new(10, 0, 2, 15), Ipv4Addr::new(10, 0, 2, 2))),
        );
        assert_eq!(option(&m, 53), Some(&[REQUEST][..]));
        assert_eq!(option(&m, 50), Some(&[10, 0, 2, 15][..]));
        assert_eq!(option(&m, 54), Some(&[10, 0, 2, 2][..]));
    }

    fn reply(kind: u8, options: &[u8]) -> Vec<u8> {
        let mut b = vec![0u8; 236];
        b[0] = 2;
        b[4..8].copy_from_slice(&7u32.to_be_bytes());
        b[16..20].copy_from_slice(&[10, 0, 2, 15]);
        b.extend_from_slice(&MAGIC_COOKIE);
        b.extend_from_slice(&[53, 1, kind]);
        b.extend_from_slice(options);
        b.push(255);
        b
    }

    #[test]
    fn parses_an_offer_like_slirps() {
        let b = reply(
            OFFER,
            &[
                54, 4, 10, 0, 2, 2, 1, 4, 255, 255, 255, 0, 3, 4, 10, 0, 2, 2, 51, 4, 0, 1, 81,
                128, 0, 0,
            ],
        );
        let r = parse_reply(&b).unwrap();
        assert_eq!(r.xid, 7);
        assert_eq!(r.kind, OFFER);
        assert_eq!(r.yiaddr, Ipv4Addr::new(10, 0, 2, 15));
        assert_eq!(r.server_id, Some(Ipv4Addr::new(10, 0, 2, 2)));
        assert_eq!(r.netmask, Some(Ipv4Addr::new(255, 255, 255, 0)));
        assert_eq!(r.router, Some(Ipv4Addr::new(10, 0, 2, 2)));
        assert_eq!(r.lease_s, Some(86400));
    }

    #[test]
    fn parses_classless_routes_like_neutrons() {
        // 169.254.169.254/32 via 10.0.0.2, and 0.0.0.0/0 via 10.0.0.1
        let routes = [121, 14, 32, 169, 254, 169, 254, 10, 0, 0, 2, 0, 10, 0, 0, 1];
        let r = parse_reply(&reply(ACK, &routes)).unwrap();
        assert_eq!(
            r.routes,
            vec![
                (
                    Ipv4Addr::new(169, 254, 169, 254),
                    32,
                    Ipv4Addr::new(10, 0, 0, 2)
                ),
                (Ipv4Addr::UNSPECIFIED, 0, Ipv4Addr::new(10, 0, 0, 1)),
            ]
        );
    }

    #[test]
    fn rejects_garbage() {
        assert_eq!(parse_reply(&[0u8; 10]), None);
        let mut b = reply(OFFER, &[]);
        b[0] = 1; // a request, not a reply
        assert_eq!(parse_reply(&b), None);
        let truncated = reply(OFFER, &[1, 4, 255]);
        assert_eq!(parse_reply(&truncated[..truncated.len() - 1]), None);
        assert_eq!(parse_reply(&reply(ACK, &[121, 5, 33, 0, 0, 0, 0])), None);
    }
}
