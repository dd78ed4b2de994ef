//! IR builders, an echo backend and a small client for the proxy tests.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use portico_ir::*;
use portico_proxy::{ApplyReport, Proxy, ProxyConfig};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::Notify;

/// Every network wait in these tests is bounded by this.
pub const DEADLINE: Duration = Duration::from_secs(10);

// === IR builders ===

pub fn endpoint(address: SocketAddr) -> Endpoint {
    Endpoint {
        address,
        ready: true,
        serving: true,
        terminating: false,
        name: None,
        zone: None,
    }
}

pub fn cluster_id(name: &str) -> ClusterId {
    ClusterId::new("default", name, 80)
}

pub fn cluster(name: &str, endpoints: Vec<Endpoint>) -> Cluster {
    Cluster {
        id: cluster_id(name),
        service: ObjectRef {
            kind: "Service".into(),
            namespace: "default".into(),
            name: name.into(),
        },
        port: 80,
        protocol: AppProtocol::Http1,
        lb: LbAlgorithm::RoundRobin,
        endpoints,
        tls: None,
        proxy_protocol: None,
    }
}

pub fn backend(cluster: &str, weight: u32) -> WeightedBackend {
    WeightedBackend {
        weight,
        target: BackendTarget::Cluster(cluster_id(cluster)),
        filters: Vec::new(),
    }
}

pub fn invalid_backend() -> WeightedBackend {
    WeightedBackend {
        weight: 1,
        target: BackendTarget::Invalid {
            reason: "BackendNotFound".into(),
        },
        filters: Vec::new(),
    }
}

pub fn prefix(p: &str) -> HttpMatch {
    HttpMatch {
        path: PathMatch::Prefix(p.into()),
        ..Default::default()
    }
}

pub fn route(matcher: HttpMatch, backends: Vec<WeightedBackend>) -> HttpRoute {
    HttpRoute {
        source: RouteSource {
            route: ObjectRef {
                kind: "HTTPRoute".into(),
                namespace: "default".into(),
                name: "r".into(),
            },
            rule_index: 0,
            rule_name: None,
            match_index: 0,
        },
        matcher,
        action: HttpAction {
            backends,
            ..Default::default()
        },
    }
}

pub fn with_filters(mut r: HttpRoute, filters: Vec<HttpFilter>) -> HttpRoute {
    r.action.filters = filters;
    r
}

pub fn vhost(hostname: Option<&str>, routes: Vec<HttpRoute>) -> VirtualHost {
    VirtualHost {
        hostname: HostMatch::parse(hostname),
        routes,
    }
}

pub fn listener(id: &str, hostname: Option<&str>, http: Vec<VirtualHost>) -> Listener {
    Listener {
        id: id.into(),
        owner: ObjectRef {
            kind: "Gateway".into(),
            namespace: "default".into(),
            name: "gw".into(),
        },
        name: id.into(),
        hostname: HostMatch::parse(hostname),
        protocol: BindProtocol::Http,
        tls: None,
        http,
        tls_routes: Vec::new(),
        l4_route: None,
    }
}

pub fn bind(address: SocketAddr, listeners: Vec<Listener>) -> Bind {
    Bind {
        gateway: ObjectRef {
            kind: "Gateway".into(),
            namespace: "default".into(),
            name: "gw".into(),
        },
        address,
        protocol: BindProtocol::Http,
        proxy_protocol: false,
        listeners,
    }
}

pub fn any_port() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 0))
}

pub fn ir(binds: Vec<Bind>, clusters: Vec<Cluster>) -> Arc<Ir> {
    Arc::new(Ir {
        binds,
        clusters: clusters
            .into_iter()
            .map(|c| (c.id.clone(), c))
            .collect::<BTreeMap<_, _>>(),
        services: Vec::new(),
    })
}

/// A one-listener, one-bind IR on an ephemeral port.
pub fn simple(routes: Vec<HttpRoute>, clusters: Vec<Cluster>) -> Arc<Ir> {
    ir(
        vec![bind(
            any_port(),
            vec![listener("default/gw/http", None, vec![vhost(None, routes)])],
        )],
        clusters,
    )
}

// === the gateway under test ===

pub struct Gateway {
    pub proxy: Proxy,
    pub report: ApplyReport,
}

impl Gateway {
    pub async fn start(ir: Arc<Ir>) -> Gateway {
        Gateway::start_with(ProxyConfig::default(), ir).await
    }

    pub async fn start_with(config: ProxyConfig, ir: Arc<Ir>) -> Gateway {
        let proxy = Proxy::new(config);
        let report = proxy.apply(ir).await;
        for l in &report.listeners {
            assert!(
                l.error.is_none(),
                "listener {} failed: {:?}",
                l.listener_id,
                l.error
            );
        }
        Gateway { proxy, report }
    }

    /// The address of the first listener.
    pub fn addr(&self) -> SocketAddr {
        self.report.listeners[0].address
    }
}

// === echo backend ===

/// An HTTP/1.1 + h2c backend answering JSON like the upstream echo server,
/// plus `"backend": <name>`. `/slow` waits until [`Echo::release`] (after
/// signalling [`Echo::wait_received`]); `/status/NNN` answers NNN;
/// `?delay_ms=N` sleeps first.
pub struct Echo {
    pub name: String,
    pub addr: SocketAddr,
    pub hits: Arc<AtomicUsize>,
    received: Arc<Notify>,
    release: Arc<Notify>,
}

impl Echo {
    pub async fn start(name: &str) -> Echo {
        Echo::start_with(name, None).await
    }

    /// The same backend behind TLS (`config` holds its certificate).
    pub async fn start_tls(name: &str, config: Arc<rustls::ServerConfig>) -> Echo {
        Echo::start_with(name, Some(tokio_rustls::TlsAcceptor::from(config))).await
    }

    async fn start_with(name: &str, tls: Option<tokio_rustls::TlsAcceptor>) -> Echo {
        let listener = TcpListener::bind(any_port()).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let hits = Arc::new(AtomicUsize::new(0));
        let received = Arc::new(Notify::new());
        let release = Arc::new(Notify::new());
        let (n, h, rc, rl) = (
            name.to_string(),
            hits.clone(),
            received.clone(),
            release.clone(),
        );
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let (n, h, rc, rl) = (n.clone(), h.clone(), rc.clone(), rl.clone());
                let tls = tls.clone();
                tokio::spawn(async move {
                    let svc = service_fn(move |req| {
                        echo(n.clone(), h.clone(), rc.clone(), rl.clone(), req)
                    });
                    let builder = auto::Builder::new(TokioExecutor::new());
                    match tls {
                        None => {
                            let _ = builder
                                .serve_connection_with_upgrades(TokioIo::new(stream), svc)
                                .await;
                        }
                        Some(acceptor) => {
                            if let Ok(stream) = acceptor.accept(stream).await {
                                let _ = builder
                                    .serve_connection_with_upgrades(TokioIo::new(stream), svc)
                                    .await;
                            }
                        }
                    }
                });
            }
        });
        Echo {
            name: name.into(),
            addr,
            hits,
            received,
            release,
        }
    }

    pub fn endpoint(&self) -> Endpoint {
        endpoint(self.addr)
    }

    pub fn cluster(&self) -> Cluster {
        cluster(&self.name, vec![self.endpoint()])
    }

    pub async fn wait_received(&self) {
        tokio::time::timeout(DEADLINE, self.received.notified())
            .await
            .expect("slow request never arrived");
    }

    pub fn release(&self) {
        self.release.notify_one();
    }

    pub fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }
}

async fn echo(
    name: String,
    hits: Arc<AtomicUsize>,
    received: Arc<Notify>,
    release: Arc<Notify>,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let attempt = hits.fetch_add(1, Ordering::SeqCst) + 1;
    if req.uri().path() == "/ws" && req.headers().contains_key("upgrade") {
        return Ok(upgrade_and_echo_bytes(req));
    }
    let (parts, body) = req.into_parts();
    // `/fail-first/N`: the first N requests to this backend answer 503.
    if let Some(n) = parts
        .uri
        .path()
        .strip_prefix("/fail-first/")
        .and_then(|n| n.parse::<usize>().ok())
        && attempt <= n
    {
        let mut resp = Response::new(Full::new(Bytes::from_static(b"flaky")));
        *resp.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
        return Ok(resp);
    }
    let body = body
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    if parts.uri.path() == "/slow" {
        received.notify_one();
        release.notified().await;
    }
    if let Some(ms) = parts
        .uri
        .query()
        .and_then(|q| q.split('&').find_map(|kv| kv.strip_prefix("delay_ms=")))
        .and_then(|v| v.parse::<u64>().ok())
    {
        tokio::time::sleep(Duration::from_millis(ms)).await;
    }
    let status = parts
        .uri
        .path()
        .strip_prefix("/status/")
        .and_then(|c| c.parse::<u16>().ok())
        .and_then(|c| StatusCode::from_u16(c).ok())
        .unwrap_or(StatusCode::OK);
    let mut headers = serde_json::Map::new();
    for (k, v) in &parts.headers {
        let entry = headers
            .entry(k.as_str().to_string())
            .or_insert_with(|| json!([]));
        if let Some(a) = entry.as_array_mut() {
            a.push(json!(v.to_str().unwrap_or("")));
        }
    }
    let host = parts
        .headers
        .get("host")
        .and_then(|h| h.to_str().ok())
        .map(str::to_string)
        .or_else(|| parts.uri.authority().map(|a| a.to_string()))
        .unwrap_or_default();
    let doc = json!({
        "backend": name,
        "path": parts.uri.path_and_query().map(|p| p.as_str()).unwrap_or("/"),
        "host": host,
        "method": parts.method.as_str(),
        "proto": format!("{:?}", parts.version),
        "headers": headers,
        "body_len": body.len(),
    });
    let mut resp = Response::new(Full::new(Bytes::from(doc.to_string())));
    *resp.status_mut() = status;
    resp.headers_mut()
        .insert("content-type", "application/json".parse().unwrap());
    resp.headers_mut()
        .insert("x-backend", name.parse().unwrap());
    Ok(resp)
}

/// Answers 101 and echoes raw bytes on the upgraded connection.
fn upgrade_and_echo_bytes(mut req: Request<Incoming>) -> Response<Full<Bytes>> {
    let on = hyper::upgrade::on(&mut req);
    tokio::spawn(async move {
        if let Ok(upgraded) = on.await {
            let mut io = TokioIo::new(upgraded);
            let mut buf = [0u8; 1024];
            use tokio::io::{AsyncReadExt, AsyncWriteExt};
            while let Ok(n) = io.read(&mut buf).await {
                if n == 0 || io.write_all(&buf[..n]).await.is_err() {
                    break;
                }
            }
        }
    });
    let mut resp = Response::new(Full::new(Bytes::new()));
    *resp.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    resp.headers_mut()
        .insert("upgrade", "websocket".parse().unwrap());
    resp.headers_mut()
        .insert("connection", "upgrade".parse().unwrap());
    resp
}

// === client ===

pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Reply {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }

    /// The echo backend that answered.
    pub fn backend(&self) -> String {
        self.json()["backend"].as_str().unwrap_or("").to_string()
    }

    /// First value of a request header as the backend saw it.
    pub fn seen_header(&self, name: &str) -> Option<String> {
        self.json()["headers"][name][0].as_str().map(str::to_string)
    }
}

pub fn h1_client() -> Client<HttpConnector, Full<Bytes>> {
    Client::builder(TokioExecutor::new()).build(HttpConnector::new())
}

pub fn h2c_client() -> Client<HttpConnector, Full<Bytes>> {
    Client::builder(TokioExecutor::new())
        .http2_only(true)
        .build(HttpConnector::new())
}

pub async fn send(client: &Client<HttpConnector, Full<Bytes>>, req: Request<Full<Bytes>>) -> Reply {
    let resp = tokio::time::timeout(DEADLINE, client.request(req))
        .await
        .expect("request deadline")
        .expect("request failed");
    let (parts, body) = resp.into_parts();
    let body = tokio::time::timeout(DEADLINE, body.collect())
        .await
        .expect("body deadline")
        .expect("body failed")
        .to_bytes();
    Reply {
        status: parts.status,
        headers: parts.headers,
        body,
    }
}

/// GET `path` with `Host: host` over HTTP/1.1.
pub async fn get(addr: SocketAddr, host: &str, path: &str) -> Reply {
    request(addr, "GET", host, path, &[]).await
}

pub async fn request(
    addr: SocketAddr,
    method: &str,
    host: &str,
    path: &str,
    headers: &[(&str, &str)],
) -> Reply {
    let mut b = Request::builder()
        .method(method)
        .uri(format!("http://{addr}{path}"))
        .header("host", host);
    for (n, v) in headers {
        b = b.header(*n, *v);
    }
    send(&h1_client(), b.body(Full::new(Bytes::new())).unwrap()).await
}

/// Polls `f` until it holds or the deadline passes.
pub async fn eventually(what: &str, f: impl Fn() -> bool) {
    let deadline = tokio::time::Instant::now() + DEADLINE;
    while !f() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "never happened: {what}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}
