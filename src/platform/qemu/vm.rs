//! One running QEMU process: spawn, watch its console, stop it.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use tokio::process::{Child, Command};
use tokio_util::sync::CancellationToken;

use super::args::{self, VmSpec};
use super::qmp::Qmp;
use crate::host::procfs;
use crate::platform::console::{self, Watcher};
use crate::platform::PlatformError;

pub const QEMU: &str = "qemu-system-x86_64";
/// How long a VM gets to quit on QMP `quit` before it is killed.
const QUIT_GRACE: Duration = Duration::from_secs(5);

#[derive(Debug)]
pub struct Vm {
    /// Role(s) the guest runs, e.g. `sum` or `all`.
    pub role: String,
    pub name: String,
    pub pid: u32,
    child: Option<Child>,
    pub console_log: PathBuf,
    pub stderr_log: PathBuf,
    pub qmp_socket: Option<PathBuf>,
    pub watcher: Watcher,
    stop_watch: CancellationToken,
}

impl Vm {
    /// Start QEMU for `spec`; returns as soon as the process exists.
    pub fn spawn(role: &str, spec: &VmSpec, stderr_log: &Path) -> Result<Vm, PlatformError> {
        let stderr = std::fs::File::create(stderr_log).map_err(PlatformError::io(format!(
            "creating {}",
            stderr_log.display()
        )))?;
        let _ = std::fs::remove_file(&spec.console_log);
        let stop_watch = CancellationToken::new();
        let watcher = Watcher::start(&spec.console_log, stop_watch.clone());
        // `ip netns exec` execs QEMU in place: same pid, same command line.
        let mut cmd = match &spec.netns {
            Some(ns) => {
                let mut c = Command::new("ip");
                c.args(["netns", "exec", ns, QEMU]);
                c
            }
            None => Command::new(QEMU),
        };
        let child = cmd
            .args(args::qemu_args(spec))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr)
            // Safety net: a VM never outlives a harness that forgot it.
            .kill_on_drop(true)
            .spawn()
            .map_err(PlatformError::io(format!(
                "starting {QEMU} for {}",
                spec.name
            )))?;
        let pid = child.id().unwrap_or(0);
        tracing::debug!(name = %spec.name, pid, "qemu started");
        Ok(Vm {
            role: role.into(),
            name: spec.name.clone(),
            pid,
            child: Some(child),
            console_log: spec.console_log.clone(),
            stderr_log: stderr_log.to_owned(),
            qmp_socket: spec.qmp_socket.clone(),
            watcher,
            stop_watch,
        })
    }

    /// If the process has exited: how, with the end of its stderr and console.
    pub fn exited(&mut self) -> Option<String> {
        let status = self.child.as_mut()?.try_wait().ok()??;
        Some(format!(
            "VM {} exited ({status}); qemu: {}; console: {}",
            self.name,
            console::tail(&self.stderr_log, 2),
            console::tail(&self.console_log, 4)
        ))
    }

    pub fn running(&self) -> bool {
        self.child.is_some()
    }

    /// QMP `quit`, then kill if it did not exit in time. Idempotent.
    pub async fn stop(&mut self) -> Result<(), PlatformError> {
        self.stop_watch.cancel();
        let Some(mut child) = self.child.take() else {
            return Ok(());
        };
        if child.try_wait().ok().flatten().is_none() {
            let mut quit_sent = false;
            if let Some(sock) = &self.qmp_socket {
                if let Ok(mut q) = Qmp::connect(sock, Duration::from_secs(2)).await {
                    // The connection drops as QEMU exits: the reply may never come.
                    let _ = q.execute("quit", None, Duration::from_secs(2)).await;
                    quit_sent = true;
                }
            }
            let exited = quit_sent && tokio::time::timeout(QUIT_GRACE, child.wait()).await.is_ok();
            if !exited {
                tracing::debug!(name = %self.name, "killing qemu");
                let _ = child.start_kill();
                child
                    .wait()
                    .await
                    .map_err(PlatformError::io(format!("waiting for {}", self.name)))?;
            }
        }
        if let Some(sock) = &self.qmp_socket {
            let _ = std::fs::remove_file(sock);
        }
        Ok(())
    }
}

impl Drop for Vm {
    fn drop(&mut self) {
        self.stop_watch.cancel();
    }
}

/// `qemu-system-x86_64 --version`, first line ("QEMU emulator version 7.2.22 ...").
pub async fn version() -> Option<String> {
    let out = Command::new(QEMU).arg("--version").output().await.ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text.lines().next()?.trim();
    Some(
        line.strip_prefix("QEMU emulator version ")
            .unwrap_or(line)
            .to_string(),
    )
}

/// The machine types virtbench uses that this QEMU offers (`-machine help`).
pub async fn machines() -> Vec<String> {
    let Ok(out) = Command::new(QEMU).args(["-machine", "help"]).output().await else {
        return Vec::new();
    };
    let text = String::from_utf8_lossy(&out.stdout);
    [args::Machine::Q35, args::Machine::Microvm { acpi: true }]
        .iter()
        .map(|m| m.name())
        .filter(|m| {
            text.lines()
                .any(|l| l.split_whitespace().next() == Some(*m))
        })
        .map(str::to_string)
        .collect()
}

/// QEMU processes whose `-name` starts with `prefix`, from /proc (for cleanup after
/// a crash). Returns (pid, name).
pub fn find_by_name_prefix(prefix: &str) -> Vec<(u32, String)> {
    procfs::pids()
        .into_iter()
        .filter_map(|pid| {
            let name = qemu_name(&procfs::cmdline_raw(pid)?)?;
            name.starts_with(prefix).then_some((pid, name))
        })
        .collect()
}

/// The `-name` of a QEMU command line (NUL-separated, as in /proc/PID/cmdline).
pub fn qemu_name(cmdline: &[u8]) -> Option<String> {
    let args: Vec<String> = cmdline
        .split(|b| *b == 0)
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect();
    let exe = args.first()?;
    if !exe.rsplit('/').next()?.starts_with("qemu-system") {
        return None;
    }
    let i = args.iter().position(|a| a == "-name")?;
    let value = args.get(i + 1)?;
    Some(value.split(',').next().unwrap_or(value).to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn name_from_cmdline() {
        let raw = b"qemu-system-x86_64\0-name\0vb-r1-d1-sum,process=vb-r1-d1-sum\0-m\x00128\0";
        assert_eq!(qemu_name(raw).as_deref(), Some("vb-r1-d1-sum"));
        let raw = b"/usr/bin/qemu-system-x86_64\0-m\x00128\0";
        assert_eq!(qemu_name(raw), None);
        // Another program with the same arguments is not ours to kill.
        let raw = b"/bin/sleep\0-name\0vb-r1-d1-sum\0";
        assert_eq!(qemu_name(raw), None);
    }
}
