//! The measurement core against real loopback servers written here: latency from the
//! intended send time (a known injected delay, a server stall), wrong answers and
//! errors counted apart, answers judged by their number (the lab's own answer format
//! counts as correct), closed-loop throughput, and readiness polling.
//!
//! The machine running these is shared and loaded: bounds are wide and only say what a
//! correct measurement must show, never how fast something is.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::service::service_fn;
use hyper::{Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;
use virtbench::error::Error;
use virtbench::measure::load::{self, ClosedLoopConfig, OpenLoopConfig};
use virtbench::measure::startup::wait_first_correct;
use virtbench::measure::Probe;

const RIGHT: &str = "result = 4\r\n";
const WRONG: &str = "result = 5\r\n";
/// The lab's Node.js calculator's answer: the sub-service's raw body `4\r\n` passed
/// through, then its own line end.
const LAB_RIGHT: &str = "result = 4\r\n\r\n";

fn probe() -> Probe {
    Probe::for_expression("(5+3)/2").unwrap()
}

/// What the test server does with request number `n` (0-based, over all connections).
#[derive(Clone, Copy)]
enum Reply {
    Right,
    Wrong,
    /// Right, in the lab's format (two CRLFs).
    LabRight,
    Status500,
    /// Right answer, then close the connection (`Connection: close`).
    RightAndClose,
    /// Wait, then answer right.
    Delay(Duration),
}

/// A hyper HTTP/1.1 server on a fresh loopback port; `behave(n, body)` decides each
/// answer. Returns the address and the count of requests received.
async fn serve<F, Fut>(behave: F) -> (SocketAddr, Arc<AtomicU64>)
where
    F: Fn(u64, Bytes) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Reply> + Send + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let counter = Arc::new(AtomicU64::new(0));
    tokio::spawn(serve_on(listener, Arc::new(behave), Arc::clone(&counter)));
    (addr, counter)
}

async fn serve_on<F, Fut>(listener: TcpListener, behave: Arc<F>, counter: Arc<AtomicU64>)
where
    F: Fn(u64, Bytes) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Reply> + Send + 'static,
{
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            return;
        };
        stream.set_nodelay(true).unwrap();
        let behave = Arc::clone(&behave);
        let counter = Arc::clone(&counter);
        tokio::spawn(async move {
            let svc = service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                let behave = Arc::clone(&behave);
                let counter = Arc::clone(&counter);
                async move {
                    let body = req.into_body().collect().await.unwrap().to_bytes();
                    let n = counter.fetch_add(1, Ordering::SeqCst);
                    let reply = behave(n, body).await;
                    let mut resp = Response::new(Full::new(Bytes::from_static(
                        match reply {
                            Reply::Wrong => WRONG,
                            Reply::LabRight => LAB_RIGHT,
                            Reply::Status500 => "boom\n",
                            _ => RIGHT,
                        }
                        .as_bytes(),
                    )));
                    match reply {
                        Reply::Status500 => *resp.status_mut() = StatusCode::INTERNAL_SERVER_ERROR,
                        Reply::RightAndClose => {
                            resp.headers_mut()
                                .insert("connection", "close".parse().unwrap());
                        }
                        Reply::Delay(d) => tokio::time::sleep(d).await,
                        _ => {}
                    }
                    Ok::<_, Infallible>(resp)
                }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), svc)
                .await;
        });
    }
}

fn open(rate: f64, duration_ms: u64, warmup_ms: u64, connections: usize) -> OpenLoopConfig {
    OpenLoopConfig {
        rate_rps: rate,
        duration: Duration::from_millis(duration_ms),
        warmup: Duration::from_millis(warmup_ms),
        connections,
        timeout: Duration::from_secs(3),
    }
}

/// A loopback port with nothing listening on it.
async fn dead_port() -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    l.local_addr().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_loop_measures_a_known_injected_delay() {
    let (addr, served) = serve(|_, _| async { Reply::Delay(Duration::from_millis(2)) }).await;
    let r = load::open_loop(addr, &[probe()], &open(100.0, 2000, 500, 4))
        .await
        .unwrap();
    eprintln!("injected 2 ms: {r:?}");
    // 100 rps x 2 s measured, after 50 warmup requests that are sent but not counted.
    assert!((198..=202).contains(&r.count), "{r:?}");
    assert!(
        served.load(Ordering::SeqCst) >= 248,
        "warmup requests are sent"
    );
    assert_eq!((r.errors, r.wrong_answers), (0, 0), "{r:?}");
    // The server waits >= 2 ms per request: no request can be measured below that.
    // How little the generator adds on top is a speed figure, not a correctness one: it
    // lives in the benches and the wrk cross-check, not here (an upper bound failed
    // once at 19.8 ms on a host with a load average of 10).
    assert!(r.p50 >= 2000.0, "p50 {} us", r.p50);
    assert!(r.p50 <= r.p90 && r.p90 <= r.p99 && r.p99 <= r.p999 && r.p999 <= r.max);
    assert_eq!((r.rate_rps, r.duration_s, r.connections), (100.0, 2.0, 4));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_loop_counts_a_stall_in_every_request_scheduled_during_it() {
    // One connection at 100 rps; request 150 (t = 1.5 s) stalls the server for 300 ms.
    // The ~30 requests whose intended time fell in the stall queue behind it and must
    // show it (300, 290, ... ms); timing from the actual send would show one slow request.
    let (addr, _) = serve(|n, _| async move {
        if n == 150 {
            Reply::Delay(Duration::from_millis(300))
        } else {
            Reply::Right
        }
    })
    .await;
    let run = load::open_loop_run(addr, &[probe()], &open(100.0, 3000, 500, 1))
        .await
        .unwrap();
    let r = &run.result;
    let above_100ms = run.histogram.count_between(100_000, u64::MAX);
    eprintln!("stall: {above_100ms} requests above 100 ms, {r:?}");
    assert_eq!((r.errors, r.wrong_answers), (0, 0), "{r:?}");
    assert!((298..=302).contains(&r.count), "{r:?}");
    assert!(r.max >= 250_000.0, "max {} us", r.max);
    // Top 1% (3 of 300) is inside the stall, not the one stuck request alone.
    assert!(r.p99 >= 150_000.0, "p99 {} us", r.p99);
    assert!(above_100ms >= 15, "{above_100ms} requests above 100 ms");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_answers_and_errors_are_counted_apart() {
    let (addr, _) = serve(|n, _| async move {
        match n % 4 {
            1 => Reply::Wrong,
            3 => Reply::Status500,
            _ => Reply::Right,
        }
    })
    .await;
    let run = load::open_loop_run(addr, &[probe()], &open(100.0, 1000, 0, 2))
        .await
        .unwrap();
    let r = &run.result;
    assert_eq!((r.count, r.wrong_answers, r.errors), (50, 25, 25), "{r:?}");
    assert_eq!(
        run.histogram.len(),
        50,
        "only correct answers are in the histogram"
    );

    let (addr, _) = serve(|_, _| async { Reply::Status500 }).await;
    let r = load::open_loop(addr, &[probe()], &open(100.0, 500, 0, 2))
        .await
        .unwrap();
    assert_eq!((r.count, r.wrong_answers, r.errors), (0, 0, 50), "{r:?}");
    assert_eq!(r.p50, 0.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_labs_answer_format_counts_as_correct() {
    // Pointed at the lab's own calculator, a byte comparison counted every answer wrong
    // (`result = 4\r\n\r\n` is not `result = 4\r\n`): the same number is right.
    let (addr, _) = serve(|n, _| async move {
        if n % 2 == 0 {
            Reply::LabRight
        } else {
            Reply::Right
        }
    })
    .await;
    let r = load::open_loop(addr, &[probe()], &open(100.0, 1000, 0, 2))
        .await
        .unwrap();
    assert_eq!((r.count, r.wrong_answers, r.errors), (100, 0, 0), "{r:?}");

    let (addr, _) = serve(|_, _| async { Reply::LabRight }).await;
    let cfg = ClosedLoopConfig {
        duration: Duration::from_millis(500),
        connections: 1,
        timeout: Duration::from_secs(2),
    };
    let r = load::closed_loop(addr, &[probe()], &cfg).await.unwrap();
    assert!(r.count > 0, "{r:?}");
    assert_eq!((r.errors, r.wrong_answers), (0, 0), "{r:?}");

    // Readiness is decided by the same rule.
    wait_first_correct(
        addr,
        &probe(),
        Duration::from_secs(10),
        &CancellationToken::new(),
    )
    .await
    .unwrap();
}

/// A raw HTTP/1.1 server that drops every 10th connection's request unanswered (the
/// client sees the connection die mid-request) and answers the rest with keep-alive.
async fn serve_dropping_every_tenth() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let counter = Arc::new(AtomicU64::new(0));
    tokio::spawn(async move {
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            let counter = Arc::clone(&counter);
            tokio::spawn(async move {
                let _ = answer_raw(stream, counter).await;
            });
        }
    });
    addr
}

async fn answer_raw(mut stream: TcpStream, counter: Arc<AtomicU64>) -> std::io::Result<()> {
    let mut buf = Vec::new();
    loop {
        // Read one request: headers, then Content-Length bytes of body.
        let head_end = loop {
            if let Some(p) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break p + 4;
            }
            let mut chunk = [0u8; 1024];
            let n = stream.read(&mut chunk).await?;
            if n == 0 {
                return Ok(());
            }
            buf.extend_from_slice(&chunk[..n]);
        };
        let head = String::from_utf8_lossy(&buf[..head_end]).to_ascii_lowercase();
        let len: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length:"))
            .map(|v| v.trim().parse().unwrap())
            .unwrap_or(0);
        while buf.len() < head_end + len {
            let mut chunk = [0u8; 1024];
            let n = stream.read(&mut chunk).await?;
            if n == 0 {
                return Ok(());
            }
            buf.extend_from_slice(&chunk[..n]);
        }
        buf.drain(..head_end + len);
        if counter.fetch_add(1, Ordering::SeqCst) % 10 == 9 {
            return Ok(()); // drop the connection without answering
        }
        let resp = format!(
            "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: {}\r\n\r\n{RIGHT}",
            RIGHT.len()
        );
        stream.write_all(resp.as_bytes()).await?;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broken_connections_are_errors_and_get_reestablished() {
    let addr = serve_dropping_every_tenth().await;
    let r = load::open_loop(addr, &[probe()], &open(100.0, 1000, 0, 2))
        .await
        .unwrap();
    // Every 10th request dies with its connection; all the others succeed, which they
    // can only do on re-opened connections.
    assert_eq!((r.count, r.errors, r.wrong_answers), (90, 10, 0), "{r:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_closing_after_each_answer_costs_no_request() {
    let (addr, served) = serve(|_, _| async { Reply::RightAndClose }).await;
    let r = load::open_loop(addr, &[probe()], &open(100.0, 1000, 0, 2))
        .await
        .unwrap();
    assert_eq!((r.count, r.errors, r.wrong_answers), (100, 0, 0), "{r:?}");
    assert_eq!(served.load(Ordering::SeqCst), 100);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closed_loop_counts_completions_per_second() {
    let (addr, served) = serve(|_, _| async { Reply::Right }).await;
    let cfg = ClosedLoopConfig {
        duration: Duration::from_secs(2),
        connections: 2,
        timeout: Duration::from_secs(2),
    };
    let r = load::closed_loop(addr, &[probe()], &cfg).await.unwrap();
    assert!(r.count > 0, "{r:?}");
    assert_eq!((r.errors, r.wrong_answers), (0, 0), "{r:?}");
    assert_eq!(r.per_second.unit, "req/s");
    assert_eq!(r.per_second.samples.len(), 2);
    assert!(r.per_second.samples.iter().all(|&s| s > 0.0), "{r:?}");
    assert_eq!(r.per_second.samples.iter().sum::<f64>() as u64, r.count);
    assert!((r.rps - r.count as f64 / 2.0).abs() < 1e-9);
    // Every counted completion was a real request (some more may be cut at the end).
    assert!(served.load(Ordering::SeqCst) >= r.count);

    let (addr, _) = serve(|n, _| async move {
        if n % 2 == 0 {
            Reply::Right
        } else {
            Reply::Wrong
        }
    })
    .await;
    let cfg = ClosedLoopConfig {
        duration: Duration::from_millis(500),
        connections: 1,
        timeout: Duration::from_secs(2),
    };
    let r = load::closed_loop(addr, &[probe()], &cfg).await.unwrap();
    assert!(r.count > 0 && r.wrong_answers > 0, "{r:?}");
    assert!(r.count.abs_diff(r.wrong_answers) <= 1, "alternating: {r:?}");
    assert_eq!(r.errors, 0);
    assert_eq!(r.per_second.samples.len(), 1, "under a second: one sample");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_a_load_future_stops_the_traffic() {
    // The runner races the load against its cancel token: once the future is dropped,
    // no request may reach a deployment that is being torn down.
    let (addr, served) = serve(|_, _| async { Reply::Right }).await;
    let open_cfg = open(200.0, 10_000, 0, 2);
    let closed_cfg = ClosedLoopConfig {
        duration: Duration::from_secs(10),
        connections: 2,
        timeout: Duration::from_secs(2),
    };
    let cut = Duration::from_millis(300);
    assert!(
        tokio::time::timeout(cut, load::open_loop(addr, &[probe()], &open_cfg))
            .await
            .is_err()
    );
    assert!(
        tokio::time::timeout(cut, load::closed_loop(addr, &[probe()], &closed_cfg))
            .await
            .is_err()
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    let after_drop = served.load(Ordering::SeqCst);
    assert!(after_drop > 0);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        served.load(Ordering::SeqCst),
        after_drop,
        "load went on after the drop"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn load_refuses_impossible_settings_and_dead_targets() {
    let (addr, _) = serve(|_, _| async { Reply::Right }).await;
    let e = load::open_loop(addr, &[probe()], &open(0.0, 1000, 0, 1))
        .await
        .unwrap_err();
    assert!(e.to_string().contains("rate_rps"), "{e}");
    let e = load::open_loop(addr, &[], &open(10.0, 1000, 0, 1))
        .await
        .unwrap_err();
    assert!(e.to_string().contains("probe"), "{e}");
    let dead = dead_port().await;
    let e = load::open_loop(dead, &[probe()], &open(10.0, 1000, 0, 1))
        .await
        .unwrap_err();
    assert!(e.to_string().contains(&dead.to_string()), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn startup_waits_for_the_first_correct_answer() {
    let addr = dead_port().await;
    let served = Arc::new(AtomicU64::new(0));
    let counter = Arc::clone(&served);
    let t0 = Instant::now();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let listener = TcpListener::bind(addr).await.unwrap();
        // Up but not right yet (e.g. a sub-service still starting): three wrong answers.
        let behave = Arc::new(|n: u64, _| async move {
            if n < 3 {
                Reply::Wrong
            } else {
                Reply::Right
            }
        });
        serve_on(listener, behave, counter).await;
    });
    let at = wait_first_correct(
        addr,
        &probe(),
        Duration::from_secs(10),
        &CancellationToken::new(),
    )
    .await
    .unwrap();
    assert!(
        at >= t0 + Duration::from_millis(300),
        "answered before listening"
    );
    // Through the three wrong answers to a right one. Attempts overlap (staggered):
    // more may have been answered by the time the first right answer was seen.
    let n = served.load(Ordering::SeqCst);
    assert!(n >= 4, "polled through the wrong answers: {n}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn startup_bounds_an_attempt_that_hangs() {
    // The first connection is accepted and never answered (as a VM's forwarded port
    // does before the guest listens); later ones are served. Without a per-attempt
    // bound the poll would sit on the first one until the overall timeout.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let served = Arc::new(AtomicU64::new(0));
    let counter = Arc::clone(&served);
    tokio::spawn(async move {
        let (_hung, _) = listener.accept().await.unwrap();
        serve_on(listener, Arc::new(|_, _| async { Reply::Right }), counter).await;
    });
    let r = wait_first_correct(
        addr,
        &probe(),
        Duration::from_secs(20),
        &CancellationToken::new(),
    )
    .await;
    // Ready within the overall bound although the first attempt never got an answer.
    assert!(r.is_ok(), "{r:?}");
    // At least one later attempt was served. Not "exactly one": attempts overlap
    // (staggered), so on a loaded host a second one can be answered before the first
    // answer is seen (seen here: 2).
    assert!(served.load(Ordering::SeqCst) >= 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn startup_gives_up_naming_the_address_and_what_it_saw() {
    let addr = dead_port().await;
    let e = wait_first_correct(
        addr,
        &probe(),
        Duration::from_millis(300),
        &CancellationToken::new(),
    )
    .await
    .unwrap_err();
    let msg = e.to_string();
    assert!(matches!(e, Error::NotReady { .. }), "{msg}");
    assert!(msg.contains(&addr.to_string()), "{msg}");
    assert!(msg.to_lowercase().contains("refused"), "{msg}");
    assert!(!msg.contains('\n'), "one line: {msg}");

    // A server that answers, but wrongly: the last answer is quoted on the same line.
    let (addr, _) = serve(|_, _| async { Reply::Wrong }).await;
    let e = wait_first_correct(
        addr,
        &probe(),
        Duration::from_millis(300),
        &CancellationToken::new(),
    )
    .await
    .unwrap_err();
    let msg = e.to_string();
    assert!(
        msg.contains("HTTP 200") && msg.contains("result = 5"),
        "{msg}"
    );
    assert!(
        !msg.contains('\n') && !msg.contains('\r'),
        "one line: {msg}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn startup_honours_cancellation() {
    let addr = dead_port().await;
    let cancel = CancellationToken::new();
    let c = cancel.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(100)).await;
        c.cancel();
    });
    let e = wait_first_correct(addr, &probe(), Duration::from_secs(30), &cancel)
        .await
        .unwrap_err();
    assert!(matches!(e, Error::Cancelled), "{e}");
}

/// Sanity check that the generator is not the bottleneck: closed-loop throughput against
/// a trivial loopback server next to `wrk`'s on the same server (same connections and
/// duration). Prints both; run with
/// `cargo test --release --test load -- --ignored --nocapture closed_loop_next_to_wrk`.
#[test]
#[ignore = "needs wrk; a benchmark note, not a correctness test"]
fn closed_loop_next_to_wrk() {
    // The server gets its own runtime (2 threads) so that it never shares worker threads
    // with the generator, as with wrk, which is a separate process.
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let (addr, _) = serve(|_, _| async { Reply::Right }).await;
            tx.send(addr).unwrap();
            std::future::pending::<()>().await;
        });
    });
    let addr = rx.recv().unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let cfg = ClosedLoopConfig {
        duration: Duration::from_secs(5),
        connections: 8,
        timeout: Duration::from_secs(2),
    };
    let ours = rt
        .block_on(load::closed_loop(addr, &[probe()], &cfg))
        .unwrap();
    assert!(ours.count > 0 && ours.errors == 0 && ours.wrong_answers == 0);

    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("post.lua");
    std::fs::write(
        &script,
        "wrk.method = \"POST\"\nwrk.body = \"(5+3)/2\"\nwrk.headers[\"Content-Type\"] = \"text/plain\"\n",
    )
    .unwrap();
    let out = std::process::Command::new("wrk")
        .args(["-t2", "-c8", "-d5s", "-s"])
        .arg(&script)
        .arg(format!("http://{addr}/"))
        .output()
        .expect("wrk installed");
    let text = String::from_utf8_lossy(&out.stdout);
    let wrk_rps: f64 = text
        .lines()
        .find_map(|l| l.strip_prefix("Requests/sec:"))
        .map(|v| v.trim().parse().unwrap())
        .unwrap_or_else(|| panic!("no Requests/sec in wrk output:\n{text}"));
    eprintln!(
        "closed loop (8 connections, 5 s): virtbench {:.0} req/s ({}), wrk {:.0} req/s",
        ours.rps,
        ours.per_second.describe(),
        wrk_rps
    );
    eprintln!("wrk output:\n{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_converging_window_stops_releasing_once_its_halves_agree() {
    let (addr, served) = serve(|_, _| async { Reply::Delay(Duration::from_millis(2)) }).await;
    // A target every pair of halves meets (a relative difference is at most 1): the
    // window must end at its first comparison, two chunks of 200 answers in.
    let (r, end) = load::open_loop_converging(addr, &[probe()], &open(200.0, 8000, 0, 4), 0.999)
        .await
        .unwrap();
    eprintln!("{r:?} {end:?}");
    assert!(end.converged, "{end:?}");
    assert_eq!(end.chunks, 2);
    assert!(end.halves.as_ref().is_some_and(|h| h.agree));
    assert!(r.duration_s < 8.0, "{r:?}");
    // Every request released was waited for and counted: the figure is of them all.
    assert_eq!((r.errors, r.wrong_answers), (0, 0), "{r:?}");
    assert_eq!(r.count, (r.duration_s * 200.0).round() as u64, "{r:?}");
    assert_eq!(served.load(Ordering::SeqCst), r.count);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_window_whose_halves_differ_runs_its_whole_length() {
    // The first 300 answers take 2 ms, the rest 20 ms: no two halves agree within 5 %.
    let (addr, _) =
        serve(
            |n, _| async move { Reply::Delay(Duration::from_millis(if n < 300 { 2 } else { 20 })) },
        )
        .await;
    let (r, end) = load::open_loop_converging(addr, &[probe()], &open(200.0, 4000, 0, 8), 0.05)
        .await
        .unwrap();
    assert!(!end.converged, "{end:?}");
    assert_eq!(end.chunks, 4);
    assert!(end.halves.as_ref().is_some_and(|h| !h.agree), "{end:?}");
    assert_eq!((r.duration_s, r.count, r.errors), (4.0, 800, 0), "{r:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_closed_loop_told_to_stop_counts_the_seconds_before_the_stop_only() {
    let (addr, _) = serve(|_, _| async { Reply::Right }).await;
    let cfg = ClosedLoopConfig {
        duration: Duration::from_secs(5),
        connections: 2,
        timeout: Duration::from_secs(2),
    };
    let (r, stopped) = load::closed_loop_until(addr, &[probe()], &cfg, &|s| s.len() >= 2)
        .await
        .unwrap();
    assert!(stopped);
    assert_eq!(
        (r.duration_s, r.per_second.samples.len()),
        (2.0, 2),
        "{r:?}"
    );
    assert_eq!(r.per_second.samples.iter().sum::<f64>() as u64, r.count);
    assert!((r.rps - r.count as f64 / 2.0).abs() < 1e-9);
    // Never told: the whole run, as `closed_loop`.
    let cfg = ClosedLoopConfig {
        duration: Duration::from_secs(2),
        ..cfg
    };
    let (r, stopped) = load::closed_loop_until(addr, &[probe()], &cfg, &|_| false)
        .await
        .unwrap();
    assert!(!stopped);
    assert_eq!(r.per_second.samples.len(), 2);
}
