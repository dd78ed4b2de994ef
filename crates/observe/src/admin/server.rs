//! The admin server's listener and connections (hyper 1, HTTP/1.1).

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use hyper_util::server::graceful::GracefulShutdown;
use prometheus_client::registry::Registry;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::{AdminSource, router};
use crate::Error;

/// A running admin server.
pub struct AdminServer {
    local_addr: SocketAddr,
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl AdminServer {
    /// Binds `addr` (port 0 picks a free port) and serves until [`AdminServer::shutdown`].
    pub async fn bind(
        addr: SocketAddr,
        source: Arc<dyn AdminSource>,
        registry: Arc<Registry>,
    ) -> Result<AdminServer, Error> {
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|source| Error::Bind { addr, source })?;
        let local_addr = listener.local_addr().map_err(Error::LocalAddr)?;
        let (stop, stopped) = watch::channel(false);
        let task = tokio::spawn(serve(listener, source, registry, stopped));
        tracing::info!(address = %local_addr, "admin server listening");
        Ok(AdminServer {
            local_addr,
            stop,
            task,
        })
    }

    /// The bound address.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Stops accepting and waits (at most `grace`) for open requests.
    pub async fn shutdown(self, grace: Duration) {
        let _ = self.stop.send(true);
        if tokio::time::timeout(grace, self.task).await.is_err() {
            tracing::warn!("admin server did not drain in time");
        }
    }
}

async fn serve(
    listener: TcpListener,
    source: Arc<dyn AdminSource>,
    registry: Arc<Registry>,
    mut stopped: watch::Receiver<bool>,
) {
    let graceful = GracefulShutdown::new();
    loop {
        tokio::select! {
            _ = stopped.changed() => break,
            accepted = listener.accept() => {
                let (stream, peer) = match accepted {
                    Ok(a) => a,
                    Err(e) => {
                        tracing::warn!(error = %e, "admin accept failed");
                        continue;
                    }
                };
                let source = source.clone();
                let registry = registry.clone();
                let service = service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                    let response =
                        router::handle(req.method(), req.uri(), source.as_ref(), &registry);
                    async move { Ok::<_, Infallible>(response) }
                });
                let conn = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service);
                let conn = graceful.watch(conn);
                tokio::spawn(async move {
                    if let Err(e) = conn.await {
                        tracing::debug!(peer = %peer, error = %e, "admin connection ended with an error");
                    }
                });
            }
        }
    }
    drop(listener);
    graceful.shutdown().await;
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::Ordering;

    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;
    use crate::admin::router::tests::FakeSource;

    async fn raw_get(addr: SocketAddr, path: &str) -> String {
        let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        let request = format!("GET {path} HTTP/1.1\r\nHost: admin\r\nConnection: close\r\n\r\n");
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut out = String::new();
        stream.read_to_string(&mut out).await.unwrap();
        out
    }

    #[tokio::test]
    async fn serves_over_tcp_on_port_zero_and_shuts_down() {
        let source = Arc::new(FakeSource::default());
        let server = AdminServer::bind(
            "127.0.0.1:0".parse().unwrap(),
            source.clone(),
            Arc::new(Registry::default()),
        )
        .await
        .unwrap();
        let addr = server.local_addr();
        assert_ne!(addr.port(), 0);
        assert!(raw_get(addr, "/readyz").await.starts_with("HTTP/1.1 503"));
        source.ready.store(true, Ordering::SeqCst);
        assert!(raw_get(addr, "/readyz").await.starts_with("HTTP/1.1 200"));
        let metrics = raw_get(addr, "/metrics").await;
        assert!(
            metrics.contains("application/openmetrics-text"),
            "{metrics}"
        );
        server.shutdown(Duration::from_secs(5)).await;
        assert!(tokio::net::TcpStream::connect(addr).await.is_err());
    }
}
