//! Browser check: the report rendered from tests/fixtures/results.json loads in headless
//! Chromium with no console error and no network request, shows every chart, and prints.
//!
//! Chromium is driven over the DevTools protocol on a pipe (`--remote-debugging-pipe`:
//! fd 3 carries commands in, fd 4 carries answers and events out, each message
//! NUL-terminated), so the test sees every request and console message as events rather
//! than scraping logs. A full-page screenshot is kept at
//! `target/tmp/browser-check/report.png` for people to look at.
//!
//! Without Chromium this test fails on purpose (CI installs Debian's `chromium`).

use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::os::fd::{FromRawFd, RawFd};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use virtbench::report::{charts, html};
use virtbench::results::RunResults;

const TIMEOUT: Duration = Duration::from_secs(90);

fn chromium() -> PathBuf {
    let candidates = [
        std::env::var("CHROMIUM").ok(),
        Some("chromium".into()),
        Some("chromium-browser".into()),
    ];
    for c in candidates.into_iter().flatten() {
        let found = if c.contains('/') {
            Path::new(&c).is_file().then(|| PathBuf::from(&c))
        } else {
            std::env::var_os("PATH").and_then(|paths| {
                std::env::split_paths(&paths)
                    .map(|d| d.join(&c))
                    .find(|p| p.is_file())
            })
        };
        if let Some(p) = found {
            return p;
        }
    }
    panic!(
        "headless Chromium not found (looked for $CHROMIUM, `chromium`, `chromium-browser` on PATH): \
         install Debian's package with `apt-get install -y chromium`; the browser check cannot run without it"
    );
}

/// A pipe end moved above the standard fds so the child's dup2 onto 3/4 cannot clobber
/// the other end.
fn pipe() -> (RawFd, RawFd) {
    let mut fds = [0; 2];
    assert_eq!(
        unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) },
        0,
        "pipe2"
    );
    let high = |fd: RawFd| {
        let h = unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 10) };
        assert!(h >= 10, "fcntl F_DUPFD_CLOEXEC");
        unsafe { libc::close(fd) };
        h
    };
    (high(fds[0]), high(fds[1]))
}

struct Browser {
    child: Child,
    to_browser: File,
    from_browser: mpsc::Receiver<Value>,
    next_id: u64,
    /// Events seen while waiting for answers, in order.
    events: Vec<Value>,
}

impl Browser {
    fn launch(profile: &Path) -> Browser {
        let (cmd_r, cmd_w) = pipe();
        let (out_r, out_w) = pipe();
        let mut cmd = Command::new(chromium());
        cmd.args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-extensions",
            "--remote-debugging-pipe",
            "about:blank",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
        unsafe {
            cmd.pre_exec(move || {
                // dup2 clears close-on-exec on the new descriptor.
                if libc::dup2(cmd_r, 3) < 0 || libc::dup2(out_w, 4) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let child = cmd.spawn().expect("spawn chromium");
        unsafe {
            libc::close(cmd_r);
            libc::close(out_w);
        }
        let to_browser = unsafe { File::from_raw_fd(cmd_w) };
        let reader = unsafe { File::from_raw_fd(out_r) };
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut reader = BufReader::new(reader);
            loop {
                let mut buf = Vec::new();
                match reader.read_until(0, &mut buf) {
                    Ok(0) | Err(_) => return,
                    Ok(_) => {
                        if buf.last() == Some(&0) {
                            buf.pop();
                        }
                        if let Ok(v) = serde_json::from_slice::<Value>(&buf) {
                            if tx.send(v).is_err() {
                                return;
                            }
                        }
                    }
                }
            }
        });
        Browser {
            child,
            to_browser,
            from_browser: rx,
            next_id: 1,
            events: Vec::new(),
        }
    }

    /// Send a command and wait for its answer, keeping the events that arrive meanwhile.
    fn call(&mut self, session: Option<&str>, method: &str, params: Value) -> Value {
        let id = self.next_id;
        self.next_id += 1;
        let mut msg = json!({"id": id, "method": method, "params": params});
        if let Some(s) = session {
            msg["sessionId"] = json!(s);
        }
        let mut bytes = serde_json::to_vec(&msg).unwrap();
        bytes.push(0);
        self.to_browser
            .write_all(&bytes)
            .expect("write to chromium");
        let deadline = Instant::now() + TIMEOUT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let v = self.from_browser.recv_timeout(left).unwrap_or_else(|_| {
                panic!("no answer from chromium to {method} within {TIMEOUT:?}")
            });
            if v["id"].as_u64() == Some(id) {
                if let Some(e) = v.get("error") {
                    panic!("chromium refused {method}: {e}");
                }
                return v["result"].clone();
            }
            self.events.push(v);
        }
    }

    /// Wait until an event named `method` arrived (already or within the timeout).
    fn wait_event(&mut self, method: &str) {
        if self.events.iter().any(|e| e["method"] == method) {
            return;
        }
        let deadline = Instant::now() + TIMEOUT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let v = self
                .from_browser
                .recv_timeout(left)
                .unwrap_or_else(|_| panic!("chromium sent no {method} within {TIMEOUT:?}"));
            let done = v["method"] == method;
            self.events.push(v);
            if done {
                return;
            }
        }
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // Our own child, by its handle.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn decode_base64(s: &str) -> Vec<u8> {
    let val = |c: u8| match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        b'+' => 62,
        b'/' => 63,
        _ => panic!("not base64: {c}"),
    };
    let clean: Vec<u8> = s
        .bytes()
        .filter(|c| !c.is_ascii_whitespace() && *c != b'=')
        .collect();
    let mut out = Vec::with_capacity(clean.len() * 3 / 4);
    for chunk in clean.chunks(4) {
        let v: Vec<u32> = chunk.iter().map(|&c| val(c) as u32).collect();
        let n = v.iter().fold(0u32, |acc, x| (acc << 6) | x) << (6 * (4 - v.len()));
        let bytes = [(n >> 16) as u8, (n >> 8) as u8, n as u8];
        out.extend_from_slice(&bytes[..v.len() - 1]);
    }
    out
}

#[test]
fn report_loads_offline_without_errors_and_shows_every_chart() {
    let fixture = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/results.json");
    let results: RunResults =
        serde_json::from_str(&std::fs::read_to_string(fixture).unwrap()).unwrap();
    let expected_charts = charts::all(&results).len();
    assert!(
        expected_charts >= 8,
        "the fixture should draw every kind of chart"
    );

    let keep = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("browser-check");
    std::fs::create_dir_all(&keep).unwrap();
    let page = keep.join("index.html");
    std::fs::write(&page, html::render(&results)).unwrap();
    let url = format!("file://{}", page.canonicalize().unwrap().display());
    let profile = tempfile::tempdir().unwrap();

    let mut b = Browser::launch(profile.path());
    let target = b.call(None, "Target.createTarget", json!({"url": "about:blank"}));
    let target_id = target["targetId"].as_str().expect("targetId").to_string();
    let attached = b.call(
        None,
        "Target.attachToTarget",
        json!({"targetId": target_id, "flatten": true}),
    );
    let sid = attached["sessionId"]
        .as_str()
        .expect("sessionId")
        .to_string();
    let s = Some(sid.as_str());
    for domain in [
        "Page.enable",
        "Network.enable",
        "Runtime.enable",
        "Log.enable",
    ] {
        b.call(s, domain, json!({}));
    }
    b.call(
        s,
        "Emulation.setDeviceMetricsOverride",
        json!({"width": 1280, "height": 4000, "deviceScaleFactor": 1, "mobile": false}),
    );
    b.events.clear();
    b.call(s, "Page.navigate", json!({"url": url}));
    b.wait_event("Page.loadEventFired");
    // Let late console messages or requests (none expected) arrive.
    std::thread::sleep(Duration::from_millis(500));
    b.call(s, "Runtime.evaluate", json!({"expression": "1"}));

    let eval = |b: &mut Browser, expr: &str| -> Value {
        let r = b.call(
            s,
            "Runtime.evaluate",
            json!({"expression": expr, "returnByValue": true}),
        );
        r["result"]["value"].clone()
    };
    let svg_count = eval(&mut b, "document.querySelectorAll('svg.chart').length");
    let drawn = eval(
        &mut b,
        "[...document.querySelectorAll('svg.chart')].filter(s => s.getBoundingClientRect().width > 300 && s.querySelectorAll('rect,path,polyline,circle').length > 5).length",
    );
    let sections = eval(
        &mut b,
        "[...document.querySelectorAll('section[id]')].map(s => s.id).join(',')",
    );
    let claims = eval(&mut b, "document.querySelectorAll('tr[id^=claim-]').length");
    let scripts = eval(&mut b, "document.scripts.length");

    let metrics = b.call(s, "Page.getLayoutMetrics", json!({}));
    let height = metrics["cssContentSize"]["height"]
        .as_f64()
        .unwrap_or(4000.0)
        .ceil();
    let shot = b.call(
        s,
        "Page.captureScreenshot",
        json!({"format": "png", "captureBeyondViewport": true, "clip": {"x": 0, "y": 0, "width": 1280, "height": height, "scale": 1}}),
    );
    let png = decode_base64(shot["data"].as_str().expect("screenshot data"));
    let shot_path = keep.join("report.png");
    std::fs::write(&shot_path, &png).unwrap();
    let pdf = b.call(s, "Page.printToPDF", json!({"printBackground": true}));
    let pdf = decode_base64(pdf["data"].as_str().expect("pdf data"));
    std::fs::write(keep.join("report.pdf"), &pdf).unwrap();
    eprintln!(
        "screenshot: {} ({} px tall); print: {}",
        shot_path.display(),
        height,
        keep.join("report.pdf").display()
    );

    // Every network request the page made: only the page itself is allowed.
    let requests: Vec<String> = b
        .events
        .iter()
        .filter(|e| e["method"] == "Network.requestWillBeSent")
        .map(|e| {
            e["params"]["request"]["url"]
                .as_str()
                .unwrap_or("")
                .to_string()
        })
        .collect();
    assert!(
        !requests.is_empty(),
        "the page load itself should be seen as a request"
    );
    let foreign: Vec<&String> = requests.iter().filter(|u| **u != url).collect();
    assert!(
        foreign.is_empty(),
        "the report made network requests: {foreign:?}"
    );

    let problems: Vec<String> = b
        .events
        .iter()
        .filter(|e| {
            let m = e["method"].as_str().unwrap_or("");
            (m == "Runtime.consoleAPICalled"
                && matches!(
                    e["params"]["type"].as_str(),
                    Some("error" | "warning" | "assert")
                ))
                || m == "Runtime.exceptionThrown"
                || (m == "Log.entryAdded"
                    && matches!(
                        e["params"]["entry"]["level"].as_str(),
                        Some("error" | "warning")
                    ))
                || m == "Network.loadingFailed"
        })
        .map(|e| e.to_string())
        .collect();
    assert!(
        problems.is_empty(),
        "console errors or failed loads: {problems:#?}"
    );

    assert_eq!(
        svg_count,
        json!(expected_charts),
        "every chart's SVG is in the DOM"
    );
    assert_eq!(
        drawn,
        json!(expected_charts),
        "every chart is laid out and has drawn marks"
    );
    assert_eq!(claims, json!(15), "one row per claim C1-C15");
    assert_eq!(scripts, json!(0), "the report has no script");
    let sections = sections.as_str().unwrap_or_default().to_string();
    for id in [
        "summary",
        "context",
        "startup",
        "memory",
        "cpu",
        "latency",
        "throughput",
        "artifacts",
        "claims",
        "scenario",
    ] {
        assert!(
            sections.split(',').any(|s| s == id),
            "section {id} missing from {sections}"
        );
    }
    assert!(
        png.starts_with(b"\x89PNG") && png.len() > 50_000,
        "screenshot is a real PNG"
    );
    assert!(pdf.starts_with(b"%PDF"), "the page prints");
}
