//! The claims: the verdicts at a glance on the first screen, the evidence sections' contents, each claim in full, and figures from elsewhere.

use std::fmt::Write as _;

use crate::report::claims::{self, ClaimRow, Verdict};
use crate::report::view::esc;
use crate::report::widgets::{section, NOT_MEASURED};

/// Sections that hold evidence, in page order, with their short names for the contents
/// and for the first screen's links.
pub(crate) const EVIDENCE: [(&str, &str); 9] = [
    ("startup", "Startup"),
    ("memory", "Memory"),
    ("cpu", "CPU"),
    ("latency", "Latency"),
    ("throughput", "Throughput"),
    ("artifacts", "Artifacts"),
    ("containers", "Containers"),
    ("faults", "Faults"),
    ("experiments", "Experiments"),
];

/// "9 supported, 1 contradicted, 2 mixed, 1 undecided, 3 not measured", counted by
/// plain outcome so
/// that they add up to the number of claims, and how many of those verdicts were
/// reached on emulated VMs only ("of which 3 on emulated VMs only"), if any.
pub(crate) fn counts(rows: &[ClaimRow]) -> (String, Option<String>) {
    let count = |f: fn(&Verdict) -> bool| rows.iter().filter(|c| f(&c.verdict)).count();
    let undecided = count(|v| matches!(v, Verdict::Undecided(_)));
    let plain = format!(
        "{} supported, {} contradicted, {} mixed, {}{} not measured",
        count(|v| v.plain() == Verdict::Supported),
        count(|v| v.plain() == Verdict::Contradicted),
        count(|v| v.plain() == Verdict::Mixed),
        if undecided > 0 {
            format!("{undecided} undecided, ")
        } else {
            String::new()
        },
        count(|v| matches!(v, Verdict::NotMeasured(_)))
    );
    let emulated = count(Verdict::is_emulated_only);
    (
        plain,
        (emulated > 0).then(|| format!("of which {emulated} on emulated VMs only")),
    )
}

pub(crate) fn badge(v: &Verdict) -> String {
    let label = match v {
        Verdict::NotMeasured(_) => "not measured".to_string(),
        v => v.label(),
    };
    format!(
        "<span class=\"verdict {}\">{}</span>",
        v.class(),
        esc(&label)
    )
}

/// The verdict on the first screen: as `badge`, but an emulated-only state reads
/// "supported, emulated" (striped like everywhere else, its full label as the tooltip)
/// so that the column stays narrow enough for each claim to fit on one line.
pub(crate) fn glance_badge(v: &Verdict) -> String {
    if !v.is_emulated_only() {
        return badge(v);
    }
    format!(
        "<span class=\"verdict {}\" title=\"{}: judged on VMs emulated by QEMU TCG, no hardware-assisted VM had the figure\">{}, emulated</span>",
        v.class(),
        esc(&v.label()),
        esc(&v.plain().label())
    )
}

/// The first screen: every claim in one line, its verdict, the figure that decides it,
/// and links to its evidence and to its full text. The reason the report exists, so it
/// comes before everything else.
pub(crate) fn glance(out: &mut String, rows: &[ClaimRow]) {
    let (plain, emulated) = counts(rows);
    let emulated = emulated
        .map(|e| format!(" <span class=\"emu\">({}, striped)</span>", esc(&e)))
        .unwrap_or_default();
    let _ = writeln!(
        out,
        "<section id=\"glance\"><h2>The lab report's {} claims on this host: {}{emulated}</h2>",
        rows.len(),
        esc(&plain)
    );
    out.push_str("<table class=\"glance\"><thead><tr><th>ID</th><th>Claim <span class=\"muted no-print\">(full text: click the ID)</span></th><th>Verdict</th><th>Deciding figure</th><th>Evidence</th></tr></thead><tbody>\n");
    for c in rows {
        let (figure, title) = match &c.verdict {
            Verdict::NotMeasured(why) => (
                format!("<span class=\"nm\">{}</span>", esc(&c.headline)),
                why.as_str(),
            ),
            Verdict::Undecided(why) => (
                format!(
                    "{} <span class=\"ci no-print\">(undecided at this n)</span>",
                    esc(&c.headline)
                ),
                why.as_str(),
            ),
            _ if !c.confidence.is_empty() => (esc(&c.headline), c.confidence.as_str()),
            _ => (esc(&c.headline), c.because.as_str()),
        };
        let section = EVIDENCE
            .iter()
            .find(|(id, _)| *id == c.evidence)
            .map_or("the figures", |(_, name)| name);
        let _ = writeln!(
            out,
            "<tr id=\"claim-{id}\"><td class=\"id\"><a href=\"#claim-{id}-full\">{id}</a></td><td class=\"one\" title=\"{claim}\">{short}</td><td class=\"v\">{badge}</td><td title=\"{title}\">{figure}</td><td class=\"ev\"><a href=\"#{evidence}\">{section}</a></td></tr>",
            id = esc(c.id),
            claim = esc(c.claim),
            short = esc(c.short),
            badge = glance_badge(&c.verdict),
            title = esc(title),
            evidence = esc(c.evidence),
            section = esc(section),
        );
    }
    out.push_str("</tbody></table>\n</section>\n");
}

/// Every claim in full, folded one per claim: the French original, the figures on this
/// host, the verdict with its reason, and the rule that gave it.
pub(crate) fn claims_in_full(out: &mut String, rows: &[ClaimRow]) {
    section(
        out,
        "claims",
        "The lab report's claims in full, with a number beside each",
    );
    let _ = writeln!(
        out,
        "<p>Each claim of the student lab report (in French, quoted under the English line) is judged by a rule written in code, stated under the verdict. On this host: {}. Open a claim for its figures.</p>",
        esc(&match counts(rows) {
            (plain, Some(emulated)) => format!("{plain} ({emulated})"),
            (plain, None) => plain,
        })
    );
    for c in rows {
        // One line per platform, its figures joined, in order of first appearance.
        let mut grouped: Vec<(&str, Vec<String>)> = Vec::new();
        for f in &c.figures {
            match grouped.iter_mut().find(|(p, _)| *p == f.platform) {
                Some((_, texts)) => texts.push(esc(&f.text)),
                None => grouped.push((&f.platform, vec![esc(&f.text)])),
            }
        }
        let figures = if grouped.is_empty() {
            format!("<p>{NOT_MEASURED}</p>")
        } else {
            let items: Vec<String> = grouped
                .iter()
                .map(|(p, texts)| {
                    format!(
                        "<li><strong>{}</strong>: {}</li>",
                        esc(p),
                        texts.join(" · ")
                    )
                })
                .collect();
            format!("<ul>{}</ul>", items.join(""))
        };
        let mut refs = String::new();
        for rf in &c.references {
            let _ = write!(
                refs,
                "<div class=\"ref\">Elsewhere: {} <span class=\"muted\">({})</span></div>",
                esc(rf.figure),
                esc(rf.cite)
            );
        }
        let note = c
            .note
            .map(|n| format!("<div class=\"ref\">Note: {}</div>", esc(n)))
            .unwrap_or_default();
        let because = match &c.verdict {
            Verdict::NotMeasured(why) => format!("not measured here: {}", esc(why)),
            Verdict::Undecided(why) => format!(
                "at this number of repetitions the interval of {}. Figures: {}",
                esc(why),
                esc(&c.because)
            ),
            _ if c.because.is_empty() => String::new(),
            _ => esc(&c.because),
        };
        let confidence = if c.confidence.is_empty() {
            String::new()
        } else {
            format!(
                "<div class=\"ci\">Interval (95 %, bootstrap over the repetitions): {}</div>",
                esc(&c.confidence)
            )
        };
        let thresholds: String = c
            .thresholds
            .iter()
            .map(|t| {
                format!(
                    "<li>{}: {} <span class=\"muted\">({}: {})</span></li>",
                    esc(t.figure),
                    esc(&t.condition),
                    esc(t.basis),
                    esc(t.reason)
                )
            })
            .collect();
        let _ = writeln!(
            out,
            "<details class=\"claim\" id=\"claim-{id}-full\"><summary><span class=\"id\">{id}</span><span>{badge}</span><span>{claim}</span></summary><div class=\"why\"><blockquote class=\"fr\" lang=\"fr\">{fr}</blockquote><div class=\"muted\">Lab report §{section}</div><p>{badge} {because}</p>{confidence}<div class=\"rule text\">Rule: {rule}</div><div class=\"rule\">Thresholds:</div><ul class=\"thresholds\">{thresholds}</ul><div class=\"figs\"><p><strong>Figures on this host</strong> (<a href=\"#{evidence}\">evidence</a>)</p>{figures}</div>{refs}{note}</div></details>",
            id = esc(c.id),
            claim = esc(c.claim),
            badge = badge(&c.verdict),
            fr = esc(c.french),
            section = esc(c.section),
            rule = esc(c.rule),
            evidence = esc(c.evidence),
        );
    }
    out.push_str("</section>\n");
}

pub(crate) fn references(out: &mut String) {
    section(out, "references", "Figures from elsewhere");
    let _ = writeln!(
        out,
        "<ul class=\"refs\"><li>{}: Docker's NAT roughly doubles round-trip latency in netperf request/response; KVM adds about 30 µs per transaction; Docker equals or beats KVM almost everywhere.</li><li>{}: about 125 ms from start to guest init, and at most 5 MiB of VMM memory overhead per microVM.</li></ul>",
        esc(claims::FELTER),
        esc(claims::FIRECRACKER)
    );
    out.push_str("<p class=\"muted\">These are other hosts and other workloads: they frame our figures, they do not replace them.</p>\n</section>\n");
}
