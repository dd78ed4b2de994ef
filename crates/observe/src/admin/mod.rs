//! The admin HTTP server: health, readiness, metrics, config dump and the
//! object API `portico get` reads.
//!
//! The server is generic over an [`AdminSource`] implemented by the binary,
//! so this crate stays free of Kubernetes types.

mod query;
mod router;
mod server;

pub use query::ObjectQuery;
pub(crate) use query::percent_decode;
pub use server::AdminServer;

use serde_json::Value;

/// Default admin address (loopback only).
pub const DEFAULT_ADDR: &str = "127.0.0.1:9876";

/// What the admin server serves, supplied by the running instance.
pub trait AdminSource: Send + Sync + 'static {
    /// Whether the first configuration was applied (`/readyz`).
    fn ready(&self) -> bool;
    /// The current data-plane IR as JSON, secrets already redacted (`/config_dump`).
    fn config_dump(&self) -> Value;
    /// Objects matching `query`, each with its `status`, as a kubectl `List`.
    fn objects(&self, query: &ObjectQuery) -> Result<Value, QueryError>;
    /// Load errors and failing conditions (`/api/problems`).
    fn problems(&self) -> Value;
    /// The flow ring behind the web UI and `/api/flows` (see
    /// [`crate::ui::WithFlows`]); `None` turns those endpoints off.
    fn flows(&self) -> Option<&crate::flow::FlowRing> {
        None
    }
}

/// Why an object query was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QueryError {
    #[error("the server doesn't have a resource type \"{0}\"")]
    UnknownKind(String),
    #[error("missing query parameter \"kind\"")]
    MissingKind,
}
