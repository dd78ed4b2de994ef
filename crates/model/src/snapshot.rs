//! An immutable, ordered view of every object translation reads.

use std::collections::BTreeMap;

use crate::core::{ConfigMap, EndpointSlice, Namespace, Secret, Service};
use crate::gateway::{
    BackendTlsPolicy, Gateway, GatewayClass, GrpcRoute, HttpRoute, ListenerSet, ReferenceGrant,
    TcpRoute, TlsRoute, UdpRoute,
};
use crate::{LoadBalancerIpPool, Object, ObjectKey};

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
    pub address_pools: Vec<LoadBalancerIpPool>,
}

impl Snapshot {
    /// Builds a snapshot from objects: defaults namespaces, sorts every list.
    /// Later duplicates of the same kind/namespace/name replace earlier ones.
    pub fn from_objects<I: IntoIterator<Item = Object>>(objects: I) -> Snapshot {
        // The map both de-duplicates (later wins) and sorts: keys order by
        // kind, then namespace, then name.
        let mut by_key: BTreeMap<ObjectKey, Object> = BTreeMap::new();
        for mut object in objects {
            let namespaced = object.is_namespaced();
            let meta = object.metadata_mut();
            if !namespaced {
                meta.namespace = None;
            } else if meta.namespace.as_deref().is_none_or(str::is_empty) {
                meta.namespace = Some("default".to_string());
            }
            by_key.insert(object.key(), object);
        }
        let mut snap = Snapshot::default();
        for object in by_key.into_values() {
            snap.push(object);
        }
        snap
    }

    fn push(&mut self, object: Object) {
        match object {
            Object::GatewayClass(o) => self.gateway_classes.push(*o),
            Object::Gateway(o) => self.gateways.push(*o),
            Object::ListenerSet(o) => self.listener_sets.push(*o),
            Object::HttpRoute(o) => self.http_routes.push(*o),
            Object::GrpcRoute(o) => self.grpc_routes.push(*o),
            Object::TlsRoute(o) => self.tls_routes.push(*o),
            Object::TcpRoute(o) => self.tcp_routes.push(*o),
            Object::UdpRoute(o) => self.udp_routes.push(*o),
            Object::ReferenceGrant(o) => self.reference_grants.push(*o),
            Object::BackendTlsPolicy(o) => self.backend_tls_policies.push(*o),
            Object::Namespace(o) => self.namespaces.push(*o),
            Object::Service(o) => self.services.push(*o),
            Object::EndpointSlice(o) => self.endpoint_slices.push(*o),
            Object::Secret(o) => self.secrets.push(*o),
            Object::ConfigMap(o) => self.config_maps.push(*o),
            Object::LoadBalancerIpPool(o) => self.address_pools.push(*o),
        }
    }

    /// Number of objects per kind (every kind listed, zero included), for
    /// metrics and summaries.
    pub fn counts(&self) -> [(&'static str, usize); 16] {
        [
            ("GatewayClass", self.gateway_classes.len()),
            ("Gateway", self.gateways.len()),
            ("ListenerSet", self.listener_sets.len()),
            ("HTTPRoute", self.http_routes.len()),
            ("GRPCRoute", self.grpc_routes.len()),
            ("TLSRoute", self.tls_routes.len()),
            ("TCPRoute", self.tcp_routes.len()),
            ("UDPRoute", self.udp_routes.len()),
            ("ReferenceGrant", self.reference_grants.len()),
            ("BackendTLSPolicy", self.backend_tls_policies.len()),
            ("Namespace", self.namespaces.len()),
            ("Service", self.services.len()),
            ("EndpointSlice", self.endpoint_slices.len()),
            ("Secret", self.secrets.len()),
            ("ConfigMap", self.config_maps.len()),
            ("LoadBalancerIPPool", self.address_pools.len()),
        ]
    }

    /// Total number of objects.
    pub fn len(&self) -> usize {
        self.counts().iter().map(|(_, n)| n).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Every object again, in kind order then (namespace, name).
    pub fn objects(&self) -> Vec<Object> {
        let mut out = Vec::with_capacity(self.len());
        macro_rules! add {
            ($field:ident, $variant:ident) => {
                out.extend(
                    self.$field
                        .iter()
                        .map(|o| Object::$variant(Box::new(o.clone()))),
                )
            };
        }
        add!(gateway_classes, GatewayClass);
        add!(gateways, Gateway);
        add!(listener_sets, ListenerSet);
        add!(http_routes, HttpRoute);
        add!(grpc_routes, GrpcRoute);
        add!(tls_routes, TlsRoute);
        add!(tcp_routes, TcpRoute);
        add!(udp_routes, UdpRoute);
        add!(reference_grants, ReferenceGrant);
        add!(backend_tls_policies, BackendTlsPolicy);
        add!(namespaces, Namespace);
        add!(services, Service);
        add!(endpoint_slices, EndpointSlice);
        add!(secrets, Secret);
        add!(config_maps, ConfigMap);
        add!(address_pools, LoadBalancerIpPool);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gateway::{GatewaySpec, HttpRouteSpec};

    fn route(ns: Option<&str>, name: &str, hostname: &str) -> Object {
        let mut r = HttpRoute::new(
            name,
            HttpRouteSpec {
                hostnames: Some(vec![hostname.to_string()]),
                ..HttpRouteSpec::default()
            },
        );
        r.metadata.namespace = ns.map(str::to_string);
        Object::HttpRoute(Box::new(r))
    }

    #[test]
    fn sorts_by_namespace_then_name() {
        let snap = Snapshot::from_objects([
            route(Some("b"), "a", "x"),
            route(Some("a"), "z", "x"),
            route(Some("a"), "b", "x"),
        ]);
        let names: Vec<_> = snap
            .http_routes
            .iter()
            .map(|r| {
                format!(
                    "{}/{}",
                    r.metadata.namespace.as_deref().unwrap_or_default(),
                    r.metadata.name.as_deref().unwrap_or_default()
                )
            })
            .collect();
        assert_eq!(names, ["a/b", "a/z", "b/a"]);
    }

    #[test]
    fn later_duplicate_wins_and_namespace_defaults() {
        let snap = Snapshot::from_objects([
            route(None, "r", "first"),
            route(Some("default"), "r", "second"),
        ]);
        assert_eq!(snap.http_routes.len(), 1);
        assert_eq!(
            snap.http_routes[0].spec.hostnames.as_deref(),
            Some(&["second".to_string()][..])
        );
        assert_eq!(
            snap.http_routes[0].metadata.namespace.as_deref(),
            Some("default")
        );
    }

    #[test]
    fn counts_and_round_trip() {
        let gw = Object::Gateway(Box::new(Gateway::new("gw", GatewaySpec::default())));
        let snap = Snapshot::from_objects([gw, route(None, "r", "h")]);
        assert_eq!(snap.len(), 2);
        assert!(!snap.is_empty());
        assert!(Snapshot::default().is_empty());
        let counts: BTreeMap<_, _> = snap.counts().into_iter().collect();
        assert_eq!(counts["Gateway"], 1);
        assert_eq!(counts["HTTPRoute"], 1);
        assert_eq!(counts["Secret"], 0);
        let again = Snapshot::from_objects(snap.objects());
        assert_eq!(again.gateways, snap.gateways);
        assert_eq!(again.http_routes, snap.http_routes);
    }
}
