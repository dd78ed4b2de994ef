//! Bidirectional copy for TCP/TLS routes with an idle timeout: the
//! connection ends when neither side has sent a byte for `idle`. Half-close
//! is kept (one side's EOF shuts the other side's write half while the
//! opposite direction goes on), as `tokio::io::copy_bidirectional` does.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::Instant;

/// Copies both ways until both sides are done; `Err(TimedOut)` when nothing
/// moved for `idle`. Returns the bytes sent (a → b, b → a).
pub async fn copy_bidirectional_idle<A, B>(
    a: &mut A,
    b: &mut B,
    idle: Duration,
) -> io::Result<(u64, u64)>
where
    A: AsyncRead + AsyncWrite + Unpin + ?Sized,
    B: AsyncRead + AsyncWrite + Unpin + ?Sized,
{
    let start = Instant::now();
    let last = Arc::new(AtomicU64::new(0));
    let mut a = Touch {
        inner: a,
        start,
        last: Arc::clone(&last),
    };
    let mut b = Touch {
        inner: b,
        start,
        last: Arc::clone(&last),
    };
    let copy = tokio::io::copy_bidirectional(&mut a, &mut b);
    tokio::pin!(copy);
    loop {
        let last_activity = start + Duration::from_millis(last.load(Ordering::Relaxed));
        tokio::select! {
            done = &mut copy => return done,
            () = tokio::time::sleep_until(last_activity + idle) => {
                let now_quiet = start + Duration::from_millis(last.load(Ordering::Relaxed));
                if now_quiet + idle <= Instant::now() {
                    return Err(io::Error::new(io::ErrorKind::TimedOut, "idle timeout"));
                }
            }
        }
    }
}

/// A stream that notes when it last read a byte.
struct Touch<'a, S: ?Sized> {
    inner: &'a mut S,
    start: Instant,
    last: Arc<AtomicU64>,
}

impl<S: AsyncRead + Unpin + ?Sized> AsyncRead for Touch<'_, S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut *self.inner).poll_read(cx, buf);
        if matches!(polled, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            let ms = u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX);
            self.last.store(ms, Ordering::Relaxed);
        }
        polled
    }
}

impl<S: AsyncWrite + Unpin + ?Sized> AsyncWrite for Touch<'_, S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut *self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut *self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut *self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    const IDLE: Duration = Duration::from_secs(60);

    #[tokio::test(start_paused = true)]
    async fn quiet_connections_end_after_the_idle_timeout() {
        let (mut client, mut proxy_in) = tokio::io::duplex(64);
        let (mut proxy_out, mut server) = tokio::io::duplex(64);
        let splice = tokio::spawn(async move {
            copy_bidirectional_idle(&mut proxy_in, &mut proxy_out, IDLE).await
        });
        // Traffic keeps it alive past one idle period.
        for _ in 0..3 {
            tokio::time::sleep(IDLE / 2).await;
            client.write_all(b"ping").await.expect("write");
            let mut got = [0u8; 4];
            server.read_exact(&mut got).await.expect("read");
            assert_eq!(&got, b"ping");
        }
        assert!(!splice.is_finished());
        // Then nothing for a whole period: it ends with TimedOut.
        let err = splice
            .await
            .expect("task")
            .expect_err("idle connection must end");
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
    }

    #[tokio::test(start_paused = true)]
    async fn half_close_keeps_the_other_direction() {
        let (mut client, mut proxy_in) = tokio::io::duplex(64);
        let (mut proxy_out, mut server) = tokio::io::duplex(64);
        let splice = tokio::spawn(async move {
            copy_bidirectional_idle(&mut proxy_in, &mut proxy_out, IDLE).await
        });
        client.write_all(b"request").await.expect("write");
        client.shutdown().await.expect("client half-close");
        let mut got = Vec::new();
        server.read_to_end(&mut got).await.expect("server sees EOF");
        assert_eq!(got, b"request");
        server.write_all(b"response").await.expect("write back");
        server.shutdown().await.expect("server close");
        let mut back = Vec::new();
        client.read_to_end(&mut back).await.expect("read");
        assert_eq!(back, b"response");
        let (up, down) = splice.await.expect("task").expect("clean end");
        assert_eq!((up, down), (7, 8));
    }
}
