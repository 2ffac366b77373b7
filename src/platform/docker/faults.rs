//! Claim C7 ("Docker needs a daemon: if the daemon is killed, all containers die with
//! it"), measured on a [private engine](super::private_engine) so that the user's own
//! engine and containers are never touched.
//!
//! The five services run in five containers on the host's network; a prober asks the
//! calculator every 50 ms (200 ms deadline) and logs each answer as correct or not.
//! Three trials, each observed from 1 s before the kill to 3 s after it (and across the
//! restart that follows):
//! - `kill -9` dockerd without live-restore, then start it again (without);
//! - the same with `--live-restore` (a fresh deployment on an engine started with it);
//! - `kill -9` the engine's containerd (dockerd starts a new one by itself).
//!
//! "Survived" means every answer in the last second of the 3 s after the kill was
//! correct: the calculator was still serving while its daemon was dead.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bollard::query_parameters::ListContainersOptionsBuilder;
use bollard::Docker as Engine;
use bytes::Bytes;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::deployment::{self, DockerDeployment};
use super::network::NetworkMode;
use super::private_engine::PrivateEngine;
use super::{engine_error, pick_ports, LABEL_RUN};
use crate::measure::answer::answer_value;
use crate::measure::http::Client;
use crate::platform::docker::image::CalculatorImage;
use crate::platform::{Deployment, PlatformError};
use crate::results::keys;
use crate::stats::Series;

/// Width of one bucket of the time series.
pub const BUCKET: Duration = Duration::from_millis(100);
/// Time between two probes (sequential: a slow answer delays the next).
const PROBE_EVERY: Duration = Duration::from_millis(50);
const PROBE_DEADLINE: Duration = Duration::from_millis(200);
/// Observed before and after each kill.
pub const BEFORE: Duration = Duration::from_secs(1);
pub const AFTER: Duration = Duration::from_secs(3);
/// After a restart: how long the service may take to answer again.
const BACK_WITHIN: Duration = Duration::from_secs(10);
const READY_WITHIN: Duration = Duration::from_secs(30);
const EXPRESSION: &str = "(5+3)/2";

/// One probe: when (since the prober started) and whether the answer was correct.
type Log = Arc<Mutex<Vec<(Duration, bool)>>>;

struct Prober {
    t0: Instant,
    log: Log,
    stop: CancellationToken,
    task: tokio::task::JoinHandle<()>,
}

impl Prober {
    fn start(addr: SocketAddr) -> Prober {
        let expected = calculator::expr::evaluate_local(EXPRESSION).expect("a valid expression");
        let (t0, log, stop) = (Instant::now(), Log::default(), CancellationToken::new());
        let (l, s) = (log.clone(), stop.clone());
        let task = tokio::spawn(async move {
            let mut client = Client::new(addr);
            while !s.is_cancelled() {
                let sent = Instant::now();
                let ok = match client
                    .post(
                        Bytes::from_static(EXPRESSION.as_bytes()),
                        sent + PROBE_DEADLINE,
                    )
                    .await
                {
                    Ok(a) => {
                        a.status.is_success()
                            && answer_value(&a.body).is_some_and(|v| (v - expected).abs() < 1e-9)
                    }
                    Err(_) => false,
                };
                l.lock().expect("log lock").push((sent - t0, ok));
                tokio::time::sleep_until(sent + PROBE_EVERY).await;
            }
        });
        Prober {
            t0,
            log,
            stop,
            task,
        }
    }

    fn since_start(&self, at: Instant) -> Duration {
        at - self.t0
    }

    fn snapshot(&self) -> Vec<(Duration, bool)> {
        self.log.lock().expect("log lock").clone()
    }

    async fn stop(self) -> Vec<(Duration, bool)> {
        self.stop.cancel();
        let log = self.log.clone();
        let _ = self.task.await;
        let taken = log.lock().expect("log lock").clone();
        taken
    }
}

/// Correct answers and errors per [`BUCKET`] from `from` to `to` (times since the
/// prober started).
pub fn buckets(log: &[(Duration, bool)], from: Duration, to: Duration) -> (Vec<f64>, Vec<f64>) {
    let n = ((to.saturating_sub(from)).as_millis() / BUCKET.as_millis()) as usize;
    let (mut ok, mut err) = (vec![0.0; n], vec![0.0; n]);
    for (t, good) in log {
        if *t < from || *t >= to {
            continue;
        }
        let i = ((*t - from).as_millis() / BUCKET.as_millis()) as usize;
        if i < n {
            if *good {
                ok[i] += 1.0;
            } else {
                err[i] += 1.0;
            }
        }
    }
    (ok, err)
}

/// Fraction of correct probes in `[from, to)`; None without any probe there.
pub fn answered_fraction(log: &[(Duration, bool)], from: Duration, to: Duration) -> Option<f64> {
    let inside: Vec<bool> = log
        .iter()
        .filter(|(t, _)| *t >= from && *t < to)
        .map(|(_, ok)| *ok)
        .collect();
    (!inside.is_empty())
        .then(|| inside.iter().filter(|ok| **ok).count() as f64 / inside.len() as f64)
}

/// After `from`: the first correct answer following the last error, as a delay from
/// `from`. Zero when no answer after `from` failed; None when the last one failed.
pub fn back_after(log: &[(Duration, bool)], from: Duration) -> Option<Duration> {
    let after: Vec<&(Duration, bool)> = log.iter().filter(|(t, _)| *t >= from).collect();
    let last_err = after.iter().rposition(|(_, ok)| !ok);
    match last_err {
        None => Some(Duration::ZERO),
        Some(i) => after.get(i + 1).map(|(t, _)| *t - from),
    }
}

/// What one trial saw.
#[derive(Debug, Clone)]
struct Trial {
    name: &'static str,
    survived: bool,
    answered_fraction: f64,
    containers_running: bool,
    ok: Vec<f64>,
    errors: Vec<f64>,
    /// After dockerd came back: were the containers running, and when was the service
    /// answering again (None: not within [`BACK_WITHIN`]).
    restart: Option<(bool, Option<Duration>)>,
}

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
    let prober = Prober::start(d.endpoint());
    let deadline = Instant::now() + READY_WITHIN;
    loop {
        if prober.snapshot().iter().any(|(_, ok)| *ok) {
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
    tokio::select! {
        _ = tokio::time::sleep(d) => Ok(()),
        _ = cancel.cancelled() => Err(PlatformError::Cancelled),
    }
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
    let prober = Prober::start(d.endpoint());
    pause(BEFORE, cancel).await?;
    let killed = prober.since_start(Instant::now());
    tracing::info!(trial = name, "docker: kill -9 of the private dockerd");
    engine.kill_dockerd();
    pause(AFTER, cancel).await?;
    let containers_running = container_processes(engine) > 0;
    let restarted = prober.since_start(Instant::now());
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
    let end = prober.since_start(Instant::now());
    let log = prober.stop().await;
    let running_after = running_containers(engine.engine()?, id).await? > 0;
    let back = back_after(&log, restarted);
    Ok(trial(
        name,
        &log,
        killed,
        end,
        containers_running,
        Some((running_after, back)),
    ))
}

/// `kill -9` the engine's containerd under load; dockerd starts another by itself.
async fn kill_containerd(
    engine: &PrivateEngine,
    d: &DockerDeployment,
    id: &str,
    cancel: &CancellationToken,
) -> Result<Trial, PlatformError> {
    let prober = Prober::start(d.endpoint());
    pause(BEFORE, cancel).await?;
    let killed = prober.since_start(Instant::now());
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
    let end = prober.since_start(Instant::now());
    let log = prober.stop().await;
    // Whether the engine (which starts a new containerd by itself) still lists them
    // running; an engine that cannot answer counts as "no".
    let listed = running_containers(engine.engine()?, id)
        .await
        .is_ok_and(|n| n > 0);
    let back = back_after(&log, killed);
    Ok(trial(
        "containerd_kill",
        &log,
        killed,
        end,
        containers_running,
        Some((listed, back)),
    ))
}

fn trial(
    name: &'static str,
    log: &[(Duration, bool)],
    killed: Duration,
    end: Duration,
    containers_running: bool,
    restart: Option<(bool, Option<Duration>)>,
) -> Trial {
    let last_second = (killed + AFTER - Duration::from_secs(1), killed + AFTER);
    let survived = answered_fraction(log, last_second.0, last_second.1) == Some(1.0);
    let answered_fraction = answered_fraction(log, killed, killed + AFTER).unwrap_or(0.0);
    let (ok, errors) = buckets(log, killed.saturating_sub(BEFORE), end);
    Trial {
        name,
        survived,
        answered_fraction,
        containers_running,
        ok,
        errors,
        restart,
    }
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

fn flag(b: bool) -> f64 {
    if b {
        1.0
    } else {
        0.0
    }
}

fn series(trials: &[Trial]) -> BTreeMap<String, Series> {
    let mut out = BTreeMap::new();
    let dockerd: Vec<&Trial> = trials
        .iter()
        .filter(|t| t.name.starts_with("dockerd"))
        .collect();
    out.insert(
        keys::DAEMON_KILL_SURVIVED.to_string(),
        Series::new("ratio", dockerd.iter().map(|t| flag(t.survived)).collect()),
    );
    for t in trials {
        let n = t.name;
        out.insert(
            format!("fault_{n}_survived"),
            Series::new("bool", vec![flag(t.survived)]),
        );
        out.insert(
            format!("fault_{n}_answered_fraction"),
            Series::new("ratio", vec![t.answered_fraction]),
        );
        out.insert(
            format!("fault_{n}_containers_running"),
            Series::new("bool", vec![flag(t.containers_running)]),
        );
        out.insert(
            format!("fault_{n}_ok_per_100ms"),
            Series::new("count", t.ok.clone()),
        );
        out.insert(
            format!("fault_{n}_errors_per_100ms"),
            Series::new("count", t.errors.clone()),
        );
        if let Some((running, back)) = t.restart {
            out.insert(
                format!("fault_{n}_restart_containers_running"),
                Series::new("bool", vec![flag(running)]),
            );
            out.insert(
                format!("fault_{n}_restart_to_answer_ms"),
                Series::new(
                    "ms",
                    back.map(|b| vec![b.as_secs_f64() * 1e3])
                        .unwrap_or_default(),
                ),
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(v: u64) -> Duration {
        Duration::from_millis(v)
    }

    #[test]
    fn probes_fall_in_100ms_buckets() {
        let log = [
            (ms(0), true),
            (ms(50), true),
            (ms(120), false),
            (ms(250), true),
        ];
        let (ok, err) = buckets(&log, ms(0), ms(300));
        assert_eq!(ok, vec![2.0, 0.0, 1.0]);
        assert_eq!(err, vec![0.0, 1.0, 0.0]);
    }

    #[test]
    fn fraction_and_recovery() {
        let log = [
            (ms(0), true),
            (ms(100), false),
            (ms(200), false),
            (ms(300), true),
        ];
        assert_eq!(answered_fraction(&log, ms(0), ms(400)), Some(0.5));
        assert_eq!(answered_fraction(&log, ms(500), ms(600)), None);
        assert_eq!(back_after(&log, ms(50)), Some(ms(250)));
        assert_eq!(back_after(&log, ms(250)), Some(Duration::ZERO));
        assert_eq!(back_after(&log[..3], ms(50)), None);
    }
}
