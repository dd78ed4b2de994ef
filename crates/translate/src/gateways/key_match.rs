//! Does a private key belong to a certificate? A pure structural check: the
//! certificate's SubjectPublicKeyInfo is compared with the public half the
//! key encoding carries (RSA modulus and exponent; the optional public key
//! of EC and PKCS#8 v2 keys). When the key encoding does not carry its
//! public half the answer is "unknown" and the data plane decides when it
//! loads the pair.

use rustls_pki_types::PrivateKeyDer;

use super::der::{self, BIT_STRING, INTEGER, OCTET_STRING, OID, SEQUENCE};

const RSA: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];
const EC: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01];
const ED25519: &[u8] = &[0x2b, 0x65, 0x70];

/// The outcome of comparing a key with a certificate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyMatch {
    Matches,
    Mismatch,
    /// The key encoding does not carry its public half.
    Unknown,
}

/// A public key as found in a certificate or next to a private key.
#[derive(Debug, PartialEq, Eq)]
enum PublicKey<'a> {
    Rsa {
        n: &'a [u8],
        e: &'a [u8],
    },
    /// EC point or Ed25519 key bytes (BIT STRING content without the
    /// unused-bits byte), with the algorithm OID.
    Raw {
        alg: &'a [u8],
        key: &'a [u8],
    },
}

/// Compares the key with the leaf certificate (DER). `None`: the
/// certificate could not be read.
pub fn check(cert_der: &[u8], key: &PrivateKeyDer<'_>) -> Option<KeyMatch> {
    let cert_key = certificate_public_key(cert_der)?;
    let key_public = match key {
        PrivateKeyDer::Pkcs1(k) => rsa_private_public(k.secret_pkcs1_der()),
        PrivateKeyDer::Sec1(k) => ec_private_public(k.secret_sec1_der(), cert_alg(&cert_key)),
        PrivateKeyDer::Pkcs8(k) => pkcs8_public(k.secret_pkcs8_der()),
        _ => None,
    };
    Some(match key_public {
        Some(public) if public == cert_key => KeyMatch::Matches,
        Some(_) => KeyMatch::Mismatch,
        None => match (&cert_key, key) {
            // At least the algorithm family must agree.
            (PublicKey::Rsa { .. }, PrivateKeyDer::Sec1(_)) => KeyMatch::Mismatch,
            (PublicKey::Raw { .. }, PrivateKeyDer::Pkcs1(_)) => KeyMatch::Mismatch,
            _ => KeyMatch::Unknown,
        },
    })
}

fn cert_alg<'a>(key: &PublicKey<'a>) -> &'a [u8] {
    match key {
        PublicKey::Rsa { .. } => RSA,
        PublicKey::Raw { alg, .. } => alg,
    }
}

fn bit_string_bytes(content: &[u8]) -> Option<&[u8]> {
    match content.split_first()? {
        (0, bytes) => Some(bytes),
        _ => None,
    }
}

fn certificate_public_key(cert: &[u8]) -> Option<PublicKey<'_>> {
    let (cert, _) = der::expect(cert, SEQUENCE)?;
    let (mut tbs, _) = der::expect(cert, SEQUENCE)?;
    // Optional explicit [0] version.
    if let Some((0xa0, _, rest)) = der::read_tlv(tbs) {
        tbs = rest;
    }
    // serialNumber, signature, issuer, validity, subject.
    for _ in 0..5 {
        tbs = der::read_tlv(tbs)?.2;
    }
    let (spki, _) = der::expect(tbs, SEQUENCE)?;
    let (alg_id, rest) = der::expect(spki, SEQUENCE)?;
    let (alg, _) = der::expect(alg_id, OID)?;
    let (bits, _) = der::expect(rest, BIT_STRING)?;
    let key = bit_string_bytes(bits)?;
    if alg == RSA {
        let (rsa, _) = der::expect(key, SEQUENCE)?;
        let (n, rest) = der::expect(rsa, INTEGER)?;
        let (e, _) = der::expect(rest, INTEGER)?;
        Some(PublicKey::Rsa {
            n: der::unsigned(n),
            e: der::unsigned(e),
        })
    } else {
        Some(PublicKey::Raw { alg, key })
    }
}

/// RSAPrivateKey: version, n, e, ...
fn rsa_private_public(key: &[u8]) -> Option<PublicKey<'_>> {
    let (rsa, _) = der::expect(key, SEQUENCE)?;
    let (_version, rest) = der::expect(rsa, INTEGER)?;
    let (n, rest) = der::expect(rest, INTEGER)?;
    let (e, _) = der::expect(rest, INTEGER)?;
    Some(PublicKey::Rsa {
        n: der::unsigned(n),
        e: der::unsigned(e),
    })
}

/// ECPrivateKey: version, privateKey, [0] parameters OPTIONAL, [1] publicKey OPTIONAL.
fn ec_private_public<'a>(key: &'a [u8], alg: &'a [u8]) -> Option<PublicKey<'a>> {
    let (ec, _) = der::expect(key, SEQUENCE)?;
    let (_version, rest) = der::expect(ec, INTEGER)?;
    let (_private, mut rest) = der::expect(rest, OCTET_STRING)?;
    while let Some((tag, content, next)) = der::read_tlv(rest) {
        if tag == 0xa1 {
            let (bits, _) = der::expect(content, BIT_STRING)?;
            return Some(PublicKey::Raw {
                alg,
                key: bit_string_bytes(bits)?,
            });
        }
        rest = next;
    }
    None
}

/// PrivateKeyInfo / OneAsymmetricKey: version, algorithm, privateKey,
/// [0] attributes OPTIONAL, [1] publicKey OPTIONAL (v2).
fn pkcs8_public(key: &[u8]) -> Option<PublicKey<'_>> {
    let (info, _) = der::expect(key, SEQUENCE)?;
    let (_version, rest) = der::expect(info, INTEGER)?;
    let (alg_id, rest) = der::expect(rest, SEQUENCE)?;
    let (alg, _) = der::expect(alg_id, OID)?;
    let (private, mut rest) = der::expect(rest, OCTET_STRING)?;
    if alg == RSA {
        return rsa_private_public(private);
    }
    if alg == EC
        && let Some(public) = ec_private_public(private, EC)
    {
        return Some(public);
    }
    while let Some((tag, content, next)) = der::read_tlv(rest) {
        if tag == 0x81 {
            // [1] IMPLICIT BIT STRING.
            return Some(PublicKey::Raw {
                alg: if alg == ED25519 { ED25519 } else { alg },
                key: bit_string_bytes(content)?,
            });
        }
        rest = next;
    }
    None
}

#[cfg(test)]
mod tests {
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::{CertificateDer, PrivateKeyDer};

    use super::*;

    fn pair(alg: &'static rcgen::SignatureAlgorithm) -> (Vec<u8>, PrivateKeyDer<'static>) {
        let key = rcgen::KeyPair::generate_for(alg).expect("key");
        let params =
            rcgen::CertificateParams::new(vec!["example.com".to_string()]).expect("params");
        let cert = params.self_signed(&key).expect("cert");
        let cert_der = CertificateDer::from_pem_slice(cert.pem().as_bytes()).expect("cert pem");
        let key_der =
            PrivateKeyDer::from_pem_slice(key.serialize_pem().as_bytes()).expect("key pem");
        (cert_der.as_ref().to_vec(), key_der)
    }

    #[test]
    fn ecdsa_pairs_match_and_swaps_do_not() {
        let (cert_a, key_a) = pair(&rcgen::PKCS_ECDSA_P256_SHA256);
        let (cert_b, key_b) = pair(&rcgen::PKCS_ECDSA_P256_SHA256);
        assert_eq!(check(&cert_a, &key_a), Some(KeyMatch::Matches));
        assert_eq!(check(&cert_b, &key_b), Some(KeyMatch::Matches));
        assert_eq!(check(&cert_a, &key_b), Some(KeyMatch::Mismatch));
    }

    #[test]
    fn ed25519_pairs_are_checked_or_unknown() {
        let (cert_a, key_a) = pair(&rcgen::PKCS_ED25519);
        let (cert_b, _) = pair(&rcgen::PKCS_ED25519);
        let same = check(&cert_a, &key_a).expect("cert");
        assert_ne!(same, KeyMatch::Mismatch);
        let other = check(&cert_b, &key_a).expect("cert");
        assert_ne!(other, KeyMatch::Matches);
    }

    #[test]
    fn algorithm_family_mismatch_is_detected() {
        let (cert_ec, _) = pair(&rcgen::PKCS_ECDSA_P256_SHA256);
        let (_, key_ed) = pair(&rcgen::PKCS_ED25519);
        assert_ne!(check(&cert_ec, &key_ed), Some(KeyMatch::Matches));
    }

    #[test]
    fn garbage_certificates_are_unreadable() {
        let (_, key) = pair(&rcgen::PKCS_ECDSA_P256_SHA256);
        assert_eq!(check(b"\x30\x03\x02\x01\x01", &key), None);
        assert_eq!(check(b"", &key), None);
    }
}
