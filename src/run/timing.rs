//! Where a run's wall time goes: artifact builds, startup samples, idle windows, load
//! windows, platform extras, teardown, and the rest (the harness's own time).
//!
//! The runner times each step through one [`Ledger`]. A phase is timed by a guard that
//! borrows the ledger mutably for as long as the phase lasts, so the borrow checker
//! forbids a phase from starting inside another: phases cannot overlap, and no second
//! counted of the wall is counted twice. "The rest" is never measured directly: it is
//! the wall time minus the phases, so the parts always add up to the wall.
//!
//! The guard records on drop, so a phase cut short by an error, a cancellation (its
//! future dropped by a `select!`) or a panic still counts the time it took.

use std::future::Future;
use std::time::{Duration, Instant};

use crate::results::WallSplit;

/// A counted part of a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// `Platform::prepare`: artifact builds or cache checks (and what a platform does
    /// once before deploying, such as QEMU's KVM probe boot).
    Builds,
    /// Fresh deployments up to their first correct answer, one per startup sample.
    Startup,
    /// The idle resource window.
    Idle,
    /// Open-loop latency windows and the closed-loop throughput run.
    Load,
    /// Platform-specific experiments (commit, clone, snapshot, isolation...).
    Extras,
    /// Tearing deployments down, and the end-of-platform cleanup backstop.
    Teardown,
}

impl Phase {
    pub const ALL: [Phase; 6] = [
        Phase::Builds,
        Phase::Startup,
        Phase::Idle,
        Phase::Load,
        Phase::Extras,
        Phase::Teardown,
    ];

    fn index(self) -> usize {
        self as usize
    }
}

/// Time spent per phase so far.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Ledger {
    spent: [Duration; Phase::ALL.len()],
}

impl Ledger {
    pub fn new() -> Self {
        Self::default()
    }

    /// Count `d` under `phase`. The runner goes through [`Ledger::start`] or
    /// [`Ledger::time`]; this is what they call, and what tests inject durations with.
    pub fn add(&mut self, phase: Phase, d: Duration) {
        self.spent[phase.index()] += d;
    }

    pub fn spent(&self, phase: Phase) -> Duration {
        self.spent[phase.index()]
    }

    /// Start timing `phase`; it ends when the guard is dropped. The guard holds the
    /// ledger, so no other phase can start meanwhile.
    pub fn start(&mut self, phase: Phase) -> PhaseGuard<'_> {
        PhaseGuard {
            ledger: self,
            phase,
            started: Instant::now(),
        }
    }

    /// Run `f` as `phase`. `f` cannot itself touch the ledger (it is borrowed here).
    pub async fn time<F: Future>(&mut self, phase: Phase, f: F) -> F::Output {
        let _guard = self.start(phase);
        f.await
    }

    /// The split of `wall`, which must have started before the first phase: the rest
    /// is `wall` minus every phase. Clamped at zero should a caller pass a wall shorter
    /// than the phases (it would be a bug in the caller, not a negative overhead).
    pub fn split(&self, wall: Duration) -> WallSplit {
        let counted: Duration = self.spent.iter().sum();
        let s = |p: Phase| self.spent(p).as_secs_f64();
        WallSplit {
            builds_s: s(Phase::Builds),
            startup_s: s(Phase::Startup),
            idle_s: s(Phase::Idle),
            load_s: s(Phase::Load),
            extras_s: s(Phase::Extras),
            teardown_s: s(Phase::Teardown),
            harness_s: wall.saturating_sub(counted).as_secs_f64(),
        }
    }
}

/// Times one phase; records into its ledger when dropped.
pub struct PhaseGuard<'a> {
    ledger: &'a mut Ledger,
    phase: Phase,
    started: Instant,
}

impl Drop for PhaseGuard<'_> {
    fn drop(&mut self) {
        self.ledger.add(self.phase, self.started.elapsed());
    }
}

/// The end-of-run block: the wall time, then each part with its share of the wall.
pub fn render(split: &WallSplit) -> String {
    let wall = split.wall_s();
    let share = |s: f64| if wall > 0.0 { s / wall * 100.0 } else { 0.0 };
    let part = |name: &str, s: f64| format!("{name} {s:.1} s ({:.1} %)", share(s));
    format!(
        "time: wall {wall:.1} s = {}, {}, {}, {}\n      + {}, {}, harness {:.1} s ({:.1} %)",
        part("builds", split.builds_s),
        part("startup", split.startup_s),
        part("idle", split.idle_s),
        part("load", split.load_s),
        part("extras", split.extras_s),
        part("teardown", split.teardown_s),
        split.harness_s,
        share(split.harness_s),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(s: f64) -> Duration {
        Duration::from_secs_f64(s)
    }

    #[test]
    fn the_parts_add_up_to_the_wall() {
        let mut l = Ledger::new();
        l.add(Phase::Builds, secs(3.0));
        l.add(Phase::Startup, secs(10.0));
        l.add(Phase::Startup, secs(5.0));
        l.add(Phase::Idle, secs(4.0));
        l.add(Phase::Load, secs(20.0));
        l.add(Phase::Extras, secs(6.0));
        l.add(Phase::Teardown, secs(2.0));
        let s = l.split(secs(52.5));
        assert_eq!(s.builds_s, 3.0);
        assert_eq!(s.startup_s, 15.0);
        assert_eq!(s.idle_s, 4.0);
        assert_eq!(s.load_s, 20.0);
        assert_eq!(s.extras_s, 6.0);
        assert_eq!(s.teardown_s, 2.0);
        assert_eq!(s.harness_s, 2.5);
        assert_eq!(s.wall_s(), 52.5);
        assert!((s.harness_share() - 2.5 / 52.5).abs() < 1e-12);
    }

    #[test]
    fn an_empty_run_is_all_harness() {
        let s = Ledger::new().split(secs(1.5));
        assert_eq!(s.wall_s(), 1.5);
        assert_eq!(s.harness_s, 1.5);
        assert_eq!(s.harness_share(), 1.0);
    }

    #[test]
    fn phases_longer_than_the_wall_leave_no_negative_rest() {
        let mut l = Ledger::new();
        l.add(Phase::Load, secs(2.0));
        let s = l.split(secs(1.0));
        assert_eq!(s.harness_s, 0.0);
        assert_eq!(s.load_s, 2.0);
    }

    #[test]
    fn a_zero_wall_has_no_share() {
        let s = Ledger::new().split(Duration::ZERO);
        assert_eq!(s.harness_share(), 0.0);
        assert!(render(&s).contains("harness 0.0 s (0.0 %)"));
    }

    #[test]
    fn a_guard_counts_only_its_own_phase() {
        let mut l = Ledger::new();
        drop(l.start(Phase::Extras));
        for p in Phase::ALL {
            if p != Phase::Extras {
                assert_eq!(l.spent(p), Duration::ZERO, "{p:?}");
            }
        }
    }

    #[test]
    fn the_block_names_every_part_with_its_share() {
        let mut l = Ledger::new();
        l.add(Phase::Builds, secs(1.0));
        l.add(Phase::Startup, secs(2.0));
        l.add(Phase::Idle, secs(3.0));
        l.add(Phase::Load, secs(4.0));
        l.add(Phase::Extras, secs(5.0));
        l.add(Phase::Teardown, secs(1.0));
        let text = render(&l.split(secs(20.0)));
        for part in [
            "wall 20.0 s",
            "builds 1.0 s (5.0 %)",
            "startup 2.0 s (10.0 %)",
            "idle 3.0 s (15.0 %)",
            "load 4.0 s (20.0 %)",
            "extras 5.0 s (25.0 %)",
            "teardown 1.0 s (5.0 %)",
            "harness 4.0 s (20.0 %)",
        ] {
            assert!(text.contains(part), "{part:?} missing from {text:?}");
        }
        assert_eq!(text.lines().count(), 2);
    }
}
