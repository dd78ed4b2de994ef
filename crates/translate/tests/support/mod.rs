//! Helpers shared by the translate integration tests.

#![allow(dead_code)]

use std::collections::BTreeMap;

use portico_model::core::{ObjectMeta, Secret};
use portico_model::{Object, Snapshot};

/// Substitutions the upstream conformance suite applies to its manifests.
pub const GATEWAY_CLASS_NAME: &str = "portico";
pub const GATEWAY_CONTROLLER_NAME: &str = "portico.dev/gateway-controller";

/// Replaces the upstream placeholders in manifest text.
pub fn substitute(text: &str) -> String {
    text.replace("{GATEWAY_CLASS_NAME}", GATEWAY_CLASS_NAME)
        .replace("{GATEWAY_CONTROLLER_NAME}", GATEWAY_CONTROLLER_NAME)
}

/// Loads YAML text into a snapshot; returns the load error messages too.
pub fn load(name: &str, text: &str, extra: Vec<Object>) -> (Snapshot, Vec<String>) {
    let loaded = portico_model::load_str(std::path::Path::new(name), text);
    let errors = loaded
        .errors
        .iter()
        .map(|e| format!("{}:{}: {}", e.location.line, e.location.column, e.message))
        .collect();
    let objects = loaded.documents.into_iter().map(|d| d.object).chain(extra);
    (Snapshot::from_objects(objects), errors)
}

/// A self-signed certificate and its key, both PEM.
pub struct TestCert {
    pub cert_pem: String,
    pub key_pem: String,
}

/// Generates a self-signed certificate for `names`.
pub fn cert(names: &[&str]) -> TestCert {
    let names: Vec<String> = names.iter().map(|s| (*s).to_string()).collect();
    let certified = rcgen::generate_simple_self_signed(names).expect("rcgen");
    TestCert {
        cert_pem: certified.cert.pem(),
        key_pem: certified.signing_key.serialize_pem(),
    }
}

/// A `kubernetes.io/tls` Secret holding `cert`.
pub fn tls_secret(namespace: &str, name: &str, cert: &TestCert) -> Object {
    let mut data = BTreeMap::new();
    data.insert("tls.crt".to_string(), k8s_bytes(cert.cert_pem.as_bytes()));
    data.insert("tls.key".to_string(), k8s_bytes(cert.key_pem.as_bytes()));
    Object::Secret(Box::new(Secret {
        metadata: ObjectMeta {
            name: Some(name.to_string()),
            namespace: Some(namespace.to_string()),
            ..ObjectMeta::default()
        },
        type_: Some("kubernetes.io/tls".to_string()),
        data: Some(data),
        ..Secret::default()
    }))
}

fn k8s_bytes(bytes: &[u8]) -> k8s_openapi::ByteString {
    k8s_openapi::ByteString(bytes.to_vec())
}

/// Standard base64 (with padding), for `data:` fields written into YAML.
pub fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[test]
fn base64_matches_known_vectors() {
    assert_eq!(base64(b""), "");
    assert_eq!(base64(b"f"), "Zg==");
    assert_eq!(base64(b"fo"), "Zm8=");
    assert_eq!(base64(b"foo"), "Zm9v");
    assert_eq!(base64(b"Hello world\n"), "SGVsbG8gd29ybGQK");
}

/// `PORTICO_SHARED_DIR` (as the conformance crate uses it), else
/// `../shared` next to the repository, joined with the conformance dir.
pub fn conformance_dir() -> std::path::PathBuf {
    std::env::var_os("PORTICO_SHARED_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared"))
        .join("gateway-api/conformance")
}

/// The GatewayClass, TLS Secrets and CA ConfigMaps the upstream suite
/// creates at start (plus a CA that signed nothing, for mismatch checks),
/// generated once per test binary.
pub fn suite_objects() -> Vec<Object> {
    static OBJECTS: std::sync::OnceLock<Vec<Object>> = std::sync::OnceLock::new();
    OBJECTS.get_or_init(make_suite_objects).clone()
}

fn make_suite_objects() -> Vec<Object> {
    use portico_model::core::ConfigMap;
    use portico_model::gateway::{GatewayClass, GatewayClassSpec};
    const INFRA: &str = "gateway-conformance-infra";
    const WEB: &str = "gateway-conformance-web-backend";
    let wildcard = cert(&["*", "*.org", "*.wildcard.org"]);
    let checks = cert(&["abc.example.com", "other.example.com"]);
    let passthrough = cert(&["abc.example.com"]);
    let terminate = cert(&["tls.example.com"]);
    let unrelated = cert(&["unrelated.example"]);
    let class = GatewayClass {
        metadata: ObjectMeta {
            name: Some(GATEWAY_CLASS_NAME.to_string()),
            generation: Some(1),
            ..ObjectMeta::default()
        },
        spec: GatewayClassSpec {
            controller_name: GATEWAY_CONTROLLER_NAME.to_string(),
            ..GatewayClassSpec::default()
        },
        status: None,
    };
    let config_map = |name: &str, pem: &str| {
        Object::ConfigMap(Box::new(ConfigMap {
            metadata: ObjectMeta {
                name: Some(name.to_string()),
                namespace: Some(INFRA.to_string()),
                ..ObjectMeta::default()
            },
            data: Some([("ca.crt".to_string(), pem.to_string())].into()),
            ..ConfigMap::default()
        }))
    };
    vec![
        Object::GatewayClass(Box::new(class)),
        tls_secret(INFRA, "tls-validity-checks-certificate", &wildcard),
        tls_secret(INFRA, "tls-checks-certificate", &checks),
        tls_secret(INFRA, "tls-passthrough-checks-certificate", &passthrough),
        tls_secret(INFRA, "tls-terminate-checks-certificate", &terminate),
        tls_secret(WEB, "certificate", &wildcard),
        config_map("tls-validity-checks-ca-certificate", &checks.cert_pem),
        config_map(
            "tls-validity-checks-per-port-ca-certificate",
            &checks.cert_pem,
        ),
        config_map("tls-checks-ca-certificate", &checks.cert_pem),
        config_map("mismatch-ca-certificate", &unrelated.cert_pem),
    ]
}
