//! What sequential stopping costs the harness per measured figure (docs/stopping.md):
//! the decision taken after every sample, which runs between measured samples and so
//! lengthens the run without touching a figure.
//!
//! - `stopping/startup_after_{3,7}`: `Plan::after` with the spread rule (a bootstrap of
//!   the median, 2000 resamples) on 3 and 7 startup samples: once per deployment;
//! - `stopping/decided_after_5`: the same with a `DecidedAgainst` rule (bootstrap of a
//!   ratio of medians);
//! - `stopping/latency_halves_10_chunks`: merging ten one-second histograms of 200
//!   answers into halves and comparing p50 and p99: once per two chunks of a window;
//! - `stopping/idle_halves_5s`: the idle window's check on 5 s of samples every 250 ms:
//!   once per sample.
//!
//! Figures for the report's readers and the closing notes, not test bounds.

use std::sync::Arc;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use hdrhistogram::Histogram;
use virtbench::measure::converge;
use virtbench::measure::resources::{ResourceSample, Window};
use virtbench::results::stop_key;
use virtbench::run::stop::{AnyOf, DecidedAgainst, Plan, Point, Spread, StopRule};

fn point(samples: &[f64]) -> Point<'_> {
    Point {
        platform: "qemu",
        label: "qemu/all-in-one",
        figure: stop_key::STARTUP,
        samples,
    }
}

fn stopping(c: &mut Criterion) {
    let plan = Plan {
        fixed: false,
        min: 3,
        max: 8,
        budget: Duration::from_secs(60),
    };
    // Noisy enough that the rule says "go on": the whole bootstrap runs each time.
    let samples: Vec<f64> = (0..8)
        .map(|i| 1000.0 + (i * 37 % 11) as f64 * 30.0)
        .collect();
    let spread = Spread { target: 0.001 };
    c.bench_function("stopping/startup_after_3", |b| {
        b.iter(|| plan.after(&spread, &point(&samples[..3]), Duration::ZERO))
    });
    c.bench_function("stopping/startup_after_7", |b| {
        b.iter(|| plan.after(&spread, &point(&samples[..7]), Duration::ZERO))
    });
    let decided: Arc<dyn StopRule> = Arc::new(DecidedAgainst {
        figure: stop_key::STARTUP.into(),
        platform: None,
        baseline_platform: "lxc".into(),
        baseline: vec![48.0, 50.0, 47.0, 52.0, 49.0],
        threshold: 21.0,
        resolution: 0.0,
    });
    let both = AnyOf(vec![decided, Arc::new(spread)]);
    c.bench_function("stopping/decided_after_5", |b| {
        b.iter(|| plan.after(&both, &point(&samples[..5]), Duration::ZERO))
    });

    let chunks: Vec<Histogram<u64>> = (0..10)
        .map(|k| {
            let mut h = Histogram::new_with_bounds(1, 60_000_000, 3).unwrap();
            for i in 0..200u64 {
                h.record(800 + (i * 7 + k) % 300).unwrap();
            }
            h
        })
        .collect();
    c.bench_function("stopping/latency_halves_10_chunks", |b| {
        b.iter(|| {
            let merge = |hs: &[Histogram<u64>]| {
                let mut m = Histogram::new_with_bounds(1, 60_000_000, 3).unwrap();
                hs.iter().for_each(|h| m.add(h).unwrap());
                m
            };
            converge::latency_halves(&merge(&chunks[..5]), &merge(&chunks[5..]), 0.05)
        })
    });

    let mut w = Window::default();
    for i in 0..=20u64 {
        w.push(
            Duration::from_millis(i * 250),
            ResourceSample {
                rss_bytes: 50 << 20,
                pss_bytes: None,
                cpu_seconds: i as f64 * 0.005,
                cpu_resolution_s: 1e-9,
            },
        );
    }
    c.bench_function("stopping/idle_halves_5s", |b| {
        b.iter(|| converge::idle_halves(&w, 0.05))
    });
}

criterion_group!(benches, stopping);
criterion_main!(benches);
