//! Claim C12 ("a container can be saved as a new image by commit or rebuilt from a
//! Dockerfile"): time `docker commit` of a running service container and a no-cache
//! rebuild from the Dockerfile, with the resulting image sizes. Claim C5 ("a container
//! image is small and portable"): time `docker save` of the calculator image (archive
//! size) and `docker load` of that archive. Every image made here carries the run's
//! labels and is removed before returning.

use std::collections::{BTreeMap, HashMap};
use std::time::Instant;

use bollard::container::{Config, ListContainersOptions};
use bollard::image::{CommitContainerOptions, ImportImageOptions, RemoveImageOptions};
use bollard::Docker as Engine;
use futures_util::StreamExt;

use super::{engine_error, labels, LABEL_ROLE, LABEL_RUN};
use crate::artifact::image::{build, context_tar, DOCKERFILE};
use crate::platform::PlatformError;
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
        let options = RemoveImageOptions {
            force: true,
            noprune: false,
        };
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

    let (mut commit_ms, mut commit_bytes) = (Vec::new(), Vec::new());
    for i in 0..REPETITIONS {
        let tag = format!("{run_id}-{i}");
        let options = CommitContainerOptions {
            container: container.clone(),
            repo: "virtbench-commit".to_string(),
            tag: tag.clone(),
            comment: "virtbench: docker commit experiment (claim C12)".to_string(),
            author: "virtbench".to_string(),
            // As `docker commit` does by default: consistent filesystem, brief pause.
            pause: true,
            changes: None,
        };
        let config = Config {
            labels: Some(image_labels.clone()),
            ..Default::default()
        };
        let started = Instant::now();
        engine
            .commit_container(options, config)
            .await
            .map_err(|e| engine_error(&format!("docker: committing container {container}"), &e))?;
        commit_ms.push(started.elapsed().as_secs_f64() * 1e3);
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
    let (mut build_ms, mut build_bytes) = (Vec::new(), Vec::new());
    for i in 0..REPETITIONS {
        let tag = format!("virtbench-rebuild:{run_id}-{i}");
        // Timed like `docker build --no-cache .`: packing the context is part of it.
        let started = Instant::now();
        let context = context_tar(&bytes, DOCKERFILE)
            .map_err(PlatformError::io("assembling the rebuild context"))?;
        made.push(tag.clone());
        let (_, size) = build(engine, &tag, &build_labels, true, context).await?;
        build_ms.push(started.elapsed().as_secs_f64() * 1e3);
        build_bytes.push(size as f64);
    }

    Ok(BTreeMap::from([
        ("docker_commit_ms".to_string(), Series::new("ms", commit_ms)),
        (
            "docker_commit_image_bytes".to_string(),
            Series::new("bytes", commit_bytes),
        ),
        ("docker_build_ms".to_string(), Series::new("ms", build_ms)),
        (
            "docker_build_image_bytes".to_string(),
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
            let chunk =
                chunk.map_err(|e| engine_error(&format!("docker: saving image {image}"), &e))?;
            archive.extend_from_slice(&chunk);
        }
        save_ms.push(started.elapsed().as_secs_f64() * 1e3);
        save_bytes.push(archive.len() as f64);

        let started = Instant::now();
        let mut stream =
            engine.import_image(ImportImageOptions { quiet: true }, archive.into(), None);
        while let Some(item) = stream.next().await {
            item.map_err(|e| engine_error(&format!("docker: loading the archive of {image}"), &e))?;
        }
        load_ms.push(started.elapsed().as_secs_f64() * 1e3);
    }
    Ok(BTreeMap::from([
        ("image_export_ms".to_string(), Series::new("ms", save_ms)),
        (
            "image_export_bytes".to_string(),
            Series::new("bytes", save_bytes),
        ),
        ("image_import_ms".to_string(), Series::new("ms", load_ms)),
    ]))
}

/// The running container of [`COMMITTED_ROLE`] in this run.
async fn service_container(engine: &Engine, run_id: &str) -> Result<String, PlatformError> {
    let filters = HashMap::from([(
        "label".to_string(),
        vec![
            format!("{LABEL_RUN}={run_id}"),
            format!("{LABEL_ROLE}={COMMITTED_ROLE}"),
        ],
    )]);
    let found = engine
        .list_containers(Some(ListContainersOptions {
            all: false,
            filters,
            ..Default::default()
        }))
        .await
        .map_err(|e| engine_error("docker: listing the run's containers", &e))?;
    found.into_iter().find_map(|c| c.id).ok_or_else(|| {
        PlatformError::Failed(format!(
            "docker: no running {COMMITTED_ROLE} container in run {run_id} to commit"
        ))
    })
}

async fn image_size(engine: &Engine, tag: &str) -> Result<u64, PlatformError> {
    let found = engine
        .inspect_image(tag)
        .await
        .map_err(|e| engine_error(&format!("docker: inspecting image {tag}"), &e))?;
    Ok(found.size.unwrap_or(0).max(0) as u64)
}
