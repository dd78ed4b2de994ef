//! Conversions between Portico's flow types and Hubble's protobuf messages.

use std::net::IpAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::proto::flow as pb;
use crate::Error;
use crate::flow::filter::invalid;
use crate::flow::{
    EventType, EventTypeSpec, FilterSpec, Flow, IpVersion, L7Record, L7Type, Layer4, Recorded,
    TcpFlags, TracePoint, TrafficDirection, Verdict, WorkloadSpec,
};

/// `SystemTime` → protobuf timestamp (times before 1970 clamp to 0).
pub fn timestamp(t: SystemTime) -> prost_types::Timestamp {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    prost_types::Timestamp {
        seconds: i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        nanos: i32::try_from(d.subsec_nanos()).unwrap_or(0),
    }
}

/// Protobuf timestamp → `SystemTime`; `field` names it in errors.
pub fn system_time(field: &'static str, ts: &prost_types::Timestamp) -> Result<SystemTime, Error> {
    if !(0..1_000_000_000).contains(&ts.nanos) {
        return Err(invalid(field, &format!("{ts:?}"), "nanos out of range"));
    }
    let nanos = Duration::from_nanos(u64::try_from(ts.nanos).unwrap_or(0));
    let out = if ts.seconds >= 0 {
        UNIX_EPOCH
            .checked_add(Duration::from_secs(ts.seconds.unsigned_abs()))
            .and_then(|t| t.checked_add(nanos))
    } else {
        UNIX_EPOCH
            .checked_sub(Duration::from_secs(ts.seconds.unsigned_abs()))
            .and_then(|t| t.checked_add(nanos))
    };
    out.ok_or_else(|| invalid(field, &format!("{ts:?}"), "time out of range"))
}

fn verdict_code(v: Verdict) -> i32 {
    v.code()
}

fn direction_code(d: TrafficDirection) -> i32 {
    match d {
        TrafficDirection::Unknown => pb::TrafficDirection::Unknown as i32,
        TrafficDirection::Ingress => pb::TrafficDirection::Ingress as i32,
        TrafficDirection::Egress => pb::TrafficDirection::Egress as i32,
    }
}

fn tcp_flags(f: TcpFlags) -> pb::TcpFlags {
    pb::TcpFlags {
        fin: f.contains(TcpFlags::FIN),
        syn: f.contains(TcpFlags::SYN),
        rst: f.contains(TcpFlags::RST),
        psh: f.contains(TcpFlags::PSH),
        ack: f.contains(TcpFlags::ACK),
        urg: f.contains(TcpFlags::URG),
        ece: f.contains(TcpFlags::ECE),
        cwr: f.contains(TcpFlags::CWR),
        ns: f.contains(TcpFlags::NS),
    }
}

fn tcp_flags_from(f: &pb::TcpFlags) -> TcpFlags {
    let bits = [
        (f.fin, TcpFlags::FIN),
        (f.syn, TcpFlags::SYN),
        (f.rst, TcpFlags::RST),
        (f.psh, TcpFlags::PSH),
        (f.ack, TcpFlags::ACK),
        (f.urg, TcpFlags::URG),
        (f.ece, TcpFlags::ECE),
        (f.cwr, TcpFlags::CWR),
        (f.ns, TcpFlags::NS),
    ];
    bits.into_iter()
        .filter(|(set, _)| *set)
        .fold(TcpFlags::default(), |acc, (_, flag)| acc.with(flag))
}

fn endpoint(ep: &crate::flow::Endpoint) -> pb::Endpoint {
    pb::Endpoint {
        id: 0,
        identity: ep.identity,
        namespace: ep.namespace.as_deref().unwrap_or_default().to_owned(),
        labels: ep.labels.iter().map(|l| l.to_string()).collect(),
        pod_name: ep.pod_name.as_deref().unwrap_or_default().to_owned(),
        workloads: ep
            .workloads
            .iter()
            .map(|w| pb::Workload {
                name: w.name.to_string(),
                kind: w.kind.to_string(),
            })
            .collect(),
    }
}

fn service(s: &crate::flow::ServiceRef) -> pb::Service {
    pb::Service {
        name: s.name.to_string(),
        namespace: s.namespace.to_string(),
    }
}

/// The one-line summary Hubble's older clients print.
fn summary(flow: &Flow) -> String {
    if let Some(l7) = &flow.l7 {
        let L7Record::Http(h) = &l7.record;
        return match l7.kind {
            L7Type::Response => {
                let ms = l7.latency.map(|d| d.as_millis()).unwrap_or_default();
                format!(
                    "{} {} {}ms ({} {})",
                    h.protocol, h.code, ms, h.method, h.url
                )
            }
            _ => format!("{} {} {}", h.protocol, h.method, h.url),
        };
    }
    match flow.l4 {
        Some(Layer4::Tcp { flags, .. }) => {
            let names: Vec<&str> = TcpFlags::NAMES
                .iter()
                .filter(|(_, f)| flags.contains(*f))
                .map(|(n, _)| *n)
                .collect();
            if names.is_empty() {
                "TCP".to_owned()
            } else {
                format!("TCP Flags: {}", names.join(", "))
            }
        }
        Some(Layer4::Udp { .. }) => "UDP".to_owned(),
        Some(Layer4::Icmpv4 { kind, code }) => format!("ICMPv4 type {kind} code {code}"),
        Some(Layer4::Icmpv6 { kind, code }) => format!("ICMPv6 type {kind} code {code}"),
        None => String::new(),
    }
}

/// A recorded flow as a Hubble `flow.Flow`.
pub fn flow_to_proto(r: &Recorded) -> pb::Flow {
    let flow = &r.flow;
    let drop_code = flow.drop_reason.map(|d| d.0).unwrap_or_default();
    let ip = flow.ip.map(|ip| pb::Ip {
        source: ip.source.to_string(),
        destination: ip.destination.to_string(),
        ip_version: match ip.source {
            IpAddr::V4(_) => pb::IpVersion::IPv4 as i32,
            IpAddr::V6(_) => pb::IpVersion::IPv6 as i32,
        },
        encrypted: false,
    });
    let l4 = flow.l4.map(|l4| pb::Layer4 {
        protocol: Some(match l4 {
            Layer4::Tcp {
                source_port,
                destination_port,
                flags,
            } => pb::layer4::Protocol::Tcp(pb::Tcp {
                source_port: u32::from(source_port),
                destination_port: u32::from(destination_port),
                flags: Some(tcp_flags(flags)),
            }),
            Layer4::Udp {
                source_port,
                destination_port,
            } => pb::layer4::Protocol::Udp(pb::Udp {
                source_port: u32::from(source_port),
                destination_port: u32::from(destination_port),
            }),
            Layer4::Icmpv4 { kind, code } => pb::layer4::Protocol::IcmPv4(pb::IcmPv4 {
                r#type: u32::from(kind),
                code: u32::from(code),
            }),
            Layer4::Icmpv6 { kind, code } => pb::layer4::Protocol::IcmPv6(pb::IcmPv6 {
                r#type: u32::from(kind),
                code: u32::from(code),
            }),
        }),
    });
    let l7 = flow.l7.as_ref().map(|l7| {
        let L7Record::Http(h) = &l7.record;
        pb::Layer7 {
            r#type: match l7.kind {
                L7Type::Unknown => pb::L7FlowType::UnknownL7Type as i32,
                L7Type::Request => pb::L7FlowType::Request as i32,
                L7Type::Response => pb::L7FlowType::Response as i32,
                L7Type::Sample => pb::L7FlowType::Sample as i32,
            },
            latency_ns: l7
                .latency
                .map(|d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
                .unwrap_or_default(),
            record: Some(pb::layer7::Record::Http(pb::Http {
                code: u32::from(h.code),
                method: h.method.to_string(),
                url: h.url.clone(),
                protocol: h.protocol.to_owned(),
                headers: h
                    .headers
                    .iter()
                    .map(|(k, v)| pb::HttpHeader {
                        key: k.clone(),
                        value: v.clone(),
                    })
                    .collect(),
            })),
        }
    });
    let trace_point = (flow.event_type.kind == EventType::TRACE)
        .then(|| TracePoint::from_sub_type(flow.event_type.sub_type))
        .flatten()
        .map(|p| match p {
            TracePoint::ToEndpoint => pb::TraceObservationPoint::ToEndpoint,
            TracePoint::ToProxy => pb::TraceObservationPoint::ToProxy,
            TracePoint::ToHost => pb::TraceObservationPoint::ToHost,
            TracePoint::ToStack => pb::TraceObservationPoint::ToStack,
            TracePoint::ToOverlay => pb::TraceObservationPoint::ToOverlay,
            TracePoint::FromEndpoint => pb::TraceObservationPoint::FromEndpoint,
            TracePoint::FromProxy => pb::TraceObservationPoint::FromProxy,
            TracePoint::FromHost => pb::TraceObservationPoint::FromHost,
            TracePoint::FromStack => pb::TraceObservationPoint::FromStack,
            TracePoint::FromOverlay => pb::TraceObservationPoint::FromOverlay,
            TracePoint::FromNetwork => pb::TraceObservationPoint::FromNetwork,
            TracePoint::ToNetwork => pb::TraceObservationPoint::ToNetwork,
        } as i32)
        .unwrap_or_default();
    let portico =
        (flow.gateway.is_some() || flow.route.is_some() || flow.tls.is_some()).then(|| {
            let mut info = pb::PorticoFlowInfo::default();
            if let Some(g) = &flow.gateway {
                info.gateway_namespace = g.namespace.to_string();
                info.gateway_name = g.name.to_string();
                info.listener = g.listener.as_deref().unwrap_or_default().to_owned();
            }
            if let Some(rt) = &flow.route {
                info.route_kind = rt.kind.to_owned();
                info.route_namespace = rt.namespace.to_string();
                info.route_name = rt.name.to_string();
            }
            if let Some(sni) = flow.tls.as_ref().and_then(|t| t.sni.as_deref()) {
                info.tls_sni = sni.to_owned();
            }
            info
        });
    pb::Flow {
        time: Some(timestamp(flow.time)),
        uuid: r.uuid(),
        verdict: verdict_code(flow.verdict),
        drop_reason: u32::from(drop_code),
        ip,
        l4,
        source: flow.source.as_deref().map(endpoint),
        destination: flow.destination.as_deref().map(endpoint),
        r#type: if flow.l7.is_some() {
            pb::FlowType::L7 as i32
        } else {
            pb::FlowType::L3L4 as i32
        },
        node_name: r.node_name().to_owned(),
        source_names: Vec::new(),
        destination_names: flow
            .destination_names
            .iter()
            .map(|n| n.to_string())
            .collect(),
        l7,
        reply: flow.is_reply.unwrap_or(false),
        event_type: Some(pb::CiliumEventType {
            r#type: flow.event_type.kind,
            sub_type: flow.event_type.sub_type,
        }),
        source_service: flow.source_service.as_ref().map(service),
        destination_service: flow.destination_service.as_ref().map(service),
        traffic_direction: direction_code(flow.traffic_direction),
        trace_observation_point: trace_point,
        drop_reason_desc: i32::from(drop_code),
        is_reply: flow.is_reply,
        proxy_port: u32::from(flow.proxy_port),
        trace_context: flow.trace_id.as_ref().map(|t| pb::TraceContext {
            parent: Some(pb::TraceParent {
                trace_id: t.to_string(),
            }),
        }),
        summary: summary(flow),
        portico,
    }
}

/// A Hubble `flow.FlowFilter` as a [`FilterSpec`]; enum values Portico
/// does not know are rejected.
pub fn filter_from_proto(f: &pb::FlowFilter) -> Result<FilterSpec, Error> {
    let verdict = f
        .verdict
        .iter()
        .map(|v| {
            Verdict::from_code(*v)
                .ok_or_else(|| invalid("verdict", &v.to_string(), "unknown verdict"))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let traffic_direction = f
        .traffic_direction
        .iter()
        .map(|d| match pb::TrafficDirection::try_from(*d) {
            Ok(pb::TrafficDirection::Unknown) => Ok(TrafficDirection::Unknown),
            Ok(pb::TrafficDirection::Ingress) => Ok(TrafficDirection::Ingress),
            Ok(pb::TrafficDirection::Egress) => Ok(TrafficDirection::Egress),
            Err(_) => Err(invalid(
                "traffic_direction",
                &d.to_string(),
                "unknown direction",
            )),
        })
        .collect::<Result<Vec<_>, _>>()?;
    let ip_version = f
        .ip_version
        .iter()
        .map(|v| match pb::IpVersion::try_from(*v) {
            Ok(pb::IpVersion::IPv4) => Ok(IpVersion::V4),
            Ok(pb::IpVersion::IPv6) => Ok(IpVersion::V6),
            _ => Err(invalid(
                "ip_version",
                &v.to_string(),
                "expected IPv4 or IPv6",
            )),
        })
        .collect::<Result<Vec<_>, _>>()?;
    let workloads = |ws: &[pb::Workload]| {
        ws.iter()
            .map(|w| WorkloadSpec {
                name: w.name.clone(),
                kind: w.kind.clone(),
            })
            .collect()
    };
    Ok(FilterSpec {
        uuid: f.uuid.clone(),
        source_ip: f.source_ip.clone(),
        destination_ip: f.destination_ip.clone(),
        source_pod: f.source_pod.clone(),
        destination_pod: f.destination_pod.clone(),
        source_fqdn: f.source_fqdn.clone(),
        destination_fqdn: f.destination_fqdn.clone(),
        source_label: f.source_label.clone(),
        destination_label: f.destination_label.clone(),
        source_service: f.source_service.clone(),
        destination_service: f.destination_service.clone(),
        source_workload: workloads(&f.source_workload),
        destination_workload: workloads(&f.destination_workload),
        source_identity: f.source_identity.clone(),
        destination_identity: f.destination_identity.clone(),
        traffic_direction,
        verdict,
        event_type: f
            .event_type
            .iter()
            .map(|e| EventTypeSpec {
                kind: e.r#type,
                sub_type: e.match_sub_type.then_some(e.sub_type),
            })
            .collect(),
        http_status_code: f.http_status_code.clone(),
        protocol: f.protocol.clone(),
        source_port: f.source_port.clone(),
        destination_port: f.destination_port.clone(),
        reply: f.reply.clone(),
        dns_query: f.dns_query.clone(),
        http_method: f.http_method.clone(),
        http_path: f.http_path.clone(),
        tcp_flags: f.tcp_flags.iter().map(tcp_flags_from).collect(),
        node_name: f.node_name.clone(),
        ip_version,
        trace_id: f.trace_id.clone(),
    })
}

/// The inverse of [`filter_from_proto`], for clients.
pub fn filter_to_proto(s: &FilterSpec) -> pb::FlowFilter {
    let workloads = |ws: &[WorkloadSpec]| {
        ws.iter()
            .map(|w| pb::Workload {
                name: w.name.clone(),
                kind: w.kind.clone(),
            })
            .collect()
    };
    pb::FlowFilter {
        uuid: s.uuid.clone(),
        source_ip: s.source_ip.clone(),
        source_pod: s.source_pod.clone(),
        source_fqdn: s.source_fqdn.clone(),
        source_label: s.source_label.clone(),
        source_service: s.source_service.clone(),
        source_workload: workloads(&s.source_workload),
        destination_ip: s.destination_ip.clone(),
        destination_pod: s.destination_pod.clone(),
        destination_fqdn: s.destination_fqdn.clone(),
        destination_label: s.destination_label.clone(),
        destination_service: s.destination_service.clone(),
        destination_workload: workloads(&s.destination_workload),
        traffic_direction: s
            .traffic_direction
            .iter()
            .map(|d| direction_code(*d))
            .collect(),
        verdict: s.verdict.iter().map(|v| v.code()).collect(),
        event_type: s
            .event_type
            .iter()
            .map(|e| pb::EventTypeFilter {
                r#type: e.kind,
                match_sub_type: e.sub_type.is_some(),
                sub_type: e.sub_type.unwrap_or_default(),
            })
            .collect(),
        http_status_code: s.http_status_code.clone(),
        protocol: s.protocol.clone(),
        source_port: s.source_port.clone(),
        destination_port: s.destination_port.clone(),
        reply: s.reply.clone(),
        dns_query: s.dns_query.clone(),
        source_identity: s.source_identity.clone(),
        destination_identity: s.destination_identity.clone(),
        http_method: s.http_method.clone(),
        http_path: s.http_path.clone(),
        tcp_flags: s.tcp_flags.iter().map(|f| tcp_flags(*f)).collect(),
        node_name: s.node_name.clone(),
        ip_version: s
            .ip_version
            .iter()
            .map(|v| match v {
                IpVersion::V4 => pb::IpVersion::IPv4 as i32,
                IpVersion::V6 => pb::IpVersion::IPv6 as i32,
            })
            .collect(),
        trace_id: s.trace_id.clone(),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::flow::filter::test_support::recorded;
    use crate::flow::{
        DropReason, Endpoint, GatewayRef, HttpInfo, IpInfo, Layer7, RouteRef, ServiceRef, TlsInfo,
    };

    #[test]
    fn http_flow_converts_with_upstream_shapes() {
        let r = recorded(Flow {
            verdict: Verdict::Forwarded,
            ip: Some(IpInfo {
                source: "10.0.0.1".parse().expect("ip"),
                destination: "10.0.0.2".parse().expect("ip"),
            }),
            l4: Some(Layer4::Tcp {
                source_port: 40000,
                destination_port: 8080,
                flags: TcpFlags::default(),
            }),
            l7: Some(Layer7 {
                kind: L7Type::Response,
                latency: Some(Duration::from_millis(12)),
                record: L7Record::Http(HttpInfo {
                    code: 200,
                    method: "GET".into(),
                    url: "http://shop.example/cart".into(),
                    protocol: "HTTP/1.1",
                    headers: vec![("x-request-id".into(), "abc".into())],
                    grpc: None,
                }),
            }),
            destination: Some(Arc::new(Endpoint {
                namespace: Some("shop".into()),
                pod_name: Some("web-1".into()),
                labels: vec!["app=web".into()],
                ..Endpoint::default()
            })),
            destination_service: Some(ServiceRef {
                namespace: "shop".into(),
                name: "web".into(),
            }),
            gateway: Some(GatewayRef {
                namespace: "infra".into(),
                name: "gw".into(),
                listener: Some("http".into()),
            }),
            route: Some(RouteRef {
                kind: "HTTPRoute",
                namespace: "shop".into(),
                name: "cart".into(),
            }),
            tls: Some(TlsInfo {
                sni: Some("shop.example".into()),
            }),
            is_reply: Some(true),
            ..Flow::default()
        });
        let p = flow_to_proto(&r);
        assert_eq!(p.verdict, pb::Verdict::Forwarded as i32);
        assert_eq!(p.r#type, pb::FlowType::L7 as i32);
        assert_eq!(p.node_name, "portico");
        assert_eq!(p.uuid, r.uuid());
        let ip = p.ip.expect("ip");
        assert_eq!(ip.ip_version, pb::IpVersion::IPv4 as i32);
        let Some(pb::layer4::Protocol::Tcp(tcp)) = p.l4.and_then(|l| l.protocol) else {
            panic!("tcp expected");
        };
        assert_eq!(tcp.destination_port, 8080);
        let l7 = p.l7.expect("l7");
        assert_eq!(l7.latency_ns, 12_000_000);
        let Some(pb::layer7::Record::Http(http)) = l7.record else {
            panic!("http expected");
        };
        assert_eq!((http.code, http.method.as_str()), (200, "GET"));
        assert_eq!(p.destination.expect("dst").pod_name, "web-1");
        assert_eq!(p.destination_service.expect("svc").name, "web");
        assert_eq!(p.is_reply, Some(true));
        assert!(p.reply);
        assert_eq!(p.event_type.expect("event").r#type, EventType::ACCESS_LOG);
        assert_eq!(
            p.summary,
            "HTTP/1.1 200 12ms (GET http://shop.example/cart)"
        );
        let px = p.portico.expect("portico info");
        assert_eq!(px.gateway_name, "gw");
        assert_eq!(px.route_name, "cart");
        assert_eq!(px.tls_sni, "shop.example");
    }

    #[test]
    fn drop_converts_reason_and_trace_point() {
        let r = recorded(Flow {
            verdict: Verdict::Dropped,
            drop_reason: Some(DropReason::POLICY_DENIED),
            event_type: EventType::drop(DropReason::POLICY_DENIED),
            l4: Some(Layer4::Tcp {
                source_port: 1,
                destination_port: 2,
                flags: TcpFlags::SYN,
            }),
            ..Flow::default()
        });
        let p = flow_to_proto(&r);
        assert_eq!(p.drop_reason_desc, pb::DropReason::PolicyDenied as i32);
        assert_eq!(p.drop_reason, 133);
        assert_eq!(p.r#type, pb::FlowType::L3L4 as i32);
        assert_eq!(p.summary, "TCP Flags: SYN");
        let t = recorded(Flow {
            event_type: EventType::trace(TracePoint::ToEndpoint),
            ..Flow::default()
        });
        assert_eq!(
            flow_to_proto(&t).trace_observation_point,
            pb::TraceObservationPoint::ToEndpoint as i32
        );
    }

    #[test]
    fn filter_round_trips() {
        let spec = FilterSpec {
            source_ip: vec!["10.0.0.0/8".into()],
            verdict: vec![Verdict::Dropped, Verdict::Error],
            event_type: vec![EventTypeSpec {
                kind: EventType::TRACE,
                sub_type: Some(0),
            }],
            tcp_flags: vec![TcpFlags::SYN.with(TcpFlags::ACK)],
            ip_version: vec![IpVersion::V6],
            traffic_direction: vec![TrafficDirection::Ingress],
            http_status_code: vec!["5+".into()],
            destination_workload: vec![WorkloadSpec {
                name: "web".into(),
                kind: "Deployment".into(),
            }],
            ..FilterSpec::default()
        };
        let back = filter_from_proto(&filter_to_proto(&spec)).expect("valid");
        assert_eq!(back, spec);
    }

    #[test]
    fn unknown_enum_values_are_rejected() {
        let f = pb::FlowFilter {
            verdict: vec![99],
            ..pb::FlowFilter::default()
        };
        let err = filter_from_proto(&f).expect_err("unknown verdict");
        assert!(err.to_string().contains("unknown verdict"), "{err}");
        let f = pb::FlowFilter {
            ip_version: vec![0],
            ..pb::FlowFilter::default()
        };
        assert!(filter_from_proto(&f).is_err());
    }

    #[test]
    fn timestamps_round_trip_and_reject_bad_nanos() {
        let t = UNIX_EPOCH + Duration::new(1_700_000_000, 123);
        assert_eq!(system_time("since", &timestamp(t)).expect("valid"), t);
        let bad = prost_types::Timestamp {
            seconds: 1,
            nanos: -1,
        };
        assert!(system_time("since", &bad).is_err());
    }
}
