//! The data-plane model.
//!
//! `translate` produces an [`Ir`] from a snapshot of Kubernetes-shaped objects;
//! the proxy, the eBPF agent and the observer consume it. Nothing here knows
//! about Kubernetes types: names are plain strings, references are resolved,
//! invalid parts are already replaced by explicit [`BackendTarget::Invalid`]
//! entries, and route rules are already in precedence order.
//!
//! Every collection is ordered deterministically (sorted maps, sorted vectors),
//! so two translations of the same snapshot compare and serialize equal.

#![forbid(unsafe_code)]

mod http;
mod l4;
mod service;
mod tls;

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};

use serde::{Deserialize, Serialize};

pub use http::*;
pub use l4::*;
pub use service::*;
pub use tls::*;

/// The whole data-plane configuration for one generation of input.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Ir {
    /// Sockets to bind, one per (address, port, transport). Sorted by address.
    pub binds: Vec<Bind>,
    /// Upstream clusters (a Service port and its endpoints), keyed by [`ClusterId`].
    pub clusters: BTreeMap<ClusterId, Cluster>,
    /// ClusterIP / NodePort / LoadBalancer frontends for the eBPF service load balancer.
    pub services: Vec<ServiceFrontend>,
}

/// `namespace/name` of a Kubernetes object, kept as plain strings.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ObjectRef {
    pub kind: String,
    pub namespace: String,
    pub name: String,
}

impl std::fmt::Display for ObjectRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.namespace.is_empty() {
            write!(f, "{}/{}", self.kind, self.name)
        } else {
            write!(f, "{}/{}/{}", self.kind, self.namespace, self.name)
        }
    }
}

/// Transport and application protocol of a bound socket.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum BindProtocol {
    /// Plain HTTP/1.1 and h2c (prior knowledge) on the same port.
    Http,
    /// TLS terminated by the gateway, then HTTP/1.1 or HTTP/2 by ALPN.
    Https,
    /// TLS listeners (TLSRoute): passthrough by SNI and/or terminate-then-TCP.
    Tls,
    /// Raw TCP stream proxy (TCPRoute).
    Tcp,
    /// UDP datagram proxy with per-client sessions (UDPRoute).
    Udp,
}

/// One socket to bind, carrying every listener that shares it.
///
/// Several Gateway listeners (and ListenerSet listeners) with different
/// hostnames share one port; the request's Host/SNI selects the most specific
/// listener ("listener isolation"): `listeners` is sorted most specific first
/// (exact hostnames, then wildcards by length, then the hostname-less one).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Bind {
    /// The Gateway that owns the address.
    pub gateway: ObjectRef,
    pub address: SocketAddr,
    pub protocol: BindProtocol,
    /// Accept the PROXY protocol (v1/v2) header before anything else.
    pub proxy_protocol: bool,
    pub listeners: Vec<Listener>,
}

/// One accepted, programmed listener.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Listener {
    /// Stable identity: `Gateway/namespace/name/listener` or
    /// `ListenerSet/namespace/name/listener` (the owner's status key, then the
    /// listener name; see `portico_translate::apply_data_plane_report`).
    pub id: String,
    /// The object that declares it (a Gateway or a ListenerSet).
    pub owner: ObjectRef,
    /// The listener's `name`.
    pub name: String,
    pub hostname: HostMatch,
    pub protocol: BindProtocol,
    /// TLS settings for HTTPS and TLS listeners.
    pub tls: Option<ListenerTls>,
    /// HTTPRoute and GRPCRoute rules, grouped by effective hostname.
    pub http: Vec<VirtualHost>,
    /// TLSRoute routes by SNI (TLS listeners).
    pub tls_routes: Vec<SniRoute>,
    /// The route serving a TCP or UDP listener: the oldest attached one.
    pub l4_route: Option<L4Route>,
}

/// A hostname matcher: the intersection of listener and route hostnames.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum HostMatch {
    /// Matches every host.
    Any,
    /// Exact, lower-case host name without port.
    Exact(String),
    /// `*.example.com` stored as the suffix `.example.com` (at least one label before it).
    Wildcard(String),
}

impl HostMatch {
    /// Parses a Gateway API hostname (`foo.example.com`, `*.example.com`) or `None` for any.
    pub fn parse(hostname: Option<&str>) -> HostMatch {
        match hostname {
            None | Some("") => HostMatch::Any,
            Some(h) => {
                let h = h.to_ascii_lowercase();
                match h.strip_prefix('*') {
                    Some(suffix) => HostMatch::Wildcard(suffix.to_string()),
                    None => HostMatch::Exact(h),
                }
            }
        }
    }

    /// Whether `host` (lower-case, without port) is matched.
    pub fn matches(&self, host: &str) -> bool {
        match self {
            HostMatch::Any => true,
            HostMatch::Exact(h) => h.eq_ignore_ascii_case(host),
            HostMatch::Wildcard(suffix) => {
                host.len() > suffix.len()
                    && host
                        .get(host.len() - suffix.len()..)
                        .is_some_and(|tail| tail.eq_ignore_ascii_case(suffix))
            }
        }
    }

    /// Specificity for "most specific wins": exact beats wildcard, longer
    /// wildcard beats shorter, anything beats `Any`. Larger is more specific.
    pub fn specificity(&self) -> (u8, usize) {
        match self {
            HostMatch::Any => (0, 0),
            HostMatch::Wildcard(s) => (1, s.len()),
            HostMatch::Exact(h) => (2, h.len()),
        }
    }
}

impl std::fmt::Display for HostMatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HostMatch::Any => f.write_str("*"),
            HostMatch::Exact(h) => f.write_str(h),
            HostMatch::Wildcard(s) => write!(f, "*{s}"),
        }
    }
}

/// An address pool assignment result, reported for observability.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AssignedAddress {
    pub gateway: ObjectRef,
    pub address: IpAddr,
    pub pool: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcard_requires_a_label() {
        let w = HostMatch::parse(Some("*.example.com"));
        assert!(w.matches("foo.example.com"));
        assert!(w.matches("a.b.example.com"));
        assert!(!w.matches("example.com"));
        assert!(!w.matches(".example.com"));
        assert!(!w.matches("fooexample.com"));
    }

    #[test]
    fn specificity_orders_exact_over_wildcard_over_any() {
        let exact = HostMatch::parse(Some("a.example.com"));
        let long = HostMatch::parse(Some("*.b.example.com"));
        let short = HostMatch::parse(Some("*.com"));
        let any = HostMatch::parse(None);
        assert!(exact.specificity() > long.specificity());
        assert!(long.specificity() > short.specificity());
        assert!(short.specificity() > any.specificity());
    }
}
