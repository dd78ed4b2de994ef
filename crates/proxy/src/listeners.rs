//! The listener manager: turns each IR into the smallest set of socket
//! changes. Kept binds only get a new routing table (atomic swap); new binds
//! are bound; removed binds stop accepting and drain.

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::{ArcSwap, ArcSwapOption};
use portico_ir::{Bind, BindProtocol, Ir, TlsMode};
use tokio::task::JoinHandle;

use crate::bind::{self, BindHandle, BindShared};
use crate::l4::L4Table;
use crate::metrics::Metrics;
use crate::router::RouteTable;
use crate::tls::TlsTable;
use crate::upstream::{Clients, Upstreams};
use crate::{Error, ListenerState, ProxyConfig};

struct Bound {
    protocol: BindProtocol,
    handle: BindHandle,
}

pub(crate) struct Manager {
    config: Arc<ProxyConfig>,
    metrics: Arc<Metrics>,
    clients: Clients,
    upstreams: Upstreams,
    /// Keyed by the IR address (which may say port 0).
    /// Keyed by the IR address (which may say port 0) and transport: TCP
    /// and UDP may share an address.
    binds: HashMap<BindKey, Bound>,
    /// Drains of removed binds still running.
    draining: Vec<JoinHandle<()>>,
}

impl Manager {
    pub fn new(config: Arc<ProxyConfig>, metrics: Arc<Metrics>) -> Manager {
        let clients = Clients::new(config.connect_timeout, config.upstream_idle_timeout);
        Manager {
            config,
            metrics,
            clients,
            upstreams: Upstreams::default(),
            binds: HashMap::new(),
            draining: Vec::new(),
        }
    }

    pub async fn apply(&mut self, ir: &Ir) -> Vec<ListenerState> {
        self.upstreams.update(&ir.clusters);
        self.draining.retain(|t| !t.is_finished());

        // Remove binds that are gone or changed protocol first, so their
        // addresses are free to bind again below.
        let wanted: HashSet<(SocketAddr, BindProtocol)> =
            ir.binds.iter().map(|b| (b.address, b.protocol)).collect();
        let removed: Vec<BindKey> = self
            .binds
            .iter()
            .filter(|(key, b)| !wanted.contains(&(key.0, b.protocol)))
            .map(|(key, _)| *key)
            .collect();
        for key in removed {
            if let Some(bound) = self.binds.remove(&key) {
                tracing::info!(address = %key.0, "removing listener socket");
                let drain = bound.handle.stop(self.config.drain_timeout).await;
                self.draining.push(drain);
            }
        }

        let mut states = Vec::new();
        let mut seen = HashSet::new();
        for b in &ir.binds {
            if !seen.insert(key(b)) {
                let error = format!("duplicate bind for {}", b.address);
                report(&mut states, b, b.address, Some(&error), &[]);
                continue;
            }
            let l4 = matches!(
                b.protocol,
                BindProtocol::Tcp | BindProtocol::Tls | BindProtocol::Udp
            )
            .then(|| Arc::new(L4Table::compile(b, &self.upstreams)));
            let (tls, tls_failed) = match b.protocol {
                BindProtocol::Https => {
                    let (table, failed) = TlsTable::build(b);
                    for (listener, error) in &failed {
                        tracing::warn!(%listener, %error, "TLS listener not serving");
                    }
                    let failed: Vec<(String, String)> = failed
                        .into_iter()
                        .map(|(l, e)| (l, e.to_string()))
                        .collect();
                    (Some(Arc::new(table)), failed)
                }
                BindProtocol::Tls => {
                    // Terminate-mode listeners whose certificates are unusable.
                    let failed = b
                        .listeners
                        .iter()
                        .filter_map(|l| {
                            let tls = l.tls.as_ref().filter(|t| t.mode == TlsMode::Terminate)?;
                            crate::tls::server_config(tls)
                                .err()
                                .map(|e| (l.id.clone(), e.to_string()))
                        })
                        .collect();
                    (None, failed)
                }
                _ => (None, Vec::new()),
            };
            match self.binds.get(&key(b)) {
                Some(bound) => {
                    let local = bound.handle.local;
                    let table = RouteTable::compile(b, local.port(), &self.upstreams);
                    bound.handle.shared.tls.store(tls);
                    bound.handle.shared.l4.store(l4);
                    bound.handle.shared.table.store(Arc::new(table));
                    bound
                        .handle
                        .shared
                        .proxy_protocol
                        .store(b.proxy_protocol, std::sync::atomic::Ordering::Relaxed);
                    report(&mut states, b, local, None, &tls_failed);
                }
                None => match self.bind_new(b, tls, l4) {
                    Ok(local) => report(&mut states, b, local, None, &tls_failed),
                    Err(error) => {
                        tracing::warn!(address = %b.address, %error, "listener not serving");
                        report(&mut states, b, b.address, Some(&error.to_string()), &[]);
                    }
                },
            }
        }
        states
    }

    fn bind_new(
        &mut self,
        b: &Bind,
        tls: Option<Arc<TlsTable>>,
        l4: Option<Arc<L4Table>>,
    ) -> Result<SocketAddr, Error> {
        enum Socket {
            Tcp(tokio::net::TcpListener),
            Udp(tokio::net::UdpSocket),
        }
        let (socket, local) = if b.protocol == BindProtocol::Udp {
            let s = crate::udp::listen(b.address)?;
            let local = s.local_addr();
            (Socket::Udp(s), local)
        } else {
            let s = bind::listen(b.address)?;
            let local = s.local_addr();
            (Socket::Tcp(s), local)
        };
        let port = local
            .map_err(|source| Error::Bind {
                address: b.address,
                source,
            })?
            .port();
        let shared = Arc::new(BindShared {
            table: ArcSwap::from_pointee(RouteTable::compile(b, port, &self.upstreams)),
            tls: ArcSwapOption::new(tls),
            l4: ArcSwapOption::new(l4),
            protocol: b.protocol,
            proxy_protocol: b.proxy_protocol.into(),
            clients: self.clients.clone(),
            metrics: Arc::clone(&self.metrics),
            config: Arc::clone(&self.config),
            stream_slots: Arc::new(tokio::sync::Semaphore::new(
                self.config.max_stream_connections,
            )),
        });
        let handle = match socket {
            Socket::Tcp(l) => BindHandle::spawn(l, shared)?,
            Socket::Udp(u) => BindHandle::spawn_udp(u, shared)?,
        };
        let local = handle.local;
        tracing::info!(address = %b.address, %local, gateway = %b.gateway, protocol = ?b.protocol, listeners = b.listeners.len(), "listening");
        self.binds.insert(
            key(b),
            Bound {
                protocol: b.protocol,
                handle,
            },
        );
        Ok(local)
    }

    /// Stops every bind and waits up to `grace` for connections to drain.
    pub async fn shutdown(&mut self, grace: Duration) {
        let mut drains = std::mem::take(&mut self.draining);
        for (_, bound) in self.binds.drain() {
            drains.push(bound.handle.stop(grace).await);
        }
        for d in drains {
            let _ = d.await;
        }
    }
}

/// Address and transport (true: UDP) of a bind.
type BindKey = (SocketAddr, bool);

fn key(b: &Bind) -> BindKey {
    (b.address, b.protocol == BindProtocol::Udp)
}

/// One state per listener of `b`: `error` for all of them, or the
/// listener's own error from `per_listener`.
fn report(
    states: &mut Vec<ListenerState>,
    b: &Bind,
    address: SocketAddr,
    error: Option<&str>,
    per_listener: &[(String, String)],
) {
    for l in &b.listeners {
        let own = per_listener
            .iter()
            .find(|(id, _)| *id == l.id)
            .map(|(_, e)| e.as_str());
        states.push(ListenerState {
            listener_id: l.id.clone(),
            address,
            error: error.or(own).map(str::to_string),
        });
    }
}
