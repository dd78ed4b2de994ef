//! Finished spans → one OTLP `ExportTraceServiceRequest`.

use std::time::{SystemTime, UNIX_EPOCH};

use super::proto::collector::ExportTraceServiceRequest;
use super::proto::common::{AnyValue, InstrumentationScope, KeyValue, any_value};
use super::proto::resource::Resource;
use super::proto::trace::{ResourceSpans, ScopeSpans, Span, Status, span, status};
use super::span::{AttrValue, SpanRecord, SpanStatus};

/// The instrumentation scope name Portico's spans carry.
pub const SCOPE: &str = "portico-proxy";

/// What every batch says about its producer.
#[derive(Clone, Debug)]
pub struct ResourceInfo {
    pub service_name: String,
    pub service_version: String,
}

fn kv(key: &str, value: AttrValue) -> KeyValue {
    KeyValue {
        key: key.to_owned(),
        value: Some(AnyValue {
            value: Some(match value {
                AttrValue::Str(s) => any_value::Value::StringValue(s),
                AttrValue::Int(i) => any_value::Value::IntValue(i),
            }),
        }),
    }
}

fn unix_nanos(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

fn span(r: SpanRecord) -> Span {
    Span {
        trace_id: r.trace_id.0.to_vec(),
        span_id: r.span_id.0.to_vec(),
        trace_state: r.trace_state.unwrap_or_default(),
        parent_span_id: r.parent_span_id.map(|p| p.0.to_vec()).unwrap_or_default(),
        flags: u32::from(r.flags),
        name: r.name,
        kind: span::SpanKind::Server as i32,
        start_time_unix_nano: unix_nanos(r.start),
        end_time_unix_nano: unix_nanos(r.end),
        attributes: r.attributes.into_iter().map(|(k, v)| kv(k, v)).collect(),
        dropped_attributes_count: 0,
        events: Vec::new(),
        dropped_events_count: 0,
        links: Vec::new(),
        dropped_links_count: 0,
        status: match r.status {
            SpanStatus::Unset => None,
            SpanStatus::Error => Some(Status {
                message: String::new(),
                code: status::StatusCode::Error as i32,
            }),
        },
    }
}

/// One request carrying `spans` under Portico's resource and scope.
pub fn request(resource: &ResourceInfo, spans: Vec<SpanRecord>) -> ExportTraceServiceRequest {
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(Resource {
                attributes: vec![
                    kv(
                        "service.name",
                        AttrValue::Str(resource.service_name.clone()),
                    ),
                    kv(
                        "service.version",
                        AttrValue::Str(resource.service_version.clone()),
                    ),
                    kv("telemetry.sdk.name", AttrValue::Str("portico".into())),
                    kv("telemetry.sdk.language", AttrValue::Str("rust".into())),
                ],
                dropped_attributes_count: 0,
            }),
            scope_spans: vec![ScopeSpans {
                scope: Some(InstrumentationScope {
                    name: SCOPE.to_owned(),
                    version: resource.service_version.clone(),
                    attributes: Vec::new(),
                    dropped_attributes_count: 0,
                }),
                spans: spans.into_iter().map(span).collect(),
                schema_url: String::new(),
            }],
            schema_url: String::new(),
        }],
    }
}

#[cfg(test)]
mod tests {
    use super::super::context::{SpanId, TraceId};
    use super::*;
    use std::time::Duration;

    #[test]
    fn encodes_ids_times_kind_and_attributes() {
        let start = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let rec = SpanRecord {
            trace_id: TraceId([7; 16]),
            span_id: SpanId([8; 8]),
            parent_span_id: None,
            trace_state: Some("k=v".into()),
            flags: 1,
            name: "GET".into(),
            start,
            end: start + Duration::from_millis(3),
            attributes: vec![
                ("http.request.method", AttrValue::Str("GET".into())),
                ("http.response.status_code", AttrValue::Int(503)),
            ],
            status: SpanStatus::Error,
        };
        let req = request(
            &ResourceInfo {
                service_name: "gw".into(),
                service_version: "1".into(),
            },
            vec![rec],
        );
        let rs = &req.resource_spans[0];
        let res = rs.resource.as_ref().expect("resource");
        assert_eq!(res.attributes[0].key, "service.name");
        let s = &rs.scope_spans[0].spans[0];
        assert_eq!(s.trace_id, vec![7; 16]);
        assert!(s.parent_span_id.is_empty(), "a root span has no parent");
        assert_eq!(s.kind, span::SpanKind::Server as i32);
        assert_eq!(s.end_time_unix_nano - s.start_time_unix_nano, 3_000_000);
        assert_eq!(s.trace_state, "k=v");
        assert_eq!(
            s.attributes[1].value.as_ref().and_then(|v| v.value.clone()),
            Some(any_value::Value::IntValue(503))
        );
        assert_eq!(
            s.status.as_ref().map(|st| st.code),
            Some(status::StatusCode::Error as i32)
        );
    }
}
