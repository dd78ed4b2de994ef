//! HTTPRoute RequestRedirect filters.

use crate::expect::{Expect, Redirect, expect_all};
use crate::status::{route_accepted, route_resolved};
use crate::{ConformanceTest, Env, Failure, INFRA_NS, conformance_test};

pub fn tests() -> Vec<ConformanceTest> {
    vec![
        conformance_test!(
            "HTTPRouteRedirectHostAndStatus",
            manifests: ["tests/httproute-redirect-host-and-status.yaml"],
            features: ["Gateway", "HTTPRoute"],
            redirect_host_and_status
        ),
        conformance_test!(
            "HTTPRouteRedirectPort",
            manifests: ["tests/httproute-redirect-port.yaml"],
            features: ["Gateway", "HTTPRoute", "HTTPRoutePortRedirect"],
            redirect_port
        ),
        conformance_test!(
            "HTTPRouteRedirectScheme",
            manifests: ["tests/httproute-redirect-scheme.yaml"],
            features: ["Gateway", "HTTPRoute", "HTTPRouteSchemeRedirect"],
            redirect_scheme
        ),
        conformance_test!(
            "HTTPRouteRedirectPath",
            manifests: ["tests/httproute-redirect-path.yaml"],
            features: ["Gateway", "HTTPRoute", "HTTPRoutePathRedirect"],
            redirect_path
        ),
        conformance_test!(
            "HTTPRoute303Redirect",
            manifests: ["tests/httproute-303-redirect.yaml"],
            features: ["Gateway", "HTTPRoute", "HTTPRoute303RedirectStatusCode"],
            redirect_303
        ),
        conformance_test!(
            "HTTPRoute307Redirect",
            manifests: ["tests/httproute-307-redirect.yaml"],
            features: ["Gateway", "HTTPRoute", "HTTPRoute307RedirectStatusCode"],
            redirect_307
        ),
        conformance_test!(
            "HTTPRoute308Redirect",
            manifests: ["tests/httproute-308-redirect.yaml"],
            features: ["Gateway", "HTTPRoute", "HTTPRoute308RedirectStatusCode"],
            redirect_308
        ),
    ]
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

/// Upstream `GatewayAndHTTPRoutesMustBeAccepted` plus resolved refs for
/// `route` on `same-namespace`; returns the Gateway address.
async fn accepted_on_same_namespace(env: &Env, route: &str) -> Result<String, Failure> {
    route_accepted(env, "HTTPRoute", INFRA_NS, route, &SAME).await?;
    route_resolved(env, "HTTPRoute", INFRA_NS, route, &SAME).await?;
    env.gateway_address(INFRA_NS, "same-namespace").await
}

pub(super) fn to(scheme: &str, host: &str, port: &str, path: &str) -> Redirect {
    Redirect {
        scheme: scheme.to_string(),
        host: host.to_string(),
        port: port.to_string(),
        path: path.to_string(),
    }
}

async fn redirect_port(env: &Env) -> Result<(), Failure> {
    let gw = accepted_on_same_namespace(env, "redirect-port").await?;
    expect_all(
        env,
        &gw,
        &[
            Expect::status("/port", 302).redirect(to("", "", "8083", "")),
            Expect::status("/port-and-host", 302).redirect(to("", "example.org", "8083", "")),
            Expect::status("/port-and-status", 301).redirect(to("", "", "8083", "")),
            Expect::status("/port-and-host-and-status", 302).redirect(to(
                "",
                "example.org",
                "8083",
                "",
            )),
        ],
    )
    .await
}

async fn redirect_scheme(env: &Env) -> Result<(), Failure> {
    let gw = accepted_on_same_namespace(env, "redirect-scheme").await?;
    expect_all(
        env,
        &gw,
        &[
            Expect::status("/scheme", 302).redirect(to("https", "", "", "")),
            Expect::status("/scheme-and-host", 302).redirect(to("https", "example.org", "", "")),
            Expect::status("/scheme-and-status", 301).redirect(to("https", "", "", "")),
            Expect::status("/scheme-and-host-and-status", 302).redirect(to(
                "https",
                "example.org",
                "",
                "",
            )),
        ],
    )
    .await
}

async fn redirect_path(env: &Env) -> Result<(), Failure> {
    let gw = accepted_on_same_namespace(env, "redirect-path").await?;
    expect_all(
        env,
        &gw,
        &[
            Expect::status("/original-prefix/lemon", 302).redirect(to(
                "",
                "",
                "",
                "/replacement-prefix/lemon",
            )),
            Expect::status("/full/path/original", 302).redirect(to(
                "",
                "",
                "",
                "/full-path-replacement",
            )),
            Expect::status("/path-and-host", 302).redirect(to(
                "",
                "example.org",
                "",
                "/replacement-prefix",
            )),
            Expect::status("/path-and-status", 301).redirect(to("", "", "", "/replacement-prefix")),
            Expect::status("/full-path-and-host", 302).redirect(to(
                "",
                "example.org",
                "",
                "/replacement-full",
            )),
            Expect::status("/full-path-and-status", 301).redirect(to(
                "",
                "",
                "",
                "/replacement-full",
            )),
        ],
    )
    .await
}

async fn redirect_303(env: &Env) -> Result<(), Failure> {
    let gw = accepted_on_same_namespace(env, "303-redirect").await?;
    let see_other = Expect::status("/see-other", 303)
        .method("POST")
        .redirect(to("", "", "", "/see-other"));
    expect_all(env, &gw, &[see_other]).await
}

async fn redirect_307(env: &Env) -> Result<(), Failure> {
    let gw = accepted_on_same_namespace(env, "307-redirect").await?;
    let temporary = Expect::status("/temporary", 307).redirect(to("", "", "", "/temporary"));
    expect_all(env, &gw, &[temporary]).await
}

async fn redirect_308(env: &Env) -> Result<(), Failure> {
    let gw = accepted_on_same_namespace(env, "308-redirect").await?;
    let permanent = Expect::status("/permanent", 308).redirect(to("", "", "", "/permanent"));
    expect_all(env, &gw, &[permanent]).await
}
