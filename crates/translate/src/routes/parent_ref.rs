//! Which listeners a parentRef selects, and whether they accept the route.
//!
//! A Gateway parentRef selects the Gateway's own listeners (never those of its
//! ListenerSets); a ListenerSet parentRef selects that ListenerSet's
//! listeners. `sectionName` and `port` narrow the selection (both must match
//! when both are set). Then, in order: `NoMatchingParent` when nothing is
//! selected, `NotAllowedByListeners` when no selected listener allows the
//! route's kind and namespace, `NoMatchingListenerHostname` when no allowed
//! listener shares a hostname with the route.

use std::collections::HashMap;

use portico_ir::HostMatch;
use portico_model::GATEWAY_GROUP;

use super::hostnames;
use super::index::Index;
use super::view::{ParentTarget, RouteMeta};
use crate::context::GatewayCtx;

/// One listener a route attached to, with the effective hostnames.
#[derive(Clone, Debug, PartialEq)]
pub struct Attachment {
    pub gateway: usize,
    pub listener: usize,
    pub hostnames: Vec<HostMatch>,
}

#[derive(Clone, Debug, PartialEq)]
pub enum ParentResult {
    /// The parent is not a Gateway/ListenerSet of ours: no status entry.
    NotOurs,
    /// Ours, but the route does not attach (`Accepted=False` with this reason).
    Rejected {
        reason: &'static str,
        message: String,
    },
    Attached(Vec<Attachment>),
}

/// Gateways and ListenerSets of the translation, by name.
pub struct Parents {
    gateways: HashMap<(String, String), usize>,
    listener_sets: HashMap<(String, String), (usize, Vec<usize>)>,
}

impl Parents {
    pub fn new(gateways: &[GatewayCtx]) -> Parents {
        let mut by_gateway = HashMap::new();
        let mut listener_sets: HashMap<(String, String), (usize, Vec<usize>)> = HashMap::new();
        for (gi, gw) in gateways.iter().enumerate() {
            by_gateway.insert((gw.namespace.clone(), gw.name.clone()), gi);
            for (li, l) in gw.listeners.iter().enumerate() {
                if l.owner.kind == "ListenerSet" {
                    listener_sets
                        .entry((l.owner.namespace.clone(), l.owner.name.clone()))
                        .or_insert_with(|| (gi, Vec::new()))
                        .1
                        .push(li);
                }
            }
        }
        Parents {
            gateways: by_gateway,
            listener_sets,
        }
    }
}

pub fn evaluate(
    route: &RouteMeta,
    target: &ParentTarget<'_>,
    gateways: &[GatewayCtx],
    parents: &Parents,
    index: &Index<'_>,
) -> ParentResult {
    if target.group != GATEWAY_GROUP {
        return ParentResult::NotOurs;
    }
    let key = (target.namespace.to_string(), target.name.to_string());
    let (gi, selected): (usize, Vec<usize>) = match target.kind {
        "Gateway" => match parents.gateways.get(&key) {
            Some(&gi) => {
                let own = gateways[gi]
                    .listeners
                    .iter()
                    .enumerate()
                    .filter(|(_, l)| l.owner.kind != "ListenerSet")
                    .map(|(i, _)| i)
                    .collect();
                (gi, own)
            }
            None if index.is_our_gateway(target.namespace, target.name) => {
                return rejected(
                    "NoMatchingParent",
                    format!(
                        "Gateway {}/{} is not accepted",
                        target.namespace, target.name
                    ),
                );
            }
            None => return ParentResult::NotOurs,
        },
        "ListenerSet" => match parents.listener_sets.get(&key) {
            Some((gi, ls)) => (*gi, ls.clone()),
            None if index.is_our_listener_set(target.namespace, target.name) => {
                return rejected(
                    "NoMatchingParent",
                    format!(
                        "ListenerSet {}/{} is not accepted by its Gateway",
                        target.namespace, target.name
                    ),
                );
            }
            None => return ParentResult::NotOurs,
        },
        _ => return ParentResult::NotOurs,
    };
    let gw = &gateways[gi];
    let selected: Vec<usize> = selected
        .into_iter()
        .filter(|&li| {
            let l = &gw.listeners[li];
            target.section_name.is_none_or(|s| s == l.name)
                && target.port.is_none_or(|p| p == i32::from(l.port))
        })
        .collect();
    if selected.is_empty() {
        return rejected("NoMatchingParent", no_listener_message(target));
    }
    let usable: Vec<usize> = selected
        .into_iter()
        .filter(|&li| gw.listeners[li].attachable)
        .collect();
    if usable.is_empty() {
        return rejected(
            "NoMatchingParent",
            format!(
                "{}: the selected listeners are not accepted",
                describe(target)
            ),
        );
    }
    let kind = route.kind.as_str();
    let kind_ok: Vec<usize> = usable
        .into_iter()
        .filter(|&li| gw.listeners[li].allows_kind(GATEWAY_GROUP, kind))
        .collect();
    if kind_ok.is_empty() {
        return rejected(
            "NotAllowedByListeners",
            format!(
                "{}: no selected listener allows kind {kind}",
                describe(target)
            ),
        );
    }
    let allowed: Vec<usize> = kind_ok
        .into_iter()
        .filter(|&li| gw.listeners[li].allowed_namespaces.allows(&route.namespace))
        .collect();
    if allowed.is_empty() {
        return rejected(
            "NotAllowedByListeners",
            format!(
                "{}: no selected listener allows routes from namespace {}",
                describe(target),
                route.namespace
            ),
        );
    }
    let attached: Vec<Attachment> = allowed
        .into_iter()
        .filter_map(|li| {
            let l = &gw.listeners[li];
            let hosts = if route.kind.has_hostnames() {
                hostnames::effective(&l.host_match, &route.hostnames)
            } else {
                vec![l.host_match.clone()]
            };
            (!hosts.is_empty()).then_some(Attachment {
                gateway: gi,
                listener: li,
                hostnames: hosts,
            })
        })
        .collect();
    if attached.is_empty() {
        return rejected(
            "NoMatchingListenerHostname",
            format!(
                "{}: no listener hostname intersects the route's hostnames",
                describe(target)
            ),
        );
    }
    ParentResult::Attached(attached)
}

fn rejected(reason: &'static str, message: String) -> ParentResult {
    ParentResult::Rejected { reason, message }
}

fn describe(t: &ParentTarget<'_>) -> String {
    format!("{} {}/{}", t.kind, t.namespace, t.name)
}

fn no_listener_message(t: &ParentTarget<'_>) -> String {
    match (t.section_name, t.port) {
        (Some(s), Some(p)) => format!("{}: no listener named {s:?} on port {p}", describe(t)),
        (Some(s), None) => format!("{}: no listener named {s:?}", describe(t)),
        (None, Some(p)) => format!("{}: no listener on port {p}", describe(t)),
        (None, None) => format!("{}: no listeners", describe(t)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Options;
    use crate::context::{AllowedNamespaces, ListenerCtx};
    use crate::routes::view::RouteKind;
    use crate::status::{ParentReference, RouteGroupKind};
    use portico_ir::{BindProtocol, ObjectRef};
    use portico_model::Snapshot;

    fn listener(
        owner_kind: &str,
        owner: &str,
        name: &str,
        port: u16,
        host: Option<&str>,
    ) -> ListenerCtx {
        ListenerCtx {
            owner: ObjectRef {
                kind: owner_kind.into(),
                namespace: "infra".into(),
                name: owner.into(),
            },
            owner_generation: 1,
            name: name.into(),
            port,
            protocol: "HTTP".into(),
            bind_protocol: Some(BindProtocol::Http),
            hostname: host.map(str::to_string),
            host_match: HostMatch::parse(host),
            tls: None,
            supported_kinds: vec![RouteGroupKind {
                group: GATEWAY_GROUP.into(),
                kind: "HTTPRoute".into(),
            }],
            allowed_namespaces: AllowedNamespaces::Same("infra".into()),
            attachable: true,
            programmed: true,
            attached_routes: 0,
            routes: Default::default(),
        }
    }

    fn gateways() -> Vec<GatewayCtx> {
        vec![GatewayCtx {
            namespace: "infra".into(),
            name: "gw".into(),
            generation: 1,
            addresses: vec![],
            proxy_protocol: false,
            backend_client_certificate: None,
            listeners: vec![
                listener("Gateway", "gw", "a", 80, Some("a.example.com")),
                listener("Gateway", "gw", "b", 8080, None),
                listener("ListenerSet", "ls", "c", 80, Some("c.example.com")),
            ],
        }]
    }

    fn route(ns: &str, hostnames: &[&str]) -> RouteMeta {
        let mut m = RouteMeta::new(RouteKind::Http, &Default::default(), vec![], vec![]);
        m.namespace = ns.into();
        m.hostnames = hostnames.iter().map(|h| (*h).to_string()).collect();
        m
    }

    fn eval(route: &RouteMeta, parent: ParentReference, gws: &[GatewayCtx]) -> ParentResult {
        let snapshot = Snapshot::default();
        let index = Index::new(&snapshot, &Options::default());
        let parents = Parents::new(gws);
        evaluate(
            route,
            &ParentTarget::new(&parent, &route.namespace),
            gws,
            &parents,
            &index,
        )
    }

    fn pref(
        kind: Option<&str>,
        name: &str,
        section: Option<&str>,
        port: Option<i32>,
    ) -> ParentReference {
        ParentReference {
            kind: kind.map(str::to_string),
            name: name.into(),
            section_name: section.map(str::to_string),
            port,
            ..Default::default()
        }
    }

    fn reason(r: &ParentResult) -> &str {
        match r {
            ParentResult::Rejected { reason, .. } => reason,
            ParentResult::Attached(_) => "Attached",
            ParentResult::NotOurs => "NotOurs",
        }
    }

    fn listeners(r: &ParentResult) -> Vec<usize> {
        match r {
            ParentResult::Attached(list) => list.iter().map(|a| a.listener).collect(),
            _ => vec![],
        }
    }

    #[test]
    fn gateway_parent_selects_own_listeners_only() {
        let gws = gateways();
        let r = eval(&route("infra", &[]), pref(None, "gw", None, None), &gws);
        assert_eq!(listeners(&r), vec![0, 1]);
        let r = eval(
            &route("infra", &[]),
            pref(Some("ListenerSet"), "ls", None, None),
            &gws,
        );
        assert_eq!(listeners(&r), vec![2]);
        let r = eval(
            &route("infra", &[]),
            pref(None, "gw", Some("c"), None),
            &gws,
        );
        assert_eq!(reason(&r), "NoMatchingParent");
    }

    #[test]
    fn section_name_and_port_must_both_match() {
        let gws = gateways();
        let route = route("infra", &[]);
        assert_eq!(
            listeners(&eval(&route, pref(None, "gw", Some("a"), Some(80)), &gws)),
            vec![0]
        );
        assert_eq!(
            listeners(&eval(&route, pref(None, "gw", None, Some(8080)), &gws)),
            vec![1]
        );
        for bad in [
            pref(None, "gw", Some("a"), Some(8080)),
            pref(None, "gw", Some("zzz"), None),
            pref(None, "gw", None, Some(1)),
        ] {
            assert_eq!(reason(&eval(&route, bad, &gws)), "NoMatchingParent");
        }
    }

    #[test]
    fn rejections_in_order() {
        let mut gws = gateways();
        let r = eval(
            &route("apps", &[]),
            pref(None, "gw", None, None).with_ns("infra"),
            &gws,
        );
        assert_eq!(reason(&r), "NotAllowedByListeners");
        let r = eval(
            &route("infra", &["x.org"]),
            pref(None, "gw", Some("a"), None),
            &gws,
        );
        assert_eq!(reason(&r), "NoMatchingListenerHostname");
        // Hostnames intersect only the hostname-less listener.
        let r = eval(
            &route("infra", &["x.org"]),
            pref(None, "gw", None, None),
            &gws,
        );
        assert_eq!(listeners(&r), vec![1]);
        gws[0].listeners[0].attachable = false;
        let r = eval(
            &route("infra", &[]),
            pref(None, "gw", Some("a"), None),
            &gws,
        );
        assert_eq!(reason(&r), "NoMatchingParent");
        gws[0].listeners[1].supported_kinds.clear();
        let r = eval(
            &route("infra", &[]),
            pref(None, "gw", Some("b"), None),
            &gws,
        );
        assert_eq!(reason(&r), "NotAllowedByListeners");
    }

    #[test]
    fn foreign_or_unknown_parents_get_no_entry() {
        let gws = gateways();
        let route = route("infra", &[]);
        assert_eq!(
            eval(&route, pref(None, "missing", None, None), &gws),
            ParentResult::NotOurs
        );
        assert_eq!(
            eval(&route, pref(Some("Service"), "gw", None, None), &gws),
            ParentResult::NotOurs
        );
        let mut other_group = pref(None, "gw", None, None);
        other_group.group = Some("example.com".into());
        assert_eq!(eval(&route, other_group, &gws), ParentResult::NotOurs);
    }

    trait WithNs {
        fn with_ns(self, ns: &str) -> Self;
    }

    impl WithNs for ParentReference {
        fn with_ns(mut self, ns: &str) -> Self {
            self.namespace = Some(ns.into());
            self
        }
    }
}
