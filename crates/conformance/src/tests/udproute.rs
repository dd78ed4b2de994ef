//! GATEWAY-UDP: UDPRoutes on UDP listeners, datagrams echoed through the
//! Gateway (per-client sessions), attachment by port / sectionName, grants,
//! weights, "only the oldest route serves", and a DNS query to `coredns`.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use serde_json::Value;

use crate::status::{Cond, ListenerExpect, gateway_listeners, gateway_zero_routes, route_parents};
use crate::tests::l4_probe::{
    self, accepted_on, attach_newer_route, deployment_of, dns_answer, dns_exchange,
    expect_l4_weights, expect_udp, gateway_and_routes_accepted, listener_addr,
    route_refs_unresolved, udp_once,
};
use crate::{APP_BACKEND_NS, ConformanceTest, Env, Failure, INFRA_NS, conformance_test, fail};

pub fn tests() -> Vec<ConformanceTest> {
    vec![
        conformance_test!(
            "UDPRoute",
            manifests: ["tests/udproute-simple.yaml"],
            features: ["Gateway", "UDPRoute"],
            simple
        ),
        conformance_test!(
            "UDPRouteInvalidBackendRefNonexistent",
            manifests: ["tests/udproute-invalid-backendref-nonexistent.yaml"],
            features: ["Gateway", "UDPRoute"],
            invalid_backend_nonexistent
        ),
        conformance_test!(
            "UDPRouteInvalidCrossNamespaceBackendRef",
            manifests: ["tests/udproute-invalid-cross-namespace-backend-ref.yaml"],
            features: ["Gateway", "UDPRoute", "ReferenceGrant"],
            invalid_cross_namespace
        ),
        conformance_test!(
            "UDPRouteMultipleRoutesAttachment",
            manifests: ["tests/udproute-multiple-routes-attachment.yaml"],
            features: ["Gateway", "UDPRoute"],
            multiple_routes_attachment
        ),
        conformance_test!(
            "UDPRouteNotAllowedByListener",
            manifests: ["tests/udproute-not-allowed-by-listeners.yaml"],
            features: ["Gateway", "UDPRoute", "TLSRoute"],
            not_allowed_by_listeners
        ),
        conformance_test!(
            "UDPRouteParentRefAttachAllListeners",
            manifests: ["tests/udproute-parentref-attach-all-listeners.yaml"],
            features: ["Gateway", "UDPRoute"],
            parent_ref_attach_all
        ),
        conformance_test!(
            "UDPRouteParentRefPortAndSectionName",
            manifests: ["tests/udproute-parentref-port-and-section-name.yaml"],
            features: ["Gateway", "UDPRoute"],
            parent_ref_port_and_section
        ),
        conformance_test!(
            "UDPRouteReferenceGrant",
            manifests: ["tests/udproute-reference-grant.yaml"],
            features: ["Gateway", "UDPRoute", "ReferenceGrant"],
            reference_grant
        ),
        conformance_test!(
            "UDPRouteWeightedRouting",
            manifests: ["tests/udproute-weighted-routing.yaml"],
            features: ["Gateway", "UDPRoute"],
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
    l4_probe::route_condition(env, "UDPRoute", route, gateway, cond).await
}

/// Stands in for the `coredns` Deployment (its `whoami` zone): a DNS
/// responder on a loopback "pod" address, with the EndpointSlice a cluster
/// would have written for the `coredns` Service.
async fn start_dns_pod(env: &Env) -> Result<AbortOnDrop, Failure> {
    let ip = IpAddr::V4(Ipv4Addr::new(127, 20, 250, 1));
    let socket = tokio::net::UdpSocket::bind(SocketAddr::new(ip, 0))
        .await
        .map_err(|e| Failure(format!("binding the DNS pod: {e}")))?;
    let port = socket
        .local_addr()
        .map_err(|e| Failure(format!("DNS pod address: {e}")))?
        .port();
    let task = tokio::spawn(async move {
        let mut buf = vec![0u8; 1500];
        loop {
            let Ok((n, from)) = socket.recv_from(&mut buf).await else {
                return;
            };
            let client = match from.ip() {
                IpAddr::V4(v4) => v4,
                IpAddr::V6(_) => Ipv4Addr::UNSPECIFIED,
            };
            if let Some(answer) = dns_answer(&buf[..n], client) {
                let _ = socket.send_to(&answer, from).await;
            }
        }
    });
    let slice = serde_json::json!({
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {
            "name": "coredns-conformance",
            "namespace": INFRA_NS,
            "labels": {"kubernetes.io/service-name": "coredns"},
        },
        "addressType": "IPv4",
        "ports": [{"name": "udp-dns", "port": port, "protocol": "UDP"}],
        "endpoints": [{
            "addresses": [ip.to_string()],
            "conditions": {"ready": true, "serving": true, "terminating": false},
        }],
    });
    env.write_file("90-coredns-endpoints.yaml", &slice.to_string())?;
    Ok(AbortOnDrop(task))
}

/// Stops the DNS pod when the test ends.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

async fn simple(env: &Env) -> Result<(), Failure> {
    const GW: &str = "udp-gateway";
    let _dns = start_dns_pod(env).await?;
    let addr =
        gateway_and_routes_accepted(env, "UDPRoute", INFRA_NS, GW, "coredns", &["udp-coredns"])
            .await?;
    let deadline = tokio::time::Instant::now() + env.config.max_time_to_consistency;
    let mut id: u16 = 1;
    loop {
        match dns_exchange(&addr, id, "foo.bar.com.").await {
            Ok(()) => return Ok(()),
            Err(why) if tokio::time::Instant::now() > deadline => {
                fail!("DNS query via {addr}: {why}")
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(250)).await,
        }
        id = id.wrapping_add(1);
    }
}

async fn invalid_backend_nonexistent(env: &Env) -> Result<(), Failure> {
    let gw = ("udp-gateway-invalid-backend", None);
    let route = "udp-route-invalid-backend-ref-nonexistent";
    route_refs_unresolved(env, "UDPRoute", gw, route, "BackendNotFound").await
}

async fn invalid_cross_namespace(env: &Env) -> Result<(), Failure> {
    let gw = (
        "udp-gateway-invalid-cross-namespace-backend-ref",
        Some("udp"),
    );
    let route = "udp-route-invalid-cross-namespace-backend-ref";
    route_refs_unresolved(env, "UDPRoute", gw, route, "RefNotPermitted").await
}

/// Upstream `udpEchoSendOnce`: one datagram, the answering pod.
async fn udp_pod_once(addr: &str) -> Result<String, String> {
    let answer = udp_once(addr, b"gateway-api-conformance-udp-weight\n").await?;
    answer
        .get("pod")
        .and_then(Value::as_str)
        .filter(|p| !p.is_empty())
        .map(String::from)
        .ok_or_else(|| format!("answer without pod: {answer}"))
}

async fn multiple_routes_attachment(env: &Env) -> Result<(), Failure> {
    let addr = attach_newer_route(
        env,
        "UDPRoute",
        "udp-multi-route-attach-gateway",
        "udp",
        ("udproute-attach-older", "udproute-attach-newer"),
        ("udp-attach-backend-2", 8080),
    )
    .await?;
    let deadline = tokio::time::Instant::now() + env.config.max_time_to_consistency;
    'poll: loop {
        for i in 0..20 {
            match udp_pod_once(&addr).await {
                Ok(pod) if deployment_of(&pod) == "udp-attach-backend-1" => {}
                Ok(pod) => fail!("UDP traffic reached {pod}; only the oldest route may serve"),
                Err(why) => {
                    if tokio::time::Instant::now() > deadline {
                        fail!("UDP probe {i} via {addr}: {why}");
                    }
                    tokio::time::sleep(Duration::from_millis(250)).await;
                    continue 'poll;
                }
            }
        }
        return Ok(());
    }
}

async fn not_allowed_by_listeners(env: &Env) -> Result<(), Failure> {
    const GW: &str = "udproute-tls-only-gateway";
    route_condition(
        env,
        "udproute-not-allowed-by-listeners",
        GW,
        &[Cond("Accepted", "False", "NotAllowedByListeners")],
    )
    .await?;
    gateway_zero_routes(env, INFRA_NS, GW).await.map(|_| ())
}

async fn parent_ref_attach_all(env: &Env) -> Result<(), Failure> {
    const GW: &str = "udp-attach-all-listeners-gateway";
    const READY: &[Cond] = &[
        Cond("Accepted", "True", ""),
        Cond("ResolvedRefs", "True", ""),
    ];
    route_parents(
        env,
        "UDPRoute",
        INFRA_NS,
        "udp-route-attach-all",
        &accepted_on(GW),
    )
    .await?;
    let listener = |name| ListenerExpect {
        name,
        supported_kinds: &["UDPRoute"],
        attached_routes: 1,
        conditions: READY,
    };
    gateway_listeners(
        env,
        INFRA_NS,
        GW,
        &[listener("udp-1"), listener("udp-2"), listener("udp-3")],
    )
    .await?;
    for name in ["udp-1", "udp-2", "udp-3"] {
        let addr = listener_addr(env, INFRA_NS, GW, name).await?;
        expect_udp(env, &addr, "udp-echo-attach-all", INFRA_NS).await?;
    }
    Ok(())
}

async fn parent_ref_port_and_section(env: &Env) -> Result<(), Failure> {
    const GW: &str = "udp-multi-listener-gateway";
    for (route, listener, backend) in [
        ("udp-route-by-port", "by-port", "udp-echo-by-port"),
        ("udp-route-by-section", "by-section", "udp-echo-by-section"),
        (
            "udp-route-by-section-and-port",
            "by-section-and-port",
            "udp-echo-by-section-and-port",
        ),
    ] {
        route_parents(env, "UDPRoute", INFRA_NS, route, &accepted_on(GW)).await?;
        let addr = listener_addr(env, INFRA_NS, GW, listener).await?;
        expect_udp(env, &addr, backend, INFRA_NS).await?;
    }
    Ok(())
}

async fn reference_grant(env: &Env) -> Result<(), Failure> {
    const GW: &str = "udp-gateway-reference-grant";
    const ROUTE: &str = "udp-route-reference-grant";
    let addr = gateway_and_routes_accepted(env, "UDPRoute", INFRA_NS, GW, "udp", &[ROUTE]).await?;
    route_condition(
        env,
        ROUTE,
        GW,
        &[Cond("ResolvedRefs", "True", "ResolvedRefs")],
    )
    .await?;
    expect_udp(env, &addr, "", "").await?;
    env.delete_object("ReferenceGrant", APP_BACKEND_NS, "udp-reference-grant")?;
    route_refs_unresolved(env, "UDPRoute", (GW, None), ROUTE, "RefNotPermitted").await
}

async fn weighted_routing(env: &Env) -> Result<(), Failure> {
    const GW: &str = "udp-weighted-gateway";
    let addr = gateway_and_routes_accepted(
        env,
        "UDPRoute",
        INFRA_NS,
        GW,
        "udp",
        &["udp-weighted-route"],
    )
    .await?;
    expect_udp(env, &addr, "", "").await?;
    let addr = addr.as_str();
    expect_l4_weights(
        || udp_pod_once(addr),
        &[
            ("udp-backend-v1", 0.7),
            ("udp-backend-v2", 0.3),
            ("udp-backend-v3", 0.0),
        ],
        500,
        0.05,
    )
    .await
}
