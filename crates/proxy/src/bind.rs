//! One bound socket: SO_REUSEADDR listen, accept loop, HTTP/1.1 + h2c
//! (and for HTTPS binds TLS with ALPN h2/http1.1) on the same port,
//! graceful drain when removed.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use arc_swap::{ArcSwap, ArcSwapOption};
use http::HeaderValue;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::{GracefulShutdown, Watcher};
use portico_ir::BindProtocol;
use socket2::{Domain, Protocol, Socket, Type};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio_rustls::LazyConfigAcceptor;
use tokio_util::sync::CancellationToken;

use crate::l4::{self, L4Table};
use crate::metrics::Metrics;
use crate::proxy_protocol;
use crate::rejections::TlsReject;
use crate::router::RouteTable;
use crate::tls::TlsTable;
use crate::upstream::Clients;
use crate::{Error, ProxyConfig};

/// State shared by every connection of one bind.
pub(crate) struct BindShared {
    /// Swapped atomically on config updates.
    pub table: ArcSwap<RouteTable>,
    /// HTTPS binds: per-listener TLS settings, swapped with the table.
    pub tls: ArcSwapOption<TlsTable>,
    /// TCP and TLS-passthrough binds: their routes, swapped on updates.
    pub l4: ArcSwapOption<L4Table>,
    pub protocol: BindProtocol,
    /// Read a PROXY protocol header first (see [`crate::proxy_protocol`]).
    pub proxy_protocol: AtomicBool,
    pub clients: Clients,
    pub metrics: Arc<Metrics>,
    pub config: Arc<ProxyConfig>,
    /// TCP/TLS binds: one permit per open connection
    /// ([`ProxyConfig::max_stream_connections`]).
    pub stream_slots: Arc<tokio::sync::Semaphore>,
}

/// Per-connection context handed to every request.
pub(crate) struct ConnCtx {
    pub shared: Arc<BindShared>,
    pub peer: SocketAddr,
    pub local: SocketAddr,
    /// The peer IP as a header value, for X-Forwarded-For.
    pub peer_ip: HeaderValue,
    /// HTTPS: the listener the TLS server name selected (421 when the
    /// Host selects another one).
    pub tls_listener: Option<Arc<str>>,
    /// Upstream connections that carry this connection's PROXY header.
    pub upstream: proxy_protocol::ClientConns,
}

impl ConnCtx {
    /// The client connection, for a PROXY protocol header upstream.
    pub fn origin(&self) -> proxy_protocol::Origin<'_> {
        proxy_protocol::Origin {
            addresses: proxy_protocol::Addresses {
                source: self.peer,
                destination: self.local,
            },
            conns: &self.upstream,
        }
    }
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

    /// Serves a UDP socket (see [`crate::udp`]).
    pub fn spawn_udp(
        socket: tokio::net::UdpSocket,
        shared: Arc<BindShared>,
    ) -> Result<BindHandle, Error> {
        let local = socket.local_addr().map_err(|source| Error::Bind {
            address: SocketAddr::from(([0, 0, 0, 0], 0)),
            source,
        })?;
        let (stop_tx, stop_rx) = oneshot::channel();
        let (closed_tx, closed_rx) = oneshot::channel();
        let task = tokio::spawn(crate::udp::serve(
            socket,
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
        // RFC 8441 extended CONNECT (WebSocket over HTTP/2).
        .enable_connect_protocol()
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
    let builder = Arc::new(server_builder(&shared.config));
    let plain = Arc::new(crate::plain::Servers::new(&shared.config));
    let graceful = GracefulShutdown::new();
    let force = CancellationToken::new();
    let grace = loop {
        tokio::select! {
            biased;
            grace = &mut stop => break grace.unwrap_or(Duration::ZERO),
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    let _ = stream.set_nodelay(true);
                    serve(&builder, &plain, &graceful, &force, &shared, stream, peer);
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
    plain.drain();
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
    builder: &Arc<auto::Builder<TokioExecutor>>,
    plain: &Arc<crate::plain::Servers>,
    graceful: &GracefulShutdown,
    force: &CancellationToken,
    shared: &Arc<BindShared>,
    mut stream: TcpStream,
    peer: SocketAddr,
) {
    let metrics = Arc::clone(&shared.metrics);
    Metrics::incr(&metrics.connections_total);
    metrics.active_connections.fetch_add(1, Ordering::Relaxed);
    let local = stream.local_addr().unwrap_or(peer);
    if matches!(shared.protocol, BindProtocol::Tcp | BindProtocol::Tls) {
        // Drains wait for L4 connections through the watcher, up to the
        // deadline that cancels them.
        let Ok(slot) = Arc::clone(&shared.stream_slots).try_acquire_owned() else {
            Metrics::incr(&metrics.stream_connections_refused_total);
            metrics.active_connections.fetch_sub(1, Ordering::Relaxed);
            tracing::debug!(%peer, "connection limit reached; closing");
            return;
        };
        let (watcher, force, shared) = (graceful.watcher(), force.clone(), Arc::clone(shared));
        tokio::spawn(async move {
            let _slot = slot;
            let _watcher = watcher;
            let table = shared.l4.load_full().unwrap_or_default();
            tokio::select! {
                () = async {
                    let Some((peer, local)) =
                        proxy_protocol::on_accept(&shared, &mut stream, peer, local).await
                    else {
                        return;
                    };
                    if shared.protocol == BindProtocol::Tcp {
                        l4::tcp(&shared, &table, stream, peer, local).await;
                    } else {
                        l4::tls_passthrough(&shared, &table, stream, peer, local).await;
                    }
                } => {}
                () = force.cancelled() => tracing::debug!(%peer, "connection closed by drain deadline"),
            }
            metrics.active_connections.fetch_sub(1, Ordering::Relaxed);
        });
        return;
    }
    let tls = shared.tls.load_full();
    let (builder, plain, watcher, force, shared) = (
        Arc::clone(builder),
        Arc::clone(plain),
        graceful.watcher(),
        force.clone(),
        Arc::clone(shared),
    );
    tokio::spawn(async move {
        tokio::select! {
            () = async {
                let Some((peer, local)) =
                    proxy_protocol::on_accept(&shared, &mut stream, peer, local).await
                else {
                    return;
                };
                let ctx = ConnCtx {
                    shared,
                    peer,
                    local,
                    peer_ip: HeaderValue::from_str(&peer.ip().to_string())
                        .unwrap_or_else(|_| HeaderValue::from_static("unknown")),
                    tls_listener: None,
                    upstream: proxy_protocol::ClientConns::default(),
                };
                match tls {
                    None => {
                        // Counted by the drain; plain::serve watches the signal.
                        let _watcher = watcher;
                        crate::plain::serve(&plain, ctx, stream).await;
                    }
                    Some(table) => {
                        // Boxed: a plain connection's task does not carry the
                        // size of the TLS and hyper-util auto states.
                        Box::pin(async move {
                            if let Some((stream, ctx)) = handshake(&table, stream, ctx).await {
                                run(&builder, watcher, ctx, TokioIo::new(stream)).await;
                            }
                        })
                        .await;
                    }
                }
            } => {}
            () = force.cancelled() => tracing::debug!(%peer, "connection closed by drain deadline"),
        }
        metrics.active_connections.fetch_sub(1, Ordering::Relaxed);
    });
}

/// Serves HTTP/1.1 and HTTP/2 on one connection until it ends or drains.
async fn run<I>(builder: &auto::Builder<TokioExecutor>, watcher: Watcher, ctx: ConnCtx, io: I)
where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let peer = ctx.peer;
    let ctx = Arc::new(ctx);
    let svc = service_fn(move |req| {
        let ctx = Arc::clone(&ctx);
        async move { Ok::<_, Infallible>(crate::handler::handle(ctx, req).await) }
    });
    let conn = builder.serve_connection_with_upgrades(io, svc);
    if let Err(error) = watcher.watch(conn.into_owned()).await {
        tracing::debug!(%peer, %error, "connection ended with an error");
    }
}

/// TLS handshake with the listener the SNI selects, bounded by the header
/// read timeout so a silent client cannot hold the task.
async fn handshake(
    table: &TlsTable,
    stream: TcpStream,
    mut ctx: ConnCtx,
) -> Option<(tokio_rustls::server::TlsStream<TcpStream>, ConnCtx)> {
    let peer = ctx.peer;
    let limit = ctx.shared.config.header_read_timeout;
    let rejected = &ctx.shared.metrics.tls_rejected;
    let work = async {
        let start = LazyConfigAcceptor::new(rustls::server::Acceptor::default(), stream)
            .await
            .map_err(|e| (TlsReject::of_read(&e), e.to_string()))?;
        let sni = start.client_hello().server_name().map(str::to_string);
        let Some(entry) = table.select(sni.as_deref()) else {
            let detail = format!("no TLS listener for server name {sni:?}");
            return Err((TlsReject::NoRoute, detail));
        };
        let listener = sni.is_some().then(|| Arc::clone(&entry.listener_id));
        let stream = start
            .into_stream(Arc::clone(&entry.config))
            .await
            .map_err(|e| (TlsReject::Handshake, e.to_string()))?;
        Ok((stream, listener))
    };
    match tokio::time::timeout(limit, work).await {
        Ok(Ok((stream, listener))) => {
            if listener.is_some() {
                ctx.tls_listener = listener;
            }
            Some((stream, ctx))
        }
        Ok(Err((cause, detail))) => {
            rejected.record(cause, peer, &detail);
            None
        }
        Err(_) => {
            rejected.record(TlsReject::Timeout, peer, "TLS handshake timed out");
            None
        }
    }
}
