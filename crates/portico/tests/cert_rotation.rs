//! Certificate rotation end to end: `portico run` on a temporary directory,
//! the TLS material rewritten under it, polled with deadlines until the new
//! material is in use.
//!
//! - Listener certificate: a Secret rewritten with certificate B (and a new
//!   key) is presented to new handshakes, while a connection established
//!   with certificate A keeps serving requests.
//! - Frontend client-certificate validation: the CA ConfigMap switched from
//!   CA X to CA Y makes clients of Y accepted and clients of X refused.
//! - BackendTLSPolicy: the backend CA ConfigMap switched from a wrong CA to
//!   the backend's CA makes requests succeed, and back makes them fail.

mod common;

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use portico_testkit::{CertifiedPem, EchoBackend, Identity, TestCa, eventually, manifests};
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, ClientConnection, RootCertStore, StreamOwned};
use serde_json::Value;
use tokio::process::Child;

const DEADLINE: Duration = Duration::from_secs(20);

/// `portico run` on `dir`, killed on drop.
struct Instance {
    child: Child,
    admin: SocketAddr,
}

impl Instance {
    async fn start(dir: &Path) -> Instance {
        let (child, admin) = common::spawn_run(dir, "127.0.0.1:0", &[], DEADLINE).await;
        Instance { child, admin }
    }

    /// `address:port` of the Gateway once it is Programmed.
    async fn gateway_addr(&self, name: &str, port: u16) -> SocketAddr {
        let admin = self.admin;
        let path = format!("/api/objects?kind=Gateway&namespace=default&name={name}");
        eventually(DEADLINE, || {
            let path = path.clone();
            async move {
                let body = blocking(move || admin_get(admin, &path)).await?;
                let v: Value = serde_json::from_str(&body).map_err(|e| e.to_string())?;
                let items = v.get("items").unwrap_or(&v);
                let gw = items
                    .as_array()
                    .and_then(|a| a.first())
                    .unwrap_or(&v)
                    .clone();
                let programmed = gw["status"]["conditions"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .any(|c| c["type"] == "Programmed" && c["status"] == "True");
                let address = gw["status"]["addresses"][0]["value"].as_str();
                match (programmed, address) {
                    (true, Some(a)) => format!("{a}:{port}")
                        .parse::<SocketAddr>()
                        .map_err(|e| e.to_string()),
                    _ => Err(format!("gateway {name} not programmed: {}", gw["status"])),
                }
            }
        })
        .await
        .expect("gateway programmed")
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
    }
}

fn admin_get(admin: SocketAddr, path: &str) -> Result<String, String> {
    let mut s = TcpStream::connect(admin).map_err(|e| e.to_string())?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: admin\r\nConnection: close\r\n\r\n"
    )
    .map_err(|e| e.to_string())?;
    let mut raw = String::new();
    s.read_to_string(&mut raw).map_err(|e| e.to_string())?;
    raw.split_once("\r\n\r\n")
        .map(|(_, body)| body.to_string())
        .ok_or_else(|| format!("no body in {raw:?}"))
}

/// Runs blocking client I/O off the runtime's workers.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, String> + Send + 'static,
) -> Result<T, String> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| e.to_string())?
}

fn write(path: &Path, text: &str) {
    // Write then rename, as editors do, so the watcher never reads half a file.
    let tmp = path.with_extension("tmp~");
    std::fs::write(&tmp, text).expect("write");
    std::fs::rename(&tmp, path).expect("rename");
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("bind port 0")
        .port()
}

fn client_config(roots_pem: &[&str], client: Option<&CertifiedPem>) -> Arc<ClientConfig> {
    let mut roots = RootCertStore::empty();
    for pem in roots_pem {
        for cert in CertificateDer::pem_slice_iter(pem.as_bytes()) {
            roots.add(cert.expect("root PEM")).expect("root");
        }
    }
    let builder = ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("versions")
    .with_root_certificates(roots);
    let config = match client {
        Some(c) => builder
            .with_client_auth_cert(c.chain_der(), c.key_der().expect("client key"))
            .expect("client certificate"),
        None => builder.with_no_client_auth(),
    };
    Arc::new(config)
}

type Tls = StreamOwned<ClientConnection, TcpStream>;

/// A TLS connection with a completed handshake.
fn connect(addr: SocketAddr, sni: &str, config: Arc<ClientConfig>) -> Result<Tls, String> {
    let tcp =
        TcpStream::connect_timeout(&addr, Duration::from_secs(2)).map_err(|e| e.to_string())?;
    tcp.set_read_timeout(Some(Duration::from_secs(3)))
        .map_err(|e| e.to_string())?;
    let name = ServerName::try_from(sni.to_string()).map_err(|e| e.to_string())?;
    let conn = ClientConnection::new(config, name).map_err(|e| e.to_string())?;
    let mut tls = StreamOwned::new(conn, tcp);
    while tls.conn.is_handshaking() {
        tls.conn
            .complete_io(&mut tls.sock)
            .map_err(|e| format!("handshake: {e}"))?;
    }
    Ok(tls)
}

/// The leaf certificate the server presented.
fn server_leaf(tls: &Tls) -> Vec<u8> {
    tls.conn
        .peer_certificates()
        .and_then(|c| c.first())
        .map(|c| c.as_ref().to_vec())
        .unwrap_or_default()
}

/// One keep-alive HTTP/1.1 GET on `tls`; returns the status.
fn get(tls: &mut Tls, host: &str) -> Result<u16, String> {
    write!(tls, "GET / HTTP/1.1\r\nHost: {host}\r\n\r\n").map_err(|e| e.to_string())?;
    tls.flush().map_err(|e| e.to_string())?;
    let mut reader = BufReader::new(tls);
    let mut status_line = String::new();
    reader
        .read_line(&mut status_line)
        .map_err(|e| format!("reading: {e}"))?;
    let status = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("status line {status_line:?}"))?;
    let mut length = 0usize;
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).map_err(|e| e.to_string())?;
        if line == "\r\n" || line.is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':')
            && name.eq_ignore_ascii_case("content-length")
        {
            length = value.trim().parse().map_err(|_| format!("{line:?}"))?;
        }
    }
    let mut body = vec![0u8; length];
    reader.read_exact(&mut body).map_err(|e| e.to_string())?;
    Ok(status)
}

/// A fresh connection and one request; `Ok(status)` or why it failed.
fn fresh_request(addr: SocketAddr, sni: &str, config: Arc<ClientConfig>) -> Result<u16, String> {
    let mut tls = connect(addr, sni, config)?;
    get(&mut tls, sni)
}

fn der(cert: &CertifiedPem) -> Vec<u8> {
    CertificateDer::from_pem_slice(cert.cert_pem.as_bytes())
        .expect("leaf PEM")
        .as_ref()
        .to_vec()
}

const CLASS: &str = "apiVersion: gateway.networking.k8s.io/v1
kind: GatewayClass
metadata:
  name: portico
spec:
  controllerName: portico.dev/gateway-controller
";

fn https_gateway(name: &str, port: u16, secret: &str, frontend_ca: Option<&str>) -> String {
    let tls = match frontend_ca {
        Some(cm) => format!(
            "  tls:\n    frontend:\n      default:\n        validation:\n          caCertificateRefs:\n          - group: \"\"\n            kind: ConfigMap\n            name: {cm}\n"
        ),
        None => String::new(),
    };
    format!(
        "apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata:
  name: {name}
spec:
  gatewayClassName: portico
{tls}  listeners:
  - name: https
    protocol: HTTPS
    port: {port}
    tls:
      certificateRefs:
      - name: {secret}
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: {name}
spec:
  parentRefs:
  - name: {name}
  rules:
  - backendRefs:
    - name: echo
      port: 8080
"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listener_certificate_rotates_and_old_connections_keep_working() {
    const HOST: &str = "rotate.example.com";
    let backend = EchoBackend::http(Identity::new("default", "echo"))
        .await
        .expect("echo backend");
    let ca_a = TestCa::new("rotation-ca-a").expect("CA A");
    let ca_b = TestCa::new("rotation-ca-b").expect("CA B");
    let cert_a = ca_a.server_cert(&[HOST]).expect("cert A");
    let cert_b = ca_b.server_cert(&[HOST]).expect("cert B");
    let port = free_port();
    let dir = tempfile::tempdir().expect("tempdir");
    write(&dir.path().join("class.yaml"), CLASS);
    write(
        &dir.path().join("gateway.yaml"),
        &https_gateway("gw", port, "cert", None),
    );
    write(
        &dir.path().join("backend.yaml"),
        &manifests::service("default", "echo", 8080, "TCP", None, &[(&backend).into()]),
    );
    let secret = dir.path().join("secret.yaml");
    write(&secret, &manifests::tls_secret("default", "cert", &cert_a));
    let portico = Instance::start(dir.path()).await;
    let addr = portico.gateway_addr("gw", port).await;
    let config = client_config(&[ca_a.cert_pem(), ca_b.cert_pem()], None);

    // A connection established with certificate A.
    let old = eventually(DEADLINE, || {
        let config = config.clone();
        blocking(move || {
            let mut tls = connect(addr, HOST, config)?;
            match get(&mut tls, HOST)? {
                200 => Ok(tls),
                s => Err(format!("status {s}")),
            }
        })
    })
    .await
    .expect("HTTPS with certificate A");
    assert_eq!(server_leaf(&old), der(&cert_a));

    // Rotate: certificate B with a new key.
    write(&secret, &manifests::tls_secret("default", "cert", &cert_b));
    let want_b = der(&cert_b);
    eventually(DEADLINE, || {
        let (config, want_b) = (config.clone(), want_b.clone());
        blocking(move || {
            let tls = connect(addr, HOST, config)?;
            if server_leaf(&tls) == want_b {
                Ok(())
            } else {
                Err("new handshakes still see certificate A".to_string())
            }
        })
    })
    .await
    .expect("new handshakes see certificate B");

    // The connection from before the rotation keeps serving.
    let status = blocking(move || {
        let mut old = old;
        let first = get(&mut old, HOST)?;
        let second = get(&mut old, HOST)?;
        Ok((first, second, server_leaf(&old)))
    })
    .await
    .expect("requests on the old connection");
    assert_eq!((status.0, status.1), (200, 200));
    assert_eq!(
        status.2,
        der(&cert_a),
        "the old session keeps its certificate"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn frontend_validation_ca_change_switches_accepted_clients() {
    const HOST: &str = "mtls.example.com";
    let backend = EchoBackend::http(Identity::new("default", "echo"))
        .await
        .expect("echo backend");
    let server_ca = TestCa::new("server-ca").expect("CA");
    let server = server_ca.server_cert(&[HOST]).expect("server cert");
    let ca_x = TestCa::new("clients-x").expect("CA X");
    let ca_y = TestCa::new("clients-y").expect("CA Y");
    let client_x = ca_x.client_cert("client-x").expect("client X");
    let client_y = ca_y.client_cert("client-y").expect("client Y");
    let port = free_port();
    let dir = tempfile::tempdir().expect("tempdir");
    write(&dir.path().join("class.yaml"), CLASS);
    write(
        &dir.path().join("gateway.yaml"),
        &https_gateway("mtls", port, "server", Some("client-ca")),
    );
    write(
        &dir.path().join("backend.yaml"),
        &manifests::service("default", "echo", 8080, "TCP", None, &[(&backend).into()]),
    );
    write(
        &dir.path().join("secret.yaml"),
        &manifests::tls_secret("default", "server", &server),
    );
    let ca_file = dir.path().join("client-ca.yaml");
    write(
        &ca_file,
        &manifests::ca_config_map("default", "client-ca", ca_x.cert_pem()),
    );
    let portico = Instance::start(dir.path()).await;
    let addr = portico.gateway_addr("mtls", port).await;
    let as_x = client_config(&[server_ca.cert_pem()], Some(&client_x));
    let as_y = client_config(&[server_ca.cert_pem()], Some(&client_y));

    // Only clients of X, consistently, in both phases.
    let accepts = |good: Arc<ClientConfig>, bad: Arc<ClientConfig>| {
        eventually(DEADLINE, move || {
            let (good, bad) = (good.clone(), bad.clone());
            blocking(move || {
                let ok = fresh_request(addr, HOST, good)?;
                if ok != 200 {
                    return Err(format!("trusted client got {ok}"));
                }
                match fresh_request(addr, HOST, bad) {
                    Ok(200) => Err("untrusted client was served".to_string()),
                    _ => Ok(()),
                }
            })
        })
    };
    accepts(as_x.clone(), as_y.clone())
        .await
        .expect("clients of CA X accepted, CA Y refused");

    write(
        &ca_file,
        &manifests::ca_config_map("default", "client-ca", ca_y.cert_pem()),
    );
    accepts(as_y, as_x)
        .await
        .expect("after the ConfigMap change: CA Y accepted, CA X refused");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backend_tls_policy_ca_change_is_applied() {
    const BACKEND_HOST: &str = "backend.example.com";
    let backend_ca = TestCa::new("backend-ca").expect("CA");
    let wrong_ca = TestCa::new("unrelated-ca").expect("CA");
    let backend_cert = backend_ca.server_cert(&[BACKEND_HOST]).expect("cert");
    let backend = EchoBackend::https(Identity::new("default", "secure"), &backend_cert, None)
        .await
        .expect("HTTPS echo backend");
    let port = free_port();
    let dir = tempfile::tempdir().expect("tempdir");
    write(&dir.path().join("class.yaml"), CLASS);
    write(
        &dir.path().join("gateway.yaml"),
        &format!(
            "apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata:
  name: plain
spec:
  gatewayClassName: portico
  listeners:
  - name: http
    protocol: HTTP
    port: {port}
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: secure
spec:
  parentRefs:
  - name: plain
  rules:
  - backendRefs:
    - name: secure
      port: 8443
---
apiVersion: gateway.networking.k8s.io/v1
kind: BackendTLSPolicy
metadata:
  name: secure
spec:
  targetRefs:
  - group: \"\"
    kind: Service
    name: secure
  validation:
    hostname: {BACKEND_HOST}
    caCertificateRefs:
    - group: \"\"
      kind: ConfigMap
      name: backend-ca
"
        ),
    );
    write(
        &dir.path().join("backend.yaml"),
        &manifests::service("default", "secure", 8443, "TCP", None, &[(&backend).into()]),
    );
    let ca_file = dir.path().join("backend-ca.yaml");
    write(
        &ca_file,
        &manifests::ca_config_map("default", "backend-ca", wrong_ca.cert_pem()),
    );
    let portico = Instance::start(dir.path()).await;
    let addr = portico.gateway_addr("plain", port).await;
    let status = move || {
        blocking(move || {
            let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2))
                .map_err(|e| e.to_string())?;
            s.set_read_timeout(Some(Duration::from_secs(5)))
                .map_err(|e| e.to_string())?;
            write!(
                s,
                "GET / HTTP/1.1\r\nHost: secure\r\nConnection: close\r\n\r\n"
            )
            .map_err(|e| e.to_string())?;
            let mut raw = String::new();
            s.read_to_string(&mut raw).map_err(|e| e.to_string())?;
            raw.split_whitespace()
                .nth(1)
                .and_then(|s| s.parse::<u16>().ok())
                .ok_or_else(|| format!("no status in {raw:?}"))
        })
    };
    let until = |want_ok: bool| {
        eventually(DEADLINE, move || async move {
            match status().await? {
                200 if want_ok => Ok(()),
                s if !want_ok && s >= 500 => Ok(()),
                s => Err(format!("status {s}")),
            }
        })
    };
    until(false)
        .await
        .expect("an untrusted backend certificate fails the request");
    write(
        &ca_file,
        &manifests::ca_config_map("default", "backend-ca", backend_ca.cert_pem()),
    );
    until(true)
        .await
        .expect("after the CA ConfigMap change the backend is trusted");
    write(
        &ca_file,
        &manifests::ca_config_map("default", "backend-ca", wrong_ca.cert_pem()),
    );
    until(false)
        .await
        .expect("back to the wrong CA, requests fail again");
}
