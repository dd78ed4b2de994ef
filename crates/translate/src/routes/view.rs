//! A kind-neutral view of the five route kinds, so one attachment engine
//! serves HTTPRoute, GRPCRoute, TLSRoute, TCPRoute and UDPRoute.

use portico_model::GATEWAY_GROUP;
use portico_model::core::{ObjectMeta, Time};

use crate::status::ParentReference;

/// The route kinds Portico attaches.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum RouteKind {
    Http,
    Grpc,
    Tls,
    Tcp,
    Udp,
}

impl RouteKind {
    /// The `kind` string of the resource.
    pub fn as_str(self) -> &'static str {
        match self {
            RouteKind::Http => "HTTPRoute",
            RouteKind::Grpc => "GRPCRoute",
            RouteKind::Tls => "TLSRoute",
            RouteKind::Tcp => "TCPRoute",
            RouteKind::Udp => "UDPRoute",
        }
    }

    /// Whether routes of this kind carry hostnames.
    pub fn has_hostnames(self) -> bool {
        matches!(self, RouteKind::Http | RouteKind::Grpc | RouteKind::Tls)
    }
}

/// Identity and the fields shared by every route kind.
#[derive(Clone, Debug)]
pub struct RouteMeta {
    pub kind: RouteKind,
    pub namespace: String,
    pub name: String,
    pub generation: i64,
    pub created: Option<Time>,
    /// `spec.hostnames` as written (empty: none).
    pub hostnames: Vec<String>,
    pub parent_refs: Vec<ParentReference>,
}

impl RouteMeta {
    pub fn new(
        kind: RouteKind,
        meta: &ObjectMeta,
        hostnames: Vec<String>,
        parent_refs: Vec<ParentReference>,
    ) -> RouteMeta {
        RouteMeta {
            kind,
            namespace: meta
                .namespace
                .clone()
                .unwrap_or_else(|| "default".to_string()),
            name: meta.name.clone().unwrap_or_default(),
            generation: meta.generation.unwrap_or(0),
            created: meta.creation_timestamp.clone(),
            hostnames,
            parent_refs,
        }
    }

    pub fn object_ref(&self) -> portico_ir::ObjectRef {
        portico_ir::ObjectRef {
            kind: self.kind.as_str().to_string(),
            namespace: self.namespace.clone(),
            name: self.name.clone(),
        }
    }

    /// Age key: oldest first (routes without a timestamp sort after dated
    /// ones), then `namespace/name`.
    pub fn age_key(&self) -> AgeKey {
        AgeKey {
            undated: self.created.is_none(),
            created: self.created.clone(),
            namespace: self.namespace.clone(),
            name: self.name.clone(),
        }
    }
}

/// Orders routes by the spec's tie-breakers: creation time, then
/// `{namespace}/{name}` alphabetically.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct AgeKey {
    pub undated: bool,
    pub created: Option<Time>,
    pub namespace: String,
    pub name: String,
}

/// A parentRef after defaulting group, kind and namespace.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParentTarget<'a> {
    pub group: &'a str,
    pub kind: &'a str,
    pub namespace: &'a str,
    pub name: &'a str,
    pub section_name: Option<&'a str>,
    pub port: Option<i32>,
}

impl<'a> ParentTarget<'a> {
    pub fn new(parent: &'a ParentReference, route_namespace: &'a str) -> ParentTarget<'a> {
        ParentTarget {
            group: parent.group.as_deref().unwrap_or(GATEWAY_GROUP),
            kind: parent.kind.as_deref().unwrap_or("Gateway"),
            namespace: parent.namespace.as_deref().unwrap_or(route_namespace),
            name: &parent.name,
            section_name: parent.section_name.as_deref().filter(|s| !s.is_empty()),
            port: parent.port,
        }
    }
}

/// Converts a generated `parentRefs` list (same fields in every kind) into
/// status-shaped [`ParentReference`]s.
macro_rules! parent_refs {
    ($refs:expr) => {
        $refs
            .iter()
            .flatten()
            .map(|p| $crate::status::ParentReference {
                group: p.group.clone(),
                kind: p.kind.clone(),
                namespace: p.namespace.clone(),
                name: p.name.clone(),
                section_name: p.section_name.clone(),
                port: p.port,
            })
            .collect::<Vec<_>>()
    };
}
pub(crate) use parent_refs;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parent_target_defaults() {
        let p = ParentReference {
            name: "gw".into(),
            ..Default::default()
        };
        let t = ParentTarget::new(&p, "ns1");
        assert_eq!(t.group, GATEWAY_GROUP);
        assert_eq!(t.kind, "Gateway");
        assert_eq!(t.namespace, "ns1");
        assert_eq!(t.section_name, None);
    }

    #[test]
    fn undated_routes_sort_after_dated_ones() {
        let mut dated = RouteMeta::new(RouteKind::Tcp, &ObjectMeta::default(), vec![], vec![]);
        dated.name = "z".into();
        dated.created = serde_json::from_value(serde_json::json!("2024-01-01T00:00:00Z")).ok();
        assert!(dated.created.is_some());
        let mut undated = dated.clone();
        undated.name = "a".into();
        undated.created = None;
        assert!(dated.age_key() < undated.age_key());
    }
}
