//! The proxy crate's one error type.

use std::net::SocketAddr;

use portico_ir::BindProtocol;

/// Everything that can go wrong while applying configuration or talking to
/// an upstream. Request-level failures never surface as panics: they become
/// local replies (404/500/503/504) and are counted in [`crate::Metrics`].
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot bind {address}: {source}")]
    Bind {
        address: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("protocol {0:?} is not implemented by the data plane yet")]
    UnsupportedProtocol(BindProtocol),
    #[error("invalid regular expression {pattern:?}: {source}")]
    Regex {
        pattern: String,
        #[source]
        source: Box<regex::Error>,
    },
    #[error("invalid header name {0:?}")]
    HeaderName(String),
    #[error("invalid header value for {0:?}")]
    HeaderValue(String),
    #[error("invalid method {0:?}")]
    Method(String),
    #[error("connect to {address}: {source}")]
    Connect {
        address: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("connect to {0} timed out")]
    ConnectTimeout(SocketAddr),
    #[error("TLS: {0}")]
    Tls(String),
    #[error("reading the request body: {0}")]
    RequestBody(String),
    #[error("upstream HTTP/2 handshake with {address}: {source}")]
    Handshake {
        address: SocketAddr,
        #[source]
        source: hyper::Error,
    },
}
