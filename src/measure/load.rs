//! HTTP load generator: open-loop constant rate (latency from the intended send time)
//! and closed-loop maximum throughput, over keep-alive connections.

use std::net::SocketAddr;
use std::time::Duration;

use super::{MeasureError, Probe};
use crate::results::{LatencyResult, ThroughputResult};

#[derive(Debug, Clone)]
pub struct OpenLoopConfig {
    pub rate_rps: f64,
    pub duration: Duration,
    pub warmup: Duration,
    pub connections: usize,
    pub timeout: Duration,
}

#[derive(Debug, Clone)]
pub struct ClosedLoopConfig {
    pub duration: Duration,
    pub connections: usize,
    pub timeout: Duration,
}

/// Send `probes` round-robin at a constant rate.
pub async fn open_loop(
    _addr: SocketAddr,
    _probes: &[Probe],
    _cfg: &OpenLoopConfig,
) -> Result<LatencyResult, MeasureError> {
    Err(MeasureError::Failed("load: not implemented".into()))
}

/// Each connection sends its next request as soon as the previous answer arrived.
pub async fn closed_loop(
    _addr: SocketAddr,
    _probes: &[Probe],
    _cfg: &ClosedLoopConfig,
) -> Result<ThroughputResult, MeasureError> {
    Err(MeasureError::Failed("load: not implemented".into()))
}
