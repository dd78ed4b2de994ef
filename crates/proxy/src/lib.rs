//! The data plane: listeners bound from the IR, HTTP routing, filters, load
//! balancing and connection pools. Knows nothing about Kubernetes.
//!
//! Layout: [`listeners`] diffs each IR into socket changes and swaps
//! routing tables; [`bind`] owns one socket and its connections;
//! [`router`] matches requests (one matcher per file); [`handler`] runs the
//! request pipeline; [`filters`], [`lb`] and [`upstream`] do the rest.

#![forbid(unsafe_code)]

mod action;
mod bind;
mod body;
mod cert_choice;
mod error;
mod extended_connect;
pub mod filters;
mod flow;
mod handler;
mod hygiene;
mod idle_splice;
mod l4;
pub mod lb;
mod listeners;
mod local_reply;
mod metrics;
mod plain;
mod prefixed;
pub mod proxy_protocol;
pub mod rejections;
mod replay;
mod retry;
pub mod router;
mod session;
mod sni;
mod tls;
mod tracing_hook;
mod udp;
mod upgrade;
pub mod upstream;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use portico_ir::Ir;
use portico_observe::flow::FlowSink;

pub use body::Body;
pub use error::Error;
pub use metrics::{Metrics, MetricsSnapshot};

/// Data-plane settings that do not come from the IR.
#[derive(Clone, Debug)]
pub struct ProxyConfig {
    /// Number of trusted proxies in front of Portico whose X-Forwarded-*
    /// values are believed (0: never trust client-supplied values).
    pub trusted_hops: usize,
    /// Slow clients: time allowed to send a complete request head.
    pub header_read_timeout: Duration,
    /// Largest request head (HTTP/1.1 buffer, HTTP/2 header list), bytes.
    pub max_header_bytes: usize,
    /// Most header fields in one HTTP/1.1 request.
    pub max_headers: usize,
    pub h2_max_concurrent_streams: u32,
    /// Upstream TCP connect timeout.
    pub connect_timeout: Duration,
    /// Idle upstream keep-alive connections are closed after this.
    pub upstream_idle_timeout: Duration,
    /// TCPRoute / TLSRoute connections with no byte either way for this
    /// long are closed.
    pub stream_idle_timeout: Duration,
    /// Most open connections per TCP or TLS bind (TCPRoute/TLSRoute); more
    /// are closed at once and counted.
    pub max_stream_connections: usize,
    /// How long a removed listener drains its connections.
    pub drain_timeout: Duration,
    /// Also add an RFC 7239 `Forwarded` header (X-Forwarded-* always are).
    pub forwarded_header: bool,
    /// Where per-request flow records go (disabled: nothing is built).
    pub flows: FlowSink,
    /// Passive outlier detection for upstream endpoints.
    pub outlier: upstream::OutlierPolicy,
    /// OpenTelemetry server spans per HTTP/gRPC request (`None`: off, no
    /// cost on the request path).
    pub tracer: Option<portico_observe::trace::Tracer>,
}

impl Default for ProxyConfig {
    fn default() -> Self {
        ProxyConfig {
            trusted_hops: 0,
            header_read_timeout: Duration::from_secs(30),
            max_header_bytes: 64 * 1024,
            max_headers: 100,
            h2_max_concurrent_streams: 1024,
            connect_timeout: Duration::from_secs(5),
            upstream_idle_timeout: Duration::from_secs(90),
            stream_idle_timeout: Duration::from_secs(3600),
            max_stream_connections: 16 * 1024,
            drain_timeout: Duration::from_secs(30),
            forwarded_header: false,
            flows: FlowSink::disabled(),
            outlier: upstream::OutlierPolicy {
                consecutive_failures: 5,
                base_ejection: Duration::from_secs(30),
            },
            tracer: None,
        }
    }
}

/// The result of applying one IR: which listeners are live.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ApplyReport {
    pub listeners: Vec<ListenerState>,
}

impl ApplyReport {
    /// The state of listener `id`, if the IR had it.
    pub fn listener(&self, id: &str) -> Option<&ListenerState> {
        self.listeners.iter().find(|l| l.listener_id == id)
    }
}

/// State of one IR listener after an apply.
#[derive(Clone, Debug, PartialEq)]
pub struct ListenerState {
    /// [`portico_ir::Listener::id`].
    pub listener_id: String,
    /// The bound address (the real port when the IR asked for port 0).
    pub address: SocketAddr,
    /// Why the listener is not serving (bind failed, protocol not
    /// implemented yet, …): the binary reports Programmed=False.
    pub error: Option<String>,
}

struct Inner {
    config: Arc<ProxyConfig>,
    metrics: Arc<Metrics>,
    manager: tokio::sync::Mutex<listeners::Manager>,
}

/// The running data plane. Cheap to clone; clones share everything.
#[derive(Clone)]
pub struct Proxy {
    inner: Arc<Inner>,
}

impl Default for Proxy {
    fn default() -> Self {
        Proxy::new(ProxyConfig::default())
    }
}

impl Proxy {
    pub fn new(config: ProxyConfig) -> Proxy {
        let config = Arc::new(config);
        let metrics = Arc::new(Metrics::default());
        let manager = listeners::Manager::new(Arc::clone(&config), Arc::clone(&metrics));
        Proxy {
            inner: Arc::new(Inner {
                config,
                metrics,
                manager: tokio::sync::Mutex::new(manager),
            }),
        }
    }

    pub fn config(&self) -> &ProxyConfig {
        &self.inner.config
    }

    /// Live counters (requests, connections, upstream errors, …).
    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.inner.metrics
    }

    /// Makes the data plane serve `ir`: binds new sockets, swaps routing tables,
    /// drains removed listeners. Never drops connections it did not remove.
    /// Applies are serialized; must run inside a Tokio runtime.
    pub async fn apply(&self, ir: Arc<Ir>) -> ApplyReport {
        let mut manager = self.inner.manager.lock().await;
        ApplyReport {
            listeners: manager.apply(&ir).await,
        }
    }

    /// Stops accepting and waits up to `grace` for in-flight requests.
    pub async fn shutdown(&self, grace: Duration) {
        self.inner.manager.lock().await.shutdown(grace).await;
    }
}
