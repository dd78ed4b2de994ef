//! The proxy's counters, exported through the admin `/metrics` endpoint.

use std::sync::Arc;

use portico_observe::collector::{FnCollector, Sample, SampleKind};
use portico_proxy::Metrics;
use prometheus_client::registry::Registry;

/// Registers the proxy's counters (read at scrape time) as `portico_proxy_*`.
pub fn register(registry: &mut Registry, metrics: Arc<Metrics>) {
    let collector = FnCollector::new(move || samples(&metrics));
    registry
        .sub_registry_with_prefix(portico_observe::metrics::PREFIX)
        .register_collector(Box::new(collector));
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
