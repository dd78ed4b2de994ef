//! Listener conflicts within one Gateway's port space (its own listeners and
//! those of its accepted ListenerSets).
//!
//! Listeners are visited in precedence order: the Gateway's, then each
//! ListenerSet's (oldest first). A listener conflicts with an earlier one on
//! the same port and transport when their protocols cannot share a socket
//! (`ProtocolConflict`; TLS Terminate and Passthrough can share only with
//! the `TLSRouteModeMixed` feature) or when they have the same protocol and
//! hostname (`HostnameConflict`). Between different owners the later one
//! loses; within one owner both are conflicted, as neither takes precedence.

use portico_ir::{BindProtocol, TlsMode};

use super::listeners::ListenerEval;
use super::problem::Problem;

/// Sockets are per transport: a UDP listener never conflicts with a TCP one.
fn transport(p: BindProtocol) -> u8 {
    match p {
        BindProtocol::Udp => 1,
        _ => 0,
    }
}

fn compatible(a: &ListenerEval, b: &ListenerEval, mixed_tls: bool) -> bool {
    match (a.bind_protocol, b.bind_protocol) {
        (Some(BindProtocol::Tls), Some(BindProtocol::Tls)) => {
            mixed_tls
                || a.tls_mode().unwrap_or(TlsMode::Terminate)
                    == b.tls_mode().unwrap_or(TlsMode::Terminate)
        }
        (Some(x), Some(y)) => x == y,
        _ => false,
    }
}

/// Marks conflicted listeners. `mixed_tls`: whether TLS Terminate and
/// Passthrough listeners may share a port.
pub fn detect(listeners: &mut [ListenerEval], mixed_tls: bool) {
    // Indices of listeners that hold their place in the port space.
    let mut winners: Vec<usize> = Vec::new();
    for i in 0..listeners.len() {
        let Some(protocol) = listeners[i].bind_protocol else {
            continue;
        };
        if listeners[i].accepted.is_some() {
            continue;
        }
        let mut lost = None;
        for &j in &winners {
            let (a, b) = (&listeners[j], &listeners[i]);
            let Some(other) = a.bind_protocol else {
                continue;
            };
            if a.spec.port != b.spec.port || transport(other) != transport(protocol) {
                continue;
            }
            let problem = if !compatible(a, b, mixed_tls) {
                Problem::new(
                    "ProtocolConflict",
                    format!(
                        "port {} is also used by listener {:?} of {} with protocol {}",
                        b.spec.port, a.spec.name, a.spec.owner, a.spec.protocol
                    ),
                )
            } else if a.host_match == b.host_match {
                Problem::new(
                    "HostnameConflict",
                    format!(
                        "listener {:?} of {} already uses port {} with hostname {}",
                        a.spec.name, a.spec.owner, b.spec.port, a.host_match
                    ),
                )
            } else {
                continue;
            };
            lost = Some((j, problem));
            break;
        }
        match lost {
            None => winners.push(i),
            Some((j, problem)) => {
                if listeners[j].spec.owner == listeners[i].spec.owner {
                    let mirrored = Problem::new(
                        problem.reason,
                        format!(
                            "port {} is also used by listener {:?} with protocol {} and hostname {}",
                            listeners[i].spec.port,
                            listeners[i].spec.name,
                            listeners[i].spec.protocol,
                            listeners[i].host_match
                        ),
                    );
                    listeners[j].conflict.get_or_insert(mirrored);
                }
                listeners[i].conflict = Some(problem);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use portico_ir::{HostMatch, ListenerTls, ObjectRef};

    use super::*;
    use crate::context::AllowedNamespaces;
    use crate::gateways::spec::{FromSpec, ListenerSpec};

    fn listener(
        owner: &str,
        name: &str,
        port: i32,
        protocol: BindProtocol,
        host: Option<&str>,
    ) -> ListenerEval {
        ListenerEval {
            spec: ListenerSpec {
                owner: ObjectRef {
                    kind: if owner == "gw" {
                        "Gateway"
                    } else {
                        "ListenerSet"
                    }
                    .into(),
                    namespace: "ns".into(),
                    name: owner.into(),
                },
                owner_generation: 1,
                name: name.into(),
                port,
                protocol: format!("{protocol:?}").to_uppercase(),
                hostname: host.map(str::to_string),
                tls: None,
                kinds: None,
                from: FromSpec::Same,
                selector: None,
            },
            bind_protocol: Some(protocol),
            host_match: HostMatch::parse(host),
            tls: None,
            supported_kinds: vec![],
            allowed_namespaces: AllowedNamespaces::All,
            accepted: None,
            resolved: None,
            conflict: None,
            not_programmed: None,
        }
    }

    fn reasons(ls: &[ListenerEval]) -> Vec<Option<&'static str>> {
        ls.iter()
            .map(|l| l.conflict.as_ref().map(|p| p.reason))
            .collect()
    }

    #[test]
    fn gateway_listeners_beat_listener_sets() {
        let mut ls = vec![
            listener("gw", "a", 80, BindProtocol::Http, Some("a.com")),
            listener("ls1", "dup", 80, BindProtocol::Http, Some("a.com")),
            listener("ls1", "tcp", 80, BindProtocol::Tcp, None),
            listener("ls1", "ok", 80, BindProtocol::Http, Some("b.com")),
            listener("ls2", "dup2", 80, BindProtocol::Http, Some("b.com")),
        ];
        detect(&mut ls, false);
        assert_eq!(
            reasons(&ls),
            vec![
                None,
                Some("HostnameConflict"),
                Some("ProtocolConflict"),
                None,
                Some("HostnameConflict")
            ]
        );
    }

    #[test]
    fn conflicts_within_one_owner_mark_both() {
        let mut ls = vec![
            listener("gw", "http", 80, BindProtocol::Http, None),
            listener("gw", "tcp", 80, BindProtocol::Tcp, None),
            listener("gw", "udp", 80, BindProtocol::Udp, None),
        ];
        detect(&mut ls, false);
        assert_eq!(
            reasons(&ls),
            vec![Some("ProtocolConflict"), Some("ProtocolConflict"), None]
        );
    }

    #[test]
    fn tls_modes_need_the_mixed_feature() {
        let mk = || {
            let mut a = listener("gw", "term", 8443, BindProtocol::Tls, Some("t.example.com"));
            a.tls = Some(ListenerTls {
                mode: TlsMode::Terminate,
                certificates: vec![],
                client_validation: None,
            });
            let mut b = listener("gw", "pass", 8443, BindProtocol::Tls, Some("p.example.com"));
            b.tls = Some(ListenerTls {
                mode: TlsMode::Passthrough,
                certificates: vec![],
                client_validation: None,
            });
            vec![a, b]
        };
        let mut ls = mk();
        detect(&mut ls, false);
        assert_eq!(
            reasons(&ls),
            vec![Some("ProtocolConflict"), Some("ProtocolConflict")]
        );
        let mut ls = mk();
        detect(&mut ls, true);
        assert_eq!(reasons(&ls), vec![None, None]);
    }

    #[test]
    fn rejected_listeners_take_no_port() {
        let mut bad = listener("gw", "bad", 80, BindProtocol::Tcp, None);
        bad.accepted = Some(Problem::new("UnsupportedValue", "x"));
        let mut ls = vec![bad, listener("gw", "http", 80, BindProtocol::Http, None)];
        detect(&mut ls, false);
        assert_eq!(reasons(&ls), vec![None, None]);
    }

    fn arb_listener() -> impl proptest::strategy::Strategy<Value = ListenerEval> {
        use proptest::prelude::*;
        (0usize..3, 0usize..2, 0usize..5, 0usize..3).prop_map(|(owner, port, proto, host)| {
            let protocol = [
                BindProtocol::Http,
                BindProtocol::Https,
                BindProtocol::Tls,
                BindProtocol::Tcp,
                BindProtocol::Udp,
            ][proto];
            let host = [None, Some("a.example.com"), Some("*.example.com")][host];
            listener(
                ["gw", "ls1", "ls2"][owner],
                "l",
                [80, 443][port],
                protocol,
                host,
            )
        })
    }

    proptest::proptest! {
        #[test]
        fn survivors_never_conflict_and_gateway_listeners_only_lose_to_their_own(
            mut ls in proptest::collection::vec(arb_listener(), 0..12),
        ) {
            // Precedence order: Gateway first, then the sets in order.
            ls.sort_by_key(|l| l.spec.owner.name.clone());
            ls.sort_by_key(|l| l.spec.owner.kind != "Gateway");
            detect(&mut ls, false);
            let survivors: Vec<&ListenerEval> = ls.iter().filter(|l| l.conflict.is_none()).collect();
            for (i, a) in survivors.iter().enumerate() {
                for b in &survivors[i + 1..] {
                    let same_socket = a.spec.port == b.spec.port
                        && transport(a.bind_protocol.unwrap_or(BindProtocol::Http))
                            == transport(b.bind_protocol.unwrap_or(BindProtocol::Http));
                    if same_socket {
                        proptest::prop_assert!(compatible(a, b, false), "{a:?} vs {b:?}");
                        proptest::prop_assert_ne!(&a.host_match, &b.host_match);
                    }
                }
            }
            // A Gateway listener loses only when another Gateway listener clashes with it.
            for l in ls.iter().filter(|l| l.spec.owner.kind == "Gateway" && l.conflict.is_some()) {
                let clash = ls.iter().filter(|o| o.spec.owner.kind == "Gateway").any(|o| {
                    !std::ptr::eq(o, l)
                        && o.spec.port == l.spec.port
                        && transport(o.bind_protocol.unwrap_or(BindProtocol::Http))
                            == transport(l.bind_protocol.unwrap_or(BindProtocol::Http))
                        && (!compatible(o, l, false) || o.host_match == l.host_match)
                });
                proptest::prop_assert!(clash, "{l:?}");
            }
        }
    }
}
