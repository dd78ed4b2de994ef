//! Listener `certificateRefs`: reference checks (group, kind, ReferenceGrant)
//! and a pure, crypto-free validation of the `kubernetes.io/tls` Secret: the
//! certificate chain must be PEM `CERTIFICATE` blocks holding X.509 DER
//! structures, the key a PEM private key, and the key must belong to the
//! leaf certificate where its encoding says so ([`super::key_match`]). What
//! this cannot see, the data plane finds when it loads the pair (a rejection
//! comes back through [`crate::apply_data_plane_report`]).

use portico_ir::{CertifiedKeyPem, ObjectRef};
use portico_model::core::Secret;
use portico_model::{GATEWAY_GROUP, Snapshot};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use super::der::read_tlv;
use super::key_match::{self, KeyMatch};
use super::problem::Problem;
use super::spec::SecretRefSpec;
use crate::reference_grant::{self, From, To};

/// Resolves every certificateRef of a listener owned by `owner`; with `now`
/// (seconds since the Unix epoch), an expired leaf certificate is invalid.
pub fn resolve(
    snapshot: &Snapshot,
    owner: &ObjectRef,
    refs: &[SecretRefSpec],
    now: Option<u64>,
) -> Result<Vec<CertifiedKeyPem>, Problem> {
    if refs.is_empty() {
        return Err(Problem::new(
            "InvalidCertificateRef",
            "TLS termination needs at least one certificateRef",
        ));
    }
    refs.iter()
        .map(|r| resolve_one(snapshot, owner, r, now))
        .collect()
}

fn resolve_one(
    snapshot: &Snapshot,
    owner: &ObjectRef,
    r: &SecretRefSpec,
    now: Option<u64>,
) -> Result<CertifiedKeyPem, Problem> {
    let group = r.group.as_deref().unwrap_or("");
    let kind = r.kind.as_deref().unwrap_or("Secret");
    let namespace = r.namespace.as_deref().unwrap_or(&owner.namespace);
    let display = format!("{namespace}/{}", r.name);
    if !group.is_empty() || kind != "Secret" {
        return Err(Problem::new(
            "InvalidCertificateRef",
            format!(
                "certificateRef {display} has unsupported group/kind {group:?}/{kind:?}; only core Secrets are supported"
            ),
        ));
    }
    let permitted = reference_grant::permitted(
        snapshot,
        From {
            group: GATEWAY_GROUP,
            kind: &owner.kind,
            namespace: &owner.namespace,
        },
        To {
            group: "",
            kind: "Secret",
            namespace,
            name: &r.name,
        },
    );
    if !permitted {
        return Err(Problem::new(
            "RefNotPermitted",
            format!("certificateRef to Secret {display} is not permitted by any ReferenceGrant"),
        ));
    }
    let Some(secret) = find_secret(snapshot, namespace, &r.name) else {
        return Err(Problem::new(
            "InvalidCertificateRef",
            format!("Secret {display} does not exist"),
        ));
    };
    let (cert_chain_pem, key_pem) = validate_secret(secret, now)
        .map_err(|why| Problem::new("InvalidCertificateRef", format!("Secret {display}: {why}")))?;
    Ok(CertifiedKeyPem {
        source: display,
        cert_chain_pem,
        key_pem,
    })
}

fn find_secret<'a>(snapshot: &'a Snapshot, namespace: &str, name: &str) -> Option<&'a Secret> {
    snapshot.secrets.iter().find(|s| {
        s.metadata.namespace.as_deref() == Some(namespace)
            && s.metadata.name.as_deref() == Some(name)
    })
}

/// A value of a Secret: `data` (already base64-decoded) or `stringData`.
pub fn secret_value(secret: &Secret, key: &str) -> Option<Vec<u8>> {
    secret
        .data
        .as_ref()
        .and_then(|d| d.get(key))
        .map(|b| b.0.clone())
        .or_else(|| {
            secret
                .string_data
                .as_ref()
                .and_then(|d| d.get(key))
                .map(|s| s.as_bytes().to_vec())
        })
}

/// Returns the PEM certificate chain and key of a valid TLS Secret; with
/// `now` (seconds since the Unix epoch) the leaf must not have expired.
pub fn validate_secret(secret: &Secret, now: Option<u64>) -> Result<(String, String), String> {
    match secret.type_.as_deref() {
        None | Some("kubernetes.io/tls") => {}
        Some(other) => return Err(format!("type {other:?} is not kubernetes.io/tls")),
    }
    let crt = secret_value(secret, "tls.crt").ok_or("no tls.crt")?;
    let key = secret_value(secret, "tls.key").ok_or("no tls.key")?;
    validate_chain(&crt)?;
    let private = PrivateKeyDer::from_pem_slice(&key)
        .map_err(|e| format!("tls.key is not a PEM private key: {e}"))?;
    let leaf = CertificateDer::pem_slice_iter(&crt)
        .next()
        .and_then(Result::ok)
        .ok_or("tls.crt holds no certificate")?;
    if key_match::check(leaf.as_ref(), &private) == Some(KeyMatch::Mismatch) {
        return Err("tls.key does not belong to the first certificate of tls.crt".to_string());
    }
    if let Some(now) = now
        && let Some(not_after) = not_after(leaf.as_ref())
        && not_after < now
    {
        let when = std::time::UNIX_EPOCH + std::time::Duration::from_secs(not_after);
        return Err(format!(
            "the certificate in tls.crt expired at {}",
            humantime::format_rfc3339_seconds(when)
        ));
    }
    let crt = String::from_utf8(crt).map_err(|_| "tls.crt is not text")?;
    let key = String::from_utf8(key).map_err(|_| "tls.key is not text")?;
    Ok((crt, key))
}

/// The leaf's notAfter in seconds since the Unix epoch (None when it cannot
/// be read or lies before 1970).
fn not_after(leaf: &[u8]) -> Option<u64> {
    let (_, cert) = x509_parser::parse_x509_certificate(leaf).ok()?;
    u64::try_from(cert.validity().not_after.timestamp()).ok()
}

/// Checks that `pem` holds at least one certificate and that each is an
/// X.509 DER `Certificate` (SEQUENCE of tbsCertificate SEQUENCE, algorithm
/// SEQUENCE and signature BIT STRING).
pub fn validate_chain(pem: &[u8]) -> Result<(), String> {
    let mut count = 0;
    for cert in CertificateDer::pem_slice_iter(pem) {
        let cert = cert.map_err(|e| format!("tls.crt is not PEM: {e}"))?;
        if !is_x509_shape(cert.as_ref()) {
            return Err(format!(
                "certificate #{} in tls.crt is not X.509 DER",
                count + 1
            ));
        }
        count += 1;
    }
    if count == 0 {
        return Err("tls.crt holds no PEM CERTIFICATE block".to_string());
    }
    Ok(())
}

fn is_x509_shape(der: &[u8]) -> bool {
    let Some((0x30, body, rest)) = read_tlv(der) else {
        return false;
    };
    if !rest.is_empty() {
        return false;
    }
    let Some((0x30, _tbs, body)) = read_tlv(body) else {
        return false;
    };
    let Some((0x30, _alg, body)) = read_tlv(body) else {
        return false;
    };
    matches!(read_tlv(body), Some((0x03, _, rest)) if rest.is_empty())
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use portico_model::core::ObjectMeta;

    use super::*;

    fn secret(crt: &str, key: &str) -> Secret {
        Secret {
            metadata: ObjectMeta::default(),
            type_: Some("kubernetes.io/tls".into()),
            string_data: Some(BTreeMap::from([
                ("tls.crt".to_string(), crt.to_string()),
                ("tls.key".to_string(), key.to_string()),
            ])),
            ..Secret::default()
        }
    }

    fn generated() -> (String, String) {
        let c = rcgen::generate_simple_self_signed(vec!["example.com".to_string()]).expect("rcgen");
        (c.cert.pem(), c.signing_key.serialize_pem())
    }

    #[test]
    fn accepts_a_generated_pair() {
        let (crt, key) = generated();
        assert_eq!(validate_secret(&secret(&crt, &key), None), Ok((crt, key)));
    }

    #[test]
    fn rejects_garbage_swapped_and_truncated() {
        let (crt, key) = generated();
        assert!(validate_secret(&secret("Hello world\n", "Hello world\n"), None).is_err());
        assert!(validate_secret(&secret(&key, &crt), None).is_err());
        let (other_crt, _) = generated();
        let mismatch = validate_secret(&secret(&other_crt, &key), None);
        assert!(
            mismatch
                .as_ref()
                .is_err_and(|e| e.contains("does not belong")),
            "{mismatch:?}"
        );
        let truncated = crt.replace("-----END CERTIFICATE-----", "");
        assert!(validate_secret(&secret(&truncated, &key), None).is_err());
        // A PEM block labelled CERTIFICATE whose body is not X.509.
        let fake = "-----BEGIN CERTIFICATE-----\nSGVsbG8gd29ybGQK\n-----END CERTIFICATE-----\n";
        assert!(validate_secret(&secret(fake, &key), None).is_err());
    }

    #[test]
    fn rejects_an_expired_certificate_only_when_the_time_is_known() {
        let key = rcgen::KeyPair::generate().expect("key");
        let mut params =
            rcgen::CertificateParams::new(vec!["example.com".to_string()]).expect("params");
        params.not_before = rcgen::date_time_ymd(2020, 1, 1);
        params.not_after = rcgen::date_time_ymd(2021, 1, 1);
        let crt = params.self_signed(&key).expect("cert").pem();
        let key = key.serialize_pem();
        let s = secret(&crt, &key);
        // 2021-01-01T00:00:00Z is 1609459200.
        let err = validate_secret(&s, Some(1_700_000_000)).expect_err("expired");
        assert!(err.contains("expired at 2021-01-01T00:00:00Z"), "{err}");
        assert!(
            validate_secret(&s, Some(1_600_000_000)).is_ok(),
            "still valid then"
        );
        assert!(validate_secret(&s, None).is_ok(), "no clock, no check");
    }

    #[test]
    fn rejects_other_secret_types_and_missing_keys() {
        let (crt, key) = generated();
        let mut s = secret(&crt, &key);
        s.type_ = Some("Opaque".into());
        assert!(validate_secret(&s, None).is_err());
        let mut s = secret(&crt, &key);
        s.string_data.as_mut().map(|d| d.remove("tls.key"));
        assert!(validate_secret(&s, None).is_err());
    }
}
