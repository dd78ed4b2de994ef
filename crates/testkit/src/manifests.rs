//! YAML for the standalone source: a Service with one EndpointSlice per echo
//! backend (each backend listens on its own port, so each gets a slice whose
//! unnamed port carries it), plus TLS Secrets and CA ConfigMaps from
//! [`crate::tls`]. Strings are JSON-quoted, which is valid YAML.

use std::fmt::Write as _;
use std::net::SocketAddr;

use crate::tls::CertifiedPem;

/// One endpoint of a Service: an address and the pod name it reports.
#[derive(Clone, Debug)]
pub struct EndpointSpec {
    /// Where the backend listens.
    pub addr: SocketAddr,
    /// Pod name for `targetRef` (the echo identity's pod).
    pub pod: String,
    /// The `ready` condition.
    pub ready: bool,
}

impl From<&crate::EchoBackend> for EndpointSpec {
    fn from(b: &crate::EchoBackend) -> Self {
        Self {
            addr: b.addr(),
            pod: b.identity().pod.clone(),
            ready: true,
        }
    }
}

fn q(s: &str) -> String {
    // A JSON string literal is a valid YAML double-quoted scalar.
    serde_json::to_string(s).unwrap_or_else(|_| String::from("\"\""))
}

/// A Service `name` in `namespace` with one unnamed port `port` (protocol
/// `TCP` or `UDP`, optional `appProtocol`), followed by one EndpointSlice per
/// endpoint. Documents are separated by `---`.
pub fn service(
    namespace: &str,
    name: &str,
    port: u16,
    protocol: &str,
    app_protocol: Option<&str>,
    endpoints: &[EndpointSpec],
) -> String {
    let mut out = String::new();
    let _ = write!(
        out,
        "apiVersion: v1\nkind: Service\nmetadata:\n  name: {}\n  namespace: {}\nspec:\n  ports:\n  - port: {port}\n    protocol: {}\n",
        q(name),
        q(namespace),
        q(protocol),
    );
    if let Some(app) = app_protocol {
        let _ = writeln!(out, "    appProtocol: {}", q(app));
    }
    for (i, ep) in endpoints.iter().enumerate() {
        let family = if ep.addr.is_ipv4() { "IPv4" } else { "IPv6" };
        let _ = write!(
            out,
            "---\napiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata:\n  name: {}\n  namespace: {}\n  labels:\n    kubernetes.io/service-name: {}\naddressType: {family}\nports:\n- port: {}\n  protocol: {}\nendpoints:\n- addresses:\n  - {}\n  conditions:\n    ready: {}\n  targetRef:\n    kind: Pod\n    name: {}\n    namespace: {}\n",
            q(&format!("{name}-{i}")),
            q(namespace),
            q(name),
            ep.addr.port(),
            q(protocol),
            q(&ep.addr.ip().to_string()),
            ep.ready,
            q(&ep.pod),
            q(namespace),
        );
    }
    out
}

/// A `kubernetes.io/tls` Secret holding `cert` (chain in `tls.crt`).
pub fn tls_secret(namespace: &str, name: &str, cert: &CertifiedPem) -> String {
    format!(
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: {}\n  namespace: {}\ntype: kubernetes.io/tls\nstringData:\n  tls.crt: {}\n  tls.key: {}\n",
        q(name),
        q(namespace),
        q(&cert.chain_pem),
        q(&cert.key_pem),
    )
}

/// A ConfigMap with `ca.crt` (what BackendTLSPolicy and frontend validation
/// reference).
pub fn ca_config_map(namespace: &str, name: &str, ca_pem: &str) -> String {
    format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {}\n  namespace: {}\ndata:\n  ca.crt: {}\n",
        q(name),
        q(namespace),
        q(ca_pem),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_is_yaml_safe() {
        assert_eq!(q("a\nb\"c"), "\"a\\nb\\\"c\"");
        assert_eq!(q("it's"), "\"it's\"");
        assert_eq!(q("\u{1b}"), "\"\\u001b\"");
    }
}
