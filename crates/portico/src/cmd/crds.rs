//! `portico crds`: prints Portico's own CustomResourceDefinitions (apply
//! them with `portico crds | kubectl apply -f -`). The YAML is the reviewed
//! file in `deploy/crds/`, embedded at build time.

use std::process::ExitCode;

/// The LoadBalancerIPPool CRD (portico.dev/v1alpha1).
pub const LOAD_BALANCER_IP_POOL_CRD: &str =
    include_str!("../../../../deploy/crds/portico.dev_loadbalancerippools.yaml");

#[derive(clap::Args, Debug)]
pub struct Args {}

pub async fn main(_args: Args) -> anyhow::Result<ExitCode> {
    out!("{LOAD_BALANCER_IP_POOL_CRD}");
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crd_is_the_pool_kind() {
        assert!(LOAD_BALANCER_IP_POOL_CRD.contains("kind: CustomResourceDefinition"));
        assert!(LOAD_BALANCER_IP_POOL_CRD.contains("name: loadbalancerippools.portico.dev"));
    }
}
