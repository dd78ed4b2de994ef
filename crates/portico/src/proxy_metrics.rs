//! The proxy's counters, exported through the admin `/metrics` endpoint.

use std::sync::Arc;

use portico_observe::collector::{FnCollector, Sample, SampleKind};
use portico_proxy::Metrics;
use portico_proxy::rejections::{Cause, RejectCounts};
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::registry::Registry;

/// Registers the proxy's counters (read at scrape time) as `portico_proxy_*`,
/// and the rejected-connection counters by cause.
pub fn register(registry: &mut Registry, metrics: Arc<Metrics>) {
    let proxy_protocol = {
        let metrics = Arc::clone(&metrics);
        Rejected::new(
            "Connections closed on PROXY-protocol listeners, by cause",
            move || metrics.proxy_protocol_rejected.snapshot(),
        )
    };
    let tls = {
        let metrics = Arc::clone(&metrics);
        Rejected::new(
            "Connections closed on TLS and HTTPS listeners before serving, by cause",
            move || metrics.tls_rejected.snapshot(),
        )
    };
    let collector = FnCollector::new(move || samples(&metrics));
    let sub = registry.sub_registry_with_prefix(portico_observe::metrics::PREFIX);
    sub.register_collector(Box::new(collector));
    sub.register_collector(Box::new(proxy_protocol));
    sub.register_collector(Box::new(tls));
}

/// `portico_<C::METRIC>_total{cause}`: connections closed before serving
/// (PROXY-protocol header problems, TLS problems), one sample per cause.
struct Rejected<C: Cause> {
    help: &'static str,
    read: Box<dyn Fn() -> RejectCounts<C> + Send + Sync>,
}

impl<C: Cause> Rejected<C> {
    fn new(
        help: &'static str,
        read: impl Fn() -> RejectCounts<C> + Send + Sync + 'static,
    ) -> Rejected<C> {
        Rejected {
            help,
            read: Box::new(read),
        }
    }
}

impl<C: Cause> std::fmt::Debug for Rejected<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Rejected")
            .field("metric", &C::METRIC)
            .finish()
    }
}

impl<C: Cause> Collector for Rejected<C> {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> Result<(), std::fmt::Error> {
        let counts = (self.read)();
        let mut family =
            encoder.encode_descriptor(C::METRIC, self.help, None, MetricType::Counter)?;
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
            "proxy_stream_connections_refused",
            "TCP/TLS connections closed because their listener was at its connection limit",
            Counter,
            s.stream_connections_refused_total,
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
        for cause in ["not_tls", "truncated", "timeout", "no_route", "handshake"] {
            let line = format!("portico_tls_rejected_total{{cause=\"{cause}\"}} 0");
            assert!(text.contains(&line), "{line} in {text}");
        }
        assert!(text.contains("portico_proxy_requests_total 0"), "{text}");
    }
}
