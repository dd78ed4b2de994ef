//! HTTPRoute RequestRedirect filters.

use crate::expect::{Expect, Redirect, expect_all};
use crate::status::route_accepted;
use crate::{ConformanceTest, Env, Failure, INFRA_NS, conformance_test};

pub fn tests() -> Vec<ConformanceTest> {
    vec![conformance_test!(
        "HTTPRouteRedirectHostAndStatus",
        manifests: ["tests/httproute-redirect-host-and-status.yaml"],
        features: ["Gateway", "HTTPRoute"],
        redirect_host_and_status
    )]
}

const SAME: [(&str, &str); 1] = [(INFRA_NS, "same-namespace")];

fn to_host(host: &str) -> Redirect {
    Redirect {
        host: host.to_string(),
        ..Redirect::default()
    }
}

async fn redirect_host_and_status(env: &Env) -> Result<(), Failure> {
    route_accepted(
        env,
        "HTTPRoute",
        INFRA_NS,
        "redirect-host-and-status",
        &SAME,
    )
    .await?;
    let gw = env.gateway_address(INFRA_NS, "same-namespace").await?;
    expect_all(
        env,
        &gw,
        &[
            Expect::status("/hostname-redirect", 302).redirect(to_host("example.org")),
            Expect::status("/host-and-status", 301).redirect(to_host("example.org")),
        ],
    )
    .await
}
