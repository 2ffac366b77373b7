//! The VM appliance's PID 1 (`/init` of the initramfs, or `calculator init`): mount
//! the kernel file systems, load the virtio modules, bring the network up (static
//! address from the configuration, or DHCP), read the role and peers, serve, reap
//! children and never exit. Boot markers with the guest's own uptime go to the
//! console so that the host can split a boot into firmware+kernel / init / service.

mod config;
mod dhcp;
mod metadata;
mod net;
mod sys;

use std::net::{Ipv4Addr, SocketAddr};
use std::str::FromStr;
use std::time::Duration;

use calculator::{Peers, Role};
use config::{Config, IpSetting, Source};
use sys::{halt_forever, marker, say};

/// Fallback load order when the initramfs has no `modules.load` list.
const DEFAULT_MODULES: [&str; 9] = [
    "virtio_ring",
    "virtio",
    "virtio_pci_modern_dev",
    "virtio_pci_legacy_dev",
    "virtio_pci",
    "failover",
    "net_failover",
    "virtio_net",
    "virtio_blk",
];
const MODULE_LIST: &str = "modules.load";
const DHCP_TIMEOUT: Duration = Duration::from_secs(30);
const METADATA_TIMEOUT: Duration = Duration::from_secs(60);
const IFACE_TIMEOUT: Duration = Duration::from_secs(10);
/// Where hypervisors put per-VM settings for a generic disk (QEMU `-smbios type=1,
/// serial=...`, VirtualBox `DmiSystemSerial`).
const DMI_SERIAL: &str = "/sys/class/dmi/id/product_serial";
const CLOCKSOURCE: &str = "/sys/devices/system/clocksource/clocksource0/current_clocksource";

/// Started by the kernel as `/init`, or asked for with `calculator init`.
pub fn requested() -> bool {
    let mut args = std::env::args_os();
    args.next().is_some_and(|a| a == "/init") || args.next().is_some_and(|a| a == "init")
}

pub fn main() -> ! {
    sys::attach_console();
    marker("init-start", "");
    for (src, dst, fs) in [
        ("proc", "/proc", "proc"),
        ("sysfs", "/sys", "sysfs"),
        ("devtmpfs", "/dev", "devtmpfs"),
    ] {
        if let Err(e) = sys::mount(src, dst, fs) {
            say(&format!("init: {e}"));
        }
    }
    load_modules();
    let cfg = match local_config() {
        Ok(c) => c,
        Err(e) => halt_forever(&e),
    };
    if let Err(e) = network(&cfg) {
        halt_forever(&format!("network: {e}"));
    }
    let cfg = if cfg.role.is_some() {
        cfg
    } else {
        match metadata::user_data(METADATA_TIMEOUT) {
            Ok(Some(text)) => match Config::parse(&text, Source::UserData) {
                Ok(ud) => cfg.or(ud),
                Err(e) => halt_forever(&format!("user_data: {e}")),
            },
            Ok(None) => halt_forever("no virtbench.role on the kernel command line, in the SMBIOS serial or in user_data"),
            Err(e) => halt_forever(&format!("no virtbench.role on the kernel command line or in the SMBIOS serial, and {e}")),
        }
    };
    std::thread::spawn(|| loop {
        sys::reap_children();
        std::thread::sleep(Duration::from_secs(1));
    });
    match serve(&cfg) {
        Ok(()) => halt_forever("the service stopped"),
        Err(e) => halt_forever(&e),
    }
}

fn load_modules() {
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let dir = format!("/lib/modules/{}", release.trim());
    let names: Vec<String> = match std::fs::read_to_string(format!("{dir}/{MODULE_LIST}")) {
        Ok(list) => list
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(String::from)
            .collect(),
        Err(_) => DEFAULT_MODULES.iter().map(|s| s.to_string()).collect(),
    };
    let mut loaded = 0;
    for name in names {
        let path = format!("{dir}/{name}.ko");
        if !std::path::Path::new(&path).exists() {
            continue; // built in, or not shipped by this kernel
        }
        match sys::load_module(&path) {
            Ok(sys::Loaded::Loaded) => loaded += 1,
            Ok(sys::Loaded::AlreadyPresent) => {}
            Err(e) => say(&format!("init: {e}")),
        }
    }
    marker("modules-loaded", &format!("count={loaded}"));
}

/// Configuration available before the network: kernel command line, then SMBIOS.
fn local_config() -> Result<Config, String> {
    let cmdline = std::fs::read_to_string("/proc/cmdline").unwrap_or_default();
    let cfg = Config::parse(&cmdline, Source::Prefixed)
        .map_err(|e| format!("kernel command line: {e}"))?;
    let serial = std::fs::read_to_string(DMI_SERIAL).unwrap_or_default();
    let dmi =
        Config::parse(&serial, Source::Prefixed).map_err(|e| format!("SMBIOS serial: {e}"))?;
    Ok(cfg.or(dmi))
}

/// Loopback, then the Ethernet interface.
fn network(cfg: &Config) -> Result<(), String> {
    net::set_up("lo").map_err(|e| e.to_string())?;
    let iface = match &cfg.iface {
        Some(i) => i.clone(),
        None => wait_for_interface()?,
    };
    net::set_up(&iface).map_err(|e| e.to_string())?;
    let summary = match cfg.ip.clone().unwrap_or(IpSetting::Dhcp) {
        IpSetting::Static { addr, prefix } => {
            net::set_address(&iface, addr, config::netmask(prefix)).map_err(|e| e.to_string())?;
            if let Some(gw) = cfg.gateway {
                default_route(&iface, gw)?;
            }
            let gw = cfg
                .gateway
                .map(|g| g.to_string())
                .unwrap_or_else(|| "none".into());
            format!("iface={iface} addr={addr}/{prefix} gw={gw} via=static")
        }
        IpSetting::Dhcp => {
            let mac = net::mac_address(&iface).map_err(|e| e.to_string())?;
            let lease = dhcp::obtain(&iface, mac, DHCP_TIMEOUT)
                .map_err(|e| format!("DHCP on {iface}: {e}"))?;
            net::set_address(&iface, lease.address, lease.netmask).map_err(|e| e.to_string())?;
            let mut gw = cfg.gateway.or(lease.router);
            if lease.routes.is_empty() {
                if let Some(g) = gw {
                    default_route(&iface, g)?;
                }
            } else {
                for (dst, prefix, via) in &lease.routes {
                    let mask = config::netmask(*prefix);
                    let via = (!via.is_unspecified()).then_some(*via);
                    if *prefix == 0 {
                        gw = via;
                    }
                    let dst_mask = if *prefix == 0 {
                        Ipv4Addr::UNSPECIFIED
                    } else {
                        mask
                    };
                    net::add_route(&iface, *dst, dst_mask, via).map_err(|e| e.to_string())?;
                }
            }
            let gw = gw.map(|g| g.to_string()).unwrap_or_else(|| "none".into());
            format!(
                "iface={iface} addr={}/{} gw={gw} via=dhcp server={}",
                lease.address,
                u32::from(lease.netmask).count_ones(),
                lease.server
            )
        }
    };
    marker("net-up", &summary);
    Ok(())
}

fn default_route(iface: &str, gw: Ipv4Addr) -> Result<(), String> {
    net::add_route(
        iface,
        Ipv4Addr::UNSPECIFIED,
        Ipv4Addr::UNSPECIFIED,
        Some(gw),
    )
    .map_err(|e| e.to_string())
}

fn wait_for_interface() -> Result<String, String> {
    let deadline = std::time::Instant::now() + IFACE_TIMEOUT;
    loop {
        if let Some(i) = net::first_ethernet() {
            return Ok(i);
        }
        if std::time::Instant::now() >= deadline {
            return Err(format!(
                "no network interface appeared within {IFACE_TIMEOUT:?} (virtio_net missing?)"
            ));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Run the configured service(s) on the lab's ports until a fatal error.
fn serve(cfg: &Config) -> Result<(), String> {
    let role_name = cfg.role.as_deref().ok_or("no role")?;
    let role = Role::from_str(role_name).map_err(|e| e.to_string())?;
    let peers = match &cfg.peers {
        Some(list) => Peers::from_str(list).map_err(|e| format!("virtbench.peers={list}: {e}"))?,
        None => Peers::default(),
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("tokio runtime: {e}"))?;
    runtime.block_on(async move {
        let listen = SocketAddr::new(Ipv4Addr::UNSPECIFIED.into(), role.default_port());
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .map_err(|e| format!("binding {listen}: {e}"))?;
        // The clock source says how far the guest's uptime can be trusted (a TSC
        // calibrated on a loaded emulating host may run off).
        let clock = std::fs::read_to_string(CLOCKSOURCE).unwrap_or_default();
        marker(
            "service-ready",
            &format!("role={role} listen={listen} clocksource={}", clock.trim()),
        );
        calculator::serve_on(role, listener, peers, calculator::DEFAULT_TIMEOUT)
            .await
            .map_err(|e| format!("{role}: {e}"))
    })
}
