//! Podman's side of C7 (issue 15): Docker's claim is that its daemon takes every
//! container down with it. Podman is daemonless: no `podman` process stays alive while
//! containers serve (each `podman` command exits once done), so there is no daemon to
//! kill. What stays beside each container is `conmon`, its monitor (it holds the
//! container's stdio and reports its exit status). The trial kills that:
//!
//! - the five services in five containers on the host's network, as docker's C7
//!   deployment, named apart from the run's main deployment (`vb-<run>-c7-<role>`) and
//!   labelled with the run id, so `cleanup` finds them;
//! - the ancestors of the calculator's process are read from /proc: the count of
//!   `podman` processes among them is recorded ([`keys::PODMAN_DAEMON_PROCESSES`]);
//! - under the same prober as docker's trials (`POST (5+3)/2` every 50 ms, 200 ms
//!   deadline), `kill -9` of the calculator container's conmon, observed 1 s before to
//!   3 s after; then whether the five container processes still run, what the next
//!   `podman ps` lists, and when answers are correct again (from the kill).
//!
//! Recorded as `fault_conmon_kill_*`, the same keys as docker's trials.

use std::collections::BTreeMap;
use std::time::Duration;

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::deployment::create_args;
use super::{json, podman, run as podman_run, LABEL_RUN};
use crate::measure::fault::{self, back_after, Prober, Trial, AFTER, BEFORE, PROBE_EVERY};
use crate::platform::docker::deployment::{plan, Plan};
use crate::platform::docker::faults::EXPRESSION;
use crate::platform::docker::network::NetworkMode;
use crate::platform::docker::pick_ports;
use crate::platform::PlatformError;
use crate::results::keys;
use crate::stats::Series;

const READY_WITHIN: Duration = Duration::from_secs(30);

/// The trial's containers: the run's plan in host mode, renamed apart from the main
/// deployment (labels keep the run id).
fn fault_plan(run_id: &str) -> Result<Plan, PlatformError> {
    let (host_port, role_ports) = pick_ports(&NetworkMode::Host, None)?;
    let mut p = plan(run_id, NetworkMode::Host, host_port, &role_ports)?;
    for c in &mut p.containers {
        c.name = format!("vb-{run_id}-c7-{}", c.role);
    }
    Ok(p)
}

/// Run the trial and remove its containers, also on error and cancellation.
pub async fn run(
    run_id: &str,
    image: &str,
    cancel: &CancellationToken,
) -> Result<BTreeMap<String, Series>, PlatformError> {
    let plan = fault_plan(run_id)?;
    let result = trial(&plan, image, cancel).await;
    let names: Vec<String> = plan.containers.iter().map(|c| c.name.clone()).collect();
    let mut args = vec![
        "rm".to_string(),
        "--force".into(),
        "--time".into(),
        "0".into(),
    ];
    args.extend(names);
    if let Err(e) = podman(&args).await {
        tracing::warn!(error = %e, "podman: removing the conmon-kill containers failed; `virtbench cleanup` removes them");
    }
    result
}

/// Init pid and conmon pid of each container of the plan, by role.
async fn pids(plan: &Plan) -> Result<BTreeMap<&'static str, (u32, u32)>, PlatformError> {
    let mut args = vec!["inspect".to_string(), "--format".into(), "json".into()];
    args.extend(plan.containers.iter().map(|c| c.name.clone()));
    let found = json(
        "inspecting the conmon-kill containers",
        &podman(&args).await?,
    )?;
    let mut out = BTreeMap::new();
    for c in &plan.containers {
        let info = found
            .as_array()
            .into_iter()
            .flatten()
            .find(|i| i["Name"].as_str() == Some(c.name.as_str()))
            .ok_or_else(|| PlatformError::Failed(format!("podman: {} not found", c.name)))?;
        out.insert(
            c.role,
            (
                info["State"]["Pid"].as_u64().unwrap_or(0) as u32,
                info["State"]["ConmonPid"].as_u64().unwrap_or(0) as u32,
            ),
        );
    }
    Ok(out)
}

/// The chain of a process's ancestors, command names, nearest first.
fn ancestors(pid: u32) -> Vec<(u32, String)> {
    let mut out = Vec::new();
    let mut at = pid;
    while let Some(parent) = crate::host::procfs::parent(at) {
        if parent == 0 || out.len() > 64 {
            break;
        }
        out.push((
            parent,
            crate::host::procfs::comm(parent).unwrap_or_default(),
        ));
        at = parent;
    }
    out
}

fn alive(pid: u32) -> bool {
    pid != 0 && !crate::platform::process::is_dead(pid)
}

async fn trial(
    plan: &Plan,
    image: &str,
    cancel: &CancellationToken,
) -> Result<BTreeMap<String, Series>, PlatformError> {
    let nofile = 1024;
    for c in &plan.containers {
        podman(&create_args(plan, c, image, nofile)).await?;
    }
    let mut start = vec!["start".to_string()];
    start.extend(plan.containers.iter().map(|c| c.name.clone()));
    podman(&start).await?;
    let endpoint = std::net::SocketAddr::from(([127, 0, 0, 1], plan.host_port));

    let prober = Prober::start(endpoint, EXPRESSION);
    let deadline = Instant::now() + READY_WITHIN;
    while !prober.any_correct() {
        if cancel.is_cancelled() {
            prober.stop().await;
            return Err(PlatformError::Cancelled);
        }
        if Instant::now() > deadline {
            prober.stop().await;
            return Err(PlatformError::Timeout {
                what: "podman: the calculator answering for the conmon kill".into(),
                after: READY_WITHIN,
            });
        }
        tokio::time::sleep(PROBE_EVERY).await;
    }
    prober.stop().await;

    let pids = pids(plan).await?;
    let (calc, conmon) = pids["calculator"];
    let chain = ancestors(calc);
    let daemons = chain.iter().filter(|(_, c)| c == "podman").count();
    tracing::info!(
        chain = %chain.iter().map(|(p, c)| format!("{c}[{p}]")).collect::<Vec<_>>().join(" <- "),
        podman_processes = daemons,
        "podman: ancestors of the calculator's process"
    );
    if conmon == 0 || !alive(conmon) {
        return Err(PlatformError::Failed(
            "podman: the calculator container has no conmon to kill".into(),
        ));
    }

    let prober = Prober::start(endpoint, EXPRESSION);
    let cancelled = |_| PlatformError::Cancelled;
    if let Err(e) = fault::pause(BEFORE, cancel).await.map_err(cancelled) {
        prober.stop().await;
        return Err(e);
    }
    let killed = prober.now();
    tracing::info!(conmon, "podman: kill -9 of the calculator's conmon");
    // SAFETY: kill(2) of the conmon podman inspect named for our own container.
    unsafe { libc::kill(conmon as i32, libc::SIGKILL) };
    if let Err(e) = fault::pause(AFTER, cancel).await.map_err(cancelled) {
        prober.stop().await;
        return Err(e);
    }
    let running = pids.values().all(|(pid, _)| alive(*pid));
    let end = prober.now();
    let log = prober.stop().await;
    // What the engine says at its next command (there is no daemon to restart).
    let calculator = format!("vb-{}-c7-calculator", plan.run_id);
    let listed = podman_run(&[
        "ps",
        "--filter",
        &format!("label={LABEL_RUN}={}", plan.run_id),
        "--filter",
        &format!("name={calculator}"),
        "--format",
        "{{.Names}}",
    ])
    .await
    .is_ok_and(|t| t.lines().any(|l| l.trim() == calculator));
    let back = back_after(&log, killed);
    let t = Trial::from_log(
        "conmon_kill",
        &log,
        killed,
        end,
        Some(running),
        Some((Some(listed), back)),
    );
    tracing::info!("podman: {}", t.summary());
    let mut out = fault::series(&[t]);
    out.insert(
        keys::PODMAN_DAEMON_PROCESSES.to_string(),
        Series::new("count", vec![daemons as f64]),
    );
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fault_containers_are_named_apart_and_labelled_with_the_run() {
        let p = fault_plan("r9").unwrap();
        let names: Vec<&str> = p.containers.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "vb-r9-c7-sum",
                "vb-r9-c7-sub",
                "vb-r9-c7-mul",
                "vb-r9-c7-div",
                "vb-r9-c7-calculator"
            ]
        );
        let a = create_args(&p, &p.containers[4], "img:1", 1024).join(" ");
        assert!(a.contains("--label virtbench.run=r9 "), "{a}");
        assert!(a.contains("--network host"), "{a}");
    }

    #[test]
    fn a_process_has_ancestors_up_to_init() {
        let chain = ancestors(std::process::id());
        assert!(!chain.is_empty());
        assert!(chain.iter().all(|(p, _)| *p > 0));
    }
}
