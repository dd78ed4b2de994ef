//! One flow record per request, handed to the observe crate's flow ring.
//! Nothing is built when the sink is disabled.

use std::borrow::Cow;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::SystemTime;

use http::{HeaderMap, HeaderName, Method, Request, Version};
use portico_observe::flow::{
    DropReason, EventType, Flow, FlowSink, GatewayRef, GrpcInfo, HttpInfo, IpInfo, L7Record,
    L7Type, Layer4, Layer7, RouteRef, ServiceRef, TcpFlags, TrafficDirection, Verdict,
};
use portico_observe::trace::TraceParent;
use tokio::time::Instant;

static TRACEPARENT: HeaderName = HeaderName::from_static("traceparent");

/// How the gateway disposed of a request.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Disposition {
    /// An upstream answered (whatever its status).
    #[default]
    Upstream,
    /// The gateway answered by design (redirect, CORS preflight).
    Answered,
    /// No listener or route matched.
    NoRoute,
    /// The cluster had no usable endpoint.
    NoEndpoint,
    /// Invalid backend, upstream failure or timeout.
    Error,
}

/// What the pipeline learned about a request, for its flow record.
#[derive(Debug, Default)]
pub struct Trace {
    pub gateway: Option<GatewayRef>,
    pub route: Option<RouteRef>,
    pub service: Option<ServiceRef>,
    pub endpoint: Option<SocketAddr>,
    pub disposition: Disposition,
}

/// The request facts captured before the request is consumed.
pub struct Start {
    at: Instant,
    time: SystemTime,
    method: Cow<'static, str>,
    url: String,
    host: Option<Arc<str>>,
    protocol: &'static str,
    grpc: Option<GrpcInfo>,
    /// From `traceparent` (which the tracing hook, when on, has already
    /// set to the proxy's span).
    trace_id: Option<Arc<str>>,
}

impl Start {
    pub fn capture<B>(req: &Request<B>, host: Option<Arc<str>>) -> Start {
        let path = req.uri().path_and_query().map_or("/", |p| p.as_str());
        let grpc = crate::local_reply::is_grpc(req.headers()).then(|| grpc_info(req.uri().path()));
        Start {
            at: Instant::now(),
            time: SystemTime::now(),
            method: method_name(req.method()),
            url: url(host.as_deref().unwrap_or(""), path),
            host,
            protocol: match req.version() {
                Version::HTTP_2 => "HTTP/2",
                Version::HTTP_10 => "HTTP/1.0",
                _ => "HTTP/1.1",
            },
            grpc,
            trace_id: req
                .headers()
                .get(&TRACEPARENT)
                .and_then(|v| v.to_str().ok())
                .and_then(TraceParent::parse)
                .map(|tp| Arc::from(tp.trace_id.to_hex())),
        }
    }

    pub fn finish(
        self,
        sink: &FlowSink,
        trace: Trace,
        peer: SocketAddr,
        local: SocketAddr,
        status: u16,
        response: &HeaderMap,
    ) {
        let (verdict, drop_reason) = match trace.disposition {
            Disposition::Upstream | Disposition::Answered => (Verdict::Forwarded, None),
            Disposition::NoRoute => (Verdict::Dropped, Some(DropReason::NO_CONFIGURATION)),
            Disposition::NoEndpoint => (
                Verdict::Dropped,
                Some(DropReason::SERVICE_BACKEND_NOT_FOUND),
            ),
            Disposition::Error => (Verdict::Error, None),
        };
        let grpc = self.grpc.map(|mut g| {
            g.status = response
                .get("grpc-status")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse().ok());
            g
        });
        let destination = trace.endpoint.unwrap_or(local);
        sink.emit(Flow {
            time: self.time,
            verdict,
            drop_reason,
            ip: Some(IpInfo {
                source: peer.ip(),
                destination: destination.ip(),
            }),
            l4: Some(Layer4::Tcp {
                source_port: peer.port(),
                destination_port: destination.port(),
                flags: TcpFlags::default(),
            }),
            l7: Some(Layer7 {
                kind: L7Type::Response,
                latency: Some(self.at.elapsed()),
                record: L7Record::Http(HttpInfo {
                    code: status,
                    method: self.method,
                    url: self.url,
                    protocol: self.protocol,
                    headers: Vec::new(),
                    grpc,
                }),
            }),
            destination_service: trace.service,
            destination_names: self.host.into_iter().collect(),
            gateway: trace.gateway,
            route: trace.route,
            is_reply: Some(true),
            event_type: match drop_reason {
                Some(r) => EventType::drop(r),
                None => EventType::l7(),
            },
            traffic_direction: TrafficDirection::Ingress,
            proxy_port: local.port(),
            trace_id: self.trace_id,
            ..Flow::default()
        });
    }
}

/// The standard methods as static text; others (rare) copied.
fn method_name(method: &Method) -> Cow<'static, str> {
    const STANDARD: [&str; 9] = [
        "GET", "POST", "PUT", "DELETE", "HEAD", "OPTIONS", "PATCH", "CONNECT", "TRACE",
    ];
    let name = method.as_str();
    STANDARD
        .into_iter()
        .find(|s| *s == name)
        .map_or_else(|| Cow::Owned(name.to_owned()), Cow::Borrowed)
}

/// `http://host/path?query`, sized once (no formatting machinery).
fn url(host: &str, path: &str) -> String {
    const SCHEME: &str = "http://";
    let mut url = String::with_capacity(SCHEME.len() + host.len() + path.len());
    url.push_str(SCHEME);
    url.push_str(host);
    url.push_str(path);
    url
}

/// `/package.Service/Method` → service and method.
fn grpc_info(path: &str) -> GrpcInfo {
    let mut parts = path.trim_start_matches('/').splitn(2, '/');
    GrpcInfo {
        service: parts.next().unwrap_or("").to_string(),
        method: parts.next().unwrap_or("").to_string(),
        status: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use portico_observe::flow::{FlowRing, RingConfig};

    #[test]
    fn records_a_request() {
        let ring = FlowRing::new(RingConfig::default()).unwrap();
        let req = http::Request::builder()
            .method("POST")
            .uri("/pkg.Greeter/Hello?x=1")
            .header("content-type", "application/grpc")
            .header(
                "traceparent",
                "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            )
            .body(())
            .unwrap();
        let start = Start::capture(&req, Some(Arc::from("api.example.com")));
        let mut resp = HeaderMap::new();
        resp.insert("grpc-status", "0".parse().unwrap());
        let trace = Trace {
            endpoint: Some("10.0.0.9:8080".parse().unwrap()),
            ..Default::default()
        };
        start.finish(
            &ring.sink(),
            trace,
            "192.0.2.1:5555".parse().unwrap(),
            "127.0.0.1:80".parse().unwrap(),
            200,
            &resp,
        );
        let flows = ring.snapshot();
        assert_eq!(flows.len(), 1);
        let f = &flows[0].flow;
        assert_eq!(f.verdict, Verdict::Forwarded);
        let http = f.http().unwrap();
        assert_eq!(http.url, "http://api.example.com/pkg.Greeter/Hello?x=1");
        assert!(matches!(http.method, Cow::Borrowed("POST")));
        let g = http.grpc.as_ref().unwrap();
        assert_eq!(
            (g.service.as_str(), g.method.as_str(), g.status),
            ("pkg.Greeter", "Hello", Some(0))
        );
        assert_eq!(f.ip.unwrap().destination.to_string(), "10.0.0.9");
        assert_eq!(f.proxy_port, 80);
        assert_eq!(
            f.trace_id.as_deref(),
            Some("4bf92f3577b34da6a3ce929d0e0e4736")
        );
    }

    #[test]
    fn extension_methods_are_copied() {
        let purge = Method::from_bytes(b"PURGE").unwrap();
        assert!(matches!(method_name(&purge), Cow::Owned(m) if m == "PURGE"));
        assert!(matches!(method_name(&Method::GET), Cow::Borrowed("GET")));
    }

    #[test]
    fn no_route_is_a_drop() {
        let ring = FlowRing::new(RingConfig::default()).unwrap();
        let req = http::Request::builder().uri("/").body(()).unwrap();
        let trace = Trace {
            disposition: Disposition::NoRoute,
            ..Default::default()
        };
        Start::capture(&req, None).finish(
            &ring.sink(),
            trace,
            "192.0.2.1:5555".parse().unwrap(),
            "127.0.0.1:80".parse().unwrap(),
            404,
            &HeaderMap::new(),
        );
        let f = &ring.snapshot()[0].flow;
        assert_eq!(f.verdict, Verdict::Dropped);
        assert_eq!(f.drop_reason, Some(DropReason::NO_CONFIGURATION));
    }
}
