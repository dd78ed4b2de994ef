//! Plaintext HTTP connections: HTTP/1.1 and h2c prior knowledge on one port,
//! served with hyper's own HTTP/1 and HTTP/2 connections (not hyper-util's
//! auto builder) so that an idle HTTP/1.1 keep-alive connection can give its
//! hyper state back.
//!
//! A hyper HTTP/1 connection holds about 16 KB of buffers plus its
//! dispatcher for as long as it lives. Once a connection has been quiet for
//! [`PARK_AFTER`] with no request in flight and nothing left to write, it is
//! *parked*: hyper is asked to close the idle connection, its shutdown of
//! the socket is swallowed ([`ConnIo`]), the socket and any bytes hyper had
//! read are taken back, and everything else is freed. A parked connection
//! is the socket, a waker registration and a deadline; when the client
//! sends again a fresh hyper connection picks up where the old one stopped.
//! The header read timeout still closes a silent connection, parked or not.

use std::convert::Infallible;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::Request;
use http_body::{Frame, SizeHint};
use hyper::body::Incoming;
use hyper::server::conn::{http1, http2};
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::ProxyConfig;
use crate::bind::ConnCtx;
use crate::body::Body;
use crate::prefixed::Prefixed;

/// Quiet time after which an idle HTTP/1.1 connection is parked (checked
/// once per period, so parking happens between one and two periods in).
pub const PARK_AFTER: Duration = Duration::from_millis(250);

/// hyper's HTTP/1 header count limit when none is set.
pub const HYPER_DEFAULT_MAX_HEADERS: usize = 100;

/// The HTTP/2 connection preface a prior-knowledge h2c client starts with.
const H2_PREFACE: &[u8; 24] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// hyper's HTTP/1 and HTTP/2 server settings for one bind, and its drain
/// signal.
pub(crate) struct Servers {
    h1: http1::Builder,
    h2: http2::Builder<TokioExecutor>,
    header_read_timeout: Duration,
    drain: CancellationToken,
}

impl Servers {
    pub fn new(config: &ProxyConfig) -> Servers {
        let mut h1 = http1::Builder::new();
        h1.timer(TokioTimer::new())
            .header_read_timeout(config.header_read_timeout)
            // hyper refuses buffers under 8 KiB.
            .max_buf_size(config.max_header_bytes.max(8192));
        // hyper's default (100) keeps its header array inline and
        // uninitialised; setting any limit builds it element by element on
        // every request.
        if config.max_headers != HYPER_DEFAULT_MAX_HEADERS {
            h1.max_headers(config.max_headers);
        }
        let mut h2 = http2::Builder::new(TokioExecutor::new());
        h2.timer(TokioTimer::new())
            .max_header_list_size(u32::try_from(config.max_header_bytes).unwrap_or(u32::MAX))
            .max_concurrent_streams(config.h2_max_concurrent_streams)
            // RFC 8441 extended CONNECT (WebSocket over HTTP/2).
            .enable_connect_protocol()
            .keep_alive_interval(Some(Duration::from_secs(30)))
            .keep_alive_timeout(Duration::from_secs(10));
        Servers {
            h1,
            h2,
            header_read_timeout: config.header_read_timeout,
            drain: CancellationToken::new(),
        }
    }

    /// The bind is being removed: connections finish their in-flight
    /// requests and close (parked ones at once).
    pub fn drain(&self) {
        self.drain.cancel();
    }
}

/// Serves one accepted plaintext connection until it ends, or until the
/// bind drains and its in-flight requests are done.
pub(crate) async fn serve(servers: &Servers, ctx: ConnCtx, stream: TcpStream) {
    let drain = &servers.drain;
    let peer = ctx.peer;
    let ctx = Arc::new(ctx);
    let sniffed = tokio::select! {
        sniffed = tokio::time::timeout(servers.header_read_timeout, sniff(&stream)) => sniffed,
        () = drain.cancelled() => return,
    };
    match sniffed {
        Ok(Ok(Protocol::H1(prefix))) => serve_h1(servers, ctx, Prefixed::new(prefix, stream)).await,
        Ok(Ok(Protocol::H2(prefix))) => serve_h2(servers, ctx, Prefixed::new(prefix, stream)).await,
        Ok(Ok(Protocol::Closed)) => {}
        Ok(Err(error)) => {
            tracing::debug!(%peer, %error, "connection failed before its first request")
        }
        Err(_) => tracing::debug!(%peer, "no request before the header read timeout"),
    }
}

#[derive(Debug, PartialEq)]
enum Protocol {
    /// HTTP/1.x; the bytes already consumed while deciding.
    H1(Bytes),
    /// h2c prior knowledge; the bytes already consumed.
    H2(Bytes),
    /// The client closed before sending anything.
    Closed,
}

/// Tells HTTP/1.x from the HTTP/2 preface. Usually one `MSG_PEEK` decides
/// and nothing is consumed; a client that sends a strict prefix of the
/// preface is read (consumed) until it can be told apart.
async fn sniff(stream: &TcpStream) -> std::io::Result<Protocol> {
    let mut buf = [0u8; 24];
    let n = stream.peek(&mut buf).await?;
    if let Some(decided) = decide(&buf[..n], Bytes::new()) {
        return Ok(decided);
    }
    // A strict prefix of the preface: peeking again would spin, so consume.
    let mut got = Vec::with_capacity(H2_PREFACE.len());
    loop {
        stream.readable().await?;
        match stream.try_read(&mut buf[..H2_PREFACE.len() - got.len()]) {
            Ok(n) => {
                got.extend_from_slice(&buf[..n]);
                if let Some(decided) = decide(&got, Bytes::from(got.clone())) {
                    return Ok(decided);
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(e) => return Err(e),
        }
    }
}

/// `seen` are the first bytes of the connection; `consumed` the part of
/// them already read from the socket. `None`: not decidable yet.
fn decide(seen: &[u8], consumed: Bytes) -> Option<Protocol> {
    if seen.is_empty() {
        return Some(Protocol::Closed).filter(|_| consumed.is_empty());
    }
    if !H2_PREFACE.starts_with(seen) {
        return Some(Protocol::H1(consumed));
    }
    (seen.len() == H2_PREFACE.len()).then_some(Protocol::H2(consumed))
}

async fn serve_h2(servers: &Servers, ctx: Arc<ConnCtx>, io: Prefixed<TcpStream>) {
    let (peer, drain) = (ctx.peer, &servers.drain);
    let svc = service_fn(move |req| {
        let ctx = Arc::clone(&ctx);
        async move { Ok::<_, Infallible>(crate::handler::handle(ctx, req).await) }
    });
    let io = TokioIo::new(io);
    // Boxed: the HTTP/2 state does not size every connection's task.
    let mut conn = Box::pin(servers.h2.serve_connection(io, svc));
    let result = tokio::select! {
        result = conn.as_mut() => result,
        () = drain.cancelled() => {
            conn.as_mut().graceful_shutdown();
            conn.await
        }
    };
    if let Err(error) = result {
        tracing::debug!(%peer, %error, "connection ended with an error");
    }
}

/// Serves HTTP/1.1, parking the connection whenever it goes idle.
async fn serve_h1(servers: &Servers, ctx: Arc<ConnCtx>, io: Prefixed<TcpStream>) {
    let (peer, drain) = (ctx.peer, &servers.drain);
    let activity = Arc::new(Activity::default());
    let mut io = ConnIo {
        inner: io,
        activity: Arc::clone(&activity),
    };
    // Set while bytes of an unfinished request head sit in a parked
    // connection: the header read timeout runs from here.
    let mut partial_since: Option<(Instant, u64)> = None;
    loop {
        let svc = {
            let (ctx, activity) = (Arc::clone(&ctx), Arc::clone(&activity));
            service_fn(move |req: Request<Incoming>| {
                let guard = InFlight::start(&activity);
                let ctx = Arc::clone(&ctx);
                async move {
                    let resp = crate::handler::handle(ctx, req).await;
                    Ok::<_, Infallible>(resp.map(|body| Tracked {
                        body,
                        _guard: guard,
                    }))
                }
            })
        };
        // Boxed: parking frees hyper's buffers and dispatcher with it.
        let mut conn = Box::new(
            servers
                .h1
                .serve_connection(TokioIo::new(io), svc)
                .with_upgrades(),
        );
        let mut draining = drain.is_cancelled();
        if draining {
            Pin::new(&mut *conn).graceful_shutdown();
        }
        let mut parking = false;
        let mut seen = activity.snapshot();
        let mut check = tokio::time::interval_at(Instant::now() + PARK_AFTER, PARK_AFTER);
        let result = loop {
            tokio::select! {
                biased;
                result = &mut *conn => break result,
                () = drain.cancelled(), if !draining => {
                    draining = true;
                    // Not parking any more: let hyper close the socket.
                    activity.parking.store(false, Ordering::Relaxed);
                    Pin::new(&mut *conn).graceful_shutdown();
                }
                _ = check.tick(), if !parking && !draining => {
                    let now = activity.snapshot();
                    if now == seen && activity.is_idle() {
                        parking = true;
                        activity.parking.store(true, Ordering::Relaxed);
                        Pin::new(&mut *conn).graceful_shutdown();
                    }
                    seen = now;
                }
            }
        };
        activity.parking.store(false, Ordering::Relaxed);
        if let Err(error) = result {
            tracing::debug!(%peer, %error, "connection ended with an error");
            return;
        }
        if !parking || draining {
            return;
        }
        // An upgrade completed instead: the connection lives on elsewhere.
        let Some(parts) = conn.into_parts() else {
            return;
        };
        let mut parked = parts.io.into_inner();
        // An empty `read_buf` still shares hyper's read buffer: only keep
        // bytes that are really there.
        let read_buf = Some(parts.read_buf).filter(|b| !b.is_empty());
        drop(parts.service);
        let limit = servers.header_read_timeout;
        let started = activity.started.load(Ordering::Relaxed);
        let deadline = if read_buf.is_none() {
            partial_since = None;
            // The connection has been quiet for at least one period.
            Instant::now() + limit.saturating_sub(PARK_AFTER)
        } else {
            // Part of a request head: the timeout runs from the first park
            // that found it, across parks, until a request starts.
            let since = match partial_since {
                Some((at, n)) if n == started => at,
                _ => Instant::now(),
            };
            partial_since = Some((since, started));
            since + limit
        };
        if let Some(read_buf) = read_buf {
            if Instant::now() >= deadline {
                tracing::debug!(%peer, "request head not completed before the header read timeout");
                return;
            }
            parked.inner.set_prefix(read_buf);
            io = parked;
            continue;
        }
        tracing::trace!(%peer, "idle connection parked");
        tokio::select! {
            ready = parked.inner.get_ref().readable() => {
                if let Err(error) = ready {
                    tracing::debug!(%peer, %error, "parked connection failed");
                    return;
                }
            }
            () = tokio::time::sleep_until(deadline) => {
                tracing::debug!(%peer, "idle connection closed after the header read timeout");
                return;
            }
            () = drain.cancelled() => return,
        }
        io = parked;
    }
}

/// What the park check looks at; shared by the connection's IO, its
/// requests and the driver (all on one task: relaxed atomics suffice).
#[derive(Debug, Default)]
struct Activity {
    /// Successful reads and writes.
    io: AtomicU64,
    /// Requests started.
    started: AtomicU64,
    /// Requests whose response body hyper still holds.
    in_flight: AtomicU32,
    /// The last write or flush could not complete.
    write_blocked: AtomicBool,
    /// hyper is closing the connection for a park: keep the socket open.
    parking: AtomicBool,
}

impl Activity {
    fn snapshot(&self) -> (u64, u64) {
        (
            self.io.load(Ordering::Relaxed),
            self.started.load(Ordering::Relaxed),
        )
    }

    fn is_idle(&self) -> bool {
        self.in_flight.load(Ordering::Relaxed) == 0 && !self.write_blocked.load(Ordering::Relaxed)
    }

    fn touch(&self) {
        // One writer (the connection's task): no read-modify-write needed.
        self.io.store(
            self.io.load(Ordering::Relaxed).wrapping_add(1),
            Ordering::Relaxed,
        );
    }
}

/// Counts a request from its start until hyper drops its response body.
struct InFlight(Arc<Activity>);

impl InFlight {
    fn start(activity: &Arc<Activity>) -> InFlight {
        activity.started.fetch_add(1, Ordering::Relaxed);
        activity.in_flight.fetch_add(1, Ordering::Relaxed);
        InFlight(Arc::clone(activity))
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

/// A response body that keeps its request counted as in flight.
struct Tracked {
    body: Body,
    _guard: InFlight,
}

impl http_body::Body for Tracked {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        Pin::new(&mut self.get_mut().body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

/// The downstream socket as hyper sees it: records activity for the park
/// check and, while parking, turns hyper's shutdown into a no-op so the
/// socket stays open.
struct ConnIo {
    inner: Prefixed<TcpStream>,
    activity: Arc<Activity>,
}

impl ConnIo {
    /// After a write: bytes written are activity; `Pending` means hyper
    /// still holds bytes for the client.
    fn wrote(&self, polled: &Poll<std::io::Result<usize>>) {
        match polled {
            Poll::Ready(Ok(n)) => {
                self.activity.write_blocked.store(false, Ordering::Relaxed);
                if *n > 0 {
                    self.activity.touch();
                }
            }
            Poll::Pending => self.activity.write_blocked.store(true, Ordering::Relaxed),
            Poll::Ready(Err(_)) => {}
        }
    }

    /// After a flush (hyper flushes on every poll: not activity by itself).
    fn flushed(&self, polled: &Poll<std::io::Result<()>>) {
        match polled {
            Poll::Ready(Ok(())) => self.activity.write_blocked.store(false, Ordering::Relaxed),
            Poll::Pending => self.activity.write_blocked.store(true, Ordering::Relaxed),
            Poll::Ready(Err(_)) => {}
        }
    }
}

impl AsyncRead for ConnIo {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let polled = Pin::new(&mut this.inner).poll_read(cx, buf);
        if buf.filled().len() > before {
            this.activity.touch();
        }
        polled
    }
}

impl AsyncWrite for ConnIo {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.inner).poll_write(cx, buf);
        this.wrote(&polled);
        polled
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.inner).poll_write_vectored(cx, bufs);
        this.wrote(&polled);
        polled
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.inner).poll_flush(cx);
        this.flushed(&polled);
        polled
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        if this.activity.parking.load(Ordering::Relaxed) {
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut this.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sniff_decisions() {
        assert_eq!(
            decide(b"GET / HTTP/1.1\r\n", Bytes::new()),
            Some(Protocol::H1(Bytes::new()))
        );
        assert_eq!(
            decide(H2_PREFACE, Bytes::new()),
            Some(Protocol::H2(Bytes::new()))
        );
        // "P" could be either ("POST" or the preface); "PO" cannot be HTTP/2.
        assert_eq!(decide(b"P", Bytes::new()), None);
        assert_eq!(
            decide(b"PO", Bytes::from_static(b"PO")),
            Some(Protocol::H1(Bytes::from_static(b"PO")))
        );
        assert_eq!(decide(b"", Bytes::new()), Some(Protocol::Closed));
    }

    #[tokio::test]
    async fn sniff_reads_a_split_preface() {
        use tokio::io::AsyncWriteExt;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (go, rest) = tokio::sync::oneshot::channel::<()>();
        let client = tokio::spawn(async move {
            let mut c = TcpStream::connect(addr).await.unwrap();
            c.write_all(&H2_PREFACE[..5]).await.unwrap();
            let _ = rest.await;
            c.write_all(&H2_PREFACE[5..]).await.unwrap();
            c
        });
        let (server, _) = listener.accept().await.unwrap();
        let mut buf = [0u8; 24];
        let deadline = Instant::now() + Duration::from_secs(5);
        while server.peek(&mut buf).await.unwrap() < 5 {
            assert!(Instant::now() < deadline, "first bytes never arrived");
            tokio::task::yield_now().await;
        }
        // sniff peeks the five bytes first, then the rest is sent.
        let (got, _) = tokio::join!(
            tokio::time::timeout(Duration::from_secs(5), sniff(&server)),
            async { go.send(()).unwrap() }
        );
        assert_eq!(
            got.unwrap().unwrap(),
            Protocol::H2(Bytes::from_static(H2_PREFACE))
        );
        drop(client.await.unwrap());
    }

    #[test]
    fn idle_needs_no_request_in_flight_and_nothing_to_write() {
        let a = Arc::new(Activity::default());
        assert!(a.is_idle());
        let guard = InFlight::start(&a);
        assert!(!a.is_idle());
        drop(guard);
        assert!(a.is_idle());
        a.write_blocked.store(true, Ordering::Relaxed);
        assert!(!a.is_idle());
    }
}
