//! The crate's one error type.

/// Errors from starting an echo backend. Once a server runs, per-connection
/// failures are logged with `tracing` and never stop the server.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The listener or socket handed in could not report its address.
    #[error("echo listener has no local address: {0}")]
    LocalAddr(#[source] std::io::Error),
    /// The TLS settings are unusable (bad PEM, key mismatch, bad CA).
    #[error("echo TLS configuration: {0}")]
    Tls(String),
    /// The gRPC services could not be assembled.
    #[error("echo gRPC setup: {0}")]
    Grpc(String),
}
