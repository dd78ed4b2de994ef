//! The kinds Portico reads: which apiVersions each accepts, whether it is
//! namespaced, and how a JSON object of a served version becomes the typed
//! storage-version [`Object`].

use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::{GATEWAY_GROUP, Object, PORTICO_GROUP};

/// A deserialization error with the path of the field that failed.
pub(crate) type TypedError = serde_path_to_error::Error<serde_json::Error>;

/// How one kind is read.
#[derive(Debug)]
pub(crate) struct KindInfo {
    pub(crate) kind: &'static str,
    /// API group (`""` for the core group).
    pub(crate) group: &'static str,
    /// Served versions, storage version first.
    pub(crate) versions: &'static [&'static str],
    pub(crate) namespaced: bool,
    /// Served versions the CRD marks deprecated.
    pub(crate) deprecated: &'static [&'static str],
    build: fn(Value) -> Result<Object, TypedError>,
}

impl KindInfo {
    /// `group/version` (or `version` for the core group) of the storage version.
    pub(crate) fn storage_api_version(&self) -> String {
        api_version(self.group, self.versions[0])
    }

    /// Every accepted apiVersion, for error messages.
    pub(crate) fn accepted(&self) -> String {
        self.versions
            .iter()
            .map(|v| api_version(self.group, v))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// The API server's warning for a deprecated served version.
    pub(crate) fn deprecation(&self, version: &str) -> Option<String> {
        self.deprecated.contains(&version).then(|| {
            format!(
                "{} {version} is deprecated and will be removed in a future release of the API; use {}",
                self.kind,
                self.storage_api_version()
            )
        })
    }

    /// Converts `value` (any served version, already checked) into the typed
    /// storage version.
    pub(crate) fn build(&self, mut value: Value, version: &str) -> Result<Object, TypedError> {
        convert_version(self.kind, version, &mut value);
        if let Value::Object(map) = &mut value {
            map.insert(
                "apiVersion".to_string(),
                Value::String(self.storage_api_version()),
            );
        }
        (self.build)(value)
    }
}

fn api_version(group: &str, version: &str) -> String {
    if group.is_empty() {
        version.to_string()
    } else {
        format!("{group}/{version}")
    }
}

/// Splits `group/version` (or a bare core `version`).
pub(crate) fn split_api_version(api_version: &str) -> (&str, &str) {
    match api_version.rsplit_once('/') {
        Some((group, version)) => (group, version),
        None => ("", api_version),
    }
}

/// Served versions share the storage shape except where noted here.
fn convert_version(kind: &str, version: &str, value: &mut Value) {
    // TLSRoute v1alpha2 allowed omitting `hostnames` (match every SNI);
    // v1 requires the list. An empty list keeps the "no restriction" meaning.
    if kind == "TLSRoute"
        && version == "v1alpha2"
        && let Some(spec) = value.get_mut("spec").and_then(Value::as_object_mut)
    {
        spec.entry("hostnames")
            .or_insert_with(|| Value::Array(Vec::new()));
    }
}

fn typed<T: DeserializeOwned>(value: Value) -> Result<T, TypedError> {
    serde_path_to_error::deserialize(value)
}

macro_rules! kind {
    ($kind:literal, $group:expr, [$($v:literal),+], $namespaced:expr, $variant:ident) => {
        kind!($kind, $group, [$($v),+], $namespaced, $variant, deprecated [])
    };
    ($kind:literal, $group:expr, [$($v:literal),+], $namespaced:expr, $variant:ident, deprecated [$($d:literal),*]) => {
        KindInfo {
            kind: $kind,
            group: $group,
            versions: &[$($v),+],
            namespaced: $namespaced,
            deprecated: &[$($d),*],
            build: |v| typed(v).map(|o| Object::$variant(Box::new(o))),
        }
    };
}

/// Every kind Portico reads. Versions follow what the Gateway API v1.6.1
/// experimental-channel CRDs serve.
pub(crate) static KINDS: &[KindInfo] = &[
    kind!(
        "GatewayClass",
        GATEWAY_GROUP,
        ["v1", "v1beta1"],
        false,
        GatewayClass
    ),
    kind!("Gateway", GATEWAY_GROUP, ["v1", "v1beta1"], true, Gateway),
    kind!("ListenerSet", GATEWAY_GROUP, ["v1"], true, ListenerSet),
    kind!(
        "HTTPRoute",
        GATEWAY_GROUP,
        ["v1", "v1beta1"],
        true,
        HttpRoute
    ),
    kind!("GRPCRoute", GATEWAY_GROUP, ["v1"], true, GrpcRoute),
    kind!(
        "TLSRoute",
        GATEWAY_GROUP,
        ["v1", "v1alpha2", "v1alpha3"],
        true,
        TlsRoute,
        deprecated["v1alpha2", "v1alpha3"]
    ),
    kind!(
        "TCPRoute",
        GATEWAY_GROUP,
        ["v1", "v1alpha2"],
        true,
        TcpRoute,
        deprecated["v1alpha2"]
    ),
    kind!(
        "UDPRoute",
        GATEWAY_GROUP,
        ["v1", "v1alpha2"],
        true,
        UdpRoute,
        deprecated["v1alpha2"]
    ),
    kind!(
        "ReferenceGrant",
        GATEWAY_GROUP,
        ["v1", "v1beta1"],
        true,
        ReferenceGrant
    ),
    kind!(
        "BackendTLSPolicy",
        GATEWAY_GROUP,
        ["v1", "v1alpha3"],
        true,
        BackendTlsPolicy,
        deprecated["v1alpha3"]
    ),
    kind!("Namespace", "", ["v1"], false, Namespace),
    kind!("Service", "", ["v1"], true, Service),
    kind!("Secret", "", ["v1"], true, Secret),
    kind!("ConfigMap", "", ["v1"], true, ConfigMap),
    kind!(
        "EndpointSlice",
        "discovery.k8s.io",
        ["v1"],
        true,
        EndpointSlice
    ),
    kind!(
        "LoadBalancerIPPool",
        PORTICO_GROUP,
        ["v1alpha1"],
        false,
        LoadBalancerIpPool
    ),
];

/// Groups whose kinds Portico owns: a known kind in one of these groups with
/// an unknown version is an error; in any other group it is someone else's
/// kind of the same name (e.g. Istio's Gateway) and is skipped.
const OWN_GROUPS: &[&str] = &[GATEWAY_GROUP, "", "discovery.k8s.io", PORTICO_GROUP];

/// What to do with a document of `api_version` / `kind`.
#[derive(Debug)]
pub(crate) enum Lookup {
    Known(&'static KindInfo),
    /// A kind Portico reads, in a version it does not accept.
    BadVersion(&'static KindInfo),
    /// Not a kind Portico reads.
    Unknown,
}

pub(crate) fn lookup(api_version: &str, kind: &str) -> Lookup {
    let (group, version) = split_api_version(api_version);
    let mut same_kind = None;
    for info in KINDS {
        if info.kind != kind {
            continue;
        }
        if info.group == group {
            if info.versions.contains(&version) {
                return Lookup::Known(info);
            }
            return Lookup::BadVersion(info);
        }
        same_kind = Some(info);
    }
    match same_kind {
        Some(info) if OWN_GROUPS.contains(&group) => Lookup::BadVersion(info),
        _ => Lookup::Unknown,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn storage_version_is_first() {
        let Lookup::Known(info) = lookup("gateway.networking.k8s.io/v1alpha2", "TLSRoute") else {
            panic!("TLSRoute v1alpha2 is served");
        };
        assert_eq!(info.storage_api_version(), "gateway.networking.k8s.io/v1");
    }

    #[test]
    fn unknown_version_of_own_group_is_bad() {
        assert!(matches!(
            lookup("gateway.networking.k8s.io/v2", "Gateway"),
            Lookup::BadVersion(_)
        ));
        assert!(matches!(
            lookup("v1", "EndpointSlice"),
            Lookup::BadVersion(_)
        ));
        assert!(matches!(
            lookup("discovery.k8s.io/v1beta1", "EndpointSlice"),
            Lookup::BadVersion(_)
        ));
    }

    #[test]
    fn foreign_group_and_kind_are_unknown() {
        assert!(matches!(
            lookup("networking.istio.io/v1", "Gateway"),
            Lookup::Unknown
        ));
        assert!(matches!(lookup("apps/v1", "Deployment"), Lookup::Unknown));
    }

    #[test]
    fn accepted_lists_every_version() {
        let Lookup::BadVersion(info) = lookup("gateway.networking.k8s.io/v9", "ReferenceGrant")
        else {
            panic!("expected bad version");
        };
        assert_eq!(
            info.accepted(),
            "gateway.networking.k8s.io/v1, gateway.networking.k8s.io/v1beta1"
        );
    }

    #[test]
    fn tlsroute_v1alpha2_without_hostnames_converts() {
        let Lookup::Known(info) = lookup("gateway.networking.k8s.io/v1alpha2", "TLSRoute") else {
            panic!("served");
        };
        let value = serde_json::json!({
            "apiVersion": "gateway.networking.k8s.io/v1alpha2",
            "kind": "TLSRoute",
            "metadata": {"name": "t", "namespace": "ns"},
            "spec": {"rules": [{"backendRefs": [{"name": "b", "port": 443}]}]}
        });
        let Ok(Object::TlsRoute(route)) = info.build(value, "v1alpha2") else {
            panic!("converts");
        };
        assert!(route.spec.hostnames.is_empty());
    }
}
