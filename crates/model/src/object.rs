//! One loaded object of any kind Portico reads.

use crate::core::{ConfigMap, EndpointSlice, Namespace, Secret, Service};
use crate::gateway::{
    BackendTlsPolicy, Gateway, GatewayClass, GrpcRoute, HttpRoute, ListenerSet, ReferenceGrant,
    TcpRoute, TlsRoute, UdpRoute,
};
use crate::ippool::LoadBalancerIpPool;

/// Any object Portico reads, converted to its storage version.
#[derive(Clone, Debug, PartialEq)]
pub enum Object {
    GatewayClass(Box<GatewayClass>),
    Gateway(Box<Gateway>),
    ListenerSet(Box<ListenerSet>),
    HttpRoute(Box<HttpRoute>),
    GrpcRoute(Box<GrpcRoute>),
    TlsRoute(Box<TlsRoute>),
    TcpRoute(Box<TcpRoute>),
    UdpRoute(Box<UdpRoute>),
    ReferenceGrant(Box<ReferenceGrant>),
    BackendTlsPolicy(Box<BackendTlsPolicy>),
    Namespace(Box<Namespace>),
    Service(Box<Service>),
    EndpointSlice(Box<EndpointSlice>),
    Secret(Box<Secret>),
    ConfigMap(Box<ConfigMap>),
    LoadBalancerIpPool(Box<LoadBalancerIpPool>),
}
