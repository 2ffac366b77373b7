//! A Docker engine of the run's own, for fault tests that kill the engine (C7).
//!
//! Killing the host's `dockerd` would take the user's containers with it, so the fault
//! test starts a second `dockerd` beside it: its own `--data-root`, `--exec-root`,
//! `--pidfile` and socket in one directory `vbe-<run id>` of the temp dir, no bridge
//! (`--bridge none`: our containers use the host's network), no iptables rules (the
//! host's firewall is left as it is), and, `--containerd` unset, a containerd of its
//! own that dockerd starts under its exec-root. Everything it creates lives under that
//! directory or is a process whose command line names it, which is how
//! [`leftovers`] finds what an interrupted run left and [`PrivateEngine::destroy`]
//! removes it, also from `Drop` (an error or Ctrl-C drops the future holding it).

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use bollard::Docker as Engine;
use futures_util::StreamExt;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::engine_error;
use crate::platform::PlatformError;

/// Prefix of the engine's directory in the temp dir: `vbe-<run id>`.
pub const DIR_PREFIX: &str = "vbe-";
/// How long dockerd may take to answer on its socket.
const START_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a graceful stop (SIGTERM) may take before everything is killed.
const STOP_TIMEOUT: Duration = Duration::from_secs(10);

/// The engine's directory for a run.
pub fn dir_for(run_id: &str) -> PathBuf {
    std::env::temp_dir().join(format!("{DIR_PREFIX}{run_id}"))
}

/// A running private engine; stopped and its directory removed on `destroy` or drop.
pub struct PrivateEngine {
    dir: PathBuf,
    dockerd: Option<tokio::process::Child>,
    engine: Option<Engine>,
    live_restore: bool,
    destroyed: bool,
}

impl std::fmt::Debug for PrivateEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PrivateEngine")
            .field("dir", &self.dir)
            .field("live_restore", &self.live_restore)
            .finish_non_exhaustive()
    }
}

impl Drop for PrivateEngine {
    fn drop(&mut self) {
        if !self.destroyed {
            tracing::info!(dir = %self.dir.display(), "docker: removing the private engine (dropped)");
            destroy_dir(&self.dir);
        }
    }
}

impl PrivateEngine {
    /// Why the host cannot run a private engine, if it cannot: dockerd must be
    /// installed and we must be root (it mounts and makes namespaces).
    pub fn unsupported() -> Option<String> {
        if unsafe { libc::geteuid() } != 0 {
            return Some("a private Docker engine needs root".into());
        }
        if which("dockerd").is_none() {
            return Some("dockerd is not installed".into());
        }
        None
    }

    /// Start dockerd for `run_id` and wait until it answers.
    pub async fn start(
        run_id: &str,
        live_restore: bool,
        cancel: &CancellationToken,
    ) -> Result<PrivateEngine, PlatformError> {
        if let Some(why) = Self::unsupported() {
            return Err(PlatformError::at(
                "docker",
                "starting a private engine",
                why,
            ));
        }
        let dir = dir_for(run_id);
        std::fs::create_dir_all(&dir)
            .map_err(PlatformError::io(format!("creating {}", dir.display())))?;
        let mut me = PrivateEngine {
            dir,
            dockerd: None,
            engine: None,
            live_restore,
            destroyed: false,
        };
        me.spawn(live_restore, cancel).await?;
        Ok(me)
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn socket(&self) -> PathBuf {
        self.dir.join("docker.sock")
    }

    pub fn live_restore(&self) -> bool {
        self.live_restore
    }

    /// The client of the running engine.
    pub fn engine(&self) -> Result<&Engine, PlatformError> {
        self.engine.as_ref().ok_or_else(|| {
            PlatformError::at("docker", "using the private engine", "it is not running")
        })
    }

    /// Start dockerd again on the same directories (after a kill), with or without
    /// live-restore.
    pub async fn restart(
        &mut self,
        live_restore: bool,
        cancel: &CancellationToken,
    ) -> Result<(), PlatformError> {
        self.kill_dockerd();
        self.live_restore = live_restore;
        self.spawn(live_restore, cancel).await
    }

    /// Stop dockerd with SIGTERM (it stops its containers unless live-restore is on, and
    /// its containerd), wait for both to be gone (SIGKILL after [`STOP_TIMEOUT`]), then
    /// start it again: a clean switch of the live-restore setting. A containerd left
    /// running would hold its database lock and the new one would never start.
    pub async fn stop_and_start(
        &mut self,
        live_restore: bool,
        cancel: &CancellationToken,
    ) -> Result<(), PlatformError> {
        self.terminate_dockerd().await;
        let deadline = Instant::now() + STOP_TIMEOUT;
        while let Some(pid) = self.containerd_pid() {
            if Instant::now() > deadline {
                unsafe { libc::kill(pid as i32, libc::SIGKILL) };
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        self.live_restore = live_restore;
        self.spawn(live_restore, cancel).await
    }

    /// SIGTERM to dockerd, SIGKILL after [`STOP_TIMEOUT`]; reaped either way.
    async fn terminate_dockerd(&mut self) {
        if let Some(pid) = self.dockerd_pid() {
            unsafe { libc::kill(pid as i32, libc::SIGTERM) };
            let deadline = Instant::now() + STOP_TIMEOUT;
            while Instant::now() < deadline {
                if let Some(c) = self.dockerd.as_mut() {
                    if c.try_wait().ok().flatten().is_some() {
                        break;
                    }
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
        self.kill_dockerd();
    }

    async fn spawn(
        &mut self,
        live_restore: bool,
        cancel: &CancellationToken,
    ) -> Result<(), PlatformError> {
        let dir = &self.dir;
        let log_path = dir.join("dockerd.log");
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .map_err(PlatformError::io(format!("opening {}", log_path.display())))?;
        let log2 = log
            .try_clone()
            .map_err(PlatformError::io("duplicating the dockerd log"))?;
        let socket = self.socket();
        let mut cmd = tokio::process::Command::new("dockerd");
        cmd.arg("--data-root")
            .arg(dir.join("data"))
            .arg("--exec-root")
            .arg(dir.join("exec"))
            .arg("--pidfile")
            .arg(dir.join("dockerd.pid"))
            .arg("-H")
            .arg(format!("unix://{}", socket.display()))
            .args(["--bridge", "none", "--iptables=false", "--ip6tables=false"]);
        if live_restore {
            cmd.arg("--live-restore");
        }
        // Not in the harness's process group: a Ctrl-C in the terminal reaches only
        // the harness, which then stops this engine in order.
        cmd.process_group(0)
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log2);
        tracing::info!(dir = %dir.display(), live_restore, "docker: starting a private dockerd");
        let child = cmd
            .spawn()
            .map_err(PlatformError::io("starting a private dockerd"))?;
        self.dockerd = Some(child);
        let deadline = Instant::now() + START_TIMEOUT;
        let path = socket.to_string_lossy().into_owned();
        loop {
            if cancel.is_cancelled() {
                return Err(PlatformError::Cancelled);
            }
            if let Some(status) = self
                .dockerd
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                return Err(PlatformError::at(
                    "docker",
                    "starting the private dockerd",
                    format!("it exited ({status}): {}", log_tail(&log_path)),
                ));
            }
            if socket.exists() {
                let engine = Engine::connect_with_unix(&path, 10, bollard::API_DEFAULT_VERSION)
                    .map_err(|e| engine_error("connecting to the private engine", &e))?;
                if let Ok(Ok(engine)) =
                    tokio::time::timeout(Duration::from_secs(2), engine.negotiate_version()).await
                {
                    if engine.ping().await.is_ok() {
                        self.engine = Some(engine);
                        return Ok(());
                    }
                }
            }
            if Instant::now() > deadline {
                return Err(PlatformError::Timeout {
                    what: format!("docker: the private dockerd answering on {path}"),
                    after: START_TIMEOUT,
                });
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Copy `image` from `from` (the user's engine) into this one: `docker save | docker
    /// load` through the API.
    pub async fn load_image(&self, from: &Engine, image: &str) -> Result<(), PlatformError> {
        let mut archive = Vec::new();
        let mut stream = from.export_image(image);
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| engine_error(&format!("saving image {image}"), &e))?;
            archive.extend_from_slice(&chunk);
        }
        let options = bollard::query_parameters::ImportImageOptionsBuilder::default()
            .quiet(true)
            .build();
        let engine = self.engine()?;
        let mut stream = engine.import_image(options, bollard::body_full(archive.into()), None);
        while let Some(item) = stream.next().await {
            item.map_err(|e| {
                engine_error(&format!("loading {image} into the private engine"), &e)
            })?;
        }
        Ok(())
    }

    /// The dockerd process id, while it runs.
    pub fn dockerd_pid(&self) -> Option<u32> {
        self.dockerd.as_ref().and_then(|c| c.id())
    }

    /// The containerd this engine started (under its exec-root), if it runs.
    pub fn containerd_pid(&self) -> Option<u32> {
        let config = self.dir.join("exec").join("containerd");
        let config = config.to_string_lossy();
        processes()
            .into_iter()
            .find(|(_, _, cmd)| cmd.starts_with("containerd ") && cmd.contains(config.as_ref()))
            .map(|(pid, _, _)| pid)
    }

    /// `kill -9` dockerd, and reap it.
    pub fn kill_dockerd(&mut self) {
        if let Some(mut child) = self.dockerd.take() {
            let _ = child.start_kill();
            // Reaped so it does not linger as a zombie the leftovers check would see.
            let _ = std::thread::spawn(move || {
                let deadline = std::time::Instant::now() + Duration::from_secs(5);
                while std::time::Instant::now() < deadline {
                    if child.try_wait().ok().flatten().is_some() {
                        return;
                    }
                    std::thread::sleep(Duration::from_millis(20));
                }
            })
            .join();
        }
        self.engine = None;
    }

    /// `kill -9` this engine's containerd. Returns false when none was found.
    pub fn kill_containerd(&self) -> bool {
        match self.containerd_pid() {
            Some(pid) => unsafe { libc::kill(pid as i32, libc::SIGKILL) == 0 },
            None => false,
        }
    }

    /// Stop the engine (SIGTERM, then SIGKILL of everything it started), unmount and
    /// remove its directory. Idempotent.
    pub async fn destroy(&mut self) {
        if self.destroyed {
            return;
        }
        self.terminate_dockerd().await;
        let dir = self.dir.clone();
        let _ = tokio::task::spawn_blocking(move || destroy_dir(&dir)).await;
        self.destroyed = true;
    }
}

/// Everything a private engine in `dir` left: its processes (dockerd, containerd,
/// shims), the containers' processes (children of its shims), its mounts, its directory.
/// Killed, unmounted and removed; safe to call when nothing is left.
pub fn destroy_dir(dir: &Path) {
    let key = dir.to_string_lossy().into_owned();
    for _ in 0..3 {
        let procs = processes();
        let ours: Vec<u32> = procs
            .iter()
            .filter(|(_, _, cmd)| cmd.contains(&key))
            .map(|(pid, _, _)| *pid)
            .collect();
        // The containers' processes: children of our shims (their command lines do not
        // name the directory).
        let children: Vec<u32> = procs
            .iter()
            .filter(|(_, ppid, _)| ours.contains(ppid))
            .map(|(pid, _, _)| *pid)
            .collect();
        if ours.is_empty() && children.is_empty() {
            break;
        }
        for pid in children.iter().chain(&ours) {
            unsafe { libc::kill(*pid as i32, libc::SIGKILL) };
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    for m in mounts_under(dir) {
        let c = std::ffi::CString::new(m.as_os_str().as_encoded_bytes()).expect("no NUL in path");
        if unsafe { libc::umount2(c.as_ptr(), libc::MNT_DETACH) } != 0 {
            tracing::warn!(mount = %m.display(), error = %std::io::Error::last_os_error(), "docker: could not unmount");
        }
    }
    if dir.exists() {
        if let Err(e) = std::fs::remove_dir_all(dir) {
            tracing::warn!(dir = %dir.display(), error = %e, "docker: could not remove the private engine's directory");
        }
    }
}

/// Processes of the containers of the engine in `dir`: children of its shims, whose
/// own command lines name the directory (`-address <dir>/exec/containerd/...`).
pub fn container_processes(dir: &Path) -> usize {
    let key = dir.to_string_lossy();
    let procs = processes();
    let shims: Vec<u32> = procs
        .iter()
        .filter(|(_, _, c)| c.contains("containerd-shim") && c.contains(key.as_ref()))
        .map(|(pid, _, _)| *pid)
        .collect();
    procs
        .iter()
        .filter(|(_, ppid, _)| shims.contains(ppid))
        .count()
}

/// What private engines left on this host (of `run_id`, or of any run): one line each.
pub fn leftovers(run_id: Option<&str>) -> Vec<String> {
    let dirs: Vec<PathBuf> = match run_id {
        Some(id) => vec![dir_for(id)],
        None => std::fs::read_dir(std::env::temp_dir())
            .map(|rd| {
                rd.flatten()
                    .filter(|e| e.file_name().to_string_lossy().starts_with(DIR_PREFIX))
                    .map(|e| e.path())
                    .collect()
            })
            .unwrap_or_default(),
    };
    let mut out = Vec::new();
    let procs = processes();
    for dir in &dirs {
        let key = dir.to_string_lossy();
        for (pid, _, cmd) in procs.iter().filter(|(_, _, c)| c.contains(key.as_ref())) {
            out.push(format!("process {pid}: {cmd}"));
        }
        for m in mounts_under(dir) {
            out.push(format!("mount {}", m.display()));
        }
        if dir.exists() {
            out.push(format!("directory {}", dir.display()));
        }
    }
    // Interrupted before naming a directory we know: any process naming the prefix.
    if run_id.is_none() {
        let prefix = std::env::temp_dir().join(DIR_PREFIX);
        let prefix = prefix.to_string_lossy();
        for (pid, _, cmd) in procs.iter().filter(|(_, _, c)| c.contains(prefix.as_ref())) {
            let line = format!("process {pid}: {cmd}");
            if !out.contains(&line) {
                out.push(line);
            }
        }
    }
    out
}

/// Remove every private engine of `run_id` (or of any run). Returns how many
/// directories were removed.
pub fn cleanup(run_id: Option<&str>) -> usize {
    let dirs: Vec<PathBuf> = match run_id {
        Some(id) => vec![dir_for(id)],
        None => std::fs::read_dir(std::env::temp_dir())
            .map(|rd| {
                rd.flatten()
                    .filter(|e| e.file_name().to_string_lossy().starts_with(DIR_PREFIX))
                    .map(|e| e.path())
                    .collect()
            })
            .unwrap_or_default(),
    };
    let mut removed = 0;
    for dir in dirs {
        let had = dir.exists();
        destroy_dir(&dir);
        if had && !dir.exists() {
            removed += 1;
        }
    }
    removed
}

/// (pid, parent pid, command line with spaces) of every process; zombies skipped.
fn processes() -> Vec<(u32, u32, String)> {
    use crate::host::procfs;
    procfs::pids()
        .into_iter()
        .filter_map(|pid| {
            let stat = procfs::stat(pid).filter(|s| s.state != 'Z')?;
            Some((pid, stat.ppid, procfs::cmdline(pid)?.join(" ")))
        })
        .collect()
}

/// Mount points at or under `dir`, deepest first (so they unmount in order).
fn mounts_under(dir: &Path) -> Vec<PathBuf> {
    let Ok(info) = std::fs::read_to_string("/proc/self/mountinfo") else {
        return Vec::new();
    };
    let mut found: Vec<PathBuf> = info
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .map(unescape_mount)
        .map(PathBuf::from)
        .filter(|p| p.starts_with(dir))
        .collect();
    found.sort_by_key(|p| std::cmp::Reverse(p.components().count()));
    found.dedup();
    found
}

/// mountinfo escapes space, tab, newline and backslash as octal.
fn unescape_mount(s: &str) -> String {
    s.replace("\\040", " ")
        .replace("\\011", "\t")
        .replace("\\012", "\n")
        .replace("\\134", "\\")
}

fn which(cmd: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|p| p.join(cmd))
            .find(|p| p.is_file())
    })
}

fn log_tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    // The last lines: dockerd's final error often follows the cause by a line or two.
    let last: Vec<&str> = text
        .lines()
        .rev()
        .filter(|l| !l.trim().is_empty())
        .take(4)
        .collect();
    if last.is_empty() {
        return "no log".into();
    }
    last.into_iter().rev().collect::<Vec<_>>().join(" | ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mount_paths_unescape() {
        assert_eq!(unescape_mount("/tmp/a\\040b"), "/tmp/a b");
    }

    #[test]
    fn dir_is_named_after_the_run() {
        assert!(dir_for("r1").ends_with("vbe-r1"));
    }
}
