//! Noisy-neighbour test (claim C6): the calculator's p99 latency at a modest fixed rate,
//! quiet, then while a sibling on the same platform runs `calculator noise` of one
//! kind: disk only (a file rewritten and fsynced in a loop) and, separately, CPU only
//! (one core burnt). C6 is about disk contention: a sibling that did both at once
//! reported CPU contention as disk contention. The platform starts and always removes
//! each sibling; this module measures.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use crate::error::Error;
use crate::measure::load::{open_loop, OpenLoopConfig};
use crate::measure::Probe;
use crate::results::keys;
use crate::stats::Series;

/// Measured windows per condition (one p99 each), unless the scenario's
/// `[experiments] noise_windows` says otherwise.
pub const WINDOWS: usize = 3;
/// Requests per second: modest, so the quiet p99 is the service's, not a queue's.
pub const RATE_RPS: f64 = 100.0;
const WINDOW: Duration = Duration::from_secs(1);
/// Time the sibling gets to reach its steady state before measuring.
pub const SETTLE: Duration = Duration::from_millis(300);

/// p99 of each of `windows` one-second open-loop windows, microseconds.
pub async fn p99_windows(addr: SocketAddr, windows: usize) -> Result<Series, Error> {
    let probe = Probe::for_expression("(5+3)/2").expect("constant expression");
    let cfg = OpenLoopConfig {
        rate_rps: RATE_RPS,
        duration: WINDOW,
        warmup: Duration::from_millis(100),
        connections: 2,
        timeout: Duration::from_secs(2),
    };
    let mut p99 = Vec::with_capacity(windows);
    for _ in 0..windows.max(1) {
        let r = open_loop(addr, std::slice::from_ref(&probe), &cfg)
            .await
            .map_err(|e| Error::Failed(format!("noise test load on {addr}: {e}")))?;
        if r.count == 0 {
            return Err(Error::Failed(format!(
                "noise test: no correct answer from {addr} ({} errors)",
                r.errors
            )));
        }
        p99.push(r.p99);
    }
    Ok(Series::new("us", p99))
}

pub use calculator::noise::Kind;

/// The kinds measured, each against the same quiet baseline, in this order.
pub const KINDS: [Kind; 2] = [Kind::Disk, Kind::Cpu];

/// The `extras` name of the p99 beside a sibling of `kind`.
pub fn key(kind: Kind) -> &'static str {
    match kind {
        Kind::Disk => keys::NOISY_DISK_P99_US,
        Kind::Cpu => keys::NOISY_CPU_P99_US,
        // Not measured any more; the name files before the split used.
        Kind::Both => "noisy_neighbour_p99_us",
    }
}

/// The extras of a quiet measurement and one noisy measurement per kind.
pub fn extras(quiet: Series, noisy: Vec<(Kind, Series)>) -> BTreeMap<String, Series> {
    let mut out = BTreeMap::from([(keys::NOISY_BASELINE_P99_US.to_string(), quiet)]);
    for (kind, s) in noisy {
        out.insert(key(kind).to_string(), s);
    }
    out
}
