use std::net::SocketAddr;
use std::sync::Arc;

use portico_ir::*;
use rustls::RootCertStore;
use rustls_pki_types::{PrivateKeyDer, ServerName};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::common::*;

/// A TCP backend that greets with its name, then echoes.
async fn tcp_backend(name: &'static str) -> SocketAddr {
    let l = TcpListener::bind(any_port()).await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            tokio::spawn(async move {
                let _ = s.write_all(format!("{name}\n").as_bytes()).await;
                let mut buf = [0u8; 1024];
                while let Ok(n) = s.read(&mut buf).await {
                    if n == 0 || s.write_all(&buf[..n]).await.is_err() {
                        break;
                    }
                }
            });
        }
    });
    addr
}

fn l4_listener(id: &str, protocol: BindProtocol, route: Option<L4Route>) -> Listener {
    let mut l = listener(id, None, vec![]);
    l.protocol = protocol;
    l.l4_route = route;
    l
}

async fn read_line(s: &mut (impl AsyncReadExt + Unpin)) -> String {
    let mut out = Vec::new();
    let mut b = [0u8; 1];
    while tokio::time::timeout(DEADLINE, s.read(&mut b))
        .await
        .unwrap()
        .unwrap()
        == 1
        && b[0] != b'\n'
    {
        out.push(b[0]);
    }
    String::from_utf8(out).unwrap()
}

#[tokio::test]
async fn tcp_route_splices_to_a_backend() {
    let t = tcp_backend("tcp-a").await;
    let route = L4Route {
        route: ObjectRef::default(),
        backends: vec![backend("t", 1)],
    };
    let mut b = bind(
        any_port(),
        vec![l4_listener("gw/tcp", BindProtocol::Tcp, Some(route))],
    );
    b.protocol = BindProtocol::Tcp;
    let gw = Gateway::start(ir(vec![b], vec![cluster("t", vec![endpoint(t)])])).await;
    let mut s = TcpStream::connect(gw.addr()).await.unwrap();
    assert_eq!(read_line(&mut s).await, "tcp-a");
    s.write_all(b"PING\n").await.unwrap();
    assert_eq!(read_line(&mut s).await, "PING");
}

#[tokio::test]
async fn tcp_without_valid_backend_closes() {
    let route = L4Route {
        route: ObjectRef::default(),
        backends: vec![invalid_backend()],
    };
    let mut b = bind(
        any_port(),
        vec![l4_listener("gw/tcp", BindProtocol::Tcp, Some(route))],
    );
    b.protocol = BindProtocol::Tcp;
    let gw = Gateway::start(ir(vec![b], vec![])).await;
    let mut s = TcpStream::connect(gw.addr()).await.unwrap();
    let mut buf = [0u8; 8];
    let n = tokio::time::timeout(DEADLINE, s.read(&mut buf))
        .await
        .unwrap()
        .unwrap_or(0);
    assert_eq!(n, 0, "connection closed without data");
}

/// A TLS backend for `name` that greets with `name` after the handshake.
async fn tls_backend(
    name: &'static str,
) -> (SocketAddr, rustls_pki_types::CertificateDer<'static>) {
    let ck = rcgen::generate_simple_self_signed(vec![name.to_string()]).unwrap();
    let der = ck.cert.der().clone();
    let key = PrivateKeyDer::try_from(ck.signing_key.serialize_der()).unwrap();
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(vec![der.clone()], key)
    .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let l = TcpListener::bind(any_port()).await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((s, _)) = l.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                if let Ok(mut tls) = acceptor.accept(s).await {
                    let _ = tls.write_all(format!("{name}\n").as_bytes()).await;
                    let _ = tls.flush().await;
                }
            });
        }
    });
    (addr, der)
}

#[tokio::test]
async fn tls_passthrough_routes_by_sni() {
    let (a_addr, a_der) = tls_backend("a.example.com").await;
    let (b_addr, b_der) = tls_backend("b.example.com").await;
    let sni_route = |host: &str, cluster: &str| SniRoute {
        route: ObjectRef::default(),
        hostnames: vec![HostMatch::parse(Some(host))],
        backends: vec![backend(cluster, 1)],
    };
    let mut l = listener("gw/tls", None, vec![]);
    l.protocol = BindProtocol::Tls;
    l.tls = Some(ListenerTls {
        mode: TlsMode::Passthrough,
        certificates: vec![],
        client_validation: None,
    });
    l.tls_routes = vec![
        sni_route("a.example.com", "a"),
        sni_route("b.example.com", "b"),
    ];
    let mut b = bind(any_port(), vec![l]);
    b.protocol = BindProtocol::Tls;
    let gw = Gateway::start(ir(
        vec![b],
        vec![
            cluster("a", vec![endpoint(a_addr)]),
            cluster("b", vec![endpoint(b_addr)]),
        ],
    ))
    .await;

    for (name, der) in [("a.example.com", &a_der), ("b.example.com", &b_der)] {
        let mut roots = RootCertStore::empty();
        roots.add(der.clone()).unwrap();
        let config = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::aws_lc_rs::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
        let tcp = TcpStream::connect(gw.addr()).await.unwrap();
        let mut tls = tokio::time::timeout(
            DEADLINE,
            tokio_rustls::TlsConnector::from(Arc::new(config))
                .connect(ServerName::try_from(name.to_string()).unwrap(), tcp),
        )
        .await
        .unwrap()
        .expect("end-to-end TLS with the backend's own certificate");
        assert_eq!(read_line(&mut tls).await, name);
    }

    // An unknown server name gets no backend.
    let mut roots = RootCertStore::empty();
    roots.add(a_der.clone()).unwrap();
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    let tcp = TcpStream::connect(gw.addr()).await.unwrap();
    let result = tokio::time::timeout(
        DEADLINE,
        tokio_rustls::TlsConnector::from(Arc::new(config)).connect(
            ServerName::try_from("c.example.com".to_string()).unwrap(),
            tcp,
        ),
    )
    .await
    .unwrap();
    assert!(result.is_err());

    // Garbage (not a ClientHello) and a cut ClientHello: closed, counted
    // by cause, like the unknown server name above.
    let mut garbage = TcpStream::connect(gw.addr()).await.unwrap();
    garbage.write_all(b"GET / HTTP/1.1\r\n\r\n").await.unwrap();
    let mut sink = Vec::new();
    let _ = tokio::time::timeout(DEADLINE, garbage.read_to_end(&mut sink)).await;
    let mut cut = TcpStream::connect(gw.addr()).await.unwrap();
    cut.write_all(&[0x16, 0x03, 0x01, 0x00, 0x40, 0x01, 0x00])
        .await
        .unwrap();
    drop(cut);
    let until = tokio::time::Instant::now() + DEADLINE;
    loop {
        let r = gw.proxy.metrics().snapshot().tls_rejected;
        let counts: Vec<(&str, u64)> = r.iter().collect();
        if counts
            == [
                ("not_tls", 1),
                ("truncated", 1),
                ("timeout", 0),
                ("no_route", 1),
                ("handshake", 0),
            ]
        {
            break;
        }
        assert!(tokio::time::Instant::now() < until, "{counts:?}");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn tls_terminate_and_passthrough_share_a_port() {
    let plain = tcp_backend("plain").await;
    let (pass_addr, pass_der) = tls_backend("pass.example.com").await;
    let gw_cert = rcgen::generate_simple_self_signed(vec!["term.example.com".to_string()]).unwrap();
    let gw_der = gw_cert.cert.der().clone();
    let tls_listener = |id: &str, host: &str, mode: TlsMode, cluster: &str| {
        let mut l = listener(id, Some(host), vec![]);
        l.protocol = BindProtocol::Tls;
        l.tls = Some(ListenerTls {
            mode,
            certificates: if mode == TlsMode::Terminate {
                vec![CertifiedKeyPem {
                    source: "test/term".into(),
                    cert_chain_pem: gw_cert.cert.pem(),
                    key_pem: gw_cert.signing_key.serialize_pem(),
                }]
            } else {
                vec![]
            },
            client_validation: None,
        });
        l.tls_routes = vec![SniRoute {
            route: ObjectRef::default(),
            hostnames: vec![HostMatch::parse(Some(host))],
            backends: vec![backend(cluster, 1)],
        }];
        l
    };
    let mut b = bind(
        any_port(),
        vec![
            tls_listener("gw/term", "term.example.com", TlsMode::Terminate, "plain"),
            tls_listener("gw/pass", "pass.example.com", TlsMode::Passthrough, "pass"),
        ],
    );
    b.protocol = BindProtocol::Tls;
    let gw = Gateway::start(ir(
        vec![b],
        vec![
            cluster("plain", vec![endpoint(plain)]),
            cluster("pass", vec![endpoint(pass_addr)]),
        ],
    ))
    .await;
    let gw_addr = gw.addr();
    let connect = |der: rustls_pki_types::CertificateDer<'static>, name: &'static str| async move {
        let mut roots = RootCertStore::empty();
        roots.add(der).unwrap();
        let config = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::aws_lc_rs::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
        let tcp = TcpStream::connect(gw_addr).await.unwrap();
        tokio::time::timeout(
            DEADLINE,
            tokio_rustls::TlsConnector::from(Arc::new(config))
                .connect(ServerName::try_from(name).unwrap(), tcp),
        )
        .await
        .unwrap()
        .unwrap()
    };
    // Terminated by the gateway's certificate, plain TCP to the backend.
    let mut term = connect(gw_der, "term.example.com").await;
    assert_eq!(read_line(&mut term).await, "plain");
    term.write_all(b"PING\n").await.unwrap();
    term.flush().await.unwrap();
    assert_eq!(read_line(&mut term).await, "PING");
    // Passed through to the backend's own certificate.
    let mut pass = connect(pass_der, "pass.example.com").await;
    assert_eq!(read_line(&mut pass).await, "pass.example.com");
}

/// A UDP backend answering `<name>:<payload>`.
async fn udp_backend(name: &'static str) -> SocketAddr {
    let s = tokio::net::UdpSocket::bind(any_port()).await.unwrap();
    let addr = s.local_addr().unwrap();
    tokio::spawn(async move {
        let mut buf = [0u8; 2048];
        while let Ok((n, from)) = s.recv_from(&mut buf).await {
            let mut reply = format!("{name}:").into_bytes();
            reply.extend_from_slice(&buf[..n]);
            let _ = s.send_to(&reply, from).await;
        }
    });
    addr
}

#[tokio::test]
async fn udp_and_tcp_share_a_port() {
    let u = udp_backend("udp-a").await;
    let t = tcp_backend("tcp-a").await;
    // One concrete port for both transports.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let l4 = |id: &str, protocol, cluster: &str| {
        let route = L4Route {
            route: ObjectRef::default(),
            backends: vec![backend(cluster, 1)],
        };
        let mut b = bind(addr, vec![l4_listener(id, protocol, Some(route))]);
        b.protocol = protocol;
        b
    };
    let gw = Gateway::start(ir(
        vec![
            l4("gw/udp", BindProtocol::Udp, "u"),
            l4("gw/tcp", BindProtocol::Tcp, "t"),
        ],
        vec![
            cluster("u", vec![endpoint(u)]),
            cluster("t", vec![endpoint(t)]),
        ],
    ))
    .await;
    assert_eq!(gw.report.listener("gw/udp").unwrap().address, addr);

    let client = tokio::net::UdpSocket::bind(any_port()).await.unwrap();
    let mut buf = [0u8; 2048];
    for msg in ["one", "two"] {
        client.send_to(msg.as_bytes(), addr).await.unwrap();
        let (n, from) = tokio::time::timeout(DEADLINE, client.recv_from(&mut buf))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(from, addr, "replies come from the listener address");
        assert_eq!(&buf[..n], format!("udp-a:{msg}").as_bytes());
    }
    let mut s = TcpStream::connect(addr).await.unwrap();
    assert_eq!(read_line(&mut s).await, "tcp-a");

    // Removing the UDP bind leaves the TCP one serving.
    let route = L4Route {
        route: ObjectRef::default(),
        backends: vec![backend("t", 1)],
    };
    let mut tcp_only = bind(
        addr,
        vec![l4_listener("gw/tcp", BindProtocol::Tcp, Some(route))],
    );
    tcp_only.protocol = BindProtocol::Tcp;
    gw.proxy
        .apply(ir(vec![tcp_only], vec![cluster("t", vec![endpoint(t)])]))
        .await;
    let mut s = TcpStream::connect(addr).await.unwrap();
    assert_eq!(read_line(&mut s).await, "tcp-a");
}

/// A TCP bind at its connection limit closes new connections at once (and
/// counts them); a slot freed by a closed connection is usable again.
#[tokio::test]
async fn tcp_connection_limit_refuses_and_recovers() {
    let backend_addr = tcp_backend("a").await;
    let mut b = bind(
        any_port(),
        vec![l4_listener(
            "gw/tcp",
            BindProtocol::Tcp,
            Some(L4Route {
                route: ObjectRef::default(),
                backends: vec![backend("a", 1)],
            }),
        )],
    );
    b.protocol = BindProtocol::Tcp;
    let config = portico_proxy::ProxyConfig {
        max_stream_connections: 1,
        ..Default::default()
    };
    let gw = Gateway::start_with(
        config,
        ir(vec![b], vec![cluster("a", vec![endpoint(backend_addr)])]),
    )
    .await;
    let mut first = TcpStream::connect(gw.addr()).await.unwrap();
    assert_eq!(read_line(&mut first).await, "a");
    // The second connection is closed without reaching the backend.
    let mut second = TcpStream::connect(gw.addr()).await.unwrap();
    let mut buf = Vec::new();
    let n = tokio::time::timeout(DEADLINE, second.read_to_end(&mut buf))
        .await
        .expect("closed in time")
        .unwrap_or(0);
    assert_eq!(n, 0, "{buf:?}");
    assert_eq!(
        gw.proxy
            .metrics()
            .snapshot()
            .stream_connections_refused_total,
        1
    );
    // Freed slot: a new connection works.
    drop(first);
    let until = tokio::time::Instant::now() + DEADLINE;
    loop {
        let mut again = TcpStream::connect(gw.addr()).await.unwrap();
        let mut line = Vec::new();
        let got = tokio::time::timeout(std::time::Duration::from_millis(500), async {
            let mut byte = [0u8; 1];
            while again.read(&mut byte).await.unwrap_or(0) == 1 && byte[0] != b'\n' {
                line.push(byte[0]);
            }
        })
        .await;
        if got.is_ok() && line == b"a" {
            break;
        }
        assert!(tokio::time::Instant::now() < until, "slot never freed");
    }
}
