//! HTTPS requests the way the upstream TLS helper sends them: SNI and Host
//! set to the test host, the server certificate verified against the
//! certificate the listener references (pinned, see [`client_config`]),
//! HTTP/1.1 over the TLS stream.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use rustls_pki_types::pem::PemObject as _;
use rustls_pki_types::{CertificateDer, ServerName};

use crate::env::Env;
use crate::error::Failure;
use crate::expect::{Captured, Expect, compare};

/// Accepts exactly the pinned self-signed certificate(s). The upstream Go
/// client verifies against the same certificate as its only root, with
/// Go's hostname rules; rustls-webpki refuses the `*.org` wildcard the
/// upstream test certificate relies on, so the name check is replaced by
/// pinning the certificate the listener must present (signatures are
/// still verified).
#[derive(Debug)]
struct Pinned {
    certs: Vec<CertificateDer<'static>>,
    /// Accept any certificate (probes that only look at whether the
    /// Gateway completes a handshake at all).
    any: bool,
    provider: Arc<rustls::crypto::CryptoProvider>,
}

impl rustls::client::danger::ServerCertVerifier for Pinned {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: rustls_pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        if self.any || self.certs.iter().any(|c| c.as_ref() == end_entity.as_ref()) {
            Ok(rustls::client::danger::ServerCertVerified::assertion())
        } else {
            Err(rustls::Error::InvalidCertificate(
                rustls::CertificateError::UnknownIssuer,
            ))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// A client config that accepts only the certificates in `pinned_pem`.
pub fn client_config(pinned_pem: &str) -> Result<Arc<rustls::ClientConfig>, String> {
    pinned_client_config(pinned_pem, None)
}

/// [`client_config`] presenting `client` as client certificate (frontend
/// validation tests), or none.
pub fn pinned_client_config(
    pinned_pem: &str,
    client: Option<&portico_testkit::CertifiedPem>,
) -> Result<Arc<rustls::ClientConfig>, String> {
    let certs = CertificateDer::pem_slice_iter(pinned_pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("pinned certificate PEM: {e}"))?;
    if certs.is_empty() {
        return Err("no pinned certificate".into());
    }
    pinned_config(certs, false, client)
}

/// A client config that accepts whatever certificate the server presents
/// (for probes that must see the handshake itself fail).
pub fn any_certificate_config() -> Result<Arc<rustls::ClientConfig>, String> {
    pinned_config(Vec::new(), true, None)
}

fn pinned_config(
    certs: Vec<CertificateDer<'static>>,
    any: bool,
    client: Option<&portico_testkit::CertifiedPem>,
) -> Result<Arc<rustls::ClientConfig>, String> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let verifier = Arc::new(Pinned {
        certs,
        any,
        provider: provider.clone(),
    });
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS versions: {e}"))?
        .dangerous()
        .with_custom_certificate_verifier(verifier);
    with_client_auth(builder, client)
}

fn with_client_auth(
    builder: rustls::ConfigBuilder<rustls::ClientConfig, rustls::client::WantsClientCert>,
    client: Option<&portico_testkit::CertifiedPem>,
) -> Result<Arc<rustls::ClientConfig>, String> {
    let config = match client {
        Some(c) => builder
            .with_client_auth_cert(
                c.chain_der(),
                c.key_der().map_err(|e| format!("client key: {e}"))?,
            )
            .map_err(|e| format!("client certificate: {e}"))?,
        None => builder.with_no_client_auth(),
    };
    Ok(Arc::new(config))
}

/// A client config that verifies the server the ordinary way (chain to one
/// of the CA certificates in `ca_pem`, name from the SNI), as Go's
/// `tls.Config{RootCAs}` does; optionally presenting a client certificate.
pub fn ca_client_config(
    ca_pem: &str,
    client: Option<&portico_testkit::CertifiedPem>,
) -> Result<Arc<rustls::ClientConfig>, String> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
        let cert = cert.map_err(|e| format!("CA PEM: {e}"))?;
        roots
            .add(cert)
            .map_err(|e| format!("CA certificate: {e}"))?;
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS versions: {e}"))?
        .with_root_certificates(roots);
    with_client_auth(builder, client)
}

/// Upstream `MakeTLSRequestAndExpectEventuallyConnectionReset` /
/// `...ConsistentFailure`: a TLS handshake with SNI `server_name` must keep
/// failing (the Gateway closes or resets the connection) for the required
/// number of consecutive attempts.
pub async fn expect_tls_refused(
    env: &Env,
    gw_addr: &str,
    server_name: &str,
    config: Arc<rustls::ClientConfig>,
) -> Result<(), Failure> {
    let name = ServerName::try_from(server_name.to_string())
        .map_err(|e| Failure(format!("server name {server_name}: {e}")))?;
    consistently_failing(
        env,
        &format!("TLS to {gw_addr} with SNI {server_name}"),
        || async {
            let attempt = async {
                let tcp = tokio::net::TcpStream::connect(gw_addr).await?;
                let mut tls = tokio_rustls::TlsConnector::from(config.clone())
                    .connect(name.clone(), tcp)
                    .await?;
                // A TLS 1.3 server may reject the client only after the
                // handshake: one read shows whether the connection lives.
                use tokio::io::AsyncReadExt as _;
                let mut byte = [0u8; 1];
                match tokio::time::timeout(Duration::from_millis(300), tls.read(&mut byte)).await {
                    Ok(Ok(0)) | Ok(Err(_)) => Err(std::io::Error::other("closed after handshake")),
                    _ => Ok(()),
                }
            };
            // A hung attempt counts as a live connection, not as a refusal.
            !matches!(
                tokio::time::timeout(Duration::from_secs(5), attempt).await,
                Ok(Err(_))
            )
        },
    )
    .await
}

/// Passes once `attempt` (true = the request succeeded) has failed the
/// required number of consecutive times within the consistency deadline.
async fn consistently_failing<F, Fut>(env: &Env, what: &str, attempt: F) -> Result<(), Failure>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + env.config.max_time_to_consistency;
    let mut failures = 0;
    loop {
        if attempt().await {
            failures = 0;
        } else {
            failures += 1;
            if failures >= env.config.required_consecutive_successes {
                return Ok(());
            }
            continue;
        }
        if tokio::time::Instant::now() > deadline {
            return Err(Failure(format!("{what} kept succeeding")));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// One HTTPS request to `gw_addr` with SNI `server_name`.
pub async fn tls_round_trip(
    gw_addr: &str,
    server_name: &str,
    config: Arc<rustls::ClientConfig>,
    want: &Expect,
) -> Result<Captured, String> {
    let name = ServerName::try_from(server_name.to_string())
        .map_err(|e| format!("server name {server_name}: {e}"))?;
    let exchange = async {
        let tcp = tokio::net::TcpStream::connect(gw_addr)
            .await
            .map_err(|e| format!("connect {gw_addr}: {e}"))?;
        let tls = tokio_rustls::TlsConnector::from(config)
            .connect(name, tcp)
            .await
            .map_err(|e| format!("TLS handshake: {e}"))?;
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
            .await
            .map_err(|e| format!("HTTP handshake: {e}"))?;
        tokio::spawn(conn);
        let path = if want.request.path.is_empty() {
            "/"
        } else {
            want.request.path.as_str()
        };
        let host = if want.request.host.is_empty() {
            server_name
        } else {
            want.request.host.as_str()
        };
        let mut builder = http::Request::builder()
            .method(if want.request.method.is_empty() {
                "GET"
            } else {
                want.request.method.as_str()
            })
            .uri(path)
            .header(http::header::HOST, host);
        for (n, v) in &want.request.headers {
            builder = builder.header(n.as_str(), v.as_str());
        }
        let request = builder
            .body(Full::new(Bytes::new()))
            .map_err(|e| format!("building request: {e}"))?;
        let response = sender
            .send_request(request)
            .await
            .map_err(|e| format!("request: {e}"))?;
        let status = response.status().as_u16();
        let mut headers = std::collections::BTreeMap::<String, Vec<String>>::new();
        for (n, v) in response.headers() {
            headers
                .entry(n.as_str().to_ascii_lowercase())
                .or_default()
                .push(String::from_utf8_lossy(v.as_bytes()).into_owned());
        }
        let body = response
            .into_body()
            .collect()
            .await
            .map_err(|e| format!("reading body: {e}"))?
            .to_bytes();
        Ok(Captured {
            status,
            headers,
            body,
        })
    };
    tokio::time::timeout(Duration::from_secs(10), exchange)
        .await
        .map_err(|_| "HTTPS request timed out".to_string())?
}

/// Upstream `MakeTLSRequestAndExpectEventuallyConsistentResponse`.
pub async fn expect_tls(
    env: &Env,
    gw_addr: &str,
    server_name: &str,
    root_pem: &str,
    want: &Expect,
) -> Result<(), Failure> {
    let config = client_config(root_pem).map_err(Failure)?;
    expect_tls_with(env, gw_addr, server_name, config, want).await
}

/// [`expect_tls`] with a prepared client config (client certificates,
/// other roots).
pub async fn expect_tls_with(
    env: &Env,
    gw_addr: &str,
    server_name: &str,
    config: Arc<rustls::ClientConfig>,
    want: &Expect,
) -> Result<(), Failure> {
    let deadline = tokio::time::Instant::now() + env.config.max_time_to_consistency;
    let mut successes = 0;
    loop {
        let outcome = match tls_round_trip(gw_addr, server_name, config.clone(), want).await {
            Ok(got) => compare(gw_addr, want, &got),
            Err(e) => Err(e),
        };
        match outcome {
            Ok(()) => {
                successes += 1;
                if successes >= env.config.required_consecutive_successes {
                    return Ok(());
                }
                continue;
            }
            Err(why) => {
                successes = 0;
                if tokio::time::Instant::now() > deadline {
                    return Err(Failure(format!(
                        "https://{server_name} via {gw_addr}: {why}"
                    )));
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Upstream `MakeTLSRequestAndExpectFailureResponse`: the HTTPS request
/// must keep failing (handshake refused, connection closed, or no 200).
pub async fn expect_tls_request_fails(
    env: &Env,
    gw_addr: &str,
    server_name: &str,
    config: Arc<rustls::ClientConfig>,
    want: &Expect,
) -> Result<(), Failure> {
    consistently_failing(
        env,
        &format!("https://{server_name} via {gw_addr}"),
        || async {
            matches!(
                tls_round_trip(gw_addr, server_name, config.clone(), want).await,
                Ok(got) if got.status == 200
            )
        },
    )
    .await
}
