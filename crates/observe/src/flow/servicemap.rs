//! A service map aggregated from flows: clients → gateways → routes →
//! services, each edge with its flow counts by verdict and its HTTP error
//! rate — what a UI needs to draw the map and colour the edges.
//!
//! Clients are the source pod (`namespace/pod`) when known, else the
//! source IP; beyond `max_clients` distinct clients the rest are merged
//! into one `other clients` node so the map stays readable and bounded.

use std::collections::BTreeMap;

use serde::Serialize;

use super::record::{Flow, Verdict};

/// What a node stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum NodeKind {
    Client,
    Gateway,
    Route,
    Service,
}

/// One node of the map.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MapNode {
    /// Stable id (`kind:label`).
    pub id: String,
    pub kind: NodeKind,
    /// Display name (`ns/name`, an IP, ...).
    pub label: String,
}

/// Flow counts on an edge.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct EdgeStats {
    pub flows: u64,
    pub forwarded: u64,
    pub dropped: u64,
    pub error: u64,
    /// HTTP responses with a 5xx status.
    pub http_5xx: u64,
    /// (dropped + error + 5xx not already counted as error) / flows.
    pub error_rate: f64,
}

/// One directed edge.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MapEdge {
    pub source: String,
    pub target: String,
    #[serde(flatten)]
    pub stats: EdgeStats,
}

/// The aggregated map.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ServiceMap {
    pub nodes: Vec<MapNode>,
    pub edges: Vec<MapEdge>,
}

const OTHER_CLIENTS: &str = "other clients";

fn node(kind: NodeKind, label: String) -> MapNode {
    let prefix = match kind {
        NodeKind::Client => "client",
        NodeKind::Gateway => "gateway",
        NodeKind::Route => "route",
        NodeKind::Service => "service",
    };
    MapNode {
        id: format!("{prefix}:{label}"),
        kind,
        label,
    }
}

fn client_label(flow: &Flow) -> String {
    if let Some(ep) = flow.source.as_deref()
        && let Some(pod) = ep.pod_name.as_deref()
    {
        return match ep.namespace.as_deref() {
            Some(ns) => format!("{ns}/{pod}"),
            None => pod.to_owned(),
        };
    }
    match flow.ip {
        Some(ip) => ip.source.to_string(),
        None => "unknown".to_owned(),
    }
}

/// Builds the map from flows (e.g. a ring snapshot).
pub fn build<'a>(flows: impl IntoIterator<Item = &'a Flow>, max_clients: usize) -> ServiceMap {
    let mut nodes: BTreeMap<String, MapNode> = BTreeMap::new();
    let mut edges: BTreeMap<(String, String), EdgeStats> = BTreeMap::new();
    let mut clients = 0usize;
    for flow in flows {
        let mut path: Vec<MapNode> = Vec::with_capacity(4);
        let mut client = node(NodeKind::Client, client_label(flow));
        if !nodes.contains_key(&client.id) {
            if clients >= max_clients {
                client = node(NodeKind::Client, OTHER_CLIENTS.to_owned());
            } else {
                clients += 1;
            }
        }
        path.push(client);
        if let Some(g) = &flow.gateway {
            path.push(node(
                NodeKind::Gateway,
                format!("{}/{}", g.namespace, g.name),
            ));
        }
        if let Some(r) = &flow.route {
            path.push(node(
                NodeKind::Route,
                format!("{} {}/{}", r.kind, r.namespace, r.name),
            ));
        }
        if let Some(s) = &flow.destination_service {
            path.push(node(
                NodeKind::Service,
                format!("{}/{}", s.namespace, s.name),
            ));
        }
        if path.len() < 2 {
            continue;
        }
        let is_5xx = flow.http().is_some_and(|h| (500..600).contains(&h.code));
        for pair in path.windows(2) {
            let st = edges
                .entry((pair[0].id.clone(), pair[1].id.clone()))
                .or_default();
            st.flows += 1;
            match flow.verdict {
                Verdict::Forwarded => st.forwarded += 1,
                Verdict::Dropped => st.dropped += 1,
                Verdict::Error => st.error += 1,
                _ => {}
            }
            if is_5xx {
                st.http_5xx += 1;
            }
            let bad = u64::from(matches!(flow.verdict, Verdict::Dropped | Verdict::Error))
                + u64::from(is_5xx && flow.verdict != Verdict::Error);
            // Running rate: bad flows so far over all flows.
            let bad_before = st.error_rate * (st.flows - 1) as f64;
            st.error_rate = (bad_before + bad as f64) / st.flows as f64;
        }
        for n in path {
            nodes.entry(n.id.clone()).or_insert(n);
        }
    }
    ServiceMap {
        nodes: nodes.into_values().collect(),
        edges: edges
            .into_iter()
            .map(|((source, target), stats)| MapEdge {
                source,
                target,
                stats,
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flow::record::{
        GatewayRef, HttpInfo, IpInfo, L7Record, L7Type, Layer7, RouteRef, ServiceRef,
    };

    fn flow(src: &str, code: u16, verdict: Verdict, svc: &str) -> Flow {
        Flow {
            verdict,
            ip: Some(IpInfo {
                source: src.parse().expect("ip"),
                destination: "10.0.0.1".parse().expect("ip"),
            }),
            l7: Some(Layer7 {
                kind: L7Type::Response,
                latency: None,
                record: L7Record::Http(HttpInfo {
                    code,
                    ..HttpInfo::default()
                }),
            }),
            gateway: Some(GatewayRef {
                namespace: "infra".into(),
                name: "gw".into(),
                listener: None,
            }),
            route: Some(RouteRef {
                kind: "HTTPRoute",
                namespace: "shop".into(),
                name: "r".into(),
            }),
            destination_service: Some(ServiceRef {
                namespace: "shop".into(),
                name: svc.into(),
            }),
            ..Flow::default()
        }
    }

    #[test]
    fn edges_chain_client_gateway_route_service_with_rates() {
        let flows = [
            flow("192.0.2.1", 200, Verdict::Forwarded, "web"),
            flow("192.0.2.1", 503, Verdict::Forwarded, "web"),
            flow("192.0.2.2", 0, Verdict::Dropped, "web"),
            flow("192.0.2.2", 502, Verdict::Error, "api"),
        ];
        let map = build(flows.iter(), 10);
        let ids: Vec<&str> = map.nodes.iter().map(|n| n.id.as_str()).collect();
        assert_eq!(
            ids,
            vec![
                "client:192.0.2.1",
                "client:192.0.2.2",
                "gateway:infra/gw",
                "route:HTTPRoute shop/r",
                "service:shop/api",
                "service:shop/web",
            ]
        );
        let edge = |s: &str, t: &str| {
            map.edges
                .iter()
                .find(|e| e.source == s && e.target == t)
                .map(|e| e.stats)
                .expect("edge")
        };
        let gw_route = edge("gateway:infra/gw", "route:HTTPRoute shop/r");
        assert_eq!(
            (
                gw_route.flows,
                gw_route.forwarded,
                gw_route.dropped,
                gw_route.error,
                gw_route.http_5xx
            ),
            (4, 2, 1, 1, 2)
        );
        assert!(
            (gw_route.error_rate - 0.75).abs() < 1e-9,
            "{}",
            gw_route.error_rate
        );
        let c1 = edge("client:192.0.2.1", "gateway:infra/gw");
        assert!((c1.error_rate - 0.5).abs() < 1e-9);
        let api = edge("route:HTTPRoute shop/r", "service:shop/api");
        assert_eq!((api.flows, api.error), (1, 1));
        assert!((api.error_rate - 1.0).abs() < 1e-9);
    }

    #[test]
    fn clients_beyond_the_cap_are_merged() {
        let flows: Vec<Flow> = (1..=5)
            .map(|i| flow(&format!("192.0.2.{i}"), 200, Verdict::Forwarded, "web"))
            .collect();
        let map = build(flows.iter(), 2);
        let clients: Vec<&str> = map
            .nodes
            .iter()
            .filter(|n| n.kind == NodeKind::Client)
            .map(|n| n.label.as_str())
            .collect();
        assert_eq!(clients, vec!["192.0.2.1", "192.0.2.2", "other clients"]);
        let other = map
            .edges
            .iter()
            .find(|e| e.source == "client:other clients")
            .expect("merged edge");
        assert_eq!(other.stats.flows, 3);
    }

    #[test]
    fn serializes_for_a_ui() {
        let map = build(
            [flow("192.0.2.1", 200, Verdict::Forwarded, "web")].iter(),
            10,
        );
        let v = serde_json::to_value(&map).expect("json");
        assert_eq!(v["nodes"][0]["kind"], "client");
        assert_eq!(v["edges"][0]["flows"], 1);
        assert_eq!(v["edges"][0]["error_rate"], 0.0);
    }
}
