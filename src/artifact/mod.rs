//! Artifacts the platforms run: the static calculator binary, the container image and
//! the VM appliance. Built once, cached, and timed apart from startup.

use std::path::PathBuf;
use std::process::Output;

use crate::error::Error;

pub mod appliance;
pub mod calculator;
pub mod disk;
pub mod initramfs;
pub mod kernel;
pub mod minimal_kernel;

/// Where artifacts are cached across runs: `$VIRTBENCH_CACHE`, else
/// `$XDG_CACHE_HOME/virtbench`, else `~/.cache/virtbench`.
pub fn cache_dir() -> PathBuf {
    if let Some(p) = std::env::var_os("VIRTBENCH_CACHE") {
        return PathBuf::from(p);
    }
    if let Some(p) = std::env::var_os("XDG_CACHE_HOME") {
        return PathBuf::from(p).join("virtbench");
    }
    let home = std::env::var_os("HOME").unwrap_or_else(|| "/root".into());
    PathBuf::from(home).join(".cache/virtbench")
}

/// `Ok` if the command behind `out` succeeded, else `<what> failed (<status>): <last
/// non-empty stderr line>` (the line that usually says why).
pub(crate) fn check_status(what: &str, out: &Output) -> Result<(), Error> {
    if out.status.success() {
        return Ok(());
    }
    let stderr = String::from_utf8_lossy(&out.stderr);
    let last = stderr
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("");
    Err(Error::Failed(format!(
        "{what} failed ({}): {last}",
        out.status
    )))
}

/// Hex SHA-256 of a file's content (cache keys, image labels).
pub fn sha256_file(path: &std::path::Path) -> std::io::Result<String> {
    use sha2::{Digest, Sha256};
    use std::io::Read;
    let mut f = std::fs::File::open(path)?;
    let mut h = Sha256::new();
    // sha2 0.11 hashers are no `io::Write` any more: feed the file by hand.
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match f.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => h.update(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(hex(&h.finalize()))
}

/// Lower-case hex of a digest (sha2 0.11's output no longer formats as `{:x}`).
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// An exclusive lock on a cache directory, held while building into it (two runs, or two
/// tests of one process, starting at once must not write the same files).
pub(crate) fn lock_dir(dir: &std::path::Path) -> Result<std::fs::File, Error> {
    use std::os::fd::AsRawFd;
    let path = dir.join(".lock");
    let f = std::fs::File::create(&path).map_err(crate::error::Error::io(format!(
        "creating {}",
        path.display()
    )))?;
    // SAFETY: valid fd; the lock is released when the file is closed.
    if unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX) } < 0 {
        return Err(crate::error::Error::io(format!(
            "locking {}",
            path.display()
        ))(std::io::Error::last_os_error()));
    }
    Ok(f)
}

#[cfg(test)]
mod tests {
    #[test]
    fn sha256_file_is_the_lowercase_hex_digest() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("abc");
        std::fs::write(&path, b"abc").unwrap();
        // FIPS 180-2 test vector: cache keys and image labels stay as before.
        assert_eq!(
            super::sha256_file(&path).unwrap(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
