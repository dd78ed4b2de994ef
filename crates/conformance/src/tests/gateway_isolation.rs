//! HTTP listener isolation: a request is served only by routes of the most
//! specific listener matching its host, with and without route hostnames.

use crate::expect::{Expect, expect_all};
use crate::status::{route_accepted, route_resolved};
use crate::{ConformanceTest, Env, Failure, INFRA_NS, conformance_test};

pub fn tests() -> Vec<ConformanceTest> {
    vec![conformance_test!(
        "GatewayHTTPListenerIsolation",
        manifests: [
            "tests/gateway-http-listener-isolation.yaml",
            "tests/gateway-http-listener-isolation-with-hostname-intersection.yaml"
        ],
        features: ["Gateway", "GatewayHTTPListenerIsolation", "HTTPRoute"],
        listener_isolation
    )]
}

/// Route path per listener, in listener order.
const PATHS: [&str; 4] = [
    "/empty-hostname",
    "/wildcard-example-com",
    "/wildcard-foo-example-com",
    "/abc-foo-example-com",
];
/// A host that selects each listener, in the same order.
const HOSTS: [&str; 4] = [
    "bar.com",
    "bar.example.com",
    "bar.foo.example.com",
    "abc.foo.example.com",
];

fn cases() -> Vec<Expect> {
    let mut cases = Vec::new();
    for (listener, host) in HOSTS.iter().enumerate() {
        for (route, path) in PATHS.iter().enumerate() {
            let e = if listener == route {
                Expect::get(path, "infra-backend-v1", INFRA_NS)
            } else {
                Expect::status(path, 404)
            };
            cases.push(e.host(host));
        }
    }
    cases
}

async fn check(env: &Env, gateway: &str, suffix: &str) -> Result<(), Failure> {
    let gws = [(INFRA_NS, gateway)];
    for listener in [
        "empty-hostname",
        "wildcard-example-com",
        "wildcard-foo-example-com",
        "abc-foo-example-com",
    ] {
        let route = format!("attaches-to-{listener}{suffix}");
        route_accepted(env, "HTTPRoute", INFRA_NS, &route, &gws).await?;
        route_resolved(env, "HTTPRoute", INFRA_NS, &route, &gws).await?;
    }
    let gw = env.gateway_address(INFRA_NS, gateway).await?;
    expect_all(env, &gw, &cases()).await
}

async fn listener_isolation(env: &Env) -> Result<(), Failure> {
    check(env, "http-listener-isolation", "").await?;
    check(
        env,
        "http-listener-isolation-with-hostname-intersection",
        "-with-hostname-intersection",
    )
    .await
}
