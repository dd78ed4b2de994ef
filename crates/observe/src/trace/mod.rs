//! OpenTelemetry traces over OTLP/gRPC, off unless configured.
//!
//! - [`context`]: W3C `traceparent` / `tracestate` parsing and formatting.
//! - [`Tracer`]: what the proxy holds. [`Tracer::start_span`] continues the
//!   caller's trace (or starts one) and decides sampling;
//!   [`Tracer::end_span`] queues the finished span without waiting: a full
//!   queue drops it and counts the drop.
//! - The exporter task batches queued spans into `TraceService/Export`
//!   calls (protos written from the published opentelemetry-proto
//!   definitions, compiled by `build.rs`), backing off while the collector
//!   fails and logging once per cause.
//!
//! ```no_run
//! # async fn wire(registry: &mut prometheus_client::registry::Registry) -> Result<(), portico_observe::Error> {
//! use portico_observe::trace::{self, OtlpConfig, TraceMetrics};
//!
//! let metrics = TraceMetrics::register(registry);
//! let (tracer, exporter) = trace::start(OtlpConfig::new("http://127.0.0.1:4317"), metrics)?;
//! // give `tracer` to the proxy; on shutdown:
//! exporter.shutdown().await;
//! # drop(tracer);
//! # Ok(())
//! # }
//! ```

pub mod context;
mod encode;
mod exporter;
mod metrics;
pub mod proto;
mod sampler;
mod span;

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use tokio::sync::mpsc;

pub use context::{SpanId, TraceId, TraceParent, parse_tracestate};
pub use encode::SCOPE;
pub use exporter::TraceExporter;
pub use metrics::{DropReason, TraceMetrics};
pub use sampler::Sampler;
pub use span::{AttrValue, ServerSpan, SpanRecord, SpanStatus};

use encode::ResourceInfo;
use exporter::Settings;
use proto::collector::trace_service_client::TraceServiceClient;

/// The default OTLP/gRPC endpoint (a collector on this host).
pub const DEFAULT_ENDPOINT: &str = "http://127.0.0.1:4317";

/// Exporter settings.
#[derive(Clone, Debug)]
pub struct OtlpConfig {
    /// `http://HOST:PORT` of an OTLP/gRPC collector.
    pub endpoint: String,
    /// The `service.name` resource attribute.
    pub service_name: String,
    /// Share of new traces recorded (0..=1); a caller's sampled flag wins.
    pub sampling_ratio: f64,
    /// Finished spans waiting for export; beyond this they are dropped.
    pub queue_capacity: usize,
    /// Most spans in one export request.
    pub max_batch: usize,
    /// Longest a span waits in a partial batch.
    pub flush_interval: Duration,
    /// Deadline of one export request.
    pub export_timeout: Duration,
}

impl OtlpConfig {
    /// Defaults: service `portico`, every trace sampled, 2048 queued spans,
    /// batches of 512, flushed every 5 s, 10 s export deadline.
    pub fn new(endpoint: impl Into<String>) -> OtlpConfig {
        OtlpConfig {
            endpoint: endpoint.into(),
            service_name: "portico".to_owned(),
            sampling_ratio: 1.0,
            queue_capacity: 2048,
            max_batch: 512,
            flush_interval: Duration::from_secs(5),
            export_timeout: Duration::from_secs(10),
        }
    }
}

/// Checks the endpoint and starts the exporter task (inside a Tokio
/// runtime). The collector need not be up: connections are made lazily
/// and retried with backoff.
pub fn start(
    config: OtlpConfig,
    metrics: TraceMetrics,
) -> Result<(Tracer, TraceExporter), crate::Error> {
    if !(0.0..=1.0).contains(&config.sampling_ratio) {
        return Err(crate::Error::SamplingRatio(config.sampling_ratio));
    }
    let channel = exporter::channel(&config.endpoint, config.export_timeout)?;
    let (tracer, rx) = Tracer::channel(
        Sampler::ratio(config.sampling_ratio),
        config.queue_capacity,
        metrics.clone(),
    );
    tracing::info!(
        endpoint = %config.endpoint,
        service = %config.service_name,
        ratio = config.sampling_ratio,
        "OTLP trace export on"
    );
    let exporter = TraceExporter::spawn(
        rx,
        TraceServiceClient::new(channel),
        Settings {
            max_batch: config.max_batch,
            flush_interval: config.flush_interval,
            export_timeout: config.export_timeout,
            resource: ResourceInfo {
                service_name: config.service_name,
                service_version: env!("CARGO_PKG_VERSION").to_owned(),
            },
        },
        metrics,
        config.endpoint,
    );
    Ok((tracer, exporter))
}

/// Starts and ends server spans. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Tracer {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    tx: mpsc::Sender<SpanRecord>,
    sampler: Sampler,
    metrics: TraceMetrics,
}

impl Tracer {
    /// A tracer whose finished spans go to the returned receiver (the
    /// exporter's queue; tests read it directly).
    pub fn channel(
        sampler: Sampler,
        capacity: usize,
        metrics: TraceMetrics,
    ) -> (Tracer, mpsc::Receiver<SpanRecord>) {
        let (tx, rx) = mpsc::channel(capacity.max(1));
        let tracer = Tracer {
            inner: Arc::new(Inner {
                tx,
                sampler,
                metrics,
            }),
        };
        (tracer, rx)
    }

    /// A server span for a request that carried these header values: the
    /// caller's trace continues when `traceparent` is valid (its
    /// `tracestate` is kept if valid too); otherwise a new trace starts and
    /// `tracestate` is ignored, as W3C asks.
    pub fn start_span(&self, traceparent: Option<&str>, tracestate: Option<&str>) -> ServerSpan {
        let parent = traceparent.and_then(TraceParent::parse);
        let trace_id = parent.map_or_else(TraceId::random, |p| p.trace_id);
        let sampled = self.inner.sampler.sample(parent.as_ref(), trace_id);
        ServerSpan {
            trace_id,
            span_id: SpanId::random(),
            parent: parent.map(|p| p.parent_id),
            trace_state: parent.and(tracestate).and_then(parse_tracestate),
            sampled,
            start: SystemTime::now(),
            started: Instant::now(),
            attributes: Vec::new(),
        }
    }

    /// Ends `span` and queues it for export; never waits. A full queue
    /// drops the span (counted as `queue_full`).
    pub fn end_span(&self, span: ServerSpan, name: String, status: SpanStatus) {
        let Some(record) = span.finish(name, status) else {
            return;
        };
        if self.inner.tx.try_send(record).is_err() {
            self.inner.metrics.dropped(DropReason::QueueFull, 1);
        }
    }

    pub fn metrics(&self) -> &TraceMetrics {
        &self.inner.metrics
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    #[test]
    fn continues_a_valid_parent_and_keeps_its_tracestate() {
        let (tracer, mut rx) = Tracer::channel(Sampler::ratio(0.0), 4, TraceMetrics::default());
        let mut span = tracer.start_span(Some(PARENT), Some("rojo=1,congo=2"));
        assert!(
            span.is_sampled(),
            "the caller's sampled flag wins over ratio 0"
        );
        let sent = span.traceparent();
        assert_eq!(sent.trace_id.to_hex(), "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(sent.parent_id, span.span_id());
        assert_ne!(sent.parent_id.to_hex(), "00f067aa0ba902b7");
        assert_eq!(span.trace_state(), Some("rojo=1,congo=2"));
        span.set_int("http.response.status_code", 200);
        tracer.end_span(span, "GET".into(), SpanStatus::Unset);
        let rec = rx.try_recv().expect("queued");
        assert_eq!(
            rec.parent_span_id.map(SpanId::to_hex).as_deref(),
            Some("00f067aa0ba902b7")
        );
        assert_eq!(rec.attributes.len(), 1);
        assert!(rec.end >= rec.start);
    }

    #[test]
    fn malformed_parent_starts_a_new_trace_without_tracestate() {
        let (tracer, _rx) = Tracer::channel(Sampler::ratio(1.0), 4, TraceMetrics::default());
        let span = tracer.start_span(Some("00-xyz"), Some("rojo=1"));
        assert_eq!(span.parent(), None);
        assert_eq!(span.trace_state(), None);
        assert!(span.is_sampled());
    }

    #[test]
    fn unsampled_spans_are_not_queued_and_a_full_queue_counts_drops() {
        let metrics = TraceMetrics::default();
        let (tracer, mut rx) = Tracer::channel(Sampler::ratio(1.0), 1, metrics.clone());
        let mut unsampled = tracer.start_span(Some(&PARENT.replace("-01", "-00")), None);
        unsampled.set_str("ignored", "x");
        assert_eq!(unsampled.traceparent().flags, 0);
        tracer.end_span(unsampled, "GET".into(), SpanStatus::Unset);
        assert!(rx.try_recv().is_err());
        for _ in 0..3 {
            let s = tracer.start_span(None, None);
            tracer.end_span(s, "GET".into(), SpanStatus::Unset);
        }
        assert_eq!(metrics.dropped_total(DropReason::QueueFull), 2);
        assert!(rx.try_recv().is_ok());
    }

    #[test]
    fn bad_sampling_ratio_is_refused() {
        let mut cfg = OtlpConfig::new(DEFAULT_ENDPOINT);
        cfg.sampling_ratio = 1.5;
        assert!(matches!(
            start(cfg, TraceMetrics::default()),
            Err(crate::Error::SamplingRatio(_))
        ));
    }
}
