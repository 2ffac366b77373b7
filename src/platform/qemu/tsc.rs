//! The host's TSC frequency, measured: a microvm guest under TCG reads the host's TSC
//! and has no timer to measure its frequency against (see [`super::args::guest_clock`]).

use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// How long the measurement counts cycles: 0.1 % resolution needs far less, but a
/// descheduled thread must not skew it.
const WINDOW: Duration = Duration::from_millis(100);

/// Host TSC frequency in kHz, measured once per process; `None` off x86-64.
pub fn host_khz() -> Option<u64> {
    static KHZ: OnceLock<Option<u64>> = OnceLock::new();
    *KHZ.get_or_init(measure)
}

#[cfg(target_arch = "x86_64")]
fn measure() -> Option<u64> {
    // Best of three: a preemption inside a window only makes it look slower or faster
    // by the time lost between reading the clocks, which the shortest pairing bounds.
    let mut best: Option<(f64, u64)> = None;
    for _ in 0..3 {
        let (t0, c0) = (Instant::now(), rdtsc());
        std::thread::sleep(WINDOW);
        let (c1, t1) = (rdtsc(), Instant::now());
        let secs = t1.duration_since(t0).as_secs_f64();
        let khz = (c1.wrapping_sub(c0) as f64 / secs / 1e3).round() as u64;
        if best.is_none_or(|(s, _)| secs < s) {
            best = Some((secs, khz));
        }
    }
    let khz = best?.1;
    tracing::debug!(khz, "host TSC frequency measured");
    (khz > 0).then_some(khz)
}

#[cfg(target_arch = "x86_64")]
fn rdtsc() -> u64 {
    // SAFETY: RDTSC has no preconditions on x86-64.
    unsafe { core::arch::x86_64::_rdtsc() }
}

#[cfg(not(target_arch = "x86_64"))]
fn measure() -> Option<u64> {
    None
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_plausible_frequency() {
        if let Some(khz) = super::host_khz() {
            // Between 100 MHz and 10 GHz: a cycle counter, not noise.
            assert!((100_000..10_000_000).contains(&khz), "{khz} kHz");
        }
    }
}
