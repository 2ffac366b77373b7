//! The minimal guest kernel: Debian's kernel source (`linux-source-<version>`, a tarball
//! under /usr/src) configured with `make allnoconfig` plus the options in
//! `kernel-minimal.config` (kept beside this file), built once on demand into the cache
//! and reused afterwards. No modules: everything the appliance needs is built in, so
//! its initramfs holds only the calculator.
//!
//! The build takes minutes (tens of them on two busy cores): a progress line goes to
//! stderr every [`PROGRESS_EVERY`] while it runs, and the time it took is recorded as
//! the artifact's build time.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::kernel::Kernel;
use crate::error::Error;

/// The configuration fragment: every option the appliance needs, the rest off.
pub const CONFIG: &str = include_str!("kernel-minimal.config");
/// Where Debian's `linux-source-<version>` packages put their tarball.
const SOURCE_DIR: &str = "/usr/src";
/// The package to install when no tarball is there (depends on the current version).
pub const SOURCE_PACKAGE: &str = "linux-source";
const PROGRESS_EVERY: Duration = Duration::from_secs(30);

/// The newest `/usr/src/linux-source-<version>.tar.xz`.
pub fn source_tarball() -> Option<PathBuf> {
    let mut found: Vec<(Vec<u64>, PathBuf)> = std::fs::read_dir(SOURCE_DIR)
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter_map(|p| {
            let name = p.file_name()?.to_str()?.to_string();
            let version = name
                .strip_prefix("linux-source-")?
                .strip_suffix(".tar.xz")?
                .to_string();
            Some((version_key(&version), p))
        })
        .collect();
    found.sort();
    found.pop().map(|(_, p)| p)
}

/// "6.12" > "6.1": numeric comparison of the dotted parts.
fn version_key(v: &str) -> Vec<u64> {
    v.split('.').map(|p| p.parse().unwrap_or(0)).collect()
}

/// The options the fragment sets to `y` (checked against the resolved `.config`: an
/// option Kconfig silently dropped, for a missing dependency, must not go unnoticed).
pub fn wanted_options(config: &str) -> Vec<&str> {
    config
        .lines()
        .map(str::trim)
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.strip_suffix("=y"))
        .collect()
}

/// The cache key: the source tarball (name and size) and the configuration.
fn cache_key(tarball: &Path) -> String {
    use sha2::{Digest, Sha256};
    let size = std::fs::metadata(tarball).map(|m| m.len()).unwrap_or(0);
    let mut h = Sha256::new();
    h.update(format!("source {} {size}\n", tarball.display()));
    h.update(CONFIG.as_bytes());
    super::hex(&h.finalize())[..16].to_string()
}

/// The built kernel, building it first if the cache has none (blocking).
pub fn obtain(cache_dir: &Path) -> Result<Kernel, Error> {
    let tarball = source_tarball().ok_or_else(|| {
        Error::Failed(format!(
            "the minimal guest kernel needs Debian's kernel source: no {SOURCE_DIR}/linux-source-*.tar.xz \
             (apt-get install {SOURCE_PACKAGE} flex bison bc libelf-dev, or .ci/setup-host)"
        ))
    })?;
    let source_name = tarball
        .file_name()
        .unwrap_or_default()
        .to_string_lossy()
        .trim_end_matches(".tar.xz")
        .to_string();
    let key = cache_key(&tarball);
    let dir = cache_dir.join("kernel-minimal").join(&key);
    std::fs::create_dir_all(&dir).map_err(Error::io(format!("creating {}", dir.display())))?;
    // Two runs (or two tests) at once build it once.
    let _lock = super::lock_dir(&dir)?;
    let image = dir.join("bzImage");
    let release_file = dir.join("release");
    let complete = dir.join(".complete");
    let mut build_ms = None;
    if !complete.exists() {
        let started = Instant::now();
        build(&tarball, &dir, &image, &release_file)?;
        let ms = started.elapsed().as_secs_f64() * 1e3;
        std::fs::write(&complete, format!("{ms:.0}\n"))
            .map_err(Error::io(format!("writing {}", complete.display())))?;
        build_ms = Some(ms);
    }
    let release = std::fs::read_to_string(&release_file)
        .map_err(Error::io(format!("reading {}", release_file.display())))?
        .trim()
        .to_string();
    Ok(Kernel {
        vmlinuz: image,
        release,
        source: format!("minimal:{source_name} config {key}"),
        modules: Vec::new(),
        fetch_ms: build_ms,
        cached: build_ms.is_none(),
    })
}

fn build(tarball: &Path, dir: &Path, image: &Path, release_file: &Path) -> Result<(), Error> {
    let work = dir.join(format!(".build-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work).map_err(Error::io(format!("creating {}", work.display())))?;
    let result = build_in(tarball, &work, image, release_file);
    // The tree is about a gigabyte once built: only the image is kept.
    let _ = std::fs::remove_dir_all(&work);
    result
}

fn build_in(tarball: &Path, work: &Path, image: &Path, release_file: &Path) -> Result<(), Error> {
    let started = Instant::now();
    progress(started, "unpacking the kernel source");
    run(Command::new("tar")
        .arg("-xf")
        .arg(tarball)
        .arg("-C")
        .arg(work)
        .arg("--strip-components=1"))?;
    let fragment = work.join("virtbench-minimal.config");
    std::fs::write(&fragment, CONFIG)
        .map_err(Error::io(format!("writing {}", fragment.display())))?;
    run(Command::new("make")
        .arg("-C")
        .arg(work)
        .arg("allnoconfig")
        .env("KCONFIG_ALLCONFIG", &fragment))?;
    let config_path = work.join(".config");
    let resolved = std::fs::read_to_string(&config_path)
        .map_err(Error::io(format!("reading {}", config_path.display())))?;
    let dropped: Vec<&str> = wanted_options(CONFIG)
        .into_iter()
        .filter(|o| !resolved.lines().any(|l| l == format!("{o}=y")))
        .collect();
    if !dropped.is_empty() {
        return Err(Error::Failed(format!(
            "minimal kernel configuration: Kconfig turned off {} (a dependency missing from kernel-minimal.config?)",
            dropped.join(", ")
        )));
    }
    let jobs = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    progress(started, &format!("compiling with {jobs} jobs"));
    let log = work.join("build.log");
    let mut child = Command::new("make")
        .arg("-C")
        .arg(work)
        .arg(format!("-j{jobs}"))
        .arg("bzImage")
        .stdout(Stdio::piped())
        .stderr(
            std::fs::File::create(&log)
                .map_err(Error::io(format!("creating {}", log.display())))?,
        )
        .spawn()
        .map_err(Error::io("running make bzImage"))?;
    let mut compiled = 0usize;
    let mut last = Instant::now();
    if let Some(out) = child.stdout.take() {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            if line.trim_start().starts_with("CC ") {
                compiled += 1;
            }
            if last.elapsed() >= PROGRESS_EVERY {
                last = Instant::now();
                progress(started, &format!("{compiled} files compiled"));
            }
        }
    }
    let status = child
        .wait()
        .map_err(Error::io("waiting for make bzImage"))?;
    if !status.success() {
        let tail = log_tail(&log, 3);
        return Err(Error::Failed(format!(
            "building the minimal kernel failed ({status}): {tail}"
        )));
    }
    let release = run(Command::new("make")
        .arg("-s")
        .arg("-C")
        .arg(work)
        .arg("kernelrelease"))?;
    let built = work.join("arch/x86/boot/bzImage");
    let tmp = image.with_extension("tmp");
    std::fs::copy(&built, &tmp)
        .and_then(|_| std::fs::rename(&tmp, image))
        .map_err(Error::io(format!("copying {}", built.display())))?;
    std::fs::write(release_file, release.trim())
        .map_err(Error::io(format!("writing {}", release_file.display())))?;
    progress(
        started,
        &format!("done: {compiled} files, {} bytes", file_len(image)),
    );
    Ok(())
}

fn file_len(p: &Path) -> u64 {
    std::fs::metadata(p).map(|m| m.len()).unwrap_or(0)
}

/// One line on stderr: the build is long and otherwise silent.
fn progress(started: Instant, what: &str) {
    let s = started.elapsed().as_secs();
    eprintln!(
        "virtbench: building the minimal guest kernel (once; cached afterwards) [{}m{:02}s]: {what}",
        s / 60,
        s % 60
    );
}

fn run(cmd: &mut Command) -> Result<String, Error> {
    let shown = format!("{cmd:?}");
    let out = cmd
        .output()
        .map_err(Error::io(format!("running {shown}")))?;
    super::check_status(&shown, &out)?;
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The last `n` non-empty lines of a build log, on one line (what a failed step says).
fn log_tail(path: &Path, n: usize) -> String {
    let text = std::fs::read(path).unwrap_or_default();
    let text = String::from_utf8_lossy(&text);
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    lines[lines.len().saturating_sub(n)..].join(" | ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fragment_names_what_the_appliance_needs() {
        let wanted = wanted_options(CONFIG);
        for o in [
            "CONFIG_VIRTIO_MMIO",
            "CONFIG_VIRTIO_MMIO_CMDLINE_DEVICES",
            "CONFIG_VIRTIO_NET",
            "CONFIG_VIRTIO_BLK",
            "CONFIG_SERIAL_8250_CONSOLE",
            "CONFIG_BLK_DEV_INITRD",
            "CONFIG_EPOLL",
            "CONFIG_FUTEX",
        ] {
            assert!(
                wanted.contains(&o),
                "{o} missing from kernel-minimal.config"
            );
        }
        assert!(!CONFIG.contains("CONFIG_MODULES=y"));
    }

    #[test]
    fn newer_versions_sort_higher() {
        assert!(version_key("6.12") > version_key("6.1"));
        assert!(version_key("6.1.5") > version_key("6.1"));
    }
}
