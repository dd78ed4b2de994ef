//! TLS from the gateway to a backend (BackendTLSPolicy): the SNI and the
//! name verified come from the policy's hostname, trust from its CA bundle;
//! `subjectAltNames`, when given, replace the hostname for verification.

use std::sync::Arc;

use portico_ir::{BackendTls, SubjectAltName};
use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};

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
        match &tls.ca_pem {
            Some(pem) => {
                for ca in CertificateDer::pem_slice_iter(pem.as_bytes()) {
                    let ca = ca.map_err(|_| Error::Tls("backend CA PEM does not parse".into()))?;
                    roots
                        .add(ca)
                        .map_err(|e| Error::Tls(format!("backend CA rejected: {e}")))?;
                }
            }
            None => {
                return Err(Error::Tls(
                    "well-known (system) CA roots are not available to the data plane".into(),
                ));
            }
        }
        if roots.is_empty() {
            return Err(Error::Tls("backend CA bundle is empty".into()));
        }
        let webpki = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider())
            .build()
            .map_err(|e| Error::Tls(format!("backend verifier: {e}")))?;
        let verifier: Arc<dyn ServerCertVerifier> = if tls.subject_alt_names.is_empty() {
            webpki
        } else {
            Arc::new(SanVerifier {
                inner: webpki,
                names: tls.subject_alt_names.clone(),
            })
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

/// Accepts the certificate when the chain is trusted and one of the
/// policy's DNS subjectAltNames matches (URI SANs are not checked yet and
/// never match).
#[derive(Debug)]
struct SanVerifier {
    inner: Arc<WebPkiServerVerifier>,
    names: Vec<SubjectAltName>,
}

impl ServerCertVerifier for SanVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let mut last = rustls::Error::General("no subjectAltName of the policy matched".into());
        for san in &self.names {
            let SubjectAltName::Hostname(host) = san else {
                continue;
            };
            let Ok(name) = ServerName::try_from(host.as_str()) else {
                continue;
            };
            match self.inner.verify_server_cert(
                end_entity,
                intermediates,
                &name,
                ocsp_response,
                now,
            ) {
                Ok(ok) => return Ok(ok),
                Err(e) => last = e,
            }
        }
        Err(last)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
