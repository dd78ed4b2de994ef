//! The last step: attachedRoutes into the listener statuses, and the IR
//! binds (one per Gateway address, port and protocol) holding the programmed
//! listeners, most specific hostname first. Also the feedback path from the
//! data plane: listeners it could not serve stop claiming `Programmed`.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};

use portico_ir::{Bind, BindProtocol, Listener, ObjectRef};

use crate::context::{GatewayCtx, ListenerCtx};
use crate::{Condition, ListenerStatus, ObjectStatus, Statuses};

/// The IR id of a listener: its owner's status key and its name,
/// `Gateway/ns/name/listener` or `ListenerSet/ns/name/listener`.
pub fn listener_id(owner: &ObjectRef, name: &str) -> String {
    format!("{owner}/{name}")
}

fn listener_status_mut<'a>(
    statuses: &'a mut Statuses,
    owner_key: &str,
    name: &str,
) -> Option<&'a mut ListenerStatus> {
    let listeners = match statuses.objects.get_mut(owner_key)? {
        ObjectStatus::Gateway(s) => &mut s.listeners,
        ObjectStatus::ListenerSet(s) => &mut s.listeners,
        _ => return None,
    };
    listeners.iter_mut().find(|l| l.name == name)
}

/// Writes attachedRoutes and returns the binds, sorted by address, port and protocol.
pub fn finish(gateways: Vec<GatewayCtx>, statuses: &mut Statuses) -> Vec<Bind> {
    let mut binds: BTreeMap<(IpAddr, u16, BindProtocol), Bind> = BTreeMap::new();
    for gw in gateways {
        let gateway = ObjectRef {
            kind: "Gateway".to_string(),
            namespace: gw.namespace.clone(),
            name: gw.name.clone(),
        };
        for l in gw.listeners {
            if let Some(status) = listener_status_mut(statuses, &l.owner.to_string(), &l.name) {
                status.attached_routes = l.attached_routes;
            }
            let Some(protocol) = l.bind_protocol.filter(|_| l.programmed && l.port != 0) else {
                continue;
            };
            for address in &gw.addresses {
                let bind = binds
                    .entry((*address, l.port, protocol))
                    .or_insert_with(|| Bind {
                        gateway: gateway.clone(),
                        address: SocketAddr::new(*address, l.port),
                        protocol,
                        proxy_protocol: false,
                        listeners: Vec::new(),
                    });
                // PROXY protocol over UDP is not implemented.
                bind.proxy_protocol |= gw.proxy_protocol && protocol != BindProtocol::Udp;
                bind.listeners.push(ir_listener(&l, protocol));
            }
        }
    }
    binds
        .into_values()
        .map(|mut bind| {
            bind.listeners.sort_by(|a, b| {
                b.hostname
                    .specificity()
                    .cmp(&a.hostname.specificity())
                    .then_with(|| a.id.cmp(&b.id))
            });
            bind
        })
        .collect()
}

fn ir_listener(l: &ListenerCtx, protocol: BindProtocol) -> Listener {
    Listener {
        id: listener_id(&l.owner, &l.name),
        owner: l.owner.clone(),
        name: l.name.clone(),
        hostname: l.host_match.clone(),
        protocol,
        tls: l.tls.clone(),
        http: l.routes.http.clone(),
        tls_routes: l.routes.tls.clone(),
        l4_route: l.routes.l4.clone(),
    }
}

/// A listener the data plane could not serve after applying the IR.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListenerFailure {
    /// [`portico_ir::Listener::id`].
    pub listener_id: String,
    /// The socket could not be bound (port in use, address not local, no
    /// permission): reported as `PortUnavailable`. Otherwise `Invalid`.
    pub bind_failed: bool,
    pub error: String,
}

/// Corrects `statuses` after the data plane applied the IR: each failed
/// listener gets `Programmed=False` (and `Accepted=False/PortUnavailable`
/// when its socket could not be bound), and a Gateway or ListenerSet left
/// without any programmed listener gets `Programmed=False/Invalid`.
/// Unknown listener ids are ignored.
pub fn apply_data_plane_report(statuses: &mut Statuses, failures: &[ListenerFailure]) {
    let mut touched: Vec<String> = Vec::new();
    for failure in failures {
        let Some((owner_key, name)) = failure.listener_id.rsplit_once('/') else {
            continue;
        };
        let Some(status) = listener_status_mut(statuses, owner_key, name) else {
            continue;
        };
        let reason = if failure.bind_failed {
            "PortUnavailable"
        } else {
            "Invalid"
        };
        let message = format!(
            "the data plane could not serve this listener: {}",
            failure.error
        );
        for c in &mut status.conditions {
            let replace = c.type_ == "Programmed" || (failure.bind_failed && c.type_ == "Accepted");
            if replace {
                *c = Condition::new(
                    &c.type_,
                    false,
                    reason,
                    message.clone(),
                    c.observed_generation,
                );
            }
        }
        touched.push(owner_key.to_string());
    }
    touched.sort();
    touched.dedup();
    for key in touched {
        let Some(status) = statuses.objects.get_mut(&key) else {
            continue;
        };
        let (conditions, listeners) = match status {
            ObjectStatus::Gateway(s) => (&mut s.conditions, &s.listeners),
            ObjectStatus::ListenerSet(s) => (&mut s.conditions, &s.listeners),
            _ => continue,
        };
        let any_programmed = listeners
            .iter()
            .any(|l| crate::condition(&l.conditions, "Programmed").is_some_and(Condition::is_true));
        if !any_programmed {
            for c in conditions
                .iter_mut()
                .filter(|c| c.type_ == "Programmed" && c.is_true())
            {
                *c = Condition::new(
                    "Programmed",
                    false,
                    "Invalid",
                    "the data plane could not serve any listener",
                    c.observed_generation,
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use portico_ir::HostMatch;

    use super::*;
    use crate::context::AllowedNamespaces;
    use crate::{GatewayStatus, ListenerSetStatus};

    fn owner(kind: &str, name: &str) -> ObjectRef {
        ObjectRef {
            kind: kind.into(),
            namespace: "ns".into(),
            name: name.into(),
        }
    }

    fn ctx(
        owner: ObjectRef,
        name: &str,
        port: u16,
        host: Option<&str>,
        programmed: bool,
    ) -> ListenerCtx {
        ListenerCtx {
            owner,
            owner_generation: 1,
            name: name.into(),
            port,
            protocol: "HTTP".into(),
            bind_protocol: Some(BindProtocol::Http),
            hostname: host.map(str::to_string),
            host_match: HostMatch::parse(host),
            tls: None,
            supported_kinds: vec![],
            allowed_namespaces: AllowedNamespaces::All,
            attachable: programmed,
            programmed,
            attached_routes: 7,
            routes: Default::default(),
        }
    }

    fn listener_status(name: &str) -> ListenerStatus {
        ListenerStatus {
            name: name.into(),
            supported_kinds: vec![],
            attached_routes: 0,
            conditions: vec![
                Condition::new("Accepted", true, "Accepted", "", 1),
                Condition::new("Programmed", true, "Programmed", "", 1),
            ],
        }
    }

    fn statuses() -> Statuses {
        let mut s = Statuses::default();
        s.insert(
            "Gateway",
            "ns",
            "gw",
            ObjectStatus::Gateway(GatewayStatus {
                conditions: vec![Condition::new("Programmed", true, "Programmed", "", 1)],
                listeners: vec![listener_status("a"), listener_status("b")],
                ..GatewayStatus::default()
            }),
        );
        s.insert(
            "ListenerSet",
            "ns",
            "ls",
            ObjectStatus::ListenerSet(ListenerSetStatus {
                conditions: vec![Condition::new("Programmed", true, "Programmed", "", 1)],
                listeners: vec![listener_status("a")],
            }),
        );
        s
    }

    fn gateway_status(s: &Statuses) -> &GatewayStatus {
        match s.get("Gateway", "ns", "gw") {
            Some(ObjectStatus::Gateway(g)) => g,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn binds_group_by_address_port_and_sort_most_specific_first() {
        let gw = owner("Gateway", "gw");
        let ls = owner("ListenerSet", "ls");
        let gateways = vec![GatewayCtx {
            namespace: "ns".into(),
            name: "gw".into(),
            generation: 1,
            addresses: vec![
                "127.0.0.2".parse().expect("ip"),
                "127.0.0.1".parse().expect("ip"),
            ],
            proxy_protocol: false,
            backend_client_certificate: None,
            listeners: vec![
                ctx(gw.clone(), "a", 80, None, true),
                ctx(gw.clone(), "b", 80, Some("*.example.com"), true),
                ctx(ls.clone(), "a", 80, Some("x.example.com"), true),
                ctx(gw.clone(), "off", 8080, None, false),
            ],
        }];
        let mut s = statuses();
        let binds = finish(gateways, &mut s);
        let summary: Vec<(String, Vec<String>)> = binds
            .iter()
            .map(|b| {
                (
                    b.address.to_string(),
                    b.listeners.iter().map(|l| l.id.clone()).collect(),
                )
            })
            .collect();
        let ids = vec![
            "ListenerSet/ns/ls/a".to_string(),
            "Gateway/ns/gw/b".to_string(),
            "Gateway/ns/gw/a".to_string(),
        ];
        assert_eq!(
            summary,
            vec![
                ("127.0.0.1:80".to_string(), ids.clone()),
                ("127.0.0.2:80".to_string(), ids)
            ]
        );
        let g = gateway_status(&s);
        assert!(g.listeners.iter().all(|l| l.attached_routes == 7));
    }

    #[test]
    fn data_plane_failures_make_statuses_truthful() {
        let mut s = statuses();
        apply_data_plane_report(
            &mut s,
            &[
                ListenerFailure {
                    listener_id: "Gateway/ns/gw/a".into(),
                    bind_failed: true,
                    error: "address in use".into(),
                },
                ListenerFailure {
                    listener_id: "Gateway/ns/gw/unknown".into(),
                    bind_failed: false,
                    error: "ignored".into(),
                },
            ],
        );
        let g = gateway_status(&s);
        let a = &g.listeners[0];
        let programmed = crate::condition(&a.conditions, "Programmed").expect("Programmed");
        assert_eq!(
            (programmed.status.as_str(), programmed.reason.as_str()),
            ("False", "PortUnavailable")
        );
        assert!(programmed.message.contains("address in use"));
        let accepted = crate::condition(&a.conditions, "Accepted").expect("Accepted");
        assert_eq!(accepted.reason, "PortUnavailable");
        // Listener b still serves, so the Gateway stays programmed.
        assert!(crate::condition(&g.conditions, "Programmed").is_some_and(Condition::is_true));

        apply_data_plane_report(
            &mut s,
            &[ListenerFailure {
                listener_id: "Gateway/ns/gw/b".into(),
                bind_failed: false,
                error: "certificate rejected".into(),
            }],
        );
        let g = gateway_status(&s);
        let b = crate::condition(&g.listeners[1].conditions, "Programmed").expect("Programmed");
        assert_eq!((b.status.as_str(), b.reason.as_str()), ("False", "Invalid"));
        assert!(
            crate::condition(&g.listeners[1].conditions, "Accepted")
                .is_some_and(Condition::is_true)
        );
        let gp = crate::condition(&g.conditions, "Programmed").expect("Programmed");
        assert_eq!(
            (gp.status.as_str(), gp.reason.as_str()),
            ("False", "Invalid")
        );
        // The ListenerSet's listener "a" is another listener: untouched.
        match s.get("ListenerSet", "ns", "ls") {
            Some(ObjectStatus::ListenerSet(l)) => {
                assert!(
                    crate::condition(&l.listeners[0].conditions, "Programmed")
                        .is_some_and(Condition::is_true)
                );
            }
            other => panic!("{other:?}"),
        }
    }
}
