//! The demo's model and renderers, driven by events made by hand: rows, progress,
//! verdicts and the log lines, at 80 columns.

use std::path::Path;
use std::time::Duration;

use super::board::{Board, RowState};
use super::screen::{render, Style};
use super::{estimate::Estimate, lines::lines, mode, verdicts};
use crate::results::{PlatformResult, RunResults};
use crate::run::events::{Event, Figure, Planned, Step};
use crate::scenario::Scenario;

fn quick() -> Scenario {
    let path = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/scenarios/quick.toml"));
    Scenario::load(path).expect("quick.toml is valid").0
}

fn fixture() -> RunResults {
    serde_json::from_str(include_str!("../../tests/fixtures/results.json")).unwrap()
}

fn plan() -> Vec<Planned> {
    vec![
        Planned {
            platform: "native".into(),
            variants: vec!["native".into()],
        },
        Planned {
            platform: "docker".into(),
            variants: vec!["docker/bridge".into(), "docker/host".into()],
        },
        Planned {
            platform: "virtualbox".into(),
            variants: vec!["virtualbox/per-role".into()],
        },
    ]
}

fn secs(s: f64) -> Duration {
    Duration::from_secs_f64(s)
}

const PLAIN: Style = Style { colour: false };

/// Feed `events` one per second; returns the board.
fn feed(board: &mut Board, events: &[Event<'_>]) {
    for e in events {
        let at = board.elapsed + secs(1.0);
        board.apply(e, at);
    }
}

fn step<'a>(label: &'a str, step: Step) -> Event<'a> {
    Event::Step {
        platform: label.split('/').next().unwrap(),
        label,
        step,
    }
}

fn figure<'a>(label: &'a str, figure: Figure) -> Event<'a> {
    Event::Figure {
        platform: label.split('/').next().unwrap(),
        label,
        figure,
    }
}

fn native_measured(board: &mut Board, scenario: &Scenario, plan: &[Planned]) {
    feed(
        board,
        &[
            Event::RunStarted {
                run_id: "20250101-000000-abcd",
                scenario_path: Path::new("scenarios/quick.toml"),
                scenario,
                plan,
            },
            step("native", Step::Probing),
            step("native", Step::Startup { i: 1, n: 3 }),
            figure(
                "native",
                Figure::Startup {
                    median_ms: 12.4,
                    i: 1,
                    n: 3,
                },
            ),
            figure(
                "native",
                Figure::IdleMemory {
                    bytes: 9.5 * 1048576.0,
                },
            ),
            figure(
                "native",
                Figure::Latency {
                    rate_rps: 100.0,
                    p50_us: 310.0,
                    p99_us: 1250.0,
                },
            ),
            figure("native", Figure::Throughput { rps: 12345.6 }),
        ],
    );
}

#[test]
fn the_table_fills_in_as_figures_arrive_at_80_columns() {
    let (s, p) = (quick(), plan());
    let mut b = Board::new();
    native_measured(&mut b, &s, &p);
    let screen = render(&b, 80, 30, PLAIN);
    for l in &screen {
        assert!(l.chars().count() <= 80, "{l:?} is wider than 80 columns");
        assert!(!l.contains('\x1b'), "{l:?} has colour");
    }
    let text = screen.join("\n");
    assert!(
        screen.contains(
            &"▶ native                       12 ms   9.5 MiB    310 µs    1.2 ms   12346/s".into()
        ),
        "{text}"
    );
    assert!(screen.contains(&"· docker/bridge".into()), "{text}");
    assert!(
        screen.contains(
            &"  platform / variant         startup  idle PSS       p50       p99     req/s".into()
        ),
        "{text}"
    );
    // The claims each column bears on, from the catalogue.
    assert!(
        screen
            .iter()
            .any(|l| l.starts_with("  claims →") && l.contains("C4") && l.contains("C1 C2")),
        "{text}"
    );
    assert!(
        text.contains("now: native · open-loop load") || text.contains("now: native"),
        "{text}"
    );
    assert!(
        text.contains("verdicts: after the first platform"),
        "{text}"
    );
}

#[test]
fn an_unavailable_platform_is_one_row_with_its_reason_and_a_failed_one_says_why() {
    let (s, p) = (quick(), plan());
    let mut b = Board::new();
    native_measured(&mut b, &s, &p);
    let failed = PlatformResult {
        name: "docker".into(),
        label: "docker".into(),
        available: true,
        error: Some("prepare: image build failed".into()),
        ..Default::default()
    };
    feed(
        &mut b,
        &[
            Event::VariantFinished {
                result: &PlatformResult {
                    name: "native".into(),
                    label: "native".into(),
                    available: true,
                    ..Default::default()
                },
            },
            Event::VariantFinished { result: &failed },
            Event::PlatformUnavailable {
                platform: "virtualbox",
                reason: "VBoxManage not found",
            },
        ],
    );
    let labels: Vec<(&str, &RowState)> = b
        .rows
        .iter()
        .map(|r| (r.label.as_str(), &r.state))
        .collect();
    assert_eq!(labels.len(), 4, "{labels:?}");
    assert_eq!(labels[0], ("native", &RowState::Done));
    assert!(matches!(labels[1].1, RowState::Failed(_)));
    assert!(matches!(labels[2].1, RowState::Failed(_)));
    assert_eq!(
        labels[3],
        (
            "virtualbox",
            &RowState::Unavailable("VBoxManage not found".into())
        )
    );
    let screen = render(&b, 80, 30, PLAIN);
    assert!(
        screen.contains(&"– virtualbox              unavailable: VBoxManage not found".to_string())
    );
    assert!(screen
        .iter()
        .any(|l| l.starts_with("✗ docker/bridge") && l.contains("failed: prepare: image build")));
}

#[test]
fn verdicts_come_from_the_claims_code_on_the_platforms_finished() {
    let f = fixture();
    let given = verdicts::given(&f.platforms);
    // The fixture has native, Docker and QEMU (TCG): C4 is decided, emulated VM only.
    let c4 = given.iter().find(|g| g.id == "C4").expect("C4 decided");
    assert!(c4.verdict.is_emulated_only(), "{c4:?}");
    assert!(
        c4.line()
            .starts_with("C4 supported, emulated VM only: VM startup")
            || c4
                .line()
                .starts_with("C4 contradicted, emulated VM only: VM startup")
            || c4
                .line()
                .starts_with("C4 mixed, emulated VM only: VM startup"),
        "{}",
        c4.line()
    );
    // Native alone decides nothing that needs a VM.
    let native: Vec<_> = f
        .platforms
        .iter()
        .filter(|p| p.name == "native")
        .cloned()
        .collect();
    assert!(verdicts::given(&native).iter().all(|g| g.id != "C4"));

    let (s, p) = (quick(), plan());
    let mut b = Board::new();
    native_measured(&mut b, &s, &p);
    feed(
        &mut b,
        &[Event::PlatformFinished {
            platform: "native",
            so_far: &f.platforms,
        }],
    );
    let screen = render(&b, 80, 30, PLAIN);
    let text = screen.join("\n");
    assert!(
        text.contains("verdicts so far (native measured):"),
        "{text}"
    );
    assert!(
        screen
            .iter()
            .any(|l| l.starts_with("C4 ") && l.contains("VM startup")),
        "{text}"
    );
    assert!(screen.len() <= 30);
    // A short screen keeps the table and says how many verdicts it could not show.
    let short = render(&b, 80, 16, PLAIN);
    assert_eq!(short.len(), 16);
    assert!(
        short.last().unwrap().contains("more in the report"),
        "{short:?}"
    );
}

#[test]
fn the_estimate_uses_the_windows_and_the_startups_measured() {
    let (s, p) = (quick(), plan());
    // quick.toml: 3 startups, idle 2 s + load 3 s + throughput 2 s per variant.
    let mut e = Estimate::default();
    let start = Event::RunStarted {
        run_id: "r",
        scenario_path: Path::new("q.toml"),
        scenario: &s,
        plan: &p,
    };
    e.apply(&start, Duration::ZERO);
    // 4 variants x (3 startups guessed at 2 s + 7 s of windows).
    assert_eq!(e.left(Duration::ZERO), secs(4.0 * 13.0));
    e.apply(&step("native", Step::Startup { i: 1, n: 3 }), secs(1.0));
    e.apply(
        &figure(
            "native",
            Figure::Startup {
                median_ms: 500.0,
                i: 1,
                n: 3,
            },
        ),
        secs(1.5),
    );
    e.apply(&step("native", Step::Startup { i: 2, n: 3 }), secs(1.5));
    // Native: 2 startups of 0.5 s + 7 s; the others now guessed at 0.5 s a startup.
    assert_eq!(e.left(secs(1.5)), secs(8.0 + 3.0 * 8.5));
    // Time spent in a step comes off it, never below zero.
    assert_eq!(e.left(secs(100.0)), secs(3.0 * 8.5));
    e.apply(
        &Event::PlatformUnavailable {
            platform: "virtualbox",
            reason: "no",
        },
        secs(2.0),
    );
    assert_eq!(e.left(secs(100.0)), secs(2.0 * 8.5));
    // Native took 29 s from its first startup, 20.5 s beyond its startups and windows:
    // each variant to come is counted that much longer.
    let native = PlatformResult {
        name: "native".into(),
        label: "native".into(),
        available: true,
        ..Default::default()
    };
    e.apply(&Event::VariantFinished { result: &native }, secs(30.0));
    assert_eq!(e.left(secs(30.0)), secs(2.0 * (8.5 + 20.5)));
}

#[test]
fn off_a_terminal_each_event_is_one_plain_line() {
    let (s, p) = (quick(), plan());
    let mut b = Board::new();
    let events = [
        Event::RunStarted {
            run_id: "r1",
            scenario_path: Path::new("scenarios/quick.toml"),
            scenario: &s,
            plan: &p,
        },
        step("native", Step::Startup { i: 1, n: 3 }),
        figure(
            "native",
            Figure::Startup {
                median_ms: 12.0,
                i: 1,
                n: 3,
            },
        ),
        step("native", Step::Startup { i: 2, n: 3 }),
        figure(
            "native",
            Figure::Latency {
                rate_rps: 100.0,
                p50_us: 300.0,
                p99_us: 900.0,
            },
        ),
        Event::RunFinished {
            dir: Path::new("reports/r1"),
        },
    ];
    let mut log = Vec::new();
    for e in &events {
        let at = b.elapsed + secs(1.0);
        b.apply(e, at);
        log.extend(lines(&b, e));
    }
    assert_eq!(log.len(), 5, "{log:#?}");
    assert!(
        log[0].starts_with(
            "[0:01] demo: run r1, scenario quick, platforms native, docker, virtualbox"
        ),
        "{}",
        log[0]
    );
    assert!(log[1].contains("native: startup 1/3"), "{}", log[1]);
    assert_eq!(log[2], "[0:03] native: startup 12 ms (median of 1/3)");
    assert_eq!(
        log[3],
        "[0:05] native: latency at 100 req/s: p50 300 µs, p99 900 µs"
    );
    assert_eq!(log[4], "[0:06] report: reports/r1/index.html");
    assert!(log.iter().all(|l| !l.contains('\x1b')));
}

#[test]
fn colour_and_redrawing_only_where_the_terminal_supports_them() {
    assert_eq!(mode(true, Some("xterm-256color"), None), (true, true));
    assert_eq!(mode(true, Some("xterm"), Some("1")), (true, false));
    assert_eq!(mode(true, Some("xterm"), Some("")), (true, true));
    assert_eq!(mode(true, Some("dumb"), None), (false, false));
    assert_eq!(mode(true, None, None), (false, false));
    assert_eq!(mode(false, Some("xterm"), None), (false, false));

    let (s, p) = (quick(), plan());
    let mut b = Board::new();
    native_measured(&mut b, &s, &p);
    let coloured = render(&b, 80, 30, Style { colour: true }).join("\n");
    assert!(coloured.contains("\x1b[33m▶ native"), "{coloured}");
}
