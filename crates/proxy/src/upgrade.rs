//! HTTP/1.1 upgrades (WebSocket): once the upstream answers 101, the two
//! upgraded connections are spliced byte for byte.

use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;

use crate::upstream::InflightGuard;

/// Splices `downstream` and `upstream` in the background; the endpoint's
/// in-flight count holds until the tunnel closes.
pub fn splice(downstream: OnUpgrade, upstream: OnUpgrade, guard: InflightGuard) {
    tokio::spawn(async move {
        let _guard = guard;
        let (down, up) = match tokio::join!(downstream, upstream) {
            (Ok(d), Ok(u)) => (d, u),
            (Err(error), _) | (_, Err(error)) => {
                tracing::debug!(%error, "upgrade failed");
                return;
            }
        };
        let mut down = TokioIo::new(down);
        let mut up = TokioIo::new(up);
        match tokio::io::copy_bidirectional(&mut down, &mut up).await {
            Ok((to_up, to_down)) => tracing::debug!(to_up, to_down, "upgraded connection closed"),
            Err(error) => tracing::debug!(%error, "upgraded connection ended with an error"),
        }
    });
}
