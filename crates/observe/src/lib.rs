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
//! Flows (Hubble) will live in their own module beside these.

#![forbid(unsafe_code)]

pub mod admin;
pub mod metrics;
pub mod redact;

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
}
