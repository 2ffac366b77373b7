//! Artifacts the platforms run: the static calculator binary, the container image and
//! the VM appliance. Built once, cached, and timed apart from startup.

use std::path::PathBuf;

pub mod appliance;
pub mod calculator;
pub mod disk;
pub mod image;
pub mod initramfs;
pub mod kernel;

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

/// Hex SHA-256 of a file's content (cache keys, image labels).
pub fn sha256_file(path: &std::path::Path) -> std::io::Result<String> {
    use sha2::{Digest, Sha256};
    let mut f = std::fs::File::open(path)?;
    let mut h = Sha256::new();
    std::io::copy(&mut f, &mut h)?;
    Ok(format!("{:x}", h.finalize()))
}
