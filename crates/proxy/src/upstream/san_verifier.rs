//! BackendTLSPolicy `subjectAltNames`: the backend certificate must chain to
//! the policy's roots (checked by rustls' WebPKI functions, exactly as
//! `WebPkiServerVerifier` checks it) and carry at least one of the listed
//! names: a `Hostname` matched with WebPKI's DNS rules (wildcards in the
//! certificate allowed), a `URI` equal to one of the certificate's URI SANs
//! (e.g. a SPIFFE ID). The policy hostname is then the SNI only.

use std::sync::Arc;

use portico_ir::SubjectAltName;
use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::server::ParsedCertificate;
use rustls::{CertificateError, DigitallySignedStruct, RootCertStore, SignatureScheme};
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};
use x509_parser::extensions::GeneralName;

/// Chain to `roots`, then one of `names`.
#[derive(Debug)]
pub struct SanVerifier {
    roots: Arc<RootCertStore>,
    provider: Arc<CryptoProvider>,
    /// Signatures of the handshake itself are checked by the ordinary verifier.
    signatures: Arc<WebPkiServerVerifier>,
    names: Vec<SubjectAltName>,
}

impl SanVerifier {
    pub fn new(
        roots: Arc<RootCertStore>,
        provider: Arc<CryptoProvider>,
        signatures: Arc<WebPkiServerVerifier>,
        names: Vec<SubjectAltName>,
    ) -> SanVerifier {
        SanVerifier {
            roots,
            provider,
            signatures,
            names,
        }
    }
}

/// The URI subjectAltNames of a DER certificate (empty when it has none or
/// does not parse; the chain check has already parsed it by then).
pub fn uri_sans(der: &[u8]) -> Vec<String> {
    let Ok((_, cert)) = x509_parser::parse_x509_certificate(der) else {
        return Vec::new();
    };
    let Ok(Some(san)) = cert.subject_alternative_name() else {
        return Vec::new();
    };
    san.value
        .general_names
        .iter()
        .filter_map(|n| match n {
            GeneralName::URI(uri) => Some((*uri).to_string()),
            _ => None,
        })
        .collect()
}

/// Whether the certificate carries one of `names`.
fn matches_any(cert: &ParsedCertificate<'_>, der: &[u8], names: &[SubjectAltName]) -> bool {
    let mut uris: Option<Vec<String>> = None;
    names.iter().any(|name| match name {
        SubjectAltName::Hostname(host) => ServerName::try_from(host.as_str())
            .is_ok_and(|n| rustls::client::verify_server_name(cert, &n).is_ok()),
        SubjectAltName::Uri(uri) => uris
            .get_or_insert_with(|| uri_sans(der))
            .iter()
            .any(|have| have == uri),
    })
}

impl ServerCertVerifier for SanVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let cert = ParsedCertificate::try_from(end_entity)?;
        rustls::client::verify_server_cert_signed_by_trust_anchor(
            &cert,
            &self.roots,
            intermediates,
            now,
            self.provider.signature_verification_algorithms.all,
        )?;
        if matches_any(&cert, end_entity.as_ref(), &self.names) {
            Ok(ServerCertVerified::assertion())
        } else {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName,
            ))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.signatures.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.signatures.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.signatures.supported_verify_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rcgen::{
        BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair, SanType, string::Ia5String,
    };

    struct Pki {
        roots: Arc<RootCertStore>,
        leaf: CertificateDer<'static>,
        other_leaf: CertificateDer<'static>,
    }

    /// A CA, a leaf it signs (DNS backend.example.com + a SPIFFE URI), and
    /// a leaf with the same names from an unrelated CA.
    fn pki() -> Pki {
        let make_ca = || {
            let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
            params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
            let key = KeyPair::generate().unwrap();
            let cert = params.self_signed(&key).unwrap();
            (cert.der().clone(), Issuer::new(params, key))
        };
        let leaf_of = |issuer: &Issuer<'static, KeyPair>| {
            let mut params =
                CertificateParams::new(vec!["backend.example.com".to_string()]).unwrap();
            params.subject_alt_names.push(SanType::URI(
                Ia5String::try_from("spiffe://example.com/backend").unwrap(),
            ));
            let key = KeyPair::generate().unwrap();
            params.signed_by(&key, issuer).unwrap().der().clone()
        };
        let (ca, issuer) = make_ca();
        let (_, other_issuer) = make_ca();
        let mut roots = RootCertStore::empty();
        roots.add(ca).unwrap();
        Pki {
            roots: Arc::new(roots),
            leaf: leaf_of(&issuer),
            other_leaf: leaf_of(&other_issuer),
        }
    }

    fn verifier(pki: &Pki, names: Vec<SubjectAltName>) -> SanVerifier {
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let signatures =
            WebPkiServerVerifier::builder_with_provider(pki.roots.clone(), provider.clone())
                .build()
                .unwrap();
        SanVerifier::new(pki.roots.clone(), provider, signatures, names)
    }

    fn verify(v: &SanVerifier, leaf: &CertificateDer<'static>) -> Result<(), rustls::Error> {
        let sni = ServerName::try_from("sni.example.org").unwrap();
        v.verify_server_cert(leaf, &[], &sni, &[], UnixTime::now())
            .map(|_| ())
    }

    #[test]
    fn uri_sans_are_read_from_the_certificate() {
        let pki = pki();
        assert_eq!(uri_sans(&pki.leaf), vec!["spiffe://example.com/backend"]);
        assert!(uri_sans(b"not a certificate").is_empty());
    }

    #[test]
    fn a_matching_uri_san_is_accepted_whatever_the_sni() {
        let pki = pki();
        let v = verifier(
            &pki,
            vec![SubjectAltName::Uri("spiffe://example.com/backend".into())],
        );
        assert!(verify(&v, &pki.leaf).is_ok());
    }

    #[test]
    fn a_different_uri_or_hostname_is_refused() {
        let pki = pki();
        for names in [
            vec![SubjectAltName::Uri("spiffe://example.com/other".into())],
            vec![SubjectAltName::Uri("spiffe://example.com/backend/".into())],
            vec![SubjectAltName::Hostname("other.example.com".into())],
        ] {
            let v = verifier(&pki, names.clone());
            assert!(
                matches!(
                    verify(&v, &pki.leaf),
                    Err(rustls::Error::InvalidCertificate(
                        CertificateError::NotValidForName
                    ))
                ),
                "{names:?}"
            );
        }
    }

    #[test]
    fn hostname_sans_follow_dns_rules_and_any_one_match_suffices() {
        let pki = pki();
        let v = verifier(
            &pki,
            vec![
                SubjectAltName::Hostname("nope.example.com".into()),
                SubjectAltName::Hostname("backend.example.com".into()),
            ],
        );
        assert!(verify(&v, &pki.leaf).is_ok());
    }

    #[test]
    fn the_chain_is_checked_before_the_names() {
        let pki = pki();
        let v = verifier(
            &pki,
            vec![SubjectAltName::Uri("spiffe://example.com/backend".into())],
        );
        // Same names, untrusted issuer: refused by the chain check, before
        // any name is looked at.
        let err = verify(&v, &pki.other_leaf).expect_err("untrusted chain");
        assert!(
            !matches!(
                err,
                rustls::Error::InvalidCertificate(CertificateError::NotValidForName)
            ),
            "{err:?}"
        );
    }
}
