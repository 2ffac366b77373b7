//! The calculator as one fully static binary (`crt-static`, explicit target), so that
//! it runs `FROM scratch` in Docker and as `/init` of the VM appliance.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use tokio::sync::OnceCell;

use crate::error::Error;
use crate::results::ArtifactRecord;

pub const TARGET: &str = "x86_64-unknown-linux-gnu";

/// The built binary and what it cost.
#[derive(Debug, Clone)]
pub struct CalculatorBinary {
    pub path: PathBuf,
    pub sha256: String,
    pub bytes: u64,
    pub build_ms: Option<f64>,
    pub cached: bool,
}

impl CalculatorBinary {
    pub fn record(&self) -> ArtifactRecord {
        ArtifactRecord {
            name: "calculator-binary".into(),
            bytes: self.bytes,
            build_ms: self.build_ms,
            cached: self.cached,
            path: Some(self.path.display().to_string()),
        }
    }
}

static BINARY: OnceCell<CalculatorBinary> = OnceCell::const_new();

/// Build (once per process) or reuse the static calculator binary.
///
/// `$VIRTBENCH_CALCULATOR` names a prebuilt binary and skips the build.
pub async fn binary() -> Result<&'static CalculatorBinary, Error> {
    BINARY
        .get_or_try_init(|| async {
            tokio::task::spawn_blocking(build)
                .await
                .map_err(|e| Error::Failed(format!("calculator build task: {e}")))?
        })
        .await
}

fn workspace_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn build() -> Result<CalculatorBinary, Error> {
    if let Some(p) = std::env::var_os("VIRTBENCH_CALCULATOR") {
        return describe(Path::new(&p), None, true);
    }
    let ws = workspace_dir();
    // A target dir of its own: the static RUSTFLAGS must not invalidate the main build.
    let target_dir = ws.join("target/static");
    let out = target_dir.join(TARGET).join("release/calculator");
    let before = std::fs::metadata(&out).and_then(|m| m.modified()).ok();
    let started = Instant::now();
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let output = Command::new(cargo)
        .current_dir(&ws)
        .args([
            "build",
            "--release",
            "--quiet",
            "-p",
            "calculator",
            "--target",
            TARGET,
        ])
        .env("CARGO_TARGET_DIR", &target_dir)
        .env("RUSTFLAGS", "-C target-feature=+crt-static")
        // Cargo prefers this one over RUSTFLAGS when it is set: it would drop crt-static.
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .output()
        .map_err(Error::io("running cargo to build the calculator"))?;
    super::check_status("building the static calculator", &output)?;
    let after = std::fs::metadata(&out).and_then(|m| m.modified()).ok();
    let cached = before.is_some() && before == after;
    let ms = started.elapsed().as_secs_f64() * 1e3;
    tracing::info!(path = %out.display(), cached, ms, "calculator binary ready");
    describe(&out, (!cached).then_some(ms), cached)
}

fn describe(path: &Path, build_ms: Option<f64>, cached: bool) -> Result<CalculatorBinary, Error> {
    let meta = std::fs::metadata(path)
        .map_err(Error::io(format!("calculator binary {}", path.display())))?;
    let sha256 = crate::artifact::sha256_file(path)
        .map_err(Error::io(format!("hashing {}", path.display())))?;
    Ok(CalculatorBinary {
        path: path.to_owned(),
        sha256,
        bytes: meta.len(),
        build_ms,
        cached,
    })
}
