//! Interface and route setup with the classic ioctls (no netlink, no `ip` binary):
//! enough for one address, a netmask and a few routes.

use std::io;
use std::net::Ipv4Addr;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

// linux/sockios.h
const SIOCADDRT: libc::c_ulong = 0x890B;
const SIOCGIFFLAGS: libc::c_ulong = 0x8913;
const SIOCSIFFLAGS: libc::c_ulong = 0x8914;
const SIOCSIFADDR: libc::c_ulong = 0x8916;
const SIOCSIFNETMASK: libc::c_ulong = 0x891C;
const SIOCGIFHWADDR: libc::c_ulong = 0x8927;
// linux/route.h
const RTF_UP: u16 = 0x0001;
const RTF_GATEWAY: u16 = 0x0002;

/// `struct ifreq`: a name and a 24-byte union (flags, a sockaddr...).
#[repr(C)]
struct IfReq {
    name: [u8; libc::IFNAMSIZ],
    data: [u8; 24],
}

/// `struct rtentry` (x86_64 layout).
#[repr(C)]
struct RtEntry {
    rt_pad1: libc::c_ulong,
    rt_dst: libc::sockaddr,
    rt_gateway: libc::sockaddr,
    rt_genmask: libc::sockaddr,
    rt_flags: libc::c_ushort,
    rt_pad2: libc::c_short,
    rt_pad3: libc::c_ulong,
    rt_pad4: *mut libc::c_void,
    rt_metric: libc::c_short,
    rt_dev: *mut libc::c_char,
    rt_mtu: libc::c_ulong,
    rt_window: libc::c_ulong,
    rt_irtt: libc::c_ushort,
}

fn control_socket() -> io::Result<OwnedFd> {
    // SAFETY: plain syscall; the fd is owned right away.
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: fd is a fresh, valid descriptor.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

fn ifreq(iface: &str) -> io::Result<IfReq> {
    let mut req = IfReq {
        name: [0; libc::IFNAMSIZ],
        data: [0; 24],
    };
    if iface.len() >= libc::IFNAMSIZ {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("interface name {iface} too long"),
        ));
    }
    req.name[..iface.len()].copy_from_slice(iface.as_bytes());
    Ok(req)
}

fn ioctl<T>(fd: &OwnedFd, request: libc::c_ulong, arg: &mut T, what: &str) -> io::Result<()> {
    // SAFETY: `arg` points to a properly laid out struct for `request`.
    let rc = unsafe { libc::ioctl(fd.as_raw_fd(), request, arg as *mut T) };
    if rc < 0 {
        let e = io::Error::last_os_error();
        return Err(io::Error::new(e.kind(), format!("{what}: {e}")));
    }
    Ok(())
}

fn sockaddr_in(addr: Ipv4Addr) -> libc::sockaddr {
    let sin = libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: 0,
        sin_addr: libc::in_addr {
            s_addr: u32::from(addr).to_be(),
        },
        sin_zero: [0; 8],
    };
    // SAFETY: sockaddr_in and sockaddr have the same size; this is how the API is used.
    unsafe { std::mem::transmute::<libc::sockaddr_in, libc::sockaddr>(sin) }
}

fn put_sockaddr(req: &mut IfReq, addr: Ipv4Addr) {
    let sa = sockaddr_in(addr);
    // SAFETY: sockaddr is 16 plain bytes and fits the 24-byte union.
    let bytes: [u8; 16] = unsafe { std::mem::transmute(sa) };
    req.data[..16].copy_from_slice(&bytes);
}

/// Set IFF_UP (keeping the other flags).
pub fn set_up(iface: &str) -> io::Result<()> {
    let fd = control_socket()?;
    let mut req = ifreq(iface)?;
    ioctl(
        &fd,
        SIOCGIFFLAGS,
        &mut req,
        &format!("SIOCGIFFLAGS {iface}"),
    )?;
    let flags = i16::from_ne_bytes([req.data[0], req.data[1]]) | libc::IFF_UP as i16;
    req.data[..2].copy_from_slice(&flags.to_ne_bytes());
    ioctl(
        &fd,
        SIOCSIFFLAGS,
        &mut req,
        &format!("SIOCSIFFLAGS {iface}"),
    )
}

pub fn set_address(iface: &str, addr: Ipv4Addr, mask: Ipv4Addr) -> io::Result<()> {
    let fd = control_socket()?;
    let mut req = ifreq(iface)?;
    put_sockaddr(&mut req, addr);
    ioctl(
        &fd,
        SIOCSIFADDR,
        &mut req,
        &format!("SIOCSIFADDR {iface} {addr}"),
    )?;
    let mut req = ifreq(iface)?;
    put_sockaddr(&mut req, mask);
    ioctl(
        &fd,
        SIOCSIFNETMASK,
        &mut req,
        &format!("SIOCSIFNETMASK {iface} {mask}"),
    )
}

pub fn mac_address(iface: &str) -> io::Result<[u8; 6]> {
    let fd = control_socket()?;
    let mut req = ifreq(iface)?;
    ioctl(
        &fd,
        SIOCGIFHWADDR,
        &mut req,
        &format!("SIOCGIFHWADDR {iface}"),
    )?;
    // struct sockaddr: 2 bytes of family, then the hardware address.
    let mut mac = [0u8; 6];
    mac.copy_from_slice(&req.data[2..8]);
    Ok(mac)
}

/// Add a route to `dst/mask`, through `gateway` (None: on-link).
pub fn add_route(
    iface: &str,
    dst: Ipv4Addr,
    mask: Ipv4Addr,
    gateway: Option<Ipv4Addr>,
) -> io::Result<()> {
    let fd = control_socket()?;
    let mut dev = std::ffi::CString::new(iface)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "interface name with NUL"))?
        .into_bytes_with_nul();
    let mut rt = RtEntry {
        rt_pad1: 0,
        rt_dst: sockaddr_in(dst),
        rt_gateway: sockaddr_in(gateway.unwrap_or(Ipv4Addr::UNSPECIFIED)),
        rt_genmask: sockaddr_in(mask),
        rt_flags: RTF_UP | if gateway.is_some() { RTF_GATEWAY } else { 0 },
        rt_pad2: 0,
        rt_pad3: 0,
        rt_pad4: std::ptr::null_mut(),
        rt_metric: 0,
        rt_dev: dev.as_mut_ptr().cast(),
        rt_mtu: 0,
        rt_window: 0,
        rt_irtt: 0,
    };
    let via = gateway.map(|g| format!(" via {g}")).unwrap_or_default();
    ioctl(
        &fd,
        SIOCADDRT,
        &mut rt,
        &format!("SIOCADDRT {dst}/{mask}{via} dev {iface}"),
    )
}

/// The first interface that is not loopback, by name order (eth0 before eth1).
pub fn first_ethernet() -> Option<String> {
    let mut names: Vec<String> = std::fs::read_dir("/sys/class/net")
        .ok()?
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n != "lo")
        .collect();
    names.sort();
    names.into_iter().next()
}
