//! A guest's serial console, logged to a file by the hypervisor (QEMU `-serial
//! chardev:file`, VirtualBox `--uartmode1 file`): the boot markers the appliance's init
//! prints (`VIRTBENCH <name> uptime=<s> ...`), stamped with the host time at which they
//! appeared.

use std::collections::BTreeMap;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio_util::sync::{CancellationToken, DropGuard};

/// Marker names, in boot order.
pub const INIT_START: &str = "init-start";
pub const NET_UP: &str = "net-up";
pub const SERVICE_READY: &str = "service-ready";
pub const FATAL: &str = "fatal";

/// One marker line.
#[derive(Debug, Clone, PartialEq)]
pub struct Marker {
    pub name: String,
    /// The guest's CLOCK_BOOTTIME when it printed the marker, seconds.
    pub uptime_s: f64,
    /// The rest of the line (e.g. `iface=eth0 addr=10.0.2.15/24`).
    pub rest: String,
}

/// Parse `VIRTBENCH <name> uptime=<s> [rest]` anywhere in a line (the kernel's own
/// messages may share the line when printed concurrently).
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

/// Markers seen so far, with the host instant each was first seen.
#[derive(Debug, Default)]
pub struct Seen {
    pub markers: BTreeMap<String, (Marker, Instant)>,
}

/// Follows a console log file in the background (polls every few milliseconds: the
/// markers are timestamps, so the lag adds to what is measured; 5 ms is noise next to
/// a boot).
#[derive(Debug, Clone)]
pub struct Watcher {
    seen: Arc<Mutex<Seen>>,
    path: PathBuf,
}

const POLL: Duration = Duration::from_millis(5);

impl Watcher {
    /// Start following `path` (it may not exist yet); stops when `stop` is cancelled.
    pub fn start(path: &Path, stop: CancellationToken) -> Watcher {
        let w = Watcher {
            seen: Arc::new(Mutex::new(Seen::default())),
            path: path.to_owned(),
        };
        let (seen, path) = (w.seen.clone(), w.path.clone());
        tokio::spawn(async move {
            let mut offset = 0u64;
            let mut partial = String::new();
            loop {
                if let Ok(chunk) = read_from(&path, &mut offset) {
                    if !chunk.is_empty() {
                        let now = Instant::now();
                        partial.push_str(&String::from_utf8_lossy(&chunk));
                        while let Some(nl) = partial.find('\n') {
                            let line: String = partial.drain(..=nl).collect();
                            if let Some(m) = parse_marker(&line) {
                                let mut s = seen.lock().unwrap_or_else(|e| e.into_inner());
                                s.markers.entry(m.name.clone()).or_insert((m, now));
                            }
                        }
                    }
                }
                tokio::select! {
                    _ = stop.cancelled() => break,
                    _ = tokio::time::sleep(POLL) => {}
                }
            }
        });
        w
    }

    /// The first `name` marker seen, with the host instant it appeared.
    pub fn get(&self, name: &str) -> Option<(Marker, Instant)> {
        self.seen
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .markers
            .get(name)
            .cloned()
    }

    /// Wait until the `name` marker has been seen or `deadline` has passed: once the
    /// host got an answer the guest has printed it, but the watcher may be a poll behind.
    pub async fn wait_for(&self, name: &str, deadline: Instant) {
        while self.get(name).is_none() && Instant::now() < deadline {
            tokio::time::sleep(POLL).await;
        }
    }

    /// The last `n` lines of the log (for error messages).
    pub fn tail(&self, n: usize) -> String {
        tail(&self.path, n)
    }
}

/// A [`Watcher`] that stops following when dropped, for owners with no stop of their own.
#[derive(Debug)]
pub struct OwnedWatcher {
    watcher: Watcher,
    _stop: DropGuard,
}

impl OwnedWatcher {
    /// Start following `path` (it need not exist yet). Needs a tokio runtime.
    pub fn start(path: &Path) -> OwnedWatcher {
        let stop = CancellationToken::new();
        OwnedWatcher {
            watcher: Watcher::start(path, stop.clone()),
            _stop: stop.drop_guard(),
        }
    }
}

impl std::ops::Deref for OwnedWatcher {
    type Target = Watcher;
    fn deref(&self) -> &Watcher {
        &self.watcher
    }
}

/// The boot split at its markers' host instants: firmware+kernel from `started` (the
/// VM's spawn) to init-start, init to service-ready (modules, network, service bound),
/// service to `answered` (the first correct answer seen by the host).
pub fn boot_phases(
    started: Instant,
    init_start: Instant,
    service_ready: Instant,
    answered: Instant,
) -> Vec<(String, Duration)> {
    vec![
        (
            "firmware+kernel".into(),
            init_start.saturating_duration_since(started),
        ),
        (
            "init".into(),
            service_ready.saturating_duration_since(init_start),
        ),
        (
            "service".into(),
            answered.saturating_duration_since(service_ready),
        ),
    ]
}

fn read_from(path: &Path, offset: &mut u64) -> std::io::Result<Vec<u8>> {
    let mut f = std::fs::File::open(path)?;
    f.seek(SeekFrom::Start(*offset))?;
    let mut buf = Vec::new();
    f.read_to_end(&mut buf)?;
    *offset += buf.len() as u64;
    Ok(buf)
}

/// Last `n` non-empty lines of a log file, escape sequences removed, joined with " | ".
pub fn tail(path: &Path, n: usize) -> String {
    let text = std::fs::read(path).unwrap_or_default();
    let text = String::from_utf8_lossy(&text);
    let lines: Vec<String> = text
        .lines()
        .map(|l| l.chars().filter(|c| !c.is_control()).collect::<String>())
        .map(|l| l.trim().to_string())
        .filter(|l| !l.is_empty())
        .collect();
    lines[lines.len().saturating_sub(n)..].join(" | ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_markers() {
        let m =
            parse_marker("VIRTBENCH net-up uptime=1.234 iface=eth0 addr=10.0.2.15/24\n").unwrap();
        assert_eq!(m.name, "net-up");
        assert_eq!(m.uptime_s, 1.234);
        assert_eq!(m.rest, "iface=eth0 addr=10.0.2.15/24");
        let m = parse_marker("[    1.2] random: crng init doneVIRTBENCH init-start uptime=0.812")
            .unwrap();
        assert_eq!(
            (m.name.as_str(), m.uptime_s, m.rest.as_str()),
            ("init-start", 0.812, "")
        );
    }

    #[test]
    fn ignores_other_lines() {
        assert_eq!(parse_marker("[    0.000000] Linux version 6.1.0"), None);
        assert_eq!(parse_marker("VIRTBENCH init-start"), None);
        assert_eq!(parse_marker("VIRTBENCH init-start uptime=soon"), None);
    }

    #[test]
    fn boot_phases_split_at_the_markers() {
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        let phases = boot_phases(t0, t0 + ms(300), t0 + ms(500), t0 + ms(600));
        assert_eq!(
            phases,
            vec![
                ("firmware+kernel".to_string(), ms(300)),
                ("init".to_string(), ms(200)),
                ("service".to_string(), ms(100)),
            ]
        );
    }

    #[tokio::test]
    async fn wait_for_gives_up_at_the_deadline() {
        let dir = tempfile::tempdir().unwrap();
        let stop = CancellationToken::new();
        let w = Watcher::start(&dir.path().join("never-written.log"), stop.clone());
        let deadline = Instant::now() + Duration::from_millis(30);
        w.wait_for(SERVICE_READY, deadline).await;
        assert!(Instant::now() >= deadline);
        assert!(w.get(SERVICE_READY).is_none());
        stop.cancel();
    }

    #[tokio::test]
    async fn watcher_follows_a_growing_file() {
        use std::io::Write;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("console.log");
        let stop = CancellationToken::new();
        let w = Watcher::start(&path, stop.clone());
        tokio::time::sleep(Duration::from_millis(20)).await;
        let mut f = std::fs::File::create(&path).unwrap();
        f.write_all(b"SeaBIOS\r\nVIRTBENCH init-start upt").unwrap();
        f.flush().unwrap();
        tokio::time::sleep(Duration::from_millis(30)).await;
        assert!(
            w.get(INIT_START).is_none(),
            "half a line is not a marker yet"
        );
        f.write_all(b"ime=0.5\nVIRTBENCH service-ready uptime=0.9 role=sum\n")
            .unwrap();
        f.flush().unwrap();
        let deadline = Instant::now() + Duration::from_secs(5);
        while w.get(SERVICE_READY).is_none() && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let (start, t1) = w.get(INIT_START).unwrap();
        let (ready, t2) = w.get(SERVICE_READY).unwrap();
        assert_eq!(start.uptime_s, 0.5);
        assert_eq!(ready.rest, "role=sum");
        assert!(t1 <= t2);
        assert_eq!(w.tail(1), "VIRTBENCH service-ready uptime=0.9 role=sum");
        stop.cancel();
    }
}
