//! When to stop repeating a measured figure (docs/stopping.md).
//!
//! The runner repeats a figure (a fresh deployment for startup, a one-second slice for
//! throughput) and, after each sample, asks a [`Plan`]: go on, or stop and why. The plan
//! holds the budget (a minimum so that nothing is decided on one sample, a maximum
//! count, seconds) and asks a [`StopRule`] whether the samples so far are enough. The
//! rule comes from outside the runner: the scenario's spread target always
//! ([`Spread`]), and whatever the caller adds ([`RunOptions::stop`](super::RunOptions)),
//! such as [`DecidedAgainst`], which stops once the ratio a claim decides on lies wholly
//! on one side of the claim's threshold. The thresholds live in the claims catalogue
//! (`report/claims`), above this layer: the caller hands them down as plain data, so
//! the runner never imports the report.

use std::sync::Arc;
use std::time::Duration;

use crate::results::{StopReason, Stopping};
use crate::scenario::Scenario;
use crate::stats::interval::{self, Interval, Side, MIN_SAMPLES};

/// A figure being repeated, as a rule sees it.
#[derive(Debug, Clone, Copy)]
pub struct Point<'a> {
    pub platform: &'a str,
    /// The variant's label ("docker/bridge").
    pub label: &'a str,
    /// The figure's key in `results.json` ([`crate::results::stop_key`]).
    pub figure: &'a str,
    pub samples: &'a [f64],
}

/// What a rule says when the samples are enough.
#[derive(Debug, Clone, PartialEq)]
pub struct Enough {
    pub reason: StopReason,
    /// The relative spread reached, when the rule measured one.
    pub spread: Option<f64>,
    /// What decided, in words.
    pub detail: String,
}

/// Whether the samples of a figure are enough. Asked only once the plan's minimum is
/// reached; `None` to go on (the budget still ends it).
pub trait StopRule: Send + Sync {
    fn check(&self, at: &Point<'_>) -> Option<Enough>;

    /// A figure stopped with these samples: rules that compare against earlier
    /// figures of the run ([`DecidedInBand`]) keep them.
    fn finished(&self, _at: &Point<'_>) {}

    /// Every variant of `platform` is done (measured, failed or unavailable).
    fn platform_done(&self, _platform: &str) {}
}

/// The relative spread of a median: the half-width of its 95 % bootstrap interval over
/// the median. `None` without samples; 0 for an exact interval (all samples equal);
/// infinite for a zero median with a spread.
pub fn relative_spread(i: &Interval) -> f64 {
    let half = (i.hi - i.lo) / 2.0;
    if half == 0.0 {
        0.0
    } else if i.estimate == 0.0 {
        f64::INFINITY
    } else {
        half / i.estimate.abs()
    }
}

/// Stop once the figure's own spread ([`relative_spread`]) is at most `target`.
#[derive(Debug, Clone, Copy)]
pub struct Spread {
    pub target: f64,
}

impl StopRule for Spread {
    fn check(&self, at: &Point<'_>) -> Option<Enough> {
        let i = interval::median(at.samples)?;
        let spread = relative_spread(&i);
        (spread <= self.target).then(|| Enough {
            reason: StopReason::Spread,
            spread: Some(spread),
            detail: format!(
                "median {} ± {:.1} % <= {:.1} %",
                i.describe(""),
                spread * 100.0,
                self.target * 100.0
            ),
        })
    }
}

/// Stop once median(samples) / median(`baseline`) lies wholly on one side of
/// `threshold` (its 95 % bootstrap interval, [`Interval::side_of`]). Plain data, so
/// the caller can build it from the claims catalogue's rule (the figure it decides on,
/// the baseline platform's samples, the threshold) without the runner knowing claims.
/// A claim stated the other way round (baseline over this figure) gives `1/threshold`:
/// the interval of the inverse ratio is the inverse of the interval, so it decides at
/// the same point.
#[derive(Debug, Clone)]
pub struct DecidedAgainst {
    /// The figure's key ([`crate::results::stop_key`]).
    pub figure: String,
    /// Only for this platform's variants; `None`: every platform but the baseline's.
    pub platform: Option<String>,
    /// The platform the baseline samples are of: its own figure is not judged
    /// against itself.
    pub baseline_platform: String,
    pub baseline: Vec<f64>,
    pub threshold: f64,
    /// Nothing is divided by a median at or below this (the method's resolution).
    pub resolution: f64,
}

impl StopRule for DecidedAgainst {
    fn check(&self, at: &Point<'_>) -> Option<Enough> {
        if at.figure != self.figure
            || at.platform == self.baseline_platform
            || self.platform.as_deref().is_some_and(|p| p != at.platform)
        {
            return None;
        }
        let r = interval::ratio_of_medians(at.samples, &self.baseline, self.resolution)?;
        let side = match r.side_of(self.threshold) {
            Side::Above => "above",
            Side::Below => "below",
            Side::Straddles => return None,
        };
        Some(Enough {
            reason: StopReason::Decided,
            spread: Some(relative_spread(&r)),
            detail: format!(
                "{} / {} = {} wholly {side} {}x",
                at.label,
                self.baseline_platform,
                r.describe("x"),
                self.threshold
            ),
        })
    }
}

/// Stop a figure of a judged platform (a VM) once its ratio to the reference measured
/// earlier in the same run (the slowest variant of the baseline platforms, the
/// containers) lies wholly in one band of a claim's rule: at or above `support_at`, at
/// or below `contradict_at`, or strictly between (ratios read with higher values
/// speaking for the claim). Where more samples cannot move the verdict, they only cost
/// time. The reference must be final: the rule decides only once every baseline
/// platform of the run has finished ([`StopRule::platform_done`]); the runner measures
/// platforms in their order, containers before VMs, so for the default order it is.
/// Built by the caller from a claim's thresholds (`report::claims`), handed down as
/// plain data.
#[derive(Debug)]
pub struct DecidedInBand {
    /// Which claim, for the record's detail ("C4").
    pub claim: String,
    pub figure: String,
    /// Platforms whose variants are judged (and stopped) by this rule.
    pub judged: Vec<String>,
    /// Platforms whose slowest variant is the reference.
    pub baselines: Vec<String>,
    pub contradict_at: f64,
    pub support_at: f64,
    /// Nothing is divided by a median at or below this (the method's resolution).
    pub resolution: f64,
    seen: std::sync::Mutex<Seen>,
}

#[derive(Debug, Default)]
struct Seen {
    /// (label, samples) of every finished figure of a baseline platform.
    references: Vec<(String, Vec<f64>)>,
    done: Vec<String>,
}

impl DecidedInBand {
    pub fn new(
        claim: &str,
        figure: &str,
        judged: Vec<String>,
        baselines: Vec<String>,
        (contradict_at, support_at): (f64, f64),
        resolution: f64,
    ) -> DecidedInBand {
        DecidedInBand {
            claim: claim.into(),
            figure: figure.into(),
            judged,
            baselines,
            contradict_at,
            support_at,
            resolution,
            seen: Default::default(),
        }
    }

    /// The slowest baseline variant, once every baseline platform has finished.
    fn reference(&self) -> Option<(String, Vec<f64>)> {
        let seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        if !self.baselines.iter().all(|b| seen.done.contains(b)) {
            return None;
        }
        seen.references
            .iter()
            .filter(|(_, v)| !v.is_empty())
            .max_by(|a, b| {
                let m = |v: &[f64]| interval::median(v).map_or(f64::NAN, |i| i.estimate);
                m(&a.1).total_cmp(&m(&b.1))
            })
            .cloned()
    }
}

impl StopRule for DecidedInBand {
    fn check(&self, at: &Point<'_>) -> Option<Enough> {
        if at.figure != self.figure || !self.judged.iter().any(|j| j == at.platform) {
            return None;
        }
        let (ref_label, reference) = self.reference()?;
        let r = interval::ratio_of_medians(at.samples, &reference, self.resolution)?;
        if r.n < MIN_SAMPLES {
            return None;
        }
        let (c, s) = (self.contradict_at, self.support_at);
        let band = if r.lo >= s {
            format!("wholly at or above {s}x")
        } else if r.hi <= c {
            format!("wholly at or below {c}x")
        } else if r.lo > c && r.hi < s {
            format!("wholly between {c}x and {s}x")
        } else {
            return None;
        };
        Some(Enough {
            reason: StopReason::Decided,
            spread: Some(relative_spread(&r)),
            detail: format!(
                "{}: {} / {ref_label} = {} {band}",
                self.claim,
                at.label,
                r.describe("x")
            ),
        })
    }

    fn finished(&self, at: &Point<'_>) {
        if at.figure == self.figure && self.baselines.iter().any(|b| b == at.platform) {
            let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
            seen.references
                .push((at.label.to_string(), at.samples.to_vec()));
        }
    }

    fn platform_done(&self, platform: &str) {
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        seen.done.push(platform.to_string());
    }
}

/// The first of several rules that says "enough".
#[derive(Clone, Default)]
pub struct AnyOf(pub Vec<Arc<dyn StopRule>>);

impl StopRule for AnyOf {
    fn check(&self, at: &Point<'_>) -> Option<Enough> {
        self.0.iter().find_map(|r| r.check(at))
    }

    fn finished(&self, at: &Point<'_>) {
        self.0.iter().for_each(|r| r.finished(at));
    }

    fn platform_done(&self, platform: &str) {
        self.0.iter().for_each(|r| r.platform_done(platform));
    }
}

/// The budget of one repeated figure.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Plan {
    /// Fixed-count mode: exactly `max` samples, no rule asked.
    pub fixed: bool,
    /// No rule is asked before this many samples.
    pub min: usize,
    pub max: usize,
    /// Once `min` is reached, no new sample starts after this long.
    pub budget: Duration,
}

impl Plan {
    /// Startup: `startup.repetitions` deployments at most (exactly, when fixed), at
    /// least [`MIN_SAMPLES`] (or the repetitions, if fewer), `stopping.budget_s`.
    pub fn startup(s: &Scenario) -> Plan {
        let max = s.startup.repetitions.max(1) as usize;
        Plan {
            fixed: s.stopping.is_fixed(),
            min: MIN_SAMPLES.min(max),
            max,
            budget: Duration::from_secs_f64(s.stopping.budget_s),
        }
    }

    /// After a sample: `Some` to stop now, with why. `spent` is the time the figure
    /// has taken so far.
    pub fn after(&self, rule: &dyn StopRule, at: &Point<'_>, spent: Duration) -> Option<Enough> {
        let n = at.samples.len();
        if self.fixed {
            return (n >= self.max).then(|| Enough {
                reason: StopReason::Fixed,
                spread: None,
                detail: format!("fixed count of {}", self.max),
            });
        }
        if n < self.min {
            return None;
        }
        if let Some(e) = rule.check(at) {
            return Some(e);
        }
        if n >= self.max {
            return Some(Enough {
                reason: StopReason::Budget,
                spread: None,
                detail: format!("{n} of at most {} repetitions", self.max),
            });
        }
        (spent >= self.budget).then(|| Enough {
            reason: StopReason::Budget,
            spread: None,
            detail: format!(
                "{:.1} s spent of a {:.0} s budget",
                spent.as_secs_f64(),
                self.budget.as_secs_f64()
            ),
        })
    }
}

/// What `results.json` records for a repeated figure: n, why it stopped, the interval
/// of its median and the spread that interval has.
pub fn record(samples: &[f64], enough: Enough, target: f64, spent: Duration) -> Stopping {
    let interval = interval::median(samples);
    Stopping {
        n: samples.len(),
        reason: enough.reason,
        spread: enough.spread.or(interval.as_ref().map(relative_spread)),
        interval,
        target,
        spent_s: spent.as_secs_f64(),
        detail: enough.detail,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at<'a>(platform: &'a str, figure: &'a str, samples: &'a [f64]) -> Point<'a> {
        Point {
            platform,
            label: platform,
            figure,
            samples,
        }
    }

    const STARTUP: &str = crate::results::stop_key::STARTUP;

    fn plan() -> Plan {
        Plan {
            fixed: false,
            min: 3,
            max: 8,
            budget: Duration::from_secs(60),
        }
    }

    /// Never enough: only the budget ends a figure.
    struct Never;
    impl StopRule for Never {
        fn check(&self, _: &Point<'_>) -> Option<Enough> {
            None
        }
    }

    #[test]
    fn nothing_stops_before_the_minimum_even_identical_samples() {
        let rule = Spread { target: 0.05 };
        let p = plan();
        assert_eq!(
            p.after(&rule, &at("lxc", STARTUP, &[48.0]), Duration::ZERO),
            None
        );
        assert_eq!(
            p.after(&rule, &at("lxc", STARTUP, &[48.0, 48.0]), Duration::ZERO),
            None
        );
        let e = p
            .after(
                &rule,
                &at("lxc", STARTUP, &[48.0, 48.0, 48.0]),
                Duration::ZERO,
            )
            .unwrap();
        assert_eq!(e.reason, StopReason::Spread);
        assert_eq!(e.spread, Some(0.0));
    }

    #[test]
    fn a_tight_series_stops_on_its_spread_a_noisy_one_goes_on() {
        let rule = Spread { target: 0.05 };
        let p = plan();
        let tight = [100.0, 101.0, 102.0, 100.5];
        let e = p
            .after(&rule, &at("x", STARTUP, &tight), Duration::ZERO)
            .unwrap();
        assert_eq!(e.reason, StopReason::Spread);
        assert!(e.spread.unwrap() <= 0.05);
        let noisy = [100.0, 160.0, 70.0, 130.0];
        assert_eq!(
            p.after(&rule, &at("x", STARTUP, &noisy), Duration::ZERO),
            None
        );
    }

    #[test]
    fn the_budget_ends_a_noisy_figure_by_count_or_by_time() {
        let p = plan();
        let noisy: Vec<f64> = (0..8)
            .map(|i| if i % 2 == 0 { 50.0 } else { 150.0 })
            .collect();
        let e = p
            .after(&Never, &at("x", STARTUP, &noisy), Duration::ZERO)
            .unwrap();
        assert_eq!(e.reason, StopReason::Budget);
        assert!(e.detail.contains("8 of at most 8"), "{}", e.detail);
        assert_eq!(
            p.after(
                &Never,
                &at("x", STARTUP, &noisy[..4]),
                Duration::from_secs(59)
            ),
            None
        );
        let e = p
            .after(
                &Never,
                &at("x", STARTUP, &noisy[..4]),
                Duration::from_secs(61),
            )
            .unwrap();
        assert_eq!(e.reason, StopReason::Budget);
        // Time alone never cuts below the minimum.
        assert_eq!(
            p.after(
                &Never,
                &at("x", STARTUP, &noisy[..2]),
                Duration::from_secs(600)
            ),
            None
        );
    }

    #[test]
    fn fixed_mode_takes_exactly_the_count_whatever_the_spread() {
        let p = Plan {
            fixed: true,
            max: 5,
            ..plan()
        };
        let rule = Spread { target: 0.05 };
        let same = [10.0; 5];
        for n in 1..5 {
            assert_eq!(
                p.after(
                    &rule,
                    &at("x", STARTUP, &same[..n]),
                    Duration::from_secs(999)
                ),
                None
            );
        }
        let e = p
            .after(&rule, &at("x", STARTUP, &same), Duration::ZERO)
            .unwrap();
        assert_eq!(e.reason, StopReason::Fixed);
    }

    #[test]
    fn a_scenario_with_fewer_repetitions_than_the_minimum_keeps_its_count() {
        let text = "name = \"t\"\nplatforms = [\"native\"]\n[startup]\nrepetitions = 2\n";
        let s = Scenario::parse(std::path::Path::new("s.toml"), text).unwrap();
        let p = Plan::startup(&s);
        assert_eq!((p.min, p.max, p.fixed), (2, 2, false));
        let e = p
            .after(&Never, &at("x", STARTUP, &[1.0, 9.0]), Duration::ZERO)
            .unwrap();
        assert_eq!(e.reason, StopReason::Budget);
    }

    fn vm_vs_container(threshold: f64) -> DecidedAgainst {
        DecidedAgainst {
            figure: STARTUP.into(),
            platform: None,
            baseline_platform: "lxc".into(),
            baseline: vec![48.0, 50.0, 47.0],
            threshold,
            resolution: 0.0,
        }
    }

    #[test]
    fn a_ratio_wholly_above_the_threshold_is_decided_one_straddling_is_not() {
        let p = plan();
        let vm = [1800.0, 1900.0, 1750.0];
        // 1800/48 = 37x, wholly above 5x: decided at the minimum, whatever the spread.
        let e = p
            .after(
                &vm_vs_container(5.0),
                &at("qemu", STARTUP, &vm),
                Duration::ZERO,
            )
            .unwrap();
        assert_eq!(e.reason, StopReason::Decided);
        assert!(e.detail.contains("wholly above 5x"), "{}", e.detail);
        // Wholly below 100x: decided too (the other outcome).
        let e = p
            .after(
                &vm_vs_container(100.0),
                &at("qemu", STARTUP, &vm),
                Duration::ZERO,
            )
            .unwrap();
        assert!(e.detail.contains("wholly below 100x"), "{}", e.detail);
        // A threshold inside the interval: not decided, go on.
        let noisy = [1000.0, 3000.0, 1800.0];
        assert_eq!(
            p.after(
                &vm_vs_container(37.5),
                &at("qemu", STARTUP, &noisy),
                Duration::ZERO
            ),
            None
        );
    }

    #[test]
    fn a_decided_rule_judges_only_its_figure_and_not_its_own_baseline() {
        let rule = vm_vs_container(5.0);
        let vm = [1800.0, 1900.0, 1750.0];
        assert_eq!(rule.check(&at("qemu", "max_throughput_rps", &vm)), None);
        assert_eq!(rule.check(&at("lxc", STARTUP, &vm)), None);
        let only_docker = DecidedAgainst {
            platform: Some("docker".into()),
            ..rule
        };
        assert_eq!(only_docker.check(&at("qemu", STARTUP, &vm)), None);
        assert!(only_docker.check(&at("docker", STARTUP, &vm)).is_some());
    }

    #[test]
    fn a_baseline_below_the_resolution_decides_nothing() {
        let rule = DecidedAgainst {
            baseline: vec![0.0, 0.0, 0.0],
            resolution: 1e-9,
            ..vm_vs_container(5.0)
        };
        assert_eq!(rule.check(&at("qemu", STARTUP, &[1.0, 1.0, 1.0])), None);
    }

    #[test]
    fn any_of_takes_the_first_rule_that_says_enough() {
        let rules = AnyOf(vec![
            Arc::new(vm_vs_container(5.0)),
            Arc::new(Spread { target: 0.05 }),
        ]);
        let vm = [1800.0, 1900.0, 1750.0];
        assert_eq!(
            rules.check(&at("qemu", STARTUP, &vm)).unwrap().reason,
            StopReason::Decided
        );
        assert_eq!(
            rules
                .check(&at("qemu", "max_throughput_rps", &[10.0; 3]))
                .unwrap()
                .reason,
            StopReason::Spread
        );
    }

    #[test]
    fn the_record_carries_n_reason_interval_and_spread() {
        let s = [100.0, 101.0, 102.0];
        let e = Spread { target: 0.05 }
            .check(&at("x", STARTUP, &s))
            .unwrap();
        let r = record(&s, e, 0.05, Duration::from_millis(1500));
        assert_eq!(r.n, 3);
        assert_eq!(r.reason, StopReason::Spread);
        let i = r.interval.unwrap();
        assert_eq!(i.estimate, 101.0);
        assert!(i.lo <= 101.0 && i.hi >= 101.0);
        assert_eq!(r.spent_s, 1.5);
        let json = serde_json::to_string(&r).unwrap();
        assert!(json.contains("\"reason\":\"spread\""), "{json}");
    }

    fn c4() -> DecidedInBand {
        DecidedInBand::new(
            "C4",
            STARTUP,
            vec!["qemu".into()],
            vec!["docker".into(), "lxc".into()],
            (1.0, 5.0),
            0.0,
        )
    }

    #[test]
    fn a_vm_stops_once_its_ratio_to_the_slowest_container_is_in_one_band() {
        let rule = c4();
        let vm = [1200.0, 1250.0, 1150.0];
        // No reference yet: nothing decided, whatever the VM's figures.
        assert_eq!(rule.check(&at("qemu", STARTUP, &vm)), None);
        rule.finished(&at("docker", STARTUP, &[400.0, 420.0, 410.0]));
        rule.platform_done("docker");
        // lxc has not finished: the slowest container may still change.
        assert_eq!(rule.check(&at("qemu", STARTUP, &vm)), None);
        rule.finished(&at("lxc", STARTUP, &[50.0, 48.0, 52.0]));
        rule.platform_done("lxc");
        // 1200 / 410 (docker, the slowest) = 2.9x: between 1x and 5x, and the
        // interval stays there.
        let e = rule.check(&at("qemu", STARTUP, &vm)).expect("decided");
        assert_eq!(e.reason, StopReason::Decided);
        assert!(e.detail.contains("between 1x and 5x"), "{}", e.detail);
        assert!(e.detail.contains("docker"), "{}", e.detail);
        // Far above 5x: decided above.
        let slow = [9000.0, 9100.0, 8900.0];
        let e = rule.check(&at("qemu", STARTUP, &slow)).expect("decided");
        assert!(e.detail.contains("at or above 5x"), "{}", e.detail);
        // Straddling 5x: go on.
        assert_eq!(
            rule.check(&at("qemu", STARTUP, &[1500.0, 2500.0, 3500.0])),
            None
        );
        // Another figure, a container, or too few samples: not this rule's.
        assert_eq!(rule.check(&at("qemu", "idle", &slow)), None);
        assert_eq!(rule.check(&at("docker", STARTUP, &slow)), None);
        assert_eq!(rule.check(&at("qemu", STARTUP, &slow[..2])), None);
    }

    #[test]
    fn an_unmeasured_baseline_platform_does_not_hold_the_rule_back() {
        let rule = c4();
        rule.finished(&at("docker", STARTUP, &[400.0, 420.0, 410.0]));
        rule.platform_done("docker");
        // lxc unavailable or not selected: the runner still says it is done.
        rule.platform_done("lxc");
        assert!(rule
            .check(&at("qemu", STARTUP, &[9000.0, 9100.0, 8900.0]))
            .is_some());
    }
}
