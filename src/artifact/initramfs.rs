//! The appliance's initramfs: a gzip-compressed cpio archive in the kernel's "newc"
//! format, written here (no root, no `cpio` tool). It holds the static calculator
//! binary as `/init`, the virtio modules and the `/dev/console` node the kernel opens
//! for PID 1's stdio before anything is mounted.

use std::io::Write;

/// File type bits of `st_mode`.
pub const S_IFDIR: u32 = 0o040000;
pub const S_IFREG: u32 = 0o100000;
pub const S_IFCHR: u32 = 0o020000;

/// Where the modules go inside the initramfs, and the list naming their load order
/// (read by the guest's init).
pub fn modules_dir(release: &str) -> String {
    format!("lib/modules/{release}")
}
pub const LOAD_ORDER_FILE: &str = "modules.load";

/// One entry of the archive.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    /// Path without a leading slash, e.g. `lib/modules`.
    pub path: String,
    /// Full `st_mode` (type bits + permissions).
    pub mode: u32,
    /// Device numbers for character devices.
    pub rdev: (u32, u32),
    pub data: Vec<u8>,
}

impl Entry {
    pub fn dir(path: &str) -> Entry {
        Entry {
            path: path.into(),
            mode: S_IFDIR | 0o755,
            rdev: (0, 0),
            data: Vec::new(),
        }
    }
    pub fn file(path: &str, perm: u32, data: Vec<u8>) -> Entry {
        Entry {
            path: path.into(),
            mode: S_IFREG | perm,
            rdev: (0, 0),
            data,
        }
    }
    pub fn char_dev(path: &str, perm: u32, major: u32, minor: u32) -> Entry {
        Entry {
            path: path.into(),
            mode: S_IFCHR | perm,
            rdev: (major, minor),
            data: Vec::new(),
        }
    }
}

const TRAILER: &str = "TRAILER!!!";

/// Write `entries` as an uncompressed newc archive. Timestamps and owners are zero so
/// that the same inputs give the same bytes (cache key, reproducible image sizes).
pub fn write_cpio<W: Write>(out: &mut W, entries: &[Entry]) -> std::io::Result<()> {
    let mut written = 0usize;
    for (i, e) in entries.iter().enumerate() {
        let nlink = if e.mode & S_IFDIR == S_IFDIR { 2 } else { 1 };
        written += write_one(
            out,
            i as u32 + 1,
            e.mode,
            nlink,
            e.rdev,
            &e.path,
            &e.data,
            written,
        )?;
    }
    written += write_one(out, 0, 0, 1, (0, 0), TRAILER, &[], written)?;
    // The kernel reads the archive in 512-byte blocks (as cpio(1) pads it).
    let pad = (512 - written % 512) % 512;
    out.write_all(&vec![0u8; pad])
}

#[allow(clippy::too_many_arguments)]
fn write_one<W: Write>(
    out: &mut W,
    ino: u32,
    mode: u32,
    nlink: u32,
    rdev: (u32, u32),
    name: &str,
    data: &[u8],
    offset: usize,
) -> std::io::Result<usize> {
    let namesize = name.len() + 1;
    let header = format!(
        "070701{ino:08x}{mode:08x}{uid:08x}{gid:08x}{nlink:08x}{mtime:08x}{size:08x}{maj:08x}{min:08x}{rmaj:08x}{rmin:08x}{namesize:08x}{check:08x}",
        uid = 0,
        gid = 0,
        mtime = 0,
        size = data.len(),
        maj = 0,
        min = 0,
        rmaj = rdev.0,
        rmin = rdev.1,
        check = 0,
    );
    let mut n = 0;
    out.write_all(header.as_bytes())?;
    out.write_all(name.as_bytes())?;
    out.write_all(&[0])?;
    n += header.len() + namesize;
    let pad = pad4(offset + n);
    out.write_all(&[0u8; 3][..pad])?;
    n += pad;
    out.write_all(data)?;
    n += data.len();
    let pad = pad4(offset + n);
    out.write_all(&[0u8; 3][..pad])?;
    Ok(n + pad)
}

fn pad4(n: usize) -> usize {
    (4 - n % 4) % 4
}

/// The archive gzip-compressed, as the kernel unpacks it (CONFIG_RD_GZIP).
pub fn write_gz<W: Write>(out: W, entries: &[Entry]) -> std::io::Result<W> {
    let mut gz = flate2::write::GzEncoder::new(out, flate2::Compression::default());
    write_cpio(&mut gz, entries)?;
    gz.finish()
}

/// Parse an uncompressed newc archive back (tests, and checking a cached image).
pub fn read_cpio(mut bytes: &[u8]) -> Result<Vec<Entry>, String> {
    let total = bytes.len();
    let mut entries = Vec::new();
    loop {
        let offset = total - bytes.len();
        if bytes.len() < 110 {
            return Err(format!("truncated header at byte {offset}"));
        }
        if &bytes[..6] != b"070701" {
            return Err(format!("bad magic at byte {offset}"));
        }
        let field = |i: usize| -> Result<u32, String> {
            let s =
                std::str::from_utf8(&bytes[6 + i * 8..14 + i * 8]).map_err(|e| e.to_string())?;
            u32::from_str_radix(s, 16).map_err(|e| format!("field {i} at byte {offset}: {e}"))
        };
        let mode = field(1)?;
        let size = field(6)? as usize;
        let rdev = (field(9)?, field(10)?);
        let namesize = field(11)? as usize;
        let name_end = 110 + namesize;
        let name = bytes
            .get(110..name_end - 1)
            .ok_or_else(|| format!("truncated name at byte {offset}"))?;
        let name = String::from_utf8(name.to_vec()).map_err(|e| e.to_string())?;
        let data_start = name_end + pad4(offset + name_end);
        let data_end = data_start + size;
        let data = bytes
            .get(data_start..data_end)
            .ok_or_else(|| format!("truncated data of {name}"))?
            .to_vec();
        let next = data_end + pad4(offset + data_end);
        if name == TRAILER {
            return Ok(entries);
        }
        entries.push(Entry {
            path: name,
            mode,
            rdev,
            data,
        });
        bytes = bytes.get(next..).ok_or("truncated padding")?;
    }
}

/// Every directory leading to `path` (`a/b/c` gives `a`, `a/b`), in order.
pub fn parents(path: &str) -> Vec<String> {
    let parts: Vec<&str> = path.split('/').collect();
    (1..parts.len()).map(|i| parts[..i].join("/")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Vec<Entry> {
        vec![
            Entry::dir("dev"),
            Entry::char_dev("dev/console", 0o600, 5, 1),
            Entry::dir("lib"),
            Entry::file("init", 0o755, b"#!binary".to_vec()),
            Entry::file("lib/odd", 0o644, vec![1, 2, 3, 4, 5]),
            Entry::file("empty", 0o644, Vec::new()),
        ]
    }

    #[test]
    fn round_trip() {
        let mut buf = Vec::new();
        write_cpio(&mut buf, &sample()).unwrap();
        assert_eq!(buf.len() % 512, 0);
        assert_eq!(read_cpio(&buf).unwrap(), sample());
    }

    #[test]
    fn header_fields_and_alignment() {
        let mut buf = Vec::new();
        write_cpio(&mut buf, &[Entry::file("ab", 0o644, b"xyz".to_vec())]).unwrap();
        // magic, ino 1, mode 0100644, size 3, namesize 3
        assert_eq!(&buf[..6], b"070701");
        assert_eq!(&buf[6..14], b"00000001");
        assert_eq!(&buf[14..22], b"000081a4");
        assert_eq!(&buf[54..62], b"00000003");
        assert_eq!(&buf[94..102], b"00000003");
        // name "ab\0" ends at 113, padded to 116 where the data starts
        assert_eq!(&buf[110..113], b"ab\0");
        assert_eq!(&buf[113..116], &[0, 0, 0]);
        assert_eq!(&buf[116..119], b"xyz");
        assert_eq!(buf[119], 0);
        assert_eq!(&buf[120..126], b"070701");
    }

    #[test]
    fn deterministic() {
        let (mut a, mut b) = (Vec::new(), Vec::new());
        write_cpio(&mut a, &sample()).unwrap();
        write_cpio(&mut b, &sample()).unwrap();
        assert_eq!(a, b);
    }

    #[test]
    fn gzip_round_trip() {
        use std::io::Read;
        let gz = write_gz(Vec::new(), &sample()).unwrap();
        let mut raw = Vec::new();
        flate2::read::GzDecoder::new(&gz[..])
            .read_to_end(&mut raw)
            .unwrap();
        assert_eq!(read_cpio(&raw).unwrap(), sample());
    }

    #[test]
    fn cpio_tool_lists_our_archive() {
        // Cross-check with GNU cpio (Debian: package cpio, installed by
        // `.ci/setup-host --tests`). Missing, it fails unless explicitly skipped.
        let Ok(probe) = std::process::Command::new("cpio").arg("--version").output() else {
            if std::env::var("VIRTBENCH_SKIP_CPIO").as_deref() == Ok("1") {
                eprintln!("SKIPPED (VIRTBENCH_SKIP_CPIO=1): cpio not installed");
                return;
            }
            panic!("cpio not installed: apt-get install cpio (or set VIRTBENCH_SKIP_CPIO=1)");
        };
        assert!(probe.status.success());
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.cpio");
        let mut buf = Vec::new();
        write_cpio(&mut buf, &sample()).unwrap();
        std::fs::write(&path, &buf).unwrap();
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(format!("cpio -it --quiet < {}", path.display()))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let listed: Vec<String> = String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .map(String::from)
            .collect();
        let want: Vec<String> = sample().into_iter().map(|e| e.path).collect();
        assert_eq!(listed, want);
    }

    #[test]
    fn parents_of_nested_path() {
        assert_eq!(
            parents("lib/modules/6.1/x.ko"),
            vec!["lib", "lib/modules", "lib/modules/6.1"]
        );
        assert!(parents("init").is_empty());
    }
}
