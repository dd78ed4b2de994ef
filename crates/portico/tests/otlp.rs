//! OpenTelemetry traces end to end: `portico run --otlp-endpoint` against an
//! in-process fake OTLP/gRPC collector (TraceService/Export on port 0) and
//! an echo backend. Requests with and without a W3C `traceparent`; the
//! collector must receive server spans with the right ids and attributes,
//! and the backend must see a `traceparent` naming the proxy's span.

mod common;

use common::http_request;

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use portico_observe::trace::proto::collector::trace_service_server::{
    TraceService, TraceServiceServer,
};
use portico_observe::trace::proto::collector::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use portico_observe::trace::proto::common::{KeyValue, any_value};
use portico_observe::trace::proto::trace::{Span, span};
use portico_testkit::{EchoBackend, Identity, eventually, manifests};
use serde_json::Value;
use tokio::net::TcpListener;
use tokio::process::Child;

const DEADLINE: Duration = Duration::from_secs(30);
const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const CALLER_SPAN: &str = "00f067aa0ba902b7";

/// Export requests received, in order.
#[derive(Clone, Default)]
struct Collector {
    received: Arc<Mutex<Vec<ExportTraceServiceRequest>>>,
}

#[tonic::async_trait]
impl TraceService for Collector {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        self.received.lock().push(request.into_inner());
        Ok(tonic::Response::new(ExportTraceServiceResponse {
            partial_success: None,
        }))
    }
}

impl Collector {
    async fn start() -> (Collector, SocketAddr) {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let collector = Collector::default();
        let service = TraceServiceServer::new(collector.clone());
        tokio::spawn(
            tonic::transport::Server::builder()
                .add_service(service)
                .serve_with_incoming(tonic::transport::server::TcpIncoming::from(listener)),
        );
        (collector, addr)
    }

    /// Every span received so far, with its resource's service.name.
    fn spans(&self) -> Vec<(String, Span)> {
        let mut out = Vec::new();
        for req in self.received.lock().iter() {
            for rs in &req.resource_spans {
                let service = rs
                    .resource
                    .as_ref()
                    .and_then(|r| string_attr(&r.attributes, "service.name"))
                    .unwrap_or_default();
                for ss in &rs.scope_spans {
                    for s in &ss.spans {
                        out.push((service.clone(), s.clone()));
                    }
                }
            }
        }
        out
    }
}

fn string_attr(attrs: &[KeyValue], key: &str) -> Option<String> {
    attrs
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| kv.value.as_ref())
        .and_then(|v| match &v.value {
            Some(any_value::Value::StringValue(s)) => Some(s.clone()),
            _ => None,
        })
}

fn int_attr(attrs: &[KeyValue], key: &str) -> Option<i64> {
    attrs
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| kv.value.as_ref())
        .and_then(|v| match v.value {
            Some(any_value::Value::IntValue(i)) => Some(i),
            _ => None,
        })
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port()
}

fn write(path: &Path, text: &str) {
    let tmp = path.with_extension("tmp~");
    std::fs::write(&tmp, text).expect("write");
    std::fs::rename(&tmp, path).expect("rename");
}

/// A Gateway on 127.0.0.1:`port` routing `/app` to Service `echo`.
fn config(dir: &Path, port: u16, backend: &EchoBackend) {
    write(
        &dir.join("gateway.yaml"),
        &format!(
            r#"apiVersion: gateway.networking.k8s.io/v1
kind: GatewayClass
metadata:
  name: portico
spec:
  controllerName: portico.dev/gateway-controller
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata:
  name: gw
spec:
  gatewayClassName: portico
  addresses:
  - type: IPAddress
    value: 127.0.0.1
  listeners:
  - name: http
    protocol: HTTP
    port: {port}
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: app
spec:
  parentRefs:
  - name: gw
  rules:
  - matches:
    - path:
        type: PathPrefix
        value: /app
    backendRefs:
    - name: echo
      port: 8080
"#
        ),
    );
    write(
        &dir.join("backend.yaml"),
        &manifests::service("default", "echo", 8080, "TCP", None, &[backend.into()]),
    );
}

/// `portico run` with tracing on, killed on drop.
struct Instance {
    child: Child,
    admin: SocketAddr,
    _dir: tempfile::TempDir,
}

impl Drop for Instance {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
    }
}

impl Instance {
    async fn start(dir: tempfile::TempDir, otlp: &[&str]) -> Instance {
        let (child, admin) = common::spawn_run(dir.path(), "127.0.0.1:0", otlp, DEADLINE).await;
        Instance {
            child,
            admin,
            _dir: dir,
        }
    }

    async fn admin_get(&self, path: &str) -> String {
        http_request(self.admin, "admin", path, &[])
            .await
            .expect("admin request")
            .1
    }
}

/// Sends until the gateway serves it with 200 (the first config applies
/// asynchronously); returns the echo answer.
async fn echo_through(gateway: SocketAddr, path: &str, headers: &[(&str, &str)]) -> Value {
    let body = eventually(DEADLINE, || async {
        match http_request(gateway, "shop.example.com", path, headers).await {
            Ok((200, body)) => Ok(body),
            other => Err(format!("{other:?}")),
        }
    })
    .await
    .expect("request through the gateway");
    serde_json::from_str(&body).expect("echo JSON")
}

/// The single value of request header `name` the backend saw.
fn seen_header(echo: &Value, name: &str) -> String {
    echo["headers"][name][0]
        .as_str()
        .unwrap_or_else(|| panic!("backend saw no {name}: {echo}"))
        .to_string()
}

/// `00-<trace>-<parent>-<flags>` → (trace, parent, flags).
fn split_traceparent(v: &str) -> (String, String, String) {
    let parts: Vec<&str> = v.split('-').collect();
    assert_eq!(parts.len(), 4, "{v}");
    assert_eq!(parts[0], "00", "{v}");
    (parts[1].into(), parts[2].into(), parts[3].into())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spans_reach_the_collector_and_the_backend_sees_the_proxy_span() {
    let (collector, collector_addr) = Collector::start().await;
    let backend = EchoBackend::http(Identity::new("default", "echo"))
        .await
        .expect("echo backend");
    let port = free_port();
    let dir = tempfile::tempdir().expect("tempdir");
    config(dir.path(), port, &backend);
    let endpoint = format!("http://{collector_addr}");
    let gw = Instance::start(
        dir,
        &[
            "--otlp-endpoint",
            &endpoint,
            "--otlp-service-name",
            "edge-test",
            "--otlp-flush-interval",
            "100ms",
        ],
    )
    .await;
    let gateway: SocketAddr = format!("127.0.0.1:{port}").parse().expect("addr");

    // 1. A caller with a trace context: the trace continues.
    let incoming = format!("00-{TRACE_ID}-{CALLER_SPAN}-01");
    let echo = echo_through(
        gateway,
        "/app/with?x=1",
        &[
            ("traceparent", incoming.as_str()),
            ("tracestate", "vendor=abc"),
            ("user-agent", "otlp-test"),
        ],
    )
    .await;
    let (tid, proxy_span, flags) = split_traceparent(&seen_header(&echo, "Traceparent"));
    assert_eq!(tid, TRACE_ID, "same trace id at the backend");
    assert_ne!(
        proxy_span, CALLER_SPAN,
        "the proxy's own span is the parent"
    );
    assert_eq!(flags, "01");
    assert_eq!(seen_header(&echo, "Tracestate"), "vendor=abc");

    // 2. No trace context: a new trace starts at the proxy.
    let echo = echo_through(gateway, "/app/without", &[]).await;
    let (new_tid, new_span, new_flags) = split_traceparent(&seen_header(&echo, "Traceparent"));
    assert_ne!(new_tid, TRACE_ID);
    assert_eq!(new_flags, "01", "ratio 1.0 samples every new trace");

    // 3. A malformed traceparent is ignored: a new trace, not the bad one.
    let echo = echo_through(
        gateway,
        "/app/malformed",
        &[("traceparent", "00-ZZZ-bad-01")],
    )
    .await;
    let (bad_tid, _, _) = split_traceparent(&seen_header(&echo, "Traceparent"));
    assert_ne!(bad_tid, new_tid);

    // 4. No route: a 404 still gets a span and a flow attributed to the Gateway.
    let missing = format!("00-{TRACE_ID}-{CALLER_SPAN}-01");
    let (status, _) = http_request(
        gateway,
        "shop.example.com",
        "/nowhere",
        &[("traceparent", missing.as_str())],
    )
    .await
    .expect("404 request");
    assert_eq!(status, 404);

    let spans = eventually(DEADLINE, || async {
        let spans = collector.spans();
        if spans.len() >= 4 {
            Ok(spans)
        } else {
            Err(format!("{} spans so far", spans.len()))
        }
    })
    .await
    .expect("spans exported");
    let find = |path: &str| {
        spans
            .iter()
            .find(|(_, s)| string_attr(&s.attributes, "url.path").as_deref() == Some(path))
            .unwrap_or_else(|| panic!("no span for {path}: {spans:?}"))
    };

    let (service, s) = find("/app/with");
    assert_eq!(service, "edge-test");
    assert_eq!(hex(&s.trace_id), TRACE_ID);
    assert_eq!(hex(&s.parent_span_id), CALLER_SPAN);
    assert_eq!(hex(&s.span_id), proxy_span);
    assert_eq!(s.kind, span::SpanKind::Server as i32);
    assert_eq!(s.name, "GET");
    assert_eq!(s.trace_state, "vendor=abc");
    assert!(s.end_time_unix_nano >= s.start_time_unix_nano);
    let a = &s.attributes;
    assert_eq!(
        string_attr(a, "http.request.method").as_deref(),
        Some("GET")
    );
    assert_eq!(int_attr(a, "http.response.status_code"), Some(200));
    assert_eq!(
        string_attr(a, "server.address").as_deref(),
        Some("shop.example.com")
    );
    assert_eq!(string_attr(a, "url.query").as_deref(), Some("x=1"));
    assert_eq!(
        string_attr(a, "user_agent.original").as_deref(),
        Some("otlp-test")
    );
    assert_eq!(
        string_attr(a, "portico.gateway").as_deref(),
        Some("default/gw")
    );
    assert_eq!(string_attr(a, "portico.listener").as_deref(), Some("http"));
    assert_eq!(
        string_attr(a, "portico.route").as_deref(),
        Some("HTTPRoute/default/app")
    );
    assert_eq!(
        string_attr(a, "portico.backend").as_deref(),
        Some("default/echo")
    );
    assert_eq!(
        string_attr(a, "portico.backend.endpoint"),
        Some(backend.addr().to_string())
    );

    let (_, s) = find("/app/without");
    assert_eq!(hex(&s.trace_id), new_tid);
    assert_eq!(hex(&s.span_id), new_span);
    assert!(s.parent_span_id.is_empty(), "a new trace's span is a root");

    let (_, s) = find("/nowhere");
    assert_eq!(hex(&s.trace_id), TRACE_ID);
    assert_eq!(
        int_attr(&s.attributes, "http.response.status_code"),
        Some(404)
    );
    assert_eq!(
        string_attr(&s.attributes, "portico.gateway").as_deref(),
        Some("default/gw")
    );
    assert!(s.status.is_none(), "a 4xx is not an error on a server span");

    // Flows carry the trace id; the 404 flow names its Gateway and listener.
    let flows: Value = serde_json::from_str(&gw.admin_get("/api/flows").await).expect("flows JSON");
    let flows = flows["flows"].as_array().expect("flows");
    let not_found = flows
        .iter()
        .find(|f| f["status"] == 404)
        .unwrap_or_else(|| panic!("no 404 flow: {flows:?}"));
    assert_eq!(not_found["gateway"], "default/gw", "{not_found}");
    assert_eq!(not_found["listener"], "http", "{not_found}");
    assert!(
        flows
            .iter()
            .any(|f| f["trace_id"] == TRACE_ID && f["status"] == 200),
        "{flows:?}"
    );

    let metrics = gw.admin_get("/metrics").await;
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("portico_otlp_spans_exported_total ")
                && l.split_whitespace()
                    .nth(1)
                    .and_then(|v| v.parse::<f64>().ok())
                    >= Some(4.0)),
        "{metrics}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_collector_never_stops_traffic() {
    let backend = EchoBackend::http(Identity::new("default", "echo"))
        .await
        .expect("echo backend");
    // A port nobody listens on.
    let dead = free_port();
    let port = free_port();
    let dir = tempfile::tempdir().expect("tempdir");
    config(dir.path(), port, &backend);
    let endpoint = format!("http://127.0.0.1:{dead}");
    let gw = Instance::start(
        dir,
        &[
            "--otlp-endpoint",
            &endpoint,
            "--otlp-flush-interval",
            "50ms",
        ],
    )
    .await;
    let gateway: SocketAddr = format!("127.0.0.1:{port}").parse().expect("addr");
    for i in 0..5 {
        let echo = echo_through(gateway, &format!("/app/{i}"), &[]).await;
        // Propagation works whether or not the collector is up.
        split_traceparent(&seen_header(&echo, "Traceparent"));
    }
    let metrics = eventually(DEADLINE, || async {
        let metrics = gw.admin_get("/metrics").await;
        let failed = metrics
            .lines()
            .find(|l| l.starts_with("portico_otlp_spans_dropped_total{reason=\"export_failed\"}"))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0);
        if failed >= 1.0 {
            Ok(metrics)
        } else {
            Err(metrics)
        }
    })
    .await
    .expect("failed exports are counted as drops");
    assert!(
        metrics.contains("portico_otlp_export_errors_total"),
        "{metrics}"
    );
}
