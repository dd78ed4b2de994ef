//! EndpointSlices → endpoints of one Service port.
//!
//! A Service port is matched to an EndpointSlice port by name (both empty for
//! an unnamed single port) and protocol; the slice carries the target port
//! number. Conditions follow discovery.k8s.io/v1: unset `ready` counts as
//! ready, unset `serving` follows `ready`, unset `terminating` is false.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};

use portico_ir::Endpoint;
use portico_model::core::EndpointSlice;

/// The Service port being resolved.
#[derive(Clone, Copy, Debug)]
pub struct PortKey<'a> {
    /// Port name, empty when unnamed.
    pub name: &'a str,
    /// `TCP`, `UDP` or `SCTP`.
    pub protocol: &'a str,
}

/// Endpoints of `slices` for the Service port `key`, deduplicated by address
/// (a duplicate keeps the most usable conditions) and sorted by address.
pub fn endpoints(slices: &[&EndpointSlice], key: PortKey<'_>) -> Vec<Endpoint> {
    let mut by_addr: BTreeMap<SocketAddr, Endpoint> = BTreeMap::new();
    for slice in slices {
        if !matches!(slice.address_type.as_str(), "IPv4" | "IPv6") {
            continue; // FQDN slices carry names, not addresses.
        }
        let Some(port) = slice_port(slice, key) else {
            continue;
        };
        for ep in &slice.endpoints {
            // Consumers use the first address of an endpoint (they are fungible).
            let Some(ip) = ep.addresses.first().and_then(|a| a.parse::<IpAddr>().ok()) else {
                continue;
            };
            let cond = ep.conditions.as_ref();
            let ready = cond.and_then(|c| c.ready).unwrap_or(true);
            let serving = cond.and_then(|c| c.serving).unwrap_or(ready);
            let terminating = cond.and_then(|c| c.terminating).unwrap_or(false);
            let endpoint = Endpoint {
                address: SocketAddr::new(ip, port),
                ready,
                serving,
                terminating,
                name: ep
                    .target_ref
                    .as_ref()
                    .and_then(|t| t.name.clone())
                    .or_else(|| ep.hostname.clone()),
                zone: ep.zone.clone(),
            };
            match by_addr.get(&endpoint.address) {
                Some(existing) if usability(existing) >= usability(&endpoint) => {}
                _ => {
                    by_addr.insert(endpoint.address, endpoint);
                }
            }
        }
    }
    by_addr.into_values().collect()
}

fn usability(e: &Endpoint) -> (bool, bool, bool) {
    (e.is_usable(), e.serving, !e.terminating)
}

/// The target port number the slice declares for the Service port.
fn slice_port(slice: &EndpointSlice, key: PortKey<'_>) -> Option<u16> {
    slice.ports.iter().flatten().find_map(|p| {
        let name = p.name.as_deref().unwrap_or("");
        let protocol = p.protocol.as_deref().unwrap_or("TCP");
        if name == key.name && protocol.eq_ignore_ascii_case(key.protocol) {
            p.port
                .and_then(|n| u16::try_from(n).ok())
                .filter(|n| *n != 0)
        } else {
            None
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn slice(yaml: serde_json::Value) -> EndpointSlice {
        serde_json::from_value(yaml).unwrap_or_else(|e| panic!("bad test slice: {e}"))
    }

    fn key() -> PortKey<'static> {
        PortKey {
            name: "http",
            protocol: "TCP",
        }
    }

    #[test]
    fn conditions_default_per_spec() {
        let s = slice(serde_json::json!({
            "addressType": "IPv4",
            "metadata": {"name": "s"},
            "ports": [{"name": "http", "port": 3000, "protocol": "TCP"}],
            "endpoints": [
                {"addresses": ["10.0.0.2"]},
                {"addresses": ["10.0.0.1"], "conditions": {"ready": false, "serving": true, "terminating": true}},
                {"addresses": ["10.0.0.3"], "conditions": {"ready": false}},
                {"addresses": ["not-an-ip"]},
                {"addresses": []}
            ]
        }));
        let eps = endpoints(&[&s], key());
        let got: Vec<_> = eps
            .iter()
            .map(|e| (e.address.to_string(), e.ready, e.serving, e.terminating))
            .collect();
        assert_eq!(
            got,
            vec![
                ("10.0.0.1:3000".to_string(), false, true, true),
                ("10.0.0.2:3000".to_string(), true, true, false),
                ("10.0.0.3:3000".to_string(), false, false, false),
            ]
        );
    }

    #[test]
    fn port_is_matched_by_name_and_protocol() {
        let s = slice(serde_json::json!({
            "addressType": "IPv6",
            "metadata": {"name": "s"},
            "ports": [
                {"name": "metrics", "port": 9000},
                {"name": "http", "port": 53, "protocol": "UDP"},
                {"name": "http", "port": 8080}
            ],
            "endpoints": [{"addresses": ["fd00::1"], "targetRef": {"name": "pod-a"}, "zone": "z1"}]
        }));
        let eps = endpoints(&[&s], key());
        assert_eq!(eps.len(), 1);
        assert_eq!(eps[0].address.to_string(), "[fd00::1]:8080");
        assert_eq!(eps[0].name.as_deref(), Some("pod-a"));
        assert_eq!(eps[0].zone.as_deref(), Some("z1"));
        let udp = endpoints(
            &[&s],
            PortKey {
                name: "http",
                protocol: "UDP",
            },
        );
        assert_eq!(udp[0].address.port(), 53);
        let none = endpoints(
            &[&s],
            PortKey {
                name: "grpc",
                protocol: "TCP",
            },
        );
        assert!(none.is_empty());
    }

    #[test]
    fn duplicates_keep_the_usable_copy() {
        let a = slice(serde_json::json!({
            "addressType": "IPv4", "metadata": {"name": "a"},
            "ports": [{"name": "http", "port": 80}],
            "endpoints": [{"addresses": ["10.0.0.1"], "conditions": {"ready": false}}]
        }));
        let b = slice(serde_json::json!({
            "addressType": "IPv4", "metadata": {"name": "b"},
            "ports": [{"name": "http", "port": 80}],
            "endpoints": [{"addresses": ["10.0.0.1"]}]
        }));
        for order in [[&a, &b], [&b, &a]] {
            let eps = endpoints(&order, key());
            assert_eq!(eps.len(), 1);
            assert!(eps[0].ready);
        }
    }
}
