//! Upstream clusters (for the proxy) and service frontends (for eBPF).

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};

use serde::{Deserialize, Serialize};

use crate::{BackendTls, ObjectRef};

/// `namespace/service:port` — the identity of a cluster. Pools and load
/// balancer state are keyed by it, so they survive config updates.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ClusterId(pub String);

impl ClusterId {
    pub fn new(namespace: &str, service: &str, port: u16) -> ClusterId {
        ClusterId(format!("{namespace}/{service}:{port}"))
    }
}

impl std::fmt::Display for ClusterId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// One Service port and the endpoints behind it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Cluster {
    pub id: ClusterId,
    pub service: ObjectRef,
    pub port: u16,
    pub protocol: AppProtocol,
    pub lb: LbAlgorithm,
    /// Sorted by address.
    pub endpoints: Vec<Endpoint>,
    /// TLS to the backend (BackendTLSPolicy), if any.
    pub tls: Option<BackendTls>,
    /// Send a PROXY protocol header on each upstream connection.
    pub proxy_protocol: Option<ProxyProtocolVersion>,
}

/// How to talk to the backend, from the Service port's `appProtocol`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum AppProtocol {
    /// HTTP/1.1 upstream (the default).
    #[default]
    Http1,
    /// `kubernetes.io/h2c`: HTTP/2 prior knowledge upstream.
    H2c,
    /// `kubernetes.io/ws`: WebSocket over HTTP/1.1.
    WebSocket,
    /// Other values: passed through as HTTP/1.1.
    Other,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ProxyProtocolVersion {
    V1,
    V2,
}

/// Per-request (or per-connection for L4) load-balancing algorithm.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum LbAlgorithm {
    #[default]
    RoundRobin,
    LeastRequest,
    Random,
    Maglev,
}

/// One backend address with its EndpointSlice conditions.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Endpoint {
    pub address: SocketAddr,
    /// `conditions.ready` (unset counts as ready).
    pub ready: bool,
    /// `conditions.serving` (unset: same as ready).
    pub serving: bool,
    /// `conditions.terminating`: only in-flight connections drain to it.
    pub terminating: bool,
    /// `targetRef` pod name or hostname, for flow records.
    pub name: Option<String>,
    pub zone: Option<String>,
}

impl Endpoint {
    /// Eligible for new requests.
    pub fn is_usable(&self) -> bool {
        self.ready && !self.terminating
    }
}

/// A Service frontend for the kernel load balancer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ServiceFrontend {
    pub service: ObjectRef,
    pub kind: FrontendKind,
    pub address: IpAddr,
    pub port: u16,
    pub protocol: L4Protocol,
    pub lb: LbAlgorithm,
    /// `sessionAffinity: ClientIP` with its timeout.
    pub affinity_timeout_secs: Option<u32>,
    /// Resolved backends for new connections (target port applied): the
    /// ready, non-terminating endpoints (the serving terminating ones only
    /// when none is ready, as kube-proxy does).
    pub backends: Vec<SocketAddr>,
    /// Weights of `backends` by address; a backend not listed weighs 1.
    /// Weight 0 keeps established connections but takes no new ones
    /// (maintenance). From the EndpointSlice annotation
    /// `service.cilium.io/weight` and the Service annotation
    /// `portico.dev/backend-weights`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub weights: BTreeMap<SocketAddr, u32>,
    /// Endpoints with `conditions.terminating` that are not in `backends`:
    /// established connections keep them, new connections never pick them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub terminating: Vec<SocketAddr>,
}

impl ServiceFrontend {
    /// The weight of `backend` (1 unless `weights` says otherwise).
    pub fn weight_of(&self, backend: &SocketAddr) -> u32 {
        self.weights.get(backend).copied().unwrap_or(1)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum FrontendKind {
    ClusterIp,
    NodePort,
    LoadBalancer,
    ExternalIp,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum L4Protocol {
    Tcp,
    Udp,
    Sctp,
}
