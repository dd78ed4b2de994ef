//! One bound socket: SO_REUSEADDR listen, accept loop, HTTP/1.1 + h2c
//! serving on the same port, graceful drain when removed.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use arc_swap::ArcSwap;
use http::HeaderValue;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use socket2::{Domain, Protocol, Socket, Type};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::metrics::Metrics;
use crate::router::RouteTable;
use crate::upstream::Clients;
use crate::{Error, ProxyConfig};

/// State shared by every connection of one bind.
pub(crate) struct BindShared {
    /// Swapped atomically on config updates.
    pub table: ArcSwap<RouteTable>,
    pub clients: Clients,
    pub metrics: Arc<Metrics>,
    pub config: Arc<ProxyConfig>,
}

/// Per-connection context handed to every request.
pub(crate) struct ConnCtx {
    pub shared: Arc<BindShared>,
    pub peer: SocketAddr,
    pub local: SocketAddr,
    /// The peer IP as a header value, for X-Forwarded-For.
    pub peer_ip: HeaderValue,
}

/// Binds `address` with SO_REUSEADDR (rebinding right after a drain or a
/// restart works; a socket someone else listens on still fails).
pub(crate) fn listen(address: SocketAddr) -> Result<TcpListener, Error> {
    let wrap = |source| Error::Bind { address, source };
    let socket = Socket::new(
        Domain::for_address(address),
        Type::STREAM,
        Some(Protocol::TCP),
    )
    .map_err(wrap)?;
    socket.set_reuse_address(true).map_err(wrap)?;
    if address.is_ipv6() {
        socket.set_only_v6(true).map_err(wrap)?;
    }
    socket.set_nonblocking(true).map_err(wrap)?;
    socket.bind(&address.into()).map_err(wrap)?;
    socket.listen(1024).map_err(wrap)?;
    TcpListener::from_std(socket.into()).map_err(wrap)
}

/// Controls a running accept loop.
pub(crate) struct BindHandle {
    pub local: SocketAddr,
    pub shared: Arc<BindShared>,
    stop: oneshot::Sender<Duration>,
    closed: oneshot::Receiver<()>,
    task: JoinHandle<()>,
}

impl BindHandle {
    pub fn spawn(listener: TcpListener, shared: Arc<BindShared>) -> Result<BindHandle, Error> {
        let local = listener.local_addr().map_err(|source| Error::Bind {
            address: SocketAddr::from(([0, 0, 0, 0], 0)),
            source,
        })?;
        let (stop_tx, stop_rx) = oneshot::channel();
        let (closed_tx, closed_rx) = oneshot::channel();
        let task = tokio::spawn(accept_loop(
            listener,
            Arc::clone(&shared),
            stop_rx,
            closed_tx,
        ));
        Ok(BindHandle {
            local,
            shared,
            stop: stop_tx,
            closed: closed_rx,
            task,
        })
    }

    /// Stops accepting at once (the socket is closed when this returns) and
    /// drains open connections for up to `grace` in the background. The
    /// returned handle completes when the drain is over.
    pub async fn stop(self, grace: Duration) -> JoinHandle<()> {
        let _ = self.stop.send(grace);
        let _ = self.closed.await;
        self.task
    }
}

fn server_builder(config: &ProxyConfig) -> auto::Builder<TokioExecutor> {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(config.header_read_timeout)
        // hyper refuses buffers under 8 KiB.
        .max_buf_size(config.max_header_bytes.max(8192))
        .max_headers(config.max_headers);
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_header_list_size(u32::try_from(config.max_header_bytes).unwrap_or(u32::MAX))
        .max_concurrent_streams(config.h2_max_concurrent_streams)
        .keep_alive_interval(Some(Duration::from_secs(30)))
        .keep_alive_timeout(Duration::from_secs(10));
    builder
}

async fn accept_loop(
    listener: TcpListener,
    shared: Arc<BindShared>,
    mut stop: oneshot::Receiver<Duration>,
    closed: oneshot::Sender<()>,
) {
    let local = listener.local_addr().ok();
    let builder = server_builder(&shared.config);
    let graceful = GracefulShutdown::new();
    let force = CancellationToken::new();
    let grace = loop {
        tokio::select! {
            biased;
            grace = &mut stop => break grace.unwrap_or(Duration::ZERO),
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    let _ = stream.set_nodelay(true);
                    serve(&builder, &graceful, &force, &shared, stream, peer);
                }
                Err(error) => {
                    // EMFILE and friends: back off briefly instead of spinning.
                    tracing::warn!(?local, %error, "accept failed");
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            },
        }
    };
    drop(listener);
    let _ = closed.send(());
    tracing::info!(?local, ?grace, "listener closed; draining connections");
    tokio::select! {
        () = graceful.shutdown() => tracing::info!(?local, "drained"),
        () = tokio::time::sleep(grace) => {
            tracing::warn!(?local, "drain deadline passed; closing remaining connections");
            force.cancel();
        }
    }
}

fn serve(
    builder: &auto::Builder<TokioExecutor>,
    graceful: &GracefulShutdown,
    force: &CancellationToken,
    shared: &Arc<BindShared>,
    stream: tokio::net::TcpStream,
    peer: SocketAddr,
) {
    let metrics = Arc::clone(&shared.metrics);
    Metrics::incr(&metrics.connections_total);
    metrics.active_connections.fetch_add(1, Ordering::Relaxed);
    let local = stream.local_addr().unwrap_or(peer);
    let ctx = Arc::new(ConnCtx {
        shared: Arc::clone(shared),
        peer,
        local,
        peer_ip: HeaderValue::from_str(&peer.ip().to_string())
            .unwrap_or_else(|_| HeaderValue::from_static("unknown")),
    });
    let svc = service_fn(move |req| {
        let ctx = Arc::clone(&ctx);
        async move { Ok::<_, Infallible>(crate::handler::handle(ctx, req).await) }
    });
    let conn = builder
        .serve_connection_with_upgrades(TokioIo::new(stream), svc)
        .into_owned();
    let conn = graceful.watch(conn);
    let force = force.clone();
    tokio::spawn(async move {
        tokio::select! {
            result = conn => if let Err(error) = result {
                tracing::debug!(%peer, %error, "connection ended with an error");
            },
            () = force.cancelled() => tracing::debug!(%peer, "connection closed by drain deadline"),
        }
        metrics.active_connections.fetch_sub(1, Ordering::Relaxed);
    });
}
