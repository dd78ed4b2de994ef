//! One LoadBalancer Service per Gateway, and the Gateway's addresses taken
//! from that Service's load-balancer status.
//!
//! Translation is unchanged; Kubernetes mode pre-processes the snapshot
//! ([`for_translation`]: addresses are the Service's business, not the
//! in-process IPAM's) and post-processes its output ([`bind_all`] for the
//! pod's sockets, [`set_addresses`] for `status.addresses` and Programmed).

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, SocketAddr};

use ipnet::IpNet;
use portico_ir::{BindProtocol, Ir};
use portico_model::Snapshot;
use portico_model::gateway::Gateway;
use portico_translate::{Condition, GatewayStatusAddress, ObjectStatus, Statuses};
use serde_json::{Value, json};

use crate::ipam::IPS_ANNOTATION;

/// Label on every Gateway Service naming its Gateway.
pub const GATEWAY_LABEL: &str = "portico.dev/gateway";

/// Name of the Service of Gateway `name` (at most 63 characters).
pub fn service_name(gateway: &str) -> String {
    let mut name = format!("portico-{gateway}");
    name.truncate(63);
    name.trim_end_matches('-').to_string()
}

/// Ports (transport, port) of the listeners that ListenerSets attached to
/// Gateway `ns/name` in the translated IR: only the listeners translation
/// accepted and programmed, so a rejected ListenerSet opens no port.
pub fn listener_set_ports(ir: &Ir, ns: &str, name: &str) -> BTreeSet<(&'static str, i32)> {
    ir.binds
        .iter()
        .filter(|b| {
            b.gateway.kind == "Gateway" && b.gateway.namespace == ns && b.gateway.name == name
        })
        .filter(|b| b.listeners.iter().any(|l| l.owner.kind == "ListenerSet"))
        .map(|b| {
            let proto = if b.protocol == BindProtocol::Udp {
                "UDP"
            } else {
                "TCP"
            };
            (proto, i32::from(b.address.port()))
        })
        .collect()
}

/// The Service (as a server-side-apply body) for one Gateway: ports from its
/// listeners and from `extra_ports` (its ListenerSets' listeners, see
/// [`listener_set_ports`]), `spec.infrastructure` labels and annotations
/// propagated, `spec.addresses` turned into the `lbipam.cilium.io/ips`
/// request, owned by the Gateway, selecting the Portico pods.
pub fn service_for(
    gw: &Gateway,
    selector: &BTreeMap<String, String>,
    extra_ports: &BTreeSet<(&'static str, i32)>,
) -> Value {
    let name = gw.metadata.name.clone().unwrap_or_default();
    let infra = gw.spec.infrastructure.as_ref();
    let mut labels = infra.and_then(|i| i.labels.clone()).unwrap_or_default();
    labels.insert(GATEWAY_LABEL.into(), name.clone());
    let mut annotations = infra
        .and_then(|i| i.annotations.clone())
        .unwrap_or_default();
    if !annotations.contains_key(IPS_ANNOTATION) {
        let ips: Vec<String> = gw
            .spec
            .addresses
            .iter()
            .flatten()
            .filter(|a| a.r#type.as_deref().is_none_or(|t| t == "IPAddress"))
            .filter_map(|a| a.value.clone())
            .collect();
        if !ips.is_empty() {
            annotations.insert(IPS_ANNOTATION.into(), ips.join(","));
        }
    }
    let mut ports: BTreeSet<(&str, i32)> = extra_ports.clone();
    for l in &gw.spec.listeners {
        let proto = if l.protocol == "UDP" { "UDP" } else { "TCP" };
        ports.insert((proto, l.port));
    }
    let ports: Vec<Value> = ports
        .into_iter()
        .map(|(proto, port)| {
            json!({"name": format!("{}-{port}", proto.to_lowercase()), "protocol": proto, "port": port, "targetPort": port})
        })
        .collect();
    json!({
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {
            "name": service_name(&name),
            "namespace": gw.metadata.namespace.clone().unwrap_or_default(),
            "labels": labels,
            "annotations": annotations,
            "ownerReferences": [{
                "apiVersion": "gateway.networking.k8s.io/v1",
                "kind": "Gateway",
                "name": name,
                "uid": gw.metadata.uid.clone().unwrap_or_default(),
                "controller": true,
                "blockOwnerDeletion": true,
            }],
        },
        "spec": {
            "type": "LoadBalancer",
            "selector": selector,
            "ports": ports,
        },
    })
}

/// The snapshot translation sees in Kubernetes mode: no address pools and no
/// static addresses on Gateways (those go to the Gateway's Service and LB
/// IPAM), so every Gateway gets a placeholder address from `placeholder_pool`
/// and its listeners are translated.
pub fn for_translation(snapshot: &Snapshot) -> Snapshot {
    let mut s = snapshot.clone();
    s.address_pools.clear();
    for gw in &mut s.gateways {
        gw.spec.addresses = None;
        if let Some(a) = gw
            .spec
            .infrastructure
            .as_mut()
            .and_then(|i| i.annotations.as_mut())
        {
            a.remove(IPS_ANNOTATION);
        }
    }
    s
}

/// Placeholder pool for [`for_translation`] (reserved range, never bound).
pub fn placeholder_pool() -> Vec<IpNet> {
    vec![IpNet::V4(
        ipnet::Ipv4Net::new(std::net::Ipv4Addr::new(240, 0, 0, 0), 8).unwrap_or_default(),
    )]
}

/// Rewrites every bind to `ip` (the pod's address, `0.0.0.0` by default):
/// traffic reaches the pod through the Gateway's Service. When two Gateways
/// use the same port and transport, the first bind (oldest Gateway order of
/// the IR) wins and the others are returned so they can be reported.
pub fn bind_all(ir: &mut Ir, ip: IpAddr) -> Vec<String> {
    let mut seen = BTreeSet::new();
    let mut dropped = Vec::new();
    ir.binds.retain_mut(|b| {
        b.address = SocketAddr::new(ip, b.address.port());
        if seen.insert((b.address, b.protocol)) {
            true
        } else {
            dropped.extend(b.listeners.iter().map(|l| l.id.clone()));
            false
        }
    });
    dropped
}

/// Addresses in the load-balancer status of Gateway `ns/name`'s Service.
pub fn service_addresses(snapshot: &Snapshot, ns: &str, name: &str) -> Vec<GatewayStatusAddress> {
    let svc_name = service_name(name);
    snapshot
        .services
        .iter()
        .find(|s| {
            s.metadata.namespace.as_deref() == Some(ns)
                && s.metadata.name.as_deref() == Some(&svc_name)
        })
        .and_then(|s| s.status.as_ref()?.load_balancer.as_ref()?.ingress.clone())
        .unwrap_or_default()
        .into_iter()
        .filter_map(|i| match (i.ip, i.hostname) {
            (Some(ip), _) => Some(GatewayStatusAddress {
                type_: "IPAddress".into(),
                value: ip,
            }),
            (None, Some(h)) => Some(GatewayStatusAddress {
                type_: "Hostname".into(),
                value: h,
            }),
            _ => None,
        })
        .collect()
}

/// Replaces every Gateway's `status.addresses` with its Service's
/// load-balancer addresses; a Gateway whose Service has none yet is not
/// Programmed (`AddressNotAssigned`).
pub fn set_addresses(statuses: &mut Statuses, snapshot: &Snapshot) {
    for gw in &snapshot.gateways {
        let ns = gw.metadata.namespace.as_deref().unwrap_or_default();
        let name = gw.metadata.name.as_deref().unwrap_or_default();
        let key = Statuses::key("Gateway", ns, name);
        let Some(ObjectStatus::Gateway(status)) = statuses.objects.get_mut(&key) else {
            continue;
        };
        status.addresses = service_addresses(snapshot, ns, name);
        if status.addresses.is_empty()
            && let Some(c) = status
                .conditions
                .iter_mut()
                .find(|c| c.type_ == "Programmed")
            && c.is_true()
        {
            *c = Condition::new(
                "Programmed",
                false,
                "AddressNotAssigned",
                format!(
                    "waiting for Service {ns}/{} to get a load-balancer address",
                    service_name(name)
                ),
                c.observed_generation,
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use portico_model::Object;
    use portico_model::core::Service;

    use super::*;

    fn gateway() -> Gateway {
        serde_json::from_value(json!({
            "apiVersion": "gateway.networking.k8s.io/v1",
            "kind": "Gateway",
            "metadata": {"name": "gw", "namespace": "ns", "uid": "u1"},
            "spec": {
                "gatewayClassName": "portico",
                "addresses": [{"type": "IPAddress", "value": "10.0.0.7"}],
                "infrastructure": {"labels": {"team": "a"}, "annotations": {"note": "x"}},
                "listeners": [
                    {"name": "http", "port": 80, "protocol": "HTTP"},
                    {"name": "http2", "port": 80, "protocol": "HTTP", "hostname": "b.example"},
                    {"name": "dns", "port": 53, "protocol": "UDP"}
                ]
            }
        }))
        .expect("gateway")
    }

    #[test]
    fn service_has_ports_owner_and_propagated_metadata() {
        let sel = BTreeMap::from([("app".to_string(), "portico".to_string())]);
        let svc = service_for(&gateway(), &sel, &BTreeSet::new());
        assert_eq!(svc["metadata"]["name"], "portico-gw");
        assert_eq!(svc["metadata"]["labels"]["team"], "a");
        assert_eq!(svc["metadata"]["labels"][GATEWAY_LABEL], "gw");
        assert_eq!(svc["metadata"]["annotations"]["note"], "x");
        assert_eq!(svc["metadata"]["annotations"][IPS_ANNOTATION], "10.0.0.7");
        assert_eq!(svc["metadata"]["ownerReferences"][0]["uid"], "u1");
        assert_eq!(svc["spec"]["selector"]["app"], "portico");
        let ports = svc["spec"]["ports"].as_array().expect("ports");
        assert_eq!(ports.len(), 2, "{ports:?}");
        // It is a valid Service.
        let _: Service = serde_json::from_value(svc.clone()).expect("service");
    }

    #[test]
    fn listener_set_listeners_add_ports() {
        let ls: portico_model::gateway::ListenerSet = serde_json::from_value(json!({
            "apiVersion": "gateway.networking.k8s.io/v1",
            "kind": "ListenerSet",
            "metadata": {"name": "extra", "namespace": "ns"},
            "spec": {
                "parentRef": {"name": "gw"},
                "listeners": [
                    {"name": "web", "port": 8081, "protocol": "HTTP"},
                    {"name": "tcp", "port": 9000, "protocol": "TCP"}
                ]
            }
        }))
        .expect("listener set");
        let mut gw = gateway();
        gw.spec.allowed_listeners = serde_json::from_value(json!({"namespaces": {"from": "Same"}}))
            .expect("allowedListeners");
        let class: portico_model::gateway::GatewayClass = serde_json::from_value(json!({
            "apiVersion": "gateway.networking.k8s.io/v1",
            "kind": "GatewayClass",
            "metadata": {"name": "portico"},
            "spec": {"controllerName": portico_translate::CONTROLLER_NAME}
        }))
        .expect("class");
        let snap = Snapshot::from_objects([
            Object::GatewayClass(Box::new(class)),
            Object::Gateway(Box::new(gw.clone())),
            Object::ListenerSet(Box::new(ls)),
        ]);
        let out = portico_translate::translate(
            &for_translation(&snap),
            &portico_translate::Options {
                default_pool: placeholder_pool(),
                ..Default::default()
            },
        );
        let extra = listener_set_ports(&out.ir, "ns", "gw");
        assert_eq!(
            extra,
            BTreeSet::from([("TCP", 8081), ("TCP", 9000)]),
            "{:?}",
            out.statuses
        );
        // Another Gateway's ListenerSets add nothing.
        assert!(listener_set_ports(&out.ir, "ns", "other").is_empty());
        let sel = BTreeMap::new();
        let svc = service_for(&gw, &sel, &extra);
        let ports: Vec<i64> = svc["spec"]["ports"]
            .as_array()
            .expect("ports")
            .iter()
            .filter_map(|p| p["port"].as_i64())
            .collect();
        assert_eq!(ports, vec![80, 8081, 9000, 53], "TCP ports, then UDP");
    }

    #[test]
    fn addresses_come_from_the_service_and_gate_programmed() {
        let gw = gateway();
        let mut statuses = Statuses::default();
        statuses.insert(
            "Gateway",
            "ns",
            "gw",
            ObjectStatus::Gateway(portico_translate::GatewayStatus {
                conditions: vec![Condition::new("Programmed", true, "Programmed", "", 1)],
                ..Default::default()
            }),
        );
        let snap = Snapshot::from_objects([Object::Gateway(Box::new(gw.clone()))]);
        let mut without = statuses.clone();
        set_addresses(&mut without, &snap);
        let Some(ObjectStatus::Gateway(s)) = without.get("Gateway", "ns", "gw") else {
            panic!("gateway status")
        };
        assert_eq!(s.conditions[0].reason, "AddressNotAssigned");

        let svc: Service = serde_json::from_value(json!({
            "metadata": {"name": "portico-gw", "namespace": "ns"},
            "status": {"loadBalancer": {"ingress": [{"ip": "10.0.0.7"}]}}
        }))
        .expect("svc");
        let snap = Snapshot::from_objects([
            Object::Gateway(Box::new(gw)),
            Object::Service(Box::new(svc)),
        ]);
        set_addresses(&mut statuses, &snap);
        let Some(ObjectStatus::Gateway(s)) = statuses.get("Gateway", "ns", "gw") else {
            panic!("gateway status")
        };
        assert!(s.conditions[0].is_true());
        assert_eq!(s.addresses[0].value, "10.0.0.7");
    }

    #[test]
    fn static_addresses_are_hidden_from_translation() {
        let snap = Snapshot::from_objects([Object::Gateway(Box::new(gateway()))]);
        let t = for_translation(&snap);
        assert!(t.gateways[0].spec.addresses.is_none());
        assert!(t.address_pools.is_empty());
    }
}
