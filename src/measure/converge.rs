//! When a measuring window has seen enough: its two halves agree. A load window has
//! converged when p50 and p99 of its first half and of its second half each differ by
//! at most the target (relative to the larger); an idle window is steady when its
//! memory (median of each half) and its CPU rate (CPU seconds per second of each half)
//! agree the same way. Pure functions: the windows themselves are in `load` and
//! `resources` (docs/stopping.md).

use std::time::Duration;

use hdrhistogram::Histogram;

use super::resources::Window;

/// Correct answers each half of a load window needs before its p99 means anything: at
/// 100 the 99th percentile is the second largest value of the half, not its maximum.
pub const MIN_PER_HALF: u64 = 100;

/// Idle windows shorter than this are never called steady: one second per half.
pub const MIN_IDLE: Duration = Duration::from_secs(2);

/// Two CPU rates this close (in cores) agree whatever their ratio: idle deployments use
/// next to nothing, and a ratio of two near-zero rates is noise. 0.5 % of a core (5 ms
/// of CPU per second) is a tenth of the settle threshold (`settle::THRESHOLD`). A
/// choice, stated as one.
pub const CPU_FLOOR_CORES: f64 = 0.005;

/// The relative difference of two figures: |a - b| over the larger magnitude; 0 when
/// both are 0.
pub fn relative_difference(a: f64, b: f64) -> f64 {
    let m = a.abs().max(b.abs());
    if m == 0.0 {
        0.0
    } else {
        (a - b).abs() / m
    }
}

/// How the two halves of a window compare.
#[derive(Debug, Clone, PartialEq)]
pub struct Halves {
    /// The largest relative difference between the halves over the figures compared.
    pub spread: f64,
    /// The halves agree within the target (and are big enough to compare).
    pub agree: bool,
    pub detail: String,
}

fn quantile(h: &Histogram<u64>, q: f64) -> f64 {
    if h.is_empty() {
        0.0
    } else {
        h.value_at_quantile(q) as f64
    }
}

/// Do the two halves of a load window agree on p50 and p99 within `target`?
pub fn latency_halves(first: &Histogram<u64>, second: &Histogram<u64>, target: f64) -> Halves {
    let (a50, b50) = (quantile(first, 0.5), quantile(second, 0.5));
    let (a99, b99) = (quantile(first, 0.99), quantile(second, 0.99));
    let spread = relative_difference(a50, b50).max(relative_difference(a99, b99));
    let big_enough = first.len() >= MIN_PER_HALF && second.len() >= MIN_PER_HALF;
    Halves {
        spread,
        agree: big_enough && spread <= target,
        detail: format!(
            "p50 {a50:.0}/{b50:.0} us, p99 {a99:.0}/{b99:.0} us between halves of {}/{} answers",
            first.len(),
            second.len()
        ),
    }
}

/// Is an idle window steady: memory and CPU rate of its two halves (split at the
/// middle of its span) within `target` of each other, CPU rates closer than
/// [`CPU_FLOOR_CORES`] counting as equal? Never before [`MIN_IDLE`].
pub fn idle_halves(w: &Window, target: f64) -> Halves {
    let span = w.span();
    let not_yet = |detail: String| Halves {
        spread: f64::INFINITY,
        agree: false,
        detail,
    };
    if span < MIN_IDLE || w.cpu.len() < 4 || w.rss_bytes.len() != w.cpu.len() {
        return not_yet(format!("{:.1} s sampled", span.as_secs_f64()));
    }
    let t0 = w.cpu[0].0;
    let mid_t = t0 + span / 2;
    let mid = w
        .cpu
        .iter()
        .position(|(t, _)| *t >= mid_t)
        .unwrap_or(w.cpu.len() - 1);
    if mid == 0 || mid >= w.cpu.len() - 1 {
        return not_yet("halves too short".into());
    }
    let rate = |a: usize, b: usize| {
        let (ta, ca) = w.cpu[a];
        let (tb, cb) = w.cpu[b];
        let dt = tb.saturating_sub(ta).as_secs_f64();
        if dt > 0.0 {
            (cb - ca).max(0.0) / dt
        } else {
            0.0
        }
    };
    let (ra, rb) = (rate(0, mid), rate(mid, w.cpu.len() - 1));
    let median = |v: &[f64]| crate::stats::Summary::of(v).median;
    let (ma, mb) = (median(&w.rss_bytes[..mid]), median(&w.rss_bytes[mid..]));
    let mem = relative_difference(ma, mb);
    let cpu = if (ra - rb).abs() <= CPU_FLOOR_CORES {
        0.0
    } else {
        relative_difference(ra, rb)
    };
    let spread = mem.max(cpu);
    Halves {
        spread,
        agree: spread <= target,
        detail: format!(
            "memory {:.1}/{:.1} MiB, CPU {:.2}/{:.2} % of a core between halves of {:.1} s",
            ma / 1048576.0,
            mb / 1048576.0,
            ra * 100.0,
            rb * 100.0,
            span.as_secs_f64() / 2.0
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::measure::resources::ResourceSample;

    fn hist(values: impl IntoIterator<Item = u64>) -> Histogram<u64> {
        let mut h = Histogram::new_with_bounds(1, 60_000_000, 3).unwrap();
        for v in values {
            h.record(v).unwrap();
        }
        h
    }

    #[test]
    fn equal_halves_converge_a_shifted_p99_does_not() {
        let a = hist((0..200).map(|i| 800 + i % 50));
        let b = hist((0..200).map(|i| 805 + i % 50));
        let h = latency_halves(&a, &b, 0.05);
        assert!(h.agree, "{h:?}");
        // Same p50, but the second half's slowest 2 % is three times slower.
        let c = hist((0..200).map(|i| if i < 196 { 800 + i % 50 } else { 3000 }));
        let h = latency_halves(&a, &c, 0.05);
        assert!(!h.agree && h.spread > 0.5, "{h:?}");
    }

    #[test]
    fn halves_too_small_never_converge() {
        let a = hist((0..50).map(|_| 800));
        let h = latency_halves(&a, &a, 0.05);
        assert_eq!(h.spread, 0.0);
        assert!(!h.agree);
    }

    fn window(cpu_per_s: impl Fn(f64) -> f64, rss: impl Fn(f64) -> u64, secs: f64) -> Window {
        let mut w = Window::default();
        let mut cpu = 0.0;
        let step = 0.25;
        let mut t = 0.0;
        while t <= secs + 1e-9 {
            w.push(
                Duration::from_secs_f64(t),
                ResourceSample {
                    rss_bytes: rss(t),
                    pss_bytes: None,
                    cpu_seconds: cpu,
                    cpu_resolution_s: 1e-9,
                },
            );
            cpu += cpu_per_s(t) * step;
            t += step;
        }
        w
    }

    #[test]
    fn a_flat_idle_window_is_steady_once_long_enough() {
        let flat = |secs| window(|_| 0.02, |_| 50 << 20, secs);
        assert!(!idle_halves(&flat(1.0), 0.05).agree);
        let h = idle_halves(&flat(2.0), 0.05);
        assert!(h.agree, "{h:?}");
    }

    #[test]
    fn near_zero_cpu_rates_agree_whatever_their_ratio() {
        // 0.1 % then 0.3 % of a core: three times more, but under the floor.
        let w = window(|t| if t < 1.0 { 0.001 } else { 0.003 }, |_| 50 << 20, 2.0);
        assert!(idle_halves(&w, 0.05).agree);
    }

    #[test]
    fn a_busy_second_half_or_growing_memory_is_not_steady() {
        let busy = window(|t| if t < 1.0 { 0.02 } else { 0.2 }, |_| 50 << 20, 2.0);
        assert!(!idle_halves(&busy, 0.05).agree);
        let growing = window(
            |_| 0.0,
            |t| (50.0 * 1048576.0 * (1.0 + t / 2.0)) as u64,
            2.0,
        );
        assert!(!idle_halves(&growing, 0.05).agree);
    }
}
