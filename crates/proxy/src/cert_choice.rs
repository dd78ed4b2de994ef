//! Several certificates on one HTTPS/TLS listener (several certificateRefs):
//! the ClientHello chooses. A certificate whose names cover the SNI wins over
//! one that does not, and only certificates whose key can sign with one of
//! the client's signature schemes are offered (so an ECDSA-only client gets
//! the ECDSA certificate of an RSA + ECDSA pair). Otherwise the first
//! certificate, in certificateRefs order, answers.

use std::sync::Arc;

use rustls::crypto::CryptoProvider;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use x509_parser::extensions::GeneralName;

use crate::Error;

/// One certificate with the DNS names it covers.
#[derive(Debug)]
struct Choice {
    names: Vec<String>,
    key: Arc<CertifiedKey>,
}

impl Choice {
    fn covers(&self, sni: &str) -> bool {
        self.names.iter().any(|n| name_matches(n, sni))
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
            let names = chain.first().map(|c| dns_names(c)).unwrap_or_default();
            match CertifiedKey::from_der(chain, key, provider) {
                Ok(key) => choices.push(Choice {
                    names,
                    key: Arc::new(key),
                }),
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

/// DNS subjectAltNames of a certificate (lowercase); the subject CN when it
/// has none. Unparseable certificates cover no name (they can still be the
/// default).
fn dns_names(der: &CertificateDer<'_>) -> Vec<String> {
    let Ok((_, cert)) = x509_parser::parse_x509_certificate(der.as_ref()) else {
        return Vec::new();
    };
    let sans: Vec<String> = cert
        .subject_alternative_name()
        .ok()
        .flatten()
        .map(|ext| {
            ext.value
                .general_names
                .iter()
                .filter_map(|n| match n {
                    GeneralName::DNSName(d) => Some(d.to_ascii_lowercase()),
                    _ => None,
                })
                .collect()
        })
        .unwrap_or_default();
    if !sans.is_empty() {
        return sans;
    }
    cert.subject()
        .iter_common_name()
        .filter_map(|cn| cn.as_str().ok())
        .map(str::to_ascii_lowercase)
        .collect()
}

/// RFC 6125 matching: exact, or a `*.` wildcard covering exactly one label.
fn name_matches(pattern: &str, name: &str) -> bool {
    match pattern.strip_prefix("*.") {
        Some(suffix) => name
            .split_once('.')
            .is_some_and(|(label, rest)| !label.is_empty() && rest == suffix),
        None => pattern == name,
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

    fn names(k: &CertifiedKey) -> Vec<String> {
        dns_names(&k.cert[0])
    }

    #[test]
    fn key_type_follows_the_client_signature_schemes() {
        let choice = CertChoice::new(
            vec![
                cert(&["rsa.example"], &rcgen::PKCS_RSA_SHA256),
                cert(&["ecdsa.example"], &rcgen::PKCS_ECDSA_P256_SHA256),
            ],
            &provider(),
        )
        .expect("certs");
        let pick = |schemes| names(&choice.choose(None, schemes).expect("a certificate"));
        assert_eq!(pick(ECDSA_ONLY), vec!["ecdsa.example"]);
        assert_eq!(pick(RSA_ONLY), vec!["rsa.example"]);
        // Both usable: the first certificateRef.
        assert_eq!(pick(BOTH), vec!["rsa.example"]);
    }

    #[test]
    fn the_certificate_covering_the_sni_wins() {
        let choice = CertChoice::new(
            vec![
                cert(&["a.example"], &rcgen::PKCS_ECDSA_P256_SHA256),
                cert(&["*.b.example"], &rcgen::PKCS_ECDSA_P256_SHA256),
            ],
            &provider(),
        )
        .expect("certs");
        let pick = |sni| names(&choice.choose(Some(sni), BOTH).expect("a certificate"));
        assert_eq!(pick("x.b.example"), vec!["*.b.example"]);
        assert_eq!(pick("X.B.Example."), vec!["*.b.example"]);
        assert_eq!(pick("a.example"), vec!["a.example"]);
        // No certificate covers it: the first one answers.
        assert_eq!(pick("deep.x.b.example"), vec!["a.example"]);
        assert_eq!(pick("other.example"), vec!["a.example"]);
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
        assert!(name_matches("*.example.com", "a.example.com"));
        assert!(!name_matches("*.example.com", "example.com"));
        assert!(!name_matches("*.example.com", "a.b.example.com"));
        assert!(!name_matches("*.example.com", ".example.com"));
        assert!(name_matches("a.example.com", "a.example.com"));
    }
}
