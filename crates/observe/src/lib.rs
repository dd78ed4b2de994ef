//! Observability: Prometheus metrics and the admin HTTP server.
//!
//! - [`metrics`]: the registry of Portico's own metrics (config reloads,
//!   objects, translate duration, listeners). Other crates register theirs
//!   in the same [`prometheus_client::registry::Registry`].
//! - [`admin`]: the loopback admin HTTP server (`/healthz`, `/readyz`,
//!   `/metrics`, `/config_dump`, `/api/objects`, `/api/problems`). It knows
//!   nothing about Kubernetes types: the binary answers the object queries
//!   through [`admin::AdminSource`].
//!
//! Beside them: [`flow`] (the flow ring and filters), [`hubble`] (the
//! Hubble-compatible observer API), [`accesslog`], [`ui`] and [`trace`]
//! (OpenTelemetry spans exported over OTLP/gRPC).

#![forbid(unsafe_code)]

pub mod accesslog;
pub mod admin;
pub mod collector;
pub mod flow;
pub mod hubble;
pub mod metrics;
pub mod redact;
pub mod trace;
pub mod ui;

pub use admin::{AdminServer, AdminSource, ObjectQuery, QueryError};
pub use metrics::ConfigMetrics;

/// Errors of this crate.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("binding the admin server to {addr}: {source}")]
    Bind {
        addr: std::net::SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("reading the admin server address: {0}")]
    LocalAddr(#[source] std::io::Error),
    #[error("invalid flow filter {field} {value:?}: {reason}")]
    InvalidFilter {
        field: &'static str,
        value: String,
        reason: String,
    },
    #[error("flow ring capacity {0} is not a power of two minus one (1, 3, 7, ..., 4095)")]
    InvalidRingCapacity(usize),
    #[error("binding the Hubble observer API to {addr}: {source}")]
    HubbleBind {
        addr: std::net::SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("reading the Hubble server address: {0}")]
    HubbleAddr(#[source] std::io::Error),
    #[error("serving the Hubble observer API: {0}")]
    Grpc(#[source] tonic::transport::Error),
    #[error("unknown access log field {name:?} (valid: {valid})")]
    AccessLogField { name: String, valid: String },
    #[error("OTLP endpoint {endpoint:?}: {reason}")]
    OtlpEndpoint { endpoint: String, reason: String },
    #[error("sampling ratio {0} is not between 0 and 1")]
    SamplingRatio(f64),
    #[error("opening the access log {}: {source}", path.display())]
    AccessLogOpen {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
}
