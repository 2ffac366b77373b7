//! QEMU's microvm machine booted for real (TCG where KVM does not work): the same
//! initramfs and calculator as the q35 VMs, virtio-mmio devices, user-mode NAT with a
//! forwarded port; with Debian's stock kernel and with the minimal kernel built from
//! Debian's kernel source (built on the first run, minutes; cached afterwards). The
//! calculator answers `result = 4`, and nothing is left behind.
//!
//! Without QEMU these tests fail unless `VIRTBENCH_SKIP_QEMU=1` explicitly asks to skip
//! them; without Debian's kernel source the minimal-kernel test fails unless
//! `VIRTBENCH_SKIP_MINIMAL_KERNEL=1` does.

use std::path::Path;
use std::time::Instant;

use tokio_util::sync::CancellationToken;
use virtbench::artifact::minimal_kernel;
use virtbench::measure::Probe;
use virtbench::platform::qemu::{vm, Qemu};
use virtbench::platform::{Availability, Platform, RunContext};
use virtbench::scenario::Scenario;

fn scenario(kernel: &str) -> Scenario {
    let text = format!(
        "name = \"microvm-test\"\nplatforms = [\"qemu\"]\n[startup]\nrepetitions = 1\ntimeout_s = 120\n\
         [qemu]\ntopologies = [\"all-in-one\"]\nboot = [\"kernel\"]\nnetworks = [\"nat\"]\n\
         machines = [\"microvm\"]\nkernels = [\"{kernel}\"]\naccelerator = \"auto\"\nmemory_mib = 128\ncpus = 1\n"
    );
    Scenario::parse(Path::new("microvm-test.toml"), &text).unwrap()
}

async fn available() -> bool {
    match Qemu::default().probe().await {
        Availability::Available { details } => {
            eprintln!("qemu available: {details:?}");
            assert!(
                details["machines"].contains("microvm"),
                "this QEMU lacks the microvm machine: {details:?}"
            );
            true
        }
        Availability::Unavailable { reason, fix } => {
            if std::env::var("VIRTBENCH_SKIP_QEMU").as_deref() == Ok("1") {
                eprintln!("SKIPPED (VIRTBENCH_SKIP_QEMU=1): qemu unavailable here: {reason}");
                return false;
            }
            panic!("qemu unavailable here: {reason}; fix: {fix} (or set VIRTBENCH_SKIP_QEMU=1 to skip)")
        }
    }
}

async fn boot_and_answer(kernel: &str) {
    let run_id = format!("t{}-microvm-{kernel}", std::process::id());
    let ctx = RunContext::new(&run_id, scenario(kernel), CancellationToken::new()).unwrap();
    let platform = Qemu::default();
    let records = platform.prepare(&ctx).await.unwrap();
    for r in &records {
        eprintln!(
            "artifact {:<20} {:>10} bytes  build_ms={:?}",
            r.name, r.bytes, r.build_ms
        );
    }
    let variants = platform.variants(&ctx.scenario);
    assert_eq!(variants.len(), 1, "{variants:?}");
    let variant = &variants[0];
    assert_eq!(
        variant.label,
        format!("qemu/all-in-one/microvm-{kernel}/nat")
    );
    let probe = Probe::for_expression("(5+3)/2").unwrap();
    let t0 = Instant::now();
    let ready = virtbench::run::deploy_ready(&platform, &ctx, variant, &probe)
        .await
        .unwrap_or_else(|e| panic!("{variant:?} did not answer: {e}"));
    let mut dep = ready.dep;
    let launch_to_answer = ready.ready.duration_since(t0);
    let phases = dep.ready_phases().await;
    let details = dep.details();
    eprintln!(
        "{}: launch to first answer {:.0} ms; phases {:?}",
        variant.label,
        launch_to_answer.as_secs_f64() * 1e3,
        phases
    );
    eprintln!("details: {details:?}");
    assert_eq!(details["machine"], "microvm");
    assert!(details["machine_options"].starts_with("microvm,"));
    assert_eq!(details["kernel"], kernel);
    if kernel == "minimal" {
        assert!(
            details["guest_kernel"].ends_with("-virtbench-minimal"),
            "{details:?}"
        );
        assert!(details["guest_kernel_source"].starts_with("minimal:linux-source-"));
        assert!(details["machine_options"].contains("acpi=off"));
    } else {
        assert!(details["machine_options"].contains("acpi=on"));
    }
    let names: Vec<&str> = phases.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["firmware+kernel", "init", "service"]);
    let guest_ready: f64 = details["guest_uptime_service_ready_s"].parse().unwrap();
    assert!(
        guest_ready > 0.0 && guest_ready < launch_to_answer.as_secs_f64(),
        "{guest_ready}"
    );

    // The answer, again, by hand through the forwarded port.
    let body = post(dep.endpoint(), "(5+3)/2").await;
    assert_eq!(body, "result = 4\r\n");
    assert!(dep.endpoint().ip().is_loopback());
    let prefix = format!("vb-{run_id}-");
    assert_eq!(vm::find_by_name_prefix(&prefix).len(), 1);
    let sample = dep.sample().await.unwrap();
    assert!(sample.rss_bytes > 10 << 20, "{sample:?}");

    dep.teardown().await.unwrap();
    assert!(vm::find_by_name_prefix(&prefix).is_empty());
    assert_eq!(platform.cleanup(Some(&run_id)).await.unwrap(), 0);
    let _ = std::fs::remove_dir_all(&ctx.work_dir);
}

async fn post(addr: std::net::SocketAddr, body: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let req = format!(
        "POST / HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).await.unwrap();
    let raw = String::from_utf8(raw).unwrap();
    assert!(raw.starts_with("HTTP/1.1 200"), "{raw}");
    raw.split_once("\r\n\r\n").unwrap().1.to_string()
}

/// Debian's cloud kernel on the microvm: its virtio-mmio driver is a module, and finds
/// the devices in the machine's ACPI tables.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn microvm_with_the_stock_kernel_answers() {
    if !available().await {
        return;
    }
    boot_and_answer("stock").await;
}

/// The minimal kernel on the microvm (built on first use: tens of minutes on two cores).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn microvm_with_the_minimal_kernel_answers() {
    if !available().await {
        return;
    }
    if minimal_kernel::source_tarball().is_none() {
        if std::env::var("VIRTBENCH_SKIP_MINIMAL_KERNEL").as_deref() == Ok("1") {
            eprintln!("SKIPPED (VIRTBENCH_SKIP_MINIMAL_KERNEL=1): no Debian kernel source");
            return;
        }
        panic!(
            "no /usr/src/linux-source-*.tar.xz: apt-get install {} flex bison bc libelf-dev \
             (or .ci/setup-host), or set VIRTBENCH_SKIP_MINIMAL_KERNEL=1 to skip",
            minimal_kernel::SOURCE_PACKAGE
        );
    }
    boot_and_answer("minimal").await;
}
