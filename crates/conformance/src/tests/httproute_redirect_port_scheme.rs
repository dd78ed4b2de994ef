//! RequestRedirect port and scheme defaults on listeners on port 80, 8080
//! and 443: a port is kept in the Location only when it is not the
//! default of the redirect's scheme.

use super::httproute_redirects::to;
use crate::expect::{Expect, expect_all};
use crate::status::{route_accepted, route_resolved};
use crate::tls::expect_tls;
use crate::{ConformanceTest, Env, Failure, INFRA_NS, conformance_test};

pub fn tests() -> Vec<ConformanceTest> {
    vec![conformance_test!(
        "HTTPRouteRedirectPortAndScheme",
        manifests: ["tests/httproute-redirect-port-and-scheme.yaml"],
        features: ["Gateway", "HTTPRoute", "HTTPRoutePortRedirect", "GatewayPort8080"],
        redirect_port_and_scheme
    )]
}

/// Waits for `route` on Gateway `gateway` and returns the Gateway address.
async fn ready(env: &Env, gateway: &str, route: &str) -> Result<String, Failure> {
    let gws = [(INFRA_NS, gateway)];
    route_accepted(env, "HTTPRoute", INFRA_NS, route, &gws).await?;
    route_resolved(env, "HTTPRoute", INFRA_NS, route, &gws).await?;
    env.gateway_address(INFRA_NS, gateway).await
}

/// A 302 from `path` to `scheme://example.org[:port]` (the path kept).
fn found(path: &str, scheme: &str, port: &str) -> Expect {
    Expect::status(path, 302).redirect(to(scheme, "example.org", port, ""))
}

async fn redirect_port_and_scheme(env: &Env) -> Result<(), Failure> {
    let gw80 = ready(env, "same-namespace", "http-route-for-listener-on-port-80").await?;
    let gw8080 = ready(
        env,
        "same-namespace-with-http-listener-on-8080",
        "http-route-for-listener-on-port-8080",
    )
    .await?;
    let gw443 = ready(
        env,
        "same-namespace-with-https-listener",
        "http-route-for-listener-on-port-443",
    )
    .await?;

    expect_all(
        env,
        &gw80,
        &[
            found("/scheme-nil-and-port-nil", "http", ""),
            found("/scheme-nil-and-port-80", "http", ""),
            found("/scheme-nil-and-port-8080", "http", "8080"),
            found("/scheme-https-and-port-nil", "https", ""),
            found("/scheme-https-and-port-443", "https", ""),
            found("/scheme-https-and-port-8443", "https", "8443"),
        ],
    )
    .await?;

    // Without a port in the filter, the listener's port is kept unless the
    // scheme changes.
    expect_all(
        env,
        &gw8080,
        &[
            found("/scheme-nil-and-port-nil", "http", "8080"),
            found("/scheme-nil-and-port-80", "http", ""),
            found("/scheme-https-and-port-nil", "https", ""),
        ],
    )
    .await?;

    // The HTTPS listeners reference tls-validity-checks-certificate.
    let root = env.config.certs.validity.cert_pem.clone();
    for want in [
        found("/scheme-nil-and-port-nil", "https", ""),
        found("/scheme-nil-and-port-443", "https", ""),
        found("/scheme-nil-and-port-8443", "https", "8443"),
        found("/scheme-http-and-port-nil", "http", ""),
        found("/scheme-http-and-port-80", "http", ""),
        found("/scheme-http-and-port-8080", "http", "8080"),
    ] {
        expect_tls(env, &gw443, "example.org", &root, &want.host("example.org")).await?;
    }
    Ok(())
}
