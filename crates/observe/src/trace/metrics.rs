//! Counters of the span exporter (`portico_otlp_*`).

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;

use crate::metrics::PREFIX;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabel {
    reason: &'static str,
}

/// Why a finished span never reached the collector.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DropReason {
    /// The export queue was full (the exporter is behind or backing off).
    QueueFull,
    /// The export request failed (collector unreachable, timeout, error).
    ExportFailed,
    /// The collector answered with a partial success rejecting spans.
    Rejected,
}

impl DropReason {
    fn label(self) -> &'static str {
        match self {
            DropReason::QueueFull => "queue_full",
            DropReason::ExportFailed => "export_failed",
            DropReason::Rejected => "rejected",
        }
    }
}

/// Cheap to clone; unregistered by default (counts are still kept).
#[derive(Clone, Debug, Default)]
pub struct TraceMetrics {
    exported: Counter,
    dropped: Family<ReasonLabel, Counter>,
    export_errors: Counter,
}

impl TraceMetrics {
    /// Registers `portico_otlp_spans_exported_total`,
    /// `portico_otlp_spans_dropped_total{reason}` and
    /// `portico_otlp_export_errors_total` in `registry`.
    pub fn register(registry: &mut Registry) -> TraceMetrics {
        let m = TraceMetrics::default();
        let sub = registry.sub_registry_with_prefix(PREFIX);
        sub.register(
            "otlp_spans_exported",
            "Spans accepted by the OTLP collector",
            m.exported.clone(),
        );
        sub.register(
            "otlp_spans_dropped",
            "Spans dropped before reaching the OTLP collector, by reason",
            m.dropped.clone(),
        );
        sub.register(
            "otlp_export_errors",
            "Failed OTLP export requests",
            m.export_errors.clone(),
        );
        m
    }

    pub(super) fn exported(&self, n: u64) {
        self.exported.inc_by(n);
    }

    pub(super) fn dropped(&self, reason: DropReason, n: u64) {
        self.dropped
            .get_or_create(&ReasonLabel {
                reason: reason.label(),
            })
            .inc_by(n);
    }

    pub(super) fn export_error(&self) {
        self.export_errors.inc();
    }

    /// Spans the collector accepted so far.
    pub fn exported_total(&self) -> u64 {
        self.exported.get()
    }

    /// Spans dropped so far for `reason`.
    pub fn dropped_total(&self, reason: DropReason) -> u64 {
        self.dropped
            .get_or_create(&ReasonLabel {
                reason: reason.label(),
            })
            .get()
    }

    /// Failed export requests so far.
    pub fn export_errors_total(&self) -> u64 {
        self.export_errors.get()
    }
}
