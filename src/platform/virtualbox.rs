//! The virtualbox platform (not built yet).

use async_trait::async_trait;

use super::{Availability, Deployment, Platform, PlatformError, RunContext, Variant};
use crate::results::ArtifactRecord;
use crate::scenario::Scenario;

#[derive(Debug, Default)]
pub struct VirtualBox;

#[async_trait]
impl Platform for VirtualBox {
    fn name(&self) -> &'static str {
        "virtualbox"
    }

    async fn probe(&self) -> Availability {
        Availability::Unavailable {
            reason: "the virtualbox platform is not implemented in this version of virtbench"
                .into(),
            fix: "see the project's open issues".into(),
        }
    }

    fn variants(&self, _scenario: &Scenario) -> Vec<Variant> {
        vec![Variant::new("virtualbox", &[])]
    }

    async fn prepare(&self, _ctx: &RunContext) -> Result<Vec<ArtifactRecord>, PlatformError> {
        Err(PlatformError::Failed("virtualbox: not implemented".into()))
    }

    async fn deploy(
        &self,
        _ctx: &RunContext,
        _variant: &Variant,
    ) -> Result<Box<dyn Deployment>, PlatformError> {
        Err(PlatformError::Failed("virtualbox: not implemented".into()))
    }

    async fn cleanup(&self, _run_id: Option<&str>) -> Result<usize, PlatformError> {
        Ok(0)
    }
}
