//! Routes attached by `parentRefs[].port` to listeners on ports 80, 8080
//! and 8090 of one Gateway are served only on those ports.

use crate::expect::{Expect, expect_all};
use crate::status::{route_accepted, route_resolved};
use crate::{ConformanceTest, Env, Failure, INFRA_NS, conformance_test};

pub fn tests() -> Vec<ConformanceTest> {
    vec![conformance_test!(
        "HTTPRouteListenerPortMatching",
        manifests: ["tests/httproute-listener-port-matching.yaml"],
        features: ["Gateway", "HTTPRoute", "HTTPRouteParentRefPort"],
        listener_port_matching
    )]
}

const GW: &str = "httproute-listener-port-matching";

async fn listener_port_matching(env: &Env) -> Result<(), Failure> {
    let gws = [(INFRA_NS, GW)];
    for route in ["backend-v1", "backend-v2", "backend-v3"] {
        route_accepted(env, "HTTPRoute", INFRA_NS, route, &gws).await?;
        route_resolved(env, "HTTPRoute", INFRA_NS, route, &gws).await?;
    }
    let gw80 = env.gateway_address(INFRA_NS, GW).await?;
    let ip = gw80
        .rsplit_once(':')
        .map(|(ip, _)| ip.to_string())
        .ok_or_else(|| Failure(format!("gateway address {gw80} has no port")))?;
    let on = |port: u16| format!("{ip}:{port}");
    let get = |host: &str, backend: &str| Expect::get("/", backend, INFRA_NS).host(host);
    expect_all(env, &gw80, &[get("foo.com", "infra-backend-v1")]).await?;
    expect_all(
        env,
        &on(8080),
        &[
            get("foo.com:8080", "infra-backend-v2"),
            get("bar.com:8080", "infra-backend-v2"),
        ],
    )
    .await?;
    expect_all(
        env,
        &on(8090),
        &[
            get("foo.com:8090", "infra-backend-v3"),
            Expect::status("/", 404).host("bar.com:8090"),
        ],
    )
    .await
}
