//! TLS material for listeners and backends, already loaded from Secrets and
//! ConfigMaps and validated by translation (PEM parses, key matches).

use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ListenerTls {
    pub mode: TlsMode,
    /// Certificates to serve (Terminate). rustls picks by SNI and key type.
    pub certificates: Vec<CertifiedKeyPem>,
    /// Client-certificate validation (`spec.tls.frontend`).
    pub client_validation: Option<ClientValidation>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum TlsMode {
    Terminate,
    Passthrough,
}

/// A PEM certificate chain with its PEM private key.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct CertifiedKeyPem {
    /// `namespace/name` of the Secret, for logs and rotation.
    pub source: String,
    pub cert_chain_pem: String,
    pub key_pem: String,
}

impl std::fmt::Debug for CertifiedKeyPem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print private keys.
        f.debug_struct("CertifiedKeyPem")
            .field("source", &self.source)
            .field("cert_chain_pem_len", &self.cert_chain_pem.len())
            .finish_non_exhaustive()
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ClientValidation {
    /// Concatenated PEM CA certificates.
    pub ca_pem: String,
    /// `AllowInsecureFallback`: accept clients without a valid certificate.
    pub allow_insecure_fallback: bool,
}

/// TLS from the gateway to a backend (BackendTLSPolicy).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BackendTls {
    /// SNI and the name verified in the certificate.
    pub hostname: String,
    /// PEM CA bundle; `None` with `system_roots` means the platform roots.
    pub ca_pem: Option<String>,
    pub system_roots: bool,
    pub subject_alt_names: Vec<SubjectAltName>,
    /// Client certificate for mutual TLS (`spec.tls.backend.clientCertificateRef`).
    pub client_certificate: Option<CertifiedKeyPem>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum SubjectAltName {
    Hostname(String),
    Uri(String),
}
