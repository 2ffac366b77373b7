//! The report by topic: each file owns one section of the page (its figures, charts
//! and table), in the page's order. A new figure goes in its topic's file; a new
//! section is a file here and one line of `html::render`.

pub mod artifacts;
pub mod claims;
pub mod containers;
pub mod context;
pub mod cpu;
pub mod density;
pub mod experiments;
pub mod faults;
pub mod latency;
pub mod memory;
pub mod startup;
pub mod summary;
pub mod throughput;

use super::charts::Chart;
use crate::results::RunResults;

/// Every chart of the page, in the page's order.
pub fn all(r: &RunResults) -> Vec<Chart> {
    let mut out = Vec::new();
    out.extend(startup::chart(r));
    out.extend(startup::phases_chart(r));
    out.extend(memory::chart(r));
    out.extend(density::chart(r));
    out.extend(cpu::idle_chart(r));
    out.extend(cpu::per_1k_chart(r));
    out.extend(latency::charts(r));
    out.extend(throughput::chart(r));
    out.extend(artifacts::chart(r));
    out.extend(faults::chart(r));
    out
}
