//! Noisy-neighbour test (claim C6): the calculator's p99 latency at a modest fixed rate,
//! quiet, then while a sibling on the same platform runs `calculator noise` (one core
//! burnt, a file rewritten and fsynced in a loop). The platform starts and always
//! removes the sibling; this module measures.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use crate::measure::load::{open_loop, OpenLoopConfig};
use crate::measure::Probe;
use crate::platform::PlatformError;
use crate::stats::Series;

/// Measured windows per condition (one p99 each).
pub const WINDOWS: usize = 3;
/// Requests per second: modest, so the quiet p99 is the service's, not a queue's.
pub const RATE_RPS: f64 = 100.0;
const WINDOW: Duration = Duration::from_secs(1);
/// Time the sibling gets to reach its steady state before measuring.
pub const SETTLE: Duration = Duration::from_millis(300);

/// p99 of each of [`WINDOWS`] one-second open-loop windows, microseconds.
pub async fn p99_windows(addr: SocketAddr) -> Result<Series, PlatformError> {
    let probe = Probe::for_expression("(5+3)/2").expect("constant expression");
    let cfg = OpenLoopConfig {
        rate_rps: RATE_RPS,
        duration: WINDOW,
        warmup: Duration::from_millis(100),
        connections: 2,
        timeout: Duration::from_secs(2),
    };
    let mut p99 = Vec::with_capacity(WINDOWS);
    for _ in 0..WINDOWS {
        let r = open_loop(addr, std::slice::from_ref(&probe), &cfg)
            .await
            .map_err(|e| PlatformError::Failed(format!("noise test load on {addr}: {e}")))?;
        if r.count == 0 {
            return Err(PlatformError::Failed(format!(
                "noise test: no correct answer from {addr} ({} errors)",
                r.errors
            )));
        }
        p99.push(r.p99);
    }
    Ok(Series::new("us", p99))
}

/// The extras of a quiet and a noisy measurement.
pub fn extras(quiet: Series, noisy: Series) -> BTreeMap<String, Series> {
    BTreeMap::from([
        ("noisy_baseline_p99_us".to_string(), quiet),
        ("noisy_neighbour_p99_us".to_string(), noisy),
    ])
}
