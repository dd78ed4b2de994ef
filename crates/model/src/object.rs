//! One loaded object of any kind Portico reads.

use std::fmt;

use serde_json::Value;

use crate::core::{ConfigMap, EndpointSlice, Namespace, ObjectMeta, Secret, Service, Time};
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

/// Identity of an object: kind, namespace (None when cluster-scoped), name.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ObjectKey {
    pub kind: &'static str,
    pub namespace: Option<String>,
    pub name: String,
}

impl fmt::Display for ObjectKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.namespace {
            Some(ns) => write!(f, "{} {}/{}", self.kind, ns, self.name),
            None => write!(f, "{} {}", self.kind, self.name),
        }
    }
}

/// Applies `$body` to the boxed object in every variant.
macro_rules! each {
    ($obj:expr, $o:ident => $body:expr) => {
        match $obj {
            Object::GatewayClass($o) => $body,
            Object::Gateway($o) => $body,
            Object::ListenerSet($o) => $body,
            Object::HttpRoute($o) => $body,
            Object::GrpcRoute($o) => $body,
            Object::TlsRoute($o) => $body,
            Object::TcpRoute($o) => $body,
            Object::UdpRoute($o) => $body,
            Object::ReferenceGrant($o) => $body,
            Object::BackendTlsPolicy($o) => $body,
            Object::Namespace($o) => $body,
            Object::Service($o) => $body,
            Object::EndpointSlice($o) => $body,
            Object::Secret($o) => $body,
            Object::ConfigMap($o) => $body,
            Object::LoadBalancerIpPool($o) => $body,
        }
    };
}

impl Object {
    /// The kind as written in YAML (`HTTPRoute`, `EndpointSlice`, ...).
    pub fn kind(&self) -> &'static str {
        match self {
            Object::GatewayClass(_) => "GatewayClass",
            Object::Gateway(_) => "Gateway",
            Object::ListenerSet(_) => "ListenerSet",
            Object::HttpRoute(_) => "HTTPRoute",
            Object::GrpcRoute(_) => "GRPCRoute",
            Object::TlsRoute(_) => "TLSRoute",
            Object::TcpRoute(_) => "TCPRoute",
            Object::UdpRoute(_) => "UDPRoute",
            Object::ReferenceGrant(_) => "ReferenceGrant",
            Object::BackendTlsPolicy(_) => "BackendTLSPolicy",
            Object::Namespace(_) => "Namespace",
            Object::Service(_) => "Service",
            Object::EndpointSlice(_) => "EndpointSlice",
            Object::Secret(_) => "Secret",
            Object::ConfigMap(_) => "ConfigMap",
            Object::LoadBalancerIpPool(_) => "LoadBalancerIPPool",
        }
    }

    /// The storage apiVersion every served version is converted to.
    pub fn api_version(&self) -> &'static str {
        match self {
            Object::Namespace(_)
            | Object::Service(_)
            | Object::Secret(_)
            | Object::ConfigMap(_) => "v1",
            Object::EndpointSlice(_) => "discovery.k8s.io/v1",
            Object::LoadBalancerIpPool(_) => "portico.dev/v1alpha1",
            _ => "gateway.networking.k8s.io/v1",
        }
    }

    /// Whether objects of this kind live in a namespace.
    pub fn is_namespaced(&self) -> bool {
        !matches!(
            self,
            Object::GatewayClass(_) | Object::Namespace(_) | Object::LoadBalancerIpPool(_)
        )
    }

    pub fn metadata(&self) -> &ObjectMeta {
        each!(self, o => &o.metadata)
    }

    pub fn metadata_mut(&mut self) -> &mut ObjectMeta {
        each!(self, o => &mut o.metadata)
    }

    /// The namespace; None for cluster-scoped kinds.
    pub fn namespace(&self) -> Option<&str> {
        if self.is_namespaced() {
            self.metadata().namespace.as_deref()
        } else {
            None
        }
    }

    /// `metadata.name` (the loader rejects objects without one).
    pub fn name(&self) -> &str {
        self.metadata().name.as_deref().unwrap_or_default()
    }

    /// `metadata.generation` (the loader defaults it to 1).
    pub fn generation(&self) -> Option<i64> {
        self.metadata().generation
    }

    /// `metadata.creationTimestamp` (the loader defaults it, see
    /// [`crate::DEFAULT_CREATION_TIMESTAMP`]).
    pub fn creation_timestamp(&self) -> Option<&Time> {
        self.metadata().creation_timestamp.as_ref()
    }

    /// Kind, namespace and name.
    pub fn key(&self) -> ObjectKey {
        ObjectKey {
            kind: self.kind(),
            namespace: self.namespace().map(str::to_string),
            name: self.name().to_string(),
        }
    }

    /// The full object as JSON, with `apiVersion` and `kind`.
    pub fn to_json(&self) -> Value {
        each!(self, o => serde_json::to_value(o.as_ref()).unwrap_or(Value::Null))
    }

    /// Everything except `metadata` and `status`: what the API server
    /// compares to decide whether `metadata.generation` moves.
    pub fn content_json(&self) -> Value {
        let mut value = self.to_json();
        if let Value::Object(map) = &mut value {
            map.remove("metadata");
            map.remove("status");
        }
        value
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gateway::GatewaySpec;

    fn gateway() -> Object {
        let mut gw = Gateway::new("gw", GatewaySpec::default());
        gw.metadata.namespace = Some("infra".to_string());
        gw.metadata.generation = Some(3);
        Object::Gateway(Box::new(gw))
    }

    #[test]
    fn helpers_read_metadata() {
        let gw = gateway();
        assert_eq!(gw.kind(), "Gateway");
        assert_eq!(gw.api_version(), "gateway.networking.k8s.io/v1");
        assert_eq!(gw.namespace(), Some("infra"));
        assert_eq!(gw.name(), "gw");
        assert_eq!(gw.generation(), Some(3));
        assert_eq!(gw.key().to_string(), "Gateway infra/gw");
    }

    #[test]
    fn to_json_carries_type_meta() {
        let json = gateway().to_json();
        assert_eq!(json["apiVersion"], "gateway.networking.k8s.io/v1");
        assert_eq!(json["kind"], "Gateway");
        assert_eq!(json["metadata"]["name"], "gw");
        let content = gateway().content_json();
        assert!(content.get("metadata").is_none());
        assert!(content.get("spec").is_some());
    }

    #[test]
    fn cluster_scoped_has_no_namespace() {
        let mut ns = Namespace::default();
        ns.metadata.name = Some("a".to_string());
        ns.metadata.namespace = Some("ignored".to_string());
        let obj = Object::Namespace(Box::new(ns));
        assert_eq!(obj.namespace(), None);
        assert_eq!(obj.key().to_string(), "Namespace a");
        assert_eq!(obj.to_json()["apiVersion"], "v1");
    }
}
