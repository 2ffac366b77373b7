//! `calculator noise [DIR [KIND]]`: a noisy neighbour for the noise test (claim C6),
//! running until killed. KIND `disk` rewrites + fsyncs a 1 MiB file in DIR
//! (`CALCULATOR_NOISE_DIR`, else /tmp) in a loop; `cpu` burns one core and touches no
//! file; `both` (the default) alternates 20 ms of burning with one write. The kinds are
//! apart so that the test can tell disk contention (what C6 is about) from CPU
//! contention. Part of the calculator binary so that a sibling of the same image (a
//! container, a process) can run it with nothing else installed.

use std::fs::File;
use std::io::{Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Bytes rewritten (and synced) per round.
pub const CHUNK: usize = 1 << 20;
/// CPU burnt between two writes.
const BURN: Duration = Duration::from_millis(20);

/// `noise` as the first argument.
pub fn requested() -> bool {
    std::env::args().nth(1).as_deref() == Some("noise")
}

/// What the neighbour contends for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Rewrite and fsync a file, nothing else.
    Disk,
    /// Burn one core, no I/O.
    Cpu,
    /// Both, alternating (the original noise).
    Both,
}

impl Kind {
    pub fn parse(s: &str) -> Option<Kind> {
        match s {
            "disk" => Some(Kind::Disk),
            "cpu" => Some(Kind::Cpu),
            "both" => Some(Kind::Both),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Kind::Disk => "disk",
            Kind::Cpu => "cpu",
            Kind::Both => "both",
        }
    }
}

/// The kind: the argument after DIR, else `both`; `Err` names an unknown one.
pub fn kind() -> Result<Kind, String> {
    match std::env::args().nth(3) {
        None => Ok(Kind::Both),
        Some(k) => Kind::parse(&k).ok_or(format!(
            "unknown noise kind {k:?} (expected disk, cpu or both)"
        )),
    }
}

/// The directory: the argument after `noise`, else the environment, else /tmp.
pub fn dir() -> PathBuf {
    std::env::args()
        .nth(2)
        .or_else(|| std::env::var("CALCULATOR_NOISE_DIR").ok())
        .unwrap_or_else(|| "/tmp".into())
        .into()
}

/// One round: burn CPU for `burn`, then rewrite `buf` at the start of `file` and
/// fsync it. Returns the value computed, so the burning is not optimised away.
pub fn round(file: &mut File, buf: &mut [u8], burn_for: Duration) -> std::io::Result<u64> {
    let x = burn(burn_for);
    // Fresh bytes each round, so no layer can skip the write as unchanged.
    buf[..8].copy_from_slice(&x.to_le_bytes());
    file.seek(SeekFrom::Start(0))?;
    file.write_all(buf)?;
    file.sync_data()?;
    Ok(x)
}

/// Burn CPU for `length` (at least one batch); returns the value computed, so the
/// burning is not optimised away.
fn burn(length: Duration) -> u64 {
    let started = Instant::now();
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15 ^ started.elapsed().as_nanos() as u64;
    loop {
        for _ in 0..10_000 {
            // xorshift: cheap, data-dependent, not foldable by the compiler.
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
        }
        if started.elapsed() >= length {
            return x;
        }
    }
}

/// Run until killed; returns only on an I/O error.
pub fn run(dir: &Path, kind: Kind) -> std::io::Error {
    if kind == Kind::Cpu {
        let mut x = 0u64;
        loop {
            x = x.wrapping_add(burn(Duration::from_secs(1)));
            std::hint::black_box(x);
        }
    }
    if let Err(e) = std::fs::create_dir_all(dir) {
        return e;
    }
    let path = dir.join(format!("noise-{}", std::process::id()));
    let mut file = match File::create(&path) {
        Ok(f) => f,
        Err(e) => return e,
    };
    let mut buf = vec![0xa5u8; CHUNK];
    let burn = if kind == Kind::Disk {
        Duration::ZERO
    } else {
        BURN
    };
    loop {
        if let Err(e) = round(&mut file, &mut buf, burn) {
            return e;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_parse_by_name() {
        for k in [Kind::Disk, Kind::Cpu, Kind::Both] {
            assert_eq!(Kind::parse(k.name()), Some(k));
        }
        assert_eq!(Kind::parse("net"), None);
    }

    #[test]
    fn a_round_writes_the_chunk_and_burns_the_time() {
        let dir = std::env::temp_dir().join(format!("noise-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("f");
        let mut f = File::create(&path).unwrap();
        let mut buf = vec![0u8; CHUNK];
        let t = Instant::now();
        let x = round(&mut f, &mut buf, Duration::from_millis(5)).unwrap();
        assert!(t.elapsed() >= Duration::from_millis(5));
        round(&mut f, &mut buf, Duration::ZERO).unwrap();
        let written = std::fs::read(&path).unwrap();
        // Rewritten in place: the file stays one chunk long.
        assert_eq!(written.len(), CHUNK);
        assert_ne!(
            &written[..8],
            &x.to_le_bytes(),
            "second round wrote new bytes"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
