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
