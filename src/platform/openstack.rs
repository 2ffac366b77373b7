//! The openstack platform (not built yet).

use async_trait::async_trait;

use super::{Availability, Deployment, Platform, PlatformError, RunContext, Variant};
use crate::results::ArtifactRecord;
use crate::scenario::Scenario;

#[derive(Debug, Default)]
pub struct OpenStack;

#[async_trait]
impl Platform for OpenStack {
    fn name(&self) -> &'static str {
        "openstack"
    }

    async fn probe(&self) -> Availability {
        Availability::Unavailable {
            reason: "the OpenStack driver is not written yet (its devcloud test bed comes first)"
                .into(),
            fix: "use native, docker or qemu for now".into(),
        }
    }

    fn variants(&self, _scenario: &Scenario) -> Vec<Variant> {
        vec![Variant::new("openstack", &[])]
    }

    async fn prepare(&self, _ctx: &RunContext) -> Result<Vec<ArtifactRecord>, PlatformError> {
        Err(PlatformError::Failed("openstack: not implemented".into()))
    }

    async fn deploy(
        &self,
        _ctx: &RunContext,
        _variant: &Variant,
    ) -> Result<Box<dyn Deployment>, PlatformError> {
        Err(PlatformError::Failed("openstack: not implemented".into()))
    }

    async fn cleanup(&self, _run_id: Option<&str>) -> Result<usize, PlatformError> {
        Ok(0)
    }
}
