//! A sub-service killed mid-load, Docker side (issue 13), on the variant's own
//! deployment as the last of its experiments (its teardown follows): `kill -9` of the
//! `mul` container's process from the host, while the prober sends `2*(3+4)-10/4`
//! (which needs `mul`) every 50 ms:
//!
//! - `mul_kill`: the container as deployed (no restart policy): it stays exited, the
//!   calculator answers 502 with its one-line reason (observed 3 s); then `docker
//!   start` brings it back before the next trial;
//! - `mul_kill_supervised`: the same container given `--restart always` (`docker
//!   update`), killed again: the engine restarts it by itself; the time until answers
//!   are correct again is recorded, and whether the engine lists it running.
//!
//! The policy is set back to `no` afterwards, also on error.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use bollard::models::{ContainerUpdateBody, RestartPolicy, RestartPolicyNameEnum};
use bollard::query_parameters::InspectContainerOptions;
use bollard::Docker as Engine;
use tokio_util::sync::CancellationToken;

use super::deployment::resource_name;
use super::engine_error;
use crate::measure::fault::{
    self, back_after, Prober, Trial, AFTER, BACK_WITHIN, BEFORE, KILLED_ROLE, SERVICE_EXPRESSION,
};
use crate::platform::PlatformError;
use crate::stats::Series;

const READY_WITHIN: Duration = Duration::from_secs(30);

fn cancelled(_: ()) -> PlatformError {
    PlatformError::Cancelled
}

/// (host pid of the container's process, running) of a container.
async fn state(engine: &Engine, name: &str) -> Result<(u32, bool), PlatformError> {
    let info = engine
        .inspect_container(name, None::<InspectContainerOptions>)
        .await
        .map_err(|e| engine_error(&format!("docker: inspecting {name}"), &e))?;
    let s = info.state.unwrap_or_default();
    Ok((s.pid.unwrap_or(0).max(0) as u32, s.running.unwrap_or(false)))
}

async fn kill(engine: &Engine, name: &str) -> Result<(), PlatformError> {
    let (pid, running) = state(engine, name).await?;
    if pid == 0 || !running {
        return Err(PlatformError::Failed(format!(
            "docker: {name} is not running: nothing to kill"
        )));
    }
    tracing::info!(pid, container = name, "docker: kill -9 of a sub-service");
    // SAFETY: kill(2) of the process the engine names for our own container.
    unsafe { libc::kill(pid as i32, libc::SIGKILL) };
    Ok(())
}

async fn policy(
    engine: &Engine,
    name: &str,
    policy: RestartPolicyNameEnum,
) -> Result<(), PlatformError> {
    let body = ContainerUpdateBody {
        restart_policy: Some(RestartPolicy {
            name: Some(policy),
            maximum_retry_count: None,
        }),
        ..Default::default()
    };
    engine
        .update_container(name, body)
        .await
        .map_err(|e| engine_error(&format!("docker: setting {name}'s restart policy"), &e))
}

async fn ready(endpoint: SocketAddr, cancel: &CancellationToken) -> Result<(), PlatformError> {
    match fault::until_ready(endpoint, SERVICE_EXPRESSION, READY_WITHIN, cancel).await {
        Ok(true) => Ok(()),
        Ok(false) => Err(PlatformError::Timeout {
            what: "docker: the calculator answering for the sub-service kill".into(),
            after: READY_WITHIN,
        }),
        Err(()) => Err(PlatformError::Cancelled),
    }
}

/// Both trials on the run's deployment whose calculator answers at `endpoint`.
pub async fn run(
    engine: &Engine,
    run_id: &str,
    endpoint: SocketAddr,
    cancel: &CancellationToken,
) -> Result<BTreeMap<String, Series>, PlatformError> {
    let name = resource_name(run_id, Some(KILLED_ROLE));
    let result = trials(engine, &name, endpoint, cancel).await;
    if let Err(e) = policy(engine, &name, RestartPolicyNameEnum::NO).await {
        tracing::debug!(error = %e, "docker: restart policy not reset (the container may be gone)");
    }
    let trials = result?;
    for t in &trials {
        tracing::info!("docker: {}", t.summary());
    }
    Ok(fault::series(&trials))
}

async fn trials(
    engine: &Engine,
    name: &str,
    endpoint: SocketAddr,
    cancel: &CancellationToken,
) -> Result<Vec<Trial>, PlatformError> {
    ready(endpoint, cancel).await?;

    // As deployed: no restart policy.
    let prober = Prober::start(endpoint, SERVICE_EXPRESSION);
    let observed = async {
        fault::pause(BEFORE, cancel).await.map_err(cancelled)?;
        let killed = prober.now();
        kill(engine, name).await?;
        fault::pause(AFTER, cancel).await.map_err(cancelled)?;
        Ok::<_, PlatformError>(killed)
    }
    .await;
    let end = prober.now();
    let log = prober.stop().await;
    let killed = observed?;
    let alone = Trial::from_log("mul_kill", &log, killed, end, None, None);

    // Started again by hand before the next trial.
    engine
        .start_container(name, None)
        .await
        .map_err(|e| engine_error(&format!("docker: starting {name} again"), &e))?;
    ready(endpoint, cancel).await?;

    // With `--restart always`: the engine starts it again by itself.
    policy(engine, name, RestartPolicyNameEnum::ALWAYS).await?;
    let prober = Prober::start(endpoint, SERVICE_EXPRESSION);
    let observed = async {
        fault::pause(BEFORE, cancel).await.map_err(cancelled)?;
        let killed = prober.now();
        kill(engine, name).await?;
        fault::pause(AFTER, cancel).await.map_err(cancelled)?;
        fault::until_back(&prober, killed, BACK_WITHIN, cancel)
            .await
            .map_err(cancelled)?;
        Ok::<_, PlatformError>(killed)
    }
    .await;
    let end = prober.now();
    let log = prober.stop().await;
    let killed = observed?;
    let running = state(engine, name).await.is_ok_and(|(_, r)| r);
    let supervised = Trial::from_log(
        "mul_kill_supervised",
        &log,
        killed,
        end,
        None,
        Some((Some(running), back_after(&log, killed))),
    );
    Ok(vec![alone, supervised])
}
