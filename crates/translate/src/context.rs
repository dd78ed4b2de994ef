//! The hand-over between the gateway side and the route side of translation.

use std::collections::BTreeSet;
use std::net::IpAddr;

use portico_ir::{BindProtocol, CertifiedKeyPem, HostMatch, ListenerTls, ObjectRef};

use crate::routes::ListenerRoutes;
use crate::status::RouteGroupKind;

/// An accepted Gateway (its class is ours and accepted) with its listeners,
/// including those contributed by accepted ListenerSets.
#[derive(Clone, Debug)]
pub struct GatewayCtx {
    pub namespace: String,
    pub name: String,
    pub generation: i64,
    /// Addresses the Gateway's listeners bind (from `spec.addresses` or IPAM).
    pub addresses: Vec<IpAddr>,
    /// Its TCP-based binds read a PROXY protocol header first
    /// ([`crate::proxy_protocol`]).
    pub proxy_protocol: bool,
    /// `spec.tls.backend.clientCertificateRef`, resolved: presented to
    /// backends that a BackendTLSPolicy makes TLS.
    pub backend_client_certificate: Option<CertifiedKeyPem>,
    pub listeners: Vec<ListenerCtx>,
}

/// One listener of a Gateway or of a ListenerSet attached to it.
#[derive(Clone, Debug)]
pub struct ListenerCtx {
    /// Gateway or ListenerSet declaring the listener.
    pub owner: ObjectRef,
    pub owner_generation: i64,
    pub name: String,
    pub port: u16,
    /// The protocol string as written (`HTTP`, `HTTPS`, `TLS`, `TCP`, `UDP`, ...).
    pub protocol: String,
    /// Data-plane protocol, `None` when the protocol is unsupported.
    pub bind_protocol: Option<BindProtocol>,
    pub hostname: Option<String>,
    pub host_match: HostMatch,
    pub tls: Option<ListenerTls>,
    /// Route kinds this listener accepts (its `supportedKinds`).
    pub supported_kinds: Vec<RouteGroupKind>,
    pub allowed_namespaces: AllowedNamespaces,
    /// Routes may attach (Accepted=True, not Conflicted). A listener that is
    /// not attachable still reports attachedRoutes for routes that target it
    /// where the spec says so.
    pub attachable: bool,
    /// Accepted and fully resolved: goes into the IR.
    pub programmed: bool,
    /// Routes attached, filled by [`crate::routes`].
    pub attached_routes: i32,
    pub routes: ListenerRoutes,
}

impl ListenerCtx {
    /// Whether a route kind (group, kind) may attach to this listener.
    pub fn allows_kind(&self, group: &str, kind: &str) -> bool {
        self.supported_kinds
            .iter()
            .any(|k| k.group == group && k.kind == kind)
    }
}

/// `allowedRoutes.namespaces`, resolved against the snapshot's Namespaces.
#[derive(Clone, Debug)]
pub enum AllowedNamespaces {
    /// Only the namespace of the listener's owner.
    Same(String),
    All,
    /// The namespaces whose labels match the selector (precomputed).
    Selector(BTreeSet<String>),
}

impl AllowedNamespaces {
    pub fn allows(&self, namespace: &str) -> bool {
        match self {
            AllowedNamespaces::Same(ns) => ns == namespace,
            AllowedNamespaces::All => true,
            AllowedNamespaces::Selector(set) => set.contains(namespace),
        }
    }
}
