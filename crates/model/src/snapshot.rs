//! An immutable, ordered view of every object translation reads.

use crate::core::{ConfigMap, EndpointSlice, Namespace, Secret, Service};
use crate::gateway::{
    BackendTlsPolicy, Gateway, GatewayClass, GrpcRoute, HttpRoute, ListenerSet, ReferenceGrant,
    TcpRoute, TlsRoute, UdpRoute,
};

/// Every object of every kind, each list sorted by (namespace, name).
/// Namespaced objects always have a namespace (`default` when the file omits it).
#[derive(Clone, Debug, Default)]
pub struct Snapshot {
    pub gateway_classes: Vec<GatewayClass>,
    pub gateways: Vec<Gateway>,
    pub listener_sets: Vec<ListenerSet>,
    pub http_routes: Vec<HttpRoute>,
    pub grpc_routes: Vec<GrpcRoute>,
    pub tls_routes: Vec<TlsRoute>,
    pub tcp_routes: Vec<TcpRoute>,
    pub udp_routes: Vec<UdpRoute>,
    pub reference_grants: Vec<ReferenceGrant>,
    pub backend_tls_policies: Vec<BackendTlsPolicy>,
    pub namespaces: Vec<Namespace>,
    pub services: Vec<Service>,
    pub endpoint_slices: Vec<EndpointSlice>,
    pub secrets: Vec<Secret>,
    pub config_maps: Vec<ConfigMap>,
}
