//! LB IPAM for LoadBalancer Services: pools from `LoadBalancerIPPool`
//! objects, requests from Services (annotations `lbipam.cilium.io/ips`,
//! `lbipam.cilium.io/sharing-key`, `lbipam.cilium.io/sharing-cross-namespace`),
//! allocation by the pure [`alloc::allocate`], results as the Services'
//! `status.loadBalancer` plus the condition [`SATISFIED_CONDITION`], and pool
//! status conditions.

pub mod alloc;
pub mod selector;

use std::collections::BTreeMap;
use std::net::IpAddr;

use ipnet::IpNet;
use portico_model::core::Service;
use portico_model::{LoadBalancerIpPool, Snapshot};
use serde_json::{Value, json};

pub use alloc::{Allocation, Pool, PoolReport, Range, Request, Unsatisfied, allocate};

/// Service condition type (Cilium's, so tools reading it keep working).
pub const SATISFIED_CONDITION: &str = "io.cilium/lb-ipam-request-satisfied";
pub const IPS_ANNOTATION: &str = "lbipam.cilium.io/ips";
pub const LEGACY_IPS_ANNOTATION: &str = "io.cilium/lb-ipam-ips";
pub const SHARING_KEY_ANNOTATION: &str = "lbipam.cilium.io/sharing-key";
pub const SHARING_CROSS_NAMESPACE_ANNOTATION: &str = "lbipam.cilium.io/sharing-cross-namespace";
pub const SERVICE_NAMESPACE_LABEL: &str = "io.kubernetes.service.namespace";
pub const SERVICE_NAME_LABEL: &str = "io.kubernetes.service.name";
/// `spec.loadBalancerClass` values this IPAM serves (besides none).
pub const CLASSES: &[&str] = &[
    "portico.dev/lbipam",
    "io.cilium/bgp-control-plane",
    "io.cilium/l2-announcer",
];

/// Parses a pool; unparsable blocks are returned as messages and skipped.
pub fn pool_of(p: &LoadBalancerIpPool) -> (Pool, Vec<String>) {
    let mut problems = Vec::new();
    let allow_first_last = p.spec.allow_first_last_ips.as_deref() != Some("No");
    let mut ranges = Vec::new();
    for block in &p.spec.blocks {
        if let Some(cidr) = &block.cidr {
            match cidr.parse::<IpNet>() {
                Ok(net) => {
                    let (mut start, mut stop) = (net.network(), net.broadcast());
                    let tiny = net.prefix_len() + 1 >= net.max_prefix_len();
                    if !allow_first_last && !tiny {
                        start = step(start, 1).unwrap_or(start);
                        stop = step(stop, -1).unwrap_or(stop);
                    }
                    ranges.push(Range { start, stop });
                }
                Err(e) => problems.push(format!("block cidr {cidr:?}: {e}")),
            }
            continue;
        }
        match (
            block.start.as_deref().map(str::parse::<IpAddr>),
            block.stop.as_deref().map(str::parse::<IpAddr>),
        ) {
            (Some(Ok(start)), Some(Ok(stop)))
                if start.is_ipv4() == stop.is_ipv4() && start <= stop =>
            {
                ranges.push(Range { start, stop })
            }
            (Some(Ok(start)), None) => ranges.push(Range { start, stop: start }),
            _ => problems.push(format!(
                "block start {:?} stop {:?} is not a valid range",
                block.start, block.stop
            )),
        }
    }
    let pool = Pool {
        name: p.metadata.name.clone().unwrap_or_default(),
        created: created(p.metadata.creation_timestamp.as_ref()),
        ranges,
        selector: p.spec.service_selector.clone(),
        disabled: p.spec.disabled,
    };
    (pool, problems)
}

fn created(t: Option<&portico_model::core::Time>) -> String {
    t.map(|t| t.0.to_string()).unwrap_or_default()
}

fn step(ip: IpAddr, by: i8) -> Option<IpAddr> {
    match ip {
        IpAddr::V4(v) => u32::from(v)
            .checked_add_signed(i32::from(by))
            .map(|n| IpAddr::V4(n.into())),
        IpAddr::V6(v) => {
            let n = u128::from(v);
            let n = if by >= 0 {
                n.checked_add(1)
            } else {
                n.checked_sub(1)
            }?;
            Some(IpAddr::V6(n.into()))
        }
    }
}

/// Whether this IPAM is responsible for the Service.
pub fn wants_ipam(svc: &Service) -> bool {
    let Some(spec) = &svc.spec else { return false };
    spec.type_.as_deref() == Some("LoadBalancer")
        && spec
            .load_balancer_class
            .as_deref()
            .is_none_or(|c| CLASSES.contains(&c))
}

/// The request of one Service.
pub fn request_of(svc: &Service) -> Request {
    let meta = &svc.metadata;
    let namespace = meta.namespace.clone().unwrap_or_default();
    let name = meta.name.clone().unwrap_or_default();
    let annotations = meta.annotations.clone().unwrap_or_default();
    let mut labels = meta.labels.clone().unwrap_or_default();
    labels.insert(SERVICE_NAMESPACE_LABEL.into(), namespace.clone());
    labels.insert(SERVICE_NAME_LABEL.into(), name.clone());
    let spec = svc.spec.clone().unwrap_or_default();
    let ips = annotations
        .get(IPS_ANNOTATION)
        .or_else(|| annotations.get(LEGACY_IPS_ANNOTATION))
        .cloned()
        .or(spec.load_balancer_ip.clone())
        .unwrap_or_default();
    let requested = ips
        .split(',')
        .filter_map(|s| s.trim().parse::<IpAddr>().ok())
        .collect();
    let list = |key: &str| -> Vec<String> {
        annotations
            .get(key)
            .map(|v| {
                v.split(',')
                    .map(|s| s.trim().to_string())
                    .filter(|s| !s.is_empty())
                    .collect()
            })
            .unwrap_or_default()
    };
    let current = svc
        .status
        .as_ref()
        .and_then(|s| s.load_balancer.as_ref())
        .and_then(|lb| lb.ingress.as_ref())
        .map(|ingress| {
            ingress
                .iter()
                .filter_map(|i| i.ip.as_deref()?.parse().ok())
                .collect()
        })
        .unwrap_or_default();
    Request {
        namespace,
        name,
        created: created(meta.creation_timestamp.as_ref()),
        labels,
        requested,
        sharing_key: annotations.get(SHARING_KEY_ANNOTATION).cloned(),
        share_with: list(SHARING_CROSS_NAMESPACE_ANNOTATION),
        ports: spec
            .ports
            .iter()
            .flatten()
            .map(|p| (p.protocol.clone().unwrap_or_else(|| "TCP".into()), p.port))
            .collect(),
        ipv6: spec
            .ip_families
            .as_ref()
            .and_then(|f| f.first())
            .is_some_and(|f| f == "IPv6"),
        current,
    }
}

/// Desired statuses computed from a snapshot.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Desired {
    /// `(namespace, name)` → Service `status` (loadBalancer + conditions).
    pub services: BTreeMap<(String, String), Value>,
    /// Pool name → pool `status`.
    pub pools: BTreeMap<String, Value>,
}

fn condition(type_: &str, ok: bool, reason: &str, message: &str, generation: Option<i64>) -> Value {
    json!({
        "type": type_,
        "status": if ok { "True" } else { "False" },
        "reason": reason,
        "message": message,
        "observedGeneration": generation.unwrap_or(1),
    })
}

/// Runs IPAM over the snapshot. Dormant (no Service statuses) while no pool
/// exists, like Cilium, so another load-balancer implementation can coexist.
pub fn desired(snapshot: &Snapshot) -> Desired {
    let mut out = Desired::default();
    if snapshot.address_pools.is_empty() {
        return out;
    }
    let mut problems = BTreeMap::new();
    let pools: Vec<Pool> = snapshot
        .address_pools
        .iter()
        .map(|p| {
            let (pool, errs) = pool_of(p);
            problems.insert(pool.name.clone(), errs);
            pool
        })
        .collect();
    let services: Vec<&Service> = snapshot.services.iter().filter(|s| wants_ipam(s)).collect();
    let requests: Vec<Request> = services.iter().map(|s| request_of(s)).collect();
    let allocation = allocate(&pools, &requests);
    for ((svc, r), result) in services.iter().zip(&requests).zip(&allocation.services) {
        let generation = svc.metadata.generation;
        let status = match result {
            Ok(ips) => json!({
                "loadBalancer": {"ingress": ips.iter().map(|ip| json!({"ip": ip.to_string()})).collect::<Vec<_>>()},
                "conditions": [condition(SATISFIED_CONDITION, true, "satisfied", "", generation)],
            }),
            Err(u) => json!({
                "loadBalancer": {},
                "conditions": [condition(SATISFIED_CONDITION, false, u.reason, &u.message, generation)],
            }),
        };
        out.services
            .insert((r.namespace.clone(), r.name.clone()), status);
    }
    for p in &snapshot.address_pools {
        let name = p.metadata.name.clone().unwrap_or_default();
        let report = allocation.pools.get(&name).cloned().unwrap_or_default();
        let generation = p.metadata.generation;
        let available = report.total.saturating_sub(report.used);
        let mut conditions = vec![
            condition(
                "portico.dev/IPsTotal",
                true,
                "noreason",
                &report.total.to_string(),
                generation,
            ),
            condition(
                "portico.dev/IPsAvailable",
                true,
                "noreason",
                &available.to_string(),
                generation,
            ),
            condition(
                "portico.dev/IPsUsed",
                true,
                "noreason",
                &report.used.to_string(),
                generation,
            ),
        ];
        let conflict = match (
            &report.conflict,
            problems.get(&name).filter(|p| !p.is_empty()),
        ) {
            (Some(older), _) => condition(
                "portico.dev/PoolConflict",
                true,
                "cidr_overlap",
                &format!("overlaps the older pool {older}; this pool allocates nothing new"),
                generation,
            ),
            (None, Some(errs)) => condition(
                "portico.dev/PoolConflict",
                true,
                "invalid_block",
                &errs.join("; "),
                generation,
            ),
            (None, None) => condition(
                "portico.dev/PoolConflict",
                false,
                "noreason",
                "",
                generation,
            ),
        };
        conditions.push(conflict);
        out.pools.insert(name, json!({ "conditions": conditions }));
    }
    out
}

#[cfg(test)]
mod tests {
    use portico_model::{IpPoolBlock, LoadBalancerIpPoolSpec, Object};

    use super::*;

    fn pool(name: &str, cidr: &str, allow: Option<&str>) -> Object {
        let mut p = LoadBalancerIpPool::new(
            name,
            LoadBalancerIpPoolSpec {
                blocks: vec![IpPoolBlock {
                    cidr: Some(cidr.into()),
                    ..IpPoolBlock::default()
                }],
                allow_first_last_ips: allow.map(str::to_string),
                ..LoadBalancerIpPoolSpec::default()
            },
        );
        p.metadata.generation = Some(1);
        Object::LoadBalancerIpPool(Box::new(p))
    }

    fn lb_service(name: &str, annotations: &[(&str, &str)]) -> Object {
        let svc: Service = serde_json::from_value(json!({
            "metadata": {"name": name, "namespace": "ns",
                "annotations": annotations.iter().map(|(k, v)| (k.to_string(), json!(v))).collect::<serde_json::Map<_, _>>()},
            "spec": {"type": "LoadBalancer", "ports": [{"port": 80, "protocol": "TCP"}]}
        }))
        .expect("service");
        Object::Service(Box::new(svc))
    }

    #[test]
    fn first_last_excluded_when_no() {
        let snap =
            Snapshot::from_objects([pool("p", "10.0.0.0/30", Some("No")), lb_service("a", &[])]);
        let d = desired(&snap);
        let status = &d.services[&("ns".into(), "a".into())];
        assert_eq!(status["loadBalancer"]["ingress"][0]["ip"], "10.0.0.1");
        assert_eq!(d.pools["p"]["conditions"][0]["message"], "2");
        assert_eq!(d.pools["p"]["conditions"][2]["message"], "1");
    }

    #[test]
    fn requested_ip_outside_pools_gets_no_pool_condition() {
        let snap = Snapshot::from_objects([
            pool("p", "10.0.0.0/30", None),
            lb_service("a", &[(IPS_ANNOTATION, "192.0.2.1")]),
        ]);
        let d = desired(&snap);
        let status = &d.services[&("ns".into(), "a".into())];
        assert_eq!(status["conditions"][0]["status"], "False");
        assert_eq!(status["conditions"][0]["reason"], "no_pool");
    }

    #[test]
    fn dormant_without_pools() {
        let snap = Snapshot::from_objects([lb_service("a", &[])]);
        assert!(desired(&snap).services.is_empty());
    }

    #[test]
    fn invalid_block_is_reported() {
        let snap = Snapshot::from_objects([pool("p", "not-a-cidr", None)]);
        let d = desired(&snap);
        assert_eq!(d.pools["p"]["conditions"][3]["reason"], "invalid_block");
    }
}
