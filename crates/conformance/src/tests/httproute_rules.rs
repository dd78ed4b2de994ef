//! HTTPRoute rule fields: `name` and `timeouts` (request, backendRequest).

use crate::expect::{Expect, expect_all};
use crate::status::{route_accepted, route_resolved};
use crate::{ConformanceTest, Env, Failure, INFRA_NS, conformance_test};

pub fn tests() -> Vec<ConformanceTest> {
    vec![
        conformance_test!(
            "HTTPRouteNamedRule",
            manifests: ["tests/httproute-named-rule.yaml"],
            features: ["Gateway", "HTTPRoute", "HTTPRouteNamedRouteRule"],
            named_rule
        ),
        conformance_test!(
            "HTTPRouteTimeoutRequest",
            manifests: ["tests/httproute-timeout-request.yaml"],
            features: ["Gateway", "HTTPRoute", "HTTPRouteRequestTimeout"],
            timeout_request
        ),
        conformance_test!(
            "HTTPRouteTimeoutBackendRequest",
            manifests: ["tests/httproute-timeout-backend-request.yaml"],
            features: ["Gateway", "HTTPRoute", "HTTPRouteBackendTimeout"],
            timeout_backend_request
        ),
    ]
}

const SAME: [(&str, &str); 1] = [(INFRA_NS, "same-namespace")];

async fn ready(env: &Env, route: &str) -> Result<String, Failure> {
    route_accepted(env, "HTTPRoute", INFRA_NS, route, &SAME).await?;
    route_resolved(env, "HTTPRoute", INFRA_NS, route, &SAME).await?;
    env.gateway_address(INFRA_NS, "same-namespace").await
}

async fn named_rule(env: &Env) -> Result<(), Failure> {
    let gw = ready(env, "http-named-rules").await?;
    expect_all(
        env,
        &gw,
        &[
            Expect::get("/named", "infra-backend-v1", INFRA_NS),
            Expect::get("/unnamed", "infra-backend-v2", INFRA_NS),
        ],
    )
    .await
}

/// The echo backend sleeps for `?delay=`; 500ms timeouts must answer 504,
/// "0s" timeouts must wait for the backend.
async fn timeouts(env: &Env, route: &str, limited: &str, disabled: &str) -> Result<(), Failure> {
    let gw = ready(env, route).await?;
    expect_all(
        env,
        &gw,
        &[
            Expect::get(limited, "infra-backend-v1", INFRA_NS),
            Expect::status(&format!("{limited}?delay=1s"), 504),
            Expect::get(
                &format!("{disabled}?delay=1s"),
                "infra-backend-v1",
                INFRA_NS,
            ),
        ],
    )
    .await
}

async fn timeout_request(env: &Env) -> Result<(), Failure> {
    timeouts(
        env,
        "request-timeout",
        "/request-timeout",
        "/disable-request-timeout",
    )
    .await
}

async fn timeout_backend_request(env: &Env) -> Result<(), Failure> {
    timeouts(
        env,
        "backend-request-timeout",
        "/backend-timeout",
        "/disable-backend-timeout",
    )
    .await
}
