//! Backend application protocols: h2c (HTTP/2 prior knowledge from the
//! client) and WebSocket.

use crate::expect::{Expect, expect_all};
use crate::status::route_accepted;
use crate::websocket::expect_websocket;
use crate::{ConformanceTest, Env, Failure, INFRA_NS, conformance_test};

pub fn tests() -> Vec<ConformanceTest> {
    vec![
        conformance_test!(
            "HTTPRouteBackendProtocolH2C",
            manifests: ["tests/httproute-backend-protocol-h2c.yaml"],
            features: ["Gateway", "HTTPRoute", "HTTPRouteBackendProtocolH2C"],
            h2c
        ),
        conformance_test!(
            "HTTPRouteBackendProtocolWebSocket",
            manifests: ["tests/httproute-backend-protocol-websocket.yaml"],
            features: ["Gateway", "HTTPRoute", "HTTPRouteBackendProtocolWebSocket"],
            websocket
        ),
    ]
}

const SAME: [(&str, &str); 1] = [(INFRA_NS, "same-namespace")];

async fn h2c(env: &Env) -> Result<(), Failure> {
    route_accepted(env, "HTTPRoute", INFRA_NS, "backend-protocol-h2c", &SAME).await?;
    let gw = env.gateway_address(INFRA_NS, "same-namespace").await?;
    let mut prior_knowledge = Expect::get("/", "infra-backend-v1", INFRA_NS);
    prior_knowledge.request.h2c = true;
    expect_all(env, &gw, &[prior_knowledge]).await
}

async fn websocket(env: &Env) -> Result<(), Failure> {
    route_accepted(env, "HTTPRoute", INFRA_NS, "backend-protocol-ws", &SAME).await?;
    let gw = env.gateway_address(INFRA_NS, "same-namespace").await?;
    expect_websocket(env, &gw).await
}
