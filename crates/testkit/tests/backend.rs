//! EchoBackend, manifests and eventually working together.

use std::time::Duration;

use portico_testkit::{EchoBackend, Identity, TestCa, eventually, manifests};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

const DEADLINE: Duration = Duration::from_secs(10);

async fn raw_get(addr: std::net::SocketAddr, path: &str) -> String {
    let mut s = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let req = format!("GET {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n");
    s.write_all(req.as_bytes()).await.expect("write");
    let mut out = String::new();
    tokio::time::timeout(DEADLINE, s.read_to_string(&mut out))
        .await
        .expect("deadline")
        .expect("read");
    out
}

#[tokio::test]
async fn http_backend_records_requests() {
    let backend = EchoBackend::http(Identity::new("ns", "infra-backend-v1"))
        .await
        .expect("backend");
    assert!(backend.identity().pod.starts_with("infra-backend-v1-"));
    let resp = raw_get(backend.addr(), "/mirror?n=1").await;
    assert!(resp.starts_with("HTTP/1.1 200"), "{resp}");
    assert!(resp.contains("\"pod\": \"infra-backend-v1-"), "{resp}");

    let record = backend
        .wait_for_record(DEADLINE, |r| r.request_uri == "/mirror?n=1")
        .await
        .expect("record");
    assert!(
        record
            .line()
            .starts_with("Echoing back request made to /mirror?n=1 to client (127.0.0.1:")
    );
    // Already-seen records are found again; missing ones time out.
    assert!(
        backend
            .wait_for_record(DEADLINE, |r| r.request_uri == "/mirror?n=1")
            .await
            .is_ok()
    );
    assert!(
        backend
            .wait_for_record(Duration::from_millis(50), |r| r.request_uri == "/never")
            .await
            .is_err()
    );

    raw_get(backend.addr(), "/second").await;
    let n = eventually(DEADLINE, || {
        let n = backend.request_count();
        async move { if n == 2 { Ok(n) } else { Err(n) } }
    })
    .await
    .expect("two records");
    assert_eq!(n, 2);
    assert_eq!(backend.records().len(), 2);
    let addr = backend.addr();
    backend.shutdown().await;
    assert!(tokio::net::TcpStream::connect(addr).await.is_err());
}

#[tokio::test]
async fn every_kind_starts_on_its_own_port() {
    let id = || Identity::new("ns", "svc");
    let backends = [
        EchoBackend::http(id()).await.expect("http"),
        EchoBackend::h2c(id()).await.expect("h2c"),
        EchoBackend::grpc(id()).await.expect("grpc"),
        EchoBackend::tcp(id()).await.expect("tcp"),
        EchoBackend::udp(id()).await.expect("udp"),
    ];
    let mut ports: Vec<u16> = backends.iter().map(|b| b.addr().port()).collect();
    ports.sort_unstable();
    ports.dedup();
    assert!(ports.len() >= 4, "TCP ports must differ: {ports:?}");
    let mut tcp = tokio::net::TcpStream::connect(backends[3].addr())
        .await
        .expect("connect");
    let mut greeting = [0u8; 28];
    tokio::time::timeout(DEADLINE, tcp.read_exact(&mut greeting))
        .await
        .expect("deadline")
        .expect("read");
    assert_eq!(&greeting, b"Gateway API Test TCP Server\n");
}

#[tokio::test]
async fn manifests_parse_as_yaml() {
    let a = EchoBackend::http(Identity::new(
        "gateway-conformance-infra",
        "infra-backend-v1",
    ))
    .await
    .expect("backend");
    let b = EchoBackend::http(Identity::new(
        "gateway-conformance-infra",
        "infra-backend-v1",
    ))
    .await
    .expect("backend");
    let yaml = manifests::service(
        "gateway-conformance-infra",
        "infra-backend-v1",
        8080,
        "TCP",
        Some("kubernetes.io/h2c"),
        &[(&a).into(), (&b).into()],
    );
    let ca = TestCa::new("ca").expect("ca");
    let cert = ca.server_cert(&["abc.example.com"]).expect("cert");
    let all = format!(
        "{yaml}---\n{}---\n{}",
        manifests::tls_secret("ns", "tls-secret", &cert),
        manifests::ca_config_map("ns", "ca", ca.cert_pem())
    );
    let docs: Vec<serde_json::Value> = all
        .split("---\n")
        .map(|d| serde_saphyr::from_str(d).expect("yaml document"))
        .collect();
    assert_eq!(docs.len(), 5);
    assert_eq!(docs[0]["kind"], "Service");
    assert_eq!(docs[0]["spec"]["ports"][0]["port"], 8080);
    assert_eq!(
        docs[0]["spec"]["ports"][0]["appProtocol"],
        "kubernetes.io/h2c"
    );
    assert_eq!(docs[1]["kind"], "EndpointSlice");
    assert_eq!(
        docs[1]["metadata"]["labels"]["kubernetes.io/service-name"],
        "infra-backend-v1"
    );
    assert_eq!(docs[1]["ports"][0]["port"], a.addr().port());
    assert_eq!(docs[2]["endpoints"][0]["addresses"][0], "127.0.0.1");
    assert_eq!(
        docs[2]["endpoints"][0]["targetRef"]["name"],
        b.identity().pod.as_str()
    );
    assert_eq!(docs[3]["type"], "kubernetes.io/tls");
    assert_eq!(docs[3]["stringData"]["tls.key"], cert.key_pem.as_str());
    assert_eq!(docs[4]["data"]["ca.crt"], ca.cert_pem());
}

#[tokio::test]
async fn tls_backends_serve_the_test_ca_certificate() {
    let ca = TestCa::new("ca").expect("ca");
    let cert = ca.server_cert(&["tls.example.com"]).expect("cert");
    let https = EchoBackend::https(
        Identity::new("ns", "tls-backend"),
        &cert,
        Some(ca.cert_pem()),
    )
    .await
    .expect("https");
    let tcp_tls = EchoBackend::tcp_tls(Identity::new("ns", "tls-tcp"), &cert)
        .await
        .expect("tcp tls");
    assert_ne!(https.addr(), tcp_tls.addr());
    // A rustls client trusting the test CA gets the echo with its tls block.
    let mut roots = rustls::RootCertStore::empty();
    roots.add(ca.cert_der()).expect("root");
    let client = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("versions")
    .with_root_certificates(roots)
    .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(std::sync::Arc::new(client));
    let tcp = tokio::net::TcpStream::connect(https.addr())
        .await
        .expect("connect");
    let name = rustls::pki_types::ServerName::try_from("tls.example.com").expect("name");
    let mut tls = tokio::time::timeout(DEADLINE, connector.connect(name, tcp))
        .await
        .expect("deadline")
        .expect("handshake");
    tls.write_all(b"GET /tls HTTP/1.1\r\nHost: tls.example.com\r\nConnection: close\r\n\r\n")
        .await
        .expect("write");
    let mut answer = String::new();
    tokio::time::timeout(DEADLINE, tls.read_to_string(&mut answer))
        .await
        .expect("deadline")
        .ok();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(
        answer.contains("\"serverName\": \"tls.example.com\""),
        "{answer}"
    );
    assert!(matches!(
        EchoBackend::start(portico_testkit::EchoKind::Https, Identity::new("ns", "x")).await,
        Err(portico_testkit::Error::MissingTls(_))
    ));
}

#[tokio::test]
async fn client_helpers_read_echo_answers() {
    use portico_testkit::client;

    let backend = EchoBackend::http(Identity::new("ns", "infra-backend-v2"))
        .await
        .expect("backend");
    let resp = client::get(backend.addr(), "example.com", "/x?y=1")
        .await
        .expect("get");
    let answer = client::echo_answer(&resp).expect("answer");
    assert_eq!(answer.host, "example.com");
    assert_eq!(answer.path, "/x?y=1");
    assert_eq!(answer.deployment(), "infra-backend-v2");

    let req = http::Request::get("http://h2.example.com/z")
        .body(http_body_util::Full::new(bytes::Bytes::new()))
        .expect("request");
    let resp = client::send(backend.addr(), http::Version::HTTP_2, req)
        .await
        .expect("h2");
    assert_eq!(
        client::echo_answer(&resp).expect("answer").proto,
        "HTTP/2.0"
    );

    let health = client::get(backend.addr(), "h", "/health")
        .await
        .expect("health");
    assert!(
        client::echo_answer(&health).is_err(),
        "/health is not an echo answer"
    );
}

#[tokio::test]
async fn multi_port_service_maps_each_replica() {
    use portico_testkit::manifests::{PortSpec, ReplicaSpec, service_with_ports};

    let id = || Identity::new("gateway-conformance-infra", "infra-backend-v1");
    let (http, h2c) = (
        EchoBackend::http(id()).await.expect("http"),
        EchoBackend::h2c(id()).await.expect("h2c"),
    );
    let replica = ReplicaSpec {
        ip: http.addr().ip(),
        pod: http.identity().pod.clone(),
        ports: vec![
            ("first-port".into(), http.addr().port()),
            ("second-port".into(), h2c.addr().port()),
        ],
        ready: true,
    };
    let yaml = service_with_ports(
        "gateway-conformance-infra",
        "infra-backend-v1",
        &[
            PortSpec::tcp("first-port", 8080),
            PortSpec::tcp("second-port", 8081).app_protocol("kubernetes.io/h2c"),
        ],
        &[
            replica.clone(),
            ReplicaSpec {
                ready: false,
                ..replica
            },
        ],
    );
    let docs: Vec<serde_json::Value> = yaml
        .split("---\n")
        .map(|d| serde_saphyr::from_str(d).expect("yaml document"))
        .collect();
    assert_eq!(docs.len(), 3);
    assert_eq!(
        docs[0]["spec"]["ports"][1]["appProtocol"],
        "kubernetes.io/h2c"
    );
    assert_eq!(docs[1]["ports"][0]["name"], "first-port");
    assert_eq!(docs[1]["ports"][1]["port"], h2c.addr().port());
    assert_eq!(docs[1]["endpoints"][0]["conditions"]["ready"], true);
    assert_eq!(docs[2]["endpoints"][0]["conditions"]["ready"], false);
}

#[tokio::test]
async fn manifests_load_through_the_model() {
    use portico_testkit::manifests::{PortSpec, ReplicaSpec, service_with_ports};

    let backend = EchoBackend::http(Identity::new("ns", "svc"))
        .await
        .expect("backend");
    let ca = TestCa::new("ca").expect("ca");
    let cert = ca.server_cert(&["abc.example.com"]).expect("cert");
    let yaml = [
        manifests::service("ns", "svc", 8080, "TCP", None, &[(&backend).into()]),
        service_with_ports(
            "ns",
            "multi",
            &[
                PortSpec::tcp("a", 80),
                PortSpec::tcp("b", 81).app_protocol("kubernetes.io/ws"),
            ],
            &[ReplicaSpec {
                ip: backend.addr().ip(),
                pod: backend.identity().pod.clone(),
                ports: vec![
                    ("a".into(), backend.addr().port()),
                    ("b".into(), backend.addr().port()),
                ],
                ready: true,
            }],
        ),
        manifests::tls_secret("ns", "cert", &cert),
        manifests::ca_config_map("ns", "ca", ca.cert_pem()),
    ]
    .join("---\n");
    let loaded = portico_model::load_str(std::path::Path::new("testkit.yaml"), &yaml);
    assert!(loaded.errors.is_empty(), "{:?}", loaded.errors);
    assert!(loaded.skipped.is_empty(), "{:?}", loaded.skipped);
    assert_eq!(loaded.documents.len(), 6);
}

#[tokio::test]
async fn start_on_a_caller_bound_loopback_address() {
    use portico_testkit::{Bound, EchoKind};

    // 127.0.0.2 is loopback on Linux: a second "pod IP" without guessing ports.
    let listener = tokio::net::TcpListener::bind("127.0.0.2:0")
        .await
        .expect("bind");
    let backend = EchoBackend::start_on(
        EchoKind::Http,
        Identity::new("ns", "svc"),
        Bound::Tcp(listener),
        None,
    )
    .await
    .expect("backend");
    assert_eq!(backend.addr().ip().to_string(), "127.0.0.2");
    let resp = portico_testkit::client::get(backend.addr(), "h", "/")
        .await
        .expect("get");
    assert_eq!(resp.status(), http::StatusCode::OK);

    let tcp = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    assert!(matches!(
        EchoBackend::start_on(
            EchoKind::Udp,
            Identity::new("ns", "u"),
            Bound::Tcp(tcp),
            None
        )
        .await,
        Err(portico_testkit::Error::WrongSocket(EchoKind::Udp))
    ));
}
