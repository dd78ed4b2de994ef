//! Sockets for tests, without guessing ports.
//!
//! The pattern: bind port 0 on loopback, then hand the *bound socket* to the
//! code under test (every `portico_echo::serve_*` takes one), or read its
//! address and pass that on while keeping the socket open. Never pick a port
//! number and hope it is free, and never bind-close-rebind ("find a free
//! port"): another test can take the port in between.

use std::net::{Ipv4Addr, SocketAddr};

use tokio::net::{TcpListener, UdpSocket};

use crate::Error;

/// The loopback address with port 0.
pub const LOOPBACK_ANY_PORT: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(Ipv4Addr::LOCALHOST), 0);

/// A TCP listener on `127.0.0.1:<kernel-chosen port>`.
pub async fn bind_tcp() -> Result<TcpListener, Error> {
    TcpListener::bind(LOOPBACK_ANY_PORT)
        .await
        .map_err(Error::Bind)
}

/// A UDP socket on `127.0.0.1:<kernel-chosen port>`.
pub async fn bind_udp() -> Result<UdpSocket, Error> {
    UdpSocket::bind(LOOPBACK_ANY_PORT)
        .await
        .map_err(Error::Bind)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn binds_distinct_loopback_ports() {
        let a = bind_tcp().await.expect("bind");
        let b = bind_tcp().await.expect("bind");
        let (a, b) = (a.local_addr().expect("addr"), b.local_addr().expect("addr"));
        assert!(a.ip().is_loopback() && b.ip().is_loopback());
        assert_ne!(a.port(), 0);
        assert_ne!(a.port(), b.port());
        let u = bind_udp().await.expect("bind");
        assert_ne!(u.local_addr().expect("addr").port(), 0);
    }
}
