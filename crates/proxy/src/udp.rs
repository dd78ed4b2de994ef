//! UDP listeners (UDPRoute): datagrams from each client address go to one
//! endpoint through a per-client upstream socket ("session"); replies come
//! back from the listener socket. Sessions end after an idle period.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use socket2::{Domain, Protocol, Socket, Type};
use tokio::net::UdpSocket;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::Error;
use crate::bind::BindShared;
use crate::lb::client_hash;
use crate::metrics::Metrics;
use crate::upstream::{Backend, InflightGuard, Target};

/// Sessions idle this long are closed.
const IDLE: Duration = Duration::from_secs(60);
/// Upper bound on concurrent client sessions per listener.
const MAX_SESSIONS: usize = 16 * 1024;
const MAX_DATAGRAM: usize = 64 * 1024;

/// Binds a UDP socket with SO_REUSEADDR.
pub fn listen(address: SocketAddr) -> Result<UdpSocket, Error> {
    let wrap = |source| Error::Bind { address, source };
    let socket = Socket::new(
        Domain::for_address(address),
        Type::DGRAM,
        Some(Protocol::UDP),
    )
    .map_err(wrap)?;
    socket.set_reuse_address(true).map_err(wrap)?;
    if address.is_ipv6() {
        socket.set_only_v6(true).map_err(wrap)?;
    }
    socket.set_nonblocking(true).map_err(wrap)?;
    socket.bind(&address.into()).map_err(wrap)?;
    UdpSocket::from_std(socket.into()).map_err(wrap)
}

struct Session {
    upstream: Arc<UdpSocket>,
    replies: JoinHandle<()>,
}

/// Runs until `stop` fires; then closes the socket and ends every session.
pub async fn serve(
    socket: UdpSocket,
    shared: Arc<BindShared>,
    mut stop: oneshot::Receiver<Duration>,
    closed: oneshot::Sender<()>,
) {
    let socket = Arc::new(socket);
    let local = socket.local_addr().ok();
    let mut sessions: HashMap<SocketAddr, Session> = HashMap::new();
    let mut buf = vec![0u8; MAX_DATAGRAM];
    loop {
        let (n, client) = tokio::select! {
            biased;
            _ = &mut stop => break,
            received = socket.recv_from(&mut buf) => match received {
                Ok(r) => r,
                Err(error) => {
                    // ICMP errors surface here on some platforms; keep serving.
                    tracing::debug!(?local, %error, "UDP receive failed");
                    continue;
                }
            },
        };
        sessions.retain(|_, s| !s.replies.is_finished());
        if !sessions.contains_key(&client) {
            if sessions.len() >= MAX_SESSIONS {
                tracing::debug!(%client, "too many UDP sessions; datagram dropped");
                continue;
            }
            match open(&shared, &socket, client).await {
                Some(s) => {
                    sessions.insert(client, s);
                }
                None => continue,
            }
        }
        if let Some(s) = sessions.get(&client)
            && let Err(error) = s.upstream.send(&buf[..n]).await
        {
            tracing::debug!(%client, %error, "UDP send upstream failed");
        }
    }
    for (_, s) in sessions.drain() {
        s.replies.abort();
    }
    drop(socket);
    let _ = closed.send(());
}

/// A session for `client`: an upstream socket connected to the chosen
/// endpoint and a task relaying its replies back to the client.
async fn open(shared: &BindShared, socket: &Arc<UdpSocket>, client: SocketAddr) -> Option<Session> {
    let table = shared.l4.load_full()?;
    let Some(Backend {
        target: Target::Cluster(cluster),
        ..
    }) = table.stream_route()?.pick()
    else {
        Metrics::incr(&shared.metrics.invalid_backend_total);
        return None;
    };
    let Some(endpoint) = cluster.pick(client_hash(client.ip())) else {
        Metrics::incr(&shared.metrics.no_endpoint_total);
        return None;
    };
    let bind_to: SocketAddr = if endpoint.address.is_ipv6() {
        (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
    } else {
        (std::net::Ipv4Addr::UNSPECIFIED, 0).into()
    };
    let upstream = match UdpSocket::bind(bind_to).await {
        Ok(s) => s,
        Err(error) => {
            tracing::warn!(%error, "UDP upstream socket failed");
            return None;
        }
    };
    if let Err(error) = upstream.connect(endpoint.address).await {
        Metrics::incr(&shared.metrics.upstream_errors_total);
        tracing::debug!(endpoint = %endpoint.address, %error, "UDP connect failed");
        return None;
    }
    let upstream = Arc::new(upstream);
    let (up, down, guard) = (
        Arc::clone(&upstream),
        Arc::clone(socket),
        InflightGuard::new(Arc::clone(&endpoint)),
    );
    let replies = tokio::spawn(async move {
        let _guard = guard;
        let mut buf = vec![0u8; MAX_DATAGRAM];
        loop {
            match tokio::time::timeout(IDLE, up.recv(&mut buf)).await {
                Ok(Ok(n)) => {
                    if let Err(error) = down.send_to(&buf[..n], client).await {
                        tracing::debug!(%client, %error, "UDP reply failed");
                    }
                }
                Ok(Err(error)) => {
                    tracing::debug!(%client, %error, "UDP upstream receive failed; session closed");
                    break;
                }
                Err(_) => break, // idle
            }
        }
    });
    Some(Session { upstream, replies })
}
