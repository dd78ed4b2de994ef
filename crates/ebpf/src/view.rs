//! What `portico bpf services` prints: frontends and backends as the kernel
//! maps hold them (like `cilium-dbg service list`).

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;

use serde::Serialize;

use crate::maps::{
    ALG_MAGLEV, BACKEND_ACTIVE, FLAG_AFFINITY, FLAG_EXTERNAL_IP, FLAG_LOADBALANCER, FLAG_NODEPORT,
    PROTO_SCTP, PROTO_TCP, PROTO_UDP,
};
use crate::state::LbState;

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ServiceView {
    pub id: u16,
    pub frontend: SocketAddr,
    pub protocol: &'static str,
    pub kind: &'static str,
    pub algorithm: &'static str,
    /// Session affinity timeout in seconds, when affinity is on.
    pub affinity_timeout: Option<u32>,
    /// The Service, when the agent that wrote the maps is this process.
    pub service: Option<String>,
    pub backends: Vec<BackendView>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct BackendView {
    pub id: u32,
    pub address: SocketAddr,
    pub state: &'static str,
    /// Effective weight (slots held; share = weight / sum of weights).
    pub weight: u16,
}

pub fn proto_name(p: u8) -> &'static str {
    match p {
        PROTO_TCP => "TCP",
        PROTO_UDP => "UDP",
        PROTO_SCTP => "SCTP",
        _ => "?",
    }
}

fn kind_name(flags: u8) -> &'static str {
    if flags & FLAG_NODEPORT != 0 {
        "NodePort"
    } else if flags & FLAG_LOADBALANCER != 0 {
        "LoadBalancer"
    } else if flags & FLAG_EXTERNAL_IP != 0 {
        "ExternalIP"
    } else {
        "ClusterIP"
    }
}

/// Views of every service in `state`, by rev-NAT id.
pub fn services(state: &LbState) -> Vec<ServiceView> {
    let mut out: Vec<ServiceView> = state
        .services
        .iter()
        .map(|(key, s)| ServiceView {
            id: s.rev_nat_id,
            frontend: key.frontend,
            protocol: proto_name(key.proto),
            kind: kind_name(s.flags),
            algorithm: if s.algorithm == ALG_MAGLEV {
                "maglev"
            } else {
                "random"
            },
            affinity_timeout: (s.flags & FLAG_AFFINITY != 0).then_some(s.affinity_timeout),
            service: (!s.name.is_empty()).then(|| s.name.clone()),
            backends: s
                .backend_ids
                .iter()
                .zip(s.weights.iter().copied().chain(std::iter::repeat(1)))
                .map(|(&id, weight)| match state.backends.get(&id) {
                    Some(b) => BackendView {
                        id,
                        address: b.addr,
                        state: if b.state == BACKEND_ACTIVE {
                            "active"
                        } else {
                            "terminating"
                        },
                        weight,
                    },
                    None => BackendView {
                        id,
                        address: SocketAddr::from(([0, 0, 0, 0], 0)),
                        state: "missing",
                        weight,
                    },
                })
                .collect(),
        })
        .collect();
    out.sort_by_key(|v| v.id);
    out
}

/// A table in the shape of `cilium-dbg service list`.
pub struct Table<'a>(pub &'a [ServiceView]);

impl fmt::Display for Table<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{:<5} {:<24} {:<13} {:<8} Backend",
            "ID", "Frontend", "Service Type", "LB"
        )?;
        let mut by_id = BTreeMap::new();
        for v in self.0 {
            by_id.insert(v.id, v);
        }
        for v in by_id.values() {
            let frontend = format!("{}/{}", v.frontend, v.protocol);
            let mut first = true;
            let head = |first: bool| {
                if first {
                    format!(
                        "{:<5} {:<24} {:<13} {:<8}",
                        v.id, frontend, v.kind, v.algorithm
                    )
                } else {
                    format!("{:<5} {:<24} {:<13} {:<8}", "", "", "", "")
                }
            };
            if v.backends.is_empty() {
                writeln!(f, "{} (no backends)", head(true))?;
            }
            for (i, b) in v.backends.iter().enumerate() {
                let weight = if b.weight == 1 {
                    String::new()
                } else {
                    format!(", weight {}", b.weight)
                };
                writeln!(
                    f,
                    "{} {} => {}/{} ({}{weight})",
                    head(first),
                    i + 1,
                    b.address,
                    v.protocol,
                    b.state
                )?;
                first = false;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::tests::frontend;

    #[test]
    fn lists_like_cilium() {
        let fs = [
            frontend("10.96.0.1:80", &["10.0.0.1:8080", "10.0.0.2:8080"]),
            frontend("10.96.0.2:81", &[]),
        ];
        let (s, _) = LbState::plan(&LbState::default(), &fs);
        let views = services(&s);
        assert_eq!(views.len(), 2);
        assert_eq!(views[0].backends.len(), 2);
        assert_eq!(views[0].service.as_deref(), Some("Service/default/svc-80"));
        let text = Table(&views).to_string();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 4, "{text}");
        assert!(
            lines[1].contains("10.96.0.1:80/TCP")
                && lines[1].contains("1 => 10.0.0.1:8080/TCP (active)")
        );
        assert!(lines[2].trim_start().starts_with("2 => 10.0.0.2:8080/TCP"));
        assert!(lines[3].contains("10.96.0.2:81/TCP") && lines[3].contains("(no backends)"));
    }
}
