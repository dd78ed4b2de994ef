//! HTTP/2 (prior knowledge) upstream connections: multiplexed connections
//! per endpoint, requests spread round robin over them; another connection
//! is opened when the endpoint's in-flight requests outgrow the ones open
//! (up to a cap), and closed ones are replaced.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use arc_swap::ArcSwap;
use hyper::client::conn::http2;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};

use crate::Error;
use crate::body::Body;

/// In-flight requests per connection before another one is opened.
const STREAMS_PER_CONNECTION: u64 = 64;
/// Most connections per endpoint.
const MAX_CONNECTIONS: usize = 4;

#[derive(Debug, Default)]
pub struct H2Slot {
    conns: ArcSwap<Vec<http2::SendRequest<Body>>>,
    next: AtomicUsize,
    /// Only one task dials at a time; the others wait and reuse its result.
    connecting: tokio::sync::Mutex<()>,
}

impl H2Slot {
    /// A sender on a live connection to `address`. `load` is the endpoint's
    /// in-flight request count.
    pub async fn sender(
        &self,
        address: SocketAddr,
        connect_timeout: Duration,
        load: u64,
    ) -> Result<http2::SendRequest<Body>, Error> {
        if let Some(s) = self.pick(load) {
            return Ok(s);
        }
        let _dialing = self.connecting.lock().await;
        if let Some(s) = self.pick(load) {
            return Ok(s);
        }
        let live: Vec<_> = self
            .conns
            .load()
            .iter()
            .filter(|s| !s.is_closed())
            .cloned()
            .collect();
        match dial(address, connect_timeout, &[]).await {
            Ok(sender) => {
                let mut next = live;
                next.push(sender.clone());
                self.conns.store(Arc::new(next));
                Ok(sender)
            }
            // Could not grow: keep using what is open, if anything.
            Err(e) => live.into_iter().next().ok_or(e),
        }
    }

    /// A live connection when the open ones suffice for `load`.
    fn pick(&self, load: u64) -> Option<http2::SendRequest<Body>> {
        let conns = self.conns.load();
        let len = conns.len();
        if len == 0 {
            return None;
        }
        let wants_more = len < MAX_CONNECTIONS && load > STREAMS_PER_CONNECTION * len as u64;
        if wants_more {
            return None;
        }
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        (0..len)
            .map(|i| &conns[(start + i) % len])
            .find(|s| !s.is_closed())
            .cloned()
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.conns.load().len()
    }
}

/// A new connection that starts with `preface` (a PROXY protocol header, or
/// nothing). Connections with a header name one client and are used for one
/// request only: they close when that stream ends.
pub(super) async fn dial(
    address: SocketAddr,
    connect_timeout: Duration,
    preface: &[u8],
) -> Result<http2::SendRequest<Body>, Error> {
    let connect = crate::proxy_protocol::connect(address, preface);
    let stream = tokio::time::timeout(connect_timeout, connect)
        .await
        .map_err(|_| Error::ConnectTimeout(address))?
        .map_err(|source| Error::Connect { address, source })?;
    let _ = stream.set_nodelay(true);
    let (sender, conn) = http2::Builder::new(TokioExecutor::new())
        .timer(TokioTimer::new())
        .keep_alive_interval(Duration::from_secs(30))
        .keep_alive_timeout(Duration::from_secs(10))
        .handshake(TokioIo::new(stream))
        .await
        .map_err(|source| Error::Handshake { address, source })?;
    tokio::spawn(async move {
        if let Err(error) = conn.await {
            tracing::debug!(%address, %error, "upstream h2 connection ended");
        }
    });
    Ok(sender)
}

#[cfg(test)]
mod tests {
    use super::*;
    use hyper::service::service_fn;
    use hyper_util::server::conn::auto;

    async fn h2_server() -> SocketAddr {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((s, _)) = l.accept().await {
                tokio::spawn(async move {
                    let svc = service_fn(|_req| async {
                        Ok::<_, std::convert::Infallible>(http::Response::new(
                            http_body_util::Empty::<bytes::Bytes>::new(),
                        ))
                    });
                    let _ = auto::Builder::new(TokioExecutor::new())
                        .serve_connection(TokioIo::new(s), svc)
                        .await;
                });
            }
        });
        addr
    }

    #[tokio::test]
    async fn reuses_one_connection_and_grows_under_load() {
        let addr = h2_server().await;
        let slot = H2Slot::default();
        let t = Duration::from_secs(5);
        slot.sender(addr, t, 0).await.unwrap();
        slot.sender(addr, t, 10).await.unwrap();
        assert_eq!(slot.len(), 1, "light load shares one connection");
        slot.sender(addr, t, STREAMS_PER_CONNECTION + 1)
            .await
            .unwrap();
        assert_eq!(slot.len(), 2, "heavy load opens another");
        for _ in 0..10 {
            slot.sender(addr, t, 10_000).await.unwrap();
        }
        assert_eq!(slot.len(), MAX_CONNECTIONS, "capped");
    }

    #[tokio::test]
    async fn dial_failure_is_an_error_without_connections() {
        let dead = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        let slot = H2Slot::default();
        assert!(slot.sender(dead, Duration::from_secs(5), 0).await.is_err());
    }
}
