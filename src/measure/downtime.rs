//! A service's downtime while something is done to its guest (a resize, a snapshot
//! restore): the probe sent every [`PROBE_EVERY`] on a fresh connection, concurrently
//! (a slow answer does not delay the next probe), and the outages read from the log.
//! Used by OpenStack's lifecycle experiments and QEMU's live resize, so both C13 halves
//! measure downtime the same way. (`measure::fault`'s prober is sequential: it times
//! each answer for the kill tests.)

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::http::Client as HttpClient;
use super::Probe;

/// Prober period.
pub const PROBE_EVERY: Duration = Duration::from_millis(50);
/// A probe not answered within this counts as down.
const PROBE_TIMEOUT: Duration = Duration::from_millis(1000);

/// Sends the probe every 50 ms on a fresh connection and records (sent, correct).
pub struct Prober {
    log: Arc<Mutex<Vec<(Instant, bool)>>>,
    stop: CancellationToken,
    task: tokio::task::JoinHandle<()>,
}

impl Prober {
    pub fn start(addr: SocketAddr, probe: Probe) -> Prober {
        let log: Arc<Mutex<Vec<(Instant, bool)>>> = Arc::default();
        let stop = CancellationToken::new();
        let (l, s) = (log.clone(), stop.clone());
        let task = tokio::spawn(async move {
            let mut tick = tokio::time::interval(PROBE_EVERY);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
            loop {
                tokio::select! {
                    _ = s.cancelled() => return,
                    _ = tick.tick() => {}
                }
                let (l, p) = (l.clone(), probe.clone());
                tokio::spawn(async move {
                    let sent = Instant::now();
                    // A fresh connection each time: a kept-alive one to a VM that was
                    // just powered off would only time out.
                    let ok = matches!(
                        HttpClient::new(addr).post(p.body.clone(), sent + PROBE_TIMEOUT).await,
                        Ok(a) if a.status.is_success() && p.accepts(&a.body)
                    );
                    l.lock().unwrap_or_else(|e| e.into_inner()).push((sent, ok));
                });
            }
        });
        Prober { log, stop, task }
    }

    /// Total time without a correct answer among probes sent in [from, to]: each
    /// outage runs from its first failed probe to the next correct one (or `to`).
    pub fn downtime(&self, from: Instant, to: Instant) -> Duration {
        let mut log: Vec<(Instant, bool)> = self
            .log
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .copied()
            .filter(|(t, _)| *t >= from && *t <= to)
            .collect();
        log.sort_by_key(|(t, _)| *t);
        outages(&log, to)
    }

    /// When the service came back: the end of the longest outage among probes sent
    /// from `from` on (a lone slow probe is not the operation's outage). Sent time, so
    /// late by at most one period.
    pub fn back_after(&self, from: Instant) -> Option<Instant> {
        let mut log: Vec<(Instant, bool)> = self
            .log
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .copied()
            .filter(|(t, _)| *t >= from)
            .collect();
        log.sort_by_key(|(t, _)| *t);
        longest_outage_end(&log)
    }

    pub fn stop(self) {
        self.stop.cancel();
        self.task.abort();
    }
}

/// Sum of outages in a sorted probe log; an outage still open ends at `end`.
fn outages(log: &[(Instant, bool)], end: Instant) -> Duration {
    let mut total = Duration::ZERO;
    let mut down_since = None;
    for &(t, ok) in log {
        match (ok, down_since) {
            (false, None) => down_since = Some(t),
            (true, Some(s)) => {
                total += t.saturating_duration_since(s);
                down_since = None;
            }
            _ => {}
        }
    }
    if let Some(s) = down_since {
        total += end.saturating_duration_since(s);
    }
    total
}

/// End (first correct probe) of the longest outage in a sorted probe log.
fn longest_outage_end(log: &[(Instant, bool)]) -> Option<Instant> {
    let mut best: Option<(Duration, Instant)> = None;
    let mut down_since = None;
    for &(t, ok) in log {
        match (ok, down_since) {
            (false, None) => down_since = Some(t),
            (true, Some(s)) => {
                let d = t.saturating_duration_since(s);
                if best.is_none_or(|(b, _)| d > b) {
                    best = Some((d, t));
                }
                down_since = None;
            }
            _ => {}
        }
    }
    best.map(|(_, t)| t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outages_are_summed_and_an_open_one_ends_at_the_end() {
        let t0 = Instant::now();
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        let log = [
            (at(0), true),
            (at(50), false),
            (at(100), false),
            (at(150), true),
            (at(200), false),
        ];
        assert_eq!(outages(&log, at(300)), Duration::from_millis(100 + 100));
        assert_eq!(outages(&[(at(0), true)], at(300)), Duration::ZERO);
        let log = [
            (at(0), false),
            (at(50), true),
            (at(100), false),
            (at(300), false),
            (at(350), true),
            (at(400), true),
        ];
        assert_eq!(longest_outage_end(&log), Some(at(350)));
        assert_eq!(longest_outage_end(&[(at(0), true)]), None);
    }
}
