//! Readiness: wait for the first *correct* calculator answer.
//!
//! Startup is measured up to the instant that answer arrived, so the poll must not add
//! idle time: attempts start at most [`POLL_INTERVAL`] apart, a refused connection comes
//! back at once, and an attempt that hangs (a VM's forwarded port accepts before the
//! guest listens) is cut after [`ATTEMPT_TIMEOUT`].

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

use super::http::Client;
use super::{MeasureError, Probe};

/// Spacing between the starts of two attempts (no idle wait beyond this).
pub const POLL_INTERVAL: Duration = Duration::from_millis(2);
/// Bound on one attempt (connect + request + whole answer).
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_millis(500);

/// Poll `addr` with `probe` until it answers correctly; returns the instant of that
/// first correct answer.
pub async fn wait_first_correct(
    addr: SocketAddr,
    probe: &Probe,
    timeout: Duration,
    cancel: &CancellationToken,
) -> Result<Instant, MeasureError> {
    tokio::select! {
        biased;
        _ = cancel.cancelled() => Err(MeasureError::Cancelled),
        r = poll(addr, probe, timeout) => r,
    }
}

async fn poll(addr: SocketAddr, probe: &Probe, timeout: Duration) -> Result<Instant, MeasureError> {
    let started = tokio::time::Instant::now();
    let deadline = started + timeout;
    let mut client = Client::new(addr);
    let mut last = String::from("no attempt made");
    let mut attempts = 0u64;
    loop {
        let attempt_start = tokio::time::Instant::now();
        if attempt_start >= deadline {
            break;
        }
        attempts += 1;
        let attempt_deadline = (attempt_start + ATTEMPT_TIMEOUT).min(deadline);
        match client.post(probe.body.clone(), attempt_deadline).await {
            Ok(answer) if answer.status.is_success() && answer.body == probe.expected => {
                let at = Instant::now();
                tracing::debug!(%addr, attempts, elapsed = ?started.elapsed(), "first correct answer");
                return Ok(at);
            }
            // A wrong answer or an error status: the service is up but not right yet
            // (e.g. a sub-service still starting); keep polling on the same connection.
            Ok(answer) => last = answer.describe(),
            Err(e) => last = e.to_string(),
        }
        tracing::trace!(%addr, attempts, %last, "not ready");
        tokio::time::sleep_until((attempt_start + POLL_INTERVAL).min(deadline)).await;
    }
    Err(MeasureError::NotReady {
        addr,
        after: started.elapsed(),
        last: format!("{last} after {attempts} attempts"),
    })
}
