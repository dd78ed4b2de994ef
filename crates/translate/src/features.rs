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

/// Sorted feature names.
pub const SUPPORTED: &[&str] = &["Gateway", "HTTPRoute", "ReferenceGrant"];

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
        assert!(!supports("TLSRouteModeMixed"));
        assert!(!supports("gateway"));
    }
}
