//! Facts about this host, recorded in every run so that runs compare.

use std::collections::BTreeMap;

use crate::results::HostInfo;

pub fn facts(tools: BTreeMap<String, String>) -> HostInfo {
    use sysinfo::System;
    let mut sys = System::new();
    sys.refresh_memory();
    sys.refresh_cpu_all();
    let cpu_model = sys
        .cpus()
        .first()
        .map(|c| c.brand().trim().to_string())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "unknown".into());
    HostInfo {
        hostname: System::host_name().unwrap_or_else(|| "unknown".into()),
        cpu_model,
        cores: sys.cpus().len(),
        memory_bytes: sys.total_memory(),
        kernel: System::kernel_version().unwrap_or_else(|| "unknown".into()),
        os: System::long_os_version().unwrap_or_else(|| "unknown".into()),
        virtbench_version: env!("CARGO_PKG_VERSION").into(),
        tools,
    }
}

/// `git describe --always --dirty` of the source tree the harness was built from.
pub fn git_revision() -> String {
    std::process::Command::new("git")
        .args(["describe", "--always", "--dirty", "--abbrev=12"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "unknown".into())
}
