//! Access log fields: their names and how each is read from a flow.

use std::fmt::Write as _;

use serde_json::{Map, Value};

use crate::Error;
use crate::flow::Flow;

/// One column of an access log line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    /// RFC 3339 time with milliseconds (UTC).
    Time,
    /// Client `ip:port`.
    Client,
    /// Gateway `namespace/name`.
    Gateway,
    Listener,
    /// Route `Kind namespace/name`.
    Route,
    /// Backend Service `namespace/name`.
    Service,
    /// Backend endpoint `ip:port` the request went to.
    Backend,
    Method,
    Path,
    /// Request host (`:authority`).
    Authority,
    /// `HTTP/1.1`, `HTTP/2`, ...
    Protocol,
    Status,
    /// gRPC status of the response, when gRPC.
    GrpcStatus,
    /// Request to response, in milliseconds (fractional).
    LatencyMs,
    Verdict,
    DropReason,
    TraceId,
}

/// Every field, in the order of a default line.
pub const ALL: &[Field] = &[
    Field::Time,
    Field::Client,
    Field::Gateway,
    Field::Listener,
    Field::Route,
    Field::Service,
    Field::Backend,
    Field::Method,
    Field::Path,
    Field::Authority,
    Field::Protocol,
    Field::Status,
    Field::GrpcStatus,
    Field::LatencyMs,
    Field::Verdict,
    Field::DropReason,
    Field::TraceId,
];

impl Field {
    /// The JSON key (also the `--access-log-fields` spelling).
    pub fn name(self) -> &'static str {
        match self {
            Field::Time => "time",
            Field::Client => "client",
            Field::Gateway => "gateway",
            Field::Listener => "listener",
            Field::Route => "route",
            Field::Service => "service",
            Field::Backend => "backend",
            Field::Method => "method",
            Field::Path => "path",
            Field::Authority => "authority",
            Field::Protocol => "protocol",
            Field::Status => "status",
            Field::GrpcStatus => "grpc_status",
            Field::LatencyMs => "latency_ms",
            Field::Verdict => "verdict",
            Field::DropReason => "drop_reason",
            Field::TraceId => "trace_id",
        }
    }

    /// Looks a field up by its name.
    pub fn parse(name: &str) -> Option<Field> {
        ALL.iter().copied().find(|f| f.name() == name)
    }

    /// The value of this field for `flow`; `Null` when the flow lacks it.
    pub fn value(self, flow: &Flow) -> Value {
        let http = flow.http();
        let ports = flow.l4.and_then(|l4| l4.ports());
        match self {
            Field::Time => Value::String(humantime::format_rfc3339_millis(flow.time).to_string()),
            Field::Client => match (flow.ip, ports) {
                (Some(ip), Some((sport, _))) => {
                    Value::String(std::net::SocketAddr::new(ip.source, sport).to_string())
                }
                (Some(ip), None) => Value::String(ip.source.to_string()),
                _ => Value::Null,
            },
            Field::Gateway => flow.gateway.as_ref().map_or(Value::Null, |g| {
                Value::String(format!("{}/{}", g.namespace, g.name))
            }),
            Field::Listener => flow
                .gateway
                .as_ref()
                .and_then(|g| g.listener.as_deref())
                .map_or(Value::Null, |l| Value::String(l.to_owned())),
            Field::Route => flow.route.as_ref().map_or(Value::Null, |r| {
                Value::String(format!("{} {}/{}", r.kind, r.namespace, r.name))
            }),
            Field::Service => flow.destination_service.as_ref().map_or(Value::Null, |s| {
                Value::String(format!("{}/{}", s.namespace, s.name))
            }),
            // Without a Service the destination is the gateway itself, not a backend.
            Field::Backend => match (flow.destination_service.as_ref(), flow.ip, ports) {
                (Some(_), Some(ip), Some((_, dport))) => {
                    Value::String(std::net::SocketAddr::new(ip.destination, dport).to_string())
                }
                _ => Value::Null,
            },
            Field::Method => http.map_or(Value::Null, |h| Value::String(h.method.to_string())),
            Field::Path => http.map_or(Value::Null, |h| Value::String(h.path().to_owned())),
            Field::Authority => flow
                .destination_names
                .first()
                .map_or(Value::Null, |n| Value::String(n.to_string())),
            Field::Protocol => http.map_or(Value::Null, |h| Value::String(h.protocol.to_owned())),
            Field::Status => match http {
                Some(h) if h.code != 0 => Value::from(h.code),
                _ => Value::Null,
            },
            Field::GrpcStatus => http
                .and_then(|h| h.grpc.as_ref())
                .and_then(|g| g.status)
                .map_or(Value::Null, Value::from),
            Field::LatencyMs => {
                flow.l7
                    .as_ref()
                    .and_then(|l7| l7.latency)
                    .map_or(Value::Null, |d| {
                        // Microsecond precision is plenty for a log line.
                        Value::from((d.as_micros() as f64) / 1000.0)
                    })
            }
            Field::Verdict => Value::String(flow.verdict.as_str().to_owned()),
            Field::DropReason => flow
                .drop_reason
                .map_or(Value::Null, |r| Value::String(r.name().into_owned())),
            Field::TraceId => flow
                .trace_id
                .as_deref()
                .map_or(Value::Null, |t| Value::String(t.to_owned())),
        }
    }
}

/// Parses `a,b,c` (spaces allowed, empty items ignored). An empty list or
/// an unknown name is an error naming the valid fields.
pub fn parse_list(list: &str) -> Result<Vec<Field>, Error> {
    let mut out = Vec::new();
    for name in list.split(',').map(str::trim).filter(|n| !n.is_empty()) {
        let field = Field::parse(name).ok_or_else(|| Error::AccessLogField {
            name: name.to_owned(),
            valid: valid_names(),
        })?;
        if !out.contains(&field) {
            out.push(field);
        }
    }
    if out.is_empty() {
        return Err(Error::AccessLogField {
            name: list.to_owned(),
            valid: valid_names(),
        });
    }
    Ok(out)
}

fn valid_names() -> String {
    let mut s = String::new();
    for (i, f) in ALL.iter().enumerate() {
        if i > 0 {
            s.push_str(", ");
        }
        let _ = write!(s, "{}", f.name());
    }
    s
}

/// The object for one flow with `fields` in order (absent values as `null`,
/// so every line has the same keys).
pub fn object(flow: &Flow, fields: &[Field]) -> Map<String, Value> {
    fields
        .iter()
        .map(|f| (f.name().to_owned(), f.value(flow)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::accesslog::tests_support::http_flow;
    use crate::flow::{DropReason, Verdict};

    #[test]
    fn every_field_reads_the_flow() {
        let obj = object(&http_flow(200, Verdict::Forwarded), ALL);
        let v = Value::Object(obj);
        assert_eq!(v["time"], "2023-11-14T22:13:20.123Z");
        assert_eq!(v["client"], "127.0.0.1:40000");
        assert_eq!(v["gateway"], "infra/gw");
        assert_eq!(v["listener"], "http");
        assert_eq!(v["route"], "HTTPRoute shop/cart");
        assert_eq!(v["service"], "shop/cart");
        assert_eq!(v["backend"], "10.1.2.3:8080");
        assert_eq!(v["method"], "GET");
        assert_eq!(v["path"], "/cart");
        assert_eq!(v["authority"], "shop.example");
        assert_eq!(v["protocol"], "HTTP/1.1");
        assert_eq!(v["status"], 200);
        assert_eq!(v["grpc_status"], Value::Null);
        assert_eq!(v["latency_ms"], 1.5);
        assert_eq!(v["verdict"], "FORWARDED");
        assert_eq!(v["drop_reason"], Value::Null);
        assert_eq!(v["trace_id"], Value::Null);
    }

    #[test]
    fn a_dropped_request_has_no_backend() {
        let mut flow = http_flow(404, Verdict::Dropped);
        flow.destination_service = None;
        flow.route = None;
        flow.drop_reason = Some(DropReason::NO_CONFIGURATION);
        let v = Value::Object(object(&flow, ALL));
        assert_eq!(v["backend"], Value::Null);
        assert_eq!(v["route"], Value::Null);
        assert_eq!(v["status"], 404);
        assert_eq!(
            v["drop_reason"],
            "NO_CONFIGURATION_AVAILABLE_TO_PERFORM_POLICY_DECISION"
        );
    }

    #[test]
    fn field_lists_keep_order_and_reject_unknown_names() {
        let fields = parse_list("status, path,time,,status").expect("valid");
        assert_eq!(fields, vec![Field::Status, Field::Path, Field::Time]);
        let keys: Vec<String> = object(&http_flow(200, Verdict::Forwarded), &fields)
            .keys()
            .cloned()
            .collect();
        // serde_json without preserve_order sorts keys; the set is what matters.
        assert_eq!(keys.len(), 3);
        let err = parse_list("status,colour").expect_err("unknown");
        let msg = err.to_string();
        assert!(
            msg.contains("colour") && msg.contains("latency_ms"),
            "{msg}"
        );
        assert!(parse_list(" , ").is_err());
    }

    #[test]
    fn names_round_trip() {
        for f in ALL {
            assert_eq!(Field::parse(f.name()), Some(*f));
        }
    }
}
