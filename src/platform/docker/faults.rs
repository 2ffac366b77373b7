//! Claim C7 ("Docker needs a daemon: if the daemon is killed, all containers die with
//! it"), measured on a [private engine](super::private_engine) so that the user's own
//! engine and containers are never touched.
//!
//! The five services run in five containers on the host's network; a prober asks the
//! calculator every 50 ms (200 ms deadline; [`crate::measure::fault`]) and logs each
//! answer.
//! Three trials, each observed from 1 s before the kill to 3 s after it (and across the
//! restart that follows):
//! - `kill -9` dockerd without live-restore, then start it again (without);
//! - the same with `--live-restore` (a fresh deployment on an engine started with it);
//! - `kill -9` the engine's containerd (dockerd starts a new one by itself).
//!
//! "Survived" means every answer in the last second of the 3 s after the kill was
//! correct: the calculator was still serving while its daemon was dead.

use std::collections::BTreeMap;
use std::time::Duration;

use bollard::query_parameters::ListContainersOptionsBuilder;
use bollard::Docker as Engine;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::deployment::{self, DockerDeployment};
use super::network::NetworkMode;
use super::private_engine::PrivateEngine;
use super::{engine_error, pick_ports, LABEL_RUN};
use crate::measure::fault::{
    self, back_after, Prober, Trial, AFTER, BACK_WITHIN, BEFORE, PROBE_EVERY,
};
use crate::platform::docker::image::CalculatorImage;
use crate::platform::{Deployment, PlatformError};
use crate::results::keys;
use crate::stats::Series;

const READY_WITHIN: Duration = Duration::from_secs(30);
/// The probe of the C7 trials: the lab's own example (sum and div).
pub const EXPRESSION: &str = "(5+3)/2";

/// The C7 extras: run the three trials on a private engine and remove it.
pub async fn run(
    user_engine: &Engine,
    run_id: &str,
    image: &CalculatorImage,
    cancel: &CancellationToken,
) -> Result<BTreeMap<String, Series>, PlatformError> {
    let mut engine = PrivateEngine::start(run_id, false, cancel).await?;
    let result = trials(&mut engine, user_engine, run_id, image, cancel).await;
    engine.destroy().await;
    let trials = result?;
    Ok(series(&trials))
}

async fn trials(
    engine: &mut PrivateEngine,
    user_engine: &Engine,
    run_id: &str,
    image: &CalculatorImage,
    cancel: &CancellationToken,
) -> Result<Vec<Trial>, PlatformError> {
    engine.load_image(user_engine, &image.tag).await?;
    let c7_id = format!("{run_id}-c7");
    let mut out = Vec::new();

    let mut d = deploy(engine, &c7_id, image, cancel).await?;
    out.push(kill_dockerd(engine, &mut d, &c7_id, "dockerd_kill", cancel).await?);
    // With live-restore off, the restart stopped the containers: remove them and start
    // the engine again with live-restore for a fresh deployment.
    d.teardown().await?;
    engine.stop_and_start(true, cancel).await?;
    let mut d = deploy(engine, &c7_id, image, cancel).await?;
    out.push(kill_dockerd(engine, &mut d, &c7_id, "dockerd_kill_live_restore", cancel).await?);
    out.push(kill_containerd(engine, &d, &c7_id, cancel).await?);
    // After its containerd was killed the engine may not manage to remove the
    // containers in time; destroying the engine removes them anyway.
    if let Err(e) = d.teardown().await {
        tracing::info!(error = %e, "docker: private engine could not remove its containers; destroying it");
    }
    Ok(out)
}

async fn deploy(
    engine: &PrivateEngine,
    id: &str,
    image: &CalculatorImage,
    cancel: &CancellationToken,
) -> Result<DockerDeployment, PlatformError> {
    let (host_port, role_ports) = pick_ports(&NetworkMode::Host, None)?;
    let plan = deployment::plan(id, NetworkMode::Host, host_port, &role_ports)?;
    let private = engine.engine()?.clone();
    let version = private
        .version()
        .await
        .map_err(|e| engine_error("private engine version", &e))?
        .version
        .unwrap_or_default();
    let mut d = deployment::deploy(private, plan, image, version, cancel).await?;
    // Ready: a first correct answer.
    let prober = Prober::start(d.endpoint(), EXPRESSION);
    let deadline = Instant::now() + READY_WITHIN;
    loop {
        if prober.any_correct() {
            break;
        }
        if Instant::now() > deadline || cancel.is_cancelled() {
            prober.stop().await;
            let _ = d.teardown().await;
            return Err(if cancel.is_cancelled() {
                PlatformError::Cancelled
            } else {
                PlatformError::Timeout {
                    what: "docker: the calculator answering on the private engine".into(),
                    after: READY_WITHIN,
                }
            });
        }
        tokio::time::sleep(PROBE_EVERY).await;
    }
    prober.stop().await;
    Ok(d)
}

async fn pause(d: Duration, cancel: &CancellationToken) -> Result<(), PlatformError> {
    fault::pause(d, cancel)
        .await
        .map_err(|()| PlatformError::Cancelled)
}

/// `kill -9` dockerd under load, observe, start it again with the same live-restore
/// setting, and see what became of the containers and the service.
async fn kill_dockerd(
    engine: &mut PrivateEngine,
    d: &mut DockerDeployment,
    id: &str,
    name: &'static str,
    cancel: &CancellationToken,
) -> Result<Trial, PlatformError> {
    let prober = Prober::start(d.endpoint(), EXPRESSION);
    pause(BEFORE, cancel).await?;
    let killed = prober.now();
    tracing::info!(trial = name, "docker: kill -9 of the private dockerd");
    engine.kill_dockerd();
    pause(AFTER, cancel).await?;
    let containers_running = container_processes(engine) > 0;
    let restarted = prober.now();
    let live_restore = engine.live_restore();
    engine.restart(live_restore, cancel).await?;
    // Until the service answers again, or BACK_WITHIN.
    let deadline = Instant::now() + BACK_WITHIN;
    loop {
        let log = prober.snapshot();
        let settled = back_after(&log, restarted).is_some()
            && log
                .last()
                .is_some_and(|(t, _)| *t > restarted + Duration::from_secs(1));
        if settled || Instant::now() > deadline {
            break;
        }
        pause(PROBE_EVERY, cancel).await?;
    }
    let end = prober.now();
    let log = prober.stop().await;
    let running_after = running_containers(engine.engine()?, id).await? > 0;
    let back = back_after(&log, restarted);
    Ok(Trial::from_log(
        name,
        &log,
        killed,
        end,
        Some(containers_running),
        Some((Some(running_after), back)),
    ))
}

/// `kill -9` the engine's containerd under load; dockerd starts another by itself.
async fn kill_containerd(
    engine: &PrivateEngine,
    d: &DockerDeployment,
    id: &str,
    cancel: &CancellationToken,
) -> Result<Trial, PlatformError> {
    let prober = Prober::start(d.endpoint(), EXPRESSION);
    pause(BEFORE, cancel).await?;
    let killed = prober.now();
    if !engine.kill_containerd() {
        prober.stop().await;
        return Err(PlatformError::at(
            "docker",
            "killing the private containerd",
            "the private engine has no containerd of its own",
        ));
    }
    pause(AFTER, cancel).await?;
    let containers_running = container_processes(engine) > 0;
    let end = prober.now();
    let log = prober.stop().await;
    // Whether the engine (which starts a new containerd by itself) still lists them
    // running; an engine that cannot answer counts as "no".
    let listed = running_containers(engine.engine()?, id)
        .await
        .is_ok_and(|n| n > 0);
    let back = back_after(&log, killed);
    Ok(Trial::from_log(
        "containerd_kill",
        &log,
        killed,
        end,
        Some(containers_running),
        Some((Some(listed), back)),
    ))
}

/// Processes of the containers (children of the engine's shims), read from /proc: the
/// engine's API is down while dockerd is dead.
fn container_processes(engine: &PrivateEngine) -> usize {
    super::private_engine::container_processes(engine.dir())
}

async fn running_containers(engine: &Engine, id: &str) -> Result<usize, PlatformError> {
    let filters =
        std::collections::HashMap::from([("label".to_string(), vec![format!("{LABEL_RUN}={id}")])]);
    let list = engine
        .list_containers(Some(
            ListContainersOptionsBuilder::default()
                .all(false)
                .filters(&filters)
                .build(),
        ))
        .await
        .map_err(|e| engine_error("listing the private engine's containers", &e))?;
    Ok(list.len())
}

fn series(trials: &[Trial]) -> BTreeMap<String, Series> {
    // C7 is about the engine as installed: the default configuration's trial alone.
    // Pooled with the live-restore trial, a survival of 0.5 would say nothing; that
    // trial and containerd's are their own rows (`fault_<trial>_survived`).
    let dockerd: Vec<&Trial> = trials.iter().filter(|t| t.name == "dockerd_kill").collect();
    let mut out = fault::series(trials);
    out.insert(
        keys::DAEMON_KILL_SURVIVED.to_string(),
        Series::new(
            "ratio",
            dockerd.iter().map(|t| fault::flag(t.survived)).collect(),
        ),
    );
    out
}
