//! virtbench: the same five-service calculator deployed on native processes, Docker
//! containers, QEMU/KVM and VirtualBox VMs and OpenStack instances, measured the same
//! way from the host, with a report that puts a number beside each claim of the lab.

pub mod artifact;
pub mod cli;
pub mod demo;
pub mod error;
pub mod host;
pub mod measure;
pub mod platform;
pub mod report;
pub mod results;
pub mod run;
pub mod scenario;
pub mod stats;

#[cfg(test)]
mod layering;
