//! HTTP load generator: open-loop constant rate (latency from the intended send time)
//! and closed-loop maximum throughput, over keep-alive connections.
//!
//! Open loop: a dedicated OS thread releases request `i` at `start + i / rate` (absolute
//! times, so the schedule cannot drift; `std::thread::sleep` is precise to tens of
//! microseconds where tokio's timer wheel has a 1 ms tick) into a queue that
//! `connections` tasks, one per keep-alive connection, pull from. A request that finds
//! every connection busy waits in the queue, and its latency — counted from its intended
//! time, not from when it was actually written — includes that wait. This is what
//! avoids coordinated omission: a server stall shows up in every request that should
//! have been sent during it, not only in the one that was stuck.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hdrhistogram::Histogram;
use tokio::sync::{mpsc, Mutex};
use tokio::task::JoinSet;
use tokio::time::Instant;

use super::http::{Answer, Client, HttpError};
use super::Probe;
use crate::error::Error;
use crate::results::{LatencyResult, ThroughputResult};
use crate::stats::Series;

#[derive(Debug, Clone)]
pub struct OpenLoopConfig {
    pub rate_rps: f64,
    pub duration: Duration,
    pub warmup: Duration,
    pub connections: usize,
    pub timeout: Duration,
}

#[derive(Debug, Clone)]
pub struct ClosedLoopConfig {
    pub duration: Duration,
    pub connections: usize,
    pub timeout: Duration,
}

/// Highest latency the histogram is sized for without resizing (it still auto-resizes
/// beyond), microseconds.
const HIST_HIGH_US: u64 = 60_000_000;
/// Pause after a transport error in the closed loop, so a dead server is not spun on.
const ERROR_BACKOFF: Duration = Duration::from_millis(10);

/// An open-loop run: the summary and the full latency histogram (microseconds, correct
/// answers of the measured window only), e.g. for a distribution chart.
#[derive(Debug, Clone)]
pub struct OpenLoopRun {
    pub result: LatencyResult,
    pub histogram: Histogram<u64>,
}

/// Send `probes` round-robin at a constant rate.
pub async fn open_loop(
    addr: SocketAddr,
    probes: &[Probe],
    cfg: &OpenLoopConfig,
) -> Result<LatencyResult, Error> {
    open_loop_run(addr, probes, cfg).await.map(|r| r.result)
}

/// [`open_loop`], also returning the histogram.
pub async fn open_loop_run(
    addr: SocketAddr,
    probes: &[Probe],
    cfg: &OpenLoopConfig,
) -> Result<OpenLoopRun, Error> {
    open_loop_inner(addr, probes, cfg, None)
        .await
        .map(|(r, _)| r)
}

/// Per-chunk tallies of a converging window: a chunk is complete when every request
/// released in it has an outcome.
struct Chunks {
    histograms: Vec<Histogram<u64>>,
    finished: Vec<u64>,
    expected: Vec<u64>,
}

impl Chunks {
    /// The chunks of a window of `total_s` seconds (warm-up included) at `rate`, and
    /// how many requests the scheduler releases in each (its own arithmetic, so the
    /// counts match it exactly).
    fn new(rate: f64, warmup_s: f64, total_s: f64) -> Chunks {
        let chunk_s = CHUNK.as_secs_f64();
        let n = (((total_s - warmup_s) / chunk_s).ceil() as usize).max(1);
        let mut expected = vec![0u64; n];
        let mut i: u64 = 0;
        loop {
            let offset = i as f64 / rate;
            if offset >= total_s {
                break;
            }
            if offset >= warmup_s {
                expected[Self::index(offset, warmup_s, n)] += 1;
            }
            i += 1;
        }
        Chunks {
            histograms: (0..n).map(|_| OpenStats::new().histogram).collect(),
            finished: vec![0; n],
            expected,
        }
    }

    fn index(offset: f64, warmup_s: f64, n: usize) -> usize {
        (((offset - warmup_s) / CHUNK.as_secs_f64()) as usize).min(n - 1)
    }

    /// Chunks complete from the first on, in a row.
    fn complete(&self) -> usize {
        self.finished
            .iter()
            .zip(&self.expected)
            .take_while(|(f, e)| f >= e)
            .count()
    }
}

/// The open loop, and when `converge` gives a target, the controller of a converging
/// window ([`open_loop_converging`]).
async fn open_loop_inner(
    addr: SocketAddr,
    probes: &[Probe],
    cfg: &OpenLoopConfig,
    converge: Option<f64>,
) -> Result<(OpenLoopRun, Option<WindowEnd>), Error> {
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
    if !(cfg.rate_rps.is_finite() && cfg.rate_rps > 0.0) {
        return Err(bad_config("rate_rps", cfg.rate_rps));
    }
    check_common(probes, cfg.duration, cfg.connections, cfg.timeout)?;

    let clients = connect_all(addr, cfg.connections, cfg.timeout).await?;
    let probes: Arc<[Probe]> = probes.into();
    let rate = cfg.rate_rps;
    let warmup_s = cfg.warmup.as_secs_f64();
    let total_s = warmup_s + cfg.duration.as_secs_f64();
    let chunks =
        converge.map(|_| Arc::new(std::sync::Mutex::new(Chunks::new(rate, warmup_s, total_s))));
    let n_chunks = chunks
        .as_ref()
        .map_or(0, |c| c.lock().expect("chunks").expected.len());
    let stop = Arc::new(AtomicBool::new(false));
    let released = Arc::new(AtomicU64::new(0));

    let start = Instant::now();
    let hard_deadline = start + cfg.warmup + cfg.duration + cfg.timeout;
    let (tx, rx) = mpsc::unbounded_channel::<u64>();
    let scheduler = spawn_scheduler(
        start.into_std(),
        rate,
        total_s,
        tx,
        Arc::clone(&stop),
        Arc::clone(&released),
    )?;
    let rx = Arc::new(Mutex::new(rx));

    // A JoinSet aborts its tasks when dropped: a caller that drops this future (cancel)
    // stops the load at once instead of leaving it running against a torn-down target.
    let mut workers = JoinSet::new();
    for client in clients {
        let rx = Arc::clone(&rx);
        let probes = Arc::clone(&probes);
        let chunks = chunks.clone();
        let timeout = cfg.timeout;
        workers.spawn(async move {
            let mut stats = OpenStats::new();
            let mut client = client;
            loop {
                // Holding the lock while waiting makes the queue FIFO over idle workers.
                let Some(i) = rx.lock().await.recv().await else {
                    break;
                };
                let offset = i as f64 / rate;
                let intended = start + Duration::from_secs_f64(offset);
                let probe = &probes[(i % probes.len() as u64) as usize];
                let now = Instant::now();
                // Work still queued when the grace period ended never gets sent.
                let outcome = if now >= hard_deadline {
                    Err(HttpError::Timeout {
                        addr,
                        what: "queued request to",
                    })
                } else {
                    let deadline = (now + timeout).min(hard_deadline);
                    client.post(probe.body.clone(), deadline).await
                };
                let done = Instant::now();
                if offset >= warmup_s {
                    let latency = done.saturating_duration_since(intended);
                    let correct = stats.record(outcome, probe, latency);
                    if let Some(c) = &chunks {
                        let mut c = c.lock().expect("chunks");
                        let k = Chunks::index(offset, warmup_s, c.finished.len());
                        if let Some(us) = correct {
                            c.histograms[k].saturating_record(us);
                        }
                        c.finished[k] += 1;
                    }
                }
            }
            stats
        });
    }

    // The controller of a converging window: after every even number of complete
    // chunks, compare the halves; stop releasing requests once they agree. Requests
    // already released are all waited for below, so ending early drops no slow answer.
    let mut end = None;
    if let (Some(target), Some(chunks)) = (converge, &chunks) {
        let mut checked = 0;
        let mut window_end = WindowEnd {
            chunks: n_chunks,
            converged: false,
            halves: None,
        };
        let last = start + Duration::from_secs_f64(total_s);
        while Instant::now() < last {
            tokio::time::sleep(CHECK_EVERY).await;
            let c = chunks.lock().expect("chunks");
            let k = c.complete();
            if k >= 2 && k.is_multiple_of(2) && k > checked && k < n_chunks {
                checked = k;
                let halves = super::converge::latency_halves(
                    &merged(&c.histograms[..k / 2])?,
                    &merged(&c.histograms[k / 2..k])?,
                    target,
                );
                let agree = halves.agree;
                window_end.halves = Some(halves);
                if agree {
                    stop.store(true, Relaxed);
                    window_end.converged = true;
                    window_end.chunks = k;
                    break;
                }
            }
        }
        end = Some(window_end);
    }

    let mut total = OpenStats::new();
    while let Some(w) = workers.join_next().await {
        let stats = w.map_err(|e| Error::at("load", "worker task", e.to_string()))?;
        total.merge(stats)?;
    }
    // The scheduler ends as soon as it released the last request; its thread is joined
    // off the runtime so a slow wake-up can't block a worker thread.
    tokio::task::spawn_blocking(move || scheduler.join())
        .await
        .ok();

    // A window that ran its whole length: its halves as they finally are.
    if let (Some(e), Some(chunks)) = (end.as_mut(), &chunks) {
        if !e.converged && n_chunks >= 2 {
            let c = chunks.lock().expect("chunks");
            let k = n_chunks / 2;
            e.halves = Some(super::converge::latency_halves(
                &merged(&c.histograms[..k])?,
                &merged(&c.histograms[k..])?,
                converge.unwrap_or_default(),
            ));
        }
    }

    if let Some(e) = &total.first_error {
        tracing::warn!(%addr, errors = total.errors, first = %e, "open-loop load saw errors");
    }
    if total.wrong_answers > 0 {
        tracing::warn!(%addr, wrong = total.wrong_answers, "open-loop load saw wrong answers");
    }
    // A window stopped early lasted as long as the requests it released after the
    // warm-up (the schedule's own time).
    let measured_s = if stop.load(Relaxed) {
        (released.load(Relaxed) as f64 / rate - warmup_s).max(1.0 / rate)
    } else {
        cfg.duration.as_secs_f64()
    };
    let result = summarize(
        &total.histogram,
        total.errors,
        total.wrong_answers,
        rate,
        measured_s,
        cfg.connections,
    );
    tracing::debug!(?result, "open-loop load done");
    Ok((
        OpenLoopRun {
            result,
            histogram: total.histogram,
        },
        end,
    ))
}

/// How often the controller of a converging window looks at its chunks.
const CHECK_EVERY: Duration = Duration::from_millis(100);

/// The latency summary of one window's histogram (correct answers, microseconds).
fn summarize(
    h: &Histogram<u64>,
    errors: u64,
    wrong_answers: u64,
    rate: f64,
    duration_s: f64,
    connections: usize,
) -> LatencyResult {
    let count = h.len();
    let q = |q: f64| {
        if count == 0 {
            0.0
        } else {
            h.value_at_quantile(q) as f64
        }
    };
    LatencyResult {
        rate_rps: rate,
        duration_s,
        achieved_rps: count as f64 / duration_s,
        p50: q(0.5),
        p90: q(0.9),
        p99: q(0.99),
        p999: q(0.999),
        max: if count == 0 { 0.0 } else { h.max() as f64 },
        mean: if count == 0 { 0.0 } else { h.mean() },
        stddev: if count == 0 { 0.0 } else { h.stdev() },
        count,
        errors,
        wrong_answers,
        connections,
    }
}

/// Length of one chunk of a converging window, by intended send time: its halves are
/// compared each time an even number of chunks is complete.
pub const CHUNK: Duration = Duration::from_secs(1);

/// How a converging window ended.
#[derive(Debug, Clone)]
pub struct WindowEnd {
    /// Chunks of [`CHUNK`] compared when the halves agreed; else every chunk of the
    /// window (the last may be shorter).
    pub chunks: usize,
    /// The halves agreed within the target (else the maximum length ran out).
    pub converged: bool,
    /// The last comparison of the halves, if any was made.
    pub halves: Option<super::converge::Halves>,
}

/// An open-loop window that ends when its histogram has converged: its requests are
/// tallied in chunks of [`CHUNK`] by their intended send time (after `cfg.warmup`), and
/// each time an even number of chunks is complete (every request released in them has
/// an outcome), the first half of those chunks is compared with the second
/// ([`super::converge::latency_halves`]); once they agree within `target` the schedule
/// stops releasing requests, at most at `cfg.duration`. One schedule and one set of
/// connections throughout: every request released is waited for, so ending early
/// cannot leave a slow answer out of the figure, and the result is of every request of
/// the window.
pub async fn open_loop_converging(
    addr: SocketAddr,
    probes: &[Probe],
    cfg: &OpenLoopConfig,
    target: f64,
) -> Result<(LatencyResult, WindowEnd), Error> {
    let (run, end) = open_loop_inner(addr, probes, cfg, Some(target)).await?;
    Ok((run.result, end.expect("a converging window has an end")))
}

fn merged(hs: &[Histogram<u64>]) -> Result<Histogram<u64>, Error> {
    let mut out = OpenStats::new().histogram;
    for h in hs {
        out.add(h)
            .map_err(|e| Error::at("load", "merging histograms", format!("{e:?}")))?;
    }
    Ok(out)
}

/// Release request indices at their intended times from an OS thread (see module doc).
fn spawn_scheduler(
    start: std::time::Instant,
    rate: f64,
    total_s: f64,
    tx: mpsc::UnboundedSender<u64>,
    stop: Arc<std::sync::atomic::AtomicBool>,
    released: Arc<std::sync::atomic::AtomicU64>,
) -> Result<std::thread::JoinHandle<()>, Error> {
    use std::sync::atomic::Ordering::Relaxed;
    std::thread::Builder::new()
        .name("virtbench-sched".into())
        .spawn(move || {
            // Default timer slack is 50 us; ask for 1 us so wake-ups are on time.
            // SAFETY: prctl(PR_SET_TIMERSLACK) only changes this thread's timer slack.
            unsafe {
                libc::prctl(libc::PR_SET_TIMERSLACK, 1000 as libc::c_ulong, 0, 0, 0);
            }
            let mut i: u64 = 0;
            loop {
                let offset = i as f64 / rate;
                if offset >= total_s {
                    break;
                }
                let at = start + Duration::from_secs_f64(offset);
                let now = std::time::Instant::now();
                if at > now {
                    std::thread::sleep(at - now);
                }
                // A converging window that has converged releases nothing more.
                if stop.load(Relaxed) || tx.send(i).is_err() {
                    break;
                }
                i += 1;
                released.store(i, Relaxed);
            }
        })
        .map_err(|e| Error::at("load", "starting the scheduler thread", e.to_string()))
}

/// Per-worker tallies of the open loop, merged at the end (no shared state on the hot
/// path).
struct OpenStats {
    histogram: Histogram<u64>,
    errors: u64,
    wrong_answers: u64,
    first_error: Option<String>,
}

impl OpenStats {
    fn new() -> Self {
        let mut histogram =
            Histogram::new_with_bounds(1, HIST_HIGH_US, 3).expect("valid histogram bounds");
        histogram.auto(true);
        OpenStats {
            histogram,
            errors: 0,
            wrong_answers: 0,
            first_error: None,
        }
    }

    /// Count one outcome; the latency recorded, microseconds, if it was correct.
    fn record(
        &mut self,
        outcome: Result<Answer, HttpError>,
        probe: &Probe,
        latency: Duration,
    ) -> Option<u64> {
        match classify(outcome, probe) {
            Outcome::Correct => {
                let us = (latency.as_micros() as u64).max(1);
                self.histogram.saturating_record(us);
                return Some(us);
            }
            Outcome::Wrong => self.wrong_answers += 1,
            Outcome::Error(e) => {
                self.errors += 1;
                if self.first_error.is_none() {
                    self.first_error = Some(e.describe());
                }
            }
        }
        None
    }

    fn merge(&mut self, other: OpenStats) -> Result<(), Error> {
        self.histogram
            .add(&other.histogram)
            .map_err(|e| Error::at("load", "merging histograms", format!("{e:?}")))?;
        self.errors += other.errors;
        self.wrong_answers += other.wrong_answers;
        if self.first_error.is_none() {
            self.first_error = other.first_error;
        }
        Ok(())
    }
}

enum Outcome {
    Correct,
    /// A 2xx answer that is not `result = <the expected number>` (see `Probe::accepts`).
    Wrong,
    /// Transport error, timeout or non-2xx status.
    Error(Failure),
}

enum Failure {
    Status(Answer),
    Transport(HttpError),
}

impl Failure {
    /// Only called for the first error of a worker, so errors don't allocate.
    fn describe(&self) -> String {
        match self {
            Failure::Status(a) => a.describe(),
            Failure::Transport(e) => e.to_string(),
        }
    }
}

fn classify(outcome: Result<Answer, HttpError>, probe: &Probe) -> Outcome {
    match outcome {
        Ok(a) if a.status.is_success() => {
            if probe.accepts(&a.body) {
                Outcome::Correct
            } else {
                Outcome::Wrong
            }
        }
        Ok(a) => Outcome::Error(Failure::Status(a)),
        Err(e) => Outcome::Error(Failure::Transport(e)),
    }
}

/// Each connection sends its next request as soon as the previous answer arrived.
pub async fn closed_loop(
    addr: SocketAddr,
    probes: &[Probe],
    cfg: &ClosedLoopConfig,
) -> Result<ThroughputResult, Error> {
    closed_loop_until(addr, probes, cfg, &|_| false)
        .await
        .map(|(t, _)| t)
}

/// Correct answers are counted in the second they arrive; the controller reads a
/// second this long after it ended, so that a worker that took its answer just
/// before the boundary has counted it.
const SLICE_LAG: Duration = Duration::from_millis(20);

/// [`closed_loop`] that may end before `cfg.duration`: after each full second, `stop`
/// is given the answers per second so far and ends the run at that second if it says
/// so (sequential stopping: the spread of the per-second throughput reached its
/// target). Returns the result and whether `stop` ended it. A run ended early counts
/// the whole seconds before the stop only.
pub async fn closed_loop_until(
    addr: SocketAddr,
    probes: &[Probe],
    cfg: &ClosedLoopConfig,
    stop: &(dyn Fn(&[f64]) -> bool + Sync),
) -> Result<(ThroughputResult, bool), Error> {
    use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
    check_common(probes, cfg.duration, cfg.connections, cfg.timeout)?;
    let clients = connect_all(addr, cfg.connections, cfg.timeout).await?;
    let probes: Arc<[Probe]> = probes.into();
    let duration_s = cfg.duration.as_secs_f64();
    // One slot per started second; only full seconds become samples.
    let slices = cfg.duration.as_secs_f64().ceil().max(1.0) as usize;
    let per_slice: Arc<[AtomicU64]> = (0..slices).map(|_| AtomicU64::new(0)).collect();
    // The end, as microseconds after the start: the controller may bring it forward.
    let end_us = Arc::new(AtomicU64::new(cfg.duration.as_micros() as u64));

    let start = Instant::now();
    let end_of = move |end_us: &AtomicU64| start + Duration::from_micros(end_us.load(Relaxed));
    // A JoinSet aborts its tasks when dropped: a caller that drops this future (cancel)
    // stops the load at once instead of leaving it running against a torn-down target.
    let mut workers = JoinSet::new();
    for (w, client) in clients.into_iter().enumerate() {
        let probes = Arc::clone(&probes);
        let per_slice = Arc::clone(&per_slice);
        let end_us = Arc::clone(&end_us);
        let timeout = cfg.timeout;
        workers.spawn(async move {
            let mut client = client;
            let (mut errors, mut wrong) = (0u64, 0u64);
            let mut first_error: Option<String> = None;
            let mut k = w;
            loop {
                let now = Instant::now();
                let end = end_of(&end_us);
                if now >= end {
                    break;
                }
                let probe = &probes[k % probes.len()];
                k += 1;
                let outcome = client
                    .post(probe.body.clone(), (now + timeout).min(end))
                    .await;
                let done = Instant::now();
                // Answers after the end don't count, and a request cut by the end is
                // not an error.
                if done >= end_of(&end_us) {
                    break;
                }
                let transport_error = outcome.is_err();
                match classify(outcome, probe) {
                    Outcome::Correct => {
                        let s = (done - start).as_secs() as usize;
                        per_slice[s.min(slices - 1)].fetch_add(1, Relaxed);
                    }
                    Outcome::Wrong => wrong += 1,
                    Outcome::Error(e) => {
                        errors += 1;
                        if first_error.is_none() {
                            first_error = Some(e.describe());
                        }
                    }
                }
                if transport_error {
                    tokio::time::sleep_until((Instant::now() + ERROR_BACKOFF).min(end)).await;
                }
            }
            (errors, wrong, first_error)
        });
    }

    // Never at the last full second: the run ends there anyway.
    let full = duration_s.floor() as usize;
    let mut stopped_at = None;
    for k in 1..full {
        tokio::time::sleep_until(start + Duration::from_secs(k as u64) + SLICE_LAG).await;
        let so_far: Vec<f64> = per_slice[..k]
            .iter()
            .map(|c| c.load(Relaxed) as f64)
            .collect();
        if stop(&so_far) {
            end_us.store(k as u64 * 1_000_000, Relaxed);
            stopped_at = Some(k);
            break;
        }
    }

    let (mut errors, mut wrong_answers) = (0u64, 0u64);
    let mut first_error = None;
    while let Some(w) = workers.join_next().await {
        let (e, wr, fe) = w.map_err(|e| Error::at("load", "worker task", e.to_string()))?;
        errors += e;
        wrong_answers += wr;
        first_error = first_error.or(fe);
    }
    if let Some(e) = &first_error {
        tracing::warn!(%addr, errors, first = %e, "closed-loop load saw errors");
    }
    let per_slice: Vec<u64> = per_slice.iter().map(|c| c.load(Relaxed)).collect();
    let (duration_s, full) = match stopped_at {
        Some(k) => (k as f64, k),
        None => (duration_s, full),
    };
    let counted = &per_slice[..(duration_s.ceil() as usize).clamp(1, slices)];
    let count: u64 = counted.iter().sum();
    let samples: Vec<f64> = if full == 0 {
        vec![count as f64 / duration_s]
    } else {
        per_slice[..full].iter().map(|&c| c as f64).collect()
    };
    let result = ThroughputResult {
        per_second: Series::new("req/s", samples),
        rps: count as f64 / duration_s,
        connections: cfg.connections,
        duration_s,
        count,
        errors,
        wrong_answers,
    };
    tracing::debug!(?result, "closed-loop load done");
    Ok((result, stopped_at.is_some()))
}

fn check_common(
    probes: &[Probe],
    duration: Duration,
    connections: usize,
    timeout: Duration,
) -> Result<(), Error> {
    if probes.is_empty() {
        return Err(Error::at("load", "configuration", "no probe to send"));
    }
    if duration.is_zero() {
        return Err(bad_config("duration", "0s"));
    }
    if connections == 0 {
        return Err(bad_config("connections", 0));
    }
    if timeout.is_zero() {
        return Err(bad_config("timeout", "0s"));
    }
    Ok(())
}

fn bad_config(field: &str, value: impl std::fmt::Display) -> Error {
    Error::at(
        "load",
        "configuration",
        format!("invalid {field} = {value}"),
    )
}

/// Time allowed to open each connection before a run.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Open every connection before the clock starts, so that no measured request pays for
/// a handshake (a connection broken later is re-opened, and that one is counted).
async fn connect_all(
    addr: SocketAddr,
    connections: usize,
    timeout: Duration,
) -> Result<Vec<Client>, Error> {
    let mut clients = Vec::with_capacity(connections);
    for _ in 0..connections {
        let mut c = Client::new(addr);
        // Each connection gets its own, generous deadline: QEMU's user-mode NAT listens
        // with a backlog of 1 and accepts only when its main loop runs, so on a busy
        // host a SYN can be dropped and retried a second later. Nothing is measured yet.
        c.connect(Instant::now() + timeout.max(CONNECT_TIMEOUT))
            .await
            .map_err(|e| Error::at("load", "connecting", e.to_string()))?;
        clients.push(c);
    }
    Ok(clients)
}
