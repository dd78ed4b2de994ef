//! Several certificates on one HTTPS/TLS listener (several certificateRefs):
//! the ClientHello chooses. A certificate whose names cover the SNI wins over
//! one that does not, and only certificates whose key can sign with one of
//! the client's signature schemes are offered (so an ECDSA-only client gets
//! the ECDSA certificate of an RSA + ECDSA pair). Otherwise the first
//! certificate, in certificateRefs order, answers.

use std::sync::Arc;

use rustls::crypto::CryptoProvider;
use rustls::server::{ClientHello, ParsedCertificate, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName};

use crate::Error;

/// One certificate of a listener.
#[derive(Debug)]
struct Choice {
    key: Arc<CertifiedKey>,
}

impl Choice {
    /// Whether the certificate is valid for `sni`, by rustls' own name check
    /// (as for backend certificates, `upstream::san_verifier`).
    fn covers(&self, sni: &str) -> bool {
        let (Ok(leaf), Ok(name)) = (self.key.end_entity_cert(), ServerName::try_from(sni)) else {
            return false;
        };
        ParsedCertificate::try_from(leaf)
            .is_ok_and(|cert| rustls::client::verify_server_name(&cert, &name).is_ok())
    }
}

/// The certificates of one listener, in certificateRefs order.
#[derive(Debug)]
pub struct CertChoice {
    choices: Vec<Choice>,
}

impl CertChoice {
    /// Loads every chain and key; one whose key does not match its
    /// certificate is skipped (logged), and it is an error naming `source`
    /// when none is left.
    pub fn new(
        certs: Vec<(String, Vec<CertificateDer<'static>>, PrivateKeyDer<'static>)>,
        provider: &CryptoProvider,
    ) -> Result<CertChoice, Error> {
        let mut choices = Vec::with_capacity(certs.len());
        let mut last_error = Error::Tls("no certificate".into());
        for (source, chain, key) in certs {
            match CertifiedKey::from_der(chain, key, provider) {
                Ok(key) => choices.push(Choice { key: Arc::new(key) }),
                Err(e) => {
                    tracing::warn!(certificate = %source, error = %e, "certificate skipped");
                    last_error = Error::Tls(format!("{source}: {e}"));
                }
            }
        }
        if choices.is_empty() {
            return Err(last_error);
        }
        Ok(CertChoice { choices })
    }

    /// The certificate for a ClientHello's server name and signature schemes.
    fn choose(
        &self,
        sni: Option<&str>,
        schemes: &[rustls::SignatureScheme],
    ) -> Option<Arc<CertifiedKey>> {
        let usable = |c: &&Choice| c.key.key.choose_scheme(schemes).is_some();
        let by_name = sni.and_then(|name| {
            let name = name.trim_end_matches('.').to_ascii_lowercase();
            self.choices.iter().filter(usable).find(|c| c.covers(&name))
        });
        by_name
            .or_else(|| self.choices.iter().find(usable))
            .or(self.choices.first())
            .map(|c| c.key.clone())
    }
}

impl ResolvesServerCert for CertChoice {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        self.choose(hello.server_name(), hello.signature_schemes())
    }
}

#[cfg(test)]
mod tests {
    use rustls::SignatureScheme;

    use super::*;

    fn cert(
        names: &[&str],
        alg: &'static rcgen::SignatureAlgorithm,
    ) -> (String, Vec<CertificateDer<'static>>, PrivateKeyDer<'static>) {
        let key = rcgen::KeyPair::generate_for(alg).expect("key");
        let params =
            rcgen::CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>())
                .expect("params");
        let c = params.self_signed(&key).expect("self-signed");
        let der = PrivateKeyDer::try_from(key.serialize_der()).expect("key der");
        (names.join(","), vec![c.der().clone()], der)
    }

    fn provider() -> CryptoProvider {
        rustls::crypto::aws_lc_rs::default_provider()
    }

    const ECDSA_ONLY: &[SignatureScheme] = &[SignatureScheme::ECDSA_NISTP256_SHA256];
    const RSA_ONLY: &[SignatureScheme] = &[
        SignatureScheme::RSA_PSS_SHA256,
        SignatureScheme::RSA_PKCS1_SHA256,
    ];
    const BOTH: &[SignatureScheme] = &[
        SignatureScheme::ECDSA_NISTP256_SHA256,
        SignatureScheme::RSA_PSS_SHA256,
    ];

    type Spec = (&'static [&'static str], &'static rcgen::SignatureAlgorithm);

    /// A CertChoice of freshly generated certificates, and a function naming
    /// the one chosen (by the names it was generated for).
    fn setup(
        specs: &[Spec],
    ) -> (
        CertChoice,
        impl Fn(Option<Arc<CertifiedKey>>) -> String + use<>,
    ) {
        let certs: Vec<_> = specs.iter().map(|(names, alg)| cert(names, alg)).collect();
        let ids: Vec<(String, CertificateDer<'static>)> = certs
            .iter()
            .map(|(source, chain, _)| (source.clone(), chain[0].clone()))
            .collect();
        let choice = CertChoice::new(certs, &provider()).expect("certs");
        let name = move |k: Option<Arc<CertifiedKey>>| {
            let k = k.expect("a certificate");
            ids.iter()
                .find(|(_, der)| *der == k.cert[0])
                .map(|(source, _)| source.clone())
                .unwrap_or_default()
        };
        (choice, name)
    }

    #[test]
    fn key_type_follows_the_client_signature_schemes() {
        let (choice, name) = setup(&[
            (&["rsa.example"], &rcgen::PKCS_RSA_SHA256),
            (&["ecdsa.example"], &rcgen::PKCS_ECDSA_P256_SHA256),
        ]);
        let pick = |schemes| name(choice.choose(None, schemes));
        assert_eq!(pick(ECDSA_ONLY), "ecdsa.example");
        assert_eq!(pick(RSA_ONLY), "rsa.example");
        // Both usable: the first certificateRef.
        assert_eq!(pick(BOTH), "rsa.example");
    }

    #[test]
    fn the_certificate_covering_the_sni_wins() {
        let (choice, name) = setup(&[
            (&["a.example"], &rcgen::PKCS_ECDSA_P256_SHA256),
            (&["*.b.example"], &rcgen::PKCS_ECDSA_P256_SHA256),
        ]);
        let pick = |sni| name(choice.choose(Some(sni), BOTH));
        assert_eq!(pick("x.b.example"), "*.b.example");
        assert_eq!(pick("X.B.Example."), "*.b.example");
        assert_eq!(pick("a.example"), "a.example");
        // No certificate covers it: the first one answers.
        assert_eq!(pick("deep.x.b.example"), "a.example");
        assert_eq!(pick("other.example"), "a.example");
    }

    #[test]
    fn a_key_that_does_not_match_its_certificate_is_an_error() {
        let (source, chain, _) = cert(&["a.example"], &rcgen::PKCS_ECDSA_P256_SHA256);
        let (_, _, other_key) = cert(&["a.example"], &rcgen::PKCS_ECDSA_P256_SHA256);
        let err = CertChoice::new(vec![(source, chain, other_key)], &provider())
            .expect_err("mismatched key");
        assert!(err.to_string().contains("a.example"), "{err}");
    }

    #[test]
    fn wildcards_cover_exactly_one_label() {
        let (choice, _) = setup(&[
            (&["*.example.com"], &rcgen::PKCS_ECDSA_P256_SHA256),
            (&["a.example.com"], &rcgen::PKCS_ECDSA_P256_SHA256),
        ]);
        let (wild, exact) = (&choice.choices[0], &choice.choices[1]);
        assert!(wild.covers("a.example.com"));
        assert!(!wild.covers("example.com"));
        assert!(!wild.covers("a.b.example.com"));
        assert!(!wild.covers(".example.com"));
        assert!(exact.covers("a.example.com"));
    }
}
