//! TLS for the echo modes (`HTTPS_PORT` / `TLS_PORT` in the upstream
//! contract): a rustls server config from PEM, client certificates verified
//! when given, and the `tls` block the answers report.

use std::sync::Arc;

use rustls::server::WebPkiClientVerifier;
use rustls::{CipherSuite, NamedGroup, ProtocolVersion, RootCertStore, ServerConfig};
use rustls_pki_types::pem::PemObject as _;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use serde::Serialize;
use tokio_rustls::TlsAcceptor;

use crate::Error;

/// Server certificate, key and optional client CA, all PEM.
#[derive(Clone, Debug)]
pub struct TlsSettings {
    /// The server certificate chain (leaf first).
    pub cert_chain_pem: String,
    /// The private key (PKCS#8, PKCS#1 or SEC1).
    pub key_pem: String,
    /// CA certificates for client certificates. With it, a client
    /// certificate is verified *if the client sends one* (unauthenticated
    /// clients are still served), like the upstream server.
    pub client_ca_pem: Option<String>,
}

impl TlsSettings {
    /// Settings without client-certificate verification.
    pub fn new(cert_chain_pem: impl Into<String>, key_pem: impl Into<String>) -> Self {
        Self {
            cert_chain_pem: cert_chain_pem.into(),
            key_pem: key_pem.into(),
            client_ca_pem: None,
        }
    }

    /// Verifies client certificates against `ca_pem` when presented.
    #[must_use]
    pub fn with_client_ca(mut self, ca_pem: impl Into<String>) -> Self {
        self.client_ca_pem = Some(ca_pem.into());
        self
    }

    /// A rustls acceptor (aws-lc-rs) offering the given ALPN protocols.
    pub(crate) fn acceptor(&self, alpn: &[&[u8]]) -> Result<TlsAcceptor, Error> {
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let certs: Vec<CertificateDer<'static>> =
            CertificateDer::pem_slice_iter(self.cert_chain_pem.as_bytes())
                .collect::<Result<_, _>>()
                .map_err(|e| Error::Tls(format!("server certificate: {e}")))?;
        if certs.is_empty() {
            return Err(Error::Tls("server certificate: no PEM certificate".into()));
        }
        let key = PrivateKeyDer::from_pem_slice(self.key_pem.as_bytes())
            .map_err(|e| Error::Tls(format!("private key: {e}")))?;
        let builder = ServerConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| Error::Tls(e.to_string()))?;
        let builder = match &self.client_ca_pem {
            Some(ca) => {
                let mut roots = RootCertStore::empty();
                for cert in CertificateDer::pem_slice_iter(ca.as_bytes()) {
                    let cert = cert.map_err(|e| Error::Tls(format!("client CA: {e}")))?;
                    roots
                        .add(cert)
                        .map_err(|e| Error::Tls(format!("client CA: {e}")))?;
                }
                let verifier =
                    WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                        .allow_unauthenticated()
                        .build()
                        .map_err(|e| Error::Tls(format!("client CA: {e}")))?;
                builder.with_client_cert_verifier(verifier)
            }
            None => builder.with_no_client_auth(),
        };
        let mut config = builder
            .with_single_cert(certs, key)
            .map_err(|e| Error::Tls(e.to_string()))?;
        config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        Ok(TlsAcceptor::from(Arc::new(config)))
    }
}

/// The `tls` block of an HTTP answer (Go's field names).
#[derive(Clone, Debug, Default, Serialize, PartialEq, Eq)]
pub(crate) struct TlsInfo {
    pub(crate) version: String,
    #[serde(rename = "peerCertificates", skip_serializing_if = "Vec::is_empty")]
    pub(crate) peer_certificates: Vec<String>,
    #[serde(rename = "serverName")]
    pub(crate) server_name: String,
    #[serde(
        rename = "negotiatedProtocol",
        skip_serializing_if = "String::is_empty"
    )]
    pub(crate) negotiated_protocol: String,
    #[serde(rename = "cipherSuite")]
    pub(crate) cipher_suite: String,
    /// Key-exchange group (Go's `CurveID` names); reported by TCP only.
    #[serde(skip)]
    pub(crate) curve: String,
}

impl TlsInfo {
    /// What a finished handshake negotiated.
    pub(crate) fn from_connection(conn: &rustls::ServerConnection) -> Self {
        Self {
            version: conn
                .protocol_version()
                .map(version_name)
                .unwrap_or_default(),
            peer_certificates: conn
                .peer_certificates()
                .unwrap_or_default()
                .iter()
                .map(|c| pem_encode("CERTIFICATE", c.as_ref()))
                .collect(),
            server_name: conn.server_name().unwrap_or_default().to_owned(),
            negotiated_protocol: conn
                .alpn_protocol()
                .map(|p| String::from_utf8_lossy(p).into_owned())
                .unwrap_or_default(),
            cipher_suite: conn
                .negotiated_cipher_suite()
                .map(|s| cipher_suite_name(s.suite()))
                .unwrap_or_default(),
            curve: conn
                .negotiated_key_exchange_group()
                .map(|g| curve_name(g.name()))
                .unwrap_or_default(),
        }
    }
}

/// Go's `tls.VersionName` spelling (`TLS 1.3`) is used by the TCP server,
/// the HTTP server says `TLSv1.3`; this is the HTTP form.
fn version_name(v: ProtocolVersion) -> String {
    match v {
        ProtocolVersion::TLSv1_3 => "TLSv1.3".into(),
        ProtocolVersion::TLSv1_2 => "TLSv1.2".into(),
        ProtocolVersion::TLSv1_1 => "TLSv1.1".into(),
        ProtocolVersion::TLSv1_0 => "TLSv1.0".into(),
        other => format!("{other:?}"),
    }
}

/// `TLSv1.3` → `TLS 1.3` (Go's `tls.VersionName`, used by the TCP server).
pub(crate) fn go_version_name(http_form: &str) -> String {
    http_form.replacen("TLSv", "TLS ", 1)
}

/// IANA names as Go prints them (`TLS_AES_128_GCM_SHA256`,
/// `TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256`).
fn cipher_suite_name(s: CipherSuite) -> String {
    let name = s.as_str().map_or_else(|| format!("{s:?}"), str::to_owned);
    match name.strip_prefix("TLS13_") {
        Some(rest) => format!("TLS_{rest}"),
        None => name,
    }
}

/// Go's `CurveID.String()` names.
fn curve_name(g: NamedGroup) -> String {
    match g {
        NamedGroup::X25519 => "X25519".into(),
        NamedGroup::secp256r1 => "CurveP256".into(),
        NamedGroup::secp384r1 => "CurveP384".into(),
        NamedGroup::secp521r1 => "CurveP521".into(),
        other => other
            .as_str()
            .map_or_else(|| format!("{other:?}"), str::to_owned),
    }
}

/// PEM with 64-column base64 lines.
pub(crate) fn pem_encode(label: &str, der: &[u8]) -> String {
    let b64 = base64(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(chunk));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

fn base64(data: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for (i, shift) in [18u32, 12, 6, 0].iter().enumerate() {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[((n >> shift) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_rfc4648_vectors() {
        for (input, want) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64(input.as_bytes()), want);
        }
    }

    #[test]
    fn pem_round_trips_through_pki_types() {
        let der: Vec<u8> = (0..=255u8).cycle().take(1000).collect();
        let pem = pem_encode("CERTIFICATE", &der);
        let back = CertificateDer::from_pem_slice(pem.as_bytes()).expect("parse");
        assert_eq!(back.as_ref(), der.as_slice());
    }

    #[test]
    fn names_follow_go() {
        assert_eq!(
            cipher_suite_name(CipherSuite::TLS13_AES_128_GCM_SHA256),
            "TLS_AES_128_GCM_SHA256"
        );
        assert_eq!(
            cipher_suite_name(CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256),
            "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256"
        );
        assert_eq!(version_name(ProtocolVersion::TLSv1_3), "TLSv1.3");
        assert_eq!(go_version_name("TLSv1.2"), "TLS 1.2");
        assert_eq!(curve_name(NamedGroup::secp256r1), "CurveP256");
    }

    #[test]
    fn bad_pem_is_an_error() {
        let s = TlsSettings::new("not pem", "not pem either");
        assert!(s.acceptor(&[]).is_err());
    }
}
