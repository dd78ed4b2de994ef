//! HTTP/2 (prior knowledge) upstream connections: one multiplexed
//! connection per endpoint, re-established when it closes. Several
//! connections per endpoint under load are still to come.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwapOption;
use hyper::client::conn::http2;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use tokio::net::TcpStream;

use crate::Error;
use crate::body::Body;

#[derive(Debug, Default)]
pub struct H2Slot {
    conn: ArcSwapOption<http2::SendRequest<Body>>,
    /// Only one task dials at a time; the others wait and reuse its result.
    connecting: tokio::sync::Mutex<()>,
}

impl H2Slot {
    /// A sender on a live connection to `address`, dialing if needed.
    pub async fn sender(
        &self,
        address: SocketAddr,
        connect_timeout: Duration,
    ) -> Result<http2::SendRequest<Body>, Error> {
        if let Some(s) = self.live() {
            return Ok(s);
        }
        let _dialing = self.connecting.lock().await;
        if let Some(s) = self.live() {
            return Ok(s);
        }
        let sender = dial(address, connect_timeout).await?;
        self.conn.store(Some(Arc::new(sender.clone())));
        Ok(sender)
    }

    fn live(&self) -> Option<http2::SendRequest<Body>> {
        let guard = self.conn.load();
        guard
            .as_ref()
            .filter(|s| !s.is_closed())
            .map(|s| (**s).clone())
    }
}

async fn dial(
    address: SocketAddr,
    connect_timeout: Duration,
) -> Result<http2::SendRequest<Body>, Error> {
    let stream = tokio::time::timeout(connect_timeout, TcpStream::connect(address))
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
