//! The PROXY protocol annotation, `portico.dev/proxy-protocol`:
//!
//! - on a Gateway, `"true"` makes every TCP-based bind of that Gateway read
//!   a PROXY protocol (v1 or v2) header before anything else (`"false"` or
//!   no annotation: off). UDP binds never do.
//! - on a Service, `"v1"` or `"v2"` makes the proxy write that header
//!   first on every upstream connection to it (TCP-based routes only).
//!
//! Any other value is an error the caller reports, never silently ignored.

use std::collections::BTreeMap;

use portico_ir::ProxyProtocolVersion;

/// The annotation name, the same on Gateways and Services.
pub const ANNOTATION: &str = "portico.dev/proxy-protocol";

fn value(annotations: Option<&BTreeMap<String, String>>) -> Option<&str> {
    annotations
        .and_then(|a| a.get(ANNOTATION))
        .map(String::as_str)
}

/// A Gateway's setting: whether its binds accept the PROXY protocol.
pub fn gateway_accepts(annotations: Option<&BTreeMap<String, String>>) -> Result<bool, String> {
    match value(annotations).map(str::trim) {
        None | Some("false") => Ok(false),
        Some("true") => Ok(true),
        Some(other) => Err(format!(
            "annotation {ANNOTATION} has value {other:?}; allowed values are \"true\" and \"false\""
        )),
    }
}

/// A Service's setting: the PROXY protocol version to send, if any.
pub fn service_sends(
    annotations: Option<&BTreeMap<String, String>>,
) -> Result<Option<ProxyProtocolVersion>, String> {
    match value(annotations).map(str::trim) {
        None => Ok(None),
        Some("v1") => Ok(Some(ProxyProtocolVersion::V1)),
        Some("v2") => Ok(Some(ProxyProtocolVersion::V2)),
        Some(other) => Err(format!(
            "annotation {ANNOTATION} has value {other:?}; allowed values are \"v1\" and \"v2\""
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(v: &str) -> BTreeMap<String, String> {
        BTreeMap::from([(ANNOTATION.to_string(), v.to_string())])
    }

    #[test]
    fn gateway_values() {
        assert_eq!(gateway_accepts(None), Ok(false));
        assert_eq!(gateway_accepts(Some(&BTreeMap::new())), Ok(false));
        assert_eq!(gateway_accepts(Some(&with("true"))), Ok(true));
        assert_eq!(gateway_accepts(Some(&with("false"))), Ok(false));
        let err = gateway_accepts(Some(&with("yes"))).unwrap_err();
        assert!(
            err.contains(ANNOTATION) && err.contains("\"true\""),
            "{err}"
        );
    }

    #[test]
    fn service_values() {
        assert_eq!(service_sends(None), Ok(None));
        assert_eq!(
            service_sends(Some(&with("v1"))),
            Ok(Some(ProxyProtocolVersion::V1))
        );
        assert_eq!(
            service_sends(Some(&with(" v2 "))),
            Ok(Some(ProxyProtocolVersion::V2))
        );
        let err = service_sends(Some(&with("v3"))).unwrap_err();
        assert!(err.contains(ANNOTATION) && err.contains("\"v1\""), "{err}");
    }
}
