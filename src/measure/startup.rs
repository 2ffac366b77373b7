//! Readiness: wait for the first *correct* calculator answer.
//!
//! Startup is measured up to the instant that answer arrived, so the poll must not add
//! idle time: a refused connection is retried after [`POLL_INTERVAL`], and an attempt
//! that hangs is not waited for: another one starts [`STAGGER`] later, on a new
//! connection, while the first may still answer. Aborting hung attempts instead (as a
//! first version did, after 500 ms) quantised VM startups: QEMU's user-mode NAT accepts
//! on the host at once but retries its SYN to a guest that does not listen yet only on
//! its own timer, so only a fresh connection reaches a guest that just started serving.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

use super::http::Client;
use super::Probe;
use crate::error::Error;

/// Wait after a failed attempt before the next (no idle wait beyond this).
pub const POLL_INTERVAL: Duration = Duration::from_millis(2);
/// Start another attempt when the newest one has been pending this long.
pub const STAGGER: Duration = Duration::from_millis(20);
/// Attempts pending at once, at most.
pub const MAX_IN_FLIGHT: usize = 16;
/// Bound on one attempt (connect + request + whole answer).
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_millis(500);

/// Poll `addr` with `probe` until it answers correctly; returns the instant of that
/// first correct answer.
pub async fn wait_first_correct(
    addr: SocketAddr,
    probe: &Probe,
    timeout: Duration,
    cancel: &CancellationToken,
) -> Result<Instant, Error> {
    tokio::select! {
        biased;
        _ = cancel.cancelled() => Err(Error::Cancelled),
        r = poll(addr, probe, timeout) => r,
    }
}

async fn poll(addr: SocketAddr, probe: &Probe, timeout: Duration) -> Result<Instant, Error> {
    use futures_util::stream::{FuturesUnordered, StreamExt};
    let started = tokio::time::Instant::now();
    let deadline = started + timeout;
    let mut in_flight = FuturesUnordered::new();
    let mut next_start = started;
    let mut last = String::from("no attempt made");
    let mut attempts = 0u64;
    loop {
        let now = tokio::time::Instant::now();
        if now >= deadline {
            break;
        }
        if now >= next_start && in_flight.len() < MAX_IN_FLIGHT {
            attempts += 1;
            let body = probe.body.clone();
            let attempt_deadline = (now + ATTEMPT_TIMEOUT).min(deadline);
            in_flight.push(async move { Client::new(addr).post(body, attempt_deadline).await });
            next_start = now + STAGGER;
        }
        // With every slot taken, only an attempt's end can make progress.
        let wake = if in_flight.len() < MAX_IN_FLIGHT {
            next_start.min(deadline)
        } else {
            deadline
        };
        tokio::select! {
            Some(outcome) = in_flight.next() => {
                match outcome {
                    Ok(answer) if answer.status.is_success() && probe.accepts(&answer.body) => {
                        let at = Instant::now();
                        tracing::debug!(%addr, attempts, elapsed = ?started.elapsed(), "first correct answer");
                        return Ok(at);
                    }
                    // Up but not right yet (e.g. a sub-service still starting).
                    Ok(answer) => last = answer.describe(),
                    Err(e) => last = e.to_string(),
                }
                tracing::trace!(%addr, attempts, %last, "not ready");
                next_start = next_start.min(tokio::time::Instant::now() + POLL_INTERVAL);
            }
            _ = tokio::time::sleep_until(wake) => {}
        }
    }
    Err(Error::NotReady {
        addr,
        after: started.elapsed(),
        last: format!("{last} after {attempts} attempts"),
    })
}
