//! The course lab's five-service calculator: the workload that virtbench deploys.
//!
//! - [`expr`]: infix parsing (shunting-yard) and evaluation, local or by sub-services;
//! - [`service`]: the HTTP services ([`serve`], [`serve_all`]);
//! - [`client`]: where the sub-services are ([`Peers`]) and the pooled client to them;
//! - [`cli`]: the command line of the `calculator` binary;
//! - [`net`], [`route`]: interface and route set-up by ioctl (VM init, `--route`);
//! - [`probe`]: `GET /virtbench/probe`, what the workload sees from inside;
//! - [`noise`]: the noisy neighbour of the noise test (`calculator noise`).

pub mod cli;
pub mod client;
pub mod expr;
pub mod net;
pub mod noise;
pub mod probe;
pub mod route;
pub mod service;

pub use client::{Peer, PeerError, Peers, DEFAULT_TIMEOUT};
pub use service::{runtime, serve, serve_all, serve_all_on, serve_on, Role, MAX_BODY};
