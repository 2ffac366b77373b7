//! Names of the open maps of a `PlatformResult` (`extras` series, `details` and
//! `variant` keys) that the report reads. Writers and readers share these constants so
//! that a name cannot drift on one side only; each is documented in
//! docs/results-schema.md, and a test of the claims table checks that every name a claim
//! reads is documented there and written by some platform or experiment.

// ---- `extras` series ----

/// C12: `docker commit` of a running container, and a Dockerfile build of the same image.
pub const DOCKER_COMMIT_MS: &str = "docker_commit_ms";
pub const DOCKER_BUILD_MS: &str = "docker_build_ms";
pub const DOCKER_COMMIT_IMAGE_BYTES: &str = "docker_commit_image_bytes";
pub const DOCKER_BUILD_IMAGE_BYTES: &str = "docker_build_image_bytes";
/// C12: each attempt's outcome (1 made an image, 0 failed; the series' note holds the
/// first failure's reason).
pub const DOCKER_COMMIT_OK: &str = "docker_commit_ok";
pub const DOCKER_BUILD_OK: &str = "docker_build_ok";

/// C5: moving an image between hosts (docker save / load).
pub const IMAGE_EXPORT_MS: &str = "image_export_ms";
pub const IMAGE_EXPORT_BYTES: &str = "image_export_bytes";
pub const IMAGE_IMPORT_MS: &str = "image_import_ms";

/// C11: cloning a VM disk as a copy-on-write overlay or as a full copy.
pub const VM_CLONE_OVERLAY_MS: &str = "vm_clone_overlay_ms";
pub const VM_CLONE_FULL_MS: &str = "vm_clone_full_ms";
pub const VM_CLONE_OVERLAY_BYTES: &str = "vm_clone_overlay_bytes";
pub const VM_CLONE_FULL_BYTES: &str = "vm_clone_full_bytes";

/// C13: snapshot, restore and resize of a running VM.
pub const SNAPSHOT_MS: &str = "snapshot_ms";
pub const SNAPSHOT_BYTES: &str = "snapshot_bytes";
pub const RESTORE_MS: &str = "restore_ms";
pub const RESTORE_TO_ANSWER_MS: &str = "restore_to_answer_ms";
pub const RESTORE_DOWNTIME_MS: &str = "restore_downtime_ms";
pub const RESIZE_DOWNTIME_MS: &str = "resize_downtime_ms";
pub const RESIZE_LIVE_OK: &str = "resize_live_ok";
/// C13, each written as a value whatever happened: the resize was done (0 with the
/// reason as the series' note when it failed); the platform demanded that the VM be
/// stopped first; the guest kept running across it (same boot id before and after).
pub const RESIZE_OK: &str = "resize_ok";
pub const RESIZE_DEMANDED_STOP: &str = "resize_demanded_stop";
pub const RESIZE_GUEST_KEPT_RUNNING: &str = "resize_guest_kept_running";
/// C13 on a hosted hypervisor (QEMU): each part of a live resize as its own outcome,
/// 0 with the reason as the note when it did not happen (a machine without CPU
/// hotplug, a guest without a balloon driver).
pub const RESIZE_MEMORY_OK: &str = "resize_memory_ok";
pub const RESIZE_CPUS_OK: &str = "resize_cpus_ok";

/// C3: isolation facts of the calculator's process.
pub const ISOLATION_SHARED_KERNEL: &str = "isolation_shared_kernel";
pub const ISOLATION_PID_NAMESPACE_PRIVATE: &str = "isolation_pid_namespace_private";
pub const ISOLATION_NET_NAMESPACE_PRIVATE: &str = "isolation_net_namespace_private";
pub const ISOLATION_HOST_PROCESSES_VISIBLE: &str = "isolation_host_processes_visible";
pub const ISOLATION_CAPABILITIES: &str = "isolation_capabilities";
/// C3: 1 when the workload holds CAP_SYS_ADMIN on the host's own kernel (shared
/// kernel and the bit set in its CapEff), 0 on another kernel or without it.
pub const ISOLATION_HOST_CAP_SYS_ADMIN: &str = "isolation_host_cap_sys_admin";
/// Processes the workload's /proc lists, and its own PID there (1: first of its kind).
pub const ISOLATION_PROCESSES_VISIBLE: &str = "isolation_processes_visible";
pub const ISOLATION_WORKLOAD_PID: &str = "isolation_workload_pid";
/// Could the workload open a TCP connection to a harness listener on host loopback /
/// on the host's address on the workload's network?
pub const ISOLATION_REACHES_HOST_LOOPBACK: &str = "isolation_reaches_host_loopback";
pub const ISOLATION_REACHES_HOST_BRIDGE: &str = "isolation_reaches_host_bridge";

/// C6: p99 quiet, beside a disk-only noisy sibling (what the claim is about) and beside
/// a CPU-only one (shown beside it). Files written before the two were apart hold
/// `noisy_neighbour_p99_us` (both at once), which the report no longer judges.
pub const NOISY_BASELINE_P99_US: &str = "noisy_baseline_p99_us";
pub const NOISY_DISK_P99_US: &str = "noisy_disk_p99_us";
pub const NOISY_CPU_P99_US: &str = "noisy_cpu_p99_us";

/// C7: survival of the calculator when the container engine's daemon is killed (on a
/// private engine, see `platform::docker::faults`). Every kill test (docker's engine,
/// podman's conmon, the sub-service kills) also writes `fault_<trial>_*` series
/// (`measure::fault::series`), drawn in the report's Faults section.
pub const DAEMON_KILL_SURVIVED: &str = "daemon_kill_survived";
/// Podman's side of C7: podman processes among the ancestors of the calculator's
/// container process while it serves (0: no daemon to kill; conmon is killed instead,
/// trial `conmon_kill`).
pub const PODMAN_DAEMON_PROCESSES: &str = "podman_daemon_processes";

/// C9: answered at its own address without a forward / through the forwarded port.
pub const REACH_GUEST_DIRECT: &str = "reach_guest_direct";
pub const REACH_FORWARDED: &str = "reach_forwarded";
/// C9/C10: answered a LAN PC of the run's own (a network namespace behind a veth) at
/// its own address / through the forwarded port at the host's LAN address.
pub const REACH_OUTSIDE_DIRECT: &str = "reach_outside_direct";
pub const REACH_OUTSIDE_FORWARDED: &str = "reach_outside_forwarded";

/// Names the report reads that no platform writes yet, each with the work that will
/// write it. The schema documents them as "not yet"; a test fails as soon as one is
/// written, so this list only shrinks.
pub const PENDING: &[(&str, &str)] = &[];

// ---- `details` and `variant` keys ----

/// `details`: the accelerator a VM ran under (`kvm`, `tcg`); TCG figures are emulation.
pub const ACCELERATOR: &str = "accelerator";
/// `details`: why that accelerator was chosen (KVM probe result, scenario request).
pub const ACCELERATOR_REASON: &str = "accelerator_reason";
/// `details`: how clients reach the variant: `forwarded-port` (a published or forwarded
/// host port), `direct-address` (an address of its own, or the host's for a host
/// process), `floating-ip`.
pub const ACCESS: &str = "access";
/// `variant`: network mode (`bridge`, `host`, `nat`).
pub const NETWORK: &str = "network";
/// `variant`: `per-role`, `all-in-one`, `routed`.
pub const TOPOLOGY: &str = "topology";
