//! Summary statistics: every figure virtbench prints carries its unit, its sample
//! count and its spread, and they are all computed here.

use serde::{Deserialize, Serialize};

pub mod interval;

/// A set of samples of one quantity, with its unit and summary.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Series {
    pub unit: String,
    pub samples: Vec<f64>,
    pub summary: Summary,
    /// One line of text the numbers need (e.g. the reason a count of failed answers
    /// gave); absent from most series.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// Median, quartiles and extremes of a [`Series`]. All in the series' unit.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    pub n: usize,
    pub median: f64,
    pub mean: f64,
    pub min: f64,
    pub max: f64,
    /// Sample standard deviation (n-1); 0 when n < 2.
    pub stddev: f64,
    pub p25: f64,
    pub p75: f64,
}

impl Series {
    pub fn new(unit: impl Into<String>, samples: Vec<f64>) -> Self {
        let summary = Summary::of(&samples);
        Series {
            unit: unit.into(),
            samples,
            summary,
            note: None,
        }
    }

    /// The same series with a line of text beside its numbers.
    pub fn with_note(mut self, note: impl Into<String>) -> Self {
        self.note = Some(note.into());
        self
    }

    pub fn median(&self) -> f64 {
        self.summary.median
    }

    /// "12.3 ms (n=5, IQR 11.9-13.0)": the one-line form used in reports and logs.
    pub fn describe(&self) -> String {
        let s = &self.summary;
        if s.n == 1 {
            return format!("{} {} (n=1)", fmt_num(s.median), self.unit);
        }
        format!(
            "{} {} (n={}, IQR {}-{}, min {} max {})",
            fmt_num(s.median),
            self.unit,
            s.n,
            fmt_num(s.p25),
            fmt_num(s.p75),
            fmt_num(s.min),
            fmt_num(s.max)
        )
    }
}

impl Summary {
    /// Summary of `samples` (NaNs are ignored). An empty input gives n = 0 and zeros.
    pub fn of(samples: &[f64]) -> Self {
        let mut v: Vec<f64> = samples.iter().copied().filter(|x| !x.is_nan()).collect();
        v.sort_by(|a, b| a.partial_cmp(b).expect("NaNs filtered"));
        let n = v.len();
        if n == 0 {
            return Summary {
                n: 0,
                median: 0.0,
                mean: 0.0,
                min: 0.0,
                max: 0.0,
                stddev: 0.0,
                p25: 0.0,
                p75: 0.0,
            };
        }
        let mean = v.iter().sum::<f64>() / n as f64;
        let stddev = if n < 2 {
            0.0
        } else {
            (v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1) as f64).sqrt()
        };
        Summary {
            n,
            median: quantile_sorted(&v, 0.5),
            mean,
            min: v[0],
            max: v[n - 1],
            stddev,
            p25: quantile_sorted(&v, 0.25),
            p75: quantile_sorted(&v, 0.75),
        }
    }
}

/// Linear-interpolated quantile of sorted data (the "R-7" definition).
pub fn quantile_sorted(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let pos = q.clamp(0.0, 1.0) * (sorted.len() - 1) as f64;
    let lo = pos.floor() as usize;
    let hi = pos.ceil() as usize;
    sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo as f64)
}

/// Three significant digits, no exponent for everyday magnitudes.
pub fn fmt_num(x: f64) -> String {
    let a = x.abs();
    if a == 0.0 {
        "0".into()
    } else if a >= 100.0 {
        format!("{x:.0}")
    } else if a >= 10.0 {
        format!("{x:.1}")
    } else if a >= 1.0 {
        format!("{x:.2}")
    } else {
        format!("{x:.3}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_of_known_samples() {
        let s = Summary::of(&[4.0, 1.0, 3.0, 2.0, 5.0]);
        assert_eq!(s.n, 5);
        assert_eq!(s.median, 3.0);
        assert_eq!(s.min, 1.0);
        assert_eq!(s.max, 5.0);
        assert_eq!(s.p25, 2.0);
        assert_eq!(s.p75, 4.0);
        assert!((s.stddev - 1.5811).abs() < 1e-3);
    }

    #[test]
    fn summary_of_nothing_is_zero_count() {
        let s = Summary::of(&[]);
        assert_eq!(s.n, 0);
        assert_eq!(Summary::of(&[f64::NAN]).n, 0);
    }

    #[test]
    fn even_count_median_interpolates() {
        assert_eq!(Summary::of(&[1.0, 2.0, 3.0, 10.0]).median, 2.5);
    }

    #[test]
    fn describe_names_unit_count_and_spread() {
        let s = Series::new("ms", vec![10.0, 12.0, 11.0]);
        let d = s.describe();
        assert!(d.starts_with("11.0 ms (n=3"), "{d}");
        assert!(d.contains("IQR"), "{d}");
    }
}
