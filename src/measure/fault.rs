//! Fault trials seen from outside: a prober asks the calculator at a constant pace
//! while something is killed, and logs each answer as correct, an HTTP error with its
//! one-line reason, or no answer. Shared by every kill test (C7's daemon kills on the
//! private Docker engine, Podman's conmon kill, a sub-service killed mid-load), so that
//! they are measured the same way and land in the same `fault_<trial>_*` keys.
//!
//! The prober is sequential: one `POST` every [`PROBE_EVERY`] with a [`PROBE_DEADLINE`];
//! a slow answer delays the next one (at most 200 ms), so the pace stays 20 requests/s
//! while the service answers and a dead service still gets 5 probes/s.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::answer::answer_value;
use super::http::Client;
use crate::stats::Series;

/// Width of one bucket of the time series.
pub const BUCKET: Duration = Duration::from_millis(100);
/// Time between two probes (sequential: a slow answer delays the next).
pub const PROBE_EVERY: Duration = Duration::from_millis(50);
pub const PROBE_DEADLINE: Duration = Duration::from_millis(200);
/// Observed before and after each kill.
pub const BEFORE: Duration = Duration::from_secs(1);
pub const AFTER: Duration = Duration::from_secs(3);
/// After a restart: how long the service may take to answer again.
pub const BACK_WITHIN: Duration = Duration::from_secs(10);

/// The sub-service kill tests: the role killed, and a probe that needs it (and every
/// other sub-service), evaluated by the calculator as `sum`, `mul`, `div`, `sub` calls.
pub const KILLED_ROLE: &str = "mul";
pub const SERVICE_EXPRESSION: &str = "2*(3+4)-10/4";
/// A respawn's delay for a supervised native process: systemd's default `RestartSec`.
pub const RESPAWN_DELAY: Duration = Duration::from_millis(100);

/// What one probe got.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// A 2xx with the right number.
    Correct,
    /// A 2xx with another body (counted with the errors).
    Wrong(String),
    /// A non-2xx status and the body's first line (the calculator's one-line reason).
    Status(u16, String),
    /// No answer within the deadline, refused, reset...
    NoAnswer(String),
}

impl Outcome {
    pub fn ok(&self) -> bool {
        matches!(self, Outcome::Correct)
    }
}

/// One probe: when (since the prober started) and what it got.
pub type Entry = (Duration, Outcome);

pub struct Prober {
    t0: Instant,
    log: Arc<Mutex<Vec<Entry>>>,
    stop: CancellationToken,
    task: tokio::task::JoinHandle<()>,
}

fn first_line(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    text.lines()
        .next()
        .unwrap_or("")
        .trim()
        .chars()
        .take(200)
        .collect()
}

impl Prober {
    /// Start probing `addr` with `expression` (its answer computed locally).
    pub fn start(addr: SocketAddr, expression: &str) -> Prober {
        let expected =
            calculator::expr::evaluate_local(expression).expect("a valid fault-probe expression");
        let body = Bytes::from(expression.to_string());
        let (t0, log, stop) = (
            Instant::now(),
            Arc::new(Mutex::new(Vec::new())),
            CancellationToken::new(),
        );
        let (l, s) = (log.clone(), stop.clone());
        let task = tokio::spawn(async move {
            let mut client = Client::new(addr);
            while !s.is_cancelled() {
                let sent = Instant::now();
                let outcome = match client.post(body.clone(), sent + PROBE_DEADLINE).await {
                    Ok(a) if a.status.is_success() => {
                        if answer_value(&a.body).is_some_and(|v| (v - expected).abs() < 1e-9) {
                            Outcome::Correct
                        } else {
                            Outcome::Wrong(first_line(&a.body))
                        }
                    }
                    Ok(a) => Outcome::Status(a.status.as_u16(), first_line(&a.body)),
                    Err(e) => Outcome::NoAnswer(e.to_string()),
                };
                l.lock().expect("log lock").push((sent - t0, outcome));
                tokio::time::sleep_until(sent + PROBE_EVERY).await;
            }
        });
        Prober {
            t0,
            log,
            stop,
            task,
        }
    }

    /// Time since the prober started: the clock of the log.
    pub fn now(&self) -> Duration {
        self.t0.elapsed()
    }

    pub fn snapshot(&self) -> Vec<Entry> {
        self.log.lock().expect("log lock").clone()
    }

    /// Has any probe been answered correctly yet?
    pub fn any_correct(&self) -> bool {
        self.log
            .lock()
            .expect("log lock")
            .iter()
            .any(|(_, o)| o.ok())
    }

    pub async fn stop(self) -> Vec<Entry> {
        self.stop.cancel();
        let _ = self.task.await;
        let taken = self.log.lock().expect("log lock").clone();
        taken
    }
}

/// Correct answers and errors per [`BUCKET`] from `from` to `to` (times since the
/// prober started).
pub fn buckets(log: &[Entry], from: Duration, to: Duration) -> (Vec<f64>, Vec<f64>) {
    let n = ((to.saturating_sub(from)).as_millis() / BUCKET.as_millis()) as usize;
    let (mut ok, mut err) = (vec![0.0; n], vec![0.0; n]);
    for (t, outcome) in log {
        if *t < from || *t >= to {
            continue;
        }
        let i = ((*t - from).as_millis() / BUCKET.as_millis()) as usize;
        if i < n {
            if outcome.ok() {
                ok[i] += 1.0;
            } else {
                err[i] += 1.0;
            }
        }
    }
    (ok, err)
}

/// Fraction of correct probes in `[from, to)`; None without any probe there.
pub fn answered_fraction(log: &[Entry], from: Duration, to: Duration) -> Option<f64> {
    let inside: Vec<bool> = log
        .iter()
        .filter(|(t, _)| *t >= from && *t < to)
        .map(|(_, o)| o.ok())
        .collect();
    (!inside.is_empty())
        .then(|| inside.iter().filter(|ok| **ok).count() as f64 / inside.len() as f64)
}

/// After `from`: the first correct answer following the last error, as a delay from
/// `from`. Zero when no answer after `from` failed; None when the last one failed.
pub fn back_after(log: &[Entry], from: Duration) -> Option<Duration> {
    let after: Vec<&Entry> = log.iter().filter(|(t, _)| *t >= from).collect();
    let last_err = after.iter().rposition(|(_, o)| !o.ok());
    match last_err {
        None => Some(Duration::ZERO),
        Some(i) => after.get(i + 1).map(|(t, _)| *t - from),
    }
}

/// Failed probes after `from` by kind (`http_502`, `http_504`, `no_answer`, ...), each
/// with how many and the first reason seen.
pub fn failures(log: &[Entry], from: Duration) -> BTreeMap<String, (usize, String)> {
    let mut out: BTreeMap<String, (usize, String)> = BTreeMap::new();
    for (_, o) in log.iter().filter(|(t, _)| *t >= from) {
        let (kind, reason) = match o {
            Outcome::Correct => continue,
            Outcome::Wrong(r) => ("wrong_answer".to_string(), r.clone()),
            Outcome::Status(code, r) => (format!("http_{code}"), format!("HTTP {code}: {r}")),
            Outcome::NoAnswer(r) => ("no_answer".to_string(), r.clone()),
        };
        let e = out.entry(kind).or_insert((0, reason));
        e.0 += 1;
    }
    out
}

/// What one trial saw.
#[derive(Debug, Clone)]
pub struct Trial {
    pub name: String,
    /// Every probe of the last second of the [`AFTER`] window was correct.
    pub survived: bool,
    /// Correct probes / probes in the [`AFTER`] window.
    pub answered_fraction: f64,
    /// The workload's processes still ran [`AFTER`] the kill (None: not checked).
    pub containers_running: Option<bool>,
    pub ok: Vec<f64>,
    pub errors: Vec<f64>,
    /// After the restart (of the daemon, or by the restart policy): were the services
    /// listed running, and when did answers become correct again (None: not within
    /// [`BACK_WITHIN`]). None: the trial restarts nothing.
    pub restart: Option<(Option<bool>, Option<Duration>)>,
    pub failures: BTreeMap<String, (usize, String)>,
}

impl Trial {
    /// The trial from its log: `killed` and `end` on the prober's clock.
    pub fn from_log(
        name: &str,
        log: &[Entry],
        killed: Duration,
        end: Duration,
        containers_running: Option<bool>,
        restart: Option<(Option<bool>, Option<Duration>)>,
    ) -> Trial {
        let last_second = (killed + AFTER - Duration::from_secs(1), killed + AFTER);
        let survived = answered_fraction(log, last_second.0, last_second.1) == Some(1.0);
        let answered_fraction = answered_fraction(log, killed, killed + AFTER).unwrap_or(0.0);
        let (ok, errors) = buckets(log, killed.saturating_sub(BEFORE), end);
        Trial {
            name: name.to_string(),
            survived,
            answered_fraction,
            containers_running,
            ok,
            errors,
            restart,
            failures: failures(log, killed),
        }
    }

    /// One line for the log.
    pub fn summary(&self) -> String {
        let fails: Vec<String> = self
            .failures
            .iter()
            .map(|(k, (n, r))| format!("{n} {k} ({r})"))
            .collect();
        format!(
            "{}: survived {}, answered {:.0}% after the kill, back after {}, failures: {}",
            self.name,
            self.survived,
            self.answered_fraction * 100.0,
            match self.restart {
                Some((_, Some(b))) => format!("{} ms", b.as_millis()),
                Some((_, None)) => "never".into(),
                None => "n/a".into(),
            },
            if fails.is_empty() {
                "none".into()
            } else {
                fails.join(", ")
            }
        )
    }
}

/// 1.0 for yes.
pub fn flag(b: bool) -> f64 {
    if b {
        1.0
    } else {
        0.0
    }
}

/// The `fault_<trial>_*` series of some trials (docs/results-schema.md).
pub fn series(trials: &[Trial]) -> BTreeMap<String, Series> {
    let mut out = BTreeMap::new();
    for t in trials {
        let n = &t.name;
        out.insert(
            format!("fault_{n}_survived"),
            Series::new("bool", vec![flag(t.survived)]),
        );
        out.insert(
            format!("fault_{n}_answered_fraction"),
            Series::new("ratio", vec![t.answered_fraction]),
        );
        if let Some(running) = t.containers_running {
            out.insert(
                format!("fault_{n}_containers_running"),
                Series::new("bool", vec![flag(running)]),
            );
        }
        out.insert(
            format!("fault_{n}_ok_per_100ms"),
            Series::new("count", t.ok.clone()),
        );
        out.insert(
            format!("fault_{n}_errors_per_100ms"),
            Series::new("count", t.errors.clone()),
        );
        if let Some((running, back)) = t.restart {
            if let Some(running) = running {
                out.insert(
                    format!("fault_{n}_restart_containers_running"),
                    Series::new("bool", vec![flag(running)]),
                );
            }
            out.insert(
                format!("fault_{n}_restart_to_answer_ms"),
                Series::new(
                    "ms",
                    back.map(|b| vec![b.as_secs_f64() * 1e3])
                        .unwrap_or_default(),
                ),
            );
        }
        for (kind, (count, reason)) in &t.failures {
            out.insert(
                format!("fault_{n}_{kind}"),
                Series::new("count", vec![*count as f64]).with_note(reason.clone()),
            );
        }
    }
    out
}

/// Wait until the answers after `from` have been correct for a second (the service is
/// back), or `within` has passed since `from`.
pub async fn until_back(
    prober: &Prober,
    from: Duration,
    within: Duration,
    cancel: &CancellationToken,
) -> Result<(), ()> {
    loop {
        let log = prober.snapshot();
        let settled = back_after(&log, from).is_some_and(|b| {
            log.last()
                .is_some_and(|(t, _)| *t > from + b + Duration::from_secs(1))
        });
        if settled || prober.now() > from + within {
            return Ok(());
        }
        pause(PROBE_EVERY, cancel).await?;
    }
}

/// Until a first correct answer, or `within`: Ok(true) when it came.
pub async fn until_ready(
    addr: SocketAddr,
    expression: &str,
    within: Duration,
    cancel: &CancellationToken,
) -> Result<bool, ()> {
    let prober = Prober::start(addr, expression);
    let deadline = Instant::now() + within;
    let mut outcome = Ok(false);
    loop {
        if prober.any_correct() {
            outcome = Ok(true);
            break;
        }
        if Instant::now() > deadline {
            break;
        }
        if pause(PROBE_EVERY, cancel).await.is_err() {
            outcome = Err(());
            break;
        }
    }
    prober.stop().await;
    outcome
}

/// Sleep `d`, or return `Err(())` when `cancel` fires first.
pub async fn pause(d: Duration, cancel: &CancellationToken) -> Result<(), ()> {
    tokio::select! {
        _ = tokio::time::sleep(d) => Ok(()),
        _ = cancel.cancelled() => Err(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(v: u64) -> Duration {
        Duration::from_millis(v)
    }

    fn good(b: bool) -> Outcome {
        if b {
            Outcome::Correct
        } else {
            Outcome::Status(502, "mul unreachable".into())
        }
    }

    #[test]
    fn probes_fall_in_100ms_buckets() {
        let log = [
            (ms(0), good(true)),
            (ms(50), good(true)),
            (ms(120), good(false)),
            (ms(250), good(true)),
        ];
        let (ok, err) = buckets(&log, ms(0), ms(300));
        assert_eq!(ok, vec![2.0, 0.0, 1.0]);
        assert_eq!(err, vec![0.0, 1.0, 0.0]);
    }

    #[test]
    fn fraction_and_recovery() {
        let log = [
            (ms(0), good(true)),
            (ms(100), good(false)),
            (ms(200), good(false)),
            (ms(300), good(true)),
        ];
        assert_eq!(answered_fraction(&log, ms(0), ms(400)), Some(0.5));
        assert_eq!(answered_fraction(&log, ms(500), ms(600)), None);
        assert_eq!(back_after(&log, ms(50)), Some(ms(250)));
        assert_eq!(back_after(&log, ms(250)), Some(Duration::ZERO));
        assert_eq!(back_after(&log[..3], ms(50)), None);
    }

    #[test]
    fn failures_are_counted_by_kind_with_their_first_reason() {
        let log = [
            (ms(0), Outcome::NoAnswer("before the kill".into())),
            (
                ms(100),
                Outcome::Status(502, "mul: connection refused".into()),
            ),
            (ms(150), Outcome::Status(502, "mul: reset".into())),
            (ms(200), Outcome::NoAnswer("timed out".into())),
            (ms(250), Outcome::Correct),
        ];
        let f = failures(&log, ms(50));
        assert_eq!(
            f["http_502"],
            (2, "HTTP 502: mul: connection refused".to_string())
        );
        assert_eq!(f["no_answer"], (1, "timed out".to_string()));
        assert_eq!(f.len(), 2);
        let t = Trial::from_log("mul_kill", &log, ms(50), ms(300), None, None);
        let s = series(&[t]);
        assert_eq!(
            s["fault_mul_kill_http_502"].note.as_deref(),
            Some("HTTP 502: mul: connection refused")
        );
        assert!(!s.contains_key("fault_mul_kill_containers_running"));
        assert!(!s.contains_key("fault_mul_kill_restart_to_answer_ms"));
    }
}
