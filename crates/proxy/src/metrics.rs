//! Counters the binary exports (the observe crate takes these over later).

use std::sync::atomic::{AtomicU64, Ordering};

/// Data-plane counters: plain atomics, updated with relaxed ordering on the
/// hot path, read with [`Metrics::snapshot`].
#[derive(Debug, Default)]
pub struct Metrics {
    pub requests_total: AtomicU64,
    pub connections_total: AtomicU64,
    pub active_connections: AtomicU64,
    pub active_requests: AtomicU64,
    /// Requests that matched no listener or route (404).
    pub no_route_total: AtomicU64,
    /// Requests answered 500 because the chosen backend is invalid or absent.
    pub invalid_backend_total: AtomicU64,
    /// Requests answered 503 because the cluster has no usable endpoint.
    pub no_endpoint_total: AtomicU64,
    /// Upstream connect failures and broken upstream exchanges.
    pub upstream_errors_total: AtomicU64,
    /// Request or backend-request timeouts (504).
    pub upstream_timeouts_total: AtomicU64,
    /// Retries sent after a first attempt.
    pub retries_total: AtomicU64,
    /// Endpoints ejected by passive outlier detection.
    pub outlier_ejections_total: AtomicU64,
    /// TCP/TLS connections closed because their bind was at its limit.
    pub stream_connections_refused_total: AtomicU64,
    pub responses_1xx: AtomicU64,
    pub responses_2xx: AtomicU64,
    pub responses_3xx: AtomicU64,
    pub responses_4xx: AtomicU64,
    pub responses_5xx: AtomicU64,
    /// Connections closed on PROXY-protocol binds, by cause.
    pub proxy_protocol_rejected: crate::proxy_protocol::Rejections,
    /// Connections closed on TLS and HTTPS binds before serving, by cause.
    pub tls_rejected: crate::rejections::Rejections<crate::rejections::TlsReject>,
}

/// A point-in-time copy of [`Metrics`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MetricsSnapshot {
    pub requests_total: u64,
    pub connections_total: u64,
    pub active_connections: u64,
    pub active_requests: u64,
    pub no_route_total: u64,
    pub invalid_backend_total: u64,
    pub no_endpoint_total: u64,
    pub upstream_errors_total: u64,
    pub upstream_timeouts_total: u64,
    pub retries_total: u64,
    pub outlier_ejections_total: u64,
    pub stream_connections_refused_total: u64,
    pub responses_1xx: u64,
    pub responses_2xx: u64,
    pub responses_3xx: u64,
    pub responses_4xx: u64,
    pub responses_5xx: u64,
    pub proxy_protocol_rejected: crate::proxy_protocol::RejectCounts,
    pub tls_rejected: crate::rejections::RejectCounts<crate::rejections::TlsReject>,
}

impl Metrics {
    pub fn snapshot(&self) -> MetricsSnapshot {
        let r = |a: &AtomicU64| a.load(Ordering::Relaxed);
        MetricsSnapshot {
            requests_total: r(&self.requests_total),
            connections_total: r(&self.connections_total),
            active_connections: r(&self.active_connections),
            active_requests: r(&self.active_requests),
            no_route_total: r(&self.no_route_total),
            invalid_backend_total: r(&self.invalid_backend_total),
            no_endpoint_total: r(&self.no_endpoint_total),
            upstream_errors_total: r(&self.upstream_errors_total),
            upstream_timeouts_total: r(&self.upstream_timeouts_total),
            retries_total: r(&self.retries_total),
            outlier_ejections_total: r(&self.outlier_ejections_total),
            stream_connections_refused_total: r(&self.stream_connections_refused_total),
            responses_1xx: r(&self.responses_1xx),
            responses_2xx: r(&self.responses_2xx),
            responses_3xx: r(&self.responses_3xx),
            responses_4xx: r(&self.responses_4xx),
            responses_5xx: r(&self.responses_5xx),
            proxy_protocol_rejected: self.proxy_protocol_rejected.snapshot(),
            tls_rejected: self.tls_rejected.snapshot(),
        }
    }

    pub(crate) fn incr(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn record_status(&self, status: u16) {
        let counter = match status {
            100..=199 => &self.responses_1xx,
            200..=299 => &self.responses_2xx,
            300..=399 => &self.responses_3xx,
            400..=499 => &self.responses_4xx,
            _ => &self.responses_5xx,
        };
        Metrics::incr(counter);
    }
}

/// Increments a gauge for as long as it lives.
pub(crate) struct GaugeGuard<'a>(&'a AtomicU64);

impl<'a> GaugeGuard<'a> {
    pub(crate) fn new(gauge: &'a AtomicU64) -> GaugeGuard<'a> {
        gauge.fetch_add(1, Ordering::Relaxed);
        GaugeGuard(gauge)
    }
}

impl Drop for GaugeGuard<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_classes_and_gauges() {
        let m = Metrics::default();
        m.record_status(204);
        m.record_status(404);
        m.record_status(503);
        {
            let _g = GaugeGuard::new(&m.active_requests);
            assert_eq!(m.snapshot().active_requests, 1);
        }
        let s = m.snapshot();
        assert_eq!(
            (s.responses_2xx, s.responses_4xx, s.responses_5xx),
            (1, 1, 1)
        );
        assert_eq!(s.active_requests, 0);
    }
}
