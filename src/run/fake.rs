//! A scripted [`Platform`] for the runner's own tests: each step does what its script
//! says (work, fail, panic, fire the run's cancellation), and everything the runner
//! asks of it is written to a shared journal, so a test can check that the teardown
//! and the cleanup backstop ran whatever went wrong. Pure logic only: what a real
//! platform does is tested on the real platform (tests/docker.rs, tests/qemu.rs...).
//!
//! A deployment that gets as far as answering is a small HTTP server on loopback that
//! computes the answer as the calculator does, so the runner measures it for real.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;

use crate::platform::facts::Facts;
use crate::platform::{
    Availability, Deployment, Platform, PlatformError, ResourceSample, RunContext, Variant,
};
use crate::results::ArtifactRecord;
use crate::scenario::Scenario;
use crate::stats::Series;

/// What one step does.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub enum Act {
    #[default]
    Work,
    Fail,
    Panic,
    /// Fire the run's cancellation (as Ctrl-C does), then return `Cancelled` as a step
    /// that watches the token does.
    Cancel,
    /// Fire the run's cancellation, then finish the step anyway, as a request already
    /// sent to an engine does (the engine creates the container regardless).
    CancelThenFinish,
}

/// The behaviour of one fake platform, step by step.
#[derive(Debug, Clone, Default)]
pub struct Script {
    pub probe: Act,
    pub prepare: Act,
    pub deploy: Act,
    /// The deployment's process dies before its first answer.
    pub dies_before_ready: bool,
    /// `sample` fails from this call on (1-based): a measurement that fails.
    pub sample_fails_from: Option<usize>,
    /// `sample` says the resources are not observable (a remote cloud's instances).
    pub not_observable: bool,
    pub extras: Act,
    pub teardown: Act,
    /// The backstop cleanup fails.
    pub cleanup_fails: bool,
}

/// What the runner asked of the fakes, in order: "docker: deploy", "docker: deployed"
/// (a deployment was handed back), "docker: teardown", "docker: cleanup <run-id>".
#[derive(Debug, Clone, Default)]
pub struct Journal(Arc<Mutex<Vec<String>>>);

impl Journal {
    fn note(&self, line: String) {
        self.0.lock().unwrap().push(line);
    }

    pub fn lines(&self) -> Vec<String> {
        self.0.lock().unwrap().clone()
    }

    pub fn count(&self, line: &str) -> usize {
        self.lines().iter().filter(|l| *l == line).count()
    }
}

pub struct Fake {
    pub name: &'static str,
    pub script: Script,
    pub journal: Journal,
}

impl Fake {
    fn note(&self, what: &str) {
        self.journal.note(format!("{}: {what}", self.name));
    }

    async fn act(
        &self,
        step: &str,
        act: Act,
        ctx: Option<&RunContext>,
    ) -> Result<(), PlatformError> {
        match act {
            Act::Work => Ok(()),
            Act::Fail => Err(PlatformError::Failed(format!("{step} failed as scripted"))),
            Act::Panic => panic!("{step} panicked as scripted"),
            Act::Cancel => {
                let cancel = &ctx.expect("a step with a run context").cancel;
                cancel.cancel();
                cancel.cancelled().await;
                Err(PlatformError::Cancelled)
            }
            Act::CancelThenFinish => {
                ctx.expect("a step with a run context").cancel.cancel();
                tokio::time::sleep(Duration::from_millis(50)).await;
                Ok(())
            }
        }
    }
}

#[async_trait]
impl Platform for Fake {
    fn name(&self) -> &'static str {
        self.name
    }

    fn facts(&self) -> Facts {
        Facts::process("a fake")
    }

    async fn probe(&self) -> Availability {
        self.note("probe");
        if self.script.probe == Act::Panic {
            panic!("probe panicked as scripted");
        }
        Availability::Available {
            details: BTreeMap::from([("fake".to_string(), "yes".to_string())]),
        }
    }

    fn variants(&self, _scenario: &Scenario) -> Vec<Variant> {
        vec![Variant::new(
            format!("{}/fake", self.name),
            &[("mode", "fake")],
        )]
    }

    async fn prepare(&self, ctx: &RunContext) -> Result<Vec<ArtifactRecord>, PlatformError> {
        self.note("prepare");
        self.act("prepare", self.script.prepare, Some(ctx)).await?;
        Ok(Vec::new())
    }

    async fn deploy(
        &self,
        ctx: &RunContext,
        _variant: &Variant,
    ) -> Result<Box<dyn Deployment>, PlatformError> {
        self.note("deploy");
        self.act("deploy", self.script.deploy, Some(ctx)).await?;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(PlatformError::io("binding the fake calculator"))?;
        let addr = listener.local_addr().expect("a bound listener");
        let server = if self.script.dies_before_ready {
            // Nothing answers: the runner must learn of the death from `exited`.
            drop(listener);
            None
        } else {
            Some(tokio::spawn(serve(listener)))
        };
        self.note("deployed");
        Ok(Box::new(FakeDeployment {
            name: self.name,
            addr,
            server,
            script: self.script.clone(),
            journal: self.journal.clone(),
            samples: AtomicUsize::new(0),
        }))
    }

    async fn extras(
        &self,
        ctx: &RunContext,
        _deployment: &mut dyn Deployment,
    ) -> Result<BTreeMap<String, Series>, PlatformError> {
        self.note("extras");
        self.act("extras", self.script.extras, Some(ctx)).await?;
        Ok(BTreeMap::from([(
            "fake_extra_ms".to_string(),
            Series::new("ms", vec![1.0]),
        )]))
    }

    async fn cleanup(&self, run_id: Option<&str>) -> Result<usize, PlatformError> {
        self.note(&format!("cleanup {}", run_id.unwrap_or("all")));
        if self.script.cleanup_fails {
            return Err(PlatformError::Failed("cleanup failed as scripted".into()));
        }
        Ok(0)
    }
}

struct FakeDeployment {
    name: &'static str,
    addr: SocketAddr,
    server: Option<tokio::task::JoinHandle<()>>,
    script: Script,
    journal: Journal,
    samples: AtomicUsize,
}

#[async_trait]
impl Deployment for FakeDeployment {
    fn endpoint(&self) -> SocketAddr {
        self.addr
    }

    fn deploy_phases(&self) -> Vec<(String, Duration)> {
        vec![("create".into(), Duration::from_millis(1))]
    }

    async fn sample(&self) -> Result<ResourceSample, PlatformError> {
        let n = self.samples.fetch_add(1, Ordering::SeqCst) + 1;
        if self.script.not_observable {
            return Err(PlatformError::NotObservable("scripted remote".into()));
        }
        if self.script.sample_fails_from.is_some_and(|from| n >= from) {
            return Err(PlatformError::Failed("sample failed as scripted".into()));
        }
        // Constant CPU: settles at once.
        Ok(ResourceSample {
            rss_bytes: 1 << 20,
            pss_bytes: None,
            cpu_seconds: 0.0,
            cpu_resolution_s: 1e-9,
        })
    }

    fn exited(&mut self) -> Option<String> {
        self.script
            .dies_before_ready
            .then(|| "the fake process exited as scripted".into())
    }

    async fn teardown(&mut self) -> Result<(), PlatformError> {
        self.journal.note(format!("{}: teardown", self.name));
        if let Some(s) = self.server.take() {
            s.abort();
        }
        match self.script.teardown {
            Act::Fail => Err(PlatformError::Failed("teardown failed as scripted".into())),
            Act::Panic => panic!("teardown panicked as scripted"),
            _ => Ok(()),
        }
    }
}

impl Drop for FakeDeployment {
    fn drop(&mut self) {
        if let Some(s) = self.server.take() {
            s.abort();
        }
    }
}

/// Answers every `POST /` as the calculator would: `result = N` for the expression.
async fn serve(listener: tokio::net::TcpListener) {
    while let Ok((stream, _)) = listener.accept().await {
        tokio::spawn(async move {
            let svc = service_fn(|req: hyper::Request<hyper::body::Incoming>| async move {
                let body = req.into_body().collect().await.map(|b| b.to_bytes());
                let text = body.ok().and_then(|b| String::from_utf8(b.to_vec()).ok());
                let answer = text
                    .and_then(|t| calculator::expr::evaluate_local(&t).ok())
                    .map(calculator::expr::response_body)
                    .unwrap_or_else(|| "bad expression\n".into());
                Ok::<_, Infallible>(hyper::Response::new(Full::new(Bytes::from(answer))))
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), svc)
                .await;
        });
    }
}
