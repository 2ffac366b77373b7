//! A sub-service killed mid-load, native side (issue 13): the five roles as host
//! processes of a deployment of the test's own (its own loopback ports, the run id in
//! their environment so `cleanup` finds them), `kill -9` of the `mul` process while the
//! prober sends `2*(3+4)-10/4` (which needs `mul`) every 50 ms:
//!
//! - `mul_kill`: nobody restarts it; the calculator answers 502 with its one-line
//!   reason for as long as `mul` is dead (observed 3 s);
//! - `mul_kill_supervised`: a supervisor in the harness waits for the process to die,
//!   waits [`RESPAWN_DELAY`] (systemd's default `RestartSec`) and starts it again on
//!   the same port; the time until answers are correct again is recorded.

use std::collections::BTreeMap;
use std::time::Duration;

use super::{spawn, NativeDeployment};
use crate::measure::fault::{
    self, back_after, Prober, Trial, AFTER, BACK_WITHIN, BEFORE, KILLED_ROLE, RESPAWN_DELAY,
    SERVICE_EXPRESSION,
};
use crate::platform::{Deployment, PlatformError, RunContext};
use crate::stats::Series;

const READY_WITHIN: Duration = Duration::from_secs(30);

fn cancelled(_: ()) -> PlatformError {
    PlatformError::Cancelled
}

/// Both trials on a deployment of their own, removed afterwards (also on error).
pub async fn run(ctx: &RunContext) -> Result<BTreeMap<String, Series>, PlatformError> {
    let mut d = spawn(ctx).await?;
    let result = trials(&mut d, ctx).await;
    d.teardown().await?;
    let trials = result?;
    for t in &trials {
        tracing::info!("native: {}", t.summary());
    }
    Ok(fault::series(&trials))
}

impl NativeDeployment {
    fn pid_of(&self, role: &str) -> Option<u32> {
        self.children
            .iter()
            .find(|(r, _, _)| *r == role)
            .and_then(|(_, c, _)| c.id())
    }

    fn kill(&mut self, role: &str) -> Result<(), PlatformError> {
        let pid = self
            .pid_of(role)
            .ok_or_else(|| PlatformError::Failed(format!("native: no {role} process to kill")))?;
        tracing::info!(pid, role, "native: kill -9 of a sub-service");
        // SAFETY: kill(2) of our own child.
        unsafe { libc::kill(pid as i32, libc::SIGKILL) };
        Ok(())
    }

    /// Wait for `role`'s process to be dead and reap it (a supervisor's SIGCHLD).
    async fn reap(&mut self, role: &str) -> Result<(), PlatformError> {
        if let Some((_, child, _)) = self.children.iter_mut().find(|(r, _, _)| *r == role) {
            child
                .wait()
                .await
                .map_err(PlatformError::io(format!("waiting for native {role}")))?;
        }
        Ok(())
    }

    /// Start `role` again in place of its dead process.
    fn respawn(&mut self, role: &'static str) -> Result<(), PlatformError> {
        let fresh = self.start(role)?;
        if let Some(slot) = self.children.iter_mut().find(|(r, _, _)| *r == role) {
            *slot = fresh;
        }
        Ok(())
    }
}

async fn ready(d: &NativeDeployment, ctx: &RunContext) -> Result<(), PlatformError> {
    match fault::until_ready(d.endpoint, SERVICE_EXPRESSION, READY_WITHIN, &ctx.cancel).await {
        Ok(true) => Ok(()),
        Ok(false) => Err(PlatformError::Timeout {
            what: "native: the calculator answering for the sub-service kill".into(),
            after: READY_WITHIN,
        }),
        Err(()) => Err(PlatformError::Cancelled),
    }
}

async fn trials(d: &mut NativeDeployment, ctx: &RunContext) -> Result<Vec<Trial>, PlatformError> {
    let cancel = &ctx.cancel;
    ready(d, ctx).await?;

    // Without a supervisor.
    let prober = Prober::start(d.endpoint, SERVICE_EXPRESSION);
    let observed = async {
        fault::pause(BEFORE, cancel).await.map_err(cancelled)?;
        let killed = prober.now();
        d.kill(KILLED_ROLE)?;
        fault::pause(AFTER, cancel).await.map_err(cancelled)?;
        Ok::<_, PlatformError>(killed)
    }
    .await;
    let end = prober.now();
    let log = prober.stop().await;
    let killed = observed?;
    let alone = Trial::from_log("mul_kill", &log, killed, end, None, None);

    // Started again by hand before the next trial.
    d.reap(KILLED_ROLE).await?;
    d.respawn(KILLED_ROLE)?;
    ready(d, ctx).await?;

    // With a supervisor that respawns it.
    let prober = Prober::start(d.endpoint, SERVICE_EXPRESSION);
    let observed = async {
        fault::pause(BEFORE, cancel).await.map_err(cancelled)?;
        let killed = prober.now();
        d.kill(KILLED_ROLE)?;
        d.reap(KILLED_ROLE).await?;
        fault::pause(RESPAWN_DELAY, cancel)
            .await
            .map_err(cancelled)?;
        d.respawn(KILLED_ROLE)?;
        let waited = prober.now().saturating_sub(killed);
        fault::pause(AFTER.saturating_sub(waited), cancel)
            .await
            .map_err(cancelled)?;
        fault::until_back(&prober, killed, BACK_WITHIN, cancel)
            .await
            .map_err(cancelled)?;
        Ok::<_, PlatformError>(killed)
    }
    .await;
    let end = prober.now();
    let log = prober.stop().await;
    let killed = observed?;
    let running = d
        .pid_of(KILLED_ROLE)
        .is_some_and(|p| !crate::platform::process::is_dead(p));
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
