//! The runner's error paths, with scripted fakes (`fake.rs`) in place of real
//! platforms: whatever one platform does wrong, its deployment is torn down, the
//! cleanup backstop runs with the run id, the results say what failed, and the other
//! platform is still measured and written.

use std::sync::Arc;

use super::events::{Event, Observer};
use super::fake::{Act, Fake, Journal, Script};
use super::*;

struct Quiet;

impl Observer for Quiet {
    fn on(&self, _event: &Event<'_>) {}
}

/// Two fakes: the first scripted, the second working. The names must be platforms the
/// scenario knows; which two does not matter to the runner.
const FIRST: &str = "native";
const SECOND: &str = "docker";

const SCENARIO: &str = r#"
name = "fake"
platforms = ["native", "docker"]
[workload]
expressions = ["(5+3)/2"]
[startup]
repetitions = 2
timeout_s = 10
[idle]
window_s = 0.2
interval_ms = 50
[load]
rates_rps = [20]
duration_s = 0.3
warmup_s = 0
connections = 1
timeout_ms = 2000
[throughput]
duration_s = 0
"#;

struct Ran {
    outcome: RunOutcome,
    journal: Journal,
    _dir: tempfile::TempDir,
}

impl Ran {
    fn result(&self, name: &str) -> &PlatformResult {
        self.outcome
            .results
            .platforms
            .iter()
            .find(|r| r.name == name)
            .unwrap_or_else(|| panic!("no result for {name}"))
    }

    fn error(&self, name: &str) -> String {
        self.result(name).error.clone().unwrap_or_default()
    }

    fn cleanups(&self, name: &str) -> usize {
        let run_id = &self.outcome.results.run_id;
        self.journal.count(&format!("{name}: cleanup {run_id}"))
    }

    /// Every deployment handed back was torn down.
    fn all_torn_down(&self, name: &str) -> bool {
        let deploys = self.journal.count(&format!("{name}: deployed"));
        let teardowns = self.journal.count(&format!("{name}: teardown"));
        teardowns >= deploys
    }

    /// The second (working) platform was measured and the results were written.
    fn assert_second_measured(&self) {
        self.assert_second_measured_with(2)
    }

    fn assert_second_measured_with(&self, startups: usize) {
        let r = self.result(SECOND);
        assert!(r.error.is_none(), "{:?}", r.error);
        assert_eq!(
            r.startup_ms.as_ref().map(|s| s.samples.len()),
            Some(startups)
        );
        assert_eq!(r.latency_us.len(), 1);
        assert!(r.extras.contains_key("fake_extra_ms"));
        assert_eq!(self.cleanups(SECOND), 1);
        assert!(self.all_torn_down(SECOND));
        self.assert_written();
    }

    fn assert_written(&self) {
        let json = std::fs::read_to_string(self.outcome.dir.join("results.json")).unwrap();
        let back: RunResults = serde_json::from_str(&json).unwrap();
        assert_eq!(back.platforms.len(), self.outcome.results.platforms.len());
        // Each result records its platform's facts, as the platform stated them, with
        // its place in the runner's list: the report reads them from the file.
        for (order, name) in [FIRST, SECOND].into_iter().enumerate() {
            for p in back.platforms.iter().filter(|p| p.name == name) {
                let f = p.facts.as_ref().expect("facts recorded");
                assert_eq!((&*f.title, usize::from(f.order)), ("a fake", order));
            }
        }
    }
}

async fn run_fakes(first: Script) -> Ran {
    run_fakes_with(first, SCENARIO, None).await
}

async fn run_fakes_with(
    first: Script,
    scenario_text: &str,
    stop: Option<Arc<dyn stop::StopRule>>,
) -> Ran {
    let dir = tempfile::tempdir().unwrap();
    let scenario = dir.path().join("fake.toml");
    std::fs::write(&scenario, scenario_text).unwrap();
    let journal = Journal::default();
    let fakes: Vec<Box<dyn Platform>> = vec![
        Box::new(Fake {
            name: FIRST,
            script: first,
            journal: journal.clone(),
        }),
        Box::new(Fake {
            name: SECOND,
            script: Script::default(),
            journal: journal.clone(),
        }),
    ];
    let opts = RunOptions {
        scenario,
        platforms: None,
        out: dir.path().join("reports"),
        observer: Arc::new(Quiet),
        stop,
    };
    let outcome = run_on(opts, fakes).await.expect("the run itself completes");
    Ran {
        outcome,
        journal,
        _dir: dir,
    }
}

#[tokio::test]
async fn both_working_platforms_are_measured() {
    let ran = run_fakes(Script::default()).await;
    assert!(!ran.outcome.failed);
    assert!(!ran.outcome.cancelled);
    assert_eq!(ran.outcome.exit_code(), 0);
    let first = ran.result(FIRST);
    assert!(first.error.is_none(), "{:?}", first.error);
    assert!(ran.all_torn_down(FIRST));
    assert_eq!(ran.cleanups(FIRST), 1);
    ran.assert_second_measured();
    // The platforms not given still have a row saying why.
    assert!(ran.outcome.results.platforms.iter().any(|r| !r.available
        && r.unavailable_reason
            .as_deref()
            .is_some_and(|w| w.contains("not selected"))));
}

/// Run with the first fake scripted to fail; check what holds for every failure (the
/// run failed, the error starts with `step`, every deployment was torn down, the
/// backstop ran once, the other platform was measured) and hand the run back.
async fn first_fails(script: Script, step: &str) -> Ran {
    let ran = run_fakes(script).await;
    assert!(ran.outcome.failed);
    assert_eq!(ran.outcome.exit_code(), 1);
    let e = ran.error(FIRST);
    assert!(e.starts_with(&format!("{step}: ")), "{e}");
    assert!(ran.all_torn_down(FIRST));
    assert_eq!(ran.cleanups(FIRST), 1);
    ran.assert_second_measured();
    ran
}

#[tokio::test]
async fn a_failed_prepare_is_that_platforms_error() {
    let prepare = Script {
        prepare: Act::Fail,
        ..Default::default()
    };
    let ran = first_fails(prepare, "prepare").await;
    assert_eq!(ran.journal.count(&format!("{FIRST}: deploy")), 0);
}

#[tokio::test]
async fn a_failed_deploy_is_that_platforms_error() {
    let deploy = Script {
        deploy: Act::Fail,
        ..Default::default()
    };
    first_fails(deploy, "deploy").await;
}

#[tokio::test]
async fn a_deployment_that_dies_before_answering_fails_fast_and_is_torn_down() {
    let dies = Script {
        dies_before_ready: true,
        ..Default::default()
    };
    let ran = first_fails(dies, "startup").await;
    assert!(ran.error(FIRST).contains("exited"));
    assert_eq!(ran.journal.count(&format!("{FIRST}: teardown")), 1);
}

/// A deployment whose host resources cannot be read (a remote cloud) is not a failure:
/// its latency, throughput and experiments are measured, memory and CPU are absent and
/// the result says why.
#[tokio::test]
async fn a_deployment_with_unobservable_resources_is_measured_without_them() {
    let remote = Script {
        not_observable: true,
        ..Default::default()
    };
    let ran = run_fakes(remote).await;
    assert!(!ran.outcome.failed, "{:?}", ran.result(FIRST).error);
    let first = ran.result(FIRST);
    assert!(first.error.is_none(), "{:?}", first.error);
    assert!(first.memory_idle_bytes.is_none());
    assert!(first.cpu_idle_seconds.is_none());
    assert!(!first.latency_us.is_empty(), "latency still measured");
    assert!(first
        .details
        .get("resources_not_observable")
        .is_some_and(|w| w.contains("scripted remote")));
    assert!(ran.all_torn_down(FIRST));
    ran.assert_second_measured();
}

#[tokio::test]
async fn a_failed_measurement_tears_the_kept_deployment_down() {
    // The first samples are the settling wait's.
    let sample = Script {
        sample_fails_from: Some(1),
        ..Default::default()
    };
    let ran = first_fails(sample, "settling").await;
    assert!(ran.error(FIRST).contains("sample failed as scripted"));
    // Startup ran (both repetitions) before the measurement failed.
    let startups = ran
        .result(FIRST)
        .startup_ms
        .as_ref()
        .map(|s| s.samples.len());
    assert_eq!(startups, Some(2));
}

#[tokio::test]
async fn a_failed_extra_is_reported_and_torn_down() {
    let extras = Script {
        extras: Act::Fail,
        ..Default::default()
    };
    first_fails(extras, "extras").await;
}

#[tokio::test]
async fn a_failed_teardown_is_an_error_and_the_backstop_still_runs() {
    let teardown = Script {
        teardown: Act::Fail,
        ..Default::default()
    };
    first_fails(teardown, "teardown").await;
}

#[tokio::test]
async fn a_failed_cleanup_fails_the_run_but_not_the_others() {
    let ran = run_fakes(Script {
        cleanup_fails: true,
        ..Default::default()
    })
    .await;
    assert!(ran.outcome.failed);
    assert!(ran.result(FIRST).error.is_none());
    ran.assert_second_measured();
}

#[tokio::test]
async fn a_panic_in_a_platform_is_its_error_and_the_backstop_runs() {
    for (step, script) in [
        (
            "deploy",
            Script {
                deploy: Act::Panic,
                ..Default::default()
            },
        ),
        (
            "extras",
            Script {
                extras: Act::Panic,
                ..Default::default()
            },
        ),
        (
            "teardown",
            Script {
                teardown: Act::Panic,
                ..Default::default()
            },
        ),
    ] {
        let ran = run_fakes(script).await;
        assert!(ran.outcome.failed, "{step}");
        let e = ran.error(FIRST);
        assert!(
            e.starts_with("panic: ") && e.contains(&format!("{step} panicked")),
            "{step}: {e}"
        );
        assert_eq!(ran.cleanups(FIRST), 1, "{step}");
        ran.assert_second_measured();
    }
}

#[tokio::test]
async fn a_panic_while_probing_is_that_platforms_error() {
    let ran = run_fakes(Script {
        probe: Act::Panic,
        ..Default::default()
    })
    .await;
    assert!(ran.outcome.failed);
    let e = ran.error(FIRST);
    assert!(e.starts_with("probe: panic: "), "{e}");
    ran.assert_second_measured();
}

#[tokio::test]
async fn cancelling_mid_run_tears_down_and_writes_what_was_measured() {
    for script in [
        Script {
            deploy: Act::Cancel,
            ..Default::default()
        },
        Script {
            deploy: Act::CancelThenFinish,
            ..Default::default()
        },
        Script {
            extras: Act::Cancel,
            ..Default::default()
        },
    ] {
        let ran = run_fakes(script.clone()).await;
        assert!(ran.outcome.cancelled);
        assert_eq!(ran.outcome.exit_code(), 130);
        assert!(ran.outcome.results.interrupted);
        assert!(
            ran.error(FIRST).contains("cancelled"),
            "{}",
            ran.error(FIRST)
        );
        assert!(ran.all_torn_down(FIRST));
        assert_eq!(ran.cleanups(FIRST), 1);
        // A deploy that finished after Ctrl-C is torn down before the backstop lists
        // what is left: nothing it created appears after the cleanup.
        let lines = ran.journal.lines();
        let at = |l: &str| lines.iter().position(|x| x == &format!("{FIRST}: {l}"));
        if script.deploy == Act::CancelThenFinish {
            let deployed = at("deployed").expect("the deploy was let finish");
            let cleanup = lines
                .iter()
                .position(|x| x.starts_with(&format!("{FIRST}: cleanup")))
                .expect("a cleanup");
            assert!(
                at("teardown").is_some_and(|t| deployed < t && t < cleanup),
                "{lines:?}"
            );
        }
        // The platform after the interruption is not started, and says so.
        assert_eq!(ran.journal.count(&format!("{SECOND}: probe")), 0);
        let second = ran.result(SECOND);
        assert!(!second.available);
        assert!(second
            .unavailable_reason
            .as_deref()
            .is_some_and(|w| w.contains("interrupted")));
        ran.assert_written();
    }
}

/// A scenario for sequential stopping: up to 6 startups, windows long enough to be
/// cut short, a target no real series of timings reaches (so only the given rule or
/// the budget ends a figure).
const SEQUENTIAL: &str = r#"
name = "fake"
platforms = ["native", "docker"]
[startup]
repetitions = 6
timeout_s = 10
[stopping]
target = 0.000000001
[idle]
window_s = 0.3
interval_ms = 50
[load]
rates_rps = [20]
duration_s = 0.3
warmup_s = 0
connections = 1
timeout_ms = 2000
[throughput]
duration_s = 1
connections = 1
"#;

/// Enough once a figure has `n` samples: decides like a claim's threshold would, but
/// on the count alone, so the test does not depend on timings.
struct EnoughAt(usize);

impl stop::StopRule for EnoughAt {
    fn check(&self, at: &stop::Point<'_>) -> Option<stop::Enough> {
        (at.figure == stop_key::STARTUP && at.samples.len() >= self.0).then(|| stop::Enough {
            reason: StopReason::Decided,
            spread: None,
            detail: format!("{} samples", self.0),
        })
    }
}

fn startup_stop(ran: &Ran, name: &str) -> crate::results::Stopping {
    ran.result(name).stopping[stop_key::STARTUP].clone()
}

#[tokio::test]
async fn a_rule_given_by_the_caller_stops_startup_and_every_deployment_goes() {
    let ran = run_fakes_with(Script::default(), SEQUENTIAL, Some(Arc::new(EnoughAt(4)))).await;
    for name in [FIRST, SECOND] {
        let r = ran.result(name);
        assert!(r.error.is_none(), "{:?}", r.error);
        assert_eq!(r.startup_ms.as_ref().unwrap().samples.len(), 4);
        let st = startup_stop(&ran, name);
        assert_eq!((st.n, st.reason), (4, StopReason::Decided));
        assert_eq!(st.interval.unwrap().n, 4);
        assert_eq!(ran.journal.count(&format!("{name}: deployed")), 4);
        assert!(ran.all_torn_down(name));
    }
    ran.assert_written();
}

#[tokio::test]
async fn without_a_rule_that_says_enough_the_budget_ends_startup() {
    let ran = run_fakes_with(Script::default(), SEQUENTIAL, None).await;
    let st = startup_stop(&ran, FIRST);
    assert_eq!((st.n, st.reason), (6, StopReason::Budget), "{st:?}");
    assert_eq!(ran.journal.count(&format!("{FIRST}: deployed")), 6);
    assert!(ran.all_torn_down(FIRST));
    // Every figure says what stopped it.
    let r = ran.result(FIRST);
    let keys: Vec<&str> = r.stopping.keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        ["idle", "latency_us@20", "max_throughput_rps", "startup_ms"]
    );
    // The throughput run of one second has no second to stop after: its budget.
    assert_eq!(r.stopping["max_throughput_rps"].reason, StopReason::Budget);
}

#[tokio::test]
async fn a_decided_against_rule_from_plain_data_stops_at_the_minimum() {
    // The fake's startups are milliseconds: against a baseline of 1000 s each, the
    // ratio is wholly below 1 from the third sample on.
    let rule = stop::DecidedAgainst {
        figure: stop_key::STARTUP.into(),
        platform: None,
        baseline_platform: "a slow baseline".into(),
        baseline: vec![1e6, 1e6, 1e6],
        threshold: 1.0,
        resolution: 0.0,
    };
    let ran = run_fakes_with(Script::default(), SEQUENTIAL, Some(Arc::new(rule))).await;
    let st = startup_stop(&ran, FIRST);
    assert_eq!((st.n, st.reason), (3, StopReason::Decided), "{st:?}");
    assert!(st.detail.contains("wholly below 1x"), "{}", st.detail);
}

#[tokio::test]
async fn fixed_mode_takes_the_count_and_the_whole_windows() {
    let fixed = SEQUENTIAL.replace("target = 0.000000001", "mode = \"fixed\"");
    let ran = run_fakes_with(Script::default(), &fixed, Some(Arc::new(EnoughAt(3)))).await;
    let r = ran.result(FIRST);
    assert_eq!(r.startup_ms.as_ref().unwrap().samples.len(), 6);
    for (k, st) in &r.stopping {
        assert_eq!(st.reason, StopReason::Fixed, "{k}: {st:?}");
    }
    assert_eq!(r.stopping.len(), 4);
}

#[tokio::test]
async fn a_failed_deployment_in_the_middle_of_sequential_startup_leaves_nothing() {
    let ran = run_fakes_with(
        Script {
            sample_fails_from: Some(1),
            ..Script::default()
        },
        SEQUENTIAL,
        Some(Arc::new(EnoughAt(3))),
    )
    .await;
    assert!(
        ran.error(FIRST).contains("settling"),
        "{}",
        ran.error(FIRST)
    );
    assert_eq!(startup_stop(&ran, FIRST).n, 3);
    assert!(ran.all_torn_down(FIRST));
    assert_eq!(ran.cleanups(FIRST), 1);
    ran.assert_second_measured_with(3);
}
