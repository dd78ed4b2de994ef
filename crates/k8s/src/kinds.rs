//! Every kind Portico reads, the versions it understands, and conversion of a
//! watched object (any served version) into the typed [`Object`].

use kube::api::{ApiResource, DynamicObject};
use portico_model::Object;
use serde_json::Value;

use crate::error::{Error, Result};

/// One kind Portico watches.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KindSpec {
    /// API group (`""` for core).
    pub group: &'static str,
    pub kind: &'static str,
    pub plural: &'static str,
    /// Versions Portico can read, preferred first (the storage version of the
    /// model is always first).
    pub versions: &'static [&'static str],
    pub namespaced: bool,
}

impl KindSpec {
    /// Whether the kind is a CRD that must be discovered (not a built-in).
    pub fn discovered(&self) -> bool {
        self.group == portico_model::GATEWAY_GROUP || self.group == portico_model::PORTICO_GROUP
    }

    /// The API resource at `version`.
    pub fn resource(&self, version: &str) -> ApiResource {
        let api_version = if self.group.is_empty() {
            version.to_string()
        } else {
            format!("{}/{}", self.group, version)
        };
        ApiResource {
            group: self.group.to_string(),
            version: version.to_string(),
            api_version,
            kind: self.kind.to_string(),
            plural: self.plural.to_string(),
        }
    }

    /// The version to watch among the served ones: the first of
    /// [`KindSpec::versions`] that is served. None when none is (a version
    /// Portico does not know is never picked).
    pub fn choose<'a>(
        &self,
        served: impl IntoIterator<Item = &'a str> + Clone,
    ) -> Option<&'static str> {
        self.versions
            .iter()
            .copied()
            .find(|v| served.clone().into_iter().any(|s| s == *v))
    }
}

const fn gw(
    kind: &'static str,
    plural: &'static str,
    versions: &'static [&'static str],
    namespaced: bool,
) -> KindSpec {
    KindSpec {
        group: portico_model::GATEWAY_GROUP,
        kind,
        plural,
        versions,
        namespaced,
    }
}

/// Every kind of the model.
pub const KINDS: &[KindSpec] = &[
    gw("GatewayClass", "gatewayclasses", &["v1", "v1beta1"], false),
    gw("Gateway", "gateways", &["v1", "v1beta1"], true),
    gw("ListenerSet", "listenersets", &["v1"], true),
    gw("HTTPRoute", "httproutes", &["v1", "v1beta1"], true),
    gw("GRPCRoute", "grpcroutes", &["v1"], true),
    gw(
        "TLSRoute",
        "tlsroutes",
        &["v1", "v1alpha3", "v1alpha2"],
        true,
    ),
    gw("TCPRoute", "tcproutes", &["v1", "v1alpha2"], true),
    gw("UDPRoute", "udproutes", &["v1", "v1alpha2"], true),
    gw(
        "ReferenceGrant",
        "referencegrants",
        &["v1", "v1beta1"],
        true,
    ),
    gw(
        "BackendTLSPolicy",
        "backendtlspolicies",
        &["v1", "v1alpha3"],
        true,
    ),
    KindSpec {
        group: "",
        kind: "Namespace",
        plural: "namespaces",
        versions: &["v1"],
        namespaced: false,
    },
    KindSpec {
        group: "",
        kind: "Service",
        plural: "services",
        versions: &["v1"],
        namespaced: true,
    },
    KindSpec {
        group: "discovery.k8s.io",
        kind: "EndpointSlice",
        plural: "endpointslices",
        versions: &["v1"],
        namespaced: true,
    },
    KindSpec {
        group: "",
        kind: "Secret",
        plural: "secrets",
        versions: &["v1"],
        namespaced: true,
    },
    KindSpec {
        group: "",
        kind: "ConfigMap",
        plural: "configmaps",
        versions: &["v1"],
        namespaced: true,
    },
    KindSpec {
        group: portico_model::PORTICO_GROUP,
        kind: "LoadBalancerIPPool",
        plural: "loadbalancerippools",
        versions: &["v1alpha1"],
        namespaced: false,
    },
];

/// The spec of `kind`.
pub fn spec(kind: &str) -> Option<&'static KindSpec> {
    KINDS.iter().find(|k| k.kind == kind)
}

/// Converts a watched object (of any version Portico reads) into the typed
/// storage-version [`Object`].
pub fn to_object(kind: &KindSpec, object: &DynamicObject) -> Result<Object> {
    let decode = |source| Error::Decode {
        kind: kind.kind.to_string(),
        name: object.metadata.name.clone().unwrap_or_default(),
        source,
    };
    let mut value = serde_json::to_value(object).map_err(decode)?;
    if let Value::Object(map) = &mut value {
        let storage = kind.resource(kind.versions[0]).api_version;
        let served = map
            .insert("apiVersion".into(), Value::String(storage))
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default();
        map.insert("kind".into(), Value::String(kind.kind.to_string()));
        // TLSRoute v1alpha2/v1alpha3 may omit `hostnames` (any SNI); v1 requires it.
        if kind.kind == "TLSRoute"
            && !served.ends_with("/v1")
            && let Some(Value::Object(spec)) = map.get_mut("spec")
        {
            spec.entry("hostnames")
                .or_insert_with(|| Value::Array(vec![]));
        }
    }
    macro_rules! typed {
        ($variant:ident) => {
            Object::$variant(Box::new(serde_json::from_value(value).map_err(decode)?))
        };
    }
    Ok(match kind.kind {
        "GatewayClass" => typed!(GatewayClass),
        "Gateway" => typed!(Gateway),
        "ListenerSet" => typed!(ListenerSet),
        "HTTPRoute" => typed!(HttpRoute),
        "GRPCRoute" => typed!(GrpcRoute),
        "TLSRoute" => typed!(TlsRoute),
        "TCPRoute" => typed!(TcpRoute),
        "UDPRoute" => typed!(UdpRoute),
        "ReferenceGrant" => typed!(ReferenceGrant),
        "BackendTLSPolicy" => typed!(BackendTlsPolicy),
        "Namespace" => typed!(Namespace),
        "Service" => typed!(Service),
        "EndpointSlice" => typed!(EndpointSlice),
        "Secret" => typed!(Secret),
        "ConfigMap" => typed!(ConfigMap),
        _ => typed!(LoadBalancerIpPool),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_model_kind_is_watched() {
        let snapshot_kinds: Vec<_> = portico_model::Snapshot::default()
            .counts()
            .iter()
            .map(|(k, _)| *k)
            .collect();
        let watched: Vec<_> = KINDS.iter().map(|k| k.kind).collect();
        assert_eq!(snapshot_kinds, watched);
    }

    #[test]
    fn choose_prefers_storage_and_never_unknown_versions() {
        let tls = spec("TLSRoute").expect("TLSRoute");
        assert_eq!(tls.choose(["v1alpha2", "v1"]), Some("v1"));
        assert_eq!(tls.choose(["v1alpha2"]), Some("v1alpha2"));
        assert_eq!(tls.choose(["v9"]), None);
    }

    #[test]
    fn tlsroute_v1alpha2_without_hostnames_converts() {
        let tls = spec("TLSRoute").expect("TLSRoute");
        let obj: DynamicObject = serde_json::from_value(serde_json::json!({
            "apiVersion": "gateway.networking.k8s.io/v1alpha2",
            "kind": "TLSRoute",
            "metadata": {"name": "t", "namespace": "ns"},
            "spec": {"rules": [{"backendRefs": [{"name": "s", "port": 443}]}]}
        }))
        .expect("dynamic");
        let converted = to_object(tls, &obj).expect("converts");
        assert_eq!(converted.kind(), "TLSRoute");
        assert_eq!(
            converted.to_json()["spec"]["hostnames"],
            serde_json::json!([])
        );
    }

    #[test]
    fn malformed_object_is_an_error_not_a_panic() {
        let gw = spec("Gateway").expect("Gateway");
        let obj: DynamicObject = serde_json::from_value(serde_json::json!({
            "apiVersion": "gateway.networking.k8s.io/v1",
            "kind": "Gateway",
            "metadata": {"name": "g", "namespace": "ns"},
            "spec": {"listeners": "not a list"}
        }))
        .expect("dynamic");
        assert!(to_object(gw, &obj).is_err());
    }
}
