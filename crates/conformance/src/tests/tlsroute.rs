//! GATEWAY-TLS: TLSRoutes on TLS listeners. Passthrough routes by the SNI
//! of the ClientHello (the backend terminates), Terminate listeners end TLS
//! and forward the plain stream, both modes on one port, hostname
//! intersection, and the negative statuses.

use crate::expect::Expect;
use crate::status::{
    Cond, ListenerExpect, gateway_listeners, gateway_zero_routes, route_no_accepted_parents,
    route_resolved,
};
use crate::tests::l4_probe::{
    self, TcpExpect, expect_tcp, gateway_and_routes_accepted, route_refs_unresolved,
};
use crate::tls::{
    any_certificate_config, ca_client_config, client_config, expect_tls_refused, expect_tls_with,
};
use crate::{ConformanceTest, Env, Failure, INFRA_NS, conformance_test};

pub fn tests() -> Vec<ConformanceTest> {
    vec![
        conformance_test!(
            "TLSRouteSimpleSameNamespace",
            manifests: ["tests/tlsroute-simple-same-namespace.yaml"],
            features: ["Gateway", "TLSRoute"],
            simple_same_namespace
        ),
        conformance_test!(
            "TLSRouteHostnameIntersection",
            manifests: ["tests/tlsroute-hostname-intersection.yaml"],
            features: ["Gateway", "TLSRoute"],
            hostname_intersection
        ),
        conformance_test!(
            "TLSRouteInvalidBackendRefNonexistent",
            manifests: ["tests/tlsroute-invalid-backendref-nonexistent.yaml"],
            features: ["Gateway", "TLSRoute"],
            invalid_backend_nonexistent
        ),
        conformance_test!(
            "TLSRouteInvalidBackendRefUnknownKind",
            manifests: ["tests/tlsroute-invalid-backendref-unknown-kind.yaml"],
            features: ["Gateway", "TLSRoute"],
            invalid_backend_unknown_kind
        ),
        conformance_test!(
            "TLSRouteInvalidNoMatchingListener",
            manifests: ["tests/tlsroute-invalid-no-matching-listener.yaml"],
            features: ["Gateway", "TLSRoute"],
            invalid_no_matching_listener
        ),
        conformance_test!(
            "TLSRouteInvalidNoMatchingListenerHostname",
            manifests: ["tests/tlsroute-invalid-no-matching-listener-hostname.yaml"],
            features: ["Gateway", "TLSRoute"],
            invalid_no_matching_listener_hostname
        ),
        conformance_test!(
            "TLSRouteInvalidReferenceGrant",
            manifests: ["tests/tlsroute-invalid-reference-grant.yaml"],
            features: ["Gateway", "TLSRoute", "ReferenceGrant"],
            invalid_reference_grant
        ),
        conformance_test!(
            "TLSRouteListenerPassthroughSupportedKinds",
            manifests: ["tests/tlsroute-listener-passthrough-supported-kinds.yaml"],
            features: ["Gateway", "TLSRoute"],
            passthrough_supported_kinds
        ),
        conformance_test!(
            "TLSRouteListenerTerminateSupportedKinds",
            manifests: ["tests/tlsroute-listener-terminate-supported-kinds.yaml"],
            features: ["Gateway", "TLSRoute", "TLSRouteModeTerminate"],
            terminate_supported_kinds
        ),
        conformance_test!(
            "TLSRouteTerminateSimpleSameNamespace",
            manifests: ["tests/tlsroute-terminate-simple-same-namespace.yaml"],
            features: ["Gateway", "TLSRoute", "TLSRouteModeTerminate"],
            terminate_simple_same_namespace
        ),
        conformance_test!(
            "TLSRouteMixedTerminationSameNamespace",
            manifests: ["tests/tlsroute-mixed-termination-same-namespace.yaml"],
            features: ["Gateway", "TLSRoute", "TLSRouteModeTerminate", "TLSRouteModeMixed"],
            mixed_termination_same_namespace
        ),
    ]
}

async fn route_condition(
    env: &Env,
    route: &str,
    gateway: &str,
    cond: &'static [Cond],
) -> Result<(), Failure> {
    l4_probe::route_condition(env, "TLSRoute", route, gateway, cond).await
}

/// A TCP echo dialogue over TLS with SNI `host`, the server verified
/// against the `tls-checks-ca-certificate` CA.
async fn expect_tls_tcp(
    env: &Env,
    addr: &str,
    host: &str,
    want: &TcpExpect,
) -> Result<(), Failure> {
    let config = ca_client_config(&env.config.certs.checks_ca_pem, None).map_err(Failure)?;
    expect_tcp(env, addr, Some((host, config)), want).await
}

fn passthrough(host: &'static str) -> TcpExpect {
    TcpExpect {
        backend: "tcp-backend",
        namespace: INFRA_NS,
        backend_is_tls: true,
        hostname: Some(host),
    }
}

fn terminated() -> TcpExpect {
    TcpExpect {
        backend: "tcp-backend",
        namespace: INFRA_NS,
        backend_is_tls: false,
        hostname: None,
    }
}

async fn simple_same_namespace(env: &Env) -> Result<(), Failure> {
    let addr = gateway_and_routes_accepted(
        env,
        "TLSRoute",
        INFRA_NS,
        "gateway-tlsroute",
        "https",
        &["gateway-conformance-infra-test"],
    )
    .await?;
    expect_tls_tcp(
        env,
        &addr,
        "abc.example.com",
        &passthrough("abc.example.com"),
    )
    .await
}

async fn terminate_simple_same_namespace(env: &Env) -> Result<(), Failure> {
    let addr = gateway_and_routes_accepted(
        env,
        "TLSRoute",
        INFRA_NS,
        "gateway-tlsroute-terminate",
        "tlsterminate",
        &["tlsroute-terminated-test"],
    )
    .await?;
    expect_tls_tcp(env, &addr, "tls.example.com", &terminated()).await
}

async fn mixed_termination_same_namespace(env: &Env) -> Result<(), Failure> {
    let addr = gateway_and_routes_accepted(
        env,
        "TLSRoute",
        INFRA_NS,
        "gateway-tlsroute-mixed-termination",
        "tls-terminate",
        &[
            "gateway-conformance-mixed-terminateroute",
            "gateway-conformance-mixed-passthroughroute",
        ],
    )
    .await?;
    expect_tls_tcp(env, &addr, "tls.example.com", &terminated()).await?;
    expect_tls_tcp(
        env,
        &addr,
        "abc.example.com",
        &passthrough("abc.example.com"),
    )
    .await
}

async fn hostname_intersection(env: &Env) -> Result<(), Failure> {
    // The clients trust the tls-checks-certificate itself, as upstream does.
    let pinned = client_config(&env.config.certs.checks_chain_pem).map_err(Failure)?;
    let any = any_certificate_config().map_err(Failure)?;
    let cases: [(&str, &str, &[&str], bool, &str); 4] = [
        (
            "gw-tlsroute-exact-hostname-x-1",
            "listener-exact-hostname",
            &["tlsroute-more-specific-wc-hostname-x-1"],
            false,
            "non.matching.com",
        ),
        (
            "gw-tlsroute-more-specific-wc-hostname-x-2",
            "listener-more-specific-wc-hostname",
            &[
                "tlsroute-exact-hostname-x-2",
                "tlsroute-less-specific-wc-hostname-x-2",
            ],
            true,
            "non.matching.com",
        ),
        (
            "gw-tlsroute-less-specific-wc-hostname-x-3",
            "listener-less-specific-wc-hostname",
            &[
                "tlsroute-exact-hostname-x-3",
                "tlsroute-more-specific-wc-hostname-x-3",
            ],
            true,
            "non.matching.com",
        ),
        (
            "gw-tlsroute-empty-hostname-x-4",
            "listener-empty-hostname",
            &[
                "tlsroute-exact-hostname-x-4",
                "tlsroute-less-specific-wc-hostname-x-4",
            ],
            true,
            "non.matching.org",
        ),
    ];
    for (gateway, listener, routes, has_wildcard_backend, unmatched) in cases {
        let addr =
            gateway_and_routes_accepted(env, "TLSRoute", INFRA_NS, gateway, listener, routes)
                .await?;
        for route in routes {
            route_resolved(env, "TLSRoute", INFRA_NS, route, &[(INFRA_NS, gateway)]).await?;
        }
        let abc = Expect::get("/", "tls-backend", INFRA_NS).host("abc.example.com");
        expect_tls_with(env, &addr, "abc.example.com", pinned.clone(), &abc).await?;
        if has_wildcard_backend {
            let other = Expect::get("/", "tls-backend-2", INFRA_NS).host("other.example.com");
            expect_tls_with(env, &addr, "other.example.com", pinned.clone(), &other).await?;
        }
        expect_tls_refused(env, &addr, unmatched, any.clone()).await?;
    }
    Ok(())
}

async fn invalid_backend_nonexistent(env: &Env) -> Result<(), Failure> {
    let gw = (
        "gateway-tlsroute-invalid-backend-ref-nonexistent",
        Some("tls"),
    );
    let route = "invalid-backend-ref-nonexistent";
    route_refs_unresolved(env, "TLSRoute", gw, route, "BackendNotFound").await
}

async fn invalid_backend_unknown_kind(env: &Env) -> Result<(), Failure> {
    let gw = (
        "gateway-tlsroute-invalid-backend-ref-unknown-kind",
        Some("tls"),
    );
    let route = "invalid-backend-ref-unknown-kind";
    route_refs_unresolved(env, "TLSRoute", gw, route, "InvalidKind").await
}

async fn invalid_no_matching_listener(env: &Env) -> Result<(), Failure> {
    const NOT_ALLOWED: &[Cond] = &[Cond("Accepted", "False", "NotAllowedByListeners")];
    route_condition(
        env,
        "tlsroute-not-allowed-protocol-http",
        "gateway-tlsroute-http-only",
        NOT_ALLOWED,
    )
    .await?;
    route_condition(
        env,
        "tlsroute-not-allowed-protocol-https",
        "gateway-tlsroute-https-only",
        NOT_ALLOWED,
    )
    .await?;
    route_condition(
        env,
        "tlsroute-no-matching-section-name",
        "gateway-tlsroute-tls-passthrough-only",
        &[Cond("Accepted", "False", "NoMatchingParent")],
    )
    .await?;
    for route in [
        "tlsroute-not-allowed-protocol-http",
        "tlsroute-not-allowed-protocol-https",
        "tlsroute-no-matching-section-name",
    ] {
        route_no_accepted_parents(env, "TLSRoute", INFRA_NS, route).await?;
    }
    for gateway in ["gateway-tlsroute-http-only", "gateway-tlsroute-https-only"] {
        gateway_zero_routes(env, INFRA_NS, gateway).await?;
    }
    Ok(())
}

async fn invalid_no_matching_listener_hostname(env: &Env) -> Result<(), Failure> {
    const MISMATCH: &[Cond] = &[Cond("Accepted", "False", "NoMatchingListenerHostname")];
    let pairs = [
        ("tlsroute-hostname-mismatch-1", "gateway-tls-exact-hostname"),
        (
            "tlsroute-hostname-mismatch-2",
            "gateway-tls-wildcard-hostname",
        ),
    ];
    for (route, gateway) in pairs {
        route_condition(env, route, gateway, MISMATCH).await?;
    }
    for (route, gateway) in pairs {
        route_no_accepted_parents(env, "TLSRoute", INFRA_NS, route).await?;
        gateway_zero_routes(env, INFRA_NS, gateway).await?;
    }
    Ok(())
}

async fn invalid_reference_grant(env: &Env) -> Result<(), Failure> {
    let gw = ("gateway-tlsroute-referencegrant", Some("https"));
    let route = "gateway-conformance-infra-test";
    route_refs_unresolved(env, "TLSRoute", gw, route, "RefNotPermitted").await
}

async fn passthrough_supported_kinds(env: &Env) -> Result<(), Failure> {
    gateway_listeners(
        env,
        INFRA_NS,
        "gateway-tlsroute-passthrough-supported-kind",
        &[ListenerExpect {
            name: "tls-passthrough",
            supported_kinds: &["TLSRoute"],
            attached_routes: 0,
            conditions: &[Cond("ResolvedRefs", "False", "InvalidRouteKinds")],
        }],
    )
    .await
    .map(|_| ())
}

async fn terminate_supported_kinds(env: &Env) -> Result<(), Failure> {
    gateway_listeners(
        env,
        INFRA_NS,
        "gateway-tlsroute-terminate-supported",
        &[ListenerExpect {
            name: "tls-terminate",
            supported_kinds: &["TLSRoute"],
            attached_routes: 0,
            conditions: &[Cond("Accepted", "True", "Accepted")],
        }],
    )
    .await
    .map(|_| ())
}
