//! Claim C12 ("a container can be saved as a new image by commit or rebuilt from a
//! Dockerfile"): time `docker commit` of a running service container and a no-cache
//! rebuild from the Dockerfile, with the resulting image sizes. Claim C5 ("a container
//! image is small and portable"): time `docker save` of the calculator image (archive
//! size) and `docker load` of that archive. Every image made here carries the run's
//! labels and is removed before returning.

use std::collections::{BTreeMap, HashMap};
use std::time::Instant;

use bollard::models::{ContainerConfig, ContainerCreateBody, HostConfig};
use bollard::query_parameters::{
    CommitContainerOptionsBuilder, CreateContainerOptionsBuilder, ImportImageOptionsBuilder,
    ListContainersOptionsBuilder, RemoveContainerOptionsBuilder, RemoveImageOptionsBuilder,
    StartContainerOptions,
};
use bollard::Docker as Engine;
use futures_util::StreamExt;

use super::{engine_error, labels, LABEL_ROLE, LABEL_RUN};
use crate::measure::{isolation, noise};
use crate::platform::docker::image::{build, context_tar, DOCKERFILE};
use crate::platform::PlatformError;
use crate::results::keys;
use crate::stats::Series;

/// Repetitions of each experiment (each is a fresh image).
pub const REPETITIONS: usize = 3;
/// The service container that is committed (a sub-service: it never changes state).
pub const COMMITTED_ROLE: &str = "sum";

pub async fn run(
    engine: &Engine,
    run_id: &str,
    binary: &std::path::Path,
    image: &str,
) -> Result<BTreeMap<String, Series>, PlatformError> {
    let mut made: Vec<String> = Vec::new();
    let result = measure(engine, run_id, binary, &mut made).await;
    let result = match (result, save_load(engine, image).await) {
        (Ok(mut a), Ok(b)) => {
            a.extend(b);
            Ok(a)
        }
        (Err(e), _) | (_, Err(e)) => Err(e),
    };
    for tag in &made {
        let options = RemoveImageOptionsBuilder::default()
            .force(true)
            .noprune(false)
            .build();
        if let Err(e) = engine.remove_image(tag, Some(options), None).await {
            tracing::warn!(%tag, error = %e, "docker: could not remove experiment image");
        }
    }
    result
}

async fn measure(
    engine: &Engine,
    run_id: &str,
    binary: &std::path::Path,
    made: &mut Vec<String>,
) -> Result<BTreeMap<String, Series>, PlatformError> {
    let container = service_container(engine, run_id).await?;
    let image_labels = labels(run_id, None);

    // Each attempt's outcome is a value (1 made an image, 0 failed, with the first
    // failure's reason as the series' note): a failed commit is a result of C12, not a
    // missing key, and it does not discard the other experiments' figures.
    let (mut commit_ms, mut commit_bytes, mut commit_ok) = (Vec::new(), Vec::new(), Vec::new());
    let mut commit_failure: Option<String> = None;
    for i in 0..REPETITIONS {
        let tag = format!("{run_id}-{i}");
        let options = CommitContainerOptionsBuilder::default()
            .container(&container)
            .repo("virtbench-commit")
            .tag(&tag)
            .comment("virtbench: docker commit experiment (claim C12)")
            .author("virtbench")
            // As `docker commit` does by default: consistent filesystem, brief pause.
            .pause(true)
            .build();
        let config = ContainerConfig {
            labels: Some(image_labels.clone()),
            ..Default::default()
        };
        let started = Instant::now();
        if let Err(e) = engine.commit_container(options, config).await {
            let e = engine_error(&format!("committing container {container}"), &e);
            tracing::warn!(error = %e, "docker commit failed (C12)");
            commit_failure.get_or_insert(e.to_string());
            commit_ok.push(0.0);
            continue;
        }
        commit_ms.push(started.elapsed().as_secs_f64() * 1e3);
        commit_ok.push(1.0);
        let full = format!("virtbench-commit:{tag}");
        made.push(full.clone());
        commit_bytes.push(image_size(engine, &full).await? as f64);
    }

    let bytes = tokio::fs::read(binary)
        .await
        .map_err(PlatformError::io(format!("reading {}", binary.display())))?;
    let build_labels: Vec<(&str, &str)> = image_labels
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let (mut build_ms, mut build_bytes, mut build_ok) = (Vec::new(), Vec::new(), Vec::new());
    let mut build_failure: Option<String> = None;
    for i in 0..REPETITIONS {
        let tag = format!("virtbench-rebuild:{run_id}-{i}");
        // Timed like `docker build --no-cache .`: packing the context is part of it.
        let started = Instant::now();
        let context = context_tar(&bytes, DOCKERFILE)
            .map_err(PlatformError::io("assembling the rebuild context"))?;
        made.push(tag.clone());
        match build(engine, &tag, &build_labels, true, context).await {
            Ok((_, size)) => {
                build_ms.push(started.elapsed().as_secs_f64() * 1e3);
                build_bytes.push(size as f64);
                build_ok.push(1.0);
            }
            Err(PlatformError::Cancelled) => return Err(PlatformError::Cancelled),
            Err(e) => {
                tracing::warn!(error = %e, "docker build failed (C12)");
                build_failure.get_or_insert(e.to_string());
                build_ok.push(0.0);
            }
        }
    }
    let outcome = |ok: Vec<f64>, failure: Option<String>| {
        let s = Series::new("ratio", ok);
        match failure {
            Some(why) => s.with_note(why),
            None => s,
        }
    };

    Ok(BTreeMap::from([
        (
            keys::DOCKER_COMMIT_OK.to_string(),
            outcome(commit_ok, commit_failure),
        ),
        (
            keys::DOCKER_BUILD_OK.to_string(),
            outcome(build_ok, build_failure),
        ),
        (
            keys::DOCKER_COMMIT_MS.to_string(),
            Series::new("ms", commit_ms),
        ),
        (
            keys::DOCKER_COMMIT_IMAGE_BYTES.to_string(),
            Series::new("bytes", commit_bytes),
        ),
        (
            keys::DOCKER_BUILD_MS.to_string(),
            Series::new("ms", build_ms),
        ),
        (
            keys::DOCKER_BUILD_IMAGE_BYTES.to_string(),
            Series::new("bytes", build_bytes),
        ),
    ]))
}

/// `docker save` of `image` into memory, then `docker load` of the archive. The
/// image's layers are already on this engine (running containers use them), so the
/// load time is reading and verifying the archive, not unpacking new layers.
async fn save_load(
    engine: &Engine,
    image: &str,
) -> Result<BTreeMap<String, Series>, PlatformError> {
    let (mut save_ms, mut save_bytes, mut load_ms) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..REPETITIONS {
        let started = Instant::now();
        let mut archive = Vec::new();
        let mut stream = engine.export_image(image);
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| engine_error(&format!("saving image {image}"), &e))?;
            archive.extend_from_slice(&chunk);
        }
        save_ms.push(started.elapsed().as_secs_f64() * 1e3);
        save_bytes.push(archive.len() as f64);

        let started = Instant::now();
        let options = ImportImageOptionsBuilder::default().quiet(true).build();
        let mut stream = engine.import_image(options, bollard::body_full(archive.into()), None);
        while let Some(item) = stream.next().await {
            item.map_err(|e| engine_error(&format!("loading the archive of {image}"), &e))?;
        }
        load_ms.push(started.elapsed().as_secs_f64() * 1e3);
    }
    Ok(BTreeMap::from([
        (
            keys::IMAGE_EXPORT_MS.to_string(),
            Series::new("ms", save_ms),
        ),
        (
            keys::IMAGE_EXPORT_BYTES.to_string(),
            Series::new("bytes", save_bytes),
        ),
        (
            keys::IMAGE_IMPORT_MS.to_string(),
            Series::new("ms", load_ms),
        ),
    ]))
}

/// Isolation facts asked of the calculator container (C3; canaries on host loopback and
/// on its network's gateway, the host's side of the bridge) and reachability (C9): at
/// the container's own bridge address without the published port, and through the
/// port published on 127.0.0.1 (the deployment's endpoint).
pub async fn facts(
    engine: &Engine,
    run_id: &str,
    endpoint: std::net::SocketAddr,
) -> Result<BTreeMap<String, Series>, PlatformError> {
    let found = running_of_role(engine, run_id, "calculator").await?;
    // On a bridge network, the container's own address and its gateway (host mode has
    // neither).
    let mut direct: Option<std::net::SocketAddr> = None;
    let mut gateway: Option<std::net::IpAddr> = None;
    for id in found {
        let info = engine
            .inspect_container(&id, None)
            .await
            .map_err(|e| engine_error(&format!("inspecting container {id}"), &e))?;
        let endpoints: Vec<_> = info
            .network_settings
            .and_then(|n| n.networks)
            .into_iter()
            .flat_map(|n| n.into_values())
            .collect();
        let ip = |s: &Option<String>| {
            s.as_deref()
                .and_then(|s| s.parse::<std::net::IpAddr>().ok())
        };
        direct = endpoints
            .iter()
            .find_map(|e| ip(&e.ip_address))
            .map(|ip| (ip, crate::platform::default_port("calculator")).into());
        gateway = endpoints.iter().find_map(|e| ip(&e.gateway));
    }
    isolation::container_facts(run_id, endpoint, direct, gateway).await
}

/// C6: the calculator's p99 quiet, then beside a sibling container of the same image
/// running `calculator noise` of each kind in turn (no network; removed before the
/// next).
pub async fn noisy_neighbour(
    engine: &Engine,
    run_id: &str,
    image: &str,
    endpoint: std::net::SocketAddr,
    windows: usize,
) -> Result<BTreeMap<String, Series>, PlatformError> {
    let quiet = noise::p99_windows(endpoint, windows).await?;
    let mut noisy = Vec::new();
    for kind in noise::KINDS {
        noisy.push((
            kind,
            beside_noise(engine, run_id, image, endpoint, kind, windows).await?,
        ));
    }
    Ok(noise::extras(quiet, noisy))
}

async fn beside_noise(
    engine: &Engine,
    run_id: &str,
    image: &str,
    endpoint: std::net::SocketAddr,
    kind: noise::Kind,
    windows: usize,
) -> Result<Series, PlatformError> {
    let name = super::deployment::resource_name(run_id, Some(&format!("noise-{}", kind.name())));
    let config = ContainerCreateBody {
        image: Some(image.to_string()),
        cmd: Some(vec![
            "noise".to_string(),
            "/tmp".to_string(),
            kind.name().to_string(),
        ]),
        labels: Some(labels(run_id, Some("noise"))),
        host_config: Some(HostConfig {
            network_mode: Some("none".into()),
            ..Default::default()
        }),
        ..Default::default()
    };
    let options = CreateContainerOptionsBuilder::default().name(&name).build();
    let noisy = async {
        engine
            .create_container(Some(options), config)
            .await
            .map_err(|e| engine_error(&format!("creating container {name}"), &e))?;
        engine
            .start_container(&name, None::<StartContainerOptions>)
            .await
            .map_err(|e| engine_error(&format!("starting container {name}"), &e))?;
        tokio::time::sleep(noise::SETTLE).await;
        let measured = noise::p99_windows(endpoint, windows).await?;
        // Still running at the end: the noise really was there all along.
        let state = engine
            .inspect_container(&name, None)
            .await
            .map_err(|e| engine_error(&format!("inspecting container {name}"), &e))?
            .state;
        match state {
            Some(s) if s.running == Some(true) => Ok(measured),
            s => Err(PlatformError::at(
                "docker",
                format!("noise sibling {name}"),
                format!(
                    "stopped during the test (exit code {:?})",
                    s.and_then(|s| s.exit_code)
                ),
            )),
        }
    }
    .await;
    let options = RemoveContainerOptionsBuilder::default().force(true).build();
    if let Err(e) = engine.remove_container(&name, Some(options)).await {
        tracing::warn!(%name, error = %e, "docker: could not remove the noise sibling");
    }
    noisy
}

/// The running container of [`COMMITTED_ROLE`] in this run.
async fn service_container(engine: &Engine, run_id: &str) -> Result<String, PlatformError> {
    let found = running_of_role(engine, run_id, COMMITTED_ROLE).await?;
    found.into_iter().next().ok_or_else(|| {
        PlatformError::at(
            "docker",
            "commit",
            format!("no running {COMMITTED_ROLE} container in run {run_id}"),
        )
    })
}

/// Ids of the running containers of `role` in run `run_id`.
async fn running_of_role(
    engine: &Engine,
    run_id: &str,
    role: &str,
) -> Result<Vec<String>, PlatformError> {
    let filters = HashMap::from([(
        "label".to_string(),
        vec![
            format!("{LABEL_RUN}={run_id}"),
            format!("{LABEL_ROLE}={role}"),
        ],
    )]);
    let found = engine
        .list_containers(Some(
            ListContainersOptionsBuilder::default()
                .all(false)
                .filters(&filters)
                .build(),
        ))
        .await
        .map_err(|e| engine_error("listing the run's containers", &e))?;
    Ok(found.into_iter().filter_map(|c| c.id).collect())
}

async fn image_size(engine: &Engine, tag: &str) -> Result<u64, PlatformError> {
    let found = engine
        .inspect_image(tag)
        .await
        .map_err(|e| engine_error(&format!("inspecting image {tag}"), &e))?;
    Ok(found.size.unwrap_or(0).max(0) as u64)
}
