use std::sync::Arc;

use bytes::Bytes;
use http::{Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::{TokioExecutor, TokioIo};
use portico_ir::*;
use rustls::RootCertStore;
use rustls_pki_types::{CertificateDer, ServerName};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

use crate::common::*;

struct TestCert {
    pem: CertifiedKeyPem,
    der: CertificateDer<'static>,
}

fn cert(names: &[&str]) -> TestCert {
    let ck =
        rcgen::generate_simple_self_signed(names.iter().map(|s| s.to_string()).collect::<Vec<_>>())
            .unwrap();
    TestCert {
        pem: CertifiedKeyPem {
            source: "test/cert".into(),
            cert_chain_pem: ck.cert.pem(),
            key_pem: ck.signing_key.serialize_pem(),
        },
        der: ck.cert.der().clone(),
    }
}

fn https_listener(id: &str, hostname: &str, cert: &TestCert, backend_name: &str) -> Listener {
    let mut l = listener(
        id,
        Some(hostname),
        vec![vhost(
            Some(hostname),
            vec![route(prefix("/"), vec![backend(backend_name, 1)])],
        )],
    );
    l.protocol = BindProtocol::Https;
    l.tls = Some(ListenerTls {
        mode: TlsMode::Terminate,
        certificates: vec![cert.pem.clone()],
        client_validation: None,
    });
    l
}

async fn tls(
    addr: std::net::SocketAddr,
    sni: &str,
    roots: &[&TestCert],
    alpn: &[u8],
) -> tokio_rustls::client::TlsStream<TcpStream> {
    let mut store = RootCertStore::empty();
    for r in roots {
        store.add(r.der.clone()).unwrap();
    }
    let mut config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(store)
    .with_no_client_auth();
    config.alpn_protocols = vec![alpn.to_vec()];
    let tcp = TcpStream::connect(addr).await.unwrap();
    let name = ServerName::try_from(sni.to_string()).unwrap();
    tokio::time::timeout(
        DEADLINE,
        TlsConnector::from(Arc::new(config)).connect(name, tcp),
    )
    .await
    .unwrap()
    .unwrap()
}

async fn h1_over(
    stream: tokio_rustls::client::TlsStream<TcpStream>,
    host: &str,
    path: &str,
) -> (StatusCode, serde_json::Value) {
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .unwrap();
    tokio::spawn(conn);
    let req = Request::builder()
        .uri(path)
        .header("host", host)
        .body(Full::new(Bytes::new()))
        .unwrap();
    let resp = tokio::time::timeout(DEADLINE, sender.send_request(req))
        .await
        .unwrap()
        .unwrap();
    let status = resp.status();
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null),
    )
}

#[tokio::test]
async fn https_terminates_tls_selects_listener_by_sni_and_speaks_h2() {
    let a = Echo::start("a").await;
    let w = Echo::start("w").await;
    let secure = cert(&["secure.example.com"]);
    let wild = cert(&["*.wild.example.com"]);
    let mut b = bind(
        any_port(),
        vec![
            https_listener("gw/secure", "secure.example.com", &secure, "a"),
            https_listener("gw/wild", "*.wild.example.com", &wild, "w"),
        ],
    );
    b.protocol = BindProtocol::Https;
    let gw = Gateway::start(ir(vec![b], vec![a.cluster(), w.cluster()])).await;
    let addr = gw.addr();

    // HTTP/1.1 over TLS: SNI picks the certificate, Host the routes.
    let (status, body) = h1_over(
        tls(addr, "secure.example.com", &[&secure], b"http/1.1").await,
        "secure.example.com",
        "/x",
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["backend"], "a");
    assert_eq!(body["headers"]["x-forwarded-proto"][0], "https");
    let (_, body) = h1_over(
        tls(addr, "foo.wild.example.com", &[&wild], b"http/1.1").await,
        "foo.wild.example.com",
        "/",
    )
    .await;
    assert_eq!(body["backend"], "w");

    // Host selecting another HTTPS listener than the SNI: 421.
    let (status, _) = h1_over(
        tls(addr, "secure.example.com", &[&secure], b"http/1.1").await,
        "foo.wild.example.com",
        "/",
    )
    .await;
    assert_eq!(status, StatusCode::MISDIRECTED_REQUEST);

    // HTTP/2 by ALPN.
    let stream = tls(addr, "secure.example.com", &[&secure], b"h2").await;
    assert_eq!(stream.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
    let (mut sender, conn) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(stream))
            .await
            .unwrap();
    tokio::spawn(conn);
    let req = Request::builder()
        .uri("https://secure.example.com/h2")
        .body(Full::new(Bytes::new()))
        .unwrap();
    let resp = tokio::time::timeout(DEADLINE, sender.send_request(req))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let body: serde_json::Value =
        serde_json::from_slice(&resp.into_body().collect().await.unwrap().to_bytes()).unwrap();
    assert_eq!(body["backend"], "a");
}

/// Several certificateRefs on one listener: the certificate covering the
/// SNI is served (each client trusts only its own name's certificate).
#[tokio::test]
async fn several_certificates_on_one_listener_are_chosen_by_sni() {
    let a = Echo::start("a").await;
    let first = cert(&["first.example.com"]);
    let second = cert(&["second.example.com"]);
    let mut l = listener(
        "gw/multi",
        None,
        vec![vhost(None, vec![route(prefix("/"), vec![backend("a", 1)])])],
    );
    l.protocol = BindProtocol::Https;
    l.tls = Some(ListenerTls {
        mode: TlsMode::Terminate,
        certificates: vec![first.pem.clone(), second.pem.clone()],
        client_validation: None,
    });
    let mut b = bind(any_port(), vec![l]);
    b.protocol = BindProtocol::Https;
    let gw = Gateway::start(ir(vec![b], vec![a.cluster()])).await;
    for (name, c) in [
        ("second.example.com", &second),
        ("first.example.com", &first),
    ] {
        let (status, body) =
            h1_over(tls(gw.addr(), name, &[c], b"http/1.1").await, name, "/").await;
        assert_eq!(status, StatusCode::OK, "{name}");
        assert_eq!(body["backend"], "a");
    }
}

#[tokio::test]
async fn broken_certificate_fails_only_its_listener() {
    let a = Echo::start("a").await;
    let good = cert(&["good.example.com"]);
    let mut bad = cert(&["bad.example.com"]);
    bad.pem.key_pem = "-----BEGIN PRIVATE KEY-----\nnope\n-----END PRIVATE KEY-----\n".into();
    let mut b = bind(
        any_port(),
        vec![
            https_listener("gw/good", "good.example.com", &good, "a"),
            https_listener("gw/bad", "bad.example.com", &bad, "a"),
        ],
    );
    b.protocol = BindProtocol::Https;
    let proxy = portico_proxy::Proxy::new(portico_proxy::ProxyConfig::default());
    let report = proxy.apply(ir(vec![b], vec![a.cluster()])).await;
    assert!(report.listener("gw/good").unwrap().error.is_none());
    let bad_state = report.listener("gw/bad").unwrap();
    assert!(
        bad_state
            .error
            .as_deref()
            .is_some_and(|e| e.contains("TLS")),
        "{bad_state:?}"
    );
    let addr = report.listener("gw/good").unwrap().address;
    let (status, _) = h1_over(
        tls(addr, "good.example.com", &[&good], b"http/1.1").await,
        "good.example.com",
        "/",
    )
    .await;
    assert_eq!(status, StatusCode::OK);
}

pub fn backend_server_config(names: &[&str]) -> (Arc<rustls::ServerConfig>, String) {
    let ck =
        rcgen::generate_simple_self_signed(names.iter().map(|s| s.to_string()).collect::<Vec<_>>())
            .unwrap();
    let key = rustls_pki_types::PrivateKeyDer::try_from(ck.signing_key.serialize_der()).unwrap();
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(vec![ck.cert.der().clone()], key)
    .unwrap();
    (Arc::new(config), ck.cert.pem())
}

#[tokio::test]
async fn backend_tls_policy_verifies_the_backend() {
    let (config, ca_pem) = backend_server_config(&["backend.example.com"]);
    let tls_echo = Echo::start_tls("tls", config).await;
    let with_tls = |name: &str, hostname: &str, sans: Vec<SubjectAltName>| {
        let mut c = cluster(name, vec![tls_echo.endpoint()]);
        c.tls = Some(BackendTls {
            hostname: hostname.into(),
            ca_pem: Some(ca_pem.clone()),
            system_roots: false,
            subject_alt_names: sans,
            client_certificate: None,
        });
        c
    };
    let gw = Gateway::start(simple(
        vec![
            route(prefix("/good"), vec![backend("good", 1)]),
            route(prefix("/wrong-name"), vec![backend("wrong", 1)]),
            route(prefix("/san"), vec![backend("san", 1)]),
        ],
        vec![
            with_tls("good", "backend.example.com", vec![]),
            with_tls("wrong", "other.example.com", vec![]),
            with_tls(
                "san",
                "sni-only.example.com",
                vec![SubjectAltName::Hostname("backend.example.com".into())],
            ),
        ],
    ))
    .await;
    for _ in 0..3 {
        let r = get(gw.addr(), "app.example.com", "/good").await;
        assert_eq!(r.status, StatusCode::OK);
        assert_eq!(r.json()["host"], "app.example.com");
    }
    let wrong = get(gw.addr(), "app.example.com", "/wrong-name").await;
    assert_eq!(
        wrong.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "certificate name mismatch fails fast"
    );
    assert_eq!(
        get(gw.addr(), "app.example.com", "/san").await.status,
        StatusCode::OK
    );
    // Three /good requests over one pooled TLS connection, plus one for /san.
    assert_eq!(tls_echo.hits(), 4);
}

#[tokio::test]
async fn frontend_client_certificate_validation() {
    let a = Echo::start("a").await;
    let server = cert(&["mtls.example.com", "fallback.example.com"]);
    let client_ck =
        rcgen::generate_simple_self_signed(vec!["client.example.com".to_string()]).unwrap();
    let client_chain = vec![client_ck.cert.der().clone()];
    let client_key =
        rustls_pki_types::PrivateKeyDer::try_from(client_ck.signing_key.serialize_der()).unwrap();
    let validated = |id: &str, host: &str, fallback: bool| {
        let mut l = https_listener(id, host, &server, "a");
        if let Some(tls) = l.tls.as_mut() {
            tls.client_validation = Some(ClientValidation {
                ca_pem: client_ck.cert.pem(),
                allow_insecure_fallback: fallback,
            });
        }
        l
    };
    let mut b = bind(
        any_port(),
        vec![
            validated("gw/mtls", "mtls.example.com", false),
            validated("gw/fallback", "fallback.example.com", true),
        ],
    );
    b.protocol = BindProtocol::Https;
    let gw = Gateway::start(ir(vec![b], vec![a.cluster()])).await;
    let addr = gw.addr();

    let client = |with_cert: bool| {
        let mut store = RootCertStore::empty();
        store.add(server.der.clone()).unwrap();
        let builder = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::aws_lc_rs::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(store);
        let config = if with_cert {
            builder
                .with_client_auth_cert(client_chain.clone(), client_key.clone_key())
                .unwrap()
        } else {
            builder.with_no_client_auth()
        };
        TlsConnector::from(Arc::new(config))
    };
    let request = |connector: TlsConnector, sni: &'static str| async move {
        let tcp = TcpStream::connect(addr).await.unwrap();
        let stream = tokio::time::timeout(
            DEADLINE,
            connector.connect(ServerName::try_from(sni).unwrap(), tcp),
        )
        .await
        .unwrap()
        .ok()?;
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .ok()?;
        tokio::spawn(conn);
        let req = Request::builder()
            .uri("/")
            .header("host", sni)
            .body(Full::new(Bytes::new()))
            .unwrap();
        let resp = tokio::time::timeout(DEADLINE, sender.send_request(req))
            .await
            .unwrap()
            .ok()?;
        Some(resp.status())
    };
    assert_eq!(
        request(client(true), "mtls.example.com").await,
        Some(StatusCode::OK)
    );
    assert_eq!(
        request(client(false), "mtls.example.com").await,
        None,
        "no client certificate: refused"
    );
    assert_eq!(
        request(client(false), "fallback.example.com").await,
        Some(StatusCode::OK),
        "AllowInsecureFallback accepts clients without a certificate"
    );
}

#[tokio::test]
async fn backend_tls_presents_the_gateway_client_certificate() {
    // The gateway's client identity, trusted by the backend.
    let gw_client =
        rcgen::generate_simple_self_signed(vec!["gateway.example.com".to_string()]).unwrap();
    let mut client_roots = RootCertStore::empty();
    client_roots.add(gw_client.cert.der().clone()).unwrap();
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
        Arc::new(client_roots),
        provider.clone(),
    )
    .build()
    .unwrap();
    let server =
        rcgen::generate_simple_self_signed(vec!["backend.example.com".to_string()]).unwrap();
    let key =
        rustls_pki_types::PrivateKeyDer::try_from(server.signing_key.serialize_der()).unwrap();
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_client_cert_verifier(verifier)
        .with_single_cert(vec![server.cert.der().clone()], key)
        .unwrap();
    let mtls_echo = Echo::start_tls("mtls", Arc::new(config)).await;
    let policy = |client_certificate| BackendTls {
        hostname: "backend.example.com".into(),
        ca_pem: Some(server.cert.pem()),
        system_roots: false,
        subject_alt_names: vec![],
        client_certificate,
    };
    let mut with_cert = cluster("with", vec![mtls_echo.endpoint()]);
    with_cert.tls = Some(policy(Some(CertifiedKeyPem {
        source: "test/gateway-client".into(),
        cert_chain_pem: gw_client.cert.pem(),
        key_pem: gw_client.signing_key.serialize_pem(),
    })));
    let mut without_cert = cluster("without", vec![mtls_echo.endpoint()]);
    without_cert.tls = Some(policy(None));
    let gw = Gateway::start(simple(
        vec![
            route(prefix("/with"), vec![backend("with", 1)]),
            route(prefix("/without"), vec![backend("without", 1)]),
        ],
        vec![with_cert, without_cert],
    ))
    .await;
    assert_eq!(get(gw.addr(), "h", "/with").await.status, StatusCode::OK);
    assert_ne!(get(gw.addr(), "h", "/without").await.status, StatusCode::OK);
}

/// Plain HTTP on an HTTPS port, and a ClientHello naming no listener:
/// closed and counted by cause (`portico_tls_rejected_total`).
#[tokio::test]
async fn garbage_and_unknown_names_on_https_are_counted() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let a = Echo::start("a").await;
    let c = cert(&["only.example.com"]);
    let mut b = bind(
        any_port(),
        vec![https_listener("gw/only", "only.example.com", &c, "a")],
    );
    b.protocol = BindProtocol::Https;
    let gw = Gateway::start(ir(vec![b], vec![a.cluster()])).await;
    let mut plain = TcpStream::connect(gw.addr()).await.expect("connect");
    plain
        .write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .expect("write");
    let mut sink = Vec::new();
    let _ = tokio::time::timeout(DEADLINE, plain.read_to_end(&mut sink)).await;
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("versions")
    .with_root_certificates(RootCertStore::empty())
    .with_no_client_auth();
    let tcp = TcpStream::connect(gw.addr()).await.expect("connect");
    let name = ServerName::try_from("other.example.com".to_string()).expect("name");
    let refused = tokio::time::timeout(
        DEADLINE,
        TlsConnector::from(Arc::new(config)).connect(name, tcp),
    )
    .await
    .expect("answered");
    assert!(refused.is_err());
    let until = tokio::time::Instant::now() + DEADLINE;
    loop {
        let r = gw.proxy.metrics().snapshot().tls_rejected;
        let counts: Vec<(&str, u64)> = r.iter().filter(|(_, n)| *n > 0).collect();
        if counts == [("not_tls", 1), ("no_route", 1)] {
            break;
        }
        assert!(tokio::time::Instant::now() < until, "{counts:?}");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}
