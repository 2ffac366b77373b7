//! Helpers shared by the platforms' tests (docker, podman, lxc, faults, service kill):
//! a run context of the test's own, one request to the calculator, and waiting for its
//! first correct answer.

// Each test crate uses part of these helpers.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;
use virtbench::platform::{Deployment, RunContext};
use virtbench::scenario::Scenario;

/// A run context for test `test` of `suite`, with the run id `t<pid>-<test>` and a
/// cache and work directory of its own under the temporary directory.
pub fn context(suite: &str, test: &str, scenario: Scenario) -> RunContext {
    let pid = std::process::id();
    let dir = std::env::temp_dir().join(format!("vb-{suite}-test-{pid}-{test}"));
    std::fs::create_dir_all(dir.join("work")).unwrap();
    RunContext::with_dirs(
        &format!("t{pid}-{test}"),
        scenario,
        dir.join("cache"),
        dir.join("work"),
        CancellationToken::new(),
    )
}

/// Give up waiting for the first correct answer after this long (a bound, not a
/// timing assertion).
pub const READY_BOUND: Duration = Duration::from_secs(30);

/// POST an expression; the body on 200, the status and body otherwise.
pub async fn post(addr: SocketAddr, body: &str) -> Result<String, String> {
    // reqwest is built without a crypto provider (Cargo.toml): plain HTTP needs none,
    // but the builder insists on one being installed.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(3))
        .build()
        .unwrap();
    let resp = client
        .post(format!("http://{addr}/"))
        .body(body.to_string())
        .send()
        .await
        .map_err(|e| e.to_string())?;
    let status = resp.status();
    let text = resp.text().await.map_err(|e| e.to_string())?;
    if status.is_success() {
        Ok(text)
    } else {
        Err(format!("{status}: {text}"))
    }
}

/// Time until the deployment answers `(5+3)/2` correctly; panics with the last error.
pub async fn wait_correct(d: &mut dyn Deployment) -> Duration {
    let addr = d.endpoint();
    let started = Instant::now();
    let mut last = String::new();
    while started.elapsed() < READY_BOUND {
        match post(addr, "(5+3)/2").await {
            Ok(body) if body == "result = 4\r\n" => return started.elapsed(),
            Ok(body) => last = format!("wrong answer {body:?}"),
            Err(e) => last = e,
        }
        if let Some(why) = d.exited() {
            panic!("no correct answer from {addr}: {why}");
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    panic!("no correct answer from {addr} within {READY_BOUND:?}; last: {last}");
}
