//! Upstream clusters, endpoint choice and connection pools. Cluster state is
//! keyed by [`ClusterId`] and survives IR updates.

mod backend_tls;
mod backends;
mod client;
mod cluster;
mod endpoint;
pub(crate) mod h1;
mod h1_tls;
mod h2;
mod outlier;
mod san_verifier;

pub use backends::{Backend, BackendSet, Target};
pub use client::{Clients, SendError};
pub use cluster::ClusterState;
pub use endpoint::{EndpointState, InflightGuard};
pub use outlier::OutlierPolicy;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use portico_ir::{Cluster, ClusterId};

/// The live clusters, updated in place from each IR.
#[derive(Debug, Default)]
pub struct Upstreams {
    clusters: HashMap<ClusterId, Arc<ClusterState>>,
}

impl Upstreams {
    /// Adopts `clusters`: unchanged ones keep their state, changed endpoints
    /// are swapped in, removed clusters are dropped (in-flight requests hold
    /// their own references).
    pub fn update(&mut self, clusters: &BTreeMap<ClusterId, Cluster>) {
        self.clusters.retain(|id, _| clusters.contains_key(id));
        for (id, cluster) in clusters {
            match self.clusters.get(id) {
                Some(state) if state.compatible(cluster) => state.set_endpoints(&cluster.endpoints),
                _ => {
                    self.clusters
                        .insert(id.clone(), Arc::new(ClusterState::new(cluster)));
                }
            }
        }
    }

    pub fn get(&self, id: &ClusterId) -> Option<&Arc<ClusterState>> {
        self.clusters.get(id)
    }

    pub fn len(&self) -> usize {
        self.clusters.len()
    }

    pub fn is_empty(&self) -> bool {
        self.clusters.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use portico_ir::{AppProtocol, Endpoint, LbAlgorithm, ObjectRef};

    fn cluster(name: &str, lb: LbAlgorithm, addrs: &[&str]) -> Cluster {
        Cluster {
            id: ClusterId::new("ns", name, 80),
            service: ObjectRef::default(),
            port: 80,
            protocol: AppProtocol::Http1,
            lb,
            endpoints: addrs
                .iter()
                .map(|a| Endpoint {
                    address: a.parse().unwrap(),
                    ready: true,
                    serving: true,
                    terminating: false,
                    name: None,
                    zone: None,
                })
                .collect(),
            tls: None,
            proxy_protocol: None,
        }
    }

    fn map(cs: Vec<Cluster>) -> BTreeMap<ClusterId, Cluster> {
        cs.into_iter().map(|c| (c.id.clone(), c)).collect()
    }

    #[test]
    fn state_is_kept_replaced_or_dropped() {
        let mut up = Upstreams::default();
        up.update(&map(vec![
            cluster("a", LbAlgorithm::RoundRobin, &["10.0.0.1:80"]),
            cluster("b", LbAlgorithm::RoundRobin, &["10.0.0.2:80"]),
        ]));
        let a = up.get(&ClusterId::new("ns", "a", 80)).unwrap().clone();
        let b = up.get(&ClusterId::new("ns", "b", 80)).unwrap().clone();
        up.update(&map(vec![
            cluster(
                "a",
                LbAlgorithm::RoundRobin,
                &["10.0.0.1:80", "10.0.0.3:80"],
            ),
            cluster("b", LbAlgorithm::Random, &["10.0.0.2:80"]),
        ]));
        let a2 = up.get(&ClusterId::new("ns", "a", 80)).unwrap();
        assert!(Arc::ptr_eq(&a, a2), "same settings: updated in place");
        assert_eq!(a2.usable_count(), 2);
        assert!(!Arc::ptr_eq(
            &b,
            up.get(&ClusterId::new("ns", "b", 80)).unwrap()
        ));
        up.update(&map(vec![cluster(
            "a",
            LbAlgorithm::RoundRobin,
            &["10.0.0.1:80"],
        )]));
        assert_eq!(up.len(), 1);
    }
}
