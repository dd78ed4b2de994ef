//! Backends behind a headless Service and behind Services without a
//! selector whose EndpointSlices are written by hand. As upstream does, the
//! test fills the manual IPv4 slices with the endpoints (loopback "pods")
//! of infra-backend-v1 once the route is accepted.

use serde_json::Value;

use crate::expect::{Expect, expect_all};
use crate::status::{route_accepted, route_resolved};
use crate::{ConformanceTest, Env, Failure, INFRA_NS, conformance_test};

pub fn tests() -> Vec<ConformanceTest> {
    vec![conformance_test!(
        "HTTPRouteServiceTypes",
        manifests: ["tests/httproute-service-types.yaml"],
        features: ["Gateway", "HTTPRoute"],
        service_types
    )]
}

const SAME: [(&str, &str); 1] = [(INFRA_NS, "same-namespace")];
const MANUAL: [&str; 2] = ["manual-endpointslices", "headless-manual-endpointslices"];

/// The endpoints of infra-backend-v1, read back from Portico like upstream
/// lists the Deployment's Pods.
async fn backend_v1_endpoints(env: &Env) -> Result<Vec<Value>, Failure> {
    let slices = env
        .portico()?
        .objects("EndpointSlice", Some(INFRA_NS), None)
        .await?;
    let endpoints: Vec<Value> = slices
        .iter()
        .filter(|s| {
            s.pointer("/metadata/labels/kubernetes.io~1service-name")
                .and_then(Value::as_str)
                == Some("infra-backend-v1")
        })
        .flat_map(|s| {
            s.get("endpoints")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default()
        })
        .collect();
    if endpoints.is_empty() {
        return Err(Failure::new("infra-backend-v1 has no endpoints"));
    }
    Ok(endpoints)
}

async fn service_types(env: &Env) -> Result<(), Failure> {
    route_accepted(env, "HTTPRoute", INFRA_NS, "service-types", &SAME).await?;
    route_resolved(env, "HTTPRoute", INFRA_NS, "service-types", &SAME).await?;
    let gw = env.gateway_address(INFRA_NS, "same-namespace").await?;
    let endpoints = backend_v1_endpoints(env).await?;
    for service in MANUAL {
        let name = format!("{service}-ip4");
        let mut slice = env
            .documents()
            .iter()
            .find(|d| {
                d.get("kind").and_then(Value::as_str) == Some("EndpointSlice")
                    && d.pointer("/metadata/name").and_then(Value::as_str) == Some(&name)
            })
            .cloned()
            .ok_or_else(|| Failure(format!("EndpointSlice {name} is not in the manifests")))?;
        slice["endpoints"] = Value::Array(endpoints.clone());
        env.replace_object("EndpointSlice", INFRA_NS, &name, &slice)?;
    }
    let cases: Vec<Expect> = ["headless", MANUAL[0], MANUAL[1]]
        .iter()
        .map(|service| Expect::get(&format!("/{service}"), "infra-backend-v1", INFRA_NS))
        .collect();
    expect_all(env, &gw, &cases).await
}
