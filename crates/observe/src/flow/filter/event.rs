//! Filters on flow metadata: verdict, event type, reply direction, traffic
//! direction, IP version and TCP flags. Their values come typed (the
//! protobuf enums are decoded before compiling), so none can fail here.

use std::net::IpAddr;

use super::{EventTypeSpec, IpVersion, Predicate, when};
use crate::flow::record::{Layer4, TcpFlags, TrafficDirection, Verdict};

pub(super) fn verdict(values: &[Verdict]) -> Option<Predicate> {
    let vs = values.to_vec();
    when(!vs.is_empty(), move |r| vs.contains(&r.flow.verdict))
}

pub(super) fn event_type(values: &[EventTypeSpec]) -> Option<Predicate> {
    let ts = values.to_vec();
    when(!ts.is_empty(), move |r| {
        let et = r.flow.event_type;
        ts.iter()
            .any(|t| t.kind == et.kind && t.sub_type.is_none_or(|s| s == et.sub_type))
    })
}

pub(super) fn reply(values: &[bool]) -> Option<Predicate> {
    let vs = values.to_vec();
    when(!vs.is_empty(), move |r| {
        r.flow.is_reply.is_some_and(|reply| vs.contains(&reply))
    })
}

pub(super) fn direction(values: &[TrafficDirection]) -> Option<Predicate> {
    let ds = values.to_vec();
    when(!ds.is_empty(), move |r| {
        ds.contains(&r.flow.traffic_direction)
    })
}

pub(super) fn ip_version(values: &[IpVersion]) -> Option<Predicate> {
    let vs = values.to_vec();
    when(!vs.is_empty(), move |r| {
        r.flow.ip.is_some_and(|ip| {
            let v = match ip.source {
                IpAddr::V4(_) => IpVersion::V4,
                IpAddr::V6(_) => IpVersion::V6,
            };
            vs.contains(&v)
        })
    })
}

pub(super) fn tcp_flags(values: &[TcpFlags]) -> Option<Predicate> {
    let fs = values.to_vec();
    when(!fs.is_empty(), move |r| match r.flow.l4 {
        Some(Layer4::Tcp { flags, .. }) => fs.iter().any(|want| flags.contains(*want)),
        _ => false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flow::filter::test_support::recorded;
    use crate::flow::record::{DropReason, EventType, Flow, IpInfo, TracePoint};

    #[test]
    fn verdict_and_direction() {
        let f = recorded(Flow {
            verdict: Verdict::Dropped,
            traffic_direction: TrafficDirection::Ingress,
            ..Flow::default()
        });
        assert!(verdict(&[Verdict::Forwarded, Verdict::Dropped]).expect("set")(&f));
        assert!(!verdict(&[Verdict::Forwarded]).expect("set")(&f));
        assert!(direction(&[TrafficDirection::Ingress]).expect("set")(&f));
        assert!(!direction(&[TrafficDirection::Egress]).expect("set")(&f));
        assert!(verdict(&[]).is_none());
    }

    #[test]
    fn event_type_with_and_without_sub_type() {
        let f = recorded(Flow {
            event_type: EventType::trace(TracePoint::ToProxy),
            ..Flow::default()
        });
        let any_trace = EventTypeSpec {
            kind: EventType::TRACE,
            sub_type: None,
        };
        let to_proxy = EventTypeSpec {
            kind: EventType::TRACE,
            sub_type: Some(TracePoint::ToProxy as i32),
        };
        let to_host = EventTypeSpec {
            kind: EventType::TRACE,
            sub_type: Some(TracePoint::ToHost as i32),
        };
        assert!(event_type(&[any_trace]).expect("set")(&f));
        assert!(event_type(&[to_proxy]).expect("set")(&f));
        assert!(!event_type(&[to_host]).expect("set")(&f));
        let drop = recorded(Flow {
            event_type: EventType::drop(DropReason::POLICY_DENIED),
            ..Flow::default()
        });
        assert!(!event_type(&[any_trace]).expect("set")(&drop));
    }

    #[test]
    fn reply_requires_a_known_direction() {
        let reply_flow = recorded(Flow {
            is_reply: Some(true),
            ..Flow::default()
        });
        let unknown = recorded(Flow::default());
        assert!(reply(&[true]).expect("set")(&reply_flow));
        assert!(!reply(&[false]).expect("set")(&reply_flow));
        assert!(!reply(&[true]).expect("set")(&unknown));
        assert!(!reply(&[false]).expect("set")(&unknown));
    }

    #[test]
    fn ip_version_and_tcp_flags() {
        let f = recorded(Flow {
            ip: Some(IpInfo {
                source: "fd00::1".parse().expect("ip"),
                destination: "fd00::2".parse().expect("ip"),
            }),
            l4: Some(Layer4::Tcp {
                source_port: 1,
                destination_port: 2,
                flags: TcpFlags::SYN.with(TcpFlags::ACK),
            }),
            ..Flow::default()
        });
        assert!(ip_version(&[IpVersion::V6]).expect("set")(&f));
        assert!(!ip_version(&[IpVersion::V4]).expect("set")(&f));
        assert!(tcp_flags(&[TcpFlags::SYN]).expect("set")(&f));
        assert!(tcp_flags(&[
            TcpFlags::FIN,
            TcpFlags::SYN.with(TcpFlags::ACK)
        ])
        .expect("set")(&f));
        assert!(!tcp_flags(&[TcpFlags::RST]).expect("set")(&f));
    }
}
