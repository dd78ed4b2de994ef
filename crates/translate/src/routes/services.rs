//! Service frontends for the eBPF service load balancer (kube-proxy
//! replacement): ClusterIPs, NodePorts, LoadBalancer ingress IPs and
//! externalIPs, each with the ready endpoints of its port, their weights and
//! the terminating endpoints (kept for established connections only).

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use portico_ir::{FrontendKind, L4Protocol, ObjectRef, ServiceFrontend};
use portico_model::Snapshot;
use portico_model::core::{EndpointSlice, Service};

use super::backends::lb_algorithm;
use super::endpoints::{self, PortKey};
use super::index::Index;
use crate::Options;

/// Default `sessionAffinityConfig.clientIP.timeoutSeconds` (3 hours).
const DEFAULT_AFFINITY_SECS: u32 = 10_800;

/// Every frontend of every Service, sorted by Service, kind, address, port.
pub fn service_frontends(snapshot: &Snapshot) -> Vec<ServiceFrontend> {
    let index = Index::new(snapshot, &Options::default());
    let mut out = Vec::new();
    for service in &snapshot.services {
        frontends_of(&index, service, &mut out);
    }
    out.sort_by(|a, b| {
        (&a.service, kind_rank(a.kind), a.address, a.port, a.protocol).cmp(&(
            &b.service,
            kind_rank(b.kind),
            b.address,
            b.port,
            b.protocol,
        ))
    });
    out
}

fn kind_rank(kind: FrontendKind) -> u8 {
    match kind {
        FrontendKind::ClusterIp => 0,
        FrontendKind::NodePort => 1,
        FrontendKind::LoadBalancer => 2,
        FrontendKind::ExternalIp => 3,
    }
}

fn frontends_of(index: &Index<'_>, service: &Service, out: &mut Vec<ServiceFrontend>) {
    let Some(spec) = service.spec.as_ref() else {
        return;
    };
    let type_ = spec.type_.as_deref().unwrap_or("ClusterIP");
    if type_ == "ExternalName" {
        return;
    }
    let namespace = service.metadata.namespace.as_deref().unwrap_or("default");
    let Some(name) = service.metadata.name.as_deref() else {
        return;
    };
    let object = ObjectRef {
        kind: "Service".to_string(),
        namespace: namespace.to_string(),
        name: name.to_string(),
    };
    let lb = lb_algorithm(service);
    let affinity_timeout_secs = (spec.session_affinity.as_deref() == Some("ClientIP")).then(|| {
        spec.session_affinity_config
            .as_ref()
            .and_then(|c| c.client_ip.as_ref())
            .and_then(|c| c.timeout_seconds)
            .and_then(|t| u32::try_from(t).ok())
            .unwrap_or(DEFAULT_AFFINITY_SECS)
    });

    let mut cluster_ips: Vec<IpAddr> = spec
        .cluster_ips
        .iter()
        .flatten()
        .chain(spec.cluster_ip.iter())
        .filter_map(|ip| ip.parse().ok())
        .collect();
    cluster_ips.sort();
    cluster_ips.dedup();
    let lb_ips: Vec<IpAddr> = service
        .status
        .as_ref()
        .and_then(|s| s.load_balancer.as_ref())
        .and_then(|l| l.ingress.as_ref())
        .into_iter()
        .flatten()
        .filter_map(|i| i.ip.as_deref()?.parse().ok())
        .collect();
    let external_ips: Vec<IpAddr> = spec
        .external_ips
        .iter()
        .flatten()
        .filter_map(|ip| ip.parse().ok())
        .collect();
    let families: Vec<IpAddr> = {
        let mut f: Vec<IpAddr> = spec
            .ip_families
            .iter()
            .flatten()
            .filter_map(|f| match f.as_str() {
                "IPv4" => Some(IpAddr::V4(Ipv4Addr::UNSPECIFIED)),
                "IPv6" => Some(IpAddr::V6(Ipv6Addr::UNSPECIFIED)),
                _ => None,
            })
            .collect();
        if f.is_empty() {
            f.push(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
        }
        f
    };
    let node_ports = matches!(type_, "NodePort" | "LoadBalancer");

    for port in spec.ports.iter().flatten() {
        let Ok(port_number) = u16::try_from(port.port) else {
            continue;
        };
        let protocol_name = port.protocol.as_deref().unwrap_or("TCP");
        let protocol = match protocol_name {
            "UDP" => L4Protocol::Udp,
            "SCTP" => L4Protocol::Sctp,
            _ => L4Protocol::Tcp,
        };
        let slices = index.slices(namespace, name);
        let all = endpoints::endpoints(
            slices,
            PortKey {
                name: port.name.as_deref().unwrap_or(""),
                protocol: protocol_name,
            },
        );
        let ready = usable_backends(&all);
        let weights = endpoint_weights(slices, service, &all);
        let terminating: Vec<SocketAddr> = all
            .iter()
            .filter(|e| e.terminating && !ready.contains(&e.address))
            .map(|e| e.address)
            .collect();
        let mut push = |kind: FrontendKind, address: IpAddr, port: u16| {
            // The kernel cannot translate between families.
            let family = |b: &&SocketAddr| b.is_ipv4() == address.is_ipv4();
            out.push(ServiceFrontend {
                service: object.clone(),
                kind,
                address,
                port,
                protocol,
                lb,
                affinity_timeout_secs,
                backends: ready.iter().filter(family).copied().collect(),
                weights: weights
                    .iter()
                    .filter(|(b, _)| ready.contains(b) && b.is_ipv4() == address.is_ipv4())
                    .map(|(b, w)| (*b, *w))
                    .collect(),
                terminating: terminating.iter().filter(family).copied().collect(),
            });
        };
        for ip in &cluster_ips {
            push(FrontendKind::ClusterIp, *ip, port_number);
        }
        if node_ports
            && let Some(np) = port
                .node_port
                .and_then(|n| u16::try_from(n).ok())
                .filter(|n| *n != 0)
        {
            for any in &families {
                push(FrontendKind::NodePort, *any, np);
            }
        }
        for ip in &lb_ips {
            push(FrontendKind::LoadBalancer, *ip, port_number);
        }
        for ip in &external_ips {
            push(FrontendKind::ExternalIp, *ip, port_number);
        }
    }
}

/// Cilium's backend weight on an EndpointSlice: every endpoint of the slice.
pub const SLICE_WEIGHT_ANNOTATION: &str = "service.cilium.io/weight";
/// Per-endpoint weights on the Service: `ENDPOINT=WEIGHT,...`, where
/// ENDPOINT is an endpoint address or its Pod (targetRef) name. Overrides
/// the slice weight.
pub const SERVICE_WEIGHTS_ANNOTATION: &str = "portico.dev/backend-weights";
/// Largest weight (the kernel keeps weights in 16 bits).
pub const MAX_WEIGHT: u32 = 65_535;

fn parse_weight(v: &str) -> Option<u32> {
    v.trim().parse::<u32>().ok().filter(|w| *w <= MAX_WEIGHT)
}

/// Weights other than 1 of `endpoints`, by endpoint address. Unparsable
/// annotation values and entries are ignored (the weight stays 1).
fn endpoint_weights(
    slices: &[&EndpointSlice],
    service: &Service,
    endpoints: &[portico_ir::Endpoint],
) -> BTreeMap<SocketAddr, u32> {
    let mut by_ip: BTreeMap<IpAddr, u32> = BTreeMap::new();
    for slice in slices {
        let Some(w) = slice
            .metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get(SLICE_WEIGHT_ANNOTATION))
            .and_then(|v| parse_weight(v))
        else {
            continue;
        };
        for ep in &slice.endpoints {
            if let Some(ip) = ep.addresses.first().and_then(|a| a.parse().ok()) {
                by_ip.insert(ip, w);
            }
        }
    }
    let mut by_name: BTreeMap<&str, u32> = BTreeMap::new();
    let listed = service
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(SERVICE_WEIGHTS_ANNOTATION));
    for entry in listed.into_iter().flat_map(|v| v.split(',')) {
        let Some((key, w)) = entry.split_once('=') else {
            continue;
        };
        let Some(w) = parse_weight(w) else { continue };
        match key.trim().parse::<IpAddr>() {
            Ok(ip) => {
                by_ip.insert(ip, w);
            }
            Err(_) => {
                by_name.insert(key.trim(), w);
            }
        }
    }
    endpoints
        .iter()
        .filter_map(|e| {
            let w = e
                .name
                .as_deref()
                .and_then(|n| by_name.get(n))
                .or_else(|| by_ip.get(&e.address.ip()))?;
            (*w != 1).then_some((e.address, *w))
        })
        .collect()
}

/// Ready, non-terminating endpoints; when there are none, the serving
/// terminating ones (as kube-proxy does, so connections keep working while
/// a rollout drains the last pods).
fn usable_backends(endpoints: &[portico_ir::Endpoint]) -> Vec<SocketAddr> {
    let ready: Vec<SocketAddr> = endpoints
        .iter()
        .filter(|e| e.is_usable())
        .map(|e| e.address)
        .collect();
    if !ready.is_empty() {
        return ready;
    }
    endpoints
        .iter()
        .filter(|e| e.serving && e.terminating)
        .map(|e| e.address)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snapshot(objects: serde_json::Value) -> Snapshot {
        let mut snap = Snapshot::default();
        for o in objects.as_array().unwrap() {
            if o["kind"] == "Service" {
                snap.services
                    .push(serde_json::from_value(o.clone()).unwrap());
            } else {
                snap.endpoint_slices
                    .push(serde_json::from_value(o.clone()).unwrap());
            }
        }
        snap
    }

    #[test]
    fn terminating_serving_endpoints_are_a_fallback_only() {
        let ep = |addr: &str, ready, serving, terminating| portico_ir::Endpoint {
            address: addr.parse().unwrap(),
            ready,
            serving,
            terminating,
            name: None,
            zone: None,
        };
        let draining = ep("10.0.0.2:80", false, true, true);
        let gone = ep("10.0.0.3:80", false, false, true);
        let live = ep("10.0.0.1:80", true, true, false);
        assert_eq!(
            usable_backends(&[live.clone(), draining.clone(), gone.clone()]),
            vec![live.address]
        );
        assert_eq!(
            usable_backends(&[draining.clone(), gone]),
            vec![draining.address]
        );
        assert!(usable_backends(&[]).is_empty());
    }

    #[test]
    fn weights_from_slice_and_service_annotations_and_terminating_endpoints() {
        let snap = snapshot(serde_json::json!([
            {"kind": "Service", "metadata": {"name": "web", "namespace": "ns",
                "annotations": {"portico.dev/backend-weights": "pod-c=5, 10.0.0.2=0, bad, 10.0.0.9=x"}},
             "spec": {"clusterIP": "10.96.0.10", "ports": [{"port": 80}]}},
            {"kind": "EndpointSlice", "addressType": "IPv4",
             "metadata": {"name": "web-canary", "namespace": "ns",
                "labels": {"kubernetes.io/service-name": "web"},
                "annotations": {"service.cilium.io/weight": "3"}},
             "ports": [{"port": 8080}],
             "endpoints": [{"addresses": ["10.0.0.1"]}, {"addresses": ["10.0.0.2"]}]},
            {"kind": "EndpointSlice", "addressType": "IPv4",
             "metadata": {"name": "web-main", "namespace": "ns",
                "labels": {"kubernetes.io/service-name": "web"},
                "annotations": {"service.cilium.io/weight": "70000"}},
             "ports": [{"port": 8080}],
             "endpoints": [{"addresses": ["10.0.0.3"], "targetRef": {"kind": "Pod", "name": "pod-c"}},
                           {"addresses": ["10.0.0.4"]},
                           {"addresses": ["10.0.0.5"], "conditions": {"ready": false, "serving": true, "terminating": true}},
                           {"addresses": ["10.0.0.6"], "conditions": {"ready": false, "serving": false, "terminating": true}}]}
        ]));
        let fe = service_frontends(&snap);
        assert_eq!(fe.len(), 1);
        let f = &fe[0];
        let a = |s: &str| s.parse::<SocketAddr>().unwrap();
        assert_eq!(
            f.backends,
            vec![
                a("10.0.0.1:8080"),
                a("10.0.0.2:8080"),
                a("10.0.0.3:8080"),
                a("10.0.0.4:8080")
            ]
        );
        // Slice weight 3; the Service overrides by address (0) and Pod name
        // (5); an out-of-range slice weight is ignored.
        assert_eq!(
            f.weights,
            BTreeMap::from([
                (a("10.0.0.1:8080"), 3),
                (a("10.0.0.2:8080"), 0),
                (a("10.0.0.3:8080"), 5)
            ])
        );
        assert_eq!(f.weight_of(&a("10.0.0.4:8080")), 1);
        assert_eq!(f.terminating, vec![a("10.0.0.5:8080"), a("10.0.0.6:8080")]);
    }

    #[test]
    fn every_frontend_kind_with_ready_backends() {
        let snap = snapshot(serde_json::json!([
            {"kind": "Service", "metadata": {"name": "web", "namespace": "ns",
                "annotations": {"service.cilium.io/lb-l7-algorithm": "maglev"}},
             "spec": {"type": "LoadBalancer", "clusterIP": "10.96.0.10", "clusterIPs": ["10.96.0.10"],
                      "externalIPs": ["192.0.2.7"], "sessionAffinity": "ClientIP",
                      "ports": [{"name": "http", "port": 80, "nodePort": 30080}]},
             "status": {"loadBalancer": {"ingress": [{"ip": "203.0.113.5"}, {"hostname": "lb.example"}]}}},
            {"kind": "EndpointSlice", "addressType": "IPv4",
             "metadata": {"name": "web-1", "namespace": "ns", "labels": {"kubernetes.io/service-name": "web"}},
             "ports": [{"name": "http", "port": 8080}],
             "endpoints": [{"addresses": ["10.0.0.1"]},
                           {"addresses": ["10.0.0.2"], "conditions": {"ready": false}},
                           {"addresses": ["10.0.0.3"], "conditions": {"ready": true, "terminating": true}}]},
            {"kind": "Service", "metadata": {"name": "headless", "namespace": "ns"},
             "spec": {"clusterIP": "None", "ports": [{"port": 80}]}},
            {"kind": "Service", "metadata": {"name": "ext", "namespace": "ns"},
             "spec": {"type": "ExternalName", "externalName": "example.com"}}
        ]));
        let fe = service_frontends(&snap);
        let kinds: Vec<(FrontendKind, String)> = fe
            .iter()
            .map(|f| (f.kind, format!("{}:{}", f.address, f.port)))
            .collect();
        assert_eq!(
            kinds,
            vec![
                (FrontendKind::ClusterIp, "10.96.0.10:80".to_string()),
                (FrontendKind::NodePort, "0.0.0.0:30080".to_string()),
                (FrontendKind::LoadBalancer, "203.0.113.5:80".to_string()),
                (FrontendKind::ExternalIp, "192.0.2.7:80".to_string()),
            ]
        );
        for f in &fe {
            assert_eq!(
                f.backends,
                vec!["10.0.0.1:8080".parse::<SocketAddr>().unwrap()]
            );
            assert_eq!(f.affinity_timeout_secs, Some(DEFAULT_AFFINITY_SECS));
            assert_eq!(f.lb, portico_ir::LbAlgorithm::Maglev);
            assert_eq!(f.protocol, L4Protocol::Tcp);
        }
    }
}
