//! Readiness: wait for the first *correct* calculator answer.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

use super::{MeasureError, Probe};

/// Poll `addr` with `probe` until it answers correctly; returns the instant of that
/// first correct answer.
pub async fn wait_first_correct(
    _addr: SocketAddr,
    _probe: &Probe,
    _timeout: Duration,
    _cancel: &CancellationToken,
) -> Result<Instant, MeasureError> {
    Err(MeasureError::Failed("startup: not implemented".into()))
}
