//! ListenerSet attachment: which ListenerSets target a Gateway, whether the
//! Gateway's `allowedListeners` admits them, and their precedence (oldest
//! first, then namespace/name).

use portico_ir::ObjectRef;
use portico_model::gateway::{Gateway, GatewayAllowedListenersNamespacesFrom as From, ListenerSet};
use portico_model::{GATEWAY_GROUP, Snapshot};

use super::problem::Problem;
use super::selector::{NamespaceIndex, Selector};

/// A ListenerSet whose parentRef names a given Gateway.
#[derive(Clone, Debug)]
pub struct Attached<'a> {
    pub set: &'a ListenerSet,
    pub key: ObjectRef,
    pub generation: i64,
    /// `None` when allowed; else the `Accepted=False/NotAllowed` problem.
    pub not_allowed: Option<Problem>,
}

/// Whether `set`'s parentRef points at `gateway`.
pub fn targets(set: &ListenerSet, gateway: &Gateway) -> bool {
    let p = &set.spec.parent_ref;
    let group_ok = p.group.as_deref().is_none_or(|g| g == GATEWAY_GROUP);
    let kind_ok = p.kind.as_deref().is_none_or(|k| k == "Gateway");
    let ns = p.namespace.as_deref().or(set.metadata.namespace.as_deref());
    group_ok
        && kind_ok
        && ns == gateway.metadata.namespace.as_deref()
        && Some(p.name.as_str()) == gateway.metadata.name.as_deref()
}

/// The ListenerSets attached to `gateway`, in precedence order.
pub fn attached<'a>(
    snapshot: &'a Snapshot,
    gateway: &Gateway,
    namespaces: &NamespaceIndex,
) -> Vec<Attached<'a>> {
    let mut sets: Vec<&ListenerSet> = snapshot
        .listener_sets
        .iter()
        .filter(|s| targets(s, gateway))
        .collect();
    sets.sort_by(|a, b| super::age_key(&a.metadata).cmp(&super::age_key(&b.metadata)));
    sets.into_iter()
        .map(|set| {
            let namespace = set.metadata.namespace.clone().unwrap_or_default();
            Attached {
                set,
                key: ObjectRef {
                    kind: "ListenerSet".to_string(),
                    name: set.metadata.name.clone().unwrap_or_default(),
                    namespace: namespace.clone(),
                },
                generation: set.metadata.generation.unwrap_or(0),
                not_allowed: admission(gateway, &namespace, namespaces),
            }
        })
        .collect()
}

/// Whether a Gateway accepts ListenerSets at all (`from` other than None).
pub fn gateway_allows_any(gateway: &Gateway) -> bool {
    !matches!(from(gateway), None | Some(From::None))
}

fn from(gateway: &Gateway) -> Option<&From> {
    gateway
        .spec
        .allowed_listeners
        .as_ref()
        .and_then(|a| a.namespaces.as_ref())
        .and_then(|n| n.from.as_ref())
}

fn admission(gateway: &Gateway, namespace: &str, namespaces: &NamespaceIndex) -> Option<Problem> {
    let gw_ns = gateway.metadata.namespace.as_deref().unwrap_or_default();
    let allowed = match from(gateway) {
        None | Some(From::None) => {
            return Some(Problem::new(
                "NotAllowed",
                "the parent Gateway does not allow ListenerSets (allowedListeners.namespaces.from is None)",
            ));
        }
        Some(From::All) => true,
        Some(From::Same) => namespace == gw_ns,
        Some(From::Selector) => {
            let selector = gateway
                .spec
                .allowed_listeners
                .as_ref()
                .and_then(|a| a.namespaces.as_ref())
                .and_then(|n| n.selector.as_ref())
                .map(Selector::from);
            selector.is_some_and(|s| s.matches(&namespaces.labels(namespace)).unwrap_or(false))
        }
    };
    (!allowed).then(|| {
        Problem::new(
            "NotAllowed",
            format!("the parent Gateway's allowedListeners does not admit namespace {namespace:?}"),
        )
    })
}
