//! backendRef resolution: Services (core group) only.
//!
//! Checks in the order a user would fix them: group/kind (`InvalidKind`),
//! cross-namespace permission (`RefNotPermitted`), the Service
//! (`BackendNotFound`; `ExternalName` Services are `UnsupportedValue`), the
//! port (required, must exist on the Service: `BackendNotFound`). A resolved
//! reference names a [`ClusterId`]; the [`Cluster`] itself is built from the
//! Service and its EndpointSlices when the route attaches somewhere.

use portico_ir::{AppProtocol, BackendTarget, Cluster, ClusterId, LbAlgorithm, ObjectRef};
use portico_model::GATEWAY_GROUP;
use portico_model::core::Service;

use super::endpoints::{self, PortKey};
use super::index::Index;
use super::problem::Problem;
use super::view::{RouteKind, RouteMeta};
use crate::reference_grant::{From, To};

/// Annotation read for the L7 load-balancing algorithm (Cilium's name).
pub const CILIUM_LB_ANNOTATION: &str = "service.cilium.io/lb-l7-algorithm";
/// Portico's own annotation; wins over Cilium's.
pub const PORTICO_LB_ANNOTATION: &str = "portico.dev/lb-algorithm";

/// A backendRef with the fields every kind shares.
#[derive(Clone, Copy, Debug)]
pub struct BackendRef<'a> {
    pub group: Option<&'a str>,
    pub kind: Option<&'a str>,
    pub name: &'a str,
    pub namespace: Option<&'a str>,
    pub port: Option<i32>,
}

/// Converts any generated backendRef struct (same field names in every kind).
macro_rules! backend_ref {
    ($r:expr) => {
        $crate::routes::backends::BackendRef {
            group: $r.group.as_deref(),
            kind: $r.kind.as_deref(),
            name: &$r.name,
            namespace: $r.namespace.as_deref(),
            port: $r.port,
        }
    };
}
pub(crate) use backend_ref;

/// A Service port a route needs a cluster for.
#[derive(Clone, Debug)]
pub struct ClusterNeed<'s> {
    pub id: ClusterId,
    pub service: &'s Service,
    pub port_index: usize,
    /// Referenced from a GRPCRoute: without an appProtocol, speak h2c.
    pub grpc: bool,
}

/// Resolves one reference. On success the cluster to build is pushed on `needs`.
pub fn resolve<'s>(
    index: &Index<'s>,
    route: &RouteMeta,
    r: BackendRef<'_>,
    needs: &mut Vec<ClusterNeed<'s>>,
) -> Result<ClusterId, Problem> {
    let group = r.group.unwrap_or("");
    let kind = r.kind.unwrap_or("Service");
    if !(group.is_empty() && kind == "Service") {
        return Err(Problem::refs(
            "InvalidKind",
            format!(
                "backendRef {}: unsupported kind {kind:?} in group {group:?}",
                r.name
            ),
        ));
    }
    let namespace = r.namespace.unwrap_or(&route.namespace);
    let from = From {
        group: GATEWAY_GROUP,
        kind: route.kind.as_str(),
        namespace: &route.namespace,
    };
    let to = To {
        group: "",
        kind: "Service",
        namespace,
        name: r.name,
    };
    if !index.grants.permitted(from, to) {
        return Err(Problem::refs(
            "RefNotPermitted",
            format!(
                "backendRef to Service {namespace}/{} is not permitted by any ReferenceGrant",
                r.name
            ),
        ));
    }
    let Some(service) = index.service(namespace, r.name) else {
        return Err(Problem::refs(
            "BackendNotFound",
            format!("Service {namespace}/{} not found", r.name),
        ));
    };
    let spec = service.spec.as_ref();
    if spec.and_then(|s| s.type_.as_deref()) == Some("ExternalName") {
        return Err(Problem::refs(
            "UnsupportedValue",
            format!(
                "Service {namespace}/{} is of type ExternalName, which is not supported",
                r.name
            ),
        ));
    }
    let Some(port) = r.port else {
        return Err(Problem::refs(
            "BackendNotFound",
            format!(
                "backendRef to Service {namespace}/{} must set a port",
                r.name
            ),
        ));
    };
    let ports = spec.and_then(|s| s.ports.as_deref()).unwrap_or(&[]);
    let Some(port_index) = ports.iter().position(|p| p.port == port) else {
        return Err(Problem::refs(
            "BackendNotFound",
            format!("Service {namespace}/{} has no port {port}", r.name),
        ));
    };
    let Ok(port_u16) = u16::try_from(port) else {
        return Err(Problem::refs(
            "BackendNotFound",
            format!("port {port} is out of range"),
        ));
    };
    let transport = ports[port_index].protocol.as_deref().unwrap_or("TCP");
    let wanted = if route.kind == RouteKind::Udp {
        "UDP"
    } else {
        "TCP"
    };
    if !transport.eq_ignore_ascii_case(wanted) {
        return Err(Problem::refs(
            "UnsupportedProtocol",
            format!(
                "Service {namespace}/{} port {port} is {transport}; a {} needs {wanted}",
                r.name,
                route.kind.as_str()
            ),
        ));
    }
    match crate::proxy_protocol::service_sends(service.metadata.annotations.as_ref()) {
        Err(message) => {
            return Err(Problem::refs(
                "UnsupportedProtocol",
                format!("Service {namespace}/{}: {message}", r.name),
            ));
        }
        Ok(Some(_)) if route.kind == RouteKind::Udp => {
            return Err(Problem::refs(
                "UnsupportedProtocol",
                format!(
                    "Service {namespace}/{} asks for the PROXY protocol, which is not sent over UDP",
                    r.name
                ),
            ));
        }
        Ok(_) => {}
    }
    let id = ClusterId::new(namespace, r.name, port_u16);
    needs.push(ClusterNeed {
        id: id.clone(),
        service,
        port_index,
        grpc: route.kind == RouteKind::Grpc,
    });
    Ok(id)
}

/// A target for a reference: the cluster or an explicit invalid marker.
pub fn target(result: &Result<ClusterId, Problem>) -> BackendTarget {
    match result {
        Ok(id) => BackendTarget::Cluster(id.clone()),
        Err(p) => BackendTarget::Invalid {
            reason: p.reason.to_string(),
        },
    }
}

/// Builds the cluster for a resolved Service port.
pub fn build_cluster(index: &Index<'_>, need: &ClusterNeed<'_>) -> Cluster {
    let service = need.service;
    let namespace = service.metadata.namespace.as_deref().unwrap_or("default");
    let name = service.metadata.name.as_deref().unwrap_or_default();
    let port = service
        .spec
        .as_ref()
        .and_then(|s| s.ports.as_ref())
        .and_then(|p| p.get(need.port_index));
    let port_name = port.and_then(|p| p.name.as_deref()).unwrap_or("");
    let protocol = port.and_then(|p| p.protocol.as_deref()).unwrap_or("TCP");
    let app_protocol = match port.and_then(|p| p.app_protocol.as_deref()) {
        None if need.grpc => AppProtocol::H2c,
        None => AppProtocol::Http1,
        Some(p) => app_protocol(p),
    };
    Cluster {
        id: need.id.clone(),
        service: ObjectRef {
            kind: "Service".to_string(),
            namespace: namespace.to_string(),
            name: name.to_string(),
        },
        port: port
            .and_then(|p| u16::try_from(p.port).ok())
            .unwrap_or_default(),
        protocol: app_protocol,
        lb: lb_algorithm(service),
        endpoints: endpoints::endpoints(
            index.slices(namespace, name),
            PortKey {
                name: port_name,
                protocol,
            },
        ),
        tls: None,
        // An invalid value never gets here: resolve() refused the reference.
        proxy_protocol: crate::proxy_protocol::service_sends(service.metadata.annotations.as_ref())
            .unwrap_or(None),
    }
}

/// Maps a Service port `appProtocol` to how the proxy talks upstream.
pub fn app_protocol(value: &str) -> AppProtocol {
    match value {
        "kubernetes.io/h2c" => AppProtocol::H2c,
        "kubernetes.io/ws" => AppProtocol::WebSocket,
        "http" | "HTTP" => AppProtocol::Http1,
        _ => AppProtocol::Other,
    }
}

/// The load-balancing algorithm from the Service annotations
/// (`portico.dev/lb-algorithm`, then `service.cilium.io/lb-l7-algorithm`);
/// unknown values fall back to round robin.
pub fn lb_algorithm(service: &Service) -> LbAlgorithm {
    let annotations = service.metadata.annotations.as_ref();
    [PORTICO_LB_ANNOTATION, CILIUM_LB_ANNOTATION]
        .iter()
        .find_map(|key| annotations.and_then(|a| a.get(*key)))
        .and_then(|v| parse_lb(v))
        .unwrap_or_default()
}

fn parse_lb(value: &str) -> Option<LbAlgorithm> {
    match value.trim() {
        "round_robin" => Some(LbAlgorithm::RoundRobin),
        "least_request" => Some(LbAlgorithm::LeastRequest),
        "random" => Some(LbAlgorithm::Random),
        "maglev" => Some(LbAlgorithm::Maglev),
        _ => None,
    }
}

/// `weight` with the spec default of 1; negative values (rejected by the CRD)
/// count as 0.
pub fn weight(w: Option<i32>) -> u32 {
    u32::try_from(w.unwrap_or(1)).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn service(annotations: serde_json::Value) -> Service {
        serde_json::from_value(serde_json::json!({
            "metadata": {"name": "s", "namespace": "n", "annotations": annotations},
            "spec": {"ports": [{"port": 80}]}
        }))
        .unwrap()
    }

    #[test]
    fn lb_annotations() {
        assert_eq!(
            lb_algorithm(&service(serde_json::json!({}))),
            LbAlgorithm::RoundRobin
        );
        assert_eq!(
            lb_algorithm(&service(
                serde_json::json!({CILIUM_LB_ANNOTATION: "least_request"})
            )),
            LbAlgorithm::LeastRequest
        );
        assert_eq!(
            lb_algorithm(&service(serde_json::json!({
                CILIUM_LB_ANNOTATION: "random",
                PORTICO_LB_ANNOTATION: "maglev"
            }))),
            LbAlgorithm::Maglev
        );
        assert_eq!(
            lb_algorithm(&service(serde_json::json!({CILIUM_LB_ANNOTATION: "bogus"}))),
            LbAlgorithm::RoundRobin
        );
    }

    #[test]
    fn app_protocols() {
        assert_eq!(app_protocol("kubernetes.io/h2c"), AppProtocol::H2c);
        assert_eq!(app_protocol("kubernetes.io/ws"), AppProtocol::WebSocket);
        assert_eq!(app_protocol("HTTPS"), AppProtocol::Other);
    }

    #[test]
    fn resolution_order_and_transport() {
        let mut snapshot = portico_model::Snapshot::default();
        for (name, protocol) in [("tcp", "TCP"), ("udp", "UDP")] {
            let mut s = service(serde_json::json!({}));
            s.metadata.name = Some(name.into());
            if let Some(p) = s.spec.as_mut().and_then(|s| s.ports.as_mut()) {
                p[0].protocol = Some(protocol.into());
            }
            snapshot.services.push(s);
        }
        let index = Index::new(&snapshot, &crate::Options::default());
        let reason = |kind: RouteKind,
                      name: &str,
                      port: Option<i32>,
                      ns: Option<&str>,
                      group: Option<&str>| {
            let mut route = RouteMeta::new(kind, &Default::default(), vec![], vec![]);
            route.namespace = "n".into();
            let r = BackendRef {
                group,
                kind: None,
                name,
                namespace: ns,
                port,
            };
            match resolve(&index, &route, r, &mut Vec::new()) {
                Ok(id) => id.to_string(),
                Err(p) => p.reason.to_string(),
            }
        };
        assert_eq!(
            reason(RouteKind::Http, "tcp", Some(80), None, None),
            "n/tcp:80"
        );
        assert_eq!(
            reason(RouteKind::Udp, "udp", Some(80), None, None),
            "n/udp:80"
        );
        assert_eq!(
            reason(RouteKind::Http, "udp", Some(80), None, None),
            "UnsupportedProtocol"
        );
        assert_eq!(
            reason(RouteKind::Udp, "tcp", Some(80), None, None),
            "UnsupportedProtocol"
        );
        assert_eq!(
            reason(RouteKind::Http, "tcp", Some(81), None, None),
            "BackendNotFound"
        );
        assert_eq!(
            reason(RouteKind::Http, "tcp", None, None, None),
            "BackendNotFound"
        );
        assert_eq!(
            reason(RouteKind::Http, "nope", Some(80), None, None),
            "BackendNotFound"
        );
        assert_eq!(
            reason(RouteKind::Http, "tcp", Some(80), Some("other"), None),
            "RefNotPermitted"
        );
        assert_eq!(
            reason(
                RouteKind::Http,
                "tcp",
                Some(80),
                Some("other"),
                Some("x.io")
            ),
            "InvalidKind"
        );
    }

    #[test]
    fn weights() {
        assert_eq!(weight(None), 1);
        assert_eq!(weight(Some(0)), 0);
        assert_eq!(weight(Some(7)), 7);
        assert_eq!(weight(Some(-3)), 0);
    }
}
