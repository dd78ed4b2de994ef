//! Protocol filter: L4 (`tcp`, `udp`, `icmp`, `icmpv4`, `icmpv6`, `sctp`)
//! or L7 (`http`, `grpc`, `dns`, `kafka`) plus Portico's `tls` (a flow that
//! carries TLS details). Names are case-insensitive; unknown ones are
//! rejected.

use super::{Predicate, invalid, when};
use crate::Error;
use crate::flow::record::{Flow, Layer4};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Protocol {
    Tcp,
    Udp,
    Icmp,
    Icmpv4,
    Icmpv6,
    Sctp,
    Http,
    Grpc,
    Tls,
    Dns,
    Kafka,
}

impl Protocol {
    fn parse(value: &str) -> Result<Protocol, Error> {
        Ok(match value.trim().to_ascii_lowercase().as_str() {
            "tcp" => Protocol::Tcp,
            "udp" => Protocol::Udp,
            "icmp" => Protocol::Icmp,
            "icmpv4" => Protocol::Icmpv4,
            "icmpv6" => Protocol::Icmpv6,
            "sctp" => Protocol::Sctp,
            "http" => Protocol::Http,
            "grpc" => Protocol::Grpc,
            "tls" => Protocol::Tls,
            "dns" => Protocol::Dns,
            "kafka" => Protocol::Kafka,
            _ => {
                return Err(invalid(
                    "protocol",
                    value,
                    "unknown protocol (tcp, udp, icmp, icmpv4, icmpv6, sctp, http, grpc, tls, dns, kafka)",
                ));
            }
        })
    }

    fn matches(self, flow: &Flow) -> bool {
        match self {
            Protocol::Tcp => matches!(flow.l4, Some(Layer4::Tcp { .. })),
            Protocol::Udp => matches!(flow.l4, Some(Layer4::Udp { .. })),
            Protocol::Icmp => {
                matches!(flow.l4, Some(Layer4::Icmpv4 { .. } | Layer4::Icmpv6 { .. }))
            }
            Protocol::Icmpv4 => matches!(flow.l4, Some(Layer4::Icmpv4 { .. })),
            Protocol::Icmpv6 => matches!(flow.l4, Some(Layer4::Icmpv6 { .. })),
            // Portico has no SCTP, DNS or Kafka records.
            Protocol::Sctp | Protocol::Dns | Protocol::Kafka => false,
            Protocol::Http => flow.http().is_some(),
            Protocol::Grpc => flow.http().is_some_and(|h| h.is_grpc()),
            Protocol::Tls => flow.tls.is_some(),
        }
    }
}

pub(super) fn compile(values: &[String]) -> Result<Option<Predicate>, Error> {
    let protos = values
        .iter()
        .map(|v| Protocol::parse(v))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(when(!protos.is_empty(), move |r| {
        protos.iter().any(|p| p.matches(&r.flow))
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flow::filter::test_support::recorded;
    use crate::flow::record::{GrpcInfo, HttpInfo, L7Record, L7Type, Layer7, TcpFlags, TlsInfo};

    fn tcp() -> Option<Layer4> {
        Some(Layer4::Tcp {
            source_port: 1,
            destination_port: 2,
            flags: TcpFlags::default(),
        })
    }

    fn http(grpc: bool) -> Flow {
        Flow {
            l4: tcp(),
            l7: Some(Layer7 {
                kind: L7Type::Request,
                latency: None,
                record: L7Record::Http(HttpInfo {
                    grpc: grpc.then(GrpcInfo::default),
                    ..HttpInfo::default()
                }),
            }),
            ..Flow::default()
        }
    }

    fn m(proto: &str, flow: Flow) -> bool {
        compile(&[proto.to_string()]).expect("valid").expect("set")(&recorded(flow))
    }

    #[test]
    fn l4_and_l7_protocols() {
        assert!(m("TCP", http(false)));
        assert!(m("http", http(false)));
        assert!(!m("grpc", http(false)));
        assert!(m("grpc", http(true)));
        assert!(m("http", http(true)));
        assert!(!m("udp", http(false)));
        let udp = Flow {
            l4: Some(Layer4::Udp {
                source_port: 1,
                destination_port: 2,
            }),
            ..Flow::default()
        };
        assert!(m("udp", udp.clone()));
        assert!(!m("http", udp));
        let icmp = Flow {
            l4: Some(Layer4::Icmpv6 { kind: 128, code: 0 }),
            ..Flow::default()
        };
        assert!(m("icmp", icmp.clone()));
        assert!(m("icmpv6", icmp.clone()));
        assert!(!m("icmpv4", icmp));
        let tls = Flow {
            l4: tcp(),
            tls: Some(TlsInfo {
                sni: Some("a.example".into()),
            }),
            ..Flow::default()
        };
        assert!(m("tls", tls.clone()));
        assert!(!m("tls", http(false)));
        assert!(!m("dns", tls));
    }

    #[test]
    fn unknown_protocol_is_rejected() {
        let err = compile(&["quic".into()]).err().expect("unknown");
        assert!(err.to_string().contains("unknown protocol"), "{err}");
    }
}
