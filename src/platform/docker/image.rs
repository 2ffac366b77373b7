//! The calculator's container image: `FROM scratch` plus the static binary, built by
//! the engine from a tar context assembled in memory (no registry, no temp directory).
//! The image is tagged with the binary's hash and reused until the binary changes.

use std::collections::HashMap;
use std::time::Instant;

use bollard::query_parameters::{
    BuildImageOptionsBuilder, ListImagesOptionsBuilder, RemoveImageOptions,
};
use bollard::Docker as Engine;
use futures_util::StreamExt;

use super::engine_error;
use crate::artifact::calculator::CalculatorBinary;
use crate::platform::PlatformError;
use crate::results::ArtifactRecord;

/// Repository of the cached calculator image; the tag is the binary's hash prefix.
pub const REPOSITORY: &str = "virtbench-calculator";
/// Every image, container and network virtbench creates carries this label.
pub const LABEL: &str = "virtbench";
/// Content hash of the binary inside the image (the cache key).
pub const LABEL_BINARY_SHA: &str = "virtbench.binary-sha256";
/// Path of the binary inside the image.
pub const BINARY_PATH: &str = "/calculator";

/// The Dockerfile of the image (also used as is by the "rebuild from a Dockerfile"
/// experiment, claim C12).
pub const DOCKERFILE: &str =
    "FROM scratch\nCOPY calculator /calculator\nENTRYPOINT [\"/calculator\"]\n";

/// An image ready to run.
#[derive(Debug, Clone, PartialEq)]
pub struct CalculatorImage {
    /// `virtbench-calculator:<sha12>`.
    pub tag: String,
    /// Engine image id (`sha256:...`).
    pub id: String,
    /// Size the engine reports for the image, bytes.
    pub bytes: u64,
    /// Build time; `None` when the image was already there.
    pub build_ms: Option<f64>,
    pub cached: bool,
}

/// The results' record of an image `tag` of an engine (`name`: "docker-image",
/// "podman-image").
pub fn image_record(
    name: &str,
    tag: &str,
    bytes: u64,
    build_ms: Option<f64>,
    cached: bool,
) -> ArtifactRecord {
    ArtifactRecord {
        name: name.into(),
        bytes,
        build_ms,
        cached,
        path: Some(tag.into()),
    }
}

impl CalculatorImage {
    pub fn record(&self) -> ArtifactRecord {
        image_record(
            "docker-image",
            &self.tag,
            self.bytes,
            self.build_ms,
            self.cached,
        )
    }
}

/// The tag of the image holding the binary with this SHA-256.
pub fn tag_for(sha256: &str) -> String {
    format!("{REPOSITORY}:{}", &sha256[..12.min(sha256.len())])
}

/// A build context: `Dockerfile` and the binary as `calculator` (mode 0755), as an
/// uncompressed tar in memory. Fixed mtimes keep the context byte-identical for the
/// same binary.
pub fn context_tar(binary: &[u8], dockerfile: &str) -> std::io::Result<Vec<u8>> {
    let mut builder = tar::Builder::new(Vec::with_capacity(binary.len() + 4096));
    let mut add = |name: &str, mode: u32, data: &[u8]| -> std::io::Result<()> {
        let mut header = tar::Header::new_gnu();
        header.set_size(data.len() as u64);
        header.set_mode(mode);
        header.set_mtime(0);
        header.set_entry_type(tar::EntryType::Regular);
        header.set_cksum();
        builder.append_data(&mut header, name, data)
    };
    add("Dockerfile", 0o644, dockerfile.as_bytes())?;
    add("calculator", 0o755, binary)?;
    builder.into_inner()
}

/// Reuse `virtbench-calculator:<sha12>` when it exists with the same binary hash,
/// otherwise build it (and drop images of older binaries that no container uses).
pub async fn ensure(
    engine: &Engine,
    binary: &CalculatorBinary,
) -> Result<CalculatorImage, PlatformError> {
    let tag = tag_for(&binary.sha256);
    if let Ok(found) = engine.inspect_image(&tag).await {
        let same = found
            .config
            .as_ref()
            .and_then(|c| c.labels.as_ref())
            .and_then(|l| l.get(LABEL_BINARY_SHA))
            .is_some_and(|h| h == &binary.sha256);
        if same {
            tracing::debug!(%tag, "calculator image reused");
            return Ok(CalculatorImage {
                tag,
                id: found.id.unwrap_or_default(),
                bytes: found.size.unwrap_or(0).max(0) as u64,
                build_ms: None,
                cached: true,
            });
        }
    }
    let bytes = tokio::fs::read(&binary.path)
        .await
        .map_err(PlatformError::io(format!(
            "reading {}",
            binary.path.display()
        )))?;
    let context = context_tar(&bytes, DOCKERFILE)
        .map_err(PlatformError::io("assembling the image build context"))?;
    let labels = [(LABEL, "1"), (LABEL_BINARY_SHA, binary.sha256.as_str())];
    let started = Instant::now();
    let built = build(engine, &tag, &labels, false, context).await?;
    let build_ms = started.elapsed().as_secs_f64() * 1e3;
    tracing::info!(%tag, bytes = built.1, build_ms, "calculator image built");
    remove_stale(engine, &tag).await;
    Ok(CalculatorImage {
        tag,
        id: built.0,
        bytes: built.1,
        build_ms: Some(build_ms),
        cached: false,
    })
}

/// Build `context` (a tar holding a Dockerfile) as `tag` with `labels`; returns the
/// image id and size. `nocache` forces every step to run again.
pub async fn build(
    engine: &Engine,
    tag: &str,
    labels: &[(&str, &str)],
    nocache: bool,
    context: Vec<u8>,
) -> Result<(String, u64), PlatformError> {
    let options = BuildImageOptionsBuilder::default()
        .dockerfile("Dockerfile")
        .t(tag)
        .rm(true)
        .forcerm(true)
        .nocache(nocache)
        .labels(&labels.iter().copied().collect::<HashMap<_, _>>())
        .build();
    let mut stream = engine.build_image(options, None, Some(bollard::body_full(context.into())));
    let mut id = None;
    while let Some(item) = stream.next().await {
        let info = item.map_err(|e| engine_error(&format!("building image {tag}"), &e))?;
        if let Some(aux) = info.aux.and_then(|a| a.id) {
            id = Some(aux);
        }
    }
    let found = engine
        .inspect_image(tag)
        .await
        .map_err(|e| engine_error(&format!("inspecting freshly built image {tag}"), &e))?;
    let id = id.or(found.id).unwrap_or_default();
    Ok((id, found.size.unwrap_or(0).max(0) as u64))
}

/// Remove `virtbench-calculator` images other than `keep` (older binaries). Failures
/// (an image still used by a container) are left alone: they are only a cache.
async fn remove_stale(engine: &Engine, keep: &str) {
    let filters = HashMap::from([("reference".to_string(), vec![REPOSITORY.to_string()])]);
    let Ok(images) = engine
        .list_images(Some(
            ListImagesOptionsBuilder::default()
                .filters(&filters)
                .build(),
        ))
        .await
    else {
        return;
    };
    for image in images {
        if image.repo_tags.iter().any(|t| t == keep) {
            continue;
        }
        for t in &image.repo_tags {
            match engine
                .remove_image(t, Some(RemoveImageOptions::default()), None)
                .await
            {
                Ok(_) => tracing::debug!(tag = %t, "removed stale calculator image"),
                Err(e) => tracing::debug!(tag = %t, error = %e, "stale image kept"),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn context_holds_dockerfile_and_executable_binary() {
        let tar_bytes = context_tar(b"\x7fELF-fake", DOCKERFILE).unwrap();
        let mut archive = tar::Archive::new(&tar_bytes[..]);
        let mut seen = Vec::new();
        for entry in archive.entries().unwrap() {
            let mut entry = entry.unwrap();
            let path = entry.path().unwrap().display().to_string();
            let mode = entry.header().mode().unwrap();
            let mut data = Vec::new();
            std::io::Read::read_to_end(&mut entry, &mut data).unwrap();
            seen.push((path, mode, data));
        }
        assert_eq!(seen.len(), 2);
        assert_eq!(seen[0].0, "Dockerfile");
        assert_eq!(seen[0].2, DOCKERFILE.as_bytes());
        assert_eq!(seen[1].0, "calculator");
        assert_eq!(seen[1].1, 0o755);
        assert_eq!(seen[1].2, b"\x7fELF-fake");
    }

    #[test]
    fn context_is_deterministic() {
        assert_eq!(
            context_tar(b"abc", DOCKERFILE).unwrap(),
            context_tar(b"abc", DOCKERFILE).unwrap()
        );
    }

    #[test]
    fn tag_uses_hash_prefix() {
        assert_eq!(
            tag_for("0123456789abcdef0123"),
            "virtbench-calculator:0123456789ab"
        );
    }
}
