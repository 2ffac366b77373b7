//! When a deployment has settled: its first correct answer is not the end of its start
//! (a VM's guest is still starting services and flushing its boot, a container engine
//! still finishing its bookkeeping), so the idle window waits for the host CPU of the
//! deployment to go quiet. Settled means [`QUIET_SLICES`] consecutive slices of
//! [`SLICE`] in each of which the whole deployment used at most [`THRESHOLD`] of one
//! core; the wait is bounded by [`MAX_WAIT`], and how long it took and whether it ran
//! out are recorded next to the idle figures.

use std::time::{Duration, Instant};

use crate::error::Error;
use crate::measure::resources::Sampled;
use crate::results::Settle;

/// Length of one CPU slice.
pub const SLICE: Duration = Duration::from_millis(200);
/// Share of one core under which a slice is quiet (10 ms of CPU per 200 ms slice).
pub const THRESHOLD: f64 = 0.05;
/// Quiet slices in a row that make a deployment settled.
pub const QUIET_SLICES: u32 = 3;
/// The longest wait: a deployment busy for longer is measured busy, and says so.
pub const MAX_WAIT: Duration = Duration::from_secs(15);

/// Is a slice of `cpu_s` CPU seconds over `wall` quiet?
pub fn quiet(cpu_s: f64, wall: Duration) -> bool {
    !wall.is_zero() && cpu_s / wall.as_secs_f64() <= THRESHOLD
}

/// Wait until `dep` has settled or [`MAX_WAIT`] ran out.
pub async fn settle(dep: &(impl Sampled + ?Sized)) -> Result<Settle, Error> {
    let start = Instant::now();
    let mut last = (Instant::now(), dep.sample().await?.cpu_seconds);
    let mut in_a_row = 0;
    let timed_out = loop {
        if in_a_row >= QUIET_SLICES {
            break false;
        }
        if start.elapsed() >= MAX_WAIT {
            break true;
        }
        tokio::time::sleep(SLICE).await;
        let now = (Instant::now(), dep.sample().await?.cpu_seconds);
        if quiet((now.1 - last.1).max(0.0), now.0 - last.0) {
            in_a_row += 1;
        } else {
            in_a_row = 0;
        }
        last = now;
    };
    Ok(Settle {
        waited_s: start.elapsed().as_secs_f64(),
        timed_out,
        slice_s: SLICE.as_secs_f64(),
        threshold_core_share: THRESHOLD,
        quiet_slices: QUIET_SLICES,
        max_wait_s: MAX_WAIT.as_secs_f64(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_slice_is_quiet_under_the_threshold() {
        assert!(quiet(0.009, SLICE));
        assert!(quiet(0.010, SLICE));
        assert!(!quiet(0.011, SLICE));
        assert!(!quiet(0.0, Duration::ZERO));
    }
}
