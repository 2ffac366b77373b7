//! Facts about this host, recorded in every run so that runs compare.

use std::collections::BTreeMap;

use crate::results::HostInfo;

pub mod command;
pub mod procfs;

pub fn facts(tools: BTreeMap<String, String>) -> HostInfo {
    use sysinfo::System;
    let unknown = |_| "unknown".to_string();
    // sysinfo only errs on systems it does not support: the facts then say "unknown"
    // and 0 rather than stopping the run.
    let (cpu_model, cores, memory_bytes) = match System::new() {
        Ok(mut sys) => {
            sys.refresh_memory();
            sys.refresh_cpu_all();
            let cpu_model = sys
                .cpus()
                .first()
                .map(|c| c.brand().trim().to_string())
                .filter(|s| !s.is_empty())
                .unwrap_or_else(|| "unknown".into());
            (cpu_model, sys.cpus().len(), sys.total_memory())
        }
        Err(e) => {
            tracing::warn!(error = %e, "host facts: CPU and memory unknown");
            ("unknown".into(), 0, 0)
        }
    };
    HostInfo {
        hostname: System::host_name().unwrap_or_else(unknown),
        cpu_model,
        cores,
        memory_bytes,
        kernel: System::kernel_version().unwrap_or_else(unknown),
        os: System::long_os_version().unwrap_or_else(unknown),
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
