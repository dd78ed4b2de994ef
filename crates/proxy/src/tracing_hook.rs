//! OpenTelemetry server spans for proxied HTTP/gRPC requests.
//!
//! [`start`] runs before routing when a tracer is configured: it continues
//! the caller's W3C trace (or starts one) and rewrites `traceparent` so the
//! backend sees the same trace id with this proxy's span as its parent
//! (`tracestate` is forwarded when valid, removed otherwise). [`end`] adds
//! what routing learned (gateway, route, backend) and the status, and
//! queues the span. The span ends when the response head is ready.
//! Without a tracer the handler never calls into this module.

use std::net::SocketAddr;

use http::{HeaderValue, Request, StatusCode, Version, header};
use portico_observe::trace::{ServerSpan, SpanStatus, Tracer};

use crate::flow::Trace;
use crate::router::host;

const TRACEPARENT: &str = "traceparent";
const TRACESTATE: &str = "tracestate";

/// A started span and what ending it needs.
pub(crate) struct RequestSpan {
    tracer: Tracer,
    span: ServerSpan,
    name: String,
}

/// Starts the request's span and sets the trace headers the backend gets.
pub(crate) fn start<B>(tracer: &Tracer, req: &mut Request<B>, peer: SocketAddr) -> RequestSpan {
    let headers = req.headers();
    // Several traceparent lines make the header invalid (W3C).
    let mut lines = headers.get_all(TRACEPARENT).iter();
    let traceparent = match (lines.next(), lines.next()) {
        (Some(v), None) => v.to_str().ok(),
        _ => None,
    };
    // Several tracestate lines form one list.
    let tracestate = traceparent.and_then(|_| {
        let parts: Vec<&str> = headers
            .get_all(TRACESTATE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect();
        (!parts.is_empty()).then(|| parts.join(","))
    });
    let mut span = tracer.start_span(traceparent, tracestate.as_deref());
    let name = req.method().as_str().to_owned();
    if span.is_sampled() {
        record_request(&mut span, req, peer);
    }
    let headers = req.headers_mut();
    if let Ok(v) = HeaderValue::try_from(span.traceparent().format()) {
        headers.insert(TRACEPARENT, v);
    }
    match span.trace_state().map(HeaderValue::from_str) {
        Some(Ok(v)) => {
            headers.insert(TRACESTATE, v);
        }
        _ => {
            headers.remove(TRACESTATE);
        }
    }
    RequestSpan {
        tracer: tracer.clone(),
        span,
        name,
    }
}

/// OpenTelemetry HTTP server semantic conventions, request side.
fn record_request<B>(span: &mut ServerSpan, req: &Request<B>, peer: SocketAddr) {
    span.set_str("http.request.method", req.method().as_str());
    span.set_str("url.path", req.uri().path());
    if let Some(q) = req.uri().query() {
        span.set_str("url.query", q);
    }
    let authority = match req.uri().authority() {
        Some(a) => Some(a.as_str()),
        None => req
            .headers()
            .get(header::HOST)
            .and_then(|v| v.to_str().ok()),
    };
    if let Some(raw) = authority {
        span.set_str("server.address", host::normalize(raw));
        if let Some(port) = raw
            .rsplit_once(':')
            .and_then(|(_, p)| p.parse::<u16>().ok())
        {
            span.set_int("server.port", i64::from(port));
        }
    }
    span.set_str(
        "network.protocol.version",
        match req.version() {
            Version::HTTP_2 => "2",
            Version::HTTP_10 => "1.0",
            _ => "1.1",
        },
    );
    span.set_str("client.address", peer.ip().to_string());
    span.set_int("client.port", i64::from(peer.port()));
    if let Some(ua) = req
        .headers()
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
    {
        span.set_str("user_agent.original", ua);
    }
}

/// Ends the span with the response status and Portico's attribution.
pub(crate) fn end(span: Option<RequestSpan>, trace: &Trace, status: StatusCode) {
    let Some(RequestSpan {
        tracer,
        mut span,
        name,
    }) = span
    else {
        return;
    };
    if span.is_sampled() {
        span.set_int("http.response.status_code", i64::from(status.as_u16()));
        if status.is_server_error() {
            span.set_str("error.type", status.as_str());
        }
        if let Some(g) = &trace.gateway {
            span.set_str("portico.gateway", format!("{}/{}", g.namespace, g.name));
            if let Some(l) = &g.listener {
                span.set_str("portico.listener", l.as_ref());
            }
        }
        if let Some(r) = &trace.route {
            span.set_str(
                "portico.route",
                format!("{}/{}/{}", r.kind, r.namespace, r.name),
            );
        }
        if let Some(s) = &trace.service {
            span.set_str("portico.backend", format!("{}/{}", s.namespace, s.name));
        }
        if let Some(e) = trace.endpoint {
            span.set_str("portico.backend.endpoint", e.to_string());
        }
    }
    // HTTP server spans: only 5xx is an error (4xx is the client's).
    let status = if status.is_server_error() {
        SpanStatus::Error
    } else {
        SpanStatus::Unset
    };
    tracer.end_span(span, name, status);
}

#[cfg(test)]
mod tests {
    use super::*;
    use portico_observe::trace::{AttrValue, Sampler, TraceMetrics, TraceParent};

    const PARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    fn attr<'a>(attrs: &'a [(&'static str, AttrValue)], key: &str) -> Option<&'a AttrValue> {
        attrs.iter().find(|(k, _)| *k == key).map(|(_, v)| v)
    }

    #[test]
    fn continues_the_callers_trace_and_rewrites_the_headers() {
        let (tracer, mut rx) = Tracer::channel(Sampler::ratio(1.0), 8, TraceMetrics::default());
        let mut req = Request::builder()
            .method("POST")
            .uri("/api/items?x=1")
            .header("host", "Shop.Example.com:8080")
            .header(TRACEPARENT, PARENT)
            .header(TRACESTATE, "rojo=1")
            .header(TRACESTATE, "congo=2")
            .body(())
            .expect("request");
        let span = start(&tracer, &mut req, "192.0.2.7:5555".parse().expect("addr"));
        let sent = TraceParent::parse(
            req.headers()
                .get(TRACEPARENT)
                .and_then(|v| v.to_str().ok())
                .expect("traceparent"),
        )
        .expect("valid");
        assert_eq!(sent.trace_id.to_hex(), "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(sent.parent_id, span.span.span_id());
        assert_eq!(
            req.headers().get(TRACESTATE).map(HeaderValue::as_bytes),
            Some(&b"rojo=1,congo=2"[..])
        );
        end(Some(span), &Trace::default(), StatusCode::BAD_GATEWAY);
        let rec = rx.try_recv().expect("span");
        assert_eq!(rec.name, "POST");
        assert_eq!(rec.span_id, sent.parent_id);
        assert_eq!(rec.status, SpanStatus::Error);
        assert_eq!(
            attr(&rec.attributes, "server.address"),
            Some(&AttrValue::Str("shop.example.com".into()))
        );
        assert_eq!(
            attr(&rec.attributes, "server.port"),
            Some(&AttrValue::Int(8080))
        );
        assert_eq!(
            attr(&rec.attributes, "http.response.status_code"),
            Some(&AttrValue::Int(502))
        );
        assert_eq!(
            attr(&rec.attributes, "url.path"),
            Some(&AttrValue::Str("/api/items".into()))
        );
    }

    #[test]
    fn duplicate_or_malformed_traceparent_starts_a_new_trace() {
        let (tracer, _rx) = Tracer::channel(Sampler::ratio(1.0), 8, TraceMetrics::default());
        for headers in [
            vec![PARENT, PARENT],
            vec!["00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01"],
        ] {
            let mut b = Request::builder().uri("/").header(TRACESTATE, "rojo=1");
            for h in headers {
                b = b.header(TRACEPARENT, h);
            }
            let mut req = b.body(()).expect("request");
            let span = start(&tracer, &mut req, "192.0.2.7:5555".parse().expect("addr"));
            assert_eq!(span.span.parent(), None);
            assert_eq!(req.headers().get_all(TRACEPARENT).iter().count(), 1);
            assert_ne!(
                span.span.trace_id().to_hex(),
                "4bf92f3577b34da6a3ce929d0e0e4736"
            );
            assert!(
                req.headers().get(TRACESTATE).is_none(),
                "tracestate of an invalid parent is dropped"
            );
        }
    }
}
