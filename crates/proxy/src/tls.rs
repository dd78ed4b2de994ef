//! TLS termination for HTTPS binds: one rustls server configuration per
//! listener (its certificate, its client-certificate validation), chosen by
//! SNI the same way Host picks a listener (most specific hostname first).

use std::sync::Arc;

use portico_ir::{Bind, CertifiedKeyPem, ClientValidation, HostMatch, ListenerTls, TlsMode};
use rustls::client::danger::HandshakeSignatureValid;
use rustls::crypto::CryptoProvider;
use rustls::server::WebPkiClientVerifier;
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{
    DigitallySignedStruct, DistinguishedName, RootCertStore, ServerConfig, SignatureScheme,
};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, UnixTime};

use crate::Error;
use crate::cert_choice::CertChoice;

#[derive(Debug)]
pub struct TlsEntry {
    hostname: HostMatch,
    pub listener_id: Arc<str>,
    pub config: Arc<ServerConfig>,
}

/// Per-listener TLS configurations of one bind, most specific first.
#[derive(Debug, Default)]
pub struct TlsTable {
    entries: Vec<TlsEntry>,
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

impl TlsTable {
    /// Builds the table; listeners whose TLS material is unusable are
    /// returned as `(listener id, error)` and left out.
    pub fn build(bind: &Bind) -> (TlsTable, Vec<(String, Error)>) {
        let mut entries = Vec::new();
        let mut failed = Vec::new();
        for l in &bind.listeners {
            let result = match &l.tls {
                Some(tls) if tls.mode == TlsMode::Terminate => server_config(tls),
                Some(_) => Err(Error::Tls(
                    "passthrough is not served on an HTTPS bind".into(),
                )),
                None => Err(Error::Tls("HTTPS listener without TLS settings".into())),
            };
            match result {
                Ok(config) => entries.push(TlsEntry {
                    hostname: l.hostname.clone(),
                    listener_id: l.id.as_str().into(),
                    config: Arc::new(config),
                }),
                Err(error) => failed.push((l.id.clone(), error)),
            }
        }
        (TlsTable { entries }, failed)
    }

    /// The Terminate-mode listeners of a TLS bind (TLSRoute), without ALPN:
    /// the decrypted stream goes to a TCP backend as is.
    pub fn build_terminate(bind: &Bind) -> TlsTable {
        let mut entries = Vec::new();
        for l in &bind.listeners {
            let Some(tls) = l.tls.as_ref().filter(|t| t.mode == TlsMode::Terminate) else {
                continue;
            };
            match server_config(tls) {
                Ok(mut config) => {
                    config.alpn_protocols.clear();
                    entries.push(TlsEntry {
                        hostname: l.hostname.clone(),
                        listener_id: l.id.as_str().into(),
                        config: Arc::new(config),
                    });
                }
                Err(error) => tracing::warn!(listener = %l.id, %error, "TLS listener not serving"),
            }
        }
        TlsTable { entries }
    }

    /// The listener for a ClientHello's server name. Without SNI, the
    /// hostname-less listener (or the first one) answers.
    pub fn select(&self, sni: Option<&str>) -> Option<&TlsEntry> {
        match sni {
            Some(name) => {
                let name = name.trim_end_matches('.').to_ascii_lowercase();
                self.entries.iter().find(|e| e.hostname.matches(&name))
            }
            None => self
                .entries
                .iter()
                .find(|e| e.hostname == HostMatch::Any)
                .or(self.entries.first()),
        }
    }
}

/// A server configuration from PEM material, ALPN h2 and http/1.1. With
/// several certificates the ClientHello chooses ([`CertChoice`]); a
/// certificate that does not load is skipped (logged) while another serves.
pub fn server_config(tls: &ListenerTls) -> Result<ServerConfig, Error> {
    let mut last_error = Error::Tls("no certificate".into());
    let mut loaded = Vec::new();
    for cert in &tls.certificates {
        match certified(cert) {
            Ok((chain, key)) => loaded.push((cert.source.clone(), chain, key)),
            Err(e) => {
                tracing::warn!(certificate = %cert.source, error = %e, "certificate skipped");
                last_error = e;
            }
        }
    }
    if loaded.is_empty() {
        return Err(last_error);
    }
    let builder = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::Tls(e.to_string()))?;
    let builder = match &tls.client_validation {
        Some(cv) => builder.with_client_cert_verifier(client_verifier(cv)?),
        None => builder.with_no_client_auth(),
    };
    let mut config = if loaded.len() == 1 {
        let (source, chain, key) = loaded.remove(0);
        builder
            .with_single_cert(chain, key)
            .map_err(|e| Error::Tls(format!("{source}: {e}")))?
    } else {
        builder.with_cert_resolver(Arc::new(CertChoice::new(loaded, &provider())?))
    };
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(config)
}

fn certified(
    cert: &CertifiedKeyPem,
) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), Error> {
    let bad = |what: &str| Error::Tls(format!("{}: {what}", cert.source));
    let chain = CertificateDer::pem_slice_iter(cert.cert_chain_pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|_| bad("certificate PEM does not parse"))?;
    if chain.is_empty() {
        return Err(bad("no certificate in PEM"));
    }
    let key = PrivateKeyDer::from_pem_slice(cert.key_pem.as_bytes())
        .map_err(|_| bad("private key PEM does not parse"))?;
    Ok((chain, key))
}

fn client_verifier(cv: &ClientValidation) -> Result<Arc<dyn ClientCertVerifier>, Error> {
    let mut roots = RootCertStore::empty();
    for ca in CertificateDer::pem_slice_iter(cv.ca_pem.as_bytes()) {
        let ca = ca.map_err(|_| Error::Tls("CA PEM does not parse".into()))?;
        roots
            .add(ca)
            .map_err(|e| Error::Tls(format!("CA certificate rejected: {e}")))?;
    }
    let mut builder = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider());
    if cv.allow_insecure_fallback {
        builder = builder.allow_unauthenticated();
    }
    let verifier = builder
        .build()
        .map_err(|e| Error::Tls(format!("client verifier: {e}")))?;
    Ok(if cv.allow_insecure_fallback {
        Arc::new(InsecureFallback(verifier))
    } else {
        verifier
    })
}

/// `AllowInsecureFallback`: a client certificate is still requested and
/// verified, but a missing or invalid one does not refuse the connection
/// (the client must still prove it holds the key of what it presented).
#[derive(Debug)]
struct InsecureFallback(Arc<dyn ClientCertVerifier>);

impl ClientCertVerifier for InsecureFallback {
    fn offer_client_auth(&self) -> bool {
        true
    }

    fn client_auth_mandatory(&self) -> bool {
        false
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        self.0.root_hint_subjects()
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        if let Err(error) = self.0.verify_client_cert(end_entity, intermediates, now) {
            tracing::debug!(%error, "invalid client certificate accepted (AllowInsecureFallback)");
        }
        Ok(ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use portico_ir::{BindProtocol, Listener, ObjectRef};

    pub(crate) fn self_signed(names: &[&str]) -> CertifiedKeyPem {
        let names: Vec<String> = names.iter().map(|s| s.to_string()).collect();
        let ck = rcgen::generate_simple_self_signed(names).unwrap();
        CertifiedKeyPem {
            source: "test/cert".into(),
            cert_chain_pem: ck.cert.pem(),
            key_pem: ck.signing_key.serialize_pem(),
        }
    }

    fn listener(id: &str, hostname: Option<&str>, cert: CertifiedKeyPem) -> Listener {
        Listener {
            id: id.into(),
            owner: ObjectRef::default(),
            name: id.into(),
            hostname: HostMatch::parse(hostname),
            protocol: BindProtocol::Https,
            tls: Some(ListenerTls {
                mode: TlsMode::Terminate,
                certificates: vec![cert],
                client_validation: None,
            }),
            http: vec![],
            tls_routes: vec![],
            l4_route: None,
        }
    }

    fn bind(listeners: Vec<Listener>) -> Bind {
        Bind {
            gateway: ObjectRef::default(),
            address: "127.0.0.1:0".parse().unwrap(),
            protocol: BindProtocol::Https,
            proxy_protocol: false,
            listeners,
        }
    }

    #[test]
    fn selects_by_sni_most_specific_first() {
        let (table, failed) = TlsTable::build(&bind(vec![
            listener(
                "exact",
                Some("a.example.com"),
                self_signed(&["a.example.com"]),
            ),
            listener(
                "wild",
                Some("*.example.com"),
                self_signed(&["*.example.com"]),
            ),
            listener("any", None, self_signed(&["default"])),
        ]));
        assert!(failed.is_empty());
        let id = |sni| table.select(sni).map(|e| &*e.listener_id);
        assert_eq!(id(Some("a.example.com")), Some("exact"));
        assert_eq!(id(Some("B.example.com")), Some("wild"));
        assert_eq!(id(Some("other.org")), Some("any"));
        assert_eq!(id(None), Some("any"));
    }

    #[test]
    fn bad_material_fails_only_that_listener() {
        let mut broken = self_signed(&["b"]);
        broken.key_pem = "not a key".into();
        let (table, failed) = TlsTable::build(&bind(vec![
            listener(
                "good",
                Some("a.example.com"),
                self_signed(&["a.example.com"]),
            ),
            listener("bad", Some("b.example.com"), broken),
        ]));
        assert_eq!(failed.len(), 1);
        assert_eq!(failed[0].0, "bad");
        assert!(table.select(Some("a.example.com")).is_some());
        assert!(table.select(Some("b.example.com")).is_none());
    }

    #[test]
    fn alpn_offers_h2_and_http11() {
        let tls = ListenerTls {
            mode: TlsMode::Terminate,
            certificates: vec![self_signed(&["x"])],
            client_validation: None,
        };
        let config = server_config(&tls).unwrap();
        assert_eq!(
            config.alpn_protocols,
            vec![b"h2".to_vec(), b"http/1.1".to_vec()]
        );
    }

    #[test]
    fn insecure_fallback_accepts_invalid_client_certificates_strict_mode_refuses() {
        let trusted = rcgen::generate_simple_self_signed(vec!["ca".to_string()]).unwrap();
        let stranger = rcgen::generate_simple_self_signed(vec!["client".to_string()]).unwrap();
        let validation = |allow_insecure_fallback| ClientValidation {
            ca_pem: trusted.cert.pem(),
            allow_insecure_fallback,
        };
        let presented = stranger.cert.der().clone();
        let now = UnixTime::now();
        let strict = client_verifier(&validation(false)).unwrap();
        assert!(strict.client_auth_mandatory());
        assert!(strict.verify_client_cert(&presented, &[], now).is_err());
        let fallback = client_verifier(&validation(true)).unwrap();
        assert!(fallback.offer_client_auth());
        assert!(!fallback.client_auth_mandatory());
        assert!(fallback.verify_client_cert(&presented, &[], now).is_ok());
    }
}
