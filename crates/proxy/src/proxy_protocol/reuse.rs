//! Keep-alive for upstream HTTP/1.1 connections that start with a PROXY
//! header: such a connection names one client connection, so only the
//! requests of that client connection reuse it, and it closes with it.

use std::net::SocketAddr;
use std::sync::Arc;

use portico_ir::ProxyProtocolVersion;

use crate::upstream::h1::H1Pool;

/// The upstream pools of one client connection, by endpoint and version
/// (nothing is allocated until a PROXY-protocol cluster is used).
#[derive(Debug, Default)]
pub struct ClientConns {
    pools: parking_lot::Mutex<Vec<(SocketAddr, ProxyProtocolVersion, Arc<H1Pool>)>>,
}

impl ClientConns {
    /// The pool for `endpoint`, created on first use.
    pub(crate) fn pool(&self, endpoint: SocketAddr, version: ProxyProtocolVersion) -> Arc<H1Pool> {
        let mut pools = self.pools.lock();
        if let Some((_, _, pool)) = pools
            .iter()
            .find(|(a, v, _)| *a == endpoint && *v == version)
        {
            return Arc::clone(pool);
        }
        let pool = Arc::new(H1Pool::default());
        pools.push((endpoint, version, Arc::clone(&pool)));
        pool
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_pool_per_endpoint_and_version() {
        let conns = ClientConns::default();
        let a: SocketAddr = "10.0.0.1:80".parse().unwrap();
        let b: SocketAddr = "10.0.0.2:80".parse().unwrap();
        let p1 = conns.pool(a, ProxyProtocolVersion::V1);
        assert!(Arc::ptr_eq(&p1, &conns.pool(a, ProxyProtocolVersion::V1)));
        assert!(!Arc::ptr_eq(&p1, &conns.pool(b, ProxyProtocolVersion::V1)));
        assert!(!Arc::ptr_eq(&p1, &conns.pool(a, ProxyProtocolVersion::V2)));
    }
}
