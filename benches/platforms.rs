//! Criterion benches per platform this host offers:
//! - `latency/<variant>`: one request through the deployed calculator (deployed once per
//!   bench, one keep-alive connection);
//! - `startup/<variant>`: create call to first correct answer, a fresh deployment per
//!   iteration, flat sampling, 10 samples; teardown is not timed.
//!
//! - `startup_poll/added_after_listen`: what the readiness poll itself adds to a
//!   startup figure: from the instant a server starts listening (and answers correctly
//!   at once) to the instant the poll returns its answer. A figure for the report's
//!   readers, not a test bound (the charter keeps timing out of tests).
//!
//! Platforms the host lacks are skipped with one printed line. The scenario is
//! `scenarios/quick.toml` (one variant per platform is benched: the first it lists), or
//! `$VIRTBENCH_BENCH_SCENARIO`; `$VIRTBENCH_BENCH_PLATFORMS=native,docker` narrows the set.

use std::path::Path;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, SamplingMode};
use tokio_util::sync::CancellationToken;
use virtbench::measure::http::Client;
use virtbench::measure::Probe;
use virtbench::platform::{self, Availability, Platform, RunContext};
use virtbench::run::{deploy_ready, new_run_id};
use virtbench::scenario::Scenario;

fn scenario() -> Scenario {
    let path = std::env::var("VIRTBENCH_BENCH_SCENARIO")
        .unwrap_or_else(|_| concat!(env!("CARGO_MANIFEST_DIR"), "/scenarios/quick.toml").into());
    match Scenario::load(Path::new(&path)) {
        Ok((s, _)) => s,
        Err(e) => panic!("{e}"),
    }
}

fn selected(p: &dyn Platform, s: &Scenario) -> bool {
    match std::env::var("VIRTBENCH_BENCH_PLATFORMS") {
        Ok(list) => list.split(',').any(|n| n.trim() == p.name()),
        Err(_) => s.platforms.iter().any(|n| n == p.name()),
    }
}

fn platforms(c: &mut Criterion) {
    let rt = tokio::runtime::Runtime::new().expect("tokio runtime");
    let scenario = scenario();
    let probe = Probe::for_expression(&scenario.workload.expressions[0]).expect("valid expression");
    let run_id = new_run_id();
    let ctx =
        RunContext::new(&run_id, scenario.clone(), CancellationToken::new()).expect("scratch dir");
    for p in platform::all() {
        if !selected(p.as_ref(), &scenario) {
            continue;
        }
        if let Availability::Unavailable { reason, .. } = rt.block_on(p.probe()) {
            println!("skipping {}: {reason}", p.name());
            continue;
        }
        if let Err(e) = rt.block_on(p.prepare(&ctx)) {
            println!("skipping {}: artifacts: {e}", p.name());
            continue;
        }
        let Some(variant) = p.variants(&scenario).into_iter().next() else {
            continue;
        };
        let label = variant.label.clone();

        let mut group = c.benchmark_group("startup");
        group.sampling_mode(SamplingMode::Flat).sample_size(10);
        // One deployment per sample: criterion's iteration count stays at 1 when the
        // measurement time is shorter than one startup.
        group
            .warm_up_time(Duration::from_millis(1))
            .measurement_time(Duration::from_millis(10));
        group.bench_function(&label, |b| {
            b.to_async(&rt).iter_custom(|iters| {
                let (p, ctx, variant, probe) = (&p, &ctx, &variant, &probe);
                async move {
                    let mut total = Duration::ZERO;
                    for _ in 0..iters {
                        let mut ready = deploy_ready(p.as_ref(), ctx, variant, probe)
                            .await
                            .unwrap_or_else(|e| panic!("{label}: {e}", label = variant.label));
                        total += ready.ready.duration_since(ready.t0);
                        ready.dep.teardown().await.expect("teardown");
                    }
                    total
                }
            })
        });
        group.finish();

        let mut ready = rt
            .block_on(deploy_ready(p.as_ref(), &ctx, &variant, &probe))
            .unwrap_or_else(|e| panic!("{label}: {e}"));
        let addr = ready.dep.endpoint();
        let mut group = c.benchmark_group("latency");
        group.bench_function(&label, |b| {
            b.to_async(&rt).iter_custom(|iters| {
                let probe = &probe;
                async move {
                    let mut client = Client::new(addr);
                    let deadline = || tokio::time::Instant::now() + Duration::from_secs(10);
                    client.connect(deadline()).await.expect("connect");
                    let start = Instant::now();
                    for _ in 0..iters {
                        let answer = client
                            .post(probe.body.clone(), deadline())
                            .await
                            .expect("request");
                        assert!(
                            probe.accepts(&answer.body),
                            "wrong answer from {addr}: {}",
                            answer.describe()
                        );
                    }
                    start.elapsed()
                }
            })
        });
        group.finish();
        rt.block_on(ready.dep.teardown()).expect("teardown");
        let _ = rt.block_on(p.cleanup(Some(&run_id)));
    }
    let _ = std::fs::remove_dir_all(&ctx.work_dir);
}

/// A server on `addr` that starts listening after `delay` and answers every request with
/// `body`; returns the instant it started listening.
async fn listen_later(
    addr: std::net::SocketAddr,
    delay: Duration,
    body: &'static str,
) -> tokio::task::JoinHandle<Instant> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    tokio::spawn(async move {
        tokio::time::sleep(delay).await;
        let listener = tokio::net::TcpListener::bind(addr).await.expect("bind");
        let bound = Instant::now();
        tokio::spawn(async move {
            while let Ok((mut s, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let mut buf = [0u8; 4096];
                    // One request per connection is all the poll sends.
                    if s.read(&mut buf).await.unwrap_or(0) > 0 {
                        let reply = format!(
                            "HTTP/1.1 200 OK\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                            body.len()
                        );
                        let _ = s.write_all(reply.as_bytes()).await;
                    }
                });
            }
        });
        bound
    })
}

fn startup_poll(c: &mut Criterion) {
    let rt = tokio::runtime::Runtime::new().expect("tokio runtime");
    let probe = Probe::for_expression("(5+3)/2").expect("valid expression");
    let mut group = c.benchmark_group("startup_poll");
    group.sample_size(20);
    group.bench_function("added_after_listen", |b| {
        b.to_async(&rt).iter_custom(|iters| {
            let probe = &probe;
            async move {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let port = platform::free_loopback_port().expect("free port");
                    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
                    let server =
                        listen_later(addr, Duration::from_millis(30), "result = 4\r\n").await;
                    let at = virtbench::measure::startup::wait_first_correct(
                        addr,
                        probe,
                        Duration::from_secs(10),
                        &CancellationToken::new(),
                    )
                    .await
                    .expect("answered");
                    let bound = server.await.expect("server task");
                    total += at.saturating_duration_since(bound);
                }
                total
            }
        })
    });
    group.finish();
}

criterion_group!(benches, startup_poll, platforms);
criterion_main!(benches);
