//! Plain HTTP/1.1 to one endpoint: an own keep-alive pool of hyper
//! `client::conn::http1` senders.
//!
//! Cheaper than hyper-util's pooled client on the hot path: no pool-wide
//! map keyed by authority, no per-request task waiting for the connection to
//! become reusable. A connection goes back to its endpoint's idle stack when
//! the response body has been read to the end (see
//! [`super::InflightGuard::reuse`]); a response dropped early closes it. The
//! stack is per endpoint and its lock is only held for a push or a pop.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use http::{Request, Response};
use hyper::body::Incoming;
use hyper::client::conn::http1;
use hyper_util::rt::TokioIo;
use socket2::{SockRef, TcpKeepalive};

use super::client::SendError;
use crate::body::Body;

/// Idle connections kept per endpoint; more are closed on return.
const MAX_IDLE: usize = 1024;

pub type Sender = http1::SendRequest<Body>;

/// A connection handed out with its response, and the pool it returns to
/// once the response is complete: the endpoint's (`home: None`), or that
/// of the one client connection whose PROXY header it carries.
#[derive(Debug)]
pub struct Connection {
    pub(crate) sender: Sender,
    pub(crate) home: Option<Arc<H1Pool>>,
}

impl Connection {
    /// Returns the connection to its pool; `shared` is the endpoint's.
    pub fn checkin(self, shared: &H1Pool) {
        match &self.home {
            Some(home) => home.checkin(self.sender),
            None => shared.checkin(self.sender),
        }
    }
}

struct Idle {
    sender: Sender,
    since: Instant,
}

/// One endpoint's idle keep-alive connections (most recently used last).
#[derive(Default)]
pub struct H1Pool {
    idle: parking_lot::Mutex<Vec<Idle>>,
}

impl std::fmt::Debug for H1Pool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("H1Pool")
            .field("idle", &self.idle.lock().len())
            .finish()
    }
}

impl H1Pool {
    /// Returns a connection whose previous exchange is complete.
    pub fn checkin(&self, sender: Sender) {
        if sender.is_closed() {
            return;
        }
        let mut idle = self.idle.lock();
        if idle.len() < MAX_IDLE {
            idle.push(Idle {
                sender,
                since: Instant::now(),
            });
        }
    }

    /// The most recently used live connection idle for less than
    /// `idle_timeout` (older ones are closed on the way).
    async fn checkout(&self, idle_timeout: Duration) -> Option<Sender> {
        loop {
            let Idle { mut sender, since } = self.idle.lock().pop()?;
            if sender.is_closed() || since.elapsed() >= idle_timeout {
                continue;
            }
            if sender.is_ready() {
                return Some(sender);
            }
            // Checked in at the response's end of body: the connection task
            // is about to mark it idle (or closed).
            if sender.ready().await.is_ok() {
                return Some(sender);
            }
        }
    }

    /// Idle connections held.
    #[cfg(test)]
    pub fn idle_len(&self) -> usize {
        self.idle.lock().len()
    }
}

/// Sends `req` (origin-form target, `Host` set) over a pooled or new
/// connection. The sender comes back with the response: hand it to
/// [`H1Pool::checkin`] once the response body is complete.
pub async fn send(
    pool: &H1Pool,
    address: SocketAddr,
    preface: &[u8],
    connect_timeout: Duration,
    idle_timeout: Duration,
    req: Request<Body>,
) -> Result<(Response<Incoming>, Sender), SendError> {
    let (mut sender, pooled) = match pool.checkout(idle_timeout).await {
        Some(s) => (s, true),
        None => (dial_with(address, connect_timeout, preface).await?, false),
    };
    match sender.try_send_request(req).await {
        Ok(resp) => Ok((resp, sender)),
        Err(mut error) => match error.take_message() {
            // A pooled connection the backend closed before taking the
            // request (keep-alive race): the request is intact, dial anew.
            Some(req) if pooled => {
                tracing::debug!(%address, error = %error.error(), "pooled connection closed; redialing");
                let mut sender = dial_with(address, connect_timeout, preface).await?;
                let resp = sender
                    .send_request(req)
                    .await
                    .map_err(|e| SendError::Broken(e.to_string()))?;
                Ok((resp, sender))
            }
            _ => Err(SendError::Broken(error.error().to_string())),
        },
    }
}

/// Sends `req` over a connection of its own that starts with `preface` (a
/// PROXY header without a client connection to reuse it for: it closes
/// when the response is done).
pub async fn send_unpooled(
    address: SocketAddr,
    connect_timeout: Duration,
    preface: &[u8],
    req: Request<Body>,
) -> Result<Response<Incoming>, SendError> {
    let mut sender = dial_with(address, connect_timeout, preface).await?;
    sender
        .send_request(req)
        .await
        .map_err(|e| SendError::Broken(e.to_string()))
}

async fn dial_with(
    address: SocketAddr,
    connect_timeout: Duration,
    preface: &[u8],
) -> Result<Sender, SendError> {
    let work = async {
        let tcp = crate::proxy_protocol::connect(address, preface)
            .await
            .map_err(|e| SendError::Connect(format!("connect to {address}: {e}")))?;
        let _ = tcp.set_nodelay(true);
        let _ = SockRef::from(&tcp)
            .set_tcp_keepalive(&TcpKeepalive::new().with_time(Duration::from_secs(60)));
        let (sender, conn) = http1::handshake(TokioIo::new(tcp))
            .await
            .map_err(|e| SendError::Connect(format!("HTTP/1.1 handshake with {address}: {e}")))?;
        tokio::spawn(async move {
            if let Err(error) = conn.with_upgrades().await {
                tracing::debug!(%address, %error, "upstream connection ended");
            }
        });
        Ok(sender)
    };
    tokio::time::timeout(connect_timeout, work)
        .await
        .map_err(|_| SendError::Connect(format!("connect to {address} timed out")))?
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    /// A backend answering every request on a connection with "ok", counting
    /// accepted connections.
    async fn backend() -> (SocketAddr, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let accepted = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let count = accepted.clone();
        tokio::spawn(async move {
            while let Ok((mut s, _)) = listener.accept().await {
                count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 4096];
                    let mut seen = Vec::new();
                    loop {
                        let Ok(n) = s.read(&mut buf).await else {
                            return;
                        };
                        if n == 0 {
                            return;
                        }
                        seen.extend_from_slice(&buf[..n]);
                        while let Some(end) = seen.windows(4).position(|w| w == b"\r\n\r\n") {
                            seen.drain(..end + 4);
                            let reply = b"HTTP/1.1 200 OK\r\ncontent-length: 3\r\n\r\nok\n";
                            if s.write_all(reply).await.is_err() {
                                return;
                            }
                        }
                    }
                });
            }
        });
        (addr, accepted)
    }

    fn get() -> Request<Body> {
        Request::builder()
            .uri("/")
            .header("host", "be")
            .body(Body::Empty)
            .unwrap()
    }

    const T: Duration = Duration::from_secs(5);

    #[tokio::test]
    async fn connection_is_reused_after_the_body_is_read() {
        let (addr, accepted) = backend().await;
        let pool = H1Pool::default();
        for _ in 0..5 {
            let (resp, sender) = tokio::time::timeout(T, send(&pool, addr, &[], T, T, get()))
                .await
                .unwrap()
                .unwrap();
            let body = resp.into_body().collect().await.unwrap().to_bytes();
            assert_eq!(&body[..], b"ok\n");
            pool.checkin(sender);
        }
        assert_eq!(accepted.load(std::sync::atomic::Ordering::SeqCst), 1);
        assert_eq!(pool.idle_len(), 1);
    }

    #[tokio::test]
    async fn unreturned_connections_are_not_reused() {
        let (addr, accepted) = backend().await;
        let pool = H1Pool::default();
        for _ in 0..3 {
            let (resp, _sender) = tokio::time::timeout(T, send(&pool, addr, &[], T, T, get()))
                .await
                .unwrap()
                .unwrap();
            drop(resp);
        }
        assert_eq!(accepted.load(std::sync::atomic::Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn expired_idle_connections_are_closed_not_used() {
        let (addr, accepted) = backend().await;
        let pool = H1Pool::default();
        let (resp, sender) = send(&pool, addr, &[], T, T, get()).await.unwrap();
        resp.into_body().collect().await.unwrap();
        pool.checkin(sender);
        let (resp, _) = send(&pool, addr, &[], T, Duration::ZERO, get())
            .await
            .unwrap();
        resp.into_body().collect().await.unwrap();
        assert_eq!(accepted.load(std::sync::atomic::Ordering::SeqCst), 2);
        assert_eq!(pool.idle_len(), 0);
    }

    #[tokio::test]
    async fn a_closed_pooled_connection_is_replaced() {
        // A backend that closes every connection after one response.
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((mut s, _)) = listener.accept().await {
                let mut buf = vec![0u8; 4096];
                let _ = s.read(&mut buf).await;
                let _ = s
                    .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 3\r\n\r\nok\n")
                    .await;
                drop(s);
            }
        });
        let pool = H1Pool::default();
        for _ in 0..3 {
            let (resp, sender) = tokio::time::timeout(T, send(&pool, addr, &[], T, T, get()))
                .await
                .unwrap()
                .unwrap();
            assert_eq!(resp.status(), 200);
            resp.into_body().collect().await.unwrap();
            pool.checkin(sender);
        }
    }

    #[tokio::test]
    async fn refused_connections_are_connect_errors() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        drop(listener);
        let pool = H1Pool::default();
        let err = send(&pool, addr, &[], T, T, get()).await.unwrap_err();
        assert!(matches!(err, SendError::Connect(_)), "{err:?}");
    }
}
