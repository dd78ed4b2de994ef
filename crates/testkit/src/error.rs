//! The crate's one error type.

use std::time::Duration;

/// Errors from the test helpers.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Starting an echo backend failed.
    #[error(transparent)]
    Echo(#[from] portico_echo::Error),
    /// Binding a loopback socket failed.
    #[error("binding a loopback socket failed: {0}")]
    Bind(#[source] std::io::Error),
    /// Generating a certificate or key failed.
    #[error("certificate generation failed: {0}")]
    Certificate(#[from] rcgen::Error),
    /// A name given for a certificate is not a valid SAN.
    #[error("invalid subject alternative name {0:?}")]
    InvalidName(String),
    /// A TLS echo kind was started without certificates.
    #[error("{0:?} needs TLS settings: use EchoBackend::https / EchoBackend::tcp_tls")]
    MissingTls(crate::EchoKind),
    /// A test client request failed (connect, protocol, deadline, body).
    #[error("test client: {0}")]
    Client(String),
    /// The socket handed to `EchoBackend::start_on` does not fit the kind.
    #[error("{0:?} was given the wrong kind of socket (UDP needs Bound::Udp, the rest Bound::Tcp)")]
    WrongSocket(crate::EchoKind),
    /// Waiting for an echo record ran past its deadline.
    #[error("no matching echo record within {0:?}")]
    NoRecord(Duration),
}
