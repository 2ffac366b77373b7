//! The `calculator` binary as the platforms run it: one process per role wired by flags
//! and environment variables, `all` in one process, the command line's exits, SIGTERM.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_calculator");
/// Generous: only there so that a hang fails the test instead of blocking it.
const DEADLINE: Duration = Duration::from_secs(30);

fn run(args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .env_remove("CALCULATOR_LISTEN")
        .output()
        .unwrap()
}

/// A running service; killed when dropped so a failing test leaves nothing behind.
struct Service {
    child: Child,
    addr: SocketAddr,
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Service {
    /// Start `calculator ARGS` and read the address it announces on stderr.
    fn start(args: &[&str], env: &[(&str, &str)]) -> Service {
        let mut child = Command::new(BIN)
            .args(args)
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = child.stderr.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stderr).read_line(&mut line);
            let _ = tx.send(line);
        });
        let line = rx
            .recv_timeout(DEADLINE)
            .expect("the service announces itself");
        // `calculator: ROLE listening on ADDR (...)`
        let addr = line
            .split(" listening on ")
            .nth(1)
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|a| a.parse().ok())
            .unwrap_or_else(|| panic!("no address in {line:?}"));
        Service { child, addr }
    }

    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// SIGTERM, then the exit status (within the deadline).
    fn terminate(mut self) -> ExitStatus {
        let pid = self.child.id() as libc::pid_t;
        // SAFETY: plain kill(2) on our own child's pid.
        assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
        let started = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(started.elapsed() < DEADLINE, "still running after SIGTERM");
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

/// `POST /` with `body` over a plain socket; the status and the body.
fn post(addr: SocketAddr, body: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(DEADLINE)).unwrap();
    write!(
        stream,
        "POST / HTTP/1.1\r\nHost: {addr}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut out = String::new();
    stream.read_to_string(&mut out).unwrap();
    let status = out
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = out
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

#[test]
fn help_exits_0_with_usage() {
    let out = run(&["--help"]);
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.starts_with("Usage: calculator <ROLE> [OPTIONS]"),
        "{text}"
    );
    for word in ["--listen", "--sum", "--timeout-ms", "CALCULATOR_DIV", "all"] {
        assert!(text.contains(word), "usage lacks {word}");
    }
    assert!(run(&["-V"]).status.success());
}

#[test]
fn bad_arguments_exit_2_with_one_line() {
    for args in [
        &[][..],
        &["pow"],
        &["sum", "--port", "1"],
        &["sum", "--listen"],
        &["calculator", "--sum", "sum.svc:50001"],
        &["calculator", "--timeout-ms", "-1"],
    ] {
        let out = run(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8(out.stderr).unwrap();
        assert!(
            err.starts_with("calculator: ") && err.lines().count() == 1,
            "{args:?}: {err:?}"
        );
    }
    let out = Command::new(BIN)
        .arg("calculator")
        .env("CALCULATOR_TIMEOUT_MS", "soon")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        String::from_utf8(out.stderr).unwrap(),
        "calculator: CALCULATOR_TIMEOUT_MS: 'soon' is not a positive whole number\n"
    );
}

#[test]
fn a_busy_port_exits_1_naming_it() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let out = run(&["sum", "--listen", &addr]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains(&format!("cannot listen on {addr}")), "{err}");
}

#[test]
fn five_processes_wired_by_flags_and_environment() {
    let listen = ["--listen", "127.0.0.1:0"];
    let sum = Service::start(&["sum", listen[0], listen[1]], &[]);
    let sub = Service::start(&["sub"], &[("CALCULATOR_LISTEN", "127.0.0.1:0")]);
    let mul = Service::start(&["mul", "--listen=127.0.0.1:0"], &[]);
    let div = Service::start(&["div", listen[0], listen[1]], &[]);
    let calc = Service::start(
        &[
            "calculator",
            "--listen",
            "127.0.0.1:0",
            "--sum",
            &sum.url(),
            "--sub",
            &sub.addr.to_string(),
        ],
        &[
            ("CALCULATOR_MUL", &mul.url()),
            ("CALCULATOR_DIV", &div.url()),
            // The flag wins over this.
            ("CALCULATOR_SUM", "127.0.0.1:1"),
        ],
    );
    assert_eq!(post(calc.addr, "(5+3)/2"), (200, "result = 4\r\n".into()));
    assert_eq!(post(calc.addr, "8-3-2"), (200, "result = 3\r\n".into()));
    assert_eq!(post(calc.addr, "2*3-10"), (200, "result = -4\r\n".into()));
    assert_eq!(post(sum.addr, "2 3"), (200, "5\r\n".into()));
    assert_eq!(post(calc.addr, "1/0").0, 422);
    // A stopped sub-service: 502, and the rest keeps working.
    assert!(div.terminate().success());
    let (status, body) = post(calc.addr, "1/2");
    assert_eq!(status, 502, "{body}");
    assert!(body.starts_with("error: div service at "), "{body}");
    assert_eq!(post(calc.addr, "1+2"), (200, "result = 3\r\n".into()));
    for service in [calc, sum, sub, mul] {
        assert!(service.terminate().success());
    }
}

#[test]
fn all_roles_in_one_process() {
    let all = Service::start(&["all", "--listen", "127.0.0.1:0", "--threads", "2"], &[]);
    assert_eq!(post(all.addr, "(5+3)/2"), (200, "result = 4\r\n".into()));
    assert_eq!(post(all.addr, ""), (200, String::new()));
    assert_eq!(post(all.addr, "(1+").0, 400);
    assert!(all.terminate().success());
}
