//! GATEWAY-TCP: TCPRoutes on TCP listeners, the TCP echo dialogue through
//! the Gateway, attachment by port / sectionName, grants, weights, and
//! "only the oldest route serves" when two routes share a listener.

use crate::status::{Cond, gateway_zero_routes, route_parents};
use crate::tests::l4_probe::{
    self, TcpExpect, accepted_on, attach_newer_route, expect_l4_weights, expect_tcp,
    gateway_and_routes_accepted, listener_addr, route_refs_unresolved, tcp_pod_once,
};
use crate::{ConformanceTest, Env, Failure, INFRA_NS, WEB_BACKEND_NS, conformance_test, fail};

pub fn tests() -> Vec<ConformanceTest> {
    vec![
        conformance_test!(
            "TCPRouteInvalidBackendRefNonexistent",
            manifests: ["tests/tcproute-invalid-backendref-nonexistent.yaml"],
            features: ["Gateway", "TCPRoute"],
            invalid_backend_nonexistent
        ),
        conformance_test!(
            "TCPRouteInvalidCrossNamespaceBackendRef",
            manifests: ["tests/tcproute-invalid-cross-namespace-backend-ref.yaml"],
            features: ["Gateway", "TCPRoute", "ReferenceGrant"],
            invalid_cross_namespace
        ),
        conformance_test!(
            "TCPRouteInvalidNonTCPListener",
            manifests: ["tests/tcproute-invalid-non-tcp-listener.yaml"],
            features: ["Gateway", "TCPRoute"],
            invalid_non_tcp_listener
        ),
        conformance_test!(
            "TCPRouteMultipleRoutesAttachment",
            manifests: ["tests/tcproute-multiple-routes-attachment.yaml"],
            features: ["Gateway", "TCPRoute"],
            multiple_routes_attachment
        ),
        conformance_test!(
            "TCPRouteParentRefAttachAll",
            manifests: ["tests/tcproute-parentref-attach-all.yaml"],
            features: ["Gateway", "TCPRoute"],
            parent_ref_attach_all
        ),
        conformance_test!(
            "TCPRouteParentRefPortAndSectionName",
            manifests: ["tests/tcproute-parentref-port-and-section-name.yaml"],
            features: ["Gateway", "TCPRoute"],
            parent_ref_port_and_section
        ),
        conformance_test!(
            "TCPRouteReferenceGrant",
            manifests: ["tests/tcproute-reference-grant.yaml"],
            features: ["Gateway", "TCPRoute", "ReferenceGrant"],
            reference_grant
        ),
        conformance_test!(
            "TCPRouteWeightedRouting",
            manifests: ["tests/tcproute-weighted-routing.yaml"],
            features: ["Gateway", "TCPRoute"],
            weighted_routing
        ),
    ]
}

async fn route_condition(
    env: &Env,
    route: &str,
    gateway: &str,
    cond: &'static [Cond],
) -> Result<(), Failure> {
    l4_probe::route_condition(env, "TCPRoute", route, gateway, cond).await
}

fn plain(backend: &'static str, namespace: &'static str) -> TcpExpect {
    TcpExpect {
        backend,
        namespace,
        backend_is_tls: false,
        hostname: None,
    }
}

async fn invalid_backend_nonexistent(env: &Env) -> Result<(), Failure> {
    let gw = ("tcp-gateway-invalid-backend", None);
    let route = "tcp-route-invalid-backend-ref-nonexistent";
    route_refs_unresolved(env, "TCPRoute", gw, route, "BackendNotFound").await
}

async fn invalid_cross_namespace(env: &Env) -> Result<(), Failure> {
    let gw = (
        "tcp-invalid-cross-namespace-backend-ref-gateway",
        Some("tcp"),
    );
    let route = "tcp-invalid-cross-namespace-backend-ref";
    route_refs_unresolved(env, "TCPRoute", gw, route, "RefNotPermitted").await
}

async fn invalid_non_tcp_listener(env: &Env) -> Result<(), Failure> {
    const GW: &str = "tcp-mixed-protocol-gateway";
    route_condition(
        env,
        "tcp-route",
        GW,
        &[Cond("Accepted", "False", "NotAllowedByListeners")],
    )
    .await?;
    gateway_zero_routes(env, INFRA_NS, GW).await.map(|_| ())
}

async fn multiple_routes_attachment(env: &Env) -> Result<(), Failure> {
    let addr = attach_newer_route(
        env,
        "TCPRoute",
        "tcp-multi-route-attach-gateway",
        "tcp",
        ("tcproute-attach-older", "tcproute-attach-newer"),
        ("tcp-attach-backend-2", 3000),
    )
    .await?;
    expect_tcp(env, &addr, None, &plain("tcp-attach-backend-1", INFRA_NS)).await?;
    for i in 0..100 {
        let pod = tcp_pod_once(&addr)
            .await
            .map_err(|e| Failure(format!("TCP echo request {i}: {e}")))?;
        if !pod.starts_with("tcp-attach-backend-1-") {
            fail!("request {i} reached {pod}; only the oldest route may serve");
        }
    }
    Ok(())
}

async fn parent_ref_attach_all(env: &Env) -> Result<(), Failure> {
    const GW: &str = "tcp-attach-all-gateway";
    route_parents(
        env,
        "TCPRoute",
        INFRA_NS,
        "tcp-route-attach-all",
        &accepted_on(GW),
    )
    .await?;
    for listener in ["one", "two", "three", "four"] {
        let addr = listener_addr(env, INFRA_NS, GW, listener).await?;
        expect_tcp(env, &addr, None, &plain("tcp-echo-attach-all", INFRA_NS)).await?;
    }
    Ok(())
}

async fn parent_ref_port_and_section(env: &Env) -> Result<(), Failure> {
    const GW: &str = "tcp-multi-listener-gateway";
    for (route, listener, backend) in [
        ("tcp-route-by-port", "one", "tcp-echo-one"),
        ("tcp-route-by-section", "two", "tcp-echo-two"),
        ("tcp-route-by-section-and-port", "three", "tcp-echo-three"),
    ] {
        route_parents(env, "TCPRoute", INFRA_NS, route, &accepted_on(GW)).await?;
        let addr = listener_addr(env, INFRA_NS, GW, listener).await?;
        expect_tcp(env, &addr, None, &plain(backend, INFRA_NS)).await?;
    }
    Ok(())
}

async fn reference_grant(env: &Env) -> Result<(), Failure> {
    const GW: &str = "tcp-reference-grant-gateway";
    const ROUTE: &str = "tcp-reference-grant";
    let addr = gateway_and_routes_accepted(env, "TCPRoute", INFRA_NS, GW, "tcp", &[ROUTE]).await?;
    expect_tcp(
        env,
        &addr,
        None,
        &plain("tcp-reference-grant-backend", WEB_BACKEND_NS),
    )
    .await?;
    env.delete_object("ReferenceGrant", WEB_BACKEND_NS, "tcp-reference-grant")?;
    route_refs_unresolved(env, "TCPRoute", (GW, None), ROUTE, "RefNotPermitted").await
}

async fn weighted_routing(env: &Env) -> Result<(), Failure> {
    const GW: &str = "tcp-weighted-gateway";
    let addr = gateway_and_routes_accepted(
        env,
        "TCPRoute",
        INFRA_NS,
        GW,
        "tcp",
        &["tcp-weighted-route"],
    )
    .await?;
    let addr = addr.as_str();
    expect_l4_weights(
        || tcp_pod_once(addr),
        &[("tcp-backend-v1", 0.7), ("tcp-backend-v2", 0.3)],
        500,
        0.03,
    )
    .await
}
