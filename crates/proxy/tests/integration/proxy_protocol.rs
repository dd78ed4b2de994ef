//! PROXY protocol v1/v2: accepted on HTTP, HTTPS, TCP and TLS-passthrough
//! binds (the carried client address reaches X-Forwarded-For and flow
//! records), rejected and counted when missing or malformed, and written to
//! backends whose cluster asks for it.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;

use portico_ir::*;
use portico_observe::flow::{FlowRing, RingConfig};
use portico_proxy::ProxyConfig;
use portico_proxy::proxy_protocol::encode::encode;
use portico_proxy::proxy_protocol::parse::{Parsed, parse};
use portico_proxy::proxy_protocol::{Addresses, Reject};
use rustls::RootCertStore;
use rustls_pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::common::*;

const VERSIONS: [ProxyProtocolVersion; 2] = [ProxyProtocolVersion::V1, ProxyProtocolVersion::V2];

/// What an outer load balancer would say about its client.
fn client() -> Addresses {
    Addresses {
        source: "203.0.113.7:41234".parse().unwrap(),
        destination: "198.51.100.1:443".parse().unwrap(),
    }
}

/// A gateway whose one HTTP bind accepts the PROXY protocol.
async fn behind_load_balancer(routes: Vec<HttpRoute>, clusters: Vec<Cluster>) -> Gateway {
    let mut ir = (*simple(routes, clusters)).clone();
    ir.binds[0].proxy_protocol = true;
    Gateway::start(Arc::new(ir)).await
}

/// [`behind_load_balancer`] with every request to `upstream`, which gets
/// a v2 header.
async fn to_one_v2_backend(upstream: SocketAddr) -> Gateway {
    behind_load_balancer(
        vec![route(prefix("/"), vec![backend("pp", 1)])],
        vec![sending("pp", upstream, ProxyProtocolVersion::V2)],
    )
    .await
}

fn with_proxy_protocol(mut b: Bind) -> Bind {
    b.proxy_protocol = true;
    b
}

/// One HTTP/1.1 request over `io` (`Connection: close`); the response body.
async fn raw_get(io: &mut (impl AsyncRead + AsyncWrite + Unpin), host: &str) -> String {
    raw_request(io, host, "/pp").await
}

async fn raw_request(
    io: &mut (impl AsyncRead + AsyncWrite + Unpin),
    host: &str,
    path: &str,
) -> String {
    let req = format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
    io.write_all(req.as_bytes()).await.unwrap();
    let mut out = Vec::new();
    tokio::time::timeout(DEADLINE, io.read_to_end(&mut out))
        .await
        .unwrap()
        .unwrap();
    let text = String::from_utf8_lossy(&out).to_string();
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    text.split_once("\r\n\r\n").unwrap().1.to_string()
}

fn xff(body: &str) -> String {
    let v: serde_json::Value = serde_json::from_str(body).unwrap();
    v["headers"]["x-forwarded-for"][0]
        .as_str()
        .unwrap()
        .to_string()
}

#[tokio::test]
async fn http_bind_takes_the_client_address_from_v1_and_v2_headers() {
    let a = Echo::start("a").await;
    let ring = FlowRing::new(RingConfig::default()).unwrap();
    let config = ProxyConfig {
        flows: ring.sink(),
        ..ProxyConfig::default()
    };
    let b = with_proxy_protocol(bind(
        any_port(),
        vec![listener(
            "default/gw/http",
            None,
            vec![vhost(None, vec![route(prefix("/"), vec![backend("a", 1)])])],
        )],
    ));
    let gw = Gateway::start_with(config, ir(vec![b], vec![a.cluster()])).await;
    for version in VERSIONS {
        let mut s = TcpStream::connect(gw.addr()).await.unwrap();
        s.write_all(&encode(version, Some(client()))).await.unwrap();
        let body = raw_get(&mut s, "app.example.com").await;
        assert_eq!(xff(&body), "203.0.113.7", "{version:?}");
    }
    // v2 LOCAL (a health check by the load balancer): the socket's address.
    let mut s = TcpStream::connect(gw.addr()).await.unwrap();
    s.write_all(&encode(ProxyProtocolVersion::V2, None))
        .await
        .unwrap();
    assert_eq!(xff(&raw_get(&mut s, "app.example.com").await), "127.0.0.1");

    let flows = ring.snapshot();
    assert_eq!(flows.len(), 3);
    assert_eq!(
        flows[0].flow.ip.unwrap().source,
        client().source.ip(),
        "flow records carry the PROXY source"
    );
    assert_eq!(
        gw.proxy
            .metrics()
            .snapshot()
            .proxy_protocol_rejected
            .total(),
        0
    );
}

#[tokio::test]
async fn missing_or_malformed_headers_close_the_connection_and_are_counted() {
    let a = Echo::start("a").await;
    let b = with_proxy_protocol(bind(
        any_port(),
        vec![listener(
            "default/gw/http",
            None,
            vec![vhost(None, vec![route(prefix("/"), vec![backend("a", 1)])])],
        )],
    ));
    let gw = Gateway::start(ir(vec![b], vec![a.cluster()])).await;
    let attempts: [&[u8]; 3] = [
        b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
        b"PROXY TCP4 203.0.113.7 nonsense 1 2\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n",
        b"\r\n\r\n\0\r\nQUIT\n\x31\x11\x00\x0c",
    ];
    for bytes in attempts {
        let mut s = TcpStream::connect(gw.addr()).await.unwrap();
        s.write_all(bytes).await.unwrap();
        let mut buf = [0u8; 64];
        let n = tokio::time::timeout(DEADLINE, s.read(&mut buf))
            .await
            .unwrap()
            .unwrap_or(0);
        assert_eq!(n, 0, "closed without an answer: {bytes:?}");
    }
    let m = gw.proxy.metrics().snapshot().proxy_protocol_rejected;
    assert_eq!(m.get(Reject::Missing), 1);
    assert_eq!(m.get(Reject::Malformed), 2);
    assert_eq!(a.hits(), 0, "nothing reached the backend");
    // The bind still serves well-formed connections.
    let mut s = TcpStream::connect(gw.addr()).await.unwrap();
    s.write_all(&encode(ProxyProtocolVersion::V1, Some(client())))
        .await
        .unwrap();
    assert_eq!(xff(&raw_get(&mut s, "x").await), "203.0.113.7");
}

#[tokio::test]
async fn https_bind_reads_the_header_before_the_client_hello() {
    let a = Echo::start("a").await;
    let ck = rcgen::generate_simple_self_signed(vec!["secure.example.com".to_string()]).unwrap();
    let mut l = listener(
        "default/gw/https",
        None,
        vec![vhost(None, vec![route(prefix("/"), vec![backend("a", 1)])])],
    );
    l.protocol = BindProtocol::Https;
    l.tls = Some(ListenerTls {
        mode: TlsMode::Terminate,
        certificates: vec![CertifiedKeyPem {
            source: "test/cert".into(),
            cert_chain_pem: ck.cert.pem(),
            key_pem: ck.signing_key.serialize_pem(),
        }],
        client_validation: None,
    });
    let mut b = with_proxy_protocol(bind(any_port(), vec![l]));
    b.protocol = BindProtocol::Https;
    let gw = Gateway::start(ir(vec![b], vec![a.cluster()])).await;

    let mut roots = RootCertStore::empty();
    roots.add(ck.cert.der().clone()).unwrap();
    let config = Arc::new(
        rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::aws_lc_rs::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth(),
    );
    for version in VERSIONS {
        let mut tcp = TcpStream::connect(gw.addr()).await.unwrap();
        tcp.write_all(&encode(version, Some(client())))
            .await
            .unwrap();
        let name = ServerName::try_from("secure.example.com".to_string()).unwrap();
        let mut tls = tokio::time::timeout(
            DEADLINE,
            tokio_rustls::TlsConnector::from(Arc::clone(&config)).connect(name, tcp),
        )
        .await
        .unwrap()
        .unwrap();
        let body = raw_get(&mut tls, "secure.example.com").await;
        assert_eq!(xff(&body), "203.0.113.7", "{version:?}");
    }
}

/// A backend that expects a PROXY header on every connection and answers
/// with the source address it carried (`local` for LOCAL/UNKNOWN): as an
/// HTTP/1.1 response body when an HTTP request follows, otherwise (a TLS
/// ClientHello, any other bytes) as one line.
async fn proxy_protocol_backend() -> SocketAddr {
    let l = TcpListener::bind(any_port()).await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            tokio::spawn(async move {
                let mut seen = Vec::new();
                let mut buf = [0u8; 4096];
                let (source, len) = loop {
                    match parse(&seen) {
                        Ok(Parsed::Complete { header, len }) => {
                            let source = header
                                .addresses
                                .map_or("local".to_string(), |a| a.source.to_string());
                            break (source, len);
                        }
                        Ok(Parsed::Incomplete) => {}
                        Err(_) => return,
                    }
                    match s.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => seen.extend_from_slice(&buf[..n]),
                    }
                };
                let mut rest = seen.split_off(len);
                while rest.is_empty() {
                    match s.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => rest.extend_from_slice(&buf[..n]),
                    }
                }
                if !rest.starts_with(b"GET ") {
                    let _ = s.write_all(format!("{source}\n").as_bytes()).await;
                    return;
                }
                while !rest.windows(4).any(|w| w == b"\r\n\r\n") {
                    match s.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => rest.extend_from_slice(&buf[..n]),
                    }
                }
                let reply = format!(
                    "HTTP/1.1 200 OK\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{source}",
                    source.len()
                );
                let _ = s.write_all(reply.as_bytes()).await;
            });
        }
    });
    addr
}

fn sending(name: &str, backend: SocketAddr, version: ProxyProtocolVersion) -> Cluster {
    let mut c = cluster(name, vec![endpoint(backend)]);
    c.proxy_protocol = Some(version);
    c
}

#[tokio::test]
async fn http_upstreams_get_the_client_address_in_a_header() {
    let pp = proxy_protocol_backend().await;
    let routes = vec![
        route(prefix("/v1"), vec![backend("pp1", 1)]),
        route(prefix("/"), vec![backend("pp2", 1)]),
    ];
    let clusters = vec![
        sending("pp1", pp, ProxyProtocolVersion::V1),
        sending("pp2", pp, ProxyProtocolVersion::V2),
    ];
    // A direct client: its socket address goes upstream.
    let gw = Gateway::start(simple(routes.clone(), clusters.clone())).await;
    for path in ["/v1", "/v2"] {
        let mut s = TcpStream::connect(gw.addr()).await.unwrap();
        let me = s.local_addr().unwrap();
        assert_eq!(
            raw_request(&mut s, "x", path).await,
            me.to_string(),
            "{path}"
        );
    }
    // Behind a load balancer: the address from its header goes upstream.
    let gw = behind_load_balancer(routes, clusters).await;
    for version in VERSIONS {
        let mut s = TcpStream::connect(gw.addr()).await.unwrap();
        s.write_all(&encode(version, Some(client()))).await.unwrap();
        let body = raw_get(&mut s, "x").await;
        assert_eq!(body, client().source.to_string(), "{version:?}");
    }
}

fn l4_bind(protocol: BindProtocol, mut l: Listener) -> Bind {
    l.protocol = protocol;
    let mut b = with_proxy_protocol(bind(any_port(), vec![l]));
    b.protocol = protocol;
    b
}

async fn read_line(s: &mut TcpStream) -> String {
    let mut out = String::new();
    tokio::time::timeout(DEADLINE, s.read_to_string(&mut out))
        .await
        .unwrap()
        .unwrap();
    out.trim_end().to_string()
}

#[tokio::test]
async fn tcp_bind_accepts_and_forwards_the_client_address() {
    let pp = proxy_protocol_backend().await;
    let mut l = listener("default/gw/tcp", None, vec![]);
    l.l4_route = Some(L4Route {
        route: ObjectRef::default(),
        backends: vec![backend("pp", 1)],
    });
    let b = l4_bind(BindProtocol::Tcp, l);
    for [accept, send] in [VERSIONS, [VERSIONS[1], VERSIONS[0]]] {
        let gw = Gateway::start(ir(vec![b.clone()], vec![sending("pp", pp, send)])).await;
        let mut s = TcpStream::connect(gw.addr()).await.unwrap();
        s.write_all(&encode(accept, Some(client()))).await.unwrap();
        s.write_all(b"hello\n").await.unwrap();
        assert_eq!(read_line(&mut s).await, client().source.to_string());
    }
}

/// The first flight of a TLS client for `sni`.
fn client_hello(sni: &str) -> Vec<u8> {
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(RootCertStore::empty())
    .with_no_client_auth();
    let name = ServerName::try_from(sni.to_string()).unwrap();
    let mut conn = rustls::ClientConnection::new(Arc::new(config), name).unwrap();
    let mut out = Vec::new();
    conn.write_tls(&mut out).unwrap();
    out
}

#[tokio::test]
async fn tls_passthrough_bind_routes_by_sni_after_the_header() {
    let pp = proxy_protocol_backend().await;
    let mut l = listener("default/gw/tls", None, vec![]);
    l.tls = Some(ListenerTls {
        mode: TlsMode::Passthrough,
        certificates: vec![],
        client_validation: None,
    });
    l.tls_routes = vec![SniRoute {
        route: ObjectRef::default(),
        hostnames: vec![HostMatch::parse(Some("pass.example.com"))],
        backends: vec![backend("pp", 1)],
    }];
    let b = l4_bind(BindProtocol::Tls, l);
    let gw = Gateway::start(ir(
        vec![b],
        vec![sending("pp", pp, ProxyProtocolVersion::V2)],
    ))
    .await;
    for version in VERSIONS {
        let mut s = TcpStream::connect(gw.addr()).await.unwrap();
        s.write_all(&encode(version, Some(client()))).await.unwrap();
        s.write_all(&client_hello("pass.example.com"))
            .await
            .unwrap();
        assert_eq!(
            read_line(&mut s).await,
            client().source.to_string(),
            "{version:?}: the backend saw the ClientHello behind a header naming the client"
        );
    }
}

/// A backend that reads a v2 header byte-exact, then serves HTTP/1.1 and
/// h2c (HTTPS with `tls`), answering every request with the source address
/// the header carried. The counters hold its open and its accepted
/// connections.
async fn v2_http_backend(
    tls: Option<tokio_rustls::TlsAcceptor>,
) -> (SocketAddr, Arc<AtomicUsize>, Arc<AtomicUsize>) {
    let l = TcpListener::bind(any_port()).await.unwrap();
    let addr = l.local_addr().unwrap();
    let open = Arc::new(AtomicUsize::new(0));
    let accepted = Arc::new(AtomicUsize::new(0));
    let (count, total) = (Arc::clone(&open), Arc::clone(&accepted));
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            let tls = tls.clone();
            total.fetch_add(1, Ordering::SeqCst);
            count.fetch_add(1, Ordering::SeqCst);
            let _open = OpenGuard(Arc::clone(&count));
            tokio::spawn(async move {
                let _open = _open;
                let mut header = vec![0u8; 16];
                if s.read_exact(&mut header).await.is_err() {
                    return;
                }
                let len = usize::from(u16::from_be_bytes([header[14], header[15]]));
                header.resize(16 + len, 0);
                if s.read_exact(&mut header[16..]).await.is_err() {
                    return;
                }
                let Ok(Parsed::Complete { header, .. }) = parse(&header) else {
                    return;
                };
                let source = header
                    .addresses
                    .map_or("local".to_string(), |a| a.source.to_string());
                let svc = service_fn(move |req| {
                    let resp = if req.headers().contains_key("upgrade") {
                        upgrade_and_echo(req)
                    } else {
                        http::Response::new(Full::new(Bytes::new()))
                    };
                    let (mut parts, _) = resp.into_parts();
                    parts.headers.insert("x-source", source.parse().unwrap());
                    let body = Bytes::from(source.clone());
                    async move {
                        Ok::<_, Infallible>(http::Response::from_parts(parts, Full::new(body)))
                    }
                });
                let builder = auto::Builder::new(TokioExecutor::new());
                match tls {
                    None => {
                        let _ = builder
                            .serve_connection_with_upgrades(TokioIo::new(s), svc)
                            .await;
                    }
                    Some(acceptor) => {
                        if let Ok(s) = acceptor.accept(s).await {
                            let _ = builder.serve_connection(TokioIo::new(s), svc).await;
                        }
                    }
                }
            });
        }
    });
    (addr, open, accepted)
}

/// Answers 101 and echoes the bytes of the upgraded connection.
fn upgrade_and_echo(mut req: http::Request<hyper::body::Incoming>) -> http::Response<Full<Bytes>> {
    let on = hyper::upgrade::on(&mut req);
    tokio::spawn(async move {
        if let Ok(upgraded) = on.await {
            let mut io = TokioIo::new(upgraded);
            let mut buf = [0u8; 64];
            while let Ok(n) = io.read(&mut buf).await {
                if n == 0 || io.write_all(&buf[..n]).await.is_err() {
                    break;
                }
            }
        }
    });
    http::Response::builder()
        .status(101)
        .header("upgrade", "websocket")
        .header("connection", "upgrade")
        .body(Full::new(Bytes::new()))
        .unwrap()
}

#[tokio::test]
async fn websocket_upgrades_work_on_connections_with_a_header() {
    let (ws, _, _) = v2_http_backend(None).await;
    let gw = to_one_v2_backend(ws).await;
    let mut s = TcpStream::connect(gw.addr()).await.unwrap();
    s.write_all(&encode(ProxyProtocolVersion::V2, Some(client())))
        .await
        .unwrap();
    s.write_all(
        b"GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
          Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
    )
    .await
    .unwrap();
    let mut head = Vec::new();
    let mut b = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        let n = tokio::time::timeout(DEADLINE, s.read(&mut b))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(n, 1, "response head: {}", String::from_utf8_lossy(&head));
        head.push(b[0]);
    }
    let head = String::from_utf8(head).unwrap().to_ascii_lowercase();
    assert!(head.starts_with("http/1.1 101"), "{head}");
    assert!(head.contains("x-source: 203.0.113.7:41234"), "{head}");
    s.write_all(b"ping").await.unwrap();
    let mut echoed = [0u8; 4];
    tokio::time::timeout(DEADLINE, s.read_exact(&mut echoed))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(&echoed, b"ping");
}

struct OpenGuard(Arc<AtomicUsize>);

impl Drop for OpenGuard {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

#[tokio::test]
async fn h2c_and_backend_tls_upstreams_get_the_header_first() {
    let (h2c, h2c_open, _) = v2_http_backend(None).await;
    let (server, ca_pem) = crate::https::backend_server_config(&["backend.example.com"]);
    let (tls, tls_open, _) = v2_http_backend(Some(tokio_rustls::TlsAcceptor::from(server))).await;

    let mut h2 = sending("h2", h2c, ProxyProtocolVersion::V2);
    h2.protocol = AppProtocol::H2c;
    let mut t = sending("tls", tls, ProxyProtocolVersion::V2);
    t.tls = Some(BackendTls {
        hostname: "backend.example.com".into(),
        ca_pem: Some(ca_pem),
        system_roots: false,
        subject_alt_names: vec![],
        client_certificate: None,
    });
    let gw = behind_load_balancer(
        vec![
            route(prefix("/h2"), vec![backend("h2", 1)]),
            route(prefix("/tls"), vec![backend("tls", 1)]),
        ],
        vec![h2, t],
    )
    .await;
    for path in ["/h2", "/tls", "/h2", "/tls"] {
        let mut s = TcpStream::connect(gw.addr()).await.unwrap();
        s.write_all(&encode(ProxyProtocolVersion::V1, Some(client())))
            .await
            .unwrap();
        let body = raw_request(&mut s, "x", path).await;
        assert_eq!(body, client().source.to_string(), "{path}");
    }
    // A connection that names one client is not kept for another.
    eventually("upstream connections closed", || {
        h2c_open.load(Ordering::SeqCst) == 0 && tls_open.load(Ordering::SeqCst) == 0
    })
    .await;
}

#[tokio::test]
async fn a_client_connection_reuses_only_its_own_upstream_connections() {
    let (be, open, accepted) = v2_http_backend(None).await;
    let gw = to_one_v2_backend(be).await;
    for (n, source) in [(1, "203.0.113.7:41234"), (2, "203.0.113.8:5000")] {
        let mut s = TcpStream::connect(gw.addr()).await.unwrap();
        let addresses = Addresses {
            source: source.parse().unwrap(),
            destination: client().destination,
        };
        s.write_all(&encode(ProxyProtocolVersion::V1, Some(addresses)))
            .await
            .unwrap();
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(s))
            .await
            .unwrap();
        tokio::spawn(conn);
        for _ in 0..3 {
            let req = http::Request::builder()
                .uri("/")
                .header("host", "x")
                .body(Full::new(Bytes::new()))
                .unwrap();
            let resp = tokio::time::timeout(DEADLINE, sender.send_request(req))
                .await
                .unwrap()
                .unwrap();
            let body = resp.into_body().collect().await.unwrap().to_bytes();
            assert_eq!(body, source.as_bytes());
        }
        assert_eq!(
            accepted.load(Ordering::SeqCst),
            n,
            "one upstream connection per client connection"
        );
        drop(sender);
    }
    eventually(
        "upstream connections close with their client connection",
        || open.load(Ordering::SeqCst) == 0,
    )
    .await;
}
