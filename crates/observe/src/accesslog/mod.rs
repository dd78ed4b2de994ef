//! Access logs: one JSON line per HTTP/gRPC request, read from the flow
//! ring.
//!
//! The writer is a ring subscriber like `portico observe --follow`: the
//! data path only pushes into the ring and never waits for it. When the
//! writer falls behind (a slow disk, a stuck pipe) the ring's broadcast
//! channel overwrites what it has not read; the writer counts those lines
//! as lost ([`AccessLog::lost`]) and logs a warning instead of slowing
//! requests down.
//!
//! ```no_run
//! # async fn wire(ring: &portico_observe::flow::FlowRing) -> Result<(), portico_observe::Error> {
//! use portico_observe::accesslog::{self, AccessLog, Destination};
//! let fields = accesslog::parse_fields("time,client,route,status,latency_ms")?;
//! let log = AccessLog::start(ring, Destination::Stdout, fields).await?;
//! // ... on shutdown:
//! log.shutdown().await;
//! # Ok(())
//! # }
//! ```

mod field;
mod writer;

pub use field::{ALL as ALL_FIELDS, Field, object, parse_list as parse_fields};
pub use writer::{AccessLog, Destination};

use crate::flow::Flow;

/// Whether a flow gets an access log line: HTTP and gRPC exchanges only
/// (L4 and policy flows are for `portico observe`).
pub fn wanted(flow: &Flow) -> bool {
    flow.http().is_some()
}

/// One JSON line (without the newline) with `fields` in the given order.
pub fn line(flow: &Flow, fields: &[Field]) -> String {
    let mut out = String::with_capacity(64 * fields.len().max(1));
    out.push('{');
    for (i, f) in fields.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        // Serialising a &str or a serde_json::Value cannot fail.
        out.push_str(&serde_json::to_string(f.name()).unwrap_or_default());
        out.push(':');
        out.push_str(&serde_json::to_string(&f.value(flow)).unwrap_or_else(|_| "null".into()));
    }
    out.push('}');
    out
}

/// Flows for tests of this crate.
#[cfg(test)]
pub(crate) mod tests_support {
    use std::sync::Arc;
    use std::time::{Duration, UNIX_EPOCH};

    use crate::flow::{
        Flow, GatewayRef, HttpInfo, IpInfo, L7Record, L7Type, Layer4, Layer7, RouteRef, ServiceRef,
        TcpFlags, Verdict,
    };

    pub(crate) fn http_flow(code: u16, verdict: Verdict) -> Flow {
        Flow {
            time: UNIX_EPOCH + Duration::from_millis(1_700_000_000_123),
            verdict,
            ip: Some(IpInfo {
                source: "127.0.0.1".parse().expect("ip"),
                destination: "10.1.2.3".parse().expect("ip"),
            }),
            l4: Some(Layer4::Tcp {
                source_port: 40000,
                destination_port: 8080,
                flags: TcpFlags::default(),
            }),
            l7: Some(Layer7 {
                kind: L7Type::Response,
                latency: Some(Duration::from_micros(1500)),
                record: L7Record::Http(HttpInfo {
                    code,
                    method: "GET".into(),
                    url: "http://shop.example/cart?id=1".into(),
                    protocol: "HTTP/1.1",
                    headers: Vec::new(),
                    grpc: None,
                }),
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
            destination_service: Some(ServiceRef {
                namespace: "shop".into(),
                name: "cart".into(),
            }),
            destination_names: vec![Arc::from("shop.example")],
            ..Flow::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::Value;

    use super::*;
    use crate::flow::{Flow, Verdict};

    #[test]
    fn lines_are_json_in_the_configured_order() {
        let flow = tests_support::http_flow(503, Verdict::Forwarded);
        let fields = parse_fields("status,path,verdict,backend").expect("fields");
        let l = line(&flow, &fields);
        assert_eq!(
            l,
            r#"{"status":503,"path":"/cart","verdict":"FORWARDED","backend":"10.1.2.3:8080"}"#
        );
        let v: Value = serde_json::from_str(&l).expect("valid JSON");
        assert_eq!(v["status"], 503);
    }

    #[test]
    fn quotes_and_control_characters_are_escaped() {
        let mut flow = tests_support::http_flow(200, Verdict::Forwarded);
        if let Some(crate::flow::Layer7 {
            record: crate::flow::L7Record::Http(h),
            ..
        }) = &mut flow.l7
        {
            h.url = "http://x/a\"b\nc".into();
        }
        let l = line(&flow, &[Field::Path]);
        assert!(!l.contains('\n'), "{l}");
        let v: Value = serde_json::from_str(&l).expect("valid JSON");
        assert_eq!(v["path"], "/a\"b\nc");
    }

    #[test]
    fn only_http_flows_are_logged() {
        assert!(wanted(&tests_support::http_flow(200, Verdict::Forwarded)));
        assert!(!wanted(&Flow::default()));
    }
}
