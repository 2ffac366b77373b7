//! Every `VBoxManage` command line the VirtualBox driver runs, and the parsers of what
//! it prints: pure functions, unit-tested below, plus one small runner with a timeout.
//!
//! Flags follow the VirtualBox user manual's VBoxManage chapter (createvm, modifyvm,
//! storagectl, storageattach, clonemedium, createmedium, snapshot, clonevm, startvm,
//! controlvm, unregistervm, list) and the option table of VirtualBox 7's
//! `VBoxManageModifyVM.cpp`, which accepts both the 7.x spellings (`--nat-pf1`,
//! `--uart-mode1`) and the 6.x ones (`--natpf1`, `--uartmode1`): the 6.x ones are used
//! where both exist. `--nat-localhostreachable1` exists only since 7.0 (it is off by
//! default there, so a guest no longer reaches the host's 127.0.0.1 through 10.0.2.2).
//! None of these lines has been run against a real VirtualBox from this code base.
//!
//! Relied on (VirtualBox user manual, docs.oracle.com/en/virtualization/virtualbox/):
//! "VBoxManage storageattach" / "storagectl" / "clonemedium" / "createmedium"
//! (`--diffparent`) / "snapshot" (`take --live`, `restore`); "Configuring Port
//! Forwarding with NAT" (rule syntax, host IP 127.0.0.1, rules set while the VM is
//! off); "Serial Ports" (COM1 = 0x3F8/IRQ 4, `--uartmode file`); "Special Image Write
//! Modes" (differencing images over a shared base). VirtualBox 7's option table in
//! `src/VBox/Frontends/VBoxManage/VBoxManageModifyVM.cpp`. The 7.0 change making the
//! host's loopback unreachable through 10.0.2.2 by default: hashicorp/packer-plugin-
//! virtualbox issue #104. `list hostinfo` and `--version` formats: outputs quoted in
//! public scripts and issues (see the tests).

use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio_util::sync::CancellationToken;

/// Arguments of one VBoxManage call (without the program).
pub type Args = Vec<OsString>;

fn args<I, S>(items: I) -> Args
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    items.into_iter().map(|s| s.as_ref().to_owned()).collect()
}

/// The guest's first serial port: COM1 at I/O 0x3F8, IRQ 4, which is what the guest
/// kernel's `console=ttyS0` writes to (VirtualBox manual, "Serial Ports").
pub const COM1: (&str, &str) = ("0x3F8", "4");

/// Name of the storage controller the driver adds to each VM.
pub fn controller_name(c: Controller) -> &'static str {
    match c {
        Controller::Sata => "SATA",
        Controller::Ide => "IDE",
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Controller {
    /// AHCI, VirtualBox's default for new Linux VMs.
    Sata,
    /// PIIX4, the most conservative choice for old BIOS boot loaders.
    Ide,
}

impl Controller {
    pub fn parse(s: &str) -> Option<Controller> {
        match s {
            "sata" => Some(Controller::Sata),
            "ide" => Some(Controller::Ide),
            _ => None,
        }
    }
}

/// One NAT port-forwarding rule, always bound to 127.0.0.1 on the host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Forward {
    /// Rule name, unique within the VM (letters only: it goes in a comma list).
    pub rule: String,
    pub host_port: u16,
    pub guest_port: u16,
}

impl Forward {
    /// `name,tcp,127.0.0.1,HOSTPORT,,GUESTPORT`: the manual's "[<rulename>],tcp|udp,
    /// [<hostip>],<hostport>,[<guestip>],<guestport>"; an empty guest IP means the
    /// address the NAT's DHCP server leased to the guest.
    pub fn rule_text(&self) -> String {
        format!(
            "{},tcp,127.0.0.1,{},,{}",
            self.rule, self.host_port, self.guest_port
        )
    }
}

/// The hardware of one VM, everything `modifyvm` sets before the first start.
#[derive(Debug, Clone, PartialEq)]
pub struct VmSpec {
    pub name: String,
    pub memory_mib: u32,
    pub cpus: u32,
    /// Host file receiving the guest's COM1 output (boot markers, kernel messages).
    pub serial_log: PathBuf,
    pub forwards: Vec<Forward>,
    /// The guest calls services on the host's loopback through 10.0.2.2 (the lab's
    /// calculator did): VirtualBox 7 needs this switched on explicitly.
    pub reach_host_loopback: bool,
}

/// `VBoxManage --version`.
pub fn version() -> Args {
    args(["--version"])
}

/// `VBoxManage list hostinfo`: CPU features, among them VT-x/AMD-V.
pub fn list_hostinfo() -> Args {
    args(["list", "hostinfo"])
}

/// `VBoxManage list vms`: every registered VM, running or not.
pub fn list_vms() -> Args {
    args(["list", "vms"])
}

/// `createvm --name N --ostype Linux_64 --register --basefolder DIR`: the settings
/// file goes to DIR/N/N.vbox, inside the run's scratch directory.
pub fn createvm(name: &str, basefolder: &Path) -> Args {
    let mut a = args([
        "createvm",
        "--name",
        name,
        "--ostype",
        "Linux_64",
        "--register",
    ]);
    a.push("--basefolder".into());
    a.push(basefolder.into());
    a
}

/// `modifyvm`: memory, CPUs, BIOS boot from disk only, one NAT NIC of type virtio
/// (the appliance's initramfs carries virtio_net, not e1000 drivers), its port
/// forwards, and COM1 written to a file.
pub fn modifyvm(spec: &VmSpec) -> Args {
    let mut a = args([
        "modifyvm",
        spec.name.as_str(),
        "--memory",
        &spec.memory_mib.to_string(),
        "--cpus",
        &spec.cpus.to_string(),
        // An I/O APIC is required by VirtualBox for more than one CPU; harmless with one.
        "--ioapic",
        "on",
        "--firmware",
        "bios",
        "--boot1",
        "disk",
        "--boot2",
        "none",
        "--boot3",
        "none",
        "--boot4",
        "none",
        "--nic1",
        "nat",
        "--nictype1",
        "virtio",
    ]);
    for f in &spec.forwards {
        a.push("--natpf1".into());
        a.push(f.rule_text().into());
    }
    if spec.reach_host_loopback {
        a.extend(args(["--nat-localhostreachable1", "on"]));
    }
    a.extend(args(["--uart1", COM1.0, COM1.1, "--uartmode1", "file"]));
    a.push(spec.serial_log.as_os_str().to_owned());
    a
}

/// `modifyvm N --memory M` alone: the resize experiment (claim C13). VirtualBox refuses
/// it while the VM runs (modifyvm needs a write lock on a powered-off machine).
pub fn modifyvm_memory(name: &str, memory_mib: u32) -> Args {
    args(["modifyvm", name, "--memory", &memory_mib.to_string()])
}

/// `storagectl N --name SATA --add sata --controller IntelAhci --portcount 1
/// --bootable on` (or the IDE/PIIX4 equivalent).
pub fn storagectl(name: &str, c: Controller) -> Args {
    let (bus, chip) = match c {
        Controller::Sata => ("sata", "IntelAhci"),
        Controller::Ide => ("ide", "PIIX4"),
    };
    let mut a = args([
        "storagectl",
        name,
        "--name",
        controller_name(c),
        "--add",
        bus,
        "--controller",
        chip,
    ]);
    if c == Controller::Sata {
        // IDE has a fixed port count; only SATA takes one.
        a.extend(args(["--portcount", "1"]));
    }
    a.extend(args(["--bootable", "on"]));
    a
}

/// `clonemedium disk SRC DST --format VDI`: a full, independent copy of the appliance.
pub fn clonemedium(src: &Path, dst: &Path) -> Args {
    let mut a = args(["clonemedium", "disk"]);
    a.push(src.into());
    a.push(dst.into());
    a.extend(args(["--format", "VDI"]));
    a
}

/// `createmedium disk --filename DST --diffparent BASE --format VDI`: a differencing
/// image holding only this VM's writes over the shared appliance VDI.
pub fn createmedium_diff(base: &Path, dst: &Path) -> Args {
    let mut a = args(["createmedium", "disk", "--filename"]);
    a.push(dst.into());
    a.push("--diffparent".into());
    a.push(base.into());
    a.extend(args(["--format", "VDI"]));
    a
}

/// `closemedium disk PATH`: forget a medium (the shared base) without deleting the
/// file, so a rebuilt appliance at the same path does not clash with a stale UUID.
pub fn closemedium(path: &Path) -> Args {
    let mut a = args(["closemedium", "disk"]);
    a.push(path.into());
    a
}

/// `storageattach N --storagectl C --port 0 --device 0 --type hdd --medium DISK`.
pub fn storageattach(name: &str, c: Controller, disk: &Path) -> Args {
    let mut a = args([
        "storageattach",
        name,
        "--storagectl",
        controller_name(c),
        "--port",
        "0",
        "--device",
        "0",
        "--type",
        "hdd",
        "--medium",
    ]);
    a.push(disk.into());
    a
}

/// `setextradata N KEY VALUE` (e.g. DMI strings a guest can read its role from).
pub fn setextradata(name: &str, key: &str, value: &str) -> Args {
    args(["setextradata", name, key, value])
}

/// `startvm N --type headless`: returns once the VM process (VBoxHeadless) is up.
pub fn startvm(name: &str) -> Args {
    args(["startvm", name, "--type", "headless"])
}

/// `controlvm N poweroff`: pulls the virtual power cord (no guest shutdown).
pub fn poweroff(name: &str) -> Args {
    args(["controlvm", name, "poweroff"])
}

/// `unregistervm N --delete`: forget the VM and delete its settings, logs, disks
/// (differencing images included) and snapshots.
pub fn unregistervm(name: &str) -> Args {
    args(["unregistervm", name, "--delete"])
}

/// `snapshot N take S --live`: snapshot a running VM without pausing it for the
/// whole save (the snapshot holds the memory state, so a restore resumes it).
pub fn snapshot_take(name: &str, snapshot: &str) -> Args {
    args(["snapshot", name, "take", snapshot, "--live"])
}

/// `snapshot N restore S`: only on a VM that is not running.
pub fn snapshot_restore(name: &str, snapshot: &str) -> Args {
    args(["snapshot", name, "restore", snapshot])
}

/// `clonevm N --snapshot S --name C --basefolder DIR --register [--options link]`:
/// a full clone copies every disk; a linked one (which needs a snapshot to hang from)
/// adds a differencing image over the source's (claim C11).
pub fn clonevm(name: &str, snapshot: &str, clone: &str, basefolder: &Path, linked: bool) -> Args {
    let mut a = args([
        "clonevm",
        name,
        "--snapshot",
        snapshot,
        "--name",
        clone,
        "--basefolder",
    ]);
    a.push(basefolder.into());
    a.push("--register".into());
    if linked {
        a.extend(args(["--options", "link"]));
    }
    a
}

/// Name of the VM playing `role` in run `run_id`.
pub fn vm_name(run_id: &str, role: &str) -> String {
    format!("vb-{run_id}-{role}")
}

/// Is `name` one of virtbench's VMs, of run `run_id` (of any run when `None`)? Without
/// a run id, only names shaped like ours count (`vb-YYYYMMDD-HHMMSS-xxxx-...`), so a
/// user's own "vb-something" VM is never touched.
pub fn is_run_vm(name: &str, run_id: Option<&str>) -> bool {
    match run_id {
        Some(id) => name
            .strip_prefix(&format!("vb-{id}-"))
            .is_some_and(|rest| !rest.is_empty()),
        None => {
            let Some(rest) = name.strip_prefix("vb-") else {
                return false;
            };
            let b = rest.as_bytes();
            // YYYYMMDD-HHMMSS-xxxx- then a role
            b.len() > 21
                && b[..8].iter().all(u8::is_ascii_digit)
                && b[8] == b'-'
                && b[9..15].iter().all(u8::is_ascii_digit)
                && b[15] == b'-'
                && b[16..20].iter().all(u8::is_ascii_hexdigit)
                && b[20] == b'-'
        }
    }
}

/// One line of `list vms`: `"name" {uuid}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedVm {
    pub name: String,
    pub uuid: String,
}

/// Parse `list vms`. The name is everything between the first quote and the last
/// `" {` (a VM name may itself contain quotes or spaces); unparsable lines are skipped.
pub fn parse_list_vms(out: &str) -> Vec<ListedVm> {
    out.lines()
        .filter_map(|line| {
            let line = line.trim_end_matches('\r').trim();
            let rest = line.strip_prefix('"')?;
            let split = rest.rfind("\" {")?;
            let uuid = rest[split + 3..].strip_suffix('}')?;
            Some(ListedVm {
                name: rest[..split].to_string(),
                uuid: uuid.to_string(),
            })
        })
        .collect()
}

/// The version `VBoxManage --version` printed, e.g. `7.0.14r161095`. Warnings (such as
/// "the vboxdrv kernel module is not loaded") may come first: the last line that starts
/// with digit.digit is the version.
pub fn parse_version(out: &str) -> Option<String> {
    out.lines()
        .rev()
        .map(str::trim)
        .find(|l| {
            let mut parts = l.split('.');
            let major = parts.next().unwrap_or("");
            let minor = parts.next().unwrap_or("");
            !major.is_empty()
                && major.bytes().all(|b| b.is_ascii_digit())
                && minor.bytes().next().is_some_and(|b| b.is_ascii_digit())
        })
        .map(str::to_string)
}

/// Major version of a `parse_version` string (`7.0.14r161095` -> 7).
pub fn major_version(version: &str) -> Option<u32> {
    version.split('.').next()?.parse().ok()
}

/// What `list hostinfo` says about the CPU.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HostInfo {
    /// "Processor supports HW virtualization": VT-x or AMD-V usable by VirtualBox.
    pub hw_virtualization: Option<bool>,
    pub nested_paging: Option<bool>,
    pub cpu_description: Option<String>,
}

pub fn parse_hostinfo(out: &str) -> HostInfo {
    let mut h = HostInfo::default();
    for line in out.lines() {
        let Some((key, value)) = line.split_once(':') else {
            continue;
        };
        let (key, value) = (key.trim(), value.trim());
        let yes_no = || match value {
            "yes" => Some(true),
            "no" => Some(false),
            _ => None,
        };
        match key {
            "Processor supports HW virtualization" => h.hw_virtualization = yes_no(),
            "Processor supports nested paging" => h.nested_paging = yes_no(),
            "Processor#0 description" => h.cpu_description = Some(value.to_string()),
            _ => {}
        }
    }
    h
}

/// Does this argv belong to the VBoxHeadless process running VM `vm`? VBoxSVC starts
/// it as `VBoxHeadless --comment <name> --startvm <uuid> --vrde config`.
pub fn is_headless_of(argv: &[&str], vm: &str) -> bool {
    let is_headless = argv
        .first()
        .map(|a| {
            Path::new(a)
                .file_name()
                .is_some_and(|f| f == "VBoxHeadless")
        })
        .unwrap_or(false);
    is_headless && argv.windows(2).any(|w| w[0] == "--comment" && w[1] == vm)
}

/// Pids of the VBoxHeadless processes running VM `vm`, from /proc/*/cmdline.
pub fn headless_pids(vm: &str) -> Vec<u32> {
    crate::host::procfs::with_cmdline(|args| {
        let argv: Vec<&str> = args.iter().map(String::as_str).collect();
        is_headless_of(&argv, vm)
    })
}

/// Stderr of a failed call that means "already in the state you want": teardown stays
/// idempotent by accepting these.
pub fn is_gone_or_stopped(stderr: &str) -> bool {
    [
        // controlvm poweroff of a stopped VM (7.x, then older wording)
        "is not currently running",
        "Invalid machine state: PoweredOff",
        "Invalid machine state: Aborted",
        // any command naming a VM that is not registered
        "Could not find a registered machine",
    ]
    .iter()
    .any(|m| stderr.contains(m))
}

/// Stderr of a call refused because another session (VBoxHeadless shutting down, the
/// GUI) still holds the machine's lock: worth a retry after a short wait.
pub fn is_locked(stderr: &str) -> bool {
    stderr.contains("is already locked") || stderr.contains("VBOX_E_INVALID_OBJECT_STATE")
}

/// Stderr of a settings change (`modifyvm`) refused because the VM is running:
/// `modifyvm` takes the machine's write lock, which the running VM's own session holds
/// ("already locked for a session"), and a setter on a running machine is refused as
/// "not mutable (state is Running)". Anything else is some other failure.
pub fn is_refused_while_running(stderr: &str) -> bool {
    stderr.contains("is already locked for a session")
        || stderr.contains("not mutable (state is Running)")
        || stderr.contains("Invalid machine state: Running")
}

#[derive(Debug, thiserror::Error)]
pub enum VBoxError {
    #[error("cannot run {program}: {source}")]
    Spawn {
        program: String,
        #[source]
        source: std::io::Error,
    },
    #[error("`VBoxManage {command}` failed ({status}): {stderr}")]
    Failed {
        command: String,
        status: String,
        stderr: String,
    },
    #[error("`VBoxManage {command}` did not finish within {after:?}")]
    Timeout { command: String, after: Duration },
    /// The harness stopped the call: the run's cancellation (the crate's one
    /// `Error::Cancelled`), passed through unchanged.
    #[error(transparent)]
    Harness(crate::error::Error),
}

impl VBoxError {
    /// The stderr of a failed call ("" for other errors).
    pub fn stderr(&self) -> &str {
        match self {
            VBoxError::Failed { stderr, .. } => stderr,
            _ => "",
        }
    }
}

/// The command as a user would type it, for errors and logs.
pub fn display(a: &[OsString]) -> String {
    a.iter()
        .map(|s| {
            let s = s.to_string_lossy();
            if s.is_empty() || s.contains([' ', '"', ',']) {
                format!("{s:?}")
            } else {
                s.into_owned()
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// The VBoxManage executable and the longest any call may take.
#[derive(Debug, Clone)]
pub struct VBoxManage {
    pub program: PathBuf,
    pub timeout: Duration,
}

impl VBoxManage {
    pub fn new(program: PathBuf) -> Self {
        // clonevm/clonemedium of a small appliance take seconds; a wedged VBoxSVC must
        // not hang a run forever.
        VBoxManage {
            program,
            timeout: Duration::from_secs(120),
        }
    }

    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Run one call; stdout on success. The child is killed on timeout or cancel.
    pub async fn run(
        &self,
        a: &[OsString],
        cancel: Option<&CancellationToken>,
    ) -> Result<String, VBoxError> {
        let command = display(a);
        tracing::debug!(target: "virtbench::virtualbox", "VBoxManage {command}");
        let child = tokio::process::Command::new(&self.program)
            .args(a)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|source| VBoxError::Spawn {
                program: self.program.display().to_string(),
                source,
            })?;
        let never = CancellationToken::new();
        let cancel = cancel.unwrap_or(&never);
        let out = tokio::select! {
            r = tokio::time::timeout(self.timeout, child.wait_with_output()) => match r {
                Ok(r) => r.map_err(|source| VBoxError::Spawn { program: self.program.display().to_string(), source })?,
                Err(_) => return Err(VBoxError::Timeout { command, after: self.timeout }),
            },
            _ = cancel.cancelled() => return Err(VBoxError::Harness(crate::error::Error::Cancelled)),
        };
        if out.status.success() {
            return Ok(String::from_utf8_lossy(&out.stdout).into_owned());
        }
        let stderr = String::from_utf8_lossy(&out.stderr);
        // VBoxManage repeats "VBoxManage: error:" on several lines; keep them on one.
        let stderr = stderr
            .lines()
            .map(|l| l.trim().trim_start_matches("VBoxManage: error:").trim())
            .filter(|l| !l.is_empty())
            .collect::<Vec<_>>()
            .join("; ");
        Err(VBoxError::Failed {
            command,
            status: out.status.to_string(),
            stderr,
        })
    }
}

/// First executable named `names[i]` in the `PATH`-style list `path`.
pub fn find_in_path(path: &OsStr, names: &[&str]) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    std::env::split_paths(path).find_map(|dir| {
        names.iter().find_map(|n| {
            let p = dir.join(n);
            let meta = std::fs::metadata(&p).ok()?;
            (meta.is_file() && meta.permissions().mode() & 0o111 != 0).then_some(p)
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(a: &Args) -> Vec<String> {
        a.iter().map(|x| x.to_string_lossy().into_owned()).collect()
    }

    fn spec() -> VmSpec {
        VmSpec {
            name: "vb-r1-calculator".into(),
            memory_mib: 128,
            cpus: 1,
            serial_log: PathBuf::from("/tmp/w/vb-r1-calculator.serial.log"),
            forwards: vec![Forward {
                rule: "calc".into(),
                host_port: 41234,
                guest_port: 50000,
            }],
            reach_host_loopback: true,
        }
    }

    #[test]
    fn createvm_registers_in_the_run_directory() {
        assert_eq!(
            s(&createvm("vb-r1-sum", Path::new("/tmp/virtbench-r1"))),
            [
                "createvm",
                "--name",
                "vb-r1-sum",
                "--ostype",
                "Linux_64",
                "--register",
                "--basefolder",
                "/tmp/virtbench-r1"
            ]
        );
    }

    #[test]
    fn modifyvm_sets_hardware_nat_forward_on_loopback_and_serial_file() {
        let a = s(&modifyvm(&spec()));
        let joined = a.join(" ");
        assert!(
            joined.starts_with("modifyvm vb-r1-calculator --memory 128 --cpus 1 "),
            "{joined}"
        );
        assert!(
            joined.contains("--boot1 disk --boot2 none --boot3 none --boot4 none"),
            "{joined}"
        );
        assert!(joined.contains("--nic1 nat --nictype1 virtio"), "{joined}");
        let pf = a.iter().position(|x| x == "--natpf1").expect("a forward");
        assert_eq!(a[pf + 1], "calc,tcp,127.0.0.1,41234,,50000");
        assert!(joined.contains("--nat-localhostreachable1 on"), "{joined}");
        assert!(
            joined.ends_with("--uart1 0x3F8 4 --uartmode1 file /tmp/w/vb-r1-calculator.serial.log"),
            "{joined}"
        );
    }

    #[test]
    fn every_forward_binds_loopback_only() {
        let mut sp = spec();
        sp.forwards.push(Forward {
            rule: "extra".into(),
            host_port: 1,
            guest_port: 2,
        });
        sp.reach_host_loopback = false;
        let a = s(&modifyvm(&sp));
        let rules: Vec<&String> = a
            .windows(2)
            .filter(|w| w[0] == "--natpf1")
            .map(|w| &w[1])
            .collect();
        assert_eq!(rules.len(), 2);
        assert!(
            rules
                .iter()
                .all(|r| r.split(',').nth(2) == Some("127.0.0.1")),
            "{rules:?}"
        );
        assert!(!a.iter().any(|x| x == "--nat-localhostreachable1"));
    }

    #[test]
    fn storage_controllers() {
        assert_eq!(
            s(&storagectl("vm", Controller::Sata)).join(" "),
            "storagectl vm --name SATA --add sata --controller IntelAhci --portcount 1 --bootable on"
        );
        assert_eq!(
            s(&storagectl("vm", Controller::Ide)).join(" "),
            "storagectl vm --name IDE --add ide --controller PIIX4 --bootable on"
        );
        assert_eq!(
            s(&storageattach("vm", Controller::Ide, Path::new("/w/d.vdi"))).join(" "),
            "storageattach vm --storagectl IDE --port 0 --device 0 --type hdd --medium /w/d.vdi"
        );
        assert_eq!(Controller::parse("sata"), Some(Controller::Sata));
        assert_eq!(Controller::parse("scsi"), None);
    }

    #[test]
    fn disks_full_copy_and_differencing() {
        assert_eq!(
            s(&clonemedium(
                Path::new("/c/appliance.vdi"),
                Path::new("/w/vm.vdi")
            ))
            .join(" "),
            "clonemedium disk /c/appliance.vdi /w/vm.vdi --format VDI"
        );
        assert_eq!(
            s(&createmedium_diff(
                Path::new("/c/appliance.vdi"),
                Path::new("/w/vm.vdi")
            ))
            .join(" "),
            "createmedium disk --filename /w/vm.vdi --diffparent /c/appliance.vdi --format VDI"
        );
        assert_eq!(
            s(&closemedium(Path::new("/c/a.vdi"))).join(" "),
            "closemedium disk /c/a.vdi"
        );
    }

    #[test]
    fn lifecycle_commands() {
        assert_eq!(s(&startvm("vm")).join(" "), "startvm vm --type headless");
        assert_eq!(s(&poweroff("vm")).join(" "), "controlvm vm poweroff");
        assert_eq!(s(&unregistervm("vm")).join(" "), "unregistervm vm --delete");
        assert_eq!(s(&list_vms()).join(" "), "list vms");
        assert_eq!(s(&list_hostinfo()).join(" "), "list hostinfo");
        assert_eq!(s(&version()).join(" "), "--version");
        assert_eq!(
            s(&setextradata(
                "vm",
                "VBoxInternal/Devices/pcbios/0/Config/DmiOEMVBoxVer",
                "a b"
            )),
            [
                "setextradata",
                "vm",
                "VBoxInternal/Devices/pcbios/0/Config/DmiOEMVBoxVer",
                "a b"
            ]
        );
    }

    #[test]
    fn snapshot_resize_and_clone_commands() {
        assert_eq!(
            s(&snapshot_take("vm", "s1")).join(" "),
            "snapshot vm take s1 --live"
        );
        assert_eq!(
            s(&snapshot_restore("vm", "s1")).join(" "),
            "snapshot vm restore s1"
        );
        assert_eq!(
            s(&modifyvm_memory("vm", 256)).join(" "),
            "modifyvm vm --memory 256"
        );
        assert_eq!(
            s(&clonevm(
                "vm",
                "s1",
                "vb-r1-clone-full",
                Path::new("/w"),
                false
            ))
            .join(" "),
            "clonevm vm --snapshot s1 --name vb-r1-clone-full --basefolder /w --register"
        );
        assert_eq!(
            s(&clonevm("vm", "s1", "vb-r1-clone-linked", Path::new("/w"), true)).join(" "),
            "clonevm vm --snapshot s1 --name vb-r1-clone-linked --basefolder /w --register --options link"
        );
    }

    #[test]
    fn vm_names_and_leftover_matching() {
        let id = "20240501-101500-0a1f";
        assert_eq!(vm_name(id, "sum"), "vb-20240501-101500-0a1f-sum");
        assert!(is_run_vm("vb-20240501-101500-0a1f-sum", Some(id)));
        assert!(is_run_vm("vb-20240501-101500-0a1f-clone-full", Some(id)));
        assert!(!is_run_vm("vb-20240501-101500-0a1f-", Some(id)));
        assert!(!is_run_vm("vb-20240501-101500-0a1e-sum", Some(id)));
        assert!(!is_run_vm("my-vb-20240501-101500-0a1f-sum", Some(id)));
        // Any run: only our shape of name.
        assert!(is_run_vm("vb-20240501-101500-0a1f-sum", None));
        assert!(!is_run_vm("vb-ubuntu", None));
        assert!(!is_run_vm("vb-20240501-101500-zzzz-sum", None));
        assert!(!is_run_vm("Windows 11", None));
    }

    #[test]
    fn list_vms_parsing() {
        let out = "\"vb-20240501-101500-0a1f-sum\" {4ec5a3a4-3f0b-4c83-9a2e-1c1f4d1a7e10}\n\
                   \"My \\\"odd\\\" VM\" {11111111-2222-3333-4444-555555555555}\r\n\
                   \"<inaccessible>\" {aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee}\n\
                   \n\
                   garbage line\n";
        let vms = parse_list_vms(out);
        assert_eq!(vms.len(), 3);
        assert_eq!(vms[0].name, "vb-20240501-101500-0a1f-sum");
        assert_eq!(vms[0].uuid, "4ec5a3a4-3f0b-4c83-9a2e-1c1f4d1a7e10");
        assert_eq!(vms[1].name, "My \\\"odd\\\" VM");
        assert_eq!(vms[2].name, "<inaccessible>");
        assert!(parse_list_vms("").is_empty());
    }

    #[test]
    fn version_parsing() {
        assert_eq!(
            parse_version("7.0.14r161095\n").as_deref(),
            Some("7.0.14r161095")
        );
        assert_eq!(
            parse_version("6.1.38_Debianr153438\n").as_deref(),
            Some("6.1.38_Debianr153438")
        );
        let warned =
            "WARNING: The vboxdrv kernel module is not loaded. Either there is no module\n\
                      available for the current kernel (6.1.0-18-amd64) or it failed to\n\
                      load. Please recompile the kernel module and install it by\n\n\
                      \x20        sudo /sbin/vboxconfig\n\n\
                      7.1.4r165100\n";
        assert_eq!(parse_version(warned).as_deref(), Some("7.1.4r165100"));
        assert_eq!(parse_version("Usage: VBoxManage\n"), None);
        assert_eq!(major_version("7.0.14r161095"), Some(7));
        assert_eq!(major_version("6.1.38_Debianr153438"), Some(6));
    }

    #[test]
    fn hostinfo_parsing() {
        let out = "Host Information:\n\nHost time: 2024-05-01T10:15:00.000000000Z\n\
                   Processor online count: 8\nProcessor count: 8\n\
                   Processor supports HW virtualization: yes\nProcessor supports PAE: yes\n\
                   Processor supports long mode: yes\nProcessor supports nested paging: no\n\
                   Processor#0 speed: 2600 MHz\n\
                   Processor#0 description: Intel(R) Core(TM) i7-6700HQ CPU @ 2.60GHz\n";
        let h = parse_hostinfo(out);
        assert_eq!(h.hw_virtualization, Some(true));
        assert_eq!(h.nested_paging, Some(false));
        assert_eq!(
            h.cpu_description.as_deref(),
            Some("Intel(R) Core(TM) i7-6700HQ CPU @ 2.60GHz")
        );
        let h = parse_hostinfo("Processor supports HW virtualization: no\r\n");
        assert_eq!(h.hw_virtualization, Some(false));
        assert_eq!(parse_hostinfo("nothing useful"), HostInfo::default());
    }

    #[test]
    fn headless_process_matching() {
        let argv = [
            "/usr/lib/virtualbox/VBoxHeadless",
            "--comment",
            "vb-r1-sum",
            "--startvm",
            "4ec5a3a4",
            "--vrde",
            "config",
        ];
        assert!(is_headless_of(&argv, "vb-r1-sum"));
        assert!(!is_headless_of(&argv, "vb-r1-su"));
        assert!(!is_headless_of(&argv, "vb-r1-sum2"));
        let other = ["/usr/bin/VBoxManage", "--comment", "vb-r1-sum"];
        assert!(!is_headless_of(&other, "vb-r1-sum"));
        assert!(!is_headless_of(&[], "vb-r1-sum"));
        // No VM of that name runs here: the /proc scan finds nothing (and does not fail).
        assert!(headless_pids("vb-no-such-vm").is_empty());
    }

    #[test]
    fn stderr_classification() {
        assert!(is_gone_or_stopped(
            "Machine 'vb-r1-sum' is not currently running"
        ));
        assert!(is_gone_or_stopped(
            "Could not find a registered machine named 'vb-r1-sum'"
        ));
        assert!(is_gone_or_stopped(
            "Invalid machine state: PoweredOff (must be Running, Paused or Stuck)"
        ));
        assert!(!is_gone_or_stopped("Code NS_ERROR_FAILURE (0x80004005)"));
        assert!(is_locked(
            "The machine 'vb-r1-sum' is already locked for a session (or being unlocked)"
        ));
        // modifyvm on a running VM (VirtualBox 6.1 / 7.0 wording, as joined by `run`).
        assert!(is_refused_while_running(
            "The machine 'vb-r1-sum' is already locked for a session (or being unlocked); Details: code VBOX_E_INVALID_OBJECT_STATE (0x80bb0007), component MachineWrap, interface IMachine, callee nsISupports; Context: \"LockMachine(a->session, LockType_Write)\" at line 640 of file VBoxManageModifyVM.cpp"
        ));
        assert!(is_refused_while_running(
            "The machine is not mutable (state is Running); Details: code VBOX_E_INVALID_VM_STATE (0x80bb0002)"
        ));
        // Other failures say nothing about resizing a running VM.
        assert!(!is_refused_while_running(
            "Invalid RAM size: 999999999 MB (must be in range [4, 2097152] MB)"
        ));
        assert!(!is_refused_while_running(
            "The machine is not mutable (state is Saved)"
        ));
        assert!(!is_refused_while_running(
            "Could not find a registered machine named 'vb-r1-sum'"
        ));
        assert!(!is_refused_while_running(
            "Code NS_ERROR_FAILURE (0x80004005)"
        ));
    }

    #[test]
    fn display_quotes_what_a_shell_would_split() {
        let a = args(["modifyvm", "my vm", "--natpf1", "calc,tcp,127.0.0.1,1,,2"]);
        assert_eq!(
            display(&a),
            "modifyvm \"my vm\" --natpf1 \"calc,tcp,127.0.0.1,1,,2\""
        );
    }

    #[test]
    fn path_lookup_finds_executables_only() {
        use std::os::unix::fs::PermissionsExt;
        let d = tempfile::tempdir().unwrap();
        let plain = d.path().join("VBoxManage");
        std::fs::write(&plain, "").unwrap();
        let path = std::env::join_paths([d.path()]).unwrap();
        assert_eq!(find_in_path(&path, &["VBoxManage"]), None, "not executable");
        std::fs::set_permissions(&plain, std::fs::Permissions::from_mode(0o755)).unwrap();
        assert_eq!(find_in_path(&path, &["VBoxManage"]), Some(plain));
        assert_eq!(find_in_path(&path, &["vboxmanage-missing"]), None);
    }

    #[tokio::test]
    async fn runner_reports_exit_status_stderr_and_timeout() {
        // Any program stands in for VBoxManage: the runner only spawns and collects.
        let sh = VBoxManage::new(PathBuf::from("/bin/sh"));
        let ok = sh
            .run(&args(["-c", "echo 7.0.14r161095"]), None)
            .await
            .unwrap();
        assert_eq!(parse_version(&ok).as_deref(), Some("7.0.14r161095"));
        let err = sh
            .run(
                &args([
                    "-c",
                    "echo 'VBoxManage: error: Machine is not currently running' >&2; exit 1",
                ]),
                None,
            )
            .await
            .unwrap_err();
        assert!(is_gone_or_stopped(err.stderr()), "{err}");
        let slow = sh.clone().with_timeout(Duration::from_millis(100));
        let err = slow.run(&args(["-c", "sleep 5"]), None).await.unwrap_err();
        assert!(matches!(err, VBoxError::Timeout { .. }), "{err}");
        let missing = VBoxManage::new(PathBuf::from("/nonexistent/VBoxManage"));
        let err = missing.run(&version(), None).await.unwrap_err();
        assert!(matches!(err, VBoxError::Spawn { .. }), "{err}");
    }
}
