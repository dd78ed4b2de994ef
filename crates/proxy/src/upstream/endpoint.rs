//! One upstream address: its in-flight count and its HTTP/2 connection.
//! Kept across IR updates while the address stays in the cluster.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use http::uri::Authority;

use super::h1::{Connection, H1Pool};
use super::h1_tls::TlsPool;
use super::h2::H2Slot;
use super::outlier::OutlierState;

#[derive(Debug)]
pub struct EndpointState {
    pub address: SocketAddr,
    /// `address` as a URI authority, built once.
    pub authority: Authority,
    active: AtomicU64,
    /// Keep-alive plain HTTP/1.1 connections.
    pub(crate) h1: H1Pool,
    pub(crate) h2: H2Slot,
    pub(crate) outlier: OutlierState,
    /// Keep-alive HTTP/1.1-over-TLS connections (BackendTLSPolicy).
    pub(crate) tls_pool: TlsPool,
    /// Session persistence token naming this endpoint.
    pub session_token: Box<str>,
}

impl EndpointState {
    pub fn new(address: SocketAddr) -> EndpointState {
        // A SocketAddr always renders as a valid authority.
        let authority = Authority::try_from(address.to_string().as_str())
            .unwrap_or_else(|_| Authority::from_static("invalid.invalid"));
        EndpointState {
            address,
            authority,
            active: AtomicU64::new(0),
            h1: H1Pool::default(),
            h2: H2Slot::default(),
            outlier: OutlierState::default(),
            tls_pool: TlsPool::default(),
            session_token: crate::session::token_for(&address).into(),
        }
    }

    /// Requests in flight to this endpoint (least-request balancing).
    pub fn active(&self) -> u64 {
        self.active.load(Ordering::Relaxed)
    }
}

/// Counts one in-flight request against an endpoint until dropped (the
/// response body holds it, so streaming responses count until done). It
/// also carries the HTTP/1.1 connection the response arrives on, which goes
/// back to the endpoint's pool through [`InflightGuard::reuse`] only.
#[derive(Debug)]
pub struct InflightGuard {
    endpoint: Arc<EndpointState>,
    connection: Option<Connection>,
}

impl InflightGuard {
    pub fn new(endpoint: Arc<EndpointState>) -> InflightGuard {
        endpoint.active.fetch_add(1, Ordering::Relaxed);
        InflightGuard {
            endpoint,
            connection: None,
        }
    }

    pub fn endpoint(&self) -> &Arc<EndpointState> {
        &self.endpoint
    }

    /// The pooled connection the response is read from.
    pub(crate) fn attach(&mut self, connection: Connection) {
        self.connection = Some(connection);
    }

    /// The response was read to its end: its connection may serve the next
    /// request. (Dropping the guard without this closes the connection.)
    pub fn reuse(mut self) {
        if let Some(connection) = self.connection.take() {
            connection.checkin(&self.endpoint.h1);
        }
    }
}

impl Drop for InflightGuard {
    fn drop(&mut self) {
        self.endpoint.active.fetch_sub(1, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guard_counts_in_flight() {
        let ep = Arc::new(EndpointState::new("127.0.0.1:8080".parse().unwrap()));
        assert_eq!(ep.authority.as_str(), "127.0.0.1:8080");
        let g1 = InflightGuard::new(ep.clone());
        let g2 = InflightGuard::new(ep.clone());
        assert_eq!(ep.active(), 2);
        drop(g1);
        drop(g2);
        assert_eq!(ep.active(), 0);
        let v6 = EndpointState::new("[::1]:80".parse().unwrap());
        assert_eq!(v6.authority.as_str(), "[::1]:80");
    }
}
