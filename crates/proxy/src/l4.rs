//! L4 proxying: TCP listeners (TCPRoute) and TLS passthrough listeners
//! (TLSRoute by SNI). Bytes are spliced to an endpoint picked the same way
//! HTTP picks one (weights, then the cluster's load balancer).

use std::net::SocketAddr;
use std::sync::Arc;

use portico_ir::{BackendTarget, Bind, HostMatch, TlsMode, WeightedBackend};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::bind::BindShared;
use crate::lb::client_hash;
use crate::metrics::Metrics;
use crate::prefixed::Prefixed;
use crate::proxy_protocol;
use crate::rejections::TlsReject;
use crate::sni;
use crate::tls::TlsTable;
use crate::upstream::{Backend, BackendSet, InflightGuard, Target, Upstreams};

/// Routes of one TCP or TLS-passthrough bind.
#[derive(Debug, Default)]
pub struct L4Table {
    /// TCP: the backends of the first listener with a route.
    tcp: Option<BackendSet>,
    /// TLS listeners (most specific first): hostname, mode, SNI routes.
    tls: Vec<(HostMatch, TlsMode, Vec<SniRoute>)>,
    /// Certificates of the Terminate-mode TLS listeners.
    terminate: TlsTable,
}

/// One TLSRoute: its hostnames (empty: any) and backends.
type SniRoute = (Vec<HostMatch>, BackendSet);

fn backends(list: &[WeightedBackend], upstreams: &Upstreams) -> BackendSet {
    BackendSet::new(list.iter().map(|b| {
        let target = match &b.target {
            BackendTarget::Cluster(id) => match upstreams.get(id) {
                Some(c) => Target::Cluster(Arc::clone(c)),
                None => Target::Invalid(format!("cluster {id} is not in the IR").into()),
            },
            BackendTarget::Invalid { reason } => Target::Invalid(reason.as_str().into()),
        };
        (
            b.weight,
            Backend {
                target,
                filters: Vec::new(),
            },
        )
    }))
}

impl L4Table {
    pub fn compile(bind: &Bind, upstreams: &Upstreams) -> L4Table {
        L4Table {
            tcp: bind
                .listeners
                .iter()
                .find_map(|l| l.l4_route.as_ref())
                .map(|r| backends(&r.backends, upstreams)),
            tls: bind
                .listeners
                .iter()
                .map(|l| {
                    let routes = l
                        .tls_routes
                        .iter()
                        .map(|r| (r.hostnames.clone(), backends(&r.backends, upstreams)))
                        .collect();
                    let mode = l.tls.as_ref().map_or(TlsMode::Passthrough, |t| t.mode);
                    (l.hostname.clone(), mode, routes)
                })
                .collect(),
            terminate: TlsTable::build_terminate(bind),
        }
    }

    /// TCP and UDP: the backends of the first listener with a route.
    pub fn stream_route(&self) -> Option<&BackendSet> {
        self.tcp.as_ref()
    }

    /// TLS passthrough: the backends for a server name (listener isolation:
    /// only the most specific matching listener's routes are considered).
    fn by_sni(&self, sni: &str) -> Option<(TlsMode, &BackendSet)> {
        let (_, mode, routes) = self.tls.iter().find(|(h, _, _)| h.matches(sni))?;
        routes
            .iter()
            .find(|(hosts, _)| hosts.is_empty() || hosts.iter().any(|h| h.matches(sni)))
            .map(|(_, b)| (*mode, b))
    }
}

/// Serves one TCP connection.
pub async fn tcp(
    shared: &BindShared,
    table: &L4Table,
    stream: TcpStream,
    peer: SocketAddr,
    local: SocketAddr,
) {
    let Some(set) = &table.tcp else {
        tracing::debug!(%peer, "no TCP route; closing");
        return;
    };
    splice(shared, set, stream, (peer, local), &[]).await;
}

/// Serves one TLS-listener connection: reads the ClientHello and routes by
/// its server name. Passthrough replays the ClientHello to the endpoint and
/// splices the rest; Terminate completes the handshake with the listener's
/// certificate and splices the decrypted bytes.
pub async fn tls_passthrough(
    shared: &BindShared,
    table: &L4Table,
    mut stream: TcpStream,
    peer: SocketAddr,
    local: SocketAddr,
) {
    let limit = shared.config.header_read_timeout;
    let rejected = &shared.metrics.tls_rejected;
    let hello = match tokio::time::timeout(limit, sni::read_client_hello(&mut stream)).await {
        Ok(Ok(hello)) => hello,
        Ok(Err(error)) => {
            rejected.record(TlsReject::of_read(&error), peer, &error.to_string());
            return;
        }
        Err(_) => {
            rejected.record(
                TlsReject::Timeout,
                peer,
                "no ClientHello before the deadline",
            );
            return;
        }
    };
    let name = sni::server_name(&hello).map(|n| n.trim_end_matches('.').to_ascii_lowercase());
    let Some((mode, set)) = name.as_deref().and_then(|n| table.by_sni(n)) else {
        let detail = format!("no TLS route for server name {name:?}");
        rejected.record(TlsReject::NoRoute, peer, &detail);
        let _ = stream.shutdown().await;
        return;
    };
    if mode == TlsMode::Passthrough {
        splice(shared, set, stream, (peer, local), &hello).await;
        return;
    }
    let Some(entry) = table.terminate.select(name.as_deref()) else {
        let detail = format!("no certificate for server name {name:?}");
        rejected.record(TlsReject::NoRoute, peer, &detail);
        return;
    };
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::clone(&entry.config));
    let accept = acceptor.accept(Prefixed::new(hello, stream));
    match tokio::time::timeout(limit, accept).await {
        Ok(Ok(tls)) => splice(shared, set, tls, (peer, local), &[]).await,
        Ok(Err(error)) => rejected.record(TlsReject::Handshake, peer, &error.to_string()),
        Err(_) => rejected.record(TlsReject::Timeout, peer, "TLS handshake timed out"),
    }
}

async fn splice(
    shared: &BindShared,
    set: &BackendSet,
    mut stream: impl AsyncRead + AsyncWrite + Unpin,
    (peer, local): (SocketAddr, SocketAddr),
    prefix: &[u8],
) {
    let Some(Backend {
        target: Target::Cluster(cluster),
        ..
    }) = set.pick()
    else {
        Metrics::incr(&shared.metrics.invalid_backend_total);
        tracing::debug!(%peer, "no valid backend; closing");
        return;
    };
    let Some(endpoint) = cluster.pick(client_hash(peer.ip())) else {
        Metrics::incr(&shared.metrics.no_endpoint_total);
        tracing::debug!(%peer, cluster = %cluster.id, "no usable endpoint; closing");
        return;
    };
    let _guard = InflightGuard::new(Arc::clone(&endpoint));
    let connect = TcpStream::connect(endpoint.address);
    let mut upstream = match tokio::time::timeout(shared.config.connect_timeout, connect).await {
        Ok(Ok(s)) => s,
        Ok(Err(error)) => {
            Metrics::incr(&shared.metrics.upstream_errors_total);
            endpoint.outlier.failure(&shared.config.outlier);
            tracing::debug!(%peer, endpoint = %endpoint.address, %error, "upstream connect failed");
            return;
        }
        Err(_) => {
            Metrics::incr(&shared.metrics.upstream_errors_total);
            endpoint.outlier.failure(&shared.config.outlier);
            tracing::debug!(%peer, endpoint = %endpoint.address, "upstream connect timed out");
            return;
        }
    };
    endpoint.outlier.success();
    let _ = upstream.set_nodelay(true);
    // A PROXY protocol header (if the cluster asks for one) comes first,
    // then the replayed ClientHello.
    let origin = proxy_protocol::Addresses {
        source: peer,
        destination: local,
    };
    let first = match proxy_protocol::preface(cluster.proxy_protocol, Some(origin)) {
        Some(mut header) => {
            header.extend_from_slice(prefix);
            std::borrow::Cow::Owned(header)
        }
        None => std::borrow::Cow::Borrowed(prefix),
    };
    if !first.is_empty()
        && let Err(error) = upstream.write_all(&first).await
    {
        tracing::debug!(%peer, %error, "upstream write failed");
        return;
    }
    let idle = shared.config.stream_idle_timeout;
    match crate::idle_splice::copy_bidirectional_idle(&mut stream, &mut upstream, idle).await {
        Ok((up, down)) => {
            tracing::debug!(%peer, endpoint = %endpoint.address, up, down, "L4 connection closed")
        }
        Err(error) => tracing::debug!(%peer, %error, "L4 connection ended with an error"),
    }
}
