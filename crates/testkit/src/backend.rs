//! Echo backends on port 0 with their request log captured.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use portico_echo::{
    CancellationToken, EchoConfig, EchoLog, EchoRecord, Identity, ServerHandle, TlsSettings,
    serve_grpc, serve_h2c, serve_http, serve_https, serve_tcp, serve_tcp_tls, serve_udp,
};
use tokio::sync::{broadcast, watch};
use tokio::task::JoinHandle;

use crate::Error;
use crate::net::{bind_tcp, bind_udp};
use crate::tls::CertifiedPem;

/// A socket bound by the caller, for [`EchoBackend::start_on`].
#[derive(Debug)]
pub enum Bound {
    /// For every TCP-based kind.
    Tcp(tokio::net::TcpListener),
    /// For [`EchoKind::Udp`].
    Udp(tokio::net::UdpSocket),
}

/// Which echo mode a backend runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EchoKind {
    /// HTTP/1.1 + h2c, `/ws`, `/status`, `/retry`.
    Http,
    /// The h2c-only port.
    H2c,
    /// gRPC `GrpcEcho`.
    Grpc,
    /// TCP line protocol.
    Tcp,
    /// UDP datagrams.
    Udp,
    /// HTTP over TLS.
    Https,
    /// TCP line protocol over TLS.
    TcpTls,
}

/// A running echo backend on `127.0.0.1:<port 0>`, quiet on stdout, whose
/// request records are collected for assertions (mirror tests, "which pod
/// answered"). Dropping it stops the server; the log collector ends when
/// the server's log sink is dropped with it.
#[derive(Debug)]
pub struct EchoBackend {
    kind: EchoKind,
    handle: ServerHandle,
    records: Arc<Mutex<Vec<EchoRecord>>>,
    count: watch::Receiver<usize>,
    collector: JoinHandle<()>,
}

impl EchoBackend {
    /// An HTTP echo backend (HTTP/1.1 and h2c on one port).
    pub async fn http(identity: Identity) -> Result<Self, Error> {
        Self::start(EchoKind::Http, identity).await
    }

    /// An h2c-only echo backend.
    pub async fn h2c(identity: Identity) -> Result<Self, Error> {
        Self::start(EchoKind::H2c, identity).await
    }

    /// A gRPC echo backend.
    pub async fn grpc(identity: Identity) -> Result<Self, Error> {
        Self::start(EchoKind::Grpc, identity).await
    }

    /// A TCP echo backend.
    pub async fn tcp(identity: Identity) -> Result<Self, Error> {
        Self::start(EchoKind::Tcp, identity).await
    }

    /// A UDP echo backend.
    pub async fn udp(identity: Identity) -> Result<Self, Error> {
        Self::start(EchoKind::Udp, identity).await
    }

    /// An HTTPS echo backend serving `cert` (answers carry the `tls` block).
    /// With `client_ca_pem`, client certificates are verified when sent.
    pub async fn https(
        identity: Identity,
        cert: &CertifiedPem,
        client_ca_pem: Option<&str>,
    ) -> Result<Self, Error> {
        Self::start_with(
            EchoKind::Https,
            identity,
            Some(tls_settings(cert, client_ca_pem)),
        )
        .await
    }

    /// A TCP echo backend behind TLS with `cert`.
    pub async fn tcp_tls(identity: Identity, cert: &CertifiedPem) -> Result<Self, Error> {
        Self::start_with(EchoKind::TcpTls, identity, Some(tls_settings(cert, None))).await
    }

    /// Starts a plaintext backend of `kind` (the TLS kinds need
    /// [`EchoBackend::https`] / [`EchoBackend::tcp_tls`]).
    pub async fn start(kind: EchoKind, identity: Identity) -> Result<Self, Error> {
        Self::start_with(kind, identity, None).await
    }

    async fn start_with(
        kind: EchoKind,
        identity: Identity,
        tls: Option<TlsSettings>,
    ) -> Result<Self, Error> {
        let socket = match kind {
            EchoKind::Udp => Bound::Udp(bind_udp().await?),
            _ => Bound::Tcp(bind_tcp().await?),
        };
        Self::start_on(kind, identity, socket, tls).await
    }

    /// Starts a backend of `kind` on a socket the caller bound (e.g. on its
    /// own loopback address such as `127.0.0.2:0`, to look like a separate
    /// pod IP). UDP needs [`Bound::Udp`], every other kind [`Bound::Tcp`];
    /// the TLS kinds need `tls`.
    pub async fn start_on(
        kind: EchoKind,
        identity: Identity,
        socket: Bound,
        tls: Option<TlsSettings>,
    ) -> Result<Self, Error> {
        let log = EchoLog::silent();
        let rx = log.subscribe();
        let config = EchoConfig::new(identity).with_log(log);
        let token = CancellationToken::new();
        let handle = match (kind, socket) {
            (EchoKind::Udp, Bound::Udp(socket)) => serve_udp(socket, config, token).await?,
            (EchoKind::Udp, Bound::Tcp(_)) | (_, Bound::Udp(_)) => {
                return Err(Error::WrongSocket(kind));
            }
            (EchoKind::Http, Bound::Tcp(l)) => serve_http(l, config, token).await?,
            (EchoKind::H2c, Bound::Tcp(l)) => serve_h2c(l, config, token).await?,
            (EchoKind::Grpc, Bound::Tcp(l)) => serve_grpc(l, config, token).await?,
            (EchoKind::Tcp, Bound::Tcp(l)) => serve_tcp(l, config, token).await?,
            (EchoKind::Https, Bound::Tcp(l)) => {
                let tls = tls.ok_or(Error::MissingTls(kind))?;
                serve_https(l, config, tls, token).await?
            }
            (EchoKind::TcpTls, Bound::Tcp(l)) => {
                let tls = tls.ok_or(Error::MissingTls(kind))?;
                serve_tcp_tls(l, config, tls, token).await?
            }
        };
        let records = Arc::new(Mutex::new(Vec::new()));
        let (count_tx, count) = watch::channel(0);
        let collector = tokio::spawn(collect(rx, records.clone(), count_tx));
        Ok(Self {
            kind,
            handle,
            records,
            count,
            collector,
        })
    }

    /// The mode it runs.
    pub fn kind(&self) -> EchoKind {
        self.kind
    }

    /// Where it listens.
    pub fn addr(&self) -> SocketAddr {
        self.handle.local_addr()
    }

    /// The identity it reports (pod name filled in).
    pub fn identity(&self) -> &Identity {
        self.handle.identity()
    }

    /// Every request recorded so far (HTTP echoes and gRPC calls; TCP and UDP
    /// do not record).
    pub fn records(&self) -> Vec<EchoRecord> {
        self.records.lock().clone()
    }

    /// How many requests were recorded so far.
    pub fn request_count(&self) -> usize {
        self.records.lock().len()
    }

    /// Waits until a record matching `pred` is seen (including ones already
    /// recorded) or `deadline` passes.
    pub async fn wait_for_record(
        &self,
        deadline: Duration,
        pred: impl Fn(&EchoRecord) -> bool,
    ) -> Result<EchoRecord, Error> {
        let mut count = self.count.clone();
        let wait = async {
            loop {
                if let Some(found) = self.records.lock().iter().find(|r| pred(r)).cloned() {
                    return Some(found);
                }
                if count.changed().await.is_err() {
                    // Collector gone: one last look.
                    return self.records.lock().iter().find(|r| pred(r)).cloned();
                }
            }
        };
        tokio::time::timeout(deadline, wait)
            .await
            .ok()
            .flatten()
            .ok_or(Error::NoRecord(deadline))
    }

    /// Stops the server and waits for it.
    pub async fn shutdown(self) {
        self.handle.shutdown().await;
        // The collector ends by itself once the server's log is dropped.
        self.collector.abort();
    }
}

async fn collect(
    mut rx: broadcast::Receiver<EchoRecord>,
    records: Arc<Mutex<Vec<EchoRecord>>>,
    count: watch::Sender<usize>,
) {
    loop {
        match rx.recv().await {
            Ok(record) => {
                let n = {
                    let mut records = records.lock();
                    records.push(record);
                    records.len()
                };
                count.send_replace(n);
            }
            Err(broadcast::error::RecvError::Lagged(missed)) => {
                tracing::warn!(missed, "echo backend log collector lagged");
            }
            Err(broadcast::error::RecvError::Closed) => return,
        }
    }
}

fn tls_settings(cert: &CertifiedPem, client_ca_pem: Option<&str>) -> TlsSettings {
    let settings = TlsSettings::new(cert.chain_pem.clone(), cert.key_pem.clone());
    match client_ca_pem {
        Some(ca) => settings.with_client_ca(ca),
        None => settings,
    }
}
