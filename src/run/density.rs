//! The density experiment (scenario `[density]`): N copies of one variant side by side,
//! for each N of `counts`: the startup of each copy, the host memory of all of them
//! (PSS where the platform exposes it; the platform's fixed cost, e.g. dockerd, on its
//! own), and the open-loop latency of copy 1 while the others idle. What each extra
//! instance costs is what the claims "a container is much lighter" and "a VM uses
//! memory even when idle" are about.
//!
//! Each copy deploys under a run id of its own, `<run id>-c<k>` (platforms name their
//! resources by run id, and Docker allows one deployment per run id); every copy is
//! torn down after its step, and each copy's run id is cleaned up as a backstop.

use std::time::{Duration, Instant};

use super::{deploy_ready, ms, Event, Observer, Step, StepError};
use crate::measure::{load, Probe};
use crate::platform::{Deployment, Platform, RunContext, Variant};
use crate::results::{DensityStep, DensitySweep, MemoryPart};
use crate::scenario::{Density, Scenario};

const MIB: f64 = 1024.0 * 1024.0;
/// Idle time after the last copy answers, before memory is read: the copies' own
/// start-up work (page faults, JIT-free but lazy allocations) settles.
const SETTLE: Duration = Duration::from_secs(2);

/// The variant a platform's sweep deploys: QEMU's first one-VM variant (q35 first, as
/// the scenario lists it), else the platform's first variant.
pub fn variant(p: &dyn Platform, scenario: &Scenario) -> Option<Variant> {
    // Never a variant this user cannot deploy (a bridged VM without root).
    let all: Vec<Variant> = p
        .variants(scenario)
        .into_iter()
        .filter(|v| !p.needs_root(scenario, v).iter().any(|n| n.whole_variant))
        .collect();
    all.iter()
        .find(|v| v.get("topology") == Some("all-in-one"))
        .or(all.first())
        .cloned()
}

/// What one copy is, in words, for the report.
fn copy_words(p: &dyn Platform, v: &Variant) -> String {
    let processes = p.facts().isolation == crate::platform::facts::Isolation::Process;
    match (p.name(), v.get("topology")) {
        (name, Some("all-in-one")) => format!("one {name} VM running the five roles"),
        _ if processes => "the five services as host processes".into(),
        (name, _) => format!("the five services ({name}, {})", v.label),
    }
}

/// The sweep; a failed step ends it and says why in `stopped`.
pub async fn sweep(
    p: &dyn Platform,
    ctx: &RunContext,
    variant: &Variant,
    probes: &[Probe],
    d: &Density,
    progress: &dyn Observer,
) -> DensitySweep {
    let started = Instant::now();
    let mut out = DensitySweep {
        copy: copy_words(p, variant),
        memory_measure: "pss".into(),
        ..Default::default()
    };
    let mut last_step_time = Duration::ZERO;
    for &n in &d.counts {
        if ctx.cancel.is_cancelled() {
            out.stopped = Some("the run was interrupted".into());
            break;
        }
        if let Some(last) = out.steps.last() {
            let why = over_budget(
                last,
                out.fixed.bytes,
                n,
                d,
                started.elapsed(),
                last_step_time,
            );
            if why.is_some() {
                out.stopped = why;
                break;
            }
        }
        let t = Instant::now();
        match step(p, ctx, variant, probes, d, n, &mut out, progress).await {
            Ok(s) => out.steps.push(s),
            Err(e) => {
                out.stopped = Some(format!("{n} copies failed: {e}"));
                break;
            }
        }
        last_step_time = t.elapsed();
    }
    out
}

/// Why the step to `n` copies must not run, projected from the last step: its memory
/// (per copy × n + fixed) would cross the memory budget, or its time (the last step's,
/// scaled by the copies: they start one after the other) the time budget.
fn over_budget(
    last: &DensityStep,
    fixed_bytes: u64,
    n: u32,
    d: &Density,
    elapsed: Duration,
    last_step_time: Duration,
) -> Option<String> {
    let per = last.memory_per_copy_bytes();
    let projected = fixed_bytes as f64 + per * n as f64;
    if projected > d.memory_budget_mib as f64 * MIB {
        return Some(format!(
            "stopped before {n} copies: {:.0} MiB projected ({:.1} MiB per copy × {n} + {:.0} MiB fixed) would cross the memory budget of {} MiB",
            projected / MIB,
            per / MIB,
            fixed_bytes as f64 / MIB,
            d.memory_budget_mib
        ));
    }
    let projected_time = last_step_time.mul_f64(n as f64 / last.n.max(1) as f64);
    if (elapsed + projected_time).as_secs_f64() > d.time_budget_s {
        return Some(format!(
            "stopped before {n} copies: about {:.0} s more would cross the time budget of {:.0} s",
            projected_time.as_secs_f64(),
            d.time_budget_s
        ));
    }
    None
}

/// Backstop after a platform (also after a panic): remove what any copy of a sweep
/// left, by each copy's run id (Docker removes by exact run label, not by prefix).
pub async fn cleanup_copies(p: &dyn Platform, run_id: &str, d: &Density) -> usize {
    let mut removed = 0;
    for k in 1..=d.counts.iter().copied().max().unwrap_or(0) {
        match p.cleanup(Some(&format!("{run_id}-c{k}"))).await {
            Ok(n) => removed += n,
            Err(e) => tracing::warn!("density: cleanup of copy {k} failed: {e}"),
        }
    }
    removed
}

fn copy_ctx(ctx: &RunContext, k: u32) -> RunContext {
    ctx.copy(
        format!("{}-c{k}", ctx.run_id),
        ctx.work_dir.join(format!("density-c{k}")),
    )
}

/// Copy k's variant: a Docker bridge network per copy needs a subnet of its own.
fn copy_variant(variant: &Variant, k: u32) -> Variant {
    let mut v = variant.clone();
    if let Some(subnet) = v.get("subnet").and_then(|s| shift_subnet(s, k)) {
        v.settings.insert("subnet".into(), subnet);
    }
    v
}

/// `a.b.c.0/24` -> `a.b.(c+k).0/24`; other prefixes or overflow: `None` (kept as is).
fn shift_subnet(s: &str, k: u32) -> Option<String> {
    let (ip, len) = s.split_once('/')?;
    if len != "24" {
        return None;
    }
    let o: Vec<u32> = ip
        .split('.')
        .map(|x| x.parse().ok())
        .collect::<Option<_>>()?;
    let c = o.get(2)? + k;
    (o.len() == 4 && c <= 255).then(|| format!("{}.{}.{c}.0/24", o[0], o[1]))
}

#[allow(clippy::too_many_arguments)]
async fn step(
    p: &dyn Platform,
    ctx: &RunContext,
    variant: &Variant,
    probes: &[Probe],
    d: &Density,
    n: u32,
    sweep: &mut DensitySweep,
    progress: &dyn Observer,
) -> Result<DensityStep, StepError> {
    let mut deps: Vec<Box<dyn Deployment>> = Vec::new();
    let result = measure(p, ctx, variant, probes, d, n, sweep, progress, &mut deps).await;
    for dep in &mut deps {
        if let Err(e) = dep.teardown().await {
            tracing::warn!("density: teardown of a copy failed: {e}");
        }
    }
    for k in 1..=n {
        let c = copy_ctx(ctx, k);
        if let Err(e) = p.cleanup(Some(&c.run_id)).await {
            tracing::warn!("density: cleanup of {} failed: {e}", c.run_id);
        }
        let _ = std::fs::remove_dir_all(&c.work_dir);
    }
    result
}

#[allow(clippy::too_many_arguments)]
async fn measure(
    p: &dyn Platform,
    ctx: &RunContext,
    variant: &Variant,
    probes: &[Probe],
    d: &Density,
    n: u32,
    sweep: &mut DensitySweep,
    progress: &dyn Observer,
    deps: &mut Vec<Box<dyn Deployment>>,
) -> Result<DensityStep, StepError> {
    let mut startup = Vec::new();
    for k in 1..=n {
        progress.on(&Event::Step {
            platform: p.name(),
            label: &variant.label,
            step: Step::Density { n, i: k },
        });
        let c = copy_ctx(ctx, k);
        std::fs::create_dir_all(&c.work_dir).map_err(|e| StepError {
            step: "density",
            source: crate::error::Error::io(format!("creating {}", c.work_dir.display()))(e),
        })?;
        let ready = deploy_ready(p, &c, &copy_variant(variant, k), &probes[0]).await?;
        startup.push(ms(ready.ready.duration_since(ready.t0)));
        deps.push(ready.dep);
    }
    tokio::time::sleep(SETTLE).await;
    let (mut rss, mut pss, mut all_pss) = (0u64, 0u64, true);
    for dep in deps.iter() {
        let s = dep.sample().await.map_err(|source| StepError {
            step: "density memory",
            source,
        })?;
        rss += s.rss_bytes;
        match s.pss_bytes {
            Some(b) => pss += b,
            None => all_pss = false,
        }
    }
    if !all_pss {
        sweep.memory_measure = "rss".into();
    }
    if sweep.steps.is_empty() {
        sweep.fixed = match deps[0].memory_breakdown().await {
            Some(b) => b.shared,
            None => MemoryPart::default(),
        };
    }
    let cfg = load::OpenLoopConfig {
        rate_rps: d.rate_rps,
        duration: Duration::from_secs_f64(d.duration_s),
        warmup: Duration::from_millis(500),
        connections: ctx.scenario.load.connections,
        timeout: Duration::from_millis(ctx.scenario.load.timeout_ms),
    };
    let latency = load::open_loop(deps[0].endpoint(), probes, &cfg)
        .await
        .map_err(|source| StepError {
            step: "density latency",
            source,
        })?;
    Ok(DensityStep {
        n,
        startup_ms: startup,
        memory_bytes: if sweep.memory_measure == "pss" {
            pss
        } else {
            rss
        },
        latency: Some(latency),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_step_that_would_cross_a_budget_is_not_run() {
        let d = Density {
            memory_budget_mib: 1000,
            time_budget_s: 100.0,
            ..Default::default()
        };
        let last = DensityStep {
            n: 4,
            memory_bytes: (4 * 200) << 20,
            ..Default::default()
        };
        let (t, step) = (Duration::from_secs(10), Duration::from_secs(20));
        // 4 × 200 MiB fit; 8 × 200 = 1600 MiB do not.
        assert_eq!(over_budget(&last, 0, 4, &d, t, step), None);
        let why = over_budget(&last, 0, 8, &d, t, step).unwrap();
        assert!(why.contains("1600 MiB projected"), "{why}");
        // The fixed cost counts once: 4 × 200 + 300 > 1000.
        assert!(over_budget(&last, 300 << 20, 4, &d, t, step).is_some());
        // Time: 10 s spent + 20 s × 8/4 = 50 s fits; after 70 s it does not.
        let small = DensityStep {
            n: 4,
            memory_bytes: 4 << 20,
            ..Default::default()
        };
        assert_eq!(over_budget(&small, 0, 8, &d, t, step), None);
        let why = over_budget(&small, 0, 8, &d, Duration::from_secs(70), step).unwrap();
        assert!(why.contains("time budget"), "{why}");
    }

    #[test]
    fn copies_get_subnets_of_their_own() {
        assert_eq!(
            shift_subnet("10.213.0.0/24", 3).as_deref(),
            Some("10.213.3.0/24")
        );
        assert_eq!(shift_subnet("10.213.250.0/24", 9), None);
        assert_eq!(shift_subnet("10.213.0.0/16", 1), None);
        let v = Variant::new("docker/bridge", &[("subnet", "10.213.0.0/24")]);
        assert_eq!(copy_variant(&v, 2).get("subnet"), Some("10.213.2.0/24"));
        assert_eq!(copy_variant(&v, 2).label, "docker/bridge");
    }
}
