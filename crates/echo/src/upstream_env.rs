//! What an upstream `echo-basic` container would run, from its environment
//! (`GRPC_ECHO_SERVER`, `TCP_ECHO_SERVER`, `UDP_ECHO_SERVER`, `HTTP_PORT`,
//! `H2C_PORT`, `HTTPS_PORT`, `TCP_PORT`, `TLS_PORT`, `UDP_PORT`,
//! `TLS_SERVER_CERT`, `TLS_SERVER_PRIVKEY` / `TLS_SERVER_PRIV_KEY`,
//! `TLS_CLIENT_CACERTS`, `POD_NAME`, `NAMESPACE`, `SERVICE_NAME`,
//! `INGRESS_NAME`). Lets the conformance runner and `portico echo` start the
//! same servers the upstream manifests describe, on ports of their choosing.

use std::collections::HashMap;
use std::path::PathBuf;

use crate::Identity;

/// One echo server mode.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EchoMode {
    /// [`crate::serve_http`]
    Http,
    /// [`crate::serve_h2c`]
    H2c,
    /// [`crate::serve_https`]
    Https,
    /// [`crate::serve_grpc`]
    Grpc,
    /// [`crate::serve_grpc_tls`]
    GrpcTls,
    /// [`crate::serve_tcp`]
    Tcp,
    /// [`crate::serve_tcp_tls`]
    TcpTls,
    /// [`crate::serve_udp`]
    Udp,
}

/// A server the container would run, and the container port it would use.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UpstreamServer {
    /// What it serves.
    pub mode: EchoMode,
    /// The container port (what a Service `targetPort` refers to).
    pub container_port: u16,
}

/// TLS material named by the environment (paths inside the container; the
/// caller maps them to files it has, e.g. from the mounted Secret).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UpstreamTlsFiles {
    /// `TLS_SERVER_CERT`
    pub cert: PathBuf,
    /// `TLS_SERVER_PRIVKEY` (HTTP, gRPC) or `TLS_SERVER_PRIV_KEY` (TCP)
    pub key: PathBuf,
    /// `TLS_CLIENT_CACERTS` (HTTP only)
    pub client_ca: Option<PathBuf>,
}

/// The plan for one echo container.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UpstreamEcho {
    /// Identity to report.
    pub identity: Identity,
    /// Servers to start.
    pub servers: Vec<UpstreamServer>,
    /// TLS files, when a TLS server is planned.
    pub tls: Option<UpstreamTlsFiles>,
}

impl UpstreamEcho {
    /// The plan for replica `replica` of Deployment `deployment` in
    /// `namespace` with the literal environment `vars`. `POD_NAME` and
    /// `NAMESPACE`, which manifests fill from the downward API, default to a
    /// Kubernetes-looking pod name derived from the Deployment and replica
    /// (see [`Identity::default_pod_name`]) and to `namespace`.
    pub fn from_env<I, K, V>(vars: I, namespace: &str, deployment: &str, replica: u16) -> Self
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<String>,
    {
        let env: HashMap<String, String> = vars
            .into_iter()
            .map(|(k, v)| (k.into(), v.into()))
            .collect();
        let get = |k: &str| env.get(k).filter(|v| !v.is_empty()).cloned();
        let port = |k: &str, default: u16| get(k).and_then(|v| v.parse().ok()).unwrap_or(default);
        let identity = Identity {
            namespace: get("NAMESPACE").unwrap_or_else(|| namespace.to_owned()),
            ingress: get("INGRESS_NAME").unwrap_or_default(),
            service: get("SERVICE_NAME").unwrap_or_default(),
            pod: get("POD_NAME").unwrap_or_else(|| Identity::default_pod_name(deployment, replica)),
        };
        let server = |mode, container_port| UpstreamServer {
            mode,
            container_port,
        };
        let mut servers = Vec::new();
        let mut tls = None;
        if get("GRPC_ECHO_SERVER").is_some() {
            servers.push(server(EchoMode::Grpc, port("HTTP_PORT", 3000)));
            if let (Some(cert), Some(key)) = (get("TLS_SERVER_CERT"), get("TLS_SERVER_PRIVKEY")) {
                servers.push(server(EchoMode::GrpcTls, port("HTTPS_PORT", 8443)));
                tls = Some(UpstreamTlsFiles {
                    cert: cert.into(),
                    key: key.into(),
                    client_ca: None,
                });
            }
        } else if get("TCP_ECHO_SERVER").is_some() {
            servers.push(server(EchoMode::Tcp, port("TCP_PORT", 3000)));
            if let (Some(cert), Some(key)) = (get("TLS_SERVER_CERT"), get("TLS_SERVER_PRIV_KEY")) {
                servers.push(server(EchoMode::TcpTls, port("TLS_PORT", 8443)));
                tls = Some(UpstreamTlsFiles {
                    cert: cert.into(),
                    key: key.into(),
                    client_ca: None,
                });
            }
        } else if get("UDP_ECHO_SERVER").is_some() {
            servers.push(server(EchoMode::Udp, port("UDP_PORT", 8080)));
        } else {
            servers.push(server(EchoMode::Http, port("HTTP_PORT", 3000)));
            servers.push(server(EchoMode::H2c, port("H2C_PORT", 3001)));
            if let (Some(cert), Some(key)) = (get("TLS_SERVER_CERT"), get("TLS_SERVER_PRIVKEY")) {
                servers.push(server(EchoMode::Https, port("HTTPS_PORT", 8443)));
                tls = Some(UpstreamTlsFiles {
                    cert: cert.into(),
                    key: key.into(),
                    client_ca: get("TLS_CLIENT_CACERTS").map(PathBuf::from),
                });
            }
        }
        Self {
            identity,
            servers,
            tls,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn modes(p: &UpstreamEcho) -> Vec<(EchoMode, u16)> {
        p.servers
            .iter()
            .map(|s| (s.mode, s.container_port))
            .collect()
    }

    #[test]
    fn default_is_http_and_h2c_with_a_derived_pod() {
        let p = UpstreamEcho::from_env(
            Vec::<(String, String)>::new(),
            "gateway-conformance-infra",
            "infra-backend-v1",
            0,
        );
        assert_eq!(modes(&p), [(EchoMode::Http, 3000), (EchoMode::H2c, 3001)]);
        assert_eq!(p.identity.namespace, "gateway-conformance-infra");
        assert!(p.identity.pod.starts_with("infra-backend-v1-"));
        let other =
            UpstreamEcho::from_env(Vec::<(String, String)>::new(), "ns", "infra-backend-v1", 1);
        assert_ne!(p.identity.pod, other.identity.pod, "replicas differ");
        assert!(p.tls.is_none());
    }

    #[test]
    fn tls_backend_adds_https() {
        let p = UpstreamEcho::from_env(
            [
                ("TLS_SERVER_CERT", "/etc/secret-volume/crt"),
                ("TLS_SERVER_PRIVKEY", "/etc/secret-volume/key"),
                ("SERVICE_NAME", "tls-backend"),
            ],
            "ns",
            "tls-backend",
            0,
        );
        assert_eq!(
            modes(&p),
            [
                (EchoMode::Http, 3000),
                (EchoMode::H2c, 3001),
                (EchoMode::Https, 8443)
            ]
        );
        let tls = p.tls.expect("tls");
        assert_eq!(tls.cert, PathBuf::from("/etc/secret-volume/crt"));
        assert_eq!(p.identity.service, "tls-backend");
    }

    #[test]
    fn l4_and_grpc_modes() {
        let tcp = UpstreamEcho::from_env([("TCP_ECHO_SERVER", "1")], "ns", "tcp", 0);
        assert_eq!(modes(&tcp), [(EchoMode::Tcp, 3000)]);
        let tcp_tls = UpstreamEcho::from_env(
            [
                ("TCP_ECHO_SERVER", "1"),
                ("TLS_SERVER_CERT", "c"),
                ("TLS_SERVER_PRIV_KEY", "k"),
                ("TLS_PORT", "9443"),
            ],
            "ns",
            "tcp",
            0,
        );
        assert_eq!(
            modes(&tcp_tls),
            [(EchoMode::Tcp, 3000), (EchoMode::TcpTls, 9443)]
        );
        let udp = UpstreamEcho::from_env(
            [("UDP_ECHO_SERVER", "true"), ("UDP_PORT", "9000")],
            "ns",
            "u",
            0,
        );
        assert_eq!(modes(&udp), [(EchoMode::Udp, 9000)]);
        let grpc = UpstreamEcho::from_env(
            [
                ("GRPC_ECHO_SERVER", "1"),
                ("POD_NAME", "given"),
                ("NAMESPACE", "other"),
            ],
            "ns",
            "grpc",
            0,
        );
        assert_eq!(modes(&grpc), [(EchoMode::Grpc, 3000)]);
        assert_eq!(grpc.identity.pod, "given");
        assert_eq!(grpc.identity.namespace, "other");
    }
}
