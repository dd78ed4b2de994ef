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

/// Gateway and ListenerSet listeners have the same fields under different
/// generated type names; one body reads both.
macro_rules! listener_spec {
    ($owner:expr, $generation:expr, $l:expr, $mode:ident, $from:ident) => {{
        let l = $l;
        let ns = l
            .allowed_routes
            .as_ref()
            .and_then(|a| a.namespaces.as_ref());
        ListenerSpec {
            owner: $owner,
            owner_generation: $generation,
            name: l.name.clone(),
            port: l.port,
            protocol: l.protocol.clone(),
            hostname: l.hostname.clone(),
            tls: l.tls.as_ref().map(|t| TlsSpec {
                mode: t.mode.as_ref().map(|m| match m {
                    $mode::Terminate => TlsMode::Terminate,
                    $mode::Passthrough => TlsMode::Passthrough,
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
                None | Some($from::Same) => FromSpec::Same,
                Some($from::All) => FromSpec::All,
                Some($from::Selector) => FromSpec::Selector,
            },
            selector: ns.and_then(|n| n.selector.as_ref()).map(Selector::from),
        }
    }};
}

impl ListenerSpec {
    pub fn from_gateway(owner: ObjectRef, generation: i64, l: &GatewayListeners) -> ListenerSpec {
        listener_spec!(owner, generation, l, GatewayListenersTlsMode, GwFrom)
    }

    pub fn from_listener_set(
        owner: ObjectRef,
        generation: i64,
        l: &ListenerSetListeners,
    ) -> ListenerSpec {
        listener_spec!(owner, generation, l, ListenerSetListenersTlsMode, LsFrom)
    }
}
