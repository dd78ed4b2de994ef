//! Echo backends for the Deployments in the manifests, and the
//! EndpointSlices a cluster would create for the Services that select them.
//!
//! Each replica is a "pod" with its own loopback address `127.20.D.R` (D the
//! Deployment's index, R the replica), listening on its container ports, so
//! EndpointSlices look exactly like a cluster's: one address per pod, the
//! container port as the endpoint port.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use portico_echo::{
    CancellationToken, EchoConfig, EchoLog, EchoMode, EchoRecord, ServerHandle, TlsSettings,
    UpstreamEcho,
};
use serde_json::Value;
use tokio::sync::broadcast;

use crate::error::{Context, Failure};
use crate::manifests::{kind, name, namespace};

/// One running replica.
#[derive(Debug)]
pub struct Pod {
    pub namespace: String,
    pub name: String,
    pub ip: IpAddr,
    pub labels: BTreeMap<String, String>,
    /// Container port name → number.
    pub named_ports: BTreeMap<String, u16>,
    pub servers: Vec<ServerHandle>,
}

/// Every backend of one test environment.
pub struct Backends {
    pub pods: Vec<Pod>,
    log: EchoLog,
    shutdown: CancellationToken,
}

impl Backends {
    /// Starts the echo servers for every Deployment in `docs`. `secrets` maps
    /// `namespace/name` of a Secret to its decoded data, for TLS backends.
    pub async fn start(
        docs: &[Value],
        secrets: &BTreeMap<String, BTreeMap<String, String>>,
    ) -> Result<Backends, Failure> {
        let log = EchoLog::silent();
        let shutdown = CancellationToken::new();
        let mut pods = Vec::new();
        let deployments = docs.iter().filter(|d| kind(d) == "Deployment");
        for (index, deployment) in deployments.enumerate() {
            let d = u8::try_from(index + 1).map_err(|_| Failure::new("too many Deployments"))?;
            let replicas = deployment
                .pointer("/spec/replicas")
                .and_then(Value::as_u64)
                .unwrap_or(1)
                .min(250) as u8;
            let container = deployment
                .pointer("/spec/template/spec/containers/0")
                .cloned()
                .unwrap_or(Value::Null);
            if !is_echo(&container) {
                continue;
            }
            let env = literal_env(&container);
            let labels = string_map(deployment.pointer("/spec/template/metadata/labels"));
            let named_ports = container_ports(&container);
            for r in 0..replicas {
                let plan = UpstreamEcho::from_env(
                    env.clone(),
                    namespace(deployment),
                    name(deployment),
                    u16::from(r),
                );
                let ip = IpAddr::V4(Ipv4Addr::new(127, 20, d, r + 1));
                let tls = match &plan.tls {
                    Some(files) => Some(tls_settings(deployment, files, secrets)?),
                    None => None,
                };
                let mut servers = Vec::new();
                for server in &plan.servers {
                    let addr = SocketAddr::new(ip, server.container_port);
                    let config = EchoConfig::new(plan.identity.clone()).with_log(log.clone());
                    let token = shutdown.clone();
                    let handle = match server.mode {
                        EchoMode::Udp => {
                            let socket = tokio::net::UdpSocket::bind(addr)
                                .await
                                .context(&format!("binding UDP {addr}"))?;
                            portico_echo::serve_udp(socket, config, token).await
                        }
                        mode => {
                            let listener = tokio::net::TcpListener::bind(addr)
                                .await
                                .context(&format!("binding {addr}"))?;
                            match (mode, tls.clone()) {
                                (EchoMode::Http, _) => {
                                    portico_echo::serve_http(listener, config, token).await
                                }
                                (EchoMode::H2c, _) => {
                                    portico_echo::serve_h2c(listener, config, token).await
                                }
                                (EchoMode::Grpc, _) => {
                                    portico_echo::serve_grpc(listener, config, token).await
                                }
                                (EchoMode::Tcp, _) => {
                                    portico_echo::serve_tcp(listener, config, token).await
                                }
                                (EchoMode::Https, Some(t)) => {
                                    portico_echo::serve_https(listener, config, t, token).await
                                }
                                (EchoMode::GrpcTls, Some(t)) => {
                                    portico_echo::serve_grpc_tls(listener, config, t, token).await
                                }
                                (EchoMode::TcpTls, Some(t)) => {
                                    portico_echo::serve_tcp_tls(listener, config, t, token).await
                                }
                                (other, None) => {
                                    return Err(Failure(format!(
                                        "{other:?} server of {} without TLS material",
                                        name(deployment)
                                    )));
                                }
                                (EchoMode::Udp, _) => {
                                    return Err(Failure::new("UDP needs a socket, not a listener"));
                                }
                            }
                        }
                    }
                    .context(&format!("starting echo {:?} on {addr}", server.mode))?;
                    servers.push(handle);
                }
                pods.push(Pod {
                    namespace: namespace(deployment).to_string(),
                    name: plan.identity.pod.clone(),
                    ip,
                    labels: labels.clone(),
                    named_ports: named_ports.clone(),
                    servers,
                });
            }
        }
        Ok(Backends {
            pods,
            log,
            shutdown,
        })
    }

    /// Every request any backend echoes from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<EchoRecord> {
        self.log.subscribe()
    }

    /// EndpointSlice documents for every Service in `docs` whose selector
    /// matches running pods.
    pub fn endpoint_slices(&self, docs: &[Value]) -> String {
        let mut out = String::new();
        for svc in docs.iter().filter(|d| kind(d) == "Service") {
            let selector = string_map(svc.pointer("/spec/selector"));
            if selector.is_empty() {
                continue;
            }
            let ns = namespace(svc);
            let pods: Vec<&Pod> = self
                .pods
                .iter()
                .filter(|p| {
                    p.namespace == ns && selector.iter().all(|(k, v)| p.labels.get(k) == Some(v))
                })
                .collect();
            if pods.is_empty() {
                continue;
            }
            let ports = svc
                .pointer("/spec/ports")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            let mut slice_ports = Vec::new();
            for port in &ports {
                let port_name = port.get("name").and_then(Value::as_str).unwrap_or("");
                let protocol = port
                    .get("protocol")
                    .and_then(Value::as_str)
                    .unwrap_or("TCP");
                let target = match port.get("targetPort") {
                    Some(Value::Number(n)) => n.as_u64().and_then(|n| u16::try_from(n).ok()),
                    Some(Value::String(s)) => pods[0]
                        .named_ports
                        .get(s)
                        .copied()
                        .or_else(|| s.parse().ok()),
                    _ => port
                        .get("port")
                        .and_then(Value::as_u64)
                        .and_then(|n| u16::try_from(n).ok()),
                };
                if let Some(target) = target {
                    let mut p = serde_json::json!({"port": target, "protocol": protocol});
                    if !port_name.is_empty() {
                        p["name"] = Value::String(port_name.to_string());
                    }
                    if let Some(ap) = port.get("appProtocol") {
                        p["appProtocol"] = ap.clone();
                    }
                    slice_ports.push(p);
                }
            }
            let endpoints: Vec<Value> = pods
                .iter()
                .map(|p| {
                    serde_json::json!({
                        "addresses": [p.ip.to_string()],
                        "conditions": {"ready": true, "serving": true, "terminating": false},
                        "targetRef": {"kind": "Pod", "name": p.name, "namespace": p.namespace},
                    })
                })
                .collect();
            let slice = serde_json::json!({
                "apiVersion": "discovery.k8s.io/v1",
                "kind": "EndpointSlice",
                "metadata": {
                    "name": format!("{}-conformance", name(svc)),
                    "namespace": ns,
                    "labels": {"kubernetes.io/service-name": name(svc)},
                },
                "addressType": "IPv4",
                "ports": slice_ports,
                "endpoints": endpoints,
            });
            out.push_str("---\n");
            out.push_str(&slice.to_string());
            out.push('\n');
        }
        out
    }

    /// Stops every server.
    pub async fn shutdown(self) {
        self.shutdown.cancel();
        for pod in self.pods {
            for server in pod.servers {
                server.shutdown().await;
            }
        }
    }
}

/// Only echo-basic containers become backends (coredns and friends do not).
fn is_echo(container: &Value) -> bool {
    container
        .get("image")
        .and_then(Value::as_str)
        .is_some_and(|i| i.contains("echo-basic") || i.contains("echoserver"))
}

fn literal_env(container: &Value) -> Vec<(String, String)> {
    container
        .get("env")
        .and_then(Value::as_array)
        .map(|env| {
            env.iter()
                .filter_map(|e| {
                    let name = e.get("name")?.as_str()?;
                    let value = e.get("value")?.as_str()?;
                    Some((name.to_string(), value.to_string()))
                })
                .collect()
        })
        .unwrap_or_default()
}

fn container_ports(container: &Value) -> BTreeMap<String, u16> {
    container
        .get("ports")
        .and_then(Value::as_array)
        .map(|ports| {
            ports
                .iter()
                .filter_map(|p| {
                    let name = p.get("name")?.as_str()?;
                    let port = u16::try_from(p.get("containerPort")?.as_u64()?).ok()?;
                    Some((name.to_string(), port))
                })
                .collect()
        })
        .unwrap_or_default()
}

fn string_map(value: Option<&Value>) -> BTreeMap<String, String> {
    value
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
                .collect()
        })
        .unwrap_or_default()
}

/// Maps the container's TLS file paths to the generated Secret mounted there.
fn tls_settings(
    deployment: &Value,
    files: &portico_echo::UpstreamTlsFiles,
    secrets: &BTreeMap<String, BTreeMap<String, String>>,
) -> Result<TlsSettings, Failure> {
    let read = |path: &std::path::Path| -> Result<String, Failure> {
        let path = path.to_string_lossy();
        let mounts = deployment
            .pointer("/spec/template/spec/containers/0/volumeMounts")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let volumes = deployment
            .pointer("/spec/template/spec/volumes")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        for mount in &mounts {
            let (Some(mount_path), Some(vol_name)) = (
                mount.get("mountPath").and_then(Value::as_str),
                mount.get("name").and_then(Value::as_str),
            ) else {
                continue;
            };
            let Some(file) = path.strip_prefix(mount_path.trim_end_matches('/')) else {
                continue;
            };
            let file = file.trim_start_matches('/');
            let volume = volumes
                .iter()
                .find(|v| v.get("name").and_then(Value::as_str) == Some(vol_name));
            // A Secret volume, or a ConfigMap volume (the generated CA
            // ConfigMaps are kept in the same map).
            let (source, secret) = match volume {
                Some(v) => match (
                    v.pointer("/secret/secretName").and_then(Value::as_str),
                    v.pointer("/configMap/name").and_then(Value::as_str),
                ) {
                    (Some(s), _) => ("secret", Some(s)),
                    (None, Some(c)) => ("configMap", Some(c)),
                    (None, None) => ("secret", None),
                },
                None => ("secret", None),
            };
            if let Some(secret) = secret {
                let key = format!("{}/{secret}", namespace(deployment));
                // `items` maps keys to file names inside the mount.
                let data_key = volume
                    .and_then(|v| v.pointer(&format!("/{source}/items")))
                    .and_then(Value::as_array)
                    .and_then(|items| {
                        items.iter().find_map(|i| {
                            (i.get("path").and_then(Value::as_str) == Some(file))
                                .then(|| i.get("key").and_then(Value::as_str))
                                .flatten()
                        })
                    })
                    .unwrap_or(file);
                if let Some(value) = secrets.get(&key).and_then(|data| data.get(data_key)) {
                    return Ok(value.clone());
                }
                return Err(Failure(format!(
                    "{}: TLS file {path} comes from {source} {key}, which the runner does not generate",
                    name(deployment)
                )));
            }
        }
        Err(Failure(format!(
            "{}: no Secret or ConfigMap volume provides {path}",
            name(deployment)
        )))
    };
    let mut settings = TlsSettings::new(read(&files.cert)?, read(&files.key)?);
    if let Some(ca) = &files.client_ca {
        settings = settings.with_client_ca(read(ca)?);
    }
    Ok(settings)
}
