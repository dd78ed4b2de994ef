//! One server span: started when a request arrives, ended when its
//! response head is ready, then handed to the exporter queue.

use std::time::{Instant, SystemTime};

use super::context::{FLAG_SAMPLED, SpanId, TraceId, TraceParent};

/// An attribute value (the OTLP kinds Portico uses).
#[derive(Clone, Debug, PartialEq)]
pub enum AttrValue {
    Str(String),
    Int(i64),
}

/// OTLP span status.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SpanStatus {
    Unset,
    Error,
}

/// A finished span, as queued for export.
#[derive(Clone, Debug, PartialEq)]
pub struct SpanRecord {
    pub trace_id: TraceId,
    pub span_id: SpanId,
    pub parent_span_id: Option<SpanId>,
    pub trace_state: Option<String>,
    pub flags: u8,
    pub name: String,
    pub start: SystemTime,
    pub end: SystemTime,
    pub attributes: Vec<(&'static str, AttrValue)>,
    pub status: SpanStatus,
}

/// The span of one proxied request. Only a sampled span records
/// attributes; an unsampled one still has ids, so the trace context sent
/// to the backend stays consistent.
#[derive(Debug)]
pub struct ServerSpan {
    pub(super) trace_id: TraceId,
    pub(super) span_id: SpanId,
    pub(super) parent: Option<SpanId>,
    pub(super) trace_state: Option<String>,
    pub(super) sampled: bool,
    pub(super) start: SystemTime,
    pub(super) started: Instant,
    pub(super) attributes: Vec<(&'static str, AttrValue)>,
}

impl ServerSpan {
    pub fn trace_id(&self) -> TraceId {
        self.trace_id
    }

    pub fn span_id(&self) -> SpanId {
        self.span_id
    }

    /// The caller's span, when the request carried a valid `traceparent`.
    pub fn parent(&self) -> Option<SpanId> {
        self.parent
    }

    pub fn is_sampled(&self) -> bool {
        self.sampled
    }

    /// The `traceparent` to send to the backend: same trace, this span as
    /// the parent, this span's sampling decision.
    pub fn traceparent(&self) -> TraceParent {
        TraceParent {
            trace_id: self.trace_id,
            parent_id: self.span_id,
            flags: if self.sampled { FLAG_SAMPLED } else { 0 },
        }
    }

    /// The validated `tracestate` received with the request (forwarded
    /// unchanged).
    pub fn trace_state(&self) -> Option<&str> {
        self.trace_state.as_deref()
    }

    /// Records a string attribute (ignored when the span is not sampled).
    pub fn set_str(&mut self, key: &'static str, value: impl Into<String>) {
        if self.sampled {
            self.attributes.push((key, AttrValue::Str(value.into())));
        }
    }

    /// Records an integer attribute (ignored when the span is not sampled).
    pub fn set_int(&mut self, key: &'static str, value: i64) {
        if self.sampled {
            self.attributes.push((key, AttrValue::Int(value)));
        }
    }

    /// The finished span, or `None` when it is not sampled.
    pub(super) fn finish(self, name: String, status: SpanStatus) -> Option<SpanRecord> {
        if !self.sampled {
            return None;
        }
        let end = self.start + self.started.elapsed();
        Some(SpanRecord {
            trace_id: self.trace_id,
            span_id: self.span_id,
            parent_span_id: self.parent,
            trace_state: self.trace_state,
            flags: FLAG_SAMPLED,
            name,
            start: self.start,
            end,
            attributes: self.attributes,
            status,
        })
    }
}
