//! Report rendering from the checked-in fixture: structure, not timings. The page has
//! every section, one inline SVG per chart, all 15 claims, no external URL, and escapes
//! whatever text the results carry.

use virtbench::report::{self, claims, html};
use virtbench::results::RunResults;

fn fixture() -> RunResults {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/results.json");
    report::read_results(std::path::Path::new(path)).expect("fixture reads with the current schema")
}

/// Values of every `attr="..."` in the page.
fn attribute_values<'a>(html: &'a str, attr: &str) -> Vec<&'a str> {
    let needle = format!(" {attr}=\"");
    html.match_indices(&needle)
        .map(|(i, _)| {
            let rest = &html[i + needle.len()..];
            &rest[..rest.find('"').unwrap_or(rest.len())]
        })
        .collect()
}

#[test]
fn page_has_every_section_and_one_svg_per_chart() {
    let r = fixture();
    let page = html::render(&r);
    assert!(page.starts_with("<!doctype html>"));
    assert!(page.trim_end().ends_with("</html>"));
    for id in [
        "summary",
        "glance",
        "context",
        "startup",
        "memory",
        "cpu",
        "latency",
        "throughput",
        "artifacts",
        "experiments",
        "claims",
        "references",
        "scenario",
    ] {
        assert!(
            page.contains(&format!("<section id=\"{id}\"")),
            "section {id} missing"
        );
    }
    let charts = report::sections::all(&r);
    // startup, phases, memory, cpu idle, cpu per 1k, latency x 2 rates, throughput, artifacts
    assert_eq!(
        charts.len(),
        9,
        "{:?}",
        charts.iter().map(|c| &c.id).collect::<Vec<_>>()
    );
    assert_eq!(page.matches("<svg").count(), charts.len());
    for c in &charts {
        assert!(
            page.contains(&format!("<figure class=\"chart\" id=\"{}\">", c.id)),
            "{}",
            c.id
        );
        assert!(!c.title.is_empty() && !c.how_to_read.is_empty());
    }
    assert!(page.matches("How to read this:").count() == charts.len());
    for n in 1..=15 {
        assert!(
            page.contains(&format!("<tr id=\"claim-C{n}\">")),
            "claim C{n} missing"
        );
    }
    // Unavailable platforms are listed with their reason.
    assert!(page.contains("VBoxManage not found on PATH"));
    assert!(page.contains("OS_AUTH_URL is not set"));
    // A TCG VM is labelled as such.
    assert!(page.contains("TCG emulated"));
    assert!(page.contains("qemu/per-role/kernel [TCG]"));
    // Verdicts reached on that TCG VM alone say so, and are styled apart.
    assert!(page.contains("supported, emulated VM only"));
    assert!(page.contains("class=\"verdict supported emulated-only\""));
    // Missing figures read "not measured" (docker has no PSS in the fixture).
    assert!(page.contains("not measured"));
    // Scenario text, git revision and wall time are shown.
    assert!(page.contains("rates_rps = [50, 200]"));
    assert!(page.contains("8cb46e1-dirty"));
    assert!(page.contains("705 s"));
}

#[test]
fn page_is_self_contained() {
    let page = html::render(&fixture());
    assert!(
        !page.contains("http://") && !page.contains("https://"),
        "no URL at all"
    );
    assert!(!page.contains("<script"), "no script");
    assert!(!page.contains("<link"), "no linked stylesheet");
    assert!(
        !page.contains("@import") && !page.contains("url("),
        "no CSS fetches"
    );
    for attr in ["src", "href", "xlink:href", "action"] {
        for v in attribute_values(&page, attr) {
            assert!(v.starts_with('#'), "{attr}=\"{v}\" leaves the page");
        }
    }
    assert!(page.contains("@media print"), "print styles");
}

#[test]
fn text_from_results_is_escaped() {
    let mut r = fixture();
    let evil = "<script>alert('x')</script><img src=\"http://evil.example/x.png\">";
    r.host.hostname = evil.into();
    r.scenario.text = evil.into();
    r.run_id = evil.into();
    r.platforms[0].details.insert("note".into(), evil.into());
    r.platforms[1].label = format!("docker/{evil}");
    r.platforms[4].unavailable_reason = Some(evil.into());
    r.platforms[3].extras.insert(
        evil.into(),
        virtbench::stats::Series::new("ms", vec![1.0, 2.0]),
    );
    let page = html::render(&r);
    assert!(!page.contains("<script"), "raw script tag in page");
    assert!(!page.contains("<img"), "raw img tag in page");
    assert!(page.contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;"));
    for v in attribute_values(&page, "src") {
        assert!(v.starts_with('#'), "src=\"{v}\"");
    }
}

#[test]
fn claims_cover_c1_to_c15_with_specific_reasons() {
    let r = fixture();
    let rows = claims::evaluate(&r);
    let ids: Vec<&str> = rows.iter().map(|c| c.id).collect();
    assert_eq!(ids, (1..=15).map(|n| format!("C{n}")).collect::<Vec<_>>());
    let verdict = |id: &str| rows.iter().find(|c| c.id == id).unwrap().verdict.clone();
    use claims::Verdict::*;
    // Figures the fixture holds decide these; its only VM ran under TCG, so the
    // VM-vs-container verdicts are emulated-only ones.
    assert_eq!(verdict("C4"), SupportedEmulatedOnly);
    // C2's CPU per request has two load windows in the fixture: too few for an
    // interval, so that part (and C2) is undecided, its memory part already decided.
    assert!(
        matches!(verdict("C2"), Undecided(ref why) if why.contains("n=2")),
        "{:?}",
        verdict("C2")
    );
    assert_eq!(
        verdict("C5"),
        Mixed,
        "36 MiB disk: 10x the image but not several GB"
    );
    assert_eq!(verdict("C12"), Supported);
    // And these cannot be judged here, each for a stated reason.
    let reason = |id: &str| match verdict(id) {
        NotMeasured(why) => why,
        v => panic!("{id}: expected not measured, got {v:?}"),
    };
    assert!(reason("C8").contains("TCG"), "{}", reason("C8"));
    assert!(
        reason("C13").contains("no OpenStack on this host"),
        "{}",
        reason("C13")
    );
    assert!(
        reason("C13").contains("no VirtualBox on this host"),
        "{}",
        reason("C13")
    );
    assert!(reason("C6").contains("noisy-neighbour"));
    assert!(reason("C15").contains("routed"));
    let c7 = rows.iter().find(|c| c.id == "C7").unwrap();
    assert!(c7.note.unwrap_or_default().contains("rkt"));
    assert!(rows.iter().any(|c| c
        .references
        .iter()
        .any(|r| r.source.contains("ISPASS 2015"))));
    assert!(rows.iter().any(|c| c
        .references
        .iter()
        .any(|r| r.source.contains("Firecracker"))));
}

#[test]
fn write_all_then_read_back() {
    let r = fixture();
    let dir = tempfile::tempdir().unwrap();
    report::write_all(&r, dir.path()).unwrap();
    let back = report::read_results(&dir.path().join("results.json")).unwrap();
    assert_eq!(back, r);
    let csv = std::fs::read_to_string(dir.path().join("results.csv")).unwrap();
    assert!(csv.starts_with("label,platform,metric,unit,n,median"));
    let page = std::fs::read_to_string(dir.path().join("index.html")).unwrap();
    assert_eq!(page, html::render(&r));
}

#[test]
fn sparse_and_empty_figures_render_as_not_measured() {
    use virtbench::results::{LatencyResult, PlatformResult};
    use virtbench::stats::Series;
    let mut r = fixture();
    // Available but silent: every optional figure absent.
    let silent = PlatformResult {
        name: "qemu".into(),
        label: "qemu/all-in-one/disk".into(),
        available: true,
        error: Some("guest did not answer within 120 s".into()),
        ..Default::default()
    };
    // Attempted measurements that produced nothing, and degenerate values.
    let mut empty = PlatformResult {
        name: "docker".into(),
        label: "docker/empty".into(),
        available: true,
        startup_ms: Some(Series::new("ms", vec![])),
        memory_idle_bytes: Some(Series::new("bytes", vec![0.0])),
        ..Default::default()
    };
    empty.latency_us.push(LatencyResult {
        rate_rps: 50.0,
        duration_s: 10.0,
        achieved_rps: 0.0,
        p50: 0.0,
        p90: 0.0,
        p99: 0.0,
        p999: 0.0,
        max: 0.0,
        mean: 0.0,
        stddev: 0.0,
        count: 0,
        errors: 500,
        wrong_answers: 0,
        connections: 8,
    });
    r.platforms.push(silent);
    r.platforms.push(empty);
    let page = html::render(&r);
    assert!(page.contains("guest did not answer within 120 s"));
    assert!(page.contains("no samples (the measurement failed)"));
    assert_eq!(
        page.matches("<svg").count(),
        report::sections::all(&r).len()
    );
    let csv = virtbench::report::csv::render(&r);
    assert!(csv
        .lines()
        .any(|l| l.starts_with("qemu/all-in-one/disk,qemu,error,")));
    // Claims still give 15 rows; C10/C14 see the failed variant.
    assert_eq!(claims::evaluate(&r).len(), 15);
}

/// The text of `<section id="{id}">` up to its end.
fn section<'a>(page: &'a str, id: &str) -> &'a str {
    let start = page
        .find(&format!("<section id=\"{id}\""))
        .unwrap_or_else(|| panic!("section {id} missing"));
    let len = page[start..].find("</section>").expect("section closed");
    &page[start..start + len]
}

#[test]
fn claims_come_first_and_link_to_their_evidence() {
    let r = fixture();
    let page = html::render(&r);
    let at = |needle: &str| {
        page.find(needle)
            .unwrap_or_else(|| panic!("{needle} missing"))
    };
    // Title, summary, every claim's verdict, then the evidence, then the claims in full.
    assert!(at("<header>") < at("<section id=\"summary\""));
    assert!(at("<section id=\"summary\"") < at("<section id=\"glance\""));
    assert!(at("<section id=\"glance\"") < at("<section id=\"startup\""));
    assert!(at("<section id=\"experiments\"") < at("<section id=\"claims\""));
    assert!(at("<section id=\"claims\"") < at("<section id=\"context\""));
    let glance = section(&page, "glance");
    // Counted by plain outcome, emulated-only verdicts included: the counts add up to 15.
    assert!(
        glance.contains("7 supported, 0 contradicted, 1 mixed, 1 undecided, 6 not measured"),
        "{glance}"
    );
    assert!(glance.contains("of which 2 on emulated VMs only"));
    for c in claims::evaluate(&r) {
        let row_start = glance
            .find(&format!("<tr id=\"claim-{}\">", c.id))
            .unwrap_or_else(|| panic!("{} not on the first screen", c.id));
        let row = &glance[row_start..row_start + glance[row_start..].find("</tr>").unwrap()];
        assert!(
            row.contains(&format!("class=\"verdict {}\"", c.verdict.class())),
            "{row}"
        );
        assert!(row.contains(&report::view::esc(c.short)), "{row}");
        assert!(!c.headline.is_empty(), "{}: no deciding figure", c.id);
        assert!(
            row.contains(&format!("href=\"#claim-{}-full\"", c.id)),
            "{} links to its full text: {row}",
            c.id
        );
        assert!(
            page.contains(&format!(
                "<details class=\"claim\" id=\"claim-{}-full\">",
                c.id
            )),
            "{}: full text missing",
            c.id
        );
        assert!(
            row.contains(&format!("href=\"#{}\"", c.evidence))
                && page.contains(&format!("<section id=\"{}\"", c.evidence)),
            "{} links to a section that holds its evidence: {row}",
            c.id
        );
    }
    // The first screen names a verdict reached on a TCG VM alone as such, in words and
    // with the emulated-only style; a figure that includes a TCG VM's says so too.
    let row = |id: &str| {
        let r = &glance[glance.find(&format!("<tr id=\"claim-{id}\">")).unwrap()..];
        r[..r.find("</tr>").unwrap()].to_string()
    };
    let c4 = row("C4");
    assert!(
        c4.contains("class=\"verdict supported emulated-only\"")
            && c4.contains("supported, emulated"),
        "{c4}"
    );
    assert!(row("C14").contains("[TCG]"), "{}", row("C14"));
    // C1's deciding figure is the ratio to native processes (and to the heaviest
    // container).
    assert!(row("C1").contains("native"), "{}", row("C1"));
}

#[test]
fn details_are_folded_and_artifacts_listed_once_per_platform() {
    let page = html::render(&fixture());
    // Per-platform context, experiments and the scenario are folded.
    let context = section(&page, "context");
    for name in ["native", "docker", "qemu"] {
        assert!(
            context.contains(&format!(
                "<details class=\"platform\" id=\"platform-{name}\">"
            )),
            "{name}"
        );
    }
    // An unavailable platform has nothing to unfold: its reason shows as it is.
    assert!(context.contains("<p class=\"platform\" id=\"platform-virtualbox\">"));
    assert!(section(&page, "experiments")
        .contains("<details class=\"platform\" id=\"experiments-docker\">"));
    assert!(section(&page, "scenario").contains("<details class=\"scenario\">"));
    // Nothing is open by default.
    assert!(!page.contains("<details open"));
    // docker/bridge and docker/host run from the same image: one row, used by both.
    let artifacts = section(&page, "artifacts");
    assert_eq!(
        artifacts
            .matches("virtbench/calculator:run-20240611-0930")
            .count(),
        1,
        "the shared docker image is listed once"
    );
    assert!(artifacts.contains("all 2 variants"));
    // Printing opens the claims the screen folds, without script; the per-variant
    // details stay folded in print.
    assert!(page.contains("details.claim::details-content"));
    assert!(page.contains("size: A4"));
}

#[test]
fn host_table_gives_the_accelerator_reason_qemu_writes() {
    let mut r = fixture();
    let reason = "KVM boot probe <timed out> after 20 s; fell back to TCG";
    for p in r.platforms.iter_mut().filter(|p| p.name == "qemu") {
        p.details.remove("kvm_probe");
        p.details
            .insert("accelerator_reason".into(), reason.to_string());
    }
    let page = html::render(&r);
    let context = section(&page, "context");
    assert!(
        context.contains(&format!(
            "<strong>TCG</strong> — {}",
            report::view::esc(reason)
        )),
        "the VM accelerator row gives QEMU's accelerator_reason"
    );
}

/// Kill trials as the fault tests write them: docker's engine trials, podman's conmon
/// kill and the sub-service kills, built by the same code from probe logs.
fn with_faults() -> RunResults {
    use std::time::Duration;
    use virtbench::measure::fault::{series, Outcome, Trial};
    let ms = Duration::from_millis;
    // 50 ms probes over 6 s; the kill at 1 s; failing from 1.0 s to `until`.
    let log = |until: u64, code: u16| -> Vec<(Duration, Outcome)> {
        (0..120)
            .map(|i| {
                let t = i * 50;
                let o = if (1000..until).contains(&t) {
                    Outcome::Status(
                        code,
                        format!("mul at http://127.0.0.1:1: connection refused ({t})"),
                    )
                } else {
                    Outcome::Correct
                };
                (ms(t), o)
            })
            .collect()
    };
    let mut r = fixture();
    let docker = r.platforms.iter_mut().find(|p| p.name == "docker").unwrap();
    let trials = [
        Trial::from_log(
            "dockerd_kill",
            &log(0, 0),
            ms(1000),
            ms(6000),
            Some(true),
            Some((Some(false), None)),
        ),
        Trial::from_log("mul_kill", &log(6000, 502), ms(1000), ms(6000), None, None),
        Trial::from_log(
            "mul_kill_supervised",
            &log(1600, 502),
            ms(1000),
            ms(6000),
            None,
            Some((None, Some(ms(600)))),
        ),
    ];
    docker.extras.extend(series(&trials));
    docker.extras.insert(
        "daemon_kill_survived".into(),
        virtbench::stats::Series::new("ratio", vec![1.0]),
    );
    r
}

#[test]
fn faults_section_has_the_error_rate_chart_and_the_reasons() {
    let r = with_faults();
    let page = html::render(&r);
    assert!(page.contains("<section id=\"faults\""));
    assert!(page.contains("<figure class=\"chart\" id=\"chart-faults\">"));
    assert!(page.contains("kill -9 mul, restart policy"));
    // The one-line reason of the 502s is shown with their count.
    assert!(page.contains("HTTP 502: mul at http://127.0.0.1:1: connection refused (1000)"));
    // C7's evidence is this section, and its figures say what happened.
    assert!(page.contains("<a href=\"#faults\">Faults</a>"));
    assert!(page.contains("kill -9 dockerd (docker): the calculator kept answering"));
    // Three strips: one per trial.
    let faults = report::sections::faults::chart(&r).expect("fault chart");
    assert_eq!(faults.svg.matches("kill -9").count(), 3);
}

#[test]
fn containers_section_quotes_the_lab_table_and_marks_rkt_discontinued() {
    let page = html::render(&fixture());
    assert!(page.contains("<section id=\"containers\""));
    // The lab's own words, with a translation beside.
    assert!(page.contains("si ce daemon est tué tous les conteneurs le sont aussi"));
    assert!(page.contains("if that daemon is killed, every container is too"));
    assert!(page.contains("rkt is discontinued (archived in 2020): not measured"));
    // Each line has a figure or says why it has none.
    assert!(page.contains("Not measurable here: a community is not a property of this host"));
    assert!(page.contains("<strong>Measured:</strong>"));
}

/// A results.json written before results recorded their platforms' facts (the
/// checked-in real default run has none) renders with the facts inferred from the
/// names, once, in `results::legacy`; the same file with those facts recorded renders
/// byte for byte the same page.
#[test]
fn a_file_without_recorded_facts_renders_as_one_with_them() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/default-run.json"
    );
    let old = report::read_results(std::path::Path::new(path)).unwrap();
    assert!(
        old.platforms.iter().all(|p| p.facts.is_none()),
        "an old file"
    );
    assert!(
        old.platforms.iter().all(|p| p.facts().is_some()),
        "inferred"
    );
    let mut recorded = old.clone();
    for p in &mut recorded.platforms {
        p.facts = p.facts().cloned();
    }
    let text = serde_json::to_string(&recorded).unwrap();
    assert!(
        text.contains("\"facts\":{\"title\":"),
        "the field is written"
    );
    let back: RunResults = serde_json::from_str(&text).unwrap();
    assert_eq!(html::render(&back), html::render(&old));
}

/// The report classifies, orders and colours by the recorded facts, not by the name:
/// a container platform under a name no version knew is still a container.
#[test]
fn recorded_facts_win_over_the_name() {
    let mut r = fixture();
    for p in &mut r.platforms {
        p.facts = p.facts().cloned();
    }
    let before = html::render(&r);
    let renamed = r.platforms[1].name.clone();
    for p in r.platforms.iter_mut().filter(|p| p.name == renamed) {
        p.name = format!("{renamed}-next");
    }
    assert!(r.platforms.iter().any(|p| p.name.ends_with("-next")));
    let page = html::render(&r);
    // Same kinds, colours and verdicts: only the raw name differs where it is printed.
    assert_eq!(
        page.matches("class=\"verdict").count(),
        before.matches("class=\"verdict").count()
    );
    let kinds = |r: &RunResults| -> Vec<String> {
        r.platforms
            .iter()
            .map(|p| format!("{:?}", report::view::kind(p)))
            .collect()
    };
    let mut orig = fixture();
    for p in &mut orig.platforms {
        p.facts = p.facts().cloned();
    }
    assert_eq!(kinds(&r), kinds(&orig));
    assert_eq!(
        report::view::colour(&r, &r.platforms[1].label),
        report::view::colour(&orig, &orig.platforms[1].label)
    );
}
