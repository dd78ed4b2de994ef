//! The Gateway API features the data plane really implements, reported in
//! `GatewayClass.status.supportedFeatures`.
//!
//! Add a name here only together with the data-plane code and the test that
//! proves it, keeping the list sorted (a unit test checks). What each feature
//! needs before it may be listed:
//!
//! | feature | needs |
//! | --- | --- |
//! | `Gateway`, `HTTPRoute`, `ReferenceGrant` | proxy: HTTP listeners, host + path + header matching, weighted backends (core) |
//! | `HTTPRouteMethodMatching`, `HTTPRouteQueryParamMatching` | proxy: method / query matchers with tests |
//! | `GatewayHTTPListenerIsolation` | proxy: most specific listener hostname selects the route table |
//! | `GatewayPort8080` | proxy binds any port from the IR (integration test on 8080-like port) |
//! | `GatewayStaticAddresses`, `GatewayAddressEmpty` | proxy binds `Bind::address` as given |
//! | `ListenerSet` | proxy serves ListenerSet listeners like Gateway listeners |
//! | `HTTPRouteResponseHeaderModification`, redirects, rewrites, mirrors, CORS, timeouts, retry | proxy: one filter file each, with tests |
//! | `GRPCRoute` | proxy: HTTP/2 + gRPC error mapping |
//! | `TLSRoute` | proxy: TLS passthrough by SNI |
//! | `TLSRouteModeTerminate` | proxy: TLS listener terminate-then-TCP |
//! | `TLSRouteModeMixed` | proxy: Terminate and Passthrough listeners on one port (translation stops reporting ProtocolConflict for them) |
//! | `TCPRoute`, `UDPRoute` | proxy: L4 stream / datagram proxy |
//! | `BackendTLSPolicySANValidation` | proxy: subjectAltNames (Hostname, URI) checked after the chain |
//! | `GatewayBackendClientCertificate` | proxy presents the Gateway's client certificate on BackendTLSPolicy connections |

/// Sorted feature names. Each entry names the test that proves it
/// (`proxy::` = crates/proxy/tests/integration, `golden:` =
/// crates/translate/tests/golden).
pub const SUPPORTED: &[&str] = &[
    // proxy::https::backend_tls_policy_verifies_the_backend; translate routes::backend_tls.
    "BackendTLSPolicy",
    // proxy upstream::san_verifier (Hostname and URI SANs); conformance:
    // BackendTLSPolicySANValidation.
    "BackendTLSPolicySANValidation",
    // proxy::upstream::grpc_over_h2c_keeps_trailers_both_ways; golden: route-grpc.
    "GRPCRoute",
    // conformance: GRPCRouteNamedRule.
    "GRPCRouteNamedRouteRule",
    // Core: proxy::routing (host/path/header matching, weights), golden: route-*.
    "Gateway",
    // golden: gateway-static-address (an IPAddress entry without value).
    "GatewayAddressEmpty",
    // conformance: GatewayTLSBackendClientCertificate, GatewayInvalidTLSBackendConfiguration;
    // translate routes::backend_tls (a cluster presents the certificate only
    // when every Gateway reaching it configures the same one).
    "GatewayBackendClientCertificate",
    // proxy::https::frontend_client_certificate_validation (strict and fallback);
    // golden: gateway-client-certificate-validation.
    "GatewayFrontendClientCertificateValidation",
    "GatewayFrontendClientCertificateValidationInsecureFallback",
    // proxy::routing::host_routing_and_listener_isolation; binds list listeners most specific first.
    "GatewayHTTPListenerIsolation",
    // proxy::https (421 when the Host selects another HTTPS listener than the
    // SNI, with or without a route there); conformance:
    // HTTPRouteHTTPSListenerDetectMisdirectedRequests.
    "GatewayHTTPSListenerDetectMisdirectedRequests",
    // The proxy binds whatever port the IR names (proxy::lifecycle).
    "GatewayPort8080",
    // golden: gateway-static-address, gateway-address-not-usable, gateway-unsupported-address.
    "GatewayStaticAddresses",
    "HTTPRoute",
    // proxy::filters::redirects (301, 302, 303, 308; scheme, port, path).
    "HTTPRoute303RedirectStatusCode",
    // conformance: HTTPRoute307Redirect.
    "HTTPRoute307RedirectStatusCode",
    "HTTPRoute308RedirectStatusCode",
    // proxy::upstream::h2c_upstream_uses_http2_with_original_authority.
    "HTTPRouteBackendProtocolH2C",
    // proxy::upstream::websocket_upgrade_is_tunnelled.
    "HTTPRouteBackendProtocolWebSocket",
    // proxy::filters::backend_level_filters_apply_to_that_backend_only.
    "HTTPRouteBackendRequestHeaderModification",
    // proxy::upstream::backend_and_request_timeouts_are_504.
    "HTTPRouteBackendTimeout",
    // proxy::filters::cors_preflight_answered_by_gateway_and_simple_requests_decorated.
    "HTTPRouteCORS",
    // proxy::filters::url_rewrite_hostname_and_path.
    "HTTPRouteHostRewrite",
    // proxy::routing::routes_by_regex_method_header_and_query.
    "HTTPRouteMethodMatching",
    // conformance: HTTPRouteNamedRule.
    "HTTPRouteNamedRouteRule",
    // conformance: HTTPRouteInvalidParentRefNotMatchingListenerPort, ...SectionNameNotMatchingPort.
    "HTTPRouteParentRefPort",
    "HTTPRoutePathRedirect",
    "HTTPRoutePathRewrite",
    "HTTPRoutePortRedirect",
    "HTTPRouteQueryParamMatching",
    // proxy::filters::request_mirror_copies_without_delaying (several mirrors per rule).
    "HTTPRouteRequestMirror",
    "HTTPRouteRequestMultipleMirrors",
    // conformance: HTTPRouteRequestPercentageMirror (evenly spread sampling,
    // proxy filters::mirror::any_window_of_requests_is_sampled_at_the_fraction).
    "HTTPRouteRequestPercentageMirror",
    "HTTPRouteRequestTimeout",
    // proxy::filters::request_and_response_header_modifiers.
    "HTTPRouteResponseHeaderModification",
    // proxy::upstream::retries_on_listed_codes, retries_give_up_after_attempts_and_retry_connect_errors.
    "HTTPRouteRetry",
    "HTTPRouteSchemeRedirect",
    // golden: listenerset-*, route-listenerset; the proxy serves them like Gateway listeners.
    "ListenerSet",
    "ReferenceGrant",
    // proxy::l4::tcp_route_splices_to_a_backend; golden: route-tcp-two-routes.
    "TCPRoute",
    // proxy::l4::tls_passthrough_routes_by_sni; golden: route-tls.
    "TLSRoute",
    // proxy::l4::tls_terminate_and_passthrough_share_a_port (one Tls bind, both modes).
    "TLSRouteModeMixed",
    "TLSRouteModeTerminate",
    // proxy::l4::udp_and_tcp_share_a_port.
    "UDPRoute",
];

/// Whether `feature` is listed in [`SUPPORTED`].
pub fn supports(feature: &str) -> bool {
    SUPPORTED.binary_search(&feature).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn supported_is_sorted_and_unique() {
        assert!(SUPPORTED.windows(2).all(|w| w[0] < w[1]), "{SUPPORTED:?}");
    }

    #[test]
    fn supports_finds_listed_names_only() {
        assert!(supports("Gateway"));
        assert!(!supports("GatewayInfrastructurePropagation"));
        assert!(!supports("gateway"));
    }
}
