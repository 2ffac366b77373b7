//! The results model: what a run measured, serialised as `results.json` (documented in
//! docs/results-schema.md). Every platform entry is present, available or not, so a
//! report always says why a column is empty.

pub mod facts;
pub mod keys;
pub mod legacy;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::stats::Series;

/// Bumped whenever a field changes meaning or is removed (adding optional fields is not
/// a bump).
pub const SCHEMA_VERSION: u32 = 1;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunResults {
    pub schema_version: u32,
    pub run_id: String,
    /// `git describe --always --dirty` of the harness, or "unknown".
    pub git_revision: String,
    /// RFC 3339, UTC.
    pub started_at: String,
    pub finished_at: String,
    pub wall_time_s: f64,
    /// `wall_time_s` split by what it was spent on; absent in files written before the
    /// split was recorded.
    #[serde(default)]
    pub wall_split: Option<WallSplit>,
    /// The run was stopped by SIGINT/SIGTERM: what it holds is what was measured
    /// before; platforms not reached say so. False in files written before.
    #[serde(default)]
    pub interrupted: bool,
    pub host: HostInfo,
    pub scenario: ScenarioRecord,
    pub platforms: Vec<PlatformResult>,
}

/// Where the run's wall time went, seconds. The parts do not overlap and add up to
/// `wall_time_s`: `harness_s` is what is left once the others are taken out.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct WallSplit {
    /// Artifact builds or cache checks (`prepare`, per platform).
    pub builds_s: f64,
    /// Fresh deployments up to their first correct answer (the startup samples).
    pub startup_s: f64,
    /// Idle resource windows.
    pub idle_s: f64,
    /// Open-loop latency windows and closed-loop throughput runs.
    pub load_s: f64,
    /// Platform-specific experiments.
    pub extras_s: f64,
    /// Teardowns and the end-of-platform cleanup.
    pub teardown_s: f64,
    /// The rest: probing platforms, sampling, bookkeeping (the harness's own time).
    pub harness_s: f64,
}

impl WallSplit {
    /// The sum of the parts: the wall time the split was taken from.
    pub fn wall_s(&self) -> f64 {
        self.builds_s
            + self.startup_s
            + self.idle_s
            + self.load_s
            + self.extras_s
            + self.teardown_s
            + self.harness_s
    }

    /// The harness's own share of the wall, 0..1 (0 for an empty wall).
    pub fn harness_share(&self) -> f64 {
        let wall = self.wall_s();
        if wall > 0.0 {
            self.harness_s / wall
        } else {
            0.0
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HostInfo {
    pub hostname: String,
    pub cpu_model: String,
    pub cores: usize,
    pub memory_bytes: u64,
    pub kernel: String,
    pub os: String,
    pub virtbench_version: String,
    /// Versions of the tools the platforms used (docker engine, qemu, ...).
    #[serde(default)]
    pub tools: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScenarioRecord {
    pub name: String,
    /// Path the scenario was read from.
    pub path: String,
    /// The scenario file's full text, so a report says exactly what was run.
    pub text: String,
}

/// How a platform, variant or experiment that the user running virtbench may not run
/// starts its reason (see [`PlatformResult::needs_root`]).
pub const NEEDS_ROOT: &str = "needs root";

/// One platform (in one variant: network mode, topology, boot path) of one run.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PlatformResult {
    /// Platform name: native, docker, qemu, virtualbox, openstack.
    pub name: String,
    /// Unique label within the run, e.g. "docker/bridge" or "qemu/per-role/kernel".
    pub label: String,
    /// Settings that distinguish this variant (network, topology, boot, accelerator).
    #[serde(default)]
    pub variant: BTreeMap<String, String>,
    pub available: bool,
    pub unavailable_reason: Option<String>,
    /// Set when the platform was available but a measurement failed.
    #[serde(default)]
    pub error: Option<String>,
    /// Facts about the platform as run (engine version, accelerator, kernel used...).
    #[serde(default)]
    pub details: BTreeMap<String, String>,
    /// Artifacts built or reused for this platform (binary, image, disk).
    #[serde(default)]
    pub artifacts: Vec<ArtifactRecord>,
    /// Create call to first correct answer, one sample per fresh deployment.
    pub startup_ms: Option<Series>,
    /// Phases of startup, each a series over the same deployments.
    #[serde(default)]
    pub startup_phases_ms: BTreeMap<String, Series>,
    /// Host memory of the whole deployment (sum of RSS, or cgroup usage), sampled idle.
    pub memory_idle_bytes: Option<Series>,
    /// Same, proportional set size where the platform's processes expose it.
    #[serde(default)]
    pub memory_idle_pss_bytes: Option<Series>,
    /// Host memory sampled during the open-loop load.
    pub memory_load_bytes: Option<Series>,
    #[serde(default)]
    pub memory_load_pss_bytes: Option<Series>,
    pub cpu_idle_seconds: Option<CpuIdle>,
    /// Where the idle memory goes: the workload, the platform's cost per instance (both
    /// in `memory_idle_bytes`) and its fixed cost shared by every instance (not in it).
    #[serde(default)]
    pub memory_breakdown: Option<MemoryBreakdown>,
    /// Host CPU seconds per 1,000 requests sent, one sample per slice of each load window.
    pub cpu_seconds_per_1k_requests: Option<Series>,
    /// One entry per open-loop rate of the scenario.
    #[serde(default)]
    pub latency_us: Vec<LatencyResult>,
    pub max_throughput_rps: Option<ThroughputResult>,
    /// Platform-specific experiments (docker commit, VM clone, snapshot...), by name.
    #[serde(default)]
    pub extras: BTreeMap<String, Series>,
    /// The density sweep, on the variant it deployed (scenario `[density]`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub density: Option<DensitySweep>,
    /// What of this platform or variant the user who ran virtbench could not do without
    /// root, one line each (`<what>: needs root (<why>); fix: ...`): the whole variant
    /// (then `available` is false and nothing was measured) or experiments left out of
    /// it. Empty when run as root. The claims these would have decided stay undecided.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub needs_root: Vec<String>,
    /// Per measured figure, how many samples it took and what stopped it (keys:
    /// [`stop_key`]). Empty in files written before sequential stopping.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub stopping: BTreeMap<String, Stopping>,
    /// What the platform is, as it stated it when measured (the runner writes it from
    /// `Platform::facts`). Absent in files written before it existed: see
    /// [`PlatformResult::facts`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub facts: Option<facts::PlatformFacts>,
}

impl PlatformResult {
    /// The platform's facts: the recorded ones, or for a file written before they were
    /// recorded, those inferred from its name ([`legacy`]); `None` for a name of a file
    /// that records none and that this version never knew.
    pub fn facts(&self) -> Option<&facts::PlatformFacts> {
        self.facts.as_ref().or_else(|| legacy::of(&self.name))
    }
}

impl RunResults {
    /// Every platform the run knew (measured, unavailable or not selected: the runner
    /// lists them all) with its facts, in the runner's order: the recorded ones, or
    /// for a file that records none, the platforms of that time ([`legacy`]).
    pub fn known_platforms(&self) -> Vec<(&str, &facts::PlatformFacts)> {
        let mut out: Vec<(&str, &facts::PlatformFacts)> = Vec::new();
        if self.platforms.iter().all(|p| p.facts.is_none()) {
            return legacy::PLATFORMS.iter().map(|(n, f)| (*n, f)).collect();
        }
        for p in &self.platforms {
            if let Some(f) = p.facts() {
                if !out.iter().any(|(n, _)| *n == p.name) {
                    out.push((&p.name, f));
                }
            }
        }
        out.sort_by_key(|(_, f)| f.order);
        out
    }
}

/// Keys of [`PlatformResult::stopping`]: the figure's field in this file.
pub mod stop_key {
    pub const STARTUP: &str = "startup_ms";
    /// The idle window (memory and CPU together: one window gives both).
    pub const IDLE: &str = "idle";
    pub const THROUGHPUT: &str = "max_throughput_rps";

    /// One open-loop window: `latency_us@<rate>` (the rate as in `latency_us`).
    pub fn latency(rate_rps: f64) -> String {
        format!("latency_us@{rate_rps}")
    }
}

/// Why a figure stopped being repeated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StopReason {
    /// The interval of the deciding ratio lies wholly on one side of a rule's threshold.
    Decided,
    /// The figure's own spread came under the scenario's target.
    Spread,
    /// The budget (repetitions, seconds or window length) was spent first.
    Budget,
    /// Fixed-count mode: the scenario's count or window, whatever the spread.
    Fixed,
}

/// How one figure was stopped.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Stopping {
    /// Samples taken: deployments (startup), samples (idle), one-second slices
    /// (throughput) or chunks of the window (latency).
    pub n: usize,
    pub reason: StopReason,
    /// The 95 % bootstrap interval of the figure's median where the figure is a median
    /// of samples (startup, throughput); absent for windows.
    #[serde(default)]
    pub interval: Option<crate::stats::interval::Interval>,
    /// The relative spread the figure reached (same measure as `target`).
    #[serde(default)]
    pub spread: Option<f64>,
    /// The scenario's target spread (`stopping.target`).
    pub target: f64,
    /// Seconds spent on this figure.
    pub spent_s: f64,
    /// What was compared, in words ("p50 812/820 us, p99 1.9/2.0 ms between halves").
    #[serde(default)]
    pub detail: String,
}

/// N copies of one variant side by side, for growing N.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DensitySweep {
    /// What one copy is, e.g. "one VM (all five roles)" or "five processes".
    pub copy: String,
    /// `pss` or `rss`: what `memory_bytes` sums (PSS where the platform exposes it).
    pub memory_measure: String,
    /// The platform's fixed cost, run once for every copy (dockerd + containerd), not in
    /// the steps' figures; 0 with empty `counted` when there is none.
    pub fixed: MemoryPart,
    pub steps: Vec<DensityStep>,
    /// Why the sweep stopped before the scenario's last count, if it did.
    pub stopped: Option<String>,
}

/// One step of a density sweep.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DensityStep {
    /// Copies running.
    pub n: u32,
    /// Create call to first correct answer of each copy, started one after the other
    /// (copy i starts when copies 1..i-1 answer).
    pub startup_ms: Vec<f64>,
    /// Host memory of all copies, idle (fixed cost excluded).
    pub memory_bytes: u64,
    /// Open-loop latency of copy 1 while the other copies idle.
    pub latency: Option<LatencyResult>,
}

impl DensitySweep {
    /// What one more copy adds to the host's memory: the slope between the first and
    /// the last step (bytes per copy); `None` with fewer than two steps.
    pub fn marginal_bytes(&self) -> Option<f64> {
        let (a, b) = (self.steps.first()?, self.steps.last()?);
        (b.n > a.n).then(|| (b.memory_bytes as f64 - a.memory_bytes as f64) / (b.n - a.n) as f64)
    }
}

impl DensityStep {
    pub fn memory_per_copy_bytes(&self) -> f64 {
        self.memory_bytes as f64 / self.n.max(1) as f64
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ArtifactRecord {
    /// e.g. "calculator-binary", "docker-image", "disk-qcow2", "disk-vdi".
    pub name: String,
    pub bytes: u64,
    /// Build time; absent when the artifact came from the cache.
    pub build_ms: Option<f64>,
    pub cached: bool,
    #[serde(default)]
    pub path: Option<String>,
}

/// Host CPU spent while the deployment served nothing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CpuIdle {
    /// Length of the whole idle window, seconds.
    pub window_s: f64,
    /// CPU seconds over the whole window.
    pub total_seconds: f64,
    /// CPU seconds per slice of the window (spread), unit "s".
    pub per_slice: Series,
    pub slice_s: f64,
    /// The smallest CPU time the sampling method tells from zero, seconds (1e-9 for
    /// CPU clocks and cgroup v1, 1e-6 for cgroup v2). Absent in files written before it
    /// was recorded, whose process figures came in clock ticks: see [`CpuIdle::resolution`].
    #[serde(default)]
    pub resolution_s: Option<f64>,
    /// How long the deployment took to settle before the window opened.
    #[serde(default)]
    pub settle: Option<Settle>,
}

/// Resolution assumed for files that did not record one: one 10 ms clock tick.
pub const LEGACY_CPU_RESOLUTION_S: f64 = 0.01;

impl CpuIdle {
    pub fn resolution(&self) -> f64 {
        self.resolution_s.unwrap_or(LEGACY_CPU_RESOLUTION_S)
    }

    /// The idle CPU seconds, or `None` when below the method's resolution (then the
    /// figure is "< resolution" and nothing may be divided by it).
    pub fn measured_seconds(&self) -> Option<f64> {
        (self.total_seconds >= self.resolution() && self.total_seconds > 0.0)
            .then_some(self.total_seconds)
    }
}

/// Waiting for a deployment to settle after its first answer: host CPU sampled in
/// consecutive slices until enough of them in a row stay under a threshold, or a
/// maximum wait runs out (a VM still finishing its boot, a JIT warming up).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Settle {
    /// Time from the end of the startup measurement to the opening of the idle window.
    pub waited_s: f64,
    /// The maximum wait ran out: the window opened on a deployment still busy.
    pub timed_out: bool,
    pub slice_s: f64,
    /// A slice is quiet when the deployment used at most this share of one core.
    pub threshold_core_share: f64,
    /// Quiet slices in a row needed.
    pub quiet_slices: u32,
    pub max_wait_s: f64,
}

/// Host memory of a deployment split by what it is for, bytes, from one sample at
/// the end of the idle window. Memory is the same definition on every platform: what
/// is resident on the host (RSS of host processes; for a container, its cgroup usage
/// minus inactive file cache, as `docker stats` counts it).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MemoryBreakdown {
    /// The calculator's own share: its processes, its containers' cgroups, or the guest
    /// RAM a VM has touched (guest kernel + calculator).
    pub workload: MemoryPart,
    /// What the platform adds for each deployment: a VMM process minus its guest RAM,
    /// a containerd shim per container, the docker-proxy of a published port.
    pub per_instance: MemoryPart,
    /// What the platform runs once for every instance on the host (dockerd +
    /// containerd): shown on its own, never added into per-deployment figures or ratios.
    /// Empty `counted` means the platform has no such process.
    pub shared: MemoryPart,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MemoryPart {
    pub bytes: u64,
    /// What was counted, e.g. "calculator ×5", "containerd-shim-runc-v2 ×5".
    pub counted: Vec<String>,
}

/// Open-loop latency at one constant rate, from intended send time to full response.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LatencyResult {
    pub rate_rps: f64,
    pub duration_s: f64,
    /// Achieved completion rate.
    pub achieved_rps: f64,
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub p999: f64,
    pub max: f64,
    pub mean: f64,
    pub stddev: f64,
    /// Correct answers counted in the histogram.
    pub count: u64,
    /// Transport errors, timeouts and non-2xx statuses.
    pub errors: u64,
    /// 200 answers whose body was not the expected result.
    pub wrong_answers: u64,
    pub connections: usize,
}

/// Closed-loop maximum throughput.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ThroughputResult {
    /// Completed correct requests per second, one sample per second of the run.
    pub per_second: Series,
    pub rps: f64,
    pub connections: usize,
    pub duration_s: f64,
    pub count: u64,
    pub errors: u64,
    pub wrong_answers: u64,
}

impl PlatformResult {
    pub fn unavailable(name: &str, reason: impl Into<String>) -> Self {
        let reason = reason.into();
        // A platform that needs root altogether says so first (platform::privilege).
        let needs_root = if reason.starts_with(NEEDS_ROOT) {
            vec![reason.clone()]
        } else {
            Vec::new()
        };
        PlatformResult {
            name: name.into(),
            label: name.into(),
            available: false,
            unavailable_reason: Some(reason),
            needs_root,
            ..Default::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture_text() -> String {
        std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/results.json"
        ))
        .unwrap()
    }

    #[test]
    fn a_file_without_the_wall_split_still_reads() {
        let text = fixture_text();
        assert!(
            !text.contains("wall_split"),
            "the fixture stands for an older file"
        );
        let r: RunResults = serde_json::from_str(&text).unwrap();
        assert_eq!(r.wall_split, None);
    }

    #[test]
    fn the_wall_split_round_trips() {
        let mut r: RunResults = serde_json::from_str(&fixture_text()).unwrap();
        r.wall_split = Some(WallSplit {
            builds_s: 1.0,
            startup_s: 2.0,
            idle_s: 3.0,
            load_s: 4.0,
            extras_s: 5.0,
            teardown_s: 6.0,
            harness_s: 0.5,
        });
        let back: RunResults = serde_json::from_str(&serde_json::to_string(&r).unwrap()).unwrap();
        assert_eq!(back, r);
        assert_eq!(back.wall_split.unwrap().wall_s(), 21.5);
    }
}
