//! The lab report's claims (../shared/CLAIMS.md, C1-C15) and the rules that give each a
//! verdict from the run's figures.
//!
//! The claims are a table (`catalogue.rs`): one entry per claim with its text, its French
//! original, the rule in words, the results fields and `extras` it reads, and a judge
//! function. A judge (`figures.rs`) gathers the figures of a run and hands plain numbers
//! to a pure rule (`rules.rs`, unit-tested) whose threshold is the one the entry states,
//! and which also names its deciding figure in a few words (`headline`) for the report's
//! first screen, where the entry's `short` text and `evidence` section stand beside it.
//! Adding a claim is adding one entry and its judge. `evaluate` runs the table.
//!
//! A verdict reached on emulated VMs only (QEMU TCG, decided from the accelerator each
//! result records) is a state of its own, "…, emulated VM only", so that no emulated
//! figure is quoted as a hardware-virtualization one.

use serde::Serialize;

mod catalogue;
mod context;
mod figures;
mod rules;
#[cfg(test)]
mod tests;

pub use rules::{
    rule_c1, rule_c10, rule_c11, rule_c12, rule_c13, rule_c14, rule_c15, rule_c2, rule_c3, rule_c4,
    rule_c5, rule_c6, rule_c7, rule_c8, rule_c9, Band, Exposure, Forward, Health, Named, Samples,
    C4_STARTUP,
};

use crate::results::RunResults;

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "verdict", content = "reason", rename_all = "snake_case")]
pub enum Verdict {
    Supported,
    Contradicted,
    Mixed,
    /// Not measured here, with the reason (missing platform, experiment not run...).
    NotMeasured(String),
    /// Supported, but only emulated VMs (QEMU TCG) stood for the VM side.
    SupportedEmulatedOnly,
    /// Contradicted, on emulated VMs only.
    ContradictedEmulatedOnly,
    /// Mixed, on emulated VMs only.
    MixedEmulatedOnly,
    /// The deciding figure's interval spans the rule's threshold: at this number of
    /// repetitions the run cannot tell (not "mixed", which says platforms disagree).
    /// The reason names the figure, its interval and n.
    Undecided(String),
}

impl Verdict {
    pub fn label(&self) -> String {
        match self {
            Verdict::Supported => "supported".into(),
            Verdict::Contradicted => "contradicted".into(),
            Verdict::Mixed => "mixed".into(),
            Verdict::NotMeasured(why) => format!("not measured here: {why}"),
            Verdict::SupportedEmulatedOnly => "supported, emulated VM only".into(),
            Verdict::ContradictedEmulatedOnly => "contradicted, emulated VM only".into(),
            Verdict::MixedEmulatedOnly => "mixed, emulated VM only".into(),
            Verdict::Undecided(_) => "undecided".into(),
        }
    }

    /// Class names for styling: the plain verdict's, plus `emulated-only` for the
    /// emulated states (so they keep their colour and gain a mark of their own).
    pub fn class(&self) -> &'static str {
        match self {
            Verdict::Supported => "supported",
            Verdict::Contradicted => "contradicted",
            Verdict::Mixed => "mixed",
            Verdict::NotMeasured(_) => "not-measured",
            Verdict::SupportedEmulatedOnly => "supported emulated-only",
            Verdict::ContradictedEmulatedOnly => "contradicted emulated-only",
            Verdict::MixedEmulatedOnly => "mixed emulated-only",
            Verdict::Undecided(_) => "undecided",
        }
    }

    /// The same verdict reached on emulated VMs only ("not measured" stays as it is).
    pub fn emulated_only(self) -> Verdict {
        match self {
            Verdict::Supported => Verdict::SupportedEmulatedOnly,
            Verdict::Contradicted => Verdict::ContradictedEmulatedOnly,
            Verdict::Mixed => Verdict::MixedEmulatedOnly,
            v => v,
        }
    }

    /// True for the "…, emulated VM only" states.
    pub fn is_emulated_only(&self) -> bool {
        matches!(
            self,
            Verdict::SupportedEmulatedOnly
                | Verdict::ContradictedEmulatedOnly
                | Verdict::MixedEmulatedOnly
        )
    }

    /// The verdict without its emulated-only qualifier, for counting by outcome.
    pub fn plain(&self) -> Verdict {
        match self {
            Verdict::SupportedEmulatedOnly => Verdict::Supported,
            Verdict::ContradictedEmulatedOnly => Verdict::Contradicted,
            Verdict::MixedEmulatedOnly => Verdict::Mixed,
            v => v.clone(),
        }
    }
}

/// A verdict, the deciding figure in a few words, and the one line of figures that
/// produced it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Outcome {
    pub verdict: Verdict,
    pub headline: String,
    pub because: String,
    /// The deciding figure(s) with their 95 % interval and n, against the threshold
    /// ("qemu q35 7.80x [6.90-9.10], n=5; supported at >= 5x"); empty when the rule
    /// counts outcomes rather than estimating a ratio.
    pub confidence: String,
}

/// A figure from elsewhere, printed beside ours with its source.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Reference {
    pub figure: &'static str,
    /// Short citation for tables, e.g. "Felter et al., ISPASS 2015".
    pub cite: &'static str,
    /// Full citation.
    pub source: &'static str,
}

pub const FELTER: &str = "W. Felter, A. Ferreira, R. Rajamony, J. Rubio, \"An Updated Performance \
     Comparison of Virtual Machines and Linux Containers\", IBM Research, IEEE ISPASS 2015";
pub const FIRECRACKER: &str = "Firecracker microVM specification (SPECIFICATION.md of the \
     firecracker-microvm project)";

/// A figure that decides a claim, for one platform.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Figure {
    /// Platform label as displayed (accelerator included for VMs).
    pub platform: String,
    pub text: String,
}

/// One row of the claims table.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ClaimRow {
    pub id: &'static str,
    /// Where in the lab report the claim is made.
    pub section: &'static str,
    /// The claim in one English line.
    pub claim: &'static str,
    /// The claim in a few words, for the report's first screen.
    pub short: &'static str,
    /// Id of the report section whose figures decide the claim.
    pub evidence: &'static str,
    /// The original French sentence(s) of the lab report.
    pub french: &'static str,
    /// The rule and its threshold, in words.
    pub rule: &'static str,
    /// Each threshold the rule applies, where it comes from and why.
    pub thresholds: Vec<ThresholdRow>,
    /// The deciding figure(s) with their interval and n (empty for counting rules).
    pub confidence: String,
    pub figures: Vec<Figure>,
    pub verdict: Verdict,
    /// The figures behind the verdict in one line (empty when not measured).
    pub because: String,
    /// The deciding figure in a few words (or, when not measured, the reason without
    /// its parenthesised details), for the report's first screen.
    pub headline: String,
    pub references: Vec<Reference>,
    pub note: Option<&'static str>,
    /// What the verdict is computed from, as named in docs/results-schema.md: results
    /// fields, then `extras` series, then `details` / `variant` keys.
    pub reads: Vec<&'static str>,
}

/// One threshold of a claim's rule, as the report prints it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ThresholdRow {
    /// The figure it applies to.
    pub figure: &'static str,
    /// "supported at >= 5x, contradicted at <= 1x", or the condition in words.
    pub condition: String,
    pub reason: &'static str,
    /// "the claim's words" or "a choice".
    pub basis: &'static str,
}

/// The claims whose verdict reads `field` of the results (a `PlatformResult` field),
/// in ID order: what a figure "bears on", for the classroom demo's table.
pub fn reading(field: &str) -> Vec<&'static str> {
    catalogue::CLAIMS
        .iter()
        .filter(|c| c.fields.contains(&field))
        .map(|c| c.id)
        .collect()
}

/// Judge every claim of the catalogue against the run: one row per claim, in ID order.
pub fn evaluate(r: &RunResults) -> Vec<ClaimRow> {
    let run = context::Run::new(r);
    catalogue::CLAIMS
        .iter()
        .map(|c| {
            let (figures, out) = (c.judge)(&run);
            ClaimRow {
                id: c.id,
                section: c.section,
                claim: c.claim,
                short: c.short,
                evidence: c.evidence,
                french: c.french,
                rule: c.rule,
                thresholds: c
                    .thresholds
                    .iter()
                    .map(|t| ThresholdRow {
                        figure: t.figure,
                        condition: t.condition(),
                        reason: t.reason,
                        basis: t.basis.label(),
                    })
                    .collect(),
                confidence: out.confidence,
                figures,
                verdict: out.verdict,
                because: out.because,
                headline: out.headline,
                references: c.references.to_vec(),
                note: c.note,
                reads: c
                    .fields
                    .iter()
                    .chain(c.extras)
                    .chain(c.facts)
                    .copied()
                    .collect(),
            }
        })
        .collect()
}
