//! A Gateway whose `infrastructure.parametersRef` names nothing Portico
//! knows is not accepted.

use serde_json::Value;

use crate::status::{self, Cond};
use crate::{ConformanceTest, Env, Failure, INFRA_NS, conformance_test};

pub fn tests() -> Vec<ConformanceTest> {
    vec![conformance_test!(
        "GatewayInvalidParametersRef",
        manifests: ["tests/gateway-invalid-parameters-ref.yaml"],
        features: ["Gateway"],
        invalid_parameters_ref
    )]
}

async fn invalid_parameters_ref(env: &Env) -> Result<(), Failure> {
    const GW: &str = "gateway-invalid-parameters-ref";
    // Upstream `GatewayMustHaveLatestConditions`: every condition is current.
    status::eventually(env, "Gateway", INFRA_NS, GW, |gw| {
        let generation = gw.pointer("/metadata/generation").and_then(Value::as_i64);
        let conditions = gw
            .pointer("/status/conditions")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        if conditions.is_empty() {
            return Err("no conditions".into());
        }
        match conditions
            .iter()
            .find(|c| c.get("observedGeneration").and_then(Value::as_i64) != generation)
        {
            Some(stale) => Err(format!("stale condition {stale}")),
            None => Ok(()),
        }
    })
    .await?;
    status::gateway_conditions(
        env,
        INFRA_NS,
        GW,
        &[Cond("Accepted", "False", "InvalidParameters")],
    )
    .await?;
    Ok(())
}
