//! Exporters: `results.json`, `results.csv` and the self-contained `index.html`.

use std::path::{Path, PathBuf};

use crate::results::{RunResults, SCHEMA_VERSION};

pub mod charts;
pub mod claims;
pub mod compare;
pub mod csv;
pub mod html;
pub mod idle;
pub mod reach;
pub mod sections;
pub mod stability;
pub mod stopping;
pub mod view;
pub mod widgets;

#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: not a virtbench results file: {message}")]
    Parse { path: PathBuf, message: String },
    #[error(
        "{path}: field `schema_version` = {found}: this virtbench reads version {SCHEMA_VERSION}"
    )]
    Schema { path: PathBuf, found: u32 },
}

/// Write results.json, results.csv and index.html into `dir` (created if needed).
pub fn write_all(results: &RunResults, dir: &Path) -> Result<(), ReportError> {
    let io = |path: &Path| {
        let path = path.to_owned();
        move |source| ReportError::Io { path, source }
    };
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    let json = serde_json::to_string_pretty(results).expect("results serialise");
    let p = dir.join("results.json");
    std::fs::write(&p, json).map_err(io(&p))?;
    let p = dir.join("results.csv");
    std::fs::write(&p, csv::render(results)).map_err(io(&p))?;
    let p = dir.join("index.html");
    std::fs::write(&p, html::render(results)).map_err(io(&p))?;
    Ok(())
}

/// Read a results.json written by this or an earlier compatible virtbench.
pub fn read_results(path: &Path) -> Result<RunResults, ReportError> {
    let text = std::fs::read_to_string(path).map_err(|source| ReportError::Io {
        path: path.to_owned(),
        source,
    })?;
    let value: serde_json::Value = serde_json::from_str(&text).map_err(|e| ReportError::Parse {
        path: path.to_owned(),
        message: e.to_string(),
    })?;
    let found = value
        .get("schema_version")
        .and_then(|v| v.as_u64())
        .ok_or_else(|| ReportError::Parse {
            path: path.to_owned(),
            message: "no `schema_version`".into(),
        })? as u32;
    if found != SCHEMA_VERSION {
        return Err(ReportError::Schema {
            path: path.to_owned(),
            found,
        });
    }
    serde_json::from_value(value).map_err(|e| ReportError::Parse {
        path: path.to_owned(),
        message: e.to_string(),
    })
}
