//! The QEMU command line of one VM, built from a description (pure: unit tested).

use std::ffi::OsString;
use std::net::Ipv4Addr;
use std::path::PathBuf;

/// Accelerator actually used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Accel {
    Kvm,
    Tcg,
}

impl Accel {
    pub fn name(self) -> &'static str {
        match self {
            Accel::Kvm => "kvm",
            Accel::Tcg => "tcg",
        }
    }
}

/// Machine type. q35: a PC with PCI (virtio-pci devices), SeaBIOS, and the legacy
/// devices a distribution kernel probes; it also boots a disk. microvm: QEMU's minimal
/// machine (qboot firmware, no PCI, virtio devices on MMIO), direct kernel boot only:
/// what Firecracker-style VMMs offer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Machine {
    Q35,
    /// `acpi`: describe the virtio-mmio devices in ACPI tables (what Debian's kernel
    /// finds them by: it lacks `VIRTIO_MMIO_CMDLINE_DEVICES`); without, QEMU names them
    /// on the kernel command line (`virtio_mmio.device=`), as Firecracker does, and a
    /// kernel without ACPI skips its interpreter.
    Microvm {
        acpi: bool,
    },
}

impl Machine {
    pub fn name(self) -> &'static str {
        match self {
            Machine::Q35 => "q35",
            Machine::Microvm { .. } => "microvm",
        }
    }

    pub fn parse(s: &str) -> Option<Machine> {
        match s {
            "q35" => Some(Machine::Q35),
            "microvm" => Some(Machine::Microvm { acpi: true }),
            _ => None,
        }
    }

    /// The `-machine` value. microvm keeps its defaults otherwise (PIT, PIC, RTC,
    /// serial): its PIT has no speaker port, so a kernel cannot calibrate the TSC
    /// against it, see [`tsc_append`].
    pub fn spec(self, accel: Accel) -> String {
        match self {
            Machine::Q35 => format!("q35,accel={}", accel.name()),
            Machine::Microvm { acpi } => format!(
                "microvm,accel={},acpi={}",
                accel.name(),
                if acpi { "on" } else { "off" }
            ),
        }
    }

    /// The virtio device model's name on this machine's bus.
    fn virtio(self, device: &str) -> String {
        match self {
            Machine::Q35 => format!("{device}-pci"),
            Machine::Microvm { .. } => format!("{device}-device"),
        }
    }
}

/// The guest clock's kernel parameters. q35: [`GUEST_CLOCK`] (no TSC: the HPET under
/// TCG, kvm-clock under KVM). microvm under TCG has no HPET, no ACPI PM timer, and its
/// PIT no speaker port: the kernel cannot measure the TSC's frequency and, without one,
/// hangs setting up its timers (seen here). Under TCG the guest's TSC is the host's, so
/// the host's frequency (`tsc_khz`, measured) is given, and the TSC is declared
/// reliable: the only watchdog left, jiffies, drifts on a loaded host and would demote
/// the TSC to jiffies, whose uptime (the boot phases') runs slow. Under KVM, kvm-clock.
///
/// [`GUEST_CLOCK`]: crate::artifact::disk::GUEST_CLOCK
pub fn guest_clock(machine: Machine, accel: Accel, tsc_khz: Option<u64>) -> String {
    match (machine, accel, tsc_khz) {
        (Machine::Microvm { .. }, Accel::Tcg, Some(khz)) => {
            format!("no_timer_check tsc_early_khz={khz} tsc=reliable")
        }
        _ => crate::artifact::disk::GUEST_CLOCK.to_string(),
    }
}

/// The guest side of the user-mode network (QEMU's and VirtualBox's defaults).
pub const NAT_GUEST_IP: Ipv4Addr = Ipv4Addr::new(10, 0, 2, 15);
/// The host as seen from the guest: connections go to the host's loopback.
pub const NAT_HOST_IP: Ipv4Addr = Ipv4Addr::new(10, 0, 2, 2);

#[derive(Debug, Clone, PartialEq)]
pub enum Boot {
    /// Direct kernel boot; the configuration is on the kernel command line.
    Kernel {
        kernel: PathBuf,
        initrd: PathBuf,
        append: String,
    },
    /// BIOS boot of the generic disk; the configuration is in the SMBIOS serial.
    Disk {
        image: PathBuf,
        smbios_serial: String,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub enum Net {
    None,
    /// User-mode NAT with forwarded ports (host port on 127.0.0.1, guest port).
    Nat {
        forwards: Vec<(u16, u16)>,
        /// Serve this text as OpenStack's `user_data` at 169.254.169.254 (the slirp
        /// network then is 169.254.169.0/24 so that the address is inside it): the
        /// metadata route of the appliance, exercised without OpenStack.
        user_data: Option<String>,
    },
    /// A tap device (bridged mode).
    Tap {
        ifname: String,
        mac: [u8; 6],
    },
}

#[derive(Debug, Clone, PartialEq)]
pub struct VmSpec {
    /// `vb-<run id>-<role>`: how cleanup finds the process in /proc.
    pub name: String,
    pub accel: Accel,
    pub machine: Machine,
    pub memory_mib: u32,
    pub cpus: u32,
    pub boot: Boot,
    pub net: Net,
    pub console_log: PathBuf,
    pub qmp_socket: Option<PathBuf>,
    /// Network namespace to run QEMU in (bridged mode: its tap lives there).
    pub netns: Option<String>,
    /// Room to change the running guest's size (C13's resize): `None` for every
    /// measured deployment, which stays the fixed machine it was.
    pub resizable: Option<Resizable>,
}

/// What a running guest may be resized to: CPUs up to `max_cpus` (hotplug: `-smp
/// cpus,maxcpus=N`, `device_add` through QMP) and memory through a virtio-balloon
/// device (`balloon` through QMP), both without stopping it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Resizable {
    pub max_cpus: u32,
}

/// The balloon device's id (QMP `balloon` finds the device by itself; the id names it
/// in the logs).
pub const BALLOON_ID: &str = "balloon0";

/// QEMU option values are comma-separated lists: a literal comma is doubled.
pub fn escape_commas(s: &str) -> String {
    s.replace(',', ",,")
}

pub fn qemu_args(spec: &VmSpec) -> Vec<OsString> {
    let mut a: Vec<OsString> = Vec::new();
    let mut push = |parts: &[&str]| a.extend(parts.iter().map(OsString::from));
    push(&["-name", &format!("{},process={}", spec.name, spec.name)]);
    push(&["-nodefaults", "-no-user-config", "-display", "none"]);
    push(&["-machine", &spec.machine.spec(spec.accel)]);
    if spec.accel == Accel::Kvm {
        push(&["-cpu", "host"]);
    }
    let smp = match spec.resizable {
        Some(r) => format!("{},maxcpus={}", spec.cpus, r.max_cpus.max(spec.cpus)),
        None => spec.cpus.to_string(),
    };
    push(&["-m", &spec.memory_mib.to_string(), "-smp", &smp]);
    // A panicking guest (panic=-1) reboots: exit instead, so the host notices.
    push(&["-no-reboot"]);
    let log = spec.console_log.to_string_lossy();
    push(&[
        "-chardev",
        &format!("file,id=console,path={}", escape_commas(&log)),
    ]);
    push(&["-serial", "chardev:console"]);
    if let Some(q) = &spec.qmp_socket {
        push(&[
            "-qmp",
            &format!(
                "unix:{},server=on,wait=off",
                escape_commas(&q.to_string_lossy())
            ),
        ]);
    }
    match &spec.boot {
        Boot::Kernel {
            kernel,
            initrd,
            append,
        } => {
            push(&["-kernel", &kernel.to_string_lossy()]);
            push(&["-initrd", &initrd.to_string_lossy()]);
            push(&["-append", append]);
        }
        Boot::Disk {
            image,
            smbios_serial,
        } => {
            push(&[
                "-drive",
                &format!(
                    "file={},format=qcow2,if=none,id=disk0,cache=unsafe",
                    escape_commas(&image.to_string_lossy())
                ),
            ]);
            push(&[
                "-device",
                &format!("{},drive=disk0", spec.machine.virtio("virtio-blk")),
            ]);
            push(&[
                "-smbios",
                &format!("type=1,serial={}", escape_commas(smbios_serial)),
            ]);
        }
    }
    if spec.resizable.is_some() {
        push(&[
            "-device",
            &format!("{},id={BALLOON_ID}", spec.machine.virtio("virtio-balloon")),
        ]);
    }
    match &spec.net {
        Net::None => {}
        Net::Nat {
            forwards,
            user_data,
        } => {
            let mut netdev = String::from("user,id=net0");
            if let Some(text) = user_data {
                netdev.push_str(&format!(
                    ",net={METADATA_NET},host={METADATA_NET_HOST},dhcpstart={METADATA_NET_GUEST},guestfwd=tcp:{METADATA_IP}:80-cmd:{}",
                    escape_commas(&metadata_responder(text))
                ));
            }
            for (host, guest) in forwards {
                netdev.push_str(&format!(",hostfwd=tcp:127.0.0.1:{host}-:{guest}"));
            }
            push(&["-netdev", &netdev]);
            push(&[
                "-device",
                &format!("{},netdev=net0", spec.machine.virtio("virtio-net")),
            ]);
        }
        Net::Tap { ifname, mac } => {
            push(&[
                "-netdev",
                &format!("tap,id=net0,ifname={ifname},script=no,downscript=no"),
            ]);
            push(&[
                "-device",
                &format!(
                    "{},netdev=net0,mac={}",
                    spec.machine.virtio("virtio-net"),
                    mac_string(mac)
                ),
            ]);
        }
    }
    a
}

/// The user-mode network used when serving metadata, and its addresses.
pub const METADATA_NET: &str = "169.254.169.0/24";
pub const METADATA_NET_HOST: Ipv4Addr = Ipv4Addr::new(169, 254, 169, 2);
pub const METADATA_NET_GUEST: Ipv4Addr = Ipv4Addr::new(169, 254, 169, 15);
pub const METADATA_IP: Ipv4Addr = Ipv4Addr::new(169, 254, 169, 254);

/// A shell command answering one HTTP request with `text` (QEMU runs it per guest
/// connection with the connection on its stdin/stdout). Only `role=... peers=...`
/// words go there: characters the shell would interpret are dropped.
pub fn metadata_responder(text: &str) -> String {
    let safe: String = text
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || " .=:,_-/#\n".contains(*c))
        .collect();
    let body = safe.replace('\n', "\\n");
    format!("printf 'HTTP/1.0 200 OK\\r\\nContent-Type: text/plain\\r\\n\\r\\n{body}\\n'")
}

pub fn mac_string(mac: &[u8; 6]) -> String {
    mac.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// The appliance's configuration words (read by its init from the kernel command line
/// or the SMBIOS serial).
pub fn guest_config(
    role: &str,
    peers: Option<&str>,
    ip: Option<(Ipv4Addr, u8)>,
    gw: Option<Ipv4Addr>,
) -> String {
    let mut words = vec![format!("virtbench.role={role}")];
    if let Some(p) = peers {
        words.push(format!("virtbench.peers={p}"));
    }
    if let Some((addr, prefix)) = ip {
        words.push(format!("virtbench.ip={addr}/{prefix}"));
    }
    if let Some(g) = gw {
        words.push(format!("virtbench.gw={g}"));
    }
    words.join(" ")
}

/// Kernel command line of a direct kernel boot. `quiet`: every console character is
/// an emulated UART write, and the kernel's messages would slow a TCG boot.
/// `clock`: [`guest_clock`].
pub fn kernel_append(clock: &str, config: &str) -> String {
    format!("console=ttyS0 quiet panic=-1 {clock} {config}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(boot: Boot, net: Net) -> VmSpec {
        VmSpec {
            name: "vb-r1-sum".into(),
            accel: Accel::Tcg,
            machine: Machine::Q35,
            memory_mib: 128,
            cpus: 1,
            boot,
            net,
            console_log: "/w/sum,1.log".into(),
            qmp_socket: Some("/w/sum.qmp".into()),
            netns: None,
            resizable: None,
        }
    }

    fn joined(s: &VmSpec) -> String {
        qemu_args(s)
            .iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect::<Vec<_>>()
            .join(" ")
    }

    #[test]
    fn kernel_boot_with_nat() {
        let s = spec(
            Boot::Kernel {
                kernel: "/c/vmlinuz".into(),
                initrd: "/c/initrd.gz".into(),
                append: "console=ttyS0 virtbench.role=sum".into(),
            },
            Net::Nat {
                forwards: vec![(41001, 50001)],
                user_data: None,
            },
        );
        let args = qemu_args(&s);
        let line = joined(&s);
        assert!(
            line.starts_with("-name vb-r1-sum,process=vb-r1-sum -nodefaults -no-user-config"),
            "{line}"
        );
        assert!(line.contains("-machine q35,accel=tcg"), "{line}");
        assert!(!line.contains("-cpu host"));
        assert!(line.contains("-m 128 -smp 1 -no-reboot"), "{line}");
        assert!(
            line.contains("-chardev file,id=console,path=/w/sum,,1.log -serial chardev:console"),
            "{line}"
        );
        assert!(
            line.contains("-qmp unix:/w/sum.qmp,server=on,wait=off"),
            "{line}"
        );
        assert!(
            line.contains("-kernel /c/vmlinuz -initrd /c/initrd.gz"),
            "{line}"
        );
        // the kernel command line stays one argument
        let i = args.iter().position(|a| a == "-append").unwrap();
        assert_eq!(args[i + 1], "console=ttyS0 virtbench.role=sum");
        assert!(line.contains("-netdev user,id=net0,hostfwd=tcp:127.0.0.1:41001-:50001 -device virtio-net-pci,netdev=net0"), "{line}");
    }

    #[test]
    fn disk_boot_passes_config_in_smbios() {
        let s = spec(
            Boot::Disk {
                image: "/w/sum.qcow2".into(),
                smbios_serial:
                    "virtbench.role=calculator virtbench.peers=sum=10.0.2.2:1,sub=10.0.2.2:2".into(),
            },
            Net::None,
        );
        let args = qemu_args(&s);
        let i = args.iter().position(|a| a == "-smbios").unwrap();
        assert_eq!(
            args[i + 1],
            "type=1,serial=virtbench.role=calculator virtbench.peers=sum=10.0.2.2:1,,sub=10.0.2.2:2"
        );
        assert!(joined(&s).contains("-drive file=/w/sum.qcow2,format=qcow2,if=none,id=disk0"));
        assert!(joined(&s).contains("-device virtio-blk-pci,drive=disk0"));
        assert!(!joined(&s).contains("-netdev"));
    }

    #[test]
    fn kvm_uses_host_cpu_and_tap_gets_mac() {
        let mut s = spec(
            Boot::Kernel {
                kernel: "k".into(),
                initrd: "i".into(),
                append: String::new(),
            },
            Net::Tap {
                ifname: "vbt0".into(),
                mac: [0x52, 0x54, 0, 0xab, 0, 1],
            },
        );
        s.accel = Accel::Kvm;
        let line = joined(&s);
        assert!(line.contains("-machine q35,accel=kvm -cpu host"), "{line}");
        assert!(
            line.contains("tap,id=net0,ifname=vbt0,script=no,downscript=no"),
            "{line}"
        );
        assert!(line.contains("mac=52:54:00:ab:00:01"), "{line}");
    }

    #[test]
    fn metadata_served_inside_the_slirp_network() {
        let s = spec(
            Boot::Kernel {
                kernel: "k".into(),
                initrd: "i".into(),
                append: String::new(),
            },
            Net::Nat {
                forwards: vec![(41000, 50000)],
                user_data: Some(
                    "role=calculator\npeers=sum=10.0.2.2:1,sub=10.0.2.2:2;rm -rf /'".into(),
                ),
            },
        );
        let args = qemu_args(&s);
        let i = args.iter().position(|a| a == "-netdev").unwrap();
        assert_eq!(
            args[i + 1],
            "user,id=net0,net=169.254.169.0/24,host=169.254.169.2,dhcpstart=169.254.169.15,\
             guestfwd=tcp:169.254.169.254:80-cmd:printf 'HTTP/1.0 200 OK\\r\\nContent-Type: text/plain\\r\\n\\r\\n\
             role=calculator\\npeers=sum=10.0.2.2:1,,sub=10.0.2.2:2rm -rf /\\n',hostfwd=tcp:127.0.0.1:41000-:50000"
        );
    }

    #[test]
    fn microvm_uses_mmio_devices_and_a_given_tsc_under_tcg() {
        let mut s = spec(
            Boot::Kernel {
                kernel: "k".into(),
                initrd: "i".into(),
                append: String::new(),
            },
            Net::Nat {
                forwards: vec![(41001, 50000)],
                user_data: None,
            },
        );
        s.machine = Machine::Microvm { acpi: false };
        let line = joined(&s);
        assert!(
            line.contains("-machine microvm,accel=tcg,acpi=off"),
            "{line}"
        );
        assert!(
            line.contains("-device virtio-net-device,netdev=net0"),
            "{line}"
        );
        assert!(!line.contains("-pci"), "{line}");
        let m = Machine::Microvm { acpi: true };
        assert_eq!(
            guest_clock(m, Accel::Tcg, Some(2_596_132)),
            "no_timer_check tsc_early_khz=2596132 tsc=reliable"
        );
        assert_eq!(
            guest_clock(m, Accel::Kvm, Some(2_596_132)),
            crate::artifact::disk::GUEST_CLOCK
        );
        assert_eq!(
            guest_clock(Machine::Q35, Accel::Tcg, Some(1)),
            crate::artifact::disk::GUEST_CLOCK
        );
        assert_eq!(Machine::parse("microvm"), Some(m));
        assert_eq!(Machine::parse("pc"), None);
    }

    #[test]
    fn a_resizable_guest_gets_hotplug_room_and_a_balloon() {
        let mut s = spec(
            Boot::Kernel {
                kernel: "k".into(),
                initrd: "i".into(),
                append: String::new(),
            },
            Net::None,
        );
        assert!(!joined(&s).contains("balloon"));
        s.resizable = Some(Resizable { max_cpus: 2 });
        let line = joined(&s);
        assert!(line.contains("-m 128 -smp 1,maxcpus=2 "), "{line}");
        assert!(
            line.contains("-device virtio-balloon-pci,id=balloon0"),
            "{line}"
        );
        s.machine = Machine::Microvm { acpi: true };
        assert!(joined(&s).contains("-device virtio-balloon-device,id=balloon0"));
    }

    #[test]
    fn guest_config_words() {
        assert_eq!(
            guest_config("calculator", Some("sum=10.0.2.2:4"), Some((NAT_GUEST_IP, 24)), Some(NAT_HOST_IP)),
            "virtbench.role=calculator virtbench.peers=sum=10.0.2.2:4 virtbench.ip=10.0.2.15/24 virtbench.gw=10.0.2.2"
        );
        assert_eq!(guest_config("all", None, None, None), "virtbench.role=all");
    }
}
