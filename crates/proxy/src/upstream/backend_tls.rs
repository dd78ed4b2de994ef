//! TLS from the gateway to a backend (BackendTLSPolicy): the SNI and the
//! name verified come from the policy's hostname, trust from its CA bundle
//! or the system trust store (`wellKnownCACertificates: System`);
//! `subjectAltNames`, when given, replace the hostname for verification
//! (Hostname and URI, see [`super::san_verifier`]).

use std::sync::{Arc, OnceLock};

use portico_ir::BackendTls;
use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::ServerCertVerifier;
use rustls::crypto::CryptoProvider;
use rustls::{ClientConfig, RootCertStore};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName};

use super::san_verifier::SanVerifier;
use crate::Error;

/// A compiled BackendTLSPolicy for one cluster.
#[derive(Debug)]
pub struct BackendTlsConfig {
    pub config: Arc<ClientConfig>,
    pub server_name: ServerName<'static>,
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

impl BackendTlsConfig {
    pub fn compile(tls: &BackendTls) -> Result<BackendTlsConfig, Error> {
        let server_name = ServerName::try_from(tls.hostname.clone())
            .map_err(|_| Error::Tls(format!("invalid backend TLS hostname {:?}", tls.hostname)))?;
        let mut roots = RootCertStore::empty();
        if let Some(pem) = &tls.ca_pem {
            for ca in CertificateDer::pem_slice_iter(pem.as_bytes()) {
                let ca = ca.map_err(|_| Error::Tls("backend CA PEM does not parse".into()))?;
                roots
                    .add(ca)
                    .map_err(|e| Error::Tls(format!("backend CA rejected: {e}")))?;
            }
        }
        if tls.system_roots {
            roots.extend(system_roots().roots.iter().cloned());
        }
        if roots.is_empty() {
            return Err(Error::Tls(if tls.system_roots {
                "no system CA certificates could be loaded".into()
            } else {
                "backend CA bundle is empty".into()
            }));
        }
        let roots = Arc::new(roots);
        let webpki = WebPkiServerVerifier::builder_with_provider(roots.clone(), provider())
            .build()
            .map_err(|e| Error::Tls(format!("backend verifier: {e}")))?;
        let verifier: Arc<dyn ServerCertVerifier> = if tls.subject_alt_names.is_empty() {
            webpki
        } else {
            Arc::new(SanVerifier::new(
                roots,
                provider(),
                webpki,
                tls.subject_alt_names.clone(),
            ))
        };
        let builder = ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(|e| Error::Tls(e.to_string()))?
            .dangerous()
            .with_custom_certificate_verifier(verifier);
        let mut config = match &tls.client_certificate {
            Some(cert) => {
                let chain = CertificateDer::pem_slice_iter(cert.cert_chain_pem.as_bytes())
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|_| {
                        Error::Tls(format!(
                            "{}: client certificate does not parse",
                            cert.source
                        ))
                    })?;
                let key = PrivateKeyDer::from_pem_slice(cert.key_pem.as_bytes()).map_err(|_| {
                    Error::Tls(format!("{}: client key does not parse", cert.source))
                })?;
                builder
                    .with_client_auth_cert(chain, key)
                    .map_err(|e| Error::Tls(format!("{}: {e}", cert.source)))?
            }
            None => builder.with_no_client_auth(),
        };
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(BackendTlsConfig {
            config: Arc::new(config),
            server_name,
        })
    }
}

/// The platform's trust store (`rustls-native-certs`: `SSL_CERT_FILE`,
/// `SSL_CERT_DIR`, else the distribution's bundle such as
/// /etc/ssl/certs), loaded once per process for
/// `wellKnownCACertificates: System`. Certificates that do not parse are
/// skipped and logged.
fn system_roots() -> &'static RootCertStore {
    static ROOTS: OnceLock<RootCertStore> = OnceLock::new();
    ROOTS.get_or_init(|| {
        let found = rustls_native_certs::load_native_certs();
        for error in &found.errors {
            tracing::warn!(error = %error, "system CA certificates: load error");
        }
        let mut roots = RootCertStore::empty();
        let (added, ignored) = roots.add_parsable_certificates(found.certs);
        tracing::info!(
            added,
            ignored,
            "system CA certificates loaded for BackendTLSPolicy"
        );
        roots
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use portico_ir::SubjectAltName;

    fn policy(ca_pem: Option<String>, sans: Vec<SubjectAltName>) -> BackendTls {
        BackendTls {
            hostname: "backend.example.com".into(),
            ca_pem,
            system_roots: false,
            subject_alt_names: sans,
            client_certificate: None,
        }
    }

    #[test]
    fn compiles_with_a_ca_and_rejects_bad_input() {
        let ca =
            rcgen::generate_simple_self_signed(vec!["backend.example.com".to_string()]).unwrap();
        let ok = BackendTlsConfig::compile(&policy(Some(ca.cert.pem()), vec![])).unwrap();
        assert_eq!(ok.server_name.to_str(), "backend.example.com");
        assert!(BackendTlsConfig::compile(&policy(Some("garbage".into()), vec![])).is_err());
        assert!(BackendTlsConfig::compile(&policy(None, vec![])).is_err());
        let mut bad_host = policy(Some(ca.cert.pem()), vec![]);
        bad_host.hostname = "not a hostname!".into();
        assert!(BackendTlsConfig::compile(&bad_host).is_err());
    }

    #[test]
    fn system_roots_replace_a_missing_bundle() {
        let mut system = policy(None, vec![]);
        system.system_roots = true;
        let have_system_roots = !system_roots().is_empty();
        assert_eq!(
            BackendTlsConfig::compile(&system).is_ok(),
            have_system_roots,
            "system store holds {} roots",
            system_roots().len()
        );
    }

    #[test]
    fn subject_alt_names_select_the_san_verifier() {
        let ca =
            rcgen::generate_simple_self_signed(vec!["backend.example.com".to_string()]).unwrap();
        let with_sans = policy(
            Some(ca.cert.pem()),
            vec![SubjectAltName::Uri("spiffe://example.com/backend".into())],
        );
        let compiled = BackendTlsConfig::compile(&with_sans).unwrap();
        assert!(format!("{:?}", compiled.config).contains("SanVerifier"));
    }
}
