//! The data plane: listeners bound from the IR, HTTP routing, filters, load
//! balancing and connection pools. Knows nothing about Kubernetes.
//!
//! (Skeleton: the public surface the binary codes against.)

#![forbid(unsafe_code)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use portico_ir::Ir;

/// Data-plane settings that do not come from the IR.
#[derive(Clone, Debug, Default)]
pub struct ProxyConfig {
    /// Number of trusted proxies in front of Portico whose X-Forwarded-For
    /// entries are believed (0: never trust client-supplied values).
    pub trusted_hops: usize,
}

/// The result of applying one IR: which listeners are live.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ApplyReport {
    pub listeners: Vec<ListenerState>,
}

/// State of one IR listener after an apply.
#[derive(Clone, Debug, PartialEq)]
pub struct ListenerState {
    /// [`portico_ir::Listener::id`].
    pub listener_id: String,
    pub address: SocketAddr,
    /// Why the listener is not serving (bind failed, certificate rejected, …).
    pub error: Option<String>,
}

/// The running data plane.
#[derive(Clone, Default)]
pub struct Proxy {
    config: Arc<ProxyConfig>,
}

impl Proxy {
    pub fn new(config: ProxyConfig) -> Proxy {
        Proxy {
            config: Arc::new(config),
        }
    }

    pub fn config(&self) -> &ProxyConfig {
        &self.config
    }

    /// Makes the data plane serve `ir`: binds new sockets, swaps routing tables,
    /// drains removed listeners. Never drops connections it did not remove.
    pub async fn apply(&self, ir: Arc<Ir>) -> ApplyReport {
        let _ = ir;
        ApplyReport::default()
    }

    /// Stops accepting and waits up to `grace` for in-flight requests.
    pub async fn shutdown(&self, grace: Duration) {
        let _ = grace;
    }
}
