//! The guest's COM1 output, written by VirtualBox to a file (`--uartmode1 file`): the
//! boot markers the appliance's init prints (`VIRTBENCH <name> uptime=<s> [rest]`,
//! the format of branch qemu's `platform::qemu::console`), each stamped with the host
//! instant it was first seen, to split the boot into phases.

use std::collections::BTreeMap;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio_util::sync::{CancellationToken, DropGuard};

pub const INIT_START: &str = "init-start";
pub const SERVICE_READY: &str = "service-ready";
pub const FATAL: &str = "fatal";

/// How often the log is polled: the lag adds to the measured phases, and 5 ms is noise
/// next to a VM boot.
pub const POLL: Duration = Duration::from_millis(5);

#[derive(Debug, Clone, PartialEq)]
pub struct Marker {
    pub name: String,
    /// The guest's uptime when it printed the marker, seconds.
    pub uptime_s: f64,
    pub rest: String,
}

/// Parse `VIRTBENCH <name> uptime=<s> [rest]` anywhere in a line (kernel messages may
/// share the line).
pub fn parse_marker(line: &str) -> Option<Marker> {
    let at = line.find("VIRTBENCH ")?;
    let mut words = line[at + "VIRTBENCH ".len()..].trim_end().splitn(3, ' ');
    let name = words.next()?.to_string();
    let uptime_s = words.next()?.strip_prefix("uptime=")?.parse().ok()?;
    let rest = words.next().unwrap_or("").to_string();
    Some(Marker {
        name,
        uptime_s,
        rest,
    })
}

type Seen = BTreeMap<String, (Marker, Instant)>;

/// Follows a serial log in the background until dropped.
#[derive(Debug)]
pub struct Watcher {
    seen: Arc<Mutex<Seen>>,
    _stop: DropGuard,
}

impl Watcher {
    /// Start following `path` (it need not exist yet). Needs a tokio runtime.
    pub fn start(path: &Path) -> Watcher {
        let seen = Arc::new(Mutex::new(Seen::new()));
        let stop = CancellationToken::new();
        tokio::spawn(follow(path.to_owned(), seen.clone(), stop.clone()));
        Watcher {
            seen,
            _stop: stop.drop_guard(),
        }
    }

    /// The first `name` marker seen, with the host instant it appeared.
    pub fn get(&self, name: &str) -> Option<(Marker, Instant)> {
        self.seen
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(name)
            .cloned()
    }
}

async fn follow(path: PathBuf, seen: Arc<Mutex<Seen>>, stop: CancellationToken) {
    let mut offset = 0u64;
    let mut partial = String::new();
    loop {
        if let Ok(mut f) = std::fs::File::open(&path) {
            let mut buf = Vec::new();
            if f.seek(SeekFrom::Start(offset)).is_ok() && f.read_to_end(&mut buf).is_ok() {
                offset += buf.len() as u64;
                let now = Instant::now();
                partial.push_str(&String::from_utf8_lossy(&buf));
                // Only whole lines: a marker may arrive in two writes.
                while let Some(nl) = partial.find('\n') {
                    let line: String = partial.drain(..=nl).collect();
                    if let Some(m) = parse_marker(&line) {
                        let mut s = seen.lock().unwrap_or_else(|e| e.into_inner());
                        s.entry(m.name.clone()).or_insert((m, now));
                    }
                }
            }
        }
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(POLL) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markers_parse_anywhere_in_a_line() {
        let m =
            parse_marker("VIRTBENCH net-up uptime=1.234 iface=eth0 addr=10.0.2.15/24\r\n").unwrap();
        assert_eq!(m.name, "net-up");
        assert!((m.uptime_s - 1.234).abs() < 1e-9);
        assert_eq!(m.rest, "iface=eth0 addr=10.0.2.15/24");
        let m = parse_marker("[    1.2] random: crng init doneVIRTBENCH init-start uptime=0.812")
            .unwrap();
        assert_eq!((m.name.as_str(), m.rest.as_str()), ("init-start", ""));
        assert_eq!(parse_marker("VIRTBENCH init-start"), None);
        assert_eq!(parse_marker("VIRTBENCH init-start uptime=soon"), None);
        assert_eq!(parse_marker("Linux version 6.1.0"), None);
    }

    #[tokio::test]
    async fn watcher_sees_markers_appended_later_in_pieces() {
        use std::io::Write;
        let d = tempfile::tempdir().unwrap();
        let path = d.path().join("serial.log");
        let w = Watcher::start(&path);
        tokio::time::sleep(POLL * 4).await;
        assert!(w.get(INIT_START).is_none(), "no file yet");
        let mut f = std::fs::File::create(&path).unwrap();
        f.write_all(b"booting\nVIRTBENCH init-start uptime=0.5\nVIRTBENCH service-re")
            .unwrap();
        f.flush().unwrap();
        let deadline = Instant::now() + Duration::from_secs(5);
        while w.get(INIT_START).is_none() && Instant::now() < deadline {
            tokio::time::sleep(POLL).await;
        }
        assert_eq!(w.get(INIT_START).unwrap().0.uptime_s, 0.5);
        assert!(
            w.get(SERVICE_READY).is_none(),
            "half a line is not a marker"
        );
        f.write_all(b"ady uptime=0.9 role=sum\n").unwrap();
        f.flush().unwrap();
        while w.get(SERVICE_READY).is_none() && Instant::now() < deadline {
            tokio::time::sleep(POLL).await;
        }
        let (ready, at) = w.get(SERVICE_READY).unwrap();
        assert_eq!(ready.rest, "role=sum");
        assert!(at >= w.get(INIT_START).unwrap().1);
    }
}
