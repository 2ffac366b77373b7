//! Confidence intervals from the repetitions a run already keeps: a percentile
//! bootstrap of a median, or of the ratio of two medians (the figure most verdicts
//! decide on). Deterministic (a fixed-seed generator), so re-rendering the same
//! results.json gives the same interval; the seed is not a secret and not a choice of
//! outcome: any seed gives the same interval to within the resampling noise.
//!
//! Why a bootstrap: the samples are few (3-10 startups, a handful of windows) and not
//! normal (startup times are skewed by the slowest boot); the percentile bootstrap of
//! the median makes no assumption on the distribution (Efron & Tibshirani 1993, ch. 13)
//! and is what hyperfine-style tools and criterion use for the same purpose.

use serde::{Deserialize, Serialize};

/// The confidence level every verdict is taken at. A choice, stated as one: 95 % is the
/// convention readers expect; at n = 3-5 a higher level would leave most ratios
/// undecided.
pub const LEVEL: f64 = 0.95;

/// Resamples drawn per interval: enough that the 2.5 % and 97.5 % points move by less
/// than the figures' printed precision from one seed to another.
pub const RESAMPLES: usize = 2000;

/// An interval around an estimate, with the sample count it came from.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Interval {
    /// The point estimate (median, or ratio of medians).
    pub estimate: f64,
    pub lo: f64,
    pub hi: f64,
    /// Confidence level (0.95).
    pub level: f64,
    /// The smallest sample count that went into it (for a ratio, the smaller side).
    pub n: usize,
}

/// Where an interval lies with respect to a threshold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// Wholly at or above the threshold.
    Above,
    /// Wholly below it.
    Below,
    /// The threshold lies inside the interval: the figure does not decide.
    Straddles,
}

impl Interval {
    /// An interval that is one value (one sample on each side, or all samples equal).
    pub fn exact(estimate: f64, n: usize) -> Self {
        Interval {
            estimate,
            lo: estimate,
            hi: estimate,
            level: LEVEL,
            n,
        }
    }

    /// Where the interval lies with respect to `threshold`. With fewer than
    /// [`MIN_SAMPLES`] samples nothing is decided: a bootstrap of one or two values says
    /// nothing about the spread.
    pub fn side_of(&self, threshold: f64) -> Side {
        if self.n < MIN_SAMPLES {
            return Side::Straddles;
        }
        if self.lo >= threshold {
            Side::Above
        } else if self.hi < threshold {
            Side::Below
        } else {
            Side::Straddles
        }
    }

    /// "7.8x [6.9-9.1], n=5": the estimate, the interval and n, with `unit` after the
    /// numbers ("x" for a ratio).
    pub fn describe(&self, unit: &str) -> String {
        use super::fmt_num;
        if self.lo == self.hi {
            return format!("{}{unit}, n={}", fmt_num(self.estimate), self.n);
        }
        format!(
            "{}{unit} [{}-{}], n={}",
            fmt_num(self.estimate),
            fmt_num(self.lo),
            fmt_num(self.hi),
            self.n
        )
    }

    /// The interval of `f(x)` for a monotone increasing `f` (a unit change, a scale).
    pub fn map(self, f: impl Fn(f64) -> f64) -> Self {
        Interval {
            estimate: f(self.estimate),
            lo: f(self.lo),
            hi: f(self.hi),
            ..self
        }
    }
}

/// The fewest samples a side needs before its interval can decide anything.
pub const MIN_SAMPLES: usize = 3;

/// SplitMix64: small, fast, and good enough to draw resample indices.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn index(&mut self, len: usize) -> usize {
        (self.next() % len as u64) as usize
    }
}

fn clean(samples: &[f64]) -> Vec<f64> {
    samples.iter().copied().filter(|x| x.is_finite()).collect()
}

fn median_of(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).expect("finite"));
    super::quantile_sorted(v, 0.5)
}

fn resample_median(rng: &mut Rng, from: &[f64], buf: &mut Vec<f64>) -> f64 {
    buf.clear();
    buf.extend((0..from.len()).map(|_| from[rng.index(from.len())]));
    median_of(buf)
}

fn percentiles(mut draws: Vec<f64>, estimate: f64, n: usize) -> Interval {
    draws.retain(|x| x.is_finite());
    if draws.is_empty() {
        return Interval::exact(estimate, n);
    }
    draws.sort_by(|a, b| a.partial_cmp(b).expect("finite"));
    let tail = (1.0 - LEVEL) / 2.0;
    Interval {
        estimate,
        lo: super::quantile_sorted(&draws, tail).min(estimate),
        hi: super::quantile_sorted(&draws, 1.0 - tail).max(estimate),
        level: LEVEL,
        n,
    }
}

/// The bootstrap interval of the median of `samples`; `None` without a finite sample.
pub fn median(samples: &[f64]) -> Option<Interval> {
    let v = clean(samples);
    if v.is_empty() {
        return None;
    }
    let estimate = median_of(&mut v.clone());
    let mut rng = Rng(0x7669_7274_6265_6e63);
    let mut buf = Vec::with_capacity(v.len());
    let draws = (0..RESAMPLES)
        .map(|_| resample_median(&mut rng, &v, &mut buf))
        .collect();
    Some(percentiles(draws, estimate, v.len()))
}

/// The bootstrap interval of median(`num`) / median(`den`), each side resampled on its
/// own (the two are independent deployments). `None` when a side has no finite sample
/// or the denominator's median is not above `resolution` (nothing is divided by a value
/// below the method's resolution); resamples whose denominator falls to or below it
/// are dropped.
pub fn ratio_of_medians(num: &[f64], den: &[f64], resolution: f64) -> Option<Interval> {
    ratio_by(num, den, resolution, median_of, 0x7261_7469_6f21_0001)
}

/// The same for mean(`num`) / mean(`den`): for a rate sampled in equal slices (CPU
/// seconds per slice of an idle window) the ratio of means is the ratio of the totals,
/// the figure the report prints; a median of slices would not be.
pub fn ratio_of_means(num: &[f64], den: &[f64], resolution: f64) -> Option<Interval> {
    ratio_by(num, den, resolution, mean_of, 0x7261_7469_6f21_0002)
}

fn mean_of(v: &mut [f64]) -> f64 {
    v.iter().sum::<f64>() / v.len() as f64
}

fn ratio_by(
    num: &[f64],
    den: &[f64],
    resolution: f64,
    stat: fn(&mut [f64]) -> f64,
    seed: u64,
) -> Option<Interval> {
    let (a, b) = (clean(num), clean(den));
    if a.is_empty() || b.is_empty() {
        return None;
    }
    let dm = stat(&mut b.clone());
    if dm <= resolution {
        return None;
    }
    let estimate = stat(&mut a.clone()) / dm;
    let mut rng = Rng(seed);
    let (mut ba, mut bb) = (Vec::with_capacity(a.len()), Vec::with_capacity(b.len()));
    let draw = |rng: &mut Rng, from: &[f64], buf: &mut Vec<f64>| {
        buf.clear();
        buf.extend((0..from.len()).map(|_| from[rng.index(from.len())]));
        stat(buf)
    };
    let draws = (0..RESAMPLES)
        .filter_map(|_| {
            let x = draw(&mut rng, &a, &mut ba);
            let y = draw(&mut rng, &b, &mut bb);
            (y > resolution).then(|| x / y)
        })
        .collect();
    Some(percentiles(draws, estimate, a.len().min(b.len())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_constant_series_has_a_point_interval() {
        let i = median(&[2.0, 2.0, 2.0, 2.0]).unwrap();
        assert_eq!((i.lo, i.estimate, i.hi, i.n), (2.0, 2.0, 2.0, 4));
    }

    #[test]
    fn the_interval_holds_the_estimate_and_lies_within_the_samples() {
        let s = [10.0, 12.0, 11.0, 30.0, 9.0, 10.5];
        let i = median(&s).unwrap();
        assert!(i.lo <= i.estimate && i.estimate <= i.hi, "{i:?}");
        assert!(i.lo >= 9.0 && i.hi <= 30.0, "{i:?}");
    }

    #[test]
    fn it_is_deterministic() {
        let s = [1.0, 5.0, 2.0, 8.0, 3.0];
        assert_eq!(median(&s), median(&s));
        assert_eq!(
            ratio_of_medians(&s, &[1.0, 1.1], 0.0),
            ratio_of_medians(&s, &[1.0, 1.1], 0.0)
        );
    }

    #[test]
    fn a_clear_ratio_clears_its_threshold_and_a_close_one_straddles() {
        let vm = [1800.0, 1750.0, 1900.0, 1820.0, 1790.0];
        let ct = [300.0, 310.0, 295.0, 305.0, 320.0];
        let r = ratio_of_medians(&vm, &ct, 0.0).unwrap();
        assert_eq!(r.side_of(5.0), Side::Above, "{r:?}");
        assert_eq!(r.side_of(7.0), Side::Below, "{r:?}");
        let noisy = [1.0, 1.3, 0.9, 1.25, 1.05];
        let quiet = [1.0, 1.1, 0.95, 1.2, 1.0];
        let r = ratio_of_medians(&noisy, &quiet, 0.0).unwrap();
        assert_eq!(r.side_of(1.1), Side::Straddles, "{r:?}");
    }

    #[test]
    fn too_few_samples_decide_nothing() {
        let r = ratio_of_medians(&[100.0, 100.0], &[1.0, 1.0], 0.0).unwrap();
        assert_eq!(r.n, 2);
        assert_eq!(r.side_of(5.0), Side::Straddles);
    }

    #[test]
    fn a_ratio_of_means_is_the_ratio_of_totals() {
        let r = ratio_of_means(&[0.0, 0.0, 3.0], &[1.0, 0.0, 0.0], 0.0).unwrap();
        assert_eq!(r.estimate, 3.0);
        assert!(r.lo <= 3.0 && r.hi >= 3.0, "{r:?}");
    }

    #[test]
    fn nothing_is_divided_by_a_value_below_resolution() {
        assert_eq!(ratio_of_medians(&[1.0], &[0.0, 0.0], 0.0), None);
        assert_eq!(ratio_of_medians(&[1.0], &[0.5], 1.0), None);
        assert_eq!(median(&[]), None);
    }

    #[test]
    fn describe_shows_estimate_interval_and_n() {
        let i = Interval {
            estimate: 7.8,
            lo: 6.9,
            hi: 9.1,
            level: LEVEL,
            n: 5,
        };
        assert_eq!(i.describe("x"), "7.80x [6.90-9.10], n=5");
        assert_eq!(Interval::exact(3.0, 1).describe(" s"), "3.00 s, n=1");
    }
}
