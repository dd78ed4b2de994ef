//! The proxy's counters, exported through the admin `/metrics` endpoint.

use std::sync::Arc;

use portico_observe::collector::{FnCollector, Sample, SampleKind};
use portico_proxy::Metrics;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::registry::Registry;

/// Registers the proxy's counters (read at scrape time) as `portico_proxy_*`.
pub fn register(registry: &mut Registry, metrics: Arc<Metrics>) {
    let rejected = ProxyProtocolRejected(Arc::clone(&metrics));
    let collector = FnCollector::new(move || samples(&metrics));
    let sub = registry.sub_registry_with_prefix(portico_observe::metrics::PREFIX);
    sub.register_collector(Box::new(collector));
    sub.register_collector(Box::new(rejected));
}

/// `portico_proxy_protocol_rejected_total{cause}`: connections closed on
/// PROXY-protocol listeners (missing, malformed, truncated, oversized
/// header, or none before the deadline).
#[derive(Debug)]
struct ProxyProtocolRejected(Arc<Metrics>);

impl Collector for ProxyProtocolRejected {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> Result<(), std::fmt::Error> {
        let counts = self.0.proxy_protocol_rejected.snapshot();
        let mut family = encoder.encode_descriptor(
            "proxy_protocol_rejected",
            "Connections closed on PROXY-protocol listeners, by cause",
            None,
            MetricType::Counter,
        )?;
        for (cause, n) in counts.iter() {
            ConstCounter::new(n).encode(family.encode_family(&[("cause", cause)])?)?;
        }
        Ok(())
    }
}

fn samples(metrics: &Metrics) -> Vec<Sample> {
    use SampleKind::{Counter, Gauge};
    let s = metrics.snapshot();
    let sample = |name, help, kind, value| Sample {
        name,
        help,
        kind,
        value,
    };
    vec![
        sample(
            "proxy_requests",
            "HTTP requests received",
            Counter,
            s.requests_total,
        ),
        sample(
            "proxy_connections",
            "Downstream connections accepted",
            Counter,
            s.connections_total,
        ),
        sample(
            "proxy_active_connections",
            "Open downstream connections",
            Gauge,
            s.active_connections,
        ),
        sample(
            "proxy_active_requests",
            "Requests in flight",
            Gauge,
            s.active_requests,
        ),
        sample(
            "proxy_no_route",
            "Requests that matched no listener or route (404)",
            Counter,
            s.no_route_total,
        ),
        sample(
            "proxy_invalid_backend",
            "Requests answered 500 for an invalid or missing backend",
            Counter,
            s.invalid_backend_total,
        ),
        sample(
            "proxy_no_endpoint",
            "Requests answered 503 for a cluster without usable endpoints",
            Counter,
            s.no_endpoint_total,
        ),
        sample(
            "proxy_upstream_errors",
            "Upstream connect failures and broken exchanges",
            Counter,
            s.upstream_errors_total,
        ),
        sample(
            "proxy_upstream_timeouts",
            "Request or backend-request timeouts (504)",
            Counter,
            s.upstream_timeouts_total,
        ),
        sample(
            "proxy_retries",
            "Retries after a first attempt",
            Counter,
            s.retries_total,
        ),
        sample(
            "proxy_responses_1xx",
            "Responses with a 1xx status",
            Counter,
            s.responses_1xx,
        ),
        sample(
            "proxy_responses_2xx",
            "Responses with a 2xx status",
            Counter,
            s.responses_2xx,
        ),
        sample(
            "proxy_responses_3xx",
            "Responses with a 3xx status",
            Counter,
            s.responses_3xx,
        ),
        sample(
            "proxy_responses_4xx",
            "Responses with a 4xx status",
            Counter,
            s.responses_4xx,
        ),
        sample(
            "proxy_responses_5xx",
            "Responses with a 5xx status",
            Counter,
            s.responses_5xx,
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proxy_protocol_rejections_are_labelled_by_cause() {
        let mut registry = Registry::default();
        register(&mut registry, Arc::new(Metrics::default()));
        let text = portico_observe::metrics::encode(&registry);
        for cause in ["missing", "malformed", "truncated", "oversized", "timeout"] {
            let line = format!("portico_proxy_protocol_rejected_total{{cause=\"{cause}\"}} 0");
            assert!(text.contains(&line), "{line} in {text}");
        }
        assert!(text.contains("portico_proxy_requests_total 0"), "{text}");
    }
}
