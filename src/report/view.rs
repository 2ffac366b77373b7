//! How a platform result is classified, named, coloured and formatted in every report
//! (HTML, charts, claims, CSV), so that a platform looks the same everywhere.

use crate::results::facts::{Hypervisor, Isolation};
use crate::results::{ArtifactRecord, PlatformResult, RunResults};
use crate::stats::{fmt_num, Series};

/// What kind of isolation a platform gives; claims compare VMs against containers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Host processes: the baseline every ratio is taken against.
    Native,
    Container,
    Vm,
    Other,
}

/// The kind the platform stated of itself when measured ([`PlatformResult::facts`]);
/// `Other` when the file records none and the name is unknown.
pub fn kind(p: &PlatformResult) -> Kind {
    match p.facts().map(|f| f.isolation) {
        Some(Isolation::Process) => Kind::Native,
        Some(Isolation::Container) => Kind::Container,
        Some(Isolation::Vm) => Kind::Vm,
        None => Kind::Other,
    }
}

/// What runs a VM platform's VMs, as the platform states it.
pub fn hypervisor(p: &PlatformResult) -> Option<Hypervisor> {
    p.facts().and_then(|f| f.hypervisor)
}

/// The accelerator a VM ran under ("kvm", "tcg", ...), from `details` or `variant`.
pub fn accelerator(p: &PlatformResult) -> Option<&str> {
    p.details
        .get("accelerator")
        .or_else(|| p.variant.get("accelerator"))
        .map(|s| s.as_str())
}

/// True when the VM was emulated (QEMU TCG): its figures are not hardware-virtualization
/// figures and every view says so.
pub fn is_tcg(p: &PlatformResult) -> bool {
    accelerator(p).is_some_and(|a| a.eq_ignore_ascii_case("tcg"))
}

/// The label shown everywhere: the run's label plus the accelerator of a VM, so that a
/// TCG figure is never read as a KVM one.
pub fn display(p: &PlatformResult) -> String {
    match accelerator(p) {
        Some(a) if kind(p) == Kind::Vm && !p.label.to_lowercase().contains(&a.to_lowercase()) => {
            format!("{} [{}]", p.label, a.to_uppercase())
        }
        _ => p.label.clone(),
    }
}

/// Network mode of a variant ("bridge", "host", "nat", ...), if the run recorded one.
pub fn network(p: &PlatformResult) -> Option<&str> {
    p.variant.get("network").map(|s| s.as_str())
}

/// Platforms that produced figures (available), in run order.
pub fn measured(r: &RunResults) -> impl Iterator<Item = &PlatformResult> {
    r.platforms.iter().filter(|p| p.available)
}

/// One file or image as a platform's variants share it: variants of one platform
/// usually run from the same binary and image, so each is listed once, with the variants
/// that use it, rather than once per variant.
#[derive(Debug, Clone, PartialEq)]
pub struct SharedArtifact<'a> {
    /// Platform name ("docker", "qemu").
    pub platform: &'a str,
    pub artifact: &'a ArtifactRecord,
    /// The variants that run from it, in run order.
    pub variants: Vec<&'a PlatformResult>,
    /// Distinct build times the variants reported (empty when every one used the cache).
    pub builds_ms: Vec<f64>,
    /// True when every measured variant of the platform runs from it.
    pub everywhere: bool,
}

/// Artifacts of the measured platforms, identical ones (same name, size and path)
/// merged per platform, in run order.
pub fn shared_artifacts(r: &RunResults) -> Vec<SharedArtifact<'_>> {
    let mut out: Vec<SharedArtifact> = Vec::new();
    for p in measured(r) {
        for a in &p.artifacts {
            let same = |s: &&mut SharedArtifact| {
                s.platform == p.name
                    && s.artifact.name == a.name
                    && s.artifact.bytes == a.bytes
                    && s.artifact.path == a.path
            };
            match out.iter_mut().find(|s| same(s)) {
                Some(s) => {
                    if !s.variants.iter().any(|v| v.label == p.label) {
                        s.variants.push(p);
                    }
                    // Variants that share one build each report it: count it once.
                    if let Some(ms) = a.build_ms.filter(|ms| !s.builds_ms.contains(ms)) {
                        s.builds_ms.push(ms);
                    }
                }
                None => out.push(SharedArtifact {
                    platform: &p.name,
                    artifact: a,
                    variants: vec![p],
                    builds_ms: a.build_ms.into_iter().collect(),
                    everywhere: false,
                }),
            }
        }
    }
    for s in &mut out {
        let all = measured(r).filter(|p| p.name == s.platform).count();
        s.everywhere = s.variants.len() == all;
    }
    // A platform's files together even when its variants were interleaved with others.
    let first = |name: &str| measured(r).position(|p| p.name == name);
    out.sort_by_key(|s| first(s.platform));
    out
}

/// Colour families by the platform's recorded place in the runner's list (native,
/// docker, podman, lxc, qemu, virtualbox, openstack when recorded); variants of one platform take successive shades, so a reader
/// sees "all blues are Docker" in every chart. A platform added to the list without a
/// family of its own is grey.
const FAMILIES: [&[(u8, u8, u8)]; 7] = [
    &[(0x3b, 0x8c, 0x3a), (0x8c, 0xd1, 0x7d), (0x1f, 0x5e, 0x20)],
    &[
        (0x2f, 0x6d, 0xb5),
        (0x45, 0xa5, 0xc4),
        (0x7f, 0x9f, 0xe0),
        (0x1b, 0x3f, 0x7a),
    ],
    // The other container engines: near docker's blues, told apart by hue.
    &[(0x1a, 0x9e, 0x8f), (0x6c, 0xcf, 0xc0)],
    &[(0x6a, 0x5a, 0xcd), (0xa8, 0x9c, 0xea)],
    &[
        (0xe0, 0x6c, 0x00),
        (0xc4, 0x3b, 0x3b),
        (0xf0, 0xa0, 0x40),
        (0x8c, 0x2d, 0x04),
    ],
    &[(0x8e, 0x5a, 0xa8), (0xc3, 0x8e, 0xd0)],
    &[(0x8b, 0x5e, 0x3c), (0xc4, 0x9a, 0x6c)],
];

fn family(p: &PlatformResult) -> &'static [(u8, u8, u8)] {
    p.facts()
        .and_then(|f| FAMILIES.get(usize::from(f.order)).copied())
        .unwrap_or(&[(0x70, 0x70, 0x70), (0xa0, 0xa0, 0xa0)])
}

/// Colour of one platform label in this run (stable for a given results file).
pub fn colour(r: &RunResults, label: &str) -> (u8, u8, u8) {
    let Some(p) = r.platforms.iter().find(|p| p.label == label) else {
        return (0x70, 0x70, 0x70);
    };
    let index = r
        .platforms
        .iter()
        .filter(|q| q.name == p.name)
        .position(|q| q.label == label)
        .unwrap_or(0);
    let fam = family(p);
    fam[index % fam.len()]
}

pub fn css_colour(c: (u8, u8, u8)) -> String {
    format!("#{:02x}{:02x}{:02x}", c.0, c.1, c.2)
}

/// Escape text for HTML element content and attribute values.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

pub const MIB: f64 = 1024.0 * 1024.0;

pub fn fmt_bytes(b: f64) -> String {
    if b >= 1024.0 * MIB {
        format!("{} GiB", fmt_num(b / 1024.0 / MIB))
    } else if b >= MIB {
        format!("{} MiB", fmt_num(b / MIB))
    } else if b >= 1024.0 {
        format!("{} KiB", fmt_num(b / 1024.0))
    } else {
        format!("{} B", fmt_num(b))
    }
}

pub fn fmt_ms(ms: f64) -> String {
    if ms >= 1000.0 {
        format!("{} s", fmt_num(ms / 1000.0))
    } else {
        format!("{} ms", fmt_num(ms))
    }
}

pub fn fmt_us(us: f64) -> String {
    if us >= 1000.0 {
        fmt_ms(us / 1000.0)
    } else {
        format!("{} µs", fmt_num(us))
    }
}

/// A request rate: "50", "12.5" (rates are usually whole numbers).
pub fn fmt_rate(rps: f64) -> String {
    if rps.fract() == 0.0 && rps.abs() < 1e15 {
        format!("{}", rps as i64)
    } else {
        fmt_num(rps)
    }
}

/// "3.2x": a ratio for sentences and tables.
pub fn fmt_ratio(x: f64) -> String {
    if x.is_finite() {
        format!("{}x", fmt_num(x))
    } else {
        // Callers divide only by figures above their resolution; should one slip
        // through, say so rather than print an infinity.
        "no ratio (the reference is below its resolution)".into()
    }
}

/// A resolution in seconds, readable: "1 ns", "1 µs", "10 ms".
pub fn fmt_resolution(s: f64) -> String {
    if s < 1e-6 {
        format!("{} ns", fmt_num(s * 1e9))
    } else if s < 1e-3 {
        format!("{} µs", fmt_num(s * 1e6))
    } else {
        format!("{} ms", fmt_num(s * 1e3))
    }
}

/// Idle CPU seconds as a figure: "0.0123 s", or "< 10 ms (resolution)" when the
/// method could not tell it from zero.
pub fn fmt_idle_cpu(c: &crate::results::CpuIdle) -> String {
    match c.measured_seconds() {
        Some(v) => format!("{} s", fmt_num(v)),
        None => format!(
            "< {} (the method's resolution)",
            fmt_resolution(c.resolution())
        ),
    }
}

/// Divisor and unit label that print `v` (in `unit`) in a readable scale.
fn scale(unit: &str, v: f64) -> (f64, String) {
    let v = v.abs();
    match unit {
        "bytes" | "B" if v >= 1024.0 * MIB => (1024.0 * MIB, " GiB".into()),
        "bytes" | "B" if v >= MIB => (MIB, " MiB".into()),
        "bytes" | "B" if v >= 1024.0 => (1024.0, " KiB".into()),
        "bytes" | "B" => (1.0, " B".into()),
        "ms" if v >= 1000.0 => (1000.0, " s".into()),
        "us" | "µs" if v >= 1e6 => (1e6, " s".into()),
        "us" | "µs" if v >= 1000.0 => (1000.0, " ms".into()),
        "us" | "µs" => (1.0, " µs".into()),
        "rps" => (1.0, " req/s".into()),
        "count" | "" => (1.0, String::new()),
        u => (1.0, format!(" {u}")),
    }
}

/// Whole numbers without decimals, others with three significant digits.
fn num(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e12 {
        format!("{}", v as i64)
    } else {
        fmt_num(v)
    }
}

/// A series in human units with count and spread: "19.3 MiB (n=20, IQR 19.1–19.5)".
/// `bool` series (1 = yes) read "yes"/"no".
pub fn describe(s: &Series) -> String {
    let m = &s.summary;
    if m.n == 0 {
        return "no samples (the measurement failed)".into();
    }
    if s.unit == "bool" {
        let yes = |v: f64| if v >= 0.5 { "yes" } else { "no" };
        return if m.min == m.max {
            format!("{} (n={})", yes(m.median), m.n)
        } else {
            format!(
                "{} of {} samples yes",
                s.samples.iter().filter(|v| **v >= 0.5).count(),
                m.n
            )
        };
    }
    let (div, unit) = scale(&s.unit, m.median);
    let f = |v: f64| num(v / div);
    if m.n == 1 {
        format!("{}{unit} (n=1)", f(m.median))
    } else {
        format!(
            "{}{unit} (n={}, IQR {}–{})",
            f(m.median),
            m.n,
            f(m.p25),
            f(m.p75)
        )
    }
}

/// Startup phases in the order they happen. `startup_phases_ms` is a map (sorted by
/// name), so order comes from a numeric prefix ("1_provision") when the platform gives
/// one, else from the usual names (create/spawn before boot/start before ready).
pub fn ordered_phases(p: &PlatformResult) -> Vec<(&String, &Series)> {
    fn rank(key: &str) -> (u32, u32) {
        if let Some((n, _)) = key.split_once('_') {
            if let Ok(n) = n.parse::<u32>() {
                return (0, n);
            }
        }
        const ORDER: [&str; 12] = [
            "artifact",
            "provision",
            "build",
            "pull",
            "create",
            "deploy",
            "spawn",
            "start",
            "boot",
            "init",
            "ready",
            "app_ready",
        ];
        let k = key.to_ascii_lowercase();
        // Unknown names sit between the known start-up and ready phases.
        let r = ORDER
            .iter()
            .position(|o| *o == k)
            .map_or(9, |i| if i >= 10 { i + 1 } else { i });
        (1, r as u32)
    }
    let mut v: Vec<(&String, &Series)> = p.startup_phases_ms.iter().collect();
    v.sort_by_key(|(k, _)| rank(k));
    v
}

/// The median of a series that has samples.
pub fn median(s: &Option<Series>) -> Option<f64> {
    s.as_ref()
        .filter(|s| s.summary.n > 0)
        .map(|s| s.summary.median)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tcg_vm_is_labelled_visibly() {
        let mut p = PlatformResult::unavailable("qemu", "x");
        p.label = "qemu/per-role/kernel".into();
        p.details.insert("accelerator".into(), "tcg".into());
        assert_eq!(display(&p), "qemu/per-role/kernel [TCG]");
        assert!(is_tcg(&p));
        p.label = "qemu/tcg".into();
        assert_eq!(display(&p), "qemu/tcg");
    }

    #[test]
    fn escape_covers_markup_and_quotes() {
        assert_eq!(
            esc(r#"<a href="x">'&'</a>"#),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
    }

    #[test]
    fn phases_in_the_order_they_happen() {
        let mut p = PlatformResult::unavailable("native", "x");
        for k in ["ready", "spawn", "boot"] {
            p.startup_phases_ms
                .insert(k.into(), Series::new("ms", vec![1.0]));
        }
        let order: Vec<&str> = ordered_phases(&p).iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(order, ["spawn", "boot", "ready"]);
        p.startup_phases_ms.clear();
        for k in ["2_ready", "10_late", "1_zzz"] {
            p.startup_phases_ms
                .insert(k.into(), Series::new("ms", vec![1.0]));
        }
        let order: Vec<&str> = ordered_phases(&p).iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(order, ["1_zzz", "2_ready", "10_late"]);
    }

    #[test]
    fn artifacts_shared_by_variants_are_listed_once() {
        let art = |name: &str, bytes: u64, build_ms: Option<f64>| ArtifactRecord {
            name: name.into(),
            bytes,
            build_ms,
            cached: build_ms.is_none(),
            path: Some(format!("/x/{name}")),
        };
        let variant = |label: &str, arts: Vec<ArtifactRecord>| PlatformResult {
            name: label.split('/').next().unwrap_or_default().into(),
            label: label.into(),
            available: true,
            artifacts: arts,
            ..Default::default()
        };
        let fixture = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/results.json");
        let mut r: RunResults =
            serde_json::from_str(&std::fs::read_to_string(fixture).unwrap()).unwrap();
        r.platforms = vec![
            variant("docker/bridge", vec![art("image", 10, Some(900.0))]),
            variant("docker/host", vec![art("image", 10, Some(900.0))]),
            variant(
                "qemu/a",
                vec![art("image", 10, Some(5.0)), art("disk", 30, Some(7.0))],
            ),
            variant("qemu/b", vec![art("disk", 40, Some(8.0))]),
        ];
        let shared = shared_artifacts(&r);
        let rows: Vec<(&str, &str, usize, bool)> = shared
            .iter()
            .map(|s| {
                (
                    s.platform,
                    s.artifact.name.as_str(),
                    s.variants.len(),
                    s.everywhere,
                )
            })
            .collect();
        // Same file on two docker variants: once. Same name, other size: apart. Same
        // file on another platform: once more, under that platform.
        assert_eq!(
            rows,
            [
                ("docker", "image", 2, true),
                ("qemu", "image", 1, false),
                ("qemu", "disk", 1, false),
                ("qemu", "disk", 1, false)
            ]
        );
        assert_eq!(shared[0].builds_ms, [900.0]);
    }

    #[test]
    fn human_units() {
        assert_eq!(fmt_bytes(2.0 * MIB), "2.00 MiB");
        assert_eq!(fmt_ms(5400.0), "5.40 s");
        assert_eq!(fmt_us(450.0), "450 µs");
    }
}
