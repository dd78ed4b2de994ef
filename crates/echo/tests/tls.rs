//! HTTPS and TCP-over-TLS echo with rustls clients; certificates from rcgen.

mod common;

use std::sync::Arc;

use bytes::Bytes;
use common::{config, get, json, listener, within};
use http_body_util::{BodyExt as _, Empty};
use hyper_util::rt::{TokioExecutor, TokioIo};
use portico_echo::{CancellationToken, TlsSettings, serve_https, serve_tcp_tls};
use rcgen::{
    BasicConstraints, CertificateParams, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio::io::{AsyncBufReadExt as _, AsyncWriteExt as _, BufReader};
use tokio_rustls::TlsConnector;

struct Pki {
    ca_pem: String,
    server: (String, String),
    client: (String, String),
}

fn pki() -> Pki {
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("params");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let ca_key = KeyPair::generate().expect("key");
    let ca_cert = ca_params.self_signed(&ca_key).expect("ca");
    let issuer = Issuer::new(ca_params, ca_key);
    let leaf = |names: Vec<String>, eku| {
        let mut p = CertificateParams::new(names).expect("params");
        p.extended_key_usages = vec![eku];
        let key = KeyPair::generate().expect("key");
        let cert = p.signed_by(&key, &issuer).expect("sign");
        (cert.pem(), key.serialize_pem())
    };
    Pki {
        ca_pem: ca_cert.pem(),
        server: leaf(
            vec!["abc.example.com".into()],
            ExtendedKeyUsagePurpose::ServerAuth,
        ),
        client: leaf(vec![], ExtendedKeyUsagePurpose::ClientAuth),
    }
}

fn connector(pki: &Pki, alpn: &[&[u8]], with_client_cert: bool) -> TlsConnector {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_slice(pki.ca_pem.as_bytes()).expect("ca"))
        .expect("root");
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_root_certificates(roots);
    let mut config = if with_client_cert {
        builder
            .with_client_auth_cert(
                vec![CertificateDer::from_pem_slice(pki.client.0.as_bytes()).expect("cert")],
                PrivateKeyDer::from_pem_slice(pki.client.1.as_bytes()).expect("key"),
            )
            .expect("client auth")
    } else {
        builder.with_no_client_auth()
    };
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    TlsConnector::from(Arc::new(config))
}

fn settings(pki: &Pki) -> TlsSettings {
    TlsSettings::new(pki.server.0.clone(), pki.server.1.clone()).with_client_ca(pki.ca_pem.clone())
}

#[tokio::test]
async fn https_reports_tls_parameters_over_http1_and_h2() {
    let pki = pki();
    let (config, _log) = config("tls-backend");
    let server = serve_https(
        listener().await,
        config,
        settings(&pki),
        CancellationToken::new(),
    )
    .await
    .expect("serve");
    let addr = server.local_addr();
    let sni = ServerName::try_from("abc.example.com").expect("name");

    // HTTP/1.1 with a client certificate.
    let tcp = within(tokio::net::TcpStream::connect(addr))
        .await
        .expect("connect");
    let tls = within(connector(&pki, &[b"http/1.1"], true).connect(sni.clone(), tcp))
        .await
        .expect("handshake");
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
        .await
        .expect("h1");
    tokio::spawn(conn);
    let resp = within(sender.send_request(get("/backendTLS", "abc.example.com")))
        .await
        .expect("response");
    let (parts, body) = resp.into_parts();
    let body = within(body.collect()).await.expect("body").to_bytes();
    let v = json(&http::Response::from_parts(parts, body));
    assert_eq!(v["tls"]["version"], "TLSv1.3");
    assert_eq!(v["tls"]["serverName"], "abc.example.com");
    assert_eq!(v["tls"]["negotiatedProtocol"], "http/1.1");
    assert!(
        v["tls"]["cipherSuite"]
            .as_str()
            .expect("suite")
            .starts_with("TLS_")
    );
    let peers = v["tls"]["peerCertificates"].as_array().expect("peer certs");
    assert_eq!(peers.len(), 1);
    assert_eq!(peers[0].as_str().expect("pem").trim(), pki.client.0.trim());

    // HTTP/2 via ALPN, without a client certificate (still served).
    let tcp = within(tokio::net::TcpStream::connect(addr))
        .await
        .expect("connect");
    let tls = within(connector(&pki, &[b"h2"], false).connect(sni, tcp))
        .await
        .expect("handshake");
    let (mut sender, conn) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(tls))
            .await
            .expect("h2");
    tokio::spawn(conn);
    let req = http::Request::get("https://abc.example.com/x")
        .body(Empty::<Bytes>::new())
        .expect("request");
    let resp = within(sender.send_request(req)).await.expect("response");
    let (parts, body) = resp.into_parts();
    let body = within(body.collect()).await.expect("body").to_bytes();
    let v = json(&http::Response::from_parts(parts, body));
    assert_eq!(v["proto"], "HTTP/2.0");
    assert_eq!(v["tls"]["negotiatedProtocol"], "h2");
    assert!(v["tls"].get("peerCertificates").is_none());
}

#[tokio::test]
async fn https_rejects_untrusted_client_certificates() {
    let pki = pki();
    let other = self::pki();
    let (config, _log) = config("tls-backend");
    let server = serve_https(
        listener().await,
        config,
        settings(&pki),
        CancellationToken::new(),
    )
    .await
    .expect("serve");
    let tcp = within(tokio::net::TcpStream::connect(server.local_addr()))
        .await
        .expect("connect");
    // Trusts the right server CA but presents a client cert from another CA.
    let bad = Pki {
        ca_pem: pki.ca_pem.clone(),
        server: pki.server.clone(),
        client: other.client.clone(),
    };
    let connector = connector(&bad, &[b"http/1.1"], true);
    let result = within(async {
        let mut tls = connector
            .connect(ServerName::try_from("abc.example.com").expect("name"), tcp)
            .await?;
        // TLS 1.3 reports client-cert rejection on the first read/write.
        tls.write_all(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n").await?;
        let mut line = String::new();
        BufReader::new(tls).read_line(&mut line).await?;
        if line.is_empty() {
            return Err(std::io::Error::other("closed"));
        }
        Ok::<_, std::io::Error>(line)
    })
    .await;
    assert!(result.is_err(), "got {result:?}");
}

#[tokio::test]
async fn tcp_over_tls() {
    let pki = pki();
    let (config, _log) = config("tls-tcp-backend");
    let server = serve_tcp_tls(
        listener().await,
        config,
        TlsSettings::new(pki.server.0.clone(), pki.server.1.clone()),
        CancellationToken::new(),
    )
    .await
    .expect("serve");
    let tcp = within(tokio::net::TcpStream::connect(server.local_addr()))
        .await
        .expect("connect");
    let tls = within(
        connector(&pki, &[], false)
            .connect(ServerName::try_from("abc.example.com").expect("name"), tcp),
    )
    .await
    .expect("handshake");
    let (read, mut write) = tokio::io::split(tls);
    let mut lines = BufReader::new(read).lines();
    let greeting = within(lines.next_line())
        .await
        .expect("read")
        .expect("line");
    assert_eq!(greeting, "Gateway API Test TCP Server");
    write.write_all(b"IS_TLS\nTEST\n").await.expect("write");
    write.flush().await.expect("flush");
    assert_eq!(
        within(lines.next_line())
            .await
            .expect("read")
            .expect("line"),
        "true"
    );
    let test = within(lines.next_line())
        .await
        .expect("read")
        .expect("line");
    let v: serde_json::Value = serde_json::from_str(&test).expect("json");
    assert_eq!(v["isTLS"], true);
    assert_eq!(v["tls"]["version"], "TLS 1.3");
    assert_eq!(v["tls"]["serverName"], "abc.example.com");
    assert!(v["tlsport"].is_string());
}

#[tokio::test]
async fn grpc_over_tls_reports_tls_assertions() {
    use portico_echo::proto::EchoRequest;
    use portico_echo::proto::grpc_echo_client::GrpcEchoClient;
    use tonic::transport::{Certificate, ClientTlsConfig, Endpoint};

    let pki = pki();
    let (config, _log) = config("grpc-tls-backend");
    let server = portico_echo::serve_grpc_tls(
        listener().await,
        config,
        TlsSettings::new(pki.server.0.clone(), pki.server.1.clone()),
        CancellationToken::new(),
    )
    .await
    .expect("serve");
    let tls = ClientTlsConfig::new()
        .ca_certificate(Certificate::from_pem(pki.ca_pem.clone()))
        .domain_name("abc.example.com");
    let channel = within(
        Endpoint::from_shared(format!("https://{}", server.local_addr()))
            .expect("endpoint")
            .tls_config(tls)
            .expect("tls config")
            .connect(),
    )
    .await
    .expect("connect");
    let resp = within(GrpcEchoClient::new(channel).echo(EchoRequest {}))
        .await
        .expect("echo")
        .into_inner();
    let a = resp.assertions.expect("assertions");
    let t = a.tls_assertions.expect("tls assertions");
    assert_eq!(t.version, "TLSv1.3");
    assert_eq!(t.server_name, "abc.example.com");
    assert_eq!(t.negotiated_protocol, "h2");
    assert!(t.cipher_suite.starts_with("TLS_"));
    assert_eq!(a.context.expect("context").service_name, "grpc-tls-backend");
}
