//! A connection that can be closed with a TCP RST on request (`/retry`
//! without a response code): the socket gets `SO_LINGER = 0` just before it
//! is dropped.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::Notify;

/// Shared between a connection and the requests on it.
#[derive(Debug, Default)]
pub(crate) struct ResetSignal {
    requested: AtomicBool,
    notify: Notify,
}

impl ResetSignal {
    /// Asks the connection task to drop the connection with a reset.
    pub(crate) fn trigger(&self) {
        self.requested.store(true, Ordering::SeqCst);
        self.notify.notify_one();
    }

    /// Resolves once [`ResetSignal::trigger`] was called.
    pub(crate) async fn triggered(&self) {
        loop {
            if self.requested.load(Ordering::SeqCst) {
                return;
            }
            self.notify.notified().await;
        }
    }

    fn is_requested(&self) -> bool {
        self.requested.load(Ordering::SeqCst)
    }
}

/// A `TcpStream` that resets instead of closing when its signal fired.
#[derive(Debug)]
pub(crate) struct ResettableStream {
    inner: TcpStream,
    signal: Arc<ResetSignal>,
}

impl ResettableStream {
    pub(crate) fn new(inner: TcpStream, signal: Arc<ResetSignal>) -> Self {
        Self { inner, signal }
    }
}

impl Drop for ResettableStream {
    fn drop(&mut self) {
        if self.signal.is_requested() {
            let sock = socket2::SockRef::from(&self.inner);
            if let Err(error) = sock.set_linger(Some(Duration::ZERO)) {
                tracing::debug!(%error, "could not arm connection reset");
            }
        }
    }
}

impl AsyncRead for ResettableStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for ResettableStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}
