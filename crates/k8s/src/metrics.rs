//! Prometheus metrics of the Kubernetes layer.

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

/// Counters; clones share the values.
#[derive(Clone, Debug, Default)]
pub struct Metrics {
    /// Status subresource writes (all kinds, Services' included).
    pub status_writes: Counter,
    /// Gateway Service create/update applies.
    pub service_writes: Counter,
    /// Reconcile passes.
    pub reconciles: Counter,
    /// Failed API writes.
    pub write_errors: Counter,
    /// 1 while this replica holds the leader Lease, else 0.
    pub leader: Gauge,
}

impl Metrics {
    pub fn register(registry: &mut Registry) -> Metrics {
        let m = Metrics::default();
        let r = registry.sub_registry_with_prefix("portico_kubernetes");
        r.register(
            "status_writes",
            "Status subresource writes",
            m.status_writes.clone(),
        );
        r.register(
            "service_writes",
            "Gateway Service applies",
            m.service_writes.clone(),
        );
        r.register("reconciles", "Reconcile passes", m.reconciles.clone());
        r.register("write_errors", "Failed API writes", m.write_errors.clone());
        r.register(
            "leader",
            "1 while this replica holds the leader Lease",
            m.leader.clone(),
        );
        m
    }
}
