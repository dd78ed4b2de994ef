//! Redaction of secrets in JSON dumps of the IR.
//!
//! `CertifiedKeyPem`'s `Debug` hides the private key, but its serde form does
//! not: every dump that leaves the process goes through [`redact_secrets`].

use serde_json::Value;

/// Field names whose values are private key material.
const SECRET_FIELDS: &[&str] = &["key_pem", "keyPem", "private_key", "tls.key"];

/// Replacement for redacted values.
pub const REDACTED: &str = "<redacted>";

/// Replaces the value of every secret field, at any depth, with [`REDACTED`].
pub fn redact_secrets(value: &mut Value) {
    match value {
        Value::Object(map) => {
            for (key, v) in map.iter_mut() {
                if SECRET_FIELDS.contains(&key.as_str()) && !v.is_null() {
                    *v = Value::String(REDACTED.to_string());
                } else {
                    redact_secrets(v);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(redact_secrets),
        _ => {}
    }
}

/// The IR as JSON with private keys redacted.
pub fn config_dump(ir: &portico_ir::Ir) -> Value {
    match serde_json::to_value(ir) {
        Ok(mut v) => {
            redact_secrets(&mut v);
            v
        }
        Err(e) => serde_json::json!({ "error": e.to_string() }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use portico_ir::{
        Bind, BindProtocol, CertifiedKeyPem, HostMatch, Ir, Listener, ListenerTls, ObjectRef,
        TlsMode,
    };

    const KEY: &str = "-----BEGIN PRIVATE KEY-----\nMIIsecret\n-----END PRIVATE KEY-----\n";

    fn ir_with_key() -> Ir {
        let gateway = ObjectRef {
            kind: "Gateway".into(),
            namespace: "default".into(),
            name: "gw".into(),
        };
        Ir {
            binds: vec![Bind {
                gateway: gateway.clone(),
                address: "127.10.0.1:443".parse().unwrap(),
                protocol: BindProtocol::Https,
                proxy_protocol: false,
                listeners: vec![Listener {
                    id: "default/gw/https".into(),
                    owner: gateway,
                    name: "https".into(),
                    hostname: HostMatch::Any,
                    protocol: BindProtocol::Https,
                    tls: Some(ListenerTls {
                        mode: TlsMode::Terminate,
                        certificates: vec![CertifiedKeyPem {
                            source: "default/cert".into(),
                            cert_chain_pem: "-----BEGIN CERTIFICATE-----\nMII\n".into(),
                            key_pem: KEY.into(),
                        }],
                        client_validation: None,
                    }),
                    http: vec![],
                    tls_routes: vec![],
                    l4_route: None,
                }],
            }],
            ..Ir::default()
        }
    }

    #[test]
    fn config_dump_hides_private_keys_and_keeps_the_rest() {
        let dump = config_dump(&ir_with_key());
        let text = dump.to_string();
        assert!(!text.contains("MIIsecret"), "{text}");
        assert!(text.contains(REDACTED));
        assert!(text.contains("BEGIN CERTIFICATE"));
        assert!(text.contains("default/gw/https"));
    }

    #[test]
    fn nested_arrays_are_walked() {
        let mut v = serde_json::json!({"a": [{"b": {"key_pem": "x"}}], "key_pem": null});
        redact_secrets(&mut v);
        assert_eq!(v["a"][0]["b"]["key_pem"], REDACTED);
        assert!(v["key_pem"].is_null());
    }
}
