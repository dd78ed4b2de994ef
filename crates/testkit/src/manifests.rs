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

/// One port of a Service.
#[derive(Clone, Debug)]
pub struct PortSpec {
    /// Port name (empty for a single unnamed port).
    pub name: String,
    /// The Service port.
    pub port: u16,
    /// `TCP` or `UDP`.
    pub protocol: String,
    /// `appProtocol`, e.g. `kubernetes.io/h2c`.
    pub app_protocol: Option<String>,
}

impl PortSpec {
    /// A TCP port.
    pub fn tcp(name: impl Into<String>, port: u16) -> Self {
        Self {
            name: name.into(),
            port,
            protocol: "TCP".into(),
            app_protocol: None,
        }
    }

    /// Sets `appProtocol`.
    #[must_use]
    pub fn app_protocol(mut self, app: impl Into<String>) -> Self {
        self.app_protocol = Some(app.into());
        self
    }
}

/// One replica behind a multi-port Service: its IP, pod name, and the port
/// it serves for each Service port name.
#[derive(Clone, Debug)]
pub struct ReplicaSpec {
    /// Replica address.
    pub ip: std::net::IpAddr,
    /// Pod name (`targetRef`).
    pub pod: String,
    /// Service port name → the port this replica listens on.
    pub ports: Vec<(String, u16)>,
    /// The `ready` condition.
    pub ready: bool,
}

/// A Service with several (named) ports and one EndpointSlice per replica,
/// each slice mapping every port name to that replica's own port. This is
/// how a conformance Service like `infra-backend-v1` (`first-port` → HTTP,
/// `second-port` → h2c) maps onto echo backends bound to port 0.
pub fn service_with_ports(
    namespace: &str,
    name: &str,
    ports: &[PortSpec],
    replicas: &[ReplicaSpec],
) -> String {
    let mut out = String::new();
    let _ = write!(
        out,
        "apiVersion: v1\nkind: Service\nmetadata:\n  name: {}\n  namespace: {}\nspec:\n  ports:\n",
        q(name),
        q(namespace),
    );
    for p in ports {
        let _ = write!(
            out,
            "  - name: {}\n    port: {}\n    protocol: {}\n",
            q(&p.name),
            p.port,
            q(&p.protocol)
        );
        if let Some(app) = &p.app_protocol {
            let _ = writeln!(out, "    appProtocol: {}", q(app));
        }
    }
    for (i, r) in replicas.iter().enumerate() {
        let family = if r.ip.is_ipv4() { "IPv4" } else { "IPv6" };
        let _ = write!(
            out,
            "---\napiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata:\n  name: {}\n  namespace: {}\n  labels:\n    kubernetes.io/service-name: {}\naddressType: {family}\nports:\n",
            q(&format!("{name}-{i}")),
            q(namespace),
            q(name),
        );
        for (port_name, port) in &r.ports {
            let protocol = ports
                .iter()
                .find(|p| &p.name == port_name)
                .map_or("TCP", |p| p.protocol.as_str());
            let _ = write!(
                out,
                "- name: {}\n  port: {port}\n  protocol: {}\n",
                q(port_name),
                q(protocol)
            );
        }
        let _ = write!(
            out,
            "endpoints:\n- addresses:\n  - {}\n  conditions:\n    ready: {}\n  targetRef:\n    kind: Pod\n    name: {}\n    namespace: {}\n",
            q(&r.ip.to_string()),
            r.ready,
            q(&r.pod),
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
