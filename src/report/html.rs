//! `index.html`: one self-contained page (inline CSS and SVG, no external URL).

use crate::results::RunResults;

pub fn render(results: &RunResults) -> String {
    format!("<!doctype html><title>virtbench {}</title>", results.run_id)
}
