//! Printing Hubble responses the way `hubble observe` does: `compact`
//! (one line per flow), `table` (aligned columns) and `json` (one object
//! per line with the protobuf field names, default values omitted).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{Map, Value, json};

use super::proto::flow as pb;
use super::proto::observer::GetFlowsResponse;
use super::proto::observer::get_flows_response::ResponseTypes;
use crate::flow::{EventType, TracePoint};

/// Output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Output {
    Compact,
    Table,
    Json,
}

fn time_of(ts: Option<&prost_types::Timestamp>) -> String {
    let Some(ts) = ts else {
        return "-".to_owned();
    };
    let secs = u64::try_from(ts.seconds).unwrap_or(0);
    let nanos = u32::try_from(ts.nanos).unwrap_or(0);
    let t: SystemTime = UNIX_EPOCH + Duration::new(secs, nanos);
    humantime::format_rfc3339_millis(t).to_string()
}

fn ports(flow: &pb::Flow) -> (Option<u32>, Option<u32>) {
    match flow.l4.as_ref().and_then(|l| l.protocol.as_ref()) {
        Some(pb::layer4::Protocol::Tcp(t)) => (Some(t.source_port), Some(t.destination_port)),
        Some(pb::layer4::Protocol::Udp(u)) => (Some(u.source_port), Some(u.destination_port)),
        Some(pb::layer4::Protocol::Sctp(s)) => (Some(s.source_port), Some(s.destination_port)),
        _ => (None, None),
    }
}

fn endpoint_text(
    ep: Option<&pb::Endpoint>,
    ip: &str,
    port: Option<u32>,
    names: &[String],
) -> String {
    let with_port = |base: &str| match port {
        Some(p) if p != 0 => format!("{base}:{p}"),
        _ => base.to_owned(),
    };
    match ep {
        Some(ep) if !ep.pod_name.is_empty() => {
            with_port(&format!("{}/{}", ep.namespace, ep.pod_name))
        }
        _ => match (ip.is_empty(), names.first()) {
            (false, Some(name)) => format!("{} ({name})", with_port(ip)),
            (false, None) => with_port(ip),
            (true, Some(name)) => with_port(name),
            (true, None) => "?".to_owned(),
        },
    }
}

fn event_text(flow: &pb::Flow) -> String {
    if let Some(l7) = &flow.l7 {
        let proto = match &l7.record {
            Some(pb::layer7::Record::Http(_)) => "http",
            None => "l7",
        };
        let kind = match pb::L7FlowType::try_from(l7.r#type) {
            Ok(pb::L7FlowType::Request) => "request",
            Ok(pb::L7FlowType::Response) => "response",
            Ok(pb::L7FlowType::Sample) => "sample",
            _ => "unknown",
        };
        return format!("{proto}-{kind}");
    }
    let et = flow.event_type.unwrap_or_default();
    match et.r#type {
        EventType::TRACE => TracePoint::from_sub_type(et.sub_type)
            .map_or("trace", TracePoint::cli_name)
            .to_owned(),
        EventType::DROP => "drop".to_owned(),
        EventType::POLICY_VERDICT => "policy-verdict".to_owned(),
        EventType::TRACE_SOCK => "trace-sock".to_owned(),
        EventType::ACCESS_LOG => "l7".to_owned(),
        other => format!("event-{other}"),
    }
}

fn verdict_text(flow: &pb::Flow) -> &'static str {
    pb::Verdict::try_from(flow.verdict).map_or("UNKNOWN", |v| v.as_str_name())
}

fn summary_text(flow: &pb::Flow) -> String {
    let mut s = flow.summary.clone();
    if flow.verdict == pb::Verdict::Dropped as i32 {
        if let Ok(reason) = pb::DropReason::try_from(flow.drop_reason_desc) {
            s = format!("{} {s}", reason.as_str_name()).trim().to_owned();
        } else if flow.drop_reason_desc != 0 {
            s = format!("DROP_REASON_{} {s}", flow.drop_reason_desc)
                .trim()
                .to_owned();
        }
    }
    if let Some(px) = &flow.portico
        && !px.gateway_name.is_empty()
    {
        s.push_str(&format!(
            " via {}/{}",
            px.gateway_namespace, px.gateway_name
        ));
        if !px.route_name.is_empty() {
            s.push_str(&format!(
                " {} {}/{}",
                px.route_kind, px.route_namespace, px.route_name
            ));
        }
    }
    s
}

fn sides(flow: &pb::Flow) -> (String, String) {
    let (sport, dport) = ports(flow);
    let ip = flow.ip.clone().unwrap_or_default();
    let src = endpoint_text(flow.source.as_ref(), &ip.source, sport, &flow.source_names);
    let dst = endpoint_text(
        flow.destination.as_ref(),
        &ip.destination,
        dport,
        &flow.destination_names,
    );
    (src, dst)
}

fn lost_text(lost: &pb::LostEvent) -> String {
    let source = pb::LostEventSource::try_from(lost.source)
        .map_or("UNKNOWN_LOST_EVENT_SOURCE", |s| s.as_str_name());
    format!("EVENTS LOST: {source} {}", lost.num_events_lost)
}

/// One compact line (no newline).
pub fn compact(resp: &GetFlowsResponse) -> Option<String> {
    match resp.response_types.as_ref()? {
        ResponseTypes::Flow(flow) => {
            let (src, dst) = sides(flow);
            let arrow = if flow.is_reply == Some(true) {
                "<-"
            } else {
                "->"
            };
            let (left, right) = if arrow == "<-" {
                (dst, src)
            } else {
                (src, dst)
            };
            Some(format!(
                "{}: {left} {arrow} {right} {} {} ({})",
                time_of(flow.time.as_ref()),
                event_text(flow),
                verdict_text(flow),
                summary_text(flow)
            ))
        }
        ResponseTypes::LostEvents(lost) => Some(format!(
            "{}: {}",
            time_of(resp.time.as_ref()),
            lost_text(lost)
        )),
        ResponseTypes::NodeStatus(ns) => Some(format!(
            "{}: node status: {}",
            time_of(resp.time.as_ref()),
            ns.message
        )),
    }
}

/// The table header.
pub fn table_header() -> String {
    table_row([
        "TIMESTAMP",
        "SOURCE",
        "DESTINATION",
        "TYPE",
        "VERDICT",
        "SUMMARY",
    ])
}

fn table_row(cols: [&str; 6]) -> String {
    format!(
        "{:<24}  {:<28}  {:<28}  {:<15}  {:<10}  {}",
        cols[0], cols[1], cols[2], cols[3], cols[4], cols[5]
    )
}

/// One table row (no newline).
pub fn table(resp: &GetFlowsResponse) -> Option<String> {
    match resp.response_types.as_ref()? {
        ResponseTypes::Flow(flow) => {
            let (src, dst) = sides(flow);
            Some(table_row([
                &time_of(flow.time.as_ref()),
                &src,
                &dst,
                &event_text(flow),
                verdict_text(flow),
                &summary_text(flow),
            ]))
        }
        ResponseTypes::LostEvents(lost) => Some(table_row([
            &time_of(resp.time.as_ref()),
            "",
            "",
            "lost-events",
            "",
            &lost_text(lost),
        ])),
        ResponseTypes::NodeStatus(_) => None,
    }
}

fn put(map: &mut Map<String, Value>, key: &str, value: Value) {
    let empty = match &value {
        Value::Null => true,
        Value::String(s) => s.is_empty(),
        Value::Number(n) => n.as_f64() == Some(0.0),
        Value::Bool(b) => !b,
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
    };
    if !empty {
        map.insert(key.to_owned(), value);
    }
}

fn ts_json(ts: Option<&prost_types::Timestamp>) -> Value {
    ts.map_or(Value::Null, |t| Value::String(time_of(Some(t))))
}

fn endpoint_json(ep: Option<&pb::Endpoint>) -> Value {
    let Some(ep) = ep else { return Value::Null };
    let mut m = Map::new();
    put(&mut m, "ID", json!(ep.id));
    put(&mut m, "identity", json!(ep.identity));
    put(&mut m, "namespace", json!(ep.namespace));
    put(&mut m, "labels", json!(ep.labels));
    put(&mut m, "pod_name", json!(ep.pod_name));
    let workloads: Vec<Value> = ep
        .workloads
        .iter()
        .map(|w| json!({"name": w.name, "kind": w.kind}))
        .collect();
    put(&mut m, "workloads", Value::Array(workloads));
    Value::Object(m)
}

/// A flow as JSON with Hubble's protobuf field names.
pub fn flow_json(flow: &pb::Flow) -> Value {
    let mut m = Map::new();
    put(&mut m, "time", ts_json(flow.time.as_ref()));
    put(&mut m, "uuid", json!(flow.uuid));
    put(&mut m, "verdict", json!(verdict_text(flow)));
    if let Ok(reason) = pb::DropReason::try_from(flow.drop_reason_desc)
        && flow.drop_reason_desc != 0
    {
        put(&mut m, "drop_reason", json!(flow.drop_reason));
        put(&mut m, "drop_reason_desc", json!(reason.as_str_name()));
    }
    if let Some(ip) = &flow.ip {
        let version =
            pb::IpVersion::try_from(ip.ip_version).map_or("IP_NOT_USED", |v| v.as_str_name());
        put(
            &mut m,
            "IP",
            json!({"source": ip.source, "destination": ip.destination, "ipVersion": version}),
        );
    }
    if let Some(proto) = flow.l4.as_ref().and_then(|l| l.protocol.as_ref()) {
        let l4 = match proto {
            pb::layer4::Protocol::Tcp(t) => {
                let f = t.flags.unwrap_or_default();
                let mut flags = Map::new();
                for (name, set) in [
                    ("FIN", f.fin),
                    ("SYN", f.syn),
                    ("RST", f.rst),
                    ("PSH", f.psh),
                    ("ACK", f.ack),
                    ("URG", f.urg),
                    ("ECE", f.ece),
                    ("CWR", f.cwr),
                    ("NS", f.ns),
                ] {
                    put(&mut flags, name, json!(set));
                }
                let mut tcp = Map::new();
                put(&mut tcp, "source_port", json!(t.source_port));
                put(&mut tcp, "destination_port", json!(t.destination_port));
                put(&mut tcp, "flags", Value::Object(flags));
                json!({"TCP": tcp})
            }
            pb::layer4::Protocol::Udp(u) => {
                json!({"UDP": {"source_port": u.source_port, "destination_port": u.destination_port}})
            }
            pb::layer4::Protocol::Sctp(s) => {
                json!({"SCTP": {"source_port": s.source_port, "destination_port": s.destination_port}})
            }
            pb::layer4::Protocol::IcmPv4(i) => {
                json!({"ICMPv4": {"type": i.r#type, "code": i.code}})
            }
            pb::layer4::Protocol::IcmPv6(i) => {
                json!({"ICMPv6": {"type": i.r#type, "code": i.code}})
            }
        };
        put(&mut m, "l4", l4);
    }
    put(&mut m, "source", endpoint_json(flow.source.as_ref()));
    put(
        &mut m,
        "destination",
        endpoint_json(flow.destination.as_ref()),
    );
    let flow_type = pb::FlowType::try_from(flow.r#type).map_or("UNKNOWN_TYPE", |t| t.as_str_name());
    put(&mut m, "Type", json!(flow_type));
    put(&mut m, "node_name", json!(flow.node_name));
    put(&mut m, "source_names", json!(flow.source_names));
    put(&mut m, "destination_names", json!(flow.destination_names));
    if let Some(l7) = &flow.l7 {
        let mut l = Map::new();
        let kind =
            pb::L7FlowType::try_from(l7.r#type).map_or("UNKNOWN_L7_TYPE", |t| t.as_str_name());
        put(&mut l, "type", json!(kind));
        put(&mut l, "latency_ns", json!(l7.latency_ns));
        if let Some(pb::layer7::Record::Http(h)) = &l7.record {
            let mut hm = Map::new();
            put(&mut hm, "code", json!(h.code));
            put(&mut hm, "method", json!(h.method));
            put(&mut hm, "url", json!(h.url));
            put(&mut hm, "protocol", json!(h.protocol));
            let headers: Vec<Value> = h
                .headers
                .iter()
                .map(|x| json!({"key": x.key, "value": x.value}))
                .collect();
            put(&mut hm, "headers", Value::Array(headers));
            l.insert("http".to_owned(), Value::Object(hm));
        }
        put(&mut m, "l7", Value::Object(l));
    }
    if let Some(is_reply) = flow.is_reply {
        m.insert("is_reply".to_owned(), json!(is_reply));
    }
    if let Some(et) = flow.event_type {
        put(
            &mut m,
            "event_type",
            json!({"type": et.r#type, "sub_type": et.sub_type}),
        );
    }
    for (key, svc) in [
        ("source_service", &flow.source_service),
        ("destination_service", &flow.destination_service),
    ] {
        if let Some(s) = svc {
            put(
                &mut m,
                key,
                json!({"name": s.name, "namespace": s.namespace}),
            );
        }
    }
    let dir = pb::TrafficDirection::try_from(flow.traffic_direction)
        .map_or("TRAFFIC_DIRECTION_UNKNOWN", |d| d.as_str_name());
    put(&mut m, "traffic_direction", json!(dir));
    if flow.trace_observation_point != 0
        && let Ok(p) = pb::TraceObservationPoint::try_from(flow.trace_observation_point)
    {
        put(&mut m, "trace_observation_point", json!(p.as_str_name()));
    }
    put(&mut m, "proxy_port", json!(flow.proxy_port));
    if let Some(tc) = flow.trace_context.as_ref().and_then(|t| t.parent.as_ref()) {
        put(
            &mut m,
            "trace_context",
            json!({"parent": {"trace_id": tc.trace_id}}),
        );
    }
    put(&mut m, "Summary", json!(flow.summary));
    if let Some(px) = &flow.portico {
        let mut p = Map::new();
        put(&mut p, "gateway_namespace", json!(px.gateway_namespace));
        put(&mut p, "gateway_name", json!(px.gateway_name));
        put(&mut p, "listener", json!(px.listener));
        put(&mut p, "route_kind", json!(px.route_kind));
        put(&mut p, "route_namespace", json!(px.route_namespace));
        put(&mut p, "route_name", json!(px.route_name));
        put(&mut p, "tls_sni", json!(px.tls_sni));
        put(&mut m, "portico", Value::Object(p));
    }
    Value::Object(m)
}

/// A filter as JSON with the protobuf field names (set fields only), as
/// `hubble observe --print-raw-filters` shows it.
pub fn filter_json(f: &pb::FlowFilter) -> Value {
    let mut m = Map::new();
    let strings = [
        ("uuid", &f.uuid),
        ("source_ip", &f.source_ip),
        ("source_pod", &f.source_pod),
        ("source_fqdn", &f.source_fqdn),
        ("source_label", &f.source_label),
        ("source_service", &f.source_service),
        ("destination_ip", &f.destination_ip),
        ("destination_pod", &f.destination_pod),
        ("destination_fqdn", &f.destination_fqdn),
        ("destination_label", &f.destination_label),
        ("destination_service", &f.destination_service),
        ("http_status_code", &f.http_status_code),
        ("protocol", &f.protocol),
        ("source_port", &f.source_port),
        ("destination_port", &f.destination_port),
        ("dns_query", &f.dns_query),
        ("http_method", &f.http_method),
        ("http_path", &f.http_path),
        ("node_name", &f.node_name),
        ("trace_id", &f.trace_id),
    ];
    for (key, values) in strings {
        put(&mut m, key, json!(values));
    }
    let verdicts: Vec<&str> = f
        .verdict
        .iter()
        .map(|v| pb::Verdict::try_from(*v).map_or("VERDICT_UNKNOWN", |v| v.as_str_name()))
        .collect();
    put(&mut m, "verdict", json!(verdicts));
    let events: Vec<Value> = f
        .event_type
        .iter()
        .map(|e| {
            if e.match_sub_type {
                json!({"type": e.r#type, "match_sub_type": true, "sub_type": e.sub_type})
            } else {
                json!({"type": e.r#type})
            }
        })
        .collect();
    put(&mut m, "event_type", Value::Array(events));
    put(&mut m, "reply", json!(f.reply));
    put(&mut m, "source_identity", json!(f.source_identity));
    put(
        &mut m,
        "destination_identity",
        json!(f.destination_identity),
    );
    Value::Object(m)
}

/// One JSON line for a response (no newline).
pub fn json_line(resp: &GetFlowsResponse) -> Option<String> {
    let mut m = Map::new();
    match resp.response_types.as_ref()? {
        ResponseTypes::Flow(flow) => {
            m.insert("flow".to_owned(), flow_json(flow));
        }
        ResponseTypes::LostEvents(lost) => {
            let source = pb::LostEventSource::try_from(lost.source)
                .map_or("UNKNOWN_LOST_EVENT_SOURCE", |s| s.as_str_name());
            m.insert(
                "lost_events".to_owned(),
                json!({"source": source, "num_events_lost": lost.num_events_lost}),
            );
        }
        ResponseTypes::NodeStatus(ns) => {
            m.insert(
                "node_status".to_owned(),
                json!({"message": ns.message, "node_names": ns.node_names}),
            );
        }
    }
    put(&mut m, "node_name", json!(resp.node_name));
    put(&mut m, "time", ts_json(resp.time.as_ref()));
    Some(Value::Object(m).to_string())
}

/// Formats one response in `output` (no newline); `None` to skip it.
pub fn render(resp: &GetFlowsResponse, output: Output) -> Option<String> {
    match output {
        Output::Compact => compact(resp),
        Output::Table => table(resp),
        Output::Json => json_line(resp),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::flow::filter::test_support::recorded;
    use crate::flow::{
        DropReason, Endpoint, Flow, GatewayRef, HttpInfo, IpInfo, L7Record, L7Type, Layer4, Layer7,
        RouteRef, TcpFlags, Verdict,
    };
    use crate::hubble::convert::{flow_to_proto, timestamp};

    fn response(flow: Flow) -> GetFlowsResponse {
        let r = recorded(flow);
        GetFlowsResponse {
            node_name: "portico".into(),
            time: Some(timestamp(r.flow.time)),
            response_types: Some(ResponseTypes::Flow(flow_to_proto(&r))),
        }
    }

    fn http() -> Flow {
        Flow {
            time: UNIX_EPOCH + Duration::from_secs(1_700_000_000),
            verdict: Verdict::Forwarded,
            ip: Some(IpInfo {
                source: "192.0.2.1".parse().expect("ip"),
                destination: "10.0.0.5".parse().expect("ip"),
            }),
            l4: Some(Layer4::Tcp {
                source_port: 40000,
                destination_port: 8080,
                flags: TcpFlags::default(),
            }),
            l7: Some(Layer7 {
                kind: L7Type::Response,
                latency: Some(Duration::from_millis(4)),
                record: L7Record::Http(HttpInfo {
                    code: 200,
                    method: "GET".into(),
                    url: "http://a.example/x".into(),
                    protocol: "HTTP/1.1",
                    ..HttpInfo::default()
                }),
            }),
            destination: Some(Arc::new(Endpoint {
                namespace: Some("shop".into()),
                pod_name: Some("web-1".into()),
                ..Endpoint::default()
            })),
            gateway: Some(GatewayRef {
                namespace: "infra".into(),
                name: "gw".into(),
                listener: None,
            }),
            route: Some(RouteRef {
                kind: "HTTPRoute",
                namespace: "shop".into(),
                name: "r".into(),
            }),
            ..Flow::default()
        }
    }

    #[test]
    fn compact_line() {
        let line = compact(&response(http())).expect("line");
        assert_eq!(
            line,
            "2023-11-14T22:13:20.000Z: 192.0.2.1:40000 -> shop/web-1:8080 http-response FORWARDED \
             (HTTP/1.1 200 4ms (GET http://a.example/x) via infra/gw HTTPRoute shop/r)"
        );
    }

    #[test]
    fn names_follow_the_address() {
        let f = Flow {
            destination: None,
            destination_names: vec!["shop.example".into()],
            gateway: None,
            route: None,
            ..http()
        };
        let line = compact(&response(f)).expect("line");
        assert!(
            line.contains("192.0.2.1:40000 -> 10.0.0.5:8080 (shop.example) http-response"),
            "{line}"
        );
    }

    #[test]
    fn drop_shows_reason_and_table_aligns() {
        let f = Flow {
            verdict: Verdict::Dropped,
            drop_reason: Some(DropReason::POLICY_DENIED),
            event_type: EventType::drop(DropReason::POLICY_DENIED),
            l7: None,
            ..http()
        };
        let line = compact(&response(f.clone())).expect("line");
        assert!(line.contains(" drop DROPPED (POLICY_DENIED"), "{line}");
        let row = table(&response(f)).expect("row");
        assert!(
            row.starts_with("2023-11-14T22:13:20.000Z  192.0.2.1:40000"),
            "{row}"
        );
        assert!(table_header().starts_with("TIMESTAMP"));
    }

    #[test]
    fn json_uses_proto_names_and_omits_defaults() {
        let line = json_line(&response(http())).expect("json");
        let v: Value = serde_json::from_str(&line).expect("valid json");
        assert_eq!(v["flow"]["verdict"], "FORWARDED");
        assert_eq!(v["flow"]["IP"]["source"], "192.0.2.1");
        assert_eq!(v["flow"]["l4"]["TCP"]["destination_port"], 8080);
        assert_eq!(v["flow"]["l7"]["http"]["code"], 200);
        assert_eq!(v["flow"]["destination"]["pod_name"], "web-1");
        assert_eq!(v["flow"]["Type"], "L7");
        assert_eq!(v["flow"]["portico"]["route_name"], "r");
        assert_eq!(v["node_name"], "portico");
        assert!(v["flow"].get("source").is_none(), "unset endpoint omitted");
        assert!(v["flow"].get("drop_reason_desc").is_none());
    }

    #[test]
    fn filter_json_lists_set_fields_only() {
        let f = pb::FlowFilter {
            source_ip: vec!["10.0.0.0/8".into()],
            verdict: vec![pb::Verdict::Dropped as i32],
            event_type: vec![pb::EventTypeFilter {
                r#type: 4,
                match_sub_type: true,
                sub_type: 0,
            }],
            ..pb::FlowFilter::default()
        };
        let v = filter_json(&f);
        assert_eq!(
            v,
            json!({
                "source_ip": ["10.0.0.0/8"],
                "verdict": ["DROPPED"],
                "event_type": [{"type": 4, "match_sub_type": true, "sub_type": 0}]
            })
        );
    }

    #[test]
    fn lost_events_render_in_every_format() {
        let resp = GetFlowsResponse {
            node_name: "portico".into(),
            time: Some(timestamp(UNIX_EPOCH)),
            response_types: Some(ResponseTypes::LostEvents(pb::LostEvent {
                source: pb::LostEventSource::HubbleRingBuffer as i32,
                num_events_lost: 12,
                cpu: None,
            })),
        };
        for out in [Output::Compact, Output::Table, Output::Json] {
            let text = render(&resp, out).expect("rendered");
            assert!(text.contains("12"), "{out:?}: {text}");
            assert!(text.contains("HUBBLE_RING_BUFFER"), "{out:?}: {text}");
        }
    }
}
