//! The handle returned by every `serve_*` function.

use std::net::SocketAddr;

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::Identity;

/// A running echo server.
///
/// The server stops when the token passed to `serve_*` is cancelled, when
/// [`ServerHandle::shutdown`] is called, or when the handle is dropped (so a
/// test cannot leak a server). Stopping closes the listener, lets in-flight
/// HTTP requests finish and closes idle connections.
#[derive(Debug)]
pub struct ServerHandle {
    local_addr: SocketAddr,
    identity: Identity,
    token: CancellationToken,
    task: Option<JoinHandle<()>>,
}

impl ServerHandle {
    pub(crate) fn new(
        local_addr: SocketAddr,
        identity: Identity,
        token: CancellationToken,
        task: JoinHandle<()>,
    ) -> Self {
        Self {
            local_addr,
            identity,
            token,
            task: Some(task),
        }
    }

    /// The address the server listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The identity it reports (with the derived pod name filled in).
    pub fn identity(&self) -> &Identity {
        &self.identity
    }

    /// Stops the server and waits until its tasks are done.
    pub async fn shutdown(mut self) {
        self.token.cancel();
        self.join().await;
    }

    /// Waits until the server stops (its shutdown token is cancelled).
    pub async fn wait(mut self) {
        self.join().await;
    }

    async fn join(&mut self) {
        if let Some(task) = self.task.take()
            && let Err(error) = task.await
        {
            tracing::warn!(%error, addr = %self.local_addr, "echo server task failed");
        }
    }
}

impl Drop for ServerHandle {
    fn drop(&mut self) {
        self.token.cancel();
    }
}
