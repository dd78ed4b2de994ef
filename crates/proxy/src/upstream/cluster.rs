//! A cluster's live state: endpoints (swapped atomically on updates) and
//! its load balancer (kept across updates).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use arc_swap::ArcSwap;
use portico_ir::{
    AppProtocol, BackendTls, Cluster, ClusterId, Endpoint, LbAlgorithm, ProxyProtocolVersion,
};

use super::backend_tls::BackendTlsConfig;
use super::endpoint::EndpointState;
use crate::lb::{Balancer, MaglevTable};
use portico_observe::flow::ServiceRef;

#[derive(Debug)]
pub struct ClusterState {
    pub id: ClusterId,
    /// For flow records.
    pub flow_service: ServiceRef,
    pub protocol: AppProtocol,
    pub algorithm: LbAlgorithm,
    /// BackendTLSPolicy: `Err` when the policy cannot be used (requests
    /// fail rather than silently going out in plaintext).
    pub tls: Result<Option<Arc<BackendTlsConfig>>, String>,
    tls_spec: Option<BackendTls>,
    /// Write a PROXY protocol header first on every new connection.
    pub proxy_protocol: Option<ProxyProtocolVersion>,
    balancer: Balancer,
    endpoints: ArcSwap<Endpoints>,
}

/// One generation of a cluster's endpoints.
#[derive(Debug, Default)]
pub struct Endpoints {
    /// As given by the IR, to detect changes.
    spec: Vec<Endpoint>,
    /// Every endpoint (terminating ones included: in-flight work drains).
    all: Vec<Arc<EndpointState>>,
    /// Those eligible for new requests.
    usable: Vec<Arc<EndpointState>>,
    /// Maglev clusters: the lookup table over `usable`.
    maglev: Option<MaglevTable>,
}

impl ClusterState {
    pub fn new(cluster: &Cluster) -> ClusterState {
        let state = ClusterState {
            id: cluster.id.clone(),
            flow_service: ServiceRef {
                namespace: cluster.service.namespace.as_str().into(),
                name: cluster.service.name.as_str().into(),
            },
            protocol: cluster.protocol,
            algorithm: cluster.lb,
            tls: match &cluster.tls {
                None => Ok(None),
                Some(t) => BackendTlsConfig::compile(t).map(|c| Some(Arc::new(c))).map_err(|e| {
                    tracing::warn!(cluster = %cluster.id, error = %e, "backend TLS unusable; requests fail");
                    e.to_string()
                }),
            },
            tls_spec: cluster.tls.clone(),
            proxy_protocol: cluster.proxy_protocol,
            balancer: Balancer::new(cluster.lb),
            endpoints: ArcSwap::from_pointee(Endpoints::default()),
        };
        state.set_endpoints(&cluster.endpoints);
        state
    }

    /// Whether this state can be updated in place for `cluster` (same
    /// protocol and algorithm); otherwise a fresh state replaces it.
    pub fn compatible(&self, cluster: &Cluster) -> bool {
        self.protocol == cluster.protocol
            && self.algorithm == cluster.lb
            && self.tls_spec == cluster.tls
            && self.proxy_protocol == cluster.proxy_protocol
    }

    /// Swaps in new endpoints, keeping the state (pools, counters) of
    /// addresses that stay. No-op when nothing changed.
    pub fn set_endpoints(&self, spec: &[Endpoint]) {
        let current = self.endpoints.load();
        if current.spec == spec && !spec.is_empty() {
            return;
        }
        let mut known: HashMap<SocketAddr, &Arc<EndpointState>> =
            current.all.iter().map(|e| (e.address, e)).collect();
        let mut all = Vec::with_capacity(spec.len());
        let mut usable = Vec::with_capacity(spec.len());
        for ep in spec {
            let state = match known.remove(&ep.address) {
                Some(existing) => Arc::clone(existing),
                None => Arc::new(EndpointState::new(ep.address)),
            };
            if ep.is_usable() {
                usable.push(Arc::clone(&state));
            }
            all.push(state);
        }
        let maglev = match self.algorithm {
            LbAlgorithm::Maglev => {
                let addrs: Vec<SocketAddr> = usable.iter().map(|e| e.address).collect();
                MaglevTable::build(&addrs)
            }
            _ => None,
        };
        self.endpoints.store(Arc::new(Endpoints {
            spec: spec.to_vec(),
            all,
            usable,
            maglev,
        }));
    }

    /// The endpoint for the next request, `None` when none is usable.
    /// `hash` keys consistent-hashing clusters (Maglev); others ignore it.
    /// Ejected outliers are skipped unless every endpoint is ejected (then
    /// traffic keeps flowing rather than failing outright).
    pub fn pick(&self, hash: u64) -> Option<Arc<EndpointState>> {
        let eps = self.endpoints.load();
        let usable = &eps.usable;
        let choose = |salt: u64| -> Option<usize> {
            match &eps.maglev {
                Some(table) => table.pick(hash.wrapping_add(salt)),
                None => self.balancer.pick(usable.len(), |i| usable[i].active()),
            }
        };
        let first = choose(0)?;
        if !usable.get(first)?.outlier.is_ejected() {
            return usable.get(first).cloned();
        }
        for salt in 1..4u64 {
            if let Some(ep) = choose(salt).and_then(|i| usable.get(i))
                && !ep.outlier.is_ejected()
            {
                return Some(Arc::clone(ep));
            }
        }
        usable
            .iter()
            .find(|e| !e.outlier.is_ejected())
            .or_else(|| usable.get(first))
            .cloned()
    }

    /// Whether [`ClusterState::pick`] uses its `hash` argument.
    pub fn wants_hash(&self) -> bool {
        self.algorithm == LbAlgorithm::Maglev
    }

    /// The usable, non-ejected endpoint a session token names.
    pub fn by_session_token(&self, token: &str) -> Option<Arc<EndpointState>> {
        self.endpoints
            .load()
            .usable
            .iter()
            .find(|e| &*e.session_token == token && !e.outlier.is_ejected())
            .cloned()
    }

    pub fn usable_count(&self) -> usize {
        self.endpoints.load().usable.len()
    }

    /// The state kept for `address`, if it is in the cluster.
    pub fn endpoint(&self, address: SocketAddr) -> Option<Arc<EndpointState>> {
        self.endpoints
            .load()
            .all
            .iter()
            .find(|e| e.address == address)
            .cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use portico_ir::ObjectRef;

    fn ep(addr: &str, ready: bool, terminating: bool) -> Endpoint {
        Endpoint {
            address: addr.parse().unwrap(),
            ready,
            serving: ready,
            terminating,
            name: None,
            zone: None,
        }
    }

    fn cluster(endpoints: Vec<Endpoint>) -> Cluster {
        Cluster {
            id: ClusterId::new("ns", "svc", 80),
            service: ObjectRef::default(),
            port: 80,
            protocol: AppProtocol::Http1,
            lb: LbAlgorithm::RoundRobin,
            endpoints,
            tls: None,
            proxy_protocol: None,
        }
    }

    #[test]
    fn only_usable_endpoints_are_picked() {
        let c = ClusterState::new(&cluster(vec![
            ep("10.0.0.1:80", true, false),
            ep("10.0.0.2:80", false, false),
            ep("10.0.0.3:80", true, true),
        ]));
        assert_eq!(c.usable_count(), 1);
        for _ in 0..5 {
            assert_eq!(c.pick(0).unwrap().address, "10.0.0.1:80".parse().unwrap());
        }
        c.set_endpoints(&[]);
        assert!(c.pick(0).is_none());
    }

    #[test]
    fn endpoint_state_survives_updates() {
        let c = ClusterState::new(&cluster(vec![ep("10.0.0.1:80", true, false)]));
        let before = c.endpoint("10.0.0.1:80".parse().unwrap()).unwrap();
        c.set_endpoints(&[
            ep("10.0.0.1:80", true, false),
            ep("10.0.0.2:80", true, false),
        ]);
        let after = c.endpoint("10.0.0.1:80".parse().unwrap()).unwrap();
        assert!(Arc::ptr_eq(&before, &after));
        assert_eq!(c.usable_count(), 2);
    }

    #[test]
    fn maglev_is_sticky_per_hash() {
        let mut spec = cluster(vec![
            ep("10.0.0.1:80", true, false),
            ep("10.0.0.2:80", true, false),
            ep("10.0.0.3:80", true, false),
        ]);
        spec.lb = LbAlgorithm::Maglev;
        let c = ClusterState::new(&spec);
        assert!(c.wants_hash());
        for h in [1u64, 42, 7_000_000_007] {
            let first = c.pick(h).unwrap().address;
            assert!((0..5).all(|_| c.pick(h).unwrap().address == first));
        }
        let spread: std::collections::HashSet<_> = (0..200u64)
            .map(|h| c.pick(h * 7919).unwrap().address)
            .collect();
        assert_eq!(spread.len(), 3, "all endpoints get some hashes");
    }

    #[test]
    fn compatibility() {
        let c = ClusterState::new(&cluster(vec![]));
        let mut other = cluster(vec![]);
        assert!(c.compatible(&other));
        other.protocol = AppProtocol::H2c;
        assert!(!c.compatible(&other));
    }
}
