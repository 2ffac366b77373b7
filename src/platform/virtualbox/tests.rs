//! Tests of the VirtualBox driver's plans, command sequences and probe. Nothing here
//! runs VirtualBox: it is not installable on the machines these tests run on.

use std::path::Path;

use super::vboxmanage::Forward;
use super::*;
use crate::platform::default_port;

fn ports_all() -> BTreeMap<&'static str, u16> {
    BTreeMap::from([
        ("sum", 40001),
        ("sub", 40002),
        ("mul", 40003),
        ("div", 40004),
        ("calculator", 40000),
    ])
}

/// A scenario from TOML without `Scenario::parse`'s validation (which evaluates the
/// workload's expressions: not what these tests are about).
fn scenario(extra: &str) -> Scenario {
    let text = format!("name = \"t\"\nplatforms = [\"virtualbox\"]\n{extra}");
    toml::from_str(&text).unwrap()
}

fn ctx(scenario: Scenario, work_dir: &Path) -> RunContext {
    RunContext::with_dirs(
        "20240501-101500-0a1f",
        scenario,
        work_dir.join("cache"),
        work_dir.to_path_buf(),
        tokio_util::sync::CancellationToken::new(),
    )
}

#[test]
fn per_role_plan_is_the_lab_topology() {
    let p = plan(
        "r1",
        Topology::PerRole,
        128,
        1,
        Path::new("/w"),
        &ports_all(),
    );
    let roles: Vec<&str> = p.iter().map(|v| v.guest.role.as_str()).collect();
    assert_eq!(
        roles,
        ["sum", "sub", "mul", "div", "calculator"],
        "sub-services start first"
    );
    for v in &p {
        let role = v.guest.role.as_str();
        assert_eq!(v.spec.name, format!("vb-r1-{role}"));
        assert_eq!(
            v.spec.serial_log,
            PathBuf::from(format!("/w/vb-r1-{role}.serial.log"))
        );
        assert_eq!((v.spec.memory_mib, v.spec.cpus), (128, 1));
        // Each VM forwards 127.0.0.1:<its host port> to its lab port.
        assert_eq!(
            v.spec.forwards,
            [Forward {
                rule: role.to_string(),
                host_port: ports_all()[role],
                guest_port: default_port(role),
            }]
        );
    }
    let calc = &p[4];
    assert!(
        calc.spec.reach_host_loopback,
        "the calculator calls the host's forwarded ports"
    );
    assert_eq!(
        calc.guest.config(),
        "virtbench.role=calculator virtbench.peers=sum=10.0.2.2:40001,sub=10.0.2.2:40002,\
         mul=10.0.2.2:40003,div=10.0.2.2:40004"
    );
    assert!(p[..4]
        .iter()
        .all(|v| v.guest.peers.is_none() && !v.spec.reach_host_loopback));
    assert_eq!(p[0].guest.config(), "virtbench.role=sum");
}

#[test]
fn all_in_one_plan_is_one_vm_with_local_peers() {
    let ports = BTreeMap::from([("calculator", 40000)]);
    let p = plan("r1", Topology::AllInOne, 256, 2, Path::new("/w"), &ports);
    assert_eq!(p.len(), 1);
    let v = &p[0];
    assert_eq!(v.spec.name, "vb-r1-all");
    assert_eq!(v.guest.config(), "virtbench.role=all");
    assert_eq!(
        v.spec.forwards,
        [Forward {
            rule: "calculator".into(),
            host_port: 40000,
            guest_port: 50000
        }]
    );
    assert!(!v.spec.reach_host_loopback);
}

#[test]
fn role_travels_as_the_smbios_serial() {
    let g = GuestRole {
        role: "div".into(),
        peers: None,
    };
    assert_eq!(
        g.extradata(),
        (
            "VBoxInternal/Devices/pcbios/0/Config/DmiSystemSerial".to_string(),
            "string:virtbench.role=div".to_string()
        )
    );
}

/// The commands creating VM `role` of a per-role plan of run "r1" under /w.
fn creation(role: &str, mode: DiskMode, controller: Controller) -> Vec<String> {
    let p = plan(
        "r1",
        Topology::PerRole,
        128,
        1,
        Path::new("/w"),
        &ports_all(),
    );
    let vm = p
        .iter()
        .find(|v| v.guest.role == role)
        .expect("a VM per role");
    let dir = format!("/w/vb-r1-{role}");
    let disk = PlannedDisk::new(Path::new("/cache/appliance.vdi"), mode, Path::new(&dir));
    strings(&create_commands(vm, Path::new("/w"), controller, &disk))
}

/// Command `i` of `cmds` holds `part` (a whole command, or the part that matters).
fn assert_has(cmds: &[String], i: usize, part: &str) {
    assert!(
        cmds[i].contains(part),
        "command {i} lacks {part:?}: {}",
        cmds[i]
    );
}

#[test]
fn vm_creation_sequence_with_differencing_disk() {
    let cmds = creation("sum", DiskMode::Linked, Controller::Sata);
    assert_eq!(cmds.len(), 6, "{cmds:#?}");
    for (i, part) in [
        (0, "createvm --name vb-r1-sum --ostype Linux_64 --register --basefolder /w"),
        (1, "modifyvm vb-r1-sum --memory 128 --cpus 1"),
        (1, "--natpf1 \"sum,tcp,127.0.0.1,40001,,50001\""),
        (2, "storagectl vb-r1-sum --name SATA --add sata --controller IntelAhci --portcount 1 --bootable on"),
        (3, "createmedium disk --filename /w/vb-r1-sum/disk.vdi --diffparent /cache/appliance.vdi --format VDI"),
        (4, "storageattach vb-r1-sum --storagectl SATA --port 0 --device 0 --type hdd --medium /w/vb-r1-sum/disk.vdi"),
        (5, "setextradata vb-r1-sum VBoxInternal/Devices/pcbios/0/Config/DmiSystemSerial string:virtbench.role=sum"),
    ] {
        assert_has(&cmds, i, part);
    }
    assert!(cmds[1].starts_with("modifyvm "), "{}", cmds[1]);
    assert!(!cmds[1].contains("localhostreachable"), "{}", cmds[1]);
}

#[test]
fn vm_creation_sequence_with_full_clone() {
    let cmds = creation("calculator", DiskMode::Clone, Controller::Ide);
    for (i, part) in [
        (1, "--nat-localhostreachable1 on"),
        (
            3,
            "clonemedium disk /cache/appliance.vdi /w/vb-r1-calculator/disk.vdi --format VDI",
        ),
        (4, "storageattach vb-r1-calculator --storagectl IDE "),
        (5, "virtbench.peers=sum=10.0.2.2:40001,"),
    ] {
        assert_has(&cmds, i, part);
    }
}

#[test]
fn parse_options() {
    assert_eq!(Topology::parse("per-role"), Some(Topology::PerRole));
    assert_eq!(Topology::parse("all-in-one"), Some(Topology::AllInOne));
    assert_eq!(Topology::parse("mesh"), None);
    assert_eq!(DiskMode::parse("linked"), Some(DiskMode::Linked));
    assert_eq!(DiskMode::parse("clone"), Some(DiskMode::Clone));
    assert_eq!(DiskMode::parse("copy"), None);
}

#[test]
fn variants_follow_the_scenario() {
    let vb = VirtualBox::default();
    let v = vb.variants(&scenario(""));
    let labels: Vec<&str> = v.iter().map(|v| v.label.as_str()).collect();
    assert_eq!(
        labels,
        ["virtualbox/per-role/linked", "virtualbox/all-in-one/linked"]
    );
    assert_eq!(v[0].get("network"), Some("nat"));
    assert_eq!(v[0].get("boot"), Some("disk"));
    let v = vb.variants(&scenario(
        "[virtualbox]\ntopologies = [\"all-in-one\"]\ndisk = \"clone\"\n",
    ));
    assert_eq!(v.len(), 1);
    assert_eq!(v[0].label, "virtualbox/all-in-one/clone");
}

#[test]
fn not_found_reason_names_this_host() {
    let debian12 = "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nNAME=\"Debian GNU/Linux\"\nVERSION_ID=\"12\"\nID=debian\n";
    assert_eq!(
        not_found_reason(Some(debian12)),
        "VBoxManage not found: VirtualBox is not installed; Debian 12 has no virtualbox package and \
         Oracle's repository is not reachable from this host"
    );
    let ubuntu = "NAME=\"Ubuntu\"\nVERSION_ID=\"24.04\"\nID=ubuntu\n";
    assert_eq!(
        not_found_reason(Some(ubuntu)),
        "VBoxManage not found on PATH: VirtualBox is not installed"
    );
    assert_eq!(
        not_found_reason(None),
        "VBoxManage not found on PATH: VirtualBox is not installed"
    );
}

/// On this host (no VirtualBox) probe must say so, plainly, with the fix. Where a
/// VBoxManage is on PATH, probe must instead report its version.
#[tokio::test]
async fn probe_on_this_host() {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let installed = vboxmanage::find_in_path(&path, &["VBoxManage", "vboxmanage"]);
    let a = VirtualBox::default().probe().await;
    match installed {
        None => {
            let os = std::fs::read_to_string("/etc/os-release").ok();
            assert_eq!(
                a,
                Availability::Unavailable {
                    reason: not_found_reason(os.as_deref()).into(),
                    fix: "install VirtualBox 7 from Oracle on a host that allows it; then `virtbench doctor` \
                          lists it"
                        .into(),
                }
            );
        }
        Some(p) => match a {
            Availability::Available { details } => {
                assert!(details.contains_key("version"), "{p:?}: {details:?}")
            }
            Availability::Unavailable { reason, .. } => {
                assert!(!reason.contains("not found"), "{reason}")
            }
        },
    }
}

/// A stand-in VBoxManage (a shell script printing canned output) drives probe's
/// branches: the parsing and decisions are ours, the output is VirtualBox's format.
fn fake_vboxmanage(dir: &Path, version: &str, hw_virt: &str) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let p = dir.join("VBoxManage");
    let script = format!(
        "#!/bin/sh\ncase \"$1\" in\n--version) echo '{version}';;\n\
         list) printf 'Host Information:\\n\\nProcessor supports HW virtualization: {hw_virt}\\n\
         Processor supports nested paging: yes\\n';;\n*) exit 1;;\nesac\n"
    );
    std::fs::write(&p, script).unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    p
}

#[tokio::test]
async fn probe_reports_version_and_hardware_virtualization() {
    let d = tempfile::tempdir().unwrap();
    let vb =
        VirtualBox::default().with_vboxmanage(fake_vboxmanage(d.path(), "7.0.14r161095", "yes"));
    match vb.probe().await {
        Availability::Available { details } => {
            assert_eq!(details["version"], "7.0.14r161095");
            assert_eq!(details["hw_virtualization"], "yes");
            assert_eq!(details["nested_paging"], "yes");
        }
        other => panic!("{other:?}"),
    }
    let d2 = tempfile::tempdir().unwrap();
    let vb =
        VirtualBox::default().with_vboxmanage(fake_vboxmanage(d2.path(), "7.1.4r165100", "no"));
    match vb.probe().await {
        Availability::Unavailable { reason, .. } => {
            assert!(reason.contains("no usable VT-x/AMD-V"), "{reason}")
        }
        other => panic!("{other:?}"),
    }
    let d3 = tempfile::tempdir().unwrap();
    let vb = VirtualBox::default().with_vboxmanage(fake_vboxmanage(
        d3.path(),
        "6.1.38_Debianr153438",
        "yes",
    ));
    match vb.probe().await {
        Availability::Unavailable { reason, .. } => {
            assert!(reason.contains("older than 7.0"), "{reason}")
        }
        other => panic!("{other:?}"),
    }
    let vb = VirtualBox::default().with_vboxmanage(PathBuf::from("/nonexistent/VBoxManage"));
    match vb.probe().await {
        Availability::Unavailable { reason, .. } => {
            assert!(reason.contains("/nonexistent/VBoxManage"), "{reason}")
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn scenario_path_to_vboxmanage_is_checked() {
    let d = tempfile::tempdir().unwrap();
    let c = ctx(
        scenario("[virtualbox]\nvboxmanage = \"/nonexistent/VBoxManage\"\n"),
        d.path(),
    );
    let e = VirtualBox::default()
        .prepare(&c)
        .await
        .unwrap_err()
        .to_string();
    assert_eq!(
        e,
        "scenario field `virtualbox.vboxmanage` = \"/nonexistent/VBoxManage\": no such file"
    );
}

#[tokio::test]
async fn cleanup_without_virtualbox_removes_nothing() {
    let path = std::env::var_os("PATH").unwrap_or_default();
    if vboxmanage::find_in_path(&path, &["VBoxManage", "vboxmanage"]).is_none() {
        assert_eq!(
            VirtualBox::default()
                .cleanup(Some("20240501-101500-0a1f"))
                .await
                .unwrap(),
            0
        );
    }
}

#[tokio::test]
async fn cleanup_destroys_only_this_runs_vms() {
    // The stand-in logs its calls; `list vms` shows one VM of this run, one of another
    // run and a user's own VM.
    use std::os::unix::fs::PermissionsExt;
    let d = tempfile::tempdir().unwrap();
    let log = d.path().join("calls.log");
    let p = d.path().join("VBoxManage");
    std::fs::write(
        &p,
        format!(
            "#!/bin/sh\necho \"$*\" >> {log}\ncase \"$1\" in\nlist) \
             echo '\"vb-20240501-101500-0a1f-sum\" {{11111111-1111-1111-1111-111111111111}}'; \
             echo '\"vb-20240501-101500-beef-sum\" {{22222222-2222-2222-2222-222222222222}}'; \
             echo '\"vb-mine\" {{33333333-3333-3333-3333-333333333333}}';;\n\
             controlvm) echo \"VBoxManage: error: Machine '$2' is not currently running\" >&2; exit 1;;\n\
             esac\n",
            log = log.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    let vb = VirtualBox::default().with_vboxmanage(p);
    assert_eq!(vb.cleanup(Some("20240501-101500-0a1f")).await.unwrap(), 1);
    let calls = std::fs::read_to_string(&log).unwrap();
    assert_eq!(
        calls.lines().collect::<Vec<_>>(),
        [
            "list vms",
            "controlvm vb-20240501-101500-0a1f-sum poweroff",
            "unregistervm vb-20240501-101500-0a1f-sum --delete"
        ]
    );
    // Any run: both of ours, never the user's.
    std::fs::write(&log, "").unwrap();
    assert_eq!(vb.cleanup(None).await.unwrap(), 2);
    assert!(!std::fs::read_to_string(&log).unwrap().contains("vb-mine"));
}

#[test]
fn allocated_bytes_counts_files_recursively() {
    let d = tempfile::tempdir().unwrap();
    std::fs::create_dir(d.path().join("sub")).unwrap();
    std::fs::write(d.path().join("a"), vec![1u8; 10_000]).unwrap();
    std::fs::write(d.path().join("sub/b"), vec![1u8; 10_000]).unwrap();
    let n = allocated_bytes(d.path());
    assert!(n >= 20_000, "{n}");
    assert_eq!(allocated_bytes(&d.path().join("missing")), 0);
}

#[test]
fn live_resize_counts_only_a_refusal_because_the_vm_runs() {
    let failed = |stderr: &str| -> Result<String, VBoxError> {
        Err(VBoxError::Failed {
            command: "modifyvm vb-r1-calc --memory 256".into(),
            status: "exit status: 1".into(),
            stderr: stderr.into(),
        })
    };
    assert_eq!(live_resize_figure(&Ok(String::new())), Some(1.0));
    assert_eq!(
        live_resize_figure(&failed(
            "The machine 'vb-r1-calc' is already locked for a session (or being unlocked); Details: code VBOX_E_INVALID_OBJECT_STATE (0x80bb0007)"
        )),
        Some(0.0),
        "refused because the VM runs"
    );
    // Any other failure is no figure, never a 0 that would support C13.
    assert_eq!(
        live_resize_figure(&failed(
            "Invalid RAM size: 0 MB (must be in range [4, 2097152] MB)"
        )),
        None
    );
    assert_eq!(live_resize_figure(&failed("")), None);
    assert_eq!(
        live_resize_figure(&Err(VBoxError::Timeout {
            command: "modifyvm".into(),
            after: Duration::from_secs(120),
        })),
        None
    );
    assert_eq!(
        live_resize_figure(&Err(VBoxError::Harness(PlatformError::Cancelled))),
        None
    );
    assert_eq!(
        live_resize_figure(&Err(VBoxError::Spawn {
            program: "VBoxManage".into(),
            source: std::io::Error::from(std::io::ErrorKind::NotFound),
        })),
        None
    );
}
