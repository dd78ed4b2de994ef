//! A throw-away certificate authority for tests: CA, server (leaf) and
//! client certificates generated with rcgen (ECDSA P-256, aws-lc-rs), handed
//! out as PEM (for Secrets, ConfigMaps, files) and DER (for rustls).

use std::net::IpAddr;

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, SanType,
};
use rustls_pki_types::pem::PemObject as _;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use crate::Error;

/// A certificate with its private key.
#[derive(Clone, Debug)]
pub struct CertifiedPem {
    /// The certificate alone (PEM).
    pub cert_pem: String,
    /// The certificate followed by its issuer (PEM); equal to `cert_pem` for
    /// self-signed certificates. This is what a Secret's `tls.crt` holds.
    pub chain_pem: String,
    /// The private key (PKCS#8 PEM), a Secret's `tls.key`.
    pub key_pem: String,
}

impl CertifiedPem {
    /// The certificate chain as DER, leaf first.
    pub fn chain_der(&self) -> Vec<CertificateDer<'static>> {
        CertificateDer::pem_slice_iter(self.chain_pem.as_bytes())
            .filter_map(Result::ok)
            .collect()
    }

    /// The private key as DER.
    pub fn key_der(&self) -> Result<PrivateKeyDer<'static>, Error> {
        PrivateKeyDer::from_pem_slice(self.key_pem.as_bytes())
            .map_err(|e| Error::InvalidName(format!("generated key does not parse: {e}")))
    }
}

/// A certificate authority that signs server and client certificates.
pub struct TestCa {
    cert_pem: String,
    cert_der: CertificateDer<'static>,
    issuer: Issuer<'static, KeyPair>,
}

impl std::fmt::Debug for TestCa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestCa").finish_non_exhaustive()
    }
}

impl TestCa {
    /// A new self-signed CA with the given common name.
    pub fn new(common_name: &str) -> Result<Self, Error> {
        let mut params = CertificateParams::new(Vec::<String>::new())?;
        params
            .distinguished_name
            .push(DnType::CommonName, common_name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let key = KeyPair::generate()?;
        let cert = params.self_signed(&key)?;
        Ok(Self {
            cert_pem: cert.pem(),
            cert_der: cert.der().clone(),
            issuer: Issuer::new(params, key),
        })
    }

    /// The CA certificate (PEM), e.g. a ConfigMap's `ca.crt`.
    pub fn cert_pem(&self) -> &str {
        &self.cert_pem
    }

    /// The CA certificate (DER), e.g. for a rustls root store.
    pub fn cert_der(&self) -> CertificateDer<'static> {
        self.cert_der.clone()
    }

    /// A server certificate for `names`: DNS names (wildcards allowed), IP
    /// addresses, or URIs (anything containing `://`, e.g. SPIFFE IDs). The
    /// first name is also the common name.
    pub fn server_cert(&self, names: &[&str]) -> Result<CertifiedPem, Error> {
        let mut params = leaf_params(names)?;
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        self.sign(params)
    }

    /// A client certificate with the given common name (and no SANs).
    pub fn client_cert(&self, common_name: &str) -> Result<CertifiedPem, Error> {
        let mut params = leaf_params(&[])?;
        params
            .distinguished_name
            .push(DnType::CommonName, common_name);
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        self.sign(params)
    }

    fn sign(&self, params: CertificateParams) -> Result<CertifiedPem, Error> {
        let key = KeyPair::generate()?;
        let cert = params.signed_by(&key, &self.issuer)?;
        let cert_pem = cert.pem();
        Ok(CertifiedPem {
            chain_pem: format!("{cert_pem}{}", self.cert_pem),
            cert_pem,
            key_pem: key.serialize_pem(),
        })
    }
}

/// A self-signed certificate for `names` (see [`TestCa::server_cert`]).
pub fn self_signed(names: &[&str]) -> Result<CertifiedPem, Error> {
    let params = leaf_params(names)?;
    let key = KeyPair::generate()?;
    let cert = params.self_signed(&key)?;
    let cert_pem = cert.pem();
    Ok(CertifiedPem {
        chain_pem: cert_pem.clone(),
        cert_pem,
        key_pem: key.serialize_pem(),
    })
}

fn leaf_params(names: &[&str]) -> Result<CertificateParams, Error> {
    let mut params = CertificateParams::new(Vec::<String>::new())?;
    for name in names {
        params.subject_alt_names.push(san(name)?);
    }
    if let Some(first) = names.first() {
        params.distinguished_name.push(DnType::CommonName, *first);
    }
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    Ok(params)
}

fn san(name: &str) -> Result<SanType, Error> {
    if let Ok(ip) = name.parse::<IpAddr>() {
        return Ok(SanType::IpAddress(ip));
    }
    let ia5 = name
        .to_owned()
        .try_into()
        .map_err(|_| Error::InvalidName(name.to_owned()))?;
    Ok(if name.contains("://") {
        SanType::URI(ia5)
    } else {
        SanType::DnsName(ia5)
    })
}
