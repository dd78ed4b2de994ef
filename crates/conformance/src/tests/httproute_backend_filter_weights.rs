//! Backend-level RequestHeaderModifier filters on two weighted backendRefs:
//! each request carries the header of the backend that answers it.

use serde_json::Value;

use crate::expect::{Expect, expect_all, round_trip};
use crate::status::{route_accepted, route_resolved};
use crate::{ConformanceTest, Env, Failure, INFRA_NS, conformance_test};

pub fn tests() -> Vec<ConformanceTest> {
    vec![conformance_test!(
        "HTTPRouteRequestHeaderModifierBackendWeights",
        manifests: ["tests/httproute-request-header-modifier-backend-weights.yaml"],
        features: ["Gateway", "HTTPRoute", "HTTPRouteBackendRequestHeaderModification"],
        backend_filter_weights
    )]
}

const SAME: [(&str, &str); 1] = [(INFRA_NS, "same-namespace")];

async fn backend_filter_weights(env: &Env) -> Result<(), Failure> {
    let route = "request-header-modifier-backend-weights";
    route_accepted(env, "HTTPRoute", INFRA_NS, route, &SAME).await?;
    route_resolved(env, "HTTPRoute", INFRA_NS, route, &SAME).await?;
    let gw = env.gateway_address(INFRA_NS, "same-namespace").await?;
    let any = Expect::get("/", "", INFRA_NS);
    expect_all(env, &gw, std::slice::from_ref(&any)).await?;
    let extra = vec![("X-Echo-Set-Header".to_string(), String::new())];
    for i in 0..100 {
        let got = round_trip(&gw, &any.request, &extra)
            .await
            .map_err(|e| Failure(format!("request {i}: {e}")))?;
        let echo: Value = serde_json::from_slice(&got.body)
            .map_err(|e| Failure(format!("request {i}: echo body is not JSON: {e}")))?;
        let backends: Vec<&str> = echo
            .pointer("/headers/Backend")
            .and_then(Value::as_array)
            .map(|v| v.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        let pod = echo.get("pod").and_then(Value::as_str).unwrap_or("");
        match backends.as_slice() {
            [backend] if pod.starts_with(backend) => {}
            [backend] => {
                return Err(Failure(format!(
                    "request {i}: Backend header {backend} but answered by pod {pod}"
                )));
            }
            other => {
                return Err(Failure(format!(
                    "request {i}: expected one Backend header, got {other:?}"
                )));
            }
        }
    }
    Ok(())
}
