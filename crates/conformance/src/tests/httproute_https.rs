//! HTTPRoutes on HTTPS listeners: TLS terminated with the listener's
//! certificate, routes selected by SNI/Host.

use crate::expect::Expect;
use crate::status::{route_accepted, route_resolved};
use crate::tls::expect_tls;
use crate::{ConformanceTest, Env, Failure, INFRA_NS, conformance_test};

pub fn tests() -> Vec<ConformanceTest> {
    vec![conformance_test!(
        "HTTPRouteHTTPSListener",
        manifests: ["tests/httproute-https-listener.yaml"],
        features: ["Gateway", "HTTPRoute"],
        https_listener
    )]
}

async fn https_listener(env: &Env) -> Result<(), Failure> {
    const GW: &str = "same-namespace-with-https-listener";
    let gws = [(INFRA_NS, GW)];
    for route in ["httproute-https-test", "httproute-https-test-no-hostname"] {
        route_accepted(env, "HTTPRoute", INFRA_NS, route, &gws).await?;
        route_resolved(env, "HTTPRoute", INFRA_NS, route, &gws).await?;
    }
    let gw = env.gateway_address(INFRA_NS, GW).await?;
    // The listeners reference tls-validity-checks-certificate.
    let root = env.config.certs.validity.cert_pem.clone();
    let cases = [
        (
            "example.org",
            Expect::get("/", "infra-backend-v1", INFRA_NS),
        ),
        ("unknown-example.org", Expect::status("/", 404)),
        (
            "second-example.org",
            Expect::get("/", "infra-backend-v2", INFRA_NS),
        ),
    ];
    for (host, want) in cases {
        expect_tls(env, &gw, host, &root, &want.host(host)).await?;
    }
    Ok(())
}
