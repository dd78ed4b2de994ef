//! The kinds Portico serves, with kubectl-style names and short names.

/// One kind `portico get` knows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KindInfo {
    /// The `kind` field (`HTTPRoute`).
    pub kind: &'static str,
    /// Lower-case plural resource name (`httproutes`), as kubectl prints it.
    pub plural: &'static str,
    /// API group, empty for the core group.
    pub group: &'static str,
    /// Other accepted names (singular, short names).
    pub aliases: &'static [&'static str],
    pub namespaced: bool,
    /// How `portico get` prints a table of this kind.
    pub columns: Columns,
}

/// Table layout of a kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Columns {
    /// NAME CLASS ADDRESS PROGRAMMED AGE
    Gateway,
    /// NAME CONTROLLER ACCEPTED AGE
    GatewayClass,
    /// NAME HOSTNAMES AGE
    Route,
    /// NAME AGE
    Plain,
}

const GW: &str = "gateway.networking.k8s.io";

/// Every kind, in the order `portico get all`-style listings would use.
pub const KINDS: &[KindInfo] = &[
    KindInfo {
        kind: "GatewayClass",
        plural: "gatewayclasses",
        group: GW,
        aliases: &["gatewayclass", "gc"],
        namespaced: false,
        columns: Columns::GatewayClass,
    },
    KindInfo {
        kind: "Gateway",
        plural: "gateways",
        group: GW,
        aliases: &["gateway", "gtw"],
        namespaced: true,
        columns: Columns::Gateway,
    },
    KindInfo {
        kind: "ListenerSet",
        plural: "listenersets",
        group: GW,
        aliases: &["listenerset", "lset"],
        namespaced: true,
        columns: Columns::Plain,
    },
    KindInfo {
        kind: "HTTPRoute",
        plural: "httproutes",
        group: GW,
        aliases: &["httproute"],
        namespaced: true,
        columns: Columns::Route,
    },
    KindInfo {
        kind: "GRPCRoute",
        plural: "grpcroutes",
        group: GW,
        aliases: &["grpcroute"],
        namespaced: true,
        columns: Columns::Route,
    },
    KindInfo {
        kind: "TLSRoute",
        plural: "tlsroutes",
        group: GW,
        aliases: &["tlsroute"],
        namespaced: true,
        columns: Columns::Route,
    },
    KindInfo {
        kind: "TCPRoute",
        plural: "tcproutes",
        group: GW,
        aliases: &["tcproute"],
        namespaced: true,
        columns: Columns::Plain,
    },
    KindInfo {
        kind: "UDPRoute",
        plural: "udproutes",
        group: GW,
        aliases: &["udproute"],
        namespaced: true,
        columns: Columns::Plain,
    },
    KindInfo {
        kind: "ReferenceGrant",
        plural: "referencegrants",
        group: GW,
        aliases: &["referencegrant", "refgrant"],
        namespaced: true,
        columns: Columns::Plain,
    },
    KindInfo {
        kind: "BackendTLSPolicy",
        plural: "backendtlspolicies",
        group: GW,
        aliases: &["backendtlspolicy", "btlspolicy"],
        namespaced: true,
        columns: Columns::Plain,
    },
    KindInfo {
        kind: "Namespace",
        plural: "namespaces",
        group: "",
        aliases: &["namespace", "ns"],
        namespaced: false,
        columns: Columns::Plain,
    },
    KindInfo {
        kind: "Service",
        plural: "services",
        group: "",
        aliases: &["service", "svc"],
        namespaced: true,
        columns: Columns::Plain,
    },
    KindInfo {
        kind: "EndpointSlice",
        plural: "endpointslices",
        group: "discovery.k8s.io",
        aliases: &["endpointslice"],
        namespaced: true,
        columns: Columns::Plain,
    },
    KindInfo {
        kind: "Secret",
        plural: "secrets",
        group: "",
        aliases: &["secret"],
        namespaced: true,
        columns: Columns::Plain,
    },
    KindInfo {
        kind: "ConfigMap",
        plural: "configmaps",
        group: "",
        aliases: &["configmap", "cm"],
        namespaced: true,
        columns: Columns::Plain,
    },
    KindInfo {
        kind: "LoadBalancerIPPool",
        plural: "loadbalancerippools",
        group: "portico.dev",
        aliases: &["loadbalancerippool", "ippool", "ippools"],
        namespaced: false,
        columns: Columns::Plain,
    },
];

/// Finds a kind by plural, singular, short name, Kind or `plural.group`
/// (case-insensitive), like kubectl does.
pub fn resolve(name: &str) -> Option<&'static KindInfo> {
    let lower = name.to_ascii_lowercase();
    let (resource, group) = match lower.split_once('.') {
        Some((r, g)) => (r, Some(g)),
        None => (lower.as_str(), None),
    };
    KINDS.iter().find(|k| {
        let name_matches = k.plural == resource
            || k.kind.eq_ignore_ascii_case(resource)
            || k.aliases.contains(&resource);
        name_matches && group.is_none_or(|g| g == k.group)
    })
}

/// `plural.group` (or `plural` for the core group), as kubectl names a resource.
pub fn resource_name(kind: &KindInfo) -> String {
    if kind.group.is_empty() {
        kind.plural.to_string()
    } else {
        format!("{}.{}", kind.plural, kind.group)
    }
}

/// `kind.group/name` (or `kind/name`), as kubectl prints names of several kinds.
pub fn qualified_name(kind: &KindInfo, name: &str) -> String {
    let lower = kind.kind.to_ascii_lowercase();
    if kind.group.is_empty() {
        format!("{lower}/{name}")
    } else {
        format!("{lower}.{}/{name}", kind.group)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kubectl_names_resolve() {
        for (name, kind) in [
            ("gc", "GatewayClass"),
            ("gatewayclasses", "GatewayClass"),
            ("gtw", "Gateway"),
            ("Gateway", "Gateway"),
            ("gateways.gateway.networking.k8s.io", "Gateway"),
            ("httproute", "HTTPRoute"),
            ("HTTPRoutes", "HTTPRoute"),
            ("lset", "ListenerSet"),
            ("refgrant", "ReferenceGrant"),
            ("btlspolicy", "BackendTLSPolicy"),
            ("svc", "Service"),
            ("endpointslices", "EndpointSlice"),
            ("ns", "Namespace"),
            ("loadbalancerippools", "LoadBalancerIPPool"),
            ("configmaps", "ConfigMap"),
            ("secrets", "Secret"),
        ] {
            assert_eq!(resolve(name).map(|k| k.kind), Some(kind), "{name}");
        }
    }

    #[test]
    fn unknown_names_and_wrong_groups_do_not_resolve() {
        assert_eq!(resolve("pods"), None);
        assert_eq!(resolve("gateways.example.com"), None);
        assert_eq!(resolve(""), None);
    }

    #[test]
    fn resource_and_qualified_names() {
        let gw = resolve("gtw").unwrap();
        assert_eq!(resource_name(gw), "gateways.gateway.networking.k8s.io");
        assert_eq!(
            qualified_name(gw, "a"),
            "gateway.gateway.networking.k8s.io/a"
        );
        let svc = resolve("svc").unwrap();
        assert_eq!(resource_name(svc), "services");
        assert_eq!(qualified_name(svc, "a"), "service/a");
    }

    #[test]
    fn names_are_unique() {
        let mut seen = std::collections::BTreeSet::new();
        for k in KINDS {
            for n in std::iter::once(k.plural).chain(k.aliases.iter().copied()) {
                assert!(seen.insert(n), "duplicate name {n}");
            }
        }
    }
}
