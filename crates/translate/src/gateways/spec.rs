//! One shape for the listeners of Gateways and ListenerSets (the generated
//! types differ only in their names).

use portico_ir::{ObjectRef, TlsMode};
use portico_model::gateway::{
    GatewayListeners, GatewayListenersAllowedRoutesNamespacesFrom as GwFrom,
    GatewayListenersTlsMode, ListenerSetListeners,
    ListenerSetListenersAllowedRoutesNamespacesFrom as LsFrom, ListenerSetListenersTlsMode,
};

use super::selector::Selector;

/// A listener as written, with the object that declares it.
#[derive(Clone, Debug)]
pub struct ListenerSpec {
    pub owner: ObjectRef,
    pub owner_generation: i64,
    pub name: String,
    pub port: i32,
    pub protocol: String,
    pub hostname: Option<String>,
    pub tls: Option<TlsSpec>,
    pub kinds: Option<Vec<KindSpec>>,
    pub from: FromSpec,
    pub selector: Option<Selector>,
}

#[derive(Clone, Debug)]
pub struct TlsSpec {
    /// `None`: the default, Terminate.
    pub mode: Option<TlsMode>,
    pub certificate_refs: Vec<SecretRefSpec>,
}

/// A reference to a Secret-like object (group, kind default to core Secret).
#[derive(Clone, Debug)]
pub struct SecretRefSpec {
    pub group: Option<String>,
    pub kind: Option<String>,
    pub name: String,
    pub namespace: Option<String>,
}

#[derive(Clone, Debug)]
pub struct KindSpec {
    pub group: Option<String>,
    pub kind: String,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum FromSpec {
    #[default]
    Same,
    All,
    Selector,
}

impl ListenerSpec {
    pub fn from_gateway(owner: ObjectRef, generation: i64, l: &GatewayListeners) -> ListenerSpec {
        let ns = l
            .allowed_routes
            .as_ref()
            .and_then(|a| a.namespaces.as_ref());
        ListenerSpec {
            owner,
            owner_generation: generation,
            name: l.name.clone(),
            port: l.port,
            protocol: l.protocol.clone(),
            hostname: l.hostname.clone(),
            tls: l.tls.as_ref().map(|t| TlsSpec {
                mode: t.mode.as_ref().map(|m| match m {
                    GatewayListenersTlsMode::Terminate => TlsMode::Terminate,
                    GatewayListenersTlsMode::Passthrough => TlsMode::Passthrough,
                }),
                certificate_refs: t
                    .certificate_refs
                    .iter()
                    .flatten()
                    .map(|r| SecretRefSpec {
                        group: r.group.clone(),
                        kind: r.kind.clone(),
                        name: r.name.clone(),
                        namespace: r.namespace.clone(),
                    })
                    .collect(),
            }),
            kinds: l
                .allowed_routes
                .as_ref()
                .and_then(|a| a.kinds.as_ref())
                .map(|kinds| {
                    kinds
                        .iter()
                        .map(|k| KindSpec {
                            group: k.group.clone(),
                            kind: k.kind.clone(),
                        })
                        .collect()
                }),
            from: match ns.and_then(|n| n.from.as_ref()) {
                None | Some(GwFrom::Same) => FromSpec::Same,
                Some(GwFrom::All) => FromSpec::All,
                Some(GwFrom::Selector) => FromSpec::Selector,
            },
            selector: ns.and_then(|n| n.selector.as_ref()).map(Selector::from),
        }
    }

    pub fn from_listener_set(
        owner: ObjectRef,
        generation: i64,
        l: &ListenerSetListeners,
    ) -> ListenerSpec {
        let ns = l
            .allowed_routes
            .as_ref()
            .and_then(|a| a.namespaces.as_ref());
        ListenerSpec {
            owner,
            owner_generation: generation,
            name: l.name.clone(),
            port: l.port,
            protocol: l.protocol.clone(),
            hostname: l.hostname.clone(),
            tls: l.tls.as_ref().map(|t| TlsSpec {
                mode: t.mode.as_ref().map(|m| match m {
                    ListenerSetListenersTlsMode::Terminate => TlsMode::Terminate,
                    ListenerSetListenersTlsMode::Passthrough => TlsMode::Passthrough,
                }),
                certificate_refs: t
                    .certificate_refs
                    .iter()
                    .flatten()
                    .map(|r| SecretRefSpec {
                        group: r.group.clone(),
                        kind: r.kind.clone(),
                        name: r.name.clone(),
                        namespace: r.namespace.clone(),
                    })
                    .collect(),
            }),
            kinds: l
                .allowed_routes
                .as_ref()
                .and_then(|a| a.kinds.as_ref())
                .map(|kinds| {
                    kinds
                        .iter()
                        .map(|k| KindSpec {
                            group: k.group.clone(),
                            kind: k.kind.clone(),
                        })
                        .collect()
                }),
            from: match ns.and_then(|n| n.from.as_ref()) {
                None | Some(LsFrom::Same) => FromSpec::Same,
                Some(LsFrom::All) => FromSpec::All,
                Some(LsFrom::Selector) => FromSpec::Selector,
            },
            selector: ns.and_then(|n| n.selector.as_ref()).map(Selector::from),
        }
    }
}
