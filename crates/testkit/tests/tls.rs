//! The generated certificates work in real rustls handshakes.

use std::sync::Arc;
use std::time::Duration;

use portico_testkit::{CertifiedPem, TestCa, self_signed};
use rustls::pki_types::ServerName;
use rustls::server::WebPkiClientVerifier;
use rustls::{ClientConfig, RootCertStore, ServerConfig};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio_rustls::{TlsAcceptor, TlsConnector};

const DEADLINE: Duration = Duration::from_secs(10);

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

fn roots(ca_der: rustls::pki_types::CertificateDer<'static>) -> RootCertStore {
    let mut roots = RootCertStore::empty();
    roots.add(ca_der).expect("add root");
    roots
}

fn server_config(cert: &CertifiedPem, client_ca: Option<&TestCa>) -> ServerConfig {
    let builder = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .expect("versions");
    let builder = match client_ca {
        Some(ca) => builder.with_client_cert_verifier(
            WebPkiClientVerifier::builder_with_provider(Arc::new(roots(ca.cert_der())), provider())
                .build()
                .expect("verifier"),
        ),
        None => builder.with_no_client_auth(),
    };
    builder
        .with_single_cert(cert.chain_der(), cert.key_der().expect("key"))
        .expect("server cert")
}

fn client_config(
    root: rustls::pki_types::CertificateDer<'static>,
    identity: Option<&CertifiedPem>,
) -> ClientConfig {
    let builder = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_root_certificates(roots(root));
    match identity {
        Some(id) => builder
            .with_client_auth_cert(id.chain_der(), id.key_der().expect("key"))
            .expect("client cert"),
        None => builder.with_no_client_auth(),
    }
}

/// Runs a handshake plus one byte each way over an in-memory pipe.
async fn handshake(server: ServerConfig, client: ClientConfig, sni: &str) -> Result<(), String> {
    let (c, s) = tokio::io::duplex(64 * 1024);
    let acceptor = TlsAcceptor::from(Arc::new(server));
    let connector = TlsConnector::from(Arc::new(client));
    let name = ServerName::try_from(sni.to_owned()).map_err(|e| e.to_string())?;
    let server_side = async move {
        let mut tls = acceptor
            .accept(s)
            .await
            .map_err(|e| format!("server: {e}"))?;
        let mut b = [0u8; 1];
        tls.read_exact(&mut b)
            .await
            .map_err(|e| format!("server read: {e}"))?;
        tls.write_all(&b)
            .await
            .map_err(|e| format!("server write: {e}"))?;
        tls.flush().await.map_err(|e| e.to_string())
    };
    let client_side = async move {
        let mut tls = connector
            .connect(name, c)
            .await
            .map_err(|e| format!("client: {e}"))?;
        tls.write_all(b"x")
            .await
            .map_err(|e| format!("client write: {e}"))?;
        let mut b = [0u8; 1];
        tls.read_exact(&mut b)
            .await
            .map_err(|e| format!("client read: {e}"))?;
        Ok::<_, String>(())
    };
    let (s, c) = tokio::time::timeout(DEADLINE, async { tokio::join!(server_side, client_side) })
        .await
        .map_err(|_| "handshake deadline".to_owned())?;
    c.and(s)
}

#[tokio::test]
async fn server_cert_verifies_for_its_names_only() {
    let ca = TestCa::new("Portico Test CA").expect("ca");
    let leaf = ca
        .server_cert(&[
            "abc.example.com",
            "*.wildcard.org",
            "127.0.0.1",
            "spiffe://abc.example.com/test-identity",
        ])
        .expect("leaf");
    assert!(leaf.cert_pem.starts_with("-----BEGIN CERTIFICATE-----"));
    assert!(leaf.key_pem.contains("PRIVATE KEY"));
    assert_eq!(leaf.chain_der().len(), 2);
    for sni in ["abc.example.com", "x.wildcard.org", "127.0.0.1"] {
        handshake(
            server_config(&leaf, None),
            client_config(ca.cert_der(), None),
            sni,
        )
        .await
        .unwrap_or_else(|e| panic!("{sni}: {e}"));
    }
    let wrong = handshake(
        server_config(&leaf, None),
        client_config(ca.cert_der(), None),
        "other.example.com",
    )
    .await;
    assert!(wrong.is_err(), "a name outside the SANs must fail");

    let other_ca = TestCa::new("Other CA").expect("ca");
    let untrusted = handshake(
        server_config(&leaf, None),
        client_config(other_ca.cert_der(), None),
        "abc.example.com",
    )
    .await;
    assert!(untrusted.is_err(), "a different CA must not verify");
}

#[tokio::test]
async fn client_cert_passes_mutual_tls() {
    let ca = TestCa::new("Portico Test CA").expect("ca");
    let leaf = ca.server_cert(&["tls.example.com"]).expect("leaf");
    let client = ca.client_cert("tls-checks-client").expect("client");
    handshake(
        server_config(&leaf, Some(&ca)),
        client_config(ca.cert_der(), Some(&client)),
        "tls.example.com",
    )
    .await
    .expect("mTLS handshake");

    let stranger = TestCa::new("Stranger")
        .expect("ca")
        .client_cert("x")
        .expect("client");
    let rejected = handshake(
        server_config(&leaf, Some(&ca)),
        client_config(ca.cert_der(), Some(&stranger)),
        "tls.example.com",
    )
    .await;
    assert!(
        rejected.is_err(),
        "a client cert from another CA must be rejected"
    );
}

#[tokio::test]
async fn self_signed_verifies_against_itself() {
    let cert = self_signed(&["*", "*.org", "*.wildcard.org"]).expect("self-signed");
    let chain = cert.chain_der();
    assert_eq!(chain.len(), 1);
    handshake(
        server_config(&cert, None),
        client_config(chain[0].clone(), None),
        "a.wildcard.org",
    )
    .await
    .expect("handshake");
}
