//! The accept loop shared by the TCP-based modes.

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// Pause after a failed `accept` (e.g. EMFILE) so the loop does not spin.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);

/// Accepts connections until `token` is cancelled, running `on_conn` for
/// each on its own task; then closes the listener and waits for the
/// connection tasks (which watch the same token) to finish.
pub(crate) async fn accept_loop<F, Fut>(listener: TcpListener, token: CancellationToken, on_conn: F)
where
    F: Fn(TcpStream, SocketAddr) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let tracker = TaskTracker::new();
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = token.cancelled() => break,
        };
        match accepted {
            Ok((stream, remote)) => {
                if let Err(error) = stream.set_nodelay(true) {
                    tracing::debug!(%error, %remote, "could not set TCP_NODELAY");
                }
                tracker.spawn(on_conn(stream, remote));
            }
            Err(error) => {
                tracing::warn!(%error, "echo accept failed");
                tokio::select! {
                    () = tokio::time::sleep(ACCEPT_BACKOFF) => {}
                    () = token.cancelled() => break,
                }
            }
        }
    }
    drop(listener);
    tracker.close();
    tracker.wait().await;
}
