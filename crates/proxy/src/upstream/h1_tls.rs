//! HTTP/1.1 over TLS to backends with a BackendTLSPolicy: an own small
//! keep-alive pool per endpoint (the endpoint state is per cluster, so the
//! pool never mixes TLS settings of different clusters).

use std::sync::Arc;
use std::time::Duration;

use http::{Request, Response, Version};
use hyper::body::Incoming;
use hyper::client::conn::http1;
use hyper_util::rt::TokioIo;
use tokio_rustls::TlsConnector;

use super::backend_tls::BackendTlsConfig;
use super::client::SendError;
use super::endpoint::EndpointState;
use crate::body::Body;

/// Idle connections kept per endpoint.
const MAX_IDLE: usize = 64;

#[derive(Debug, Default)]
pub struct TlsPool {
    idle: parking_lot::Mutex<Vec<http1::SendRequest<Body>>>,
}

impl TlsPool {
    fn checkout(&self) -> Option<http1::SendRequest<Body>> {
        let mut idle = self.idle.lock();
        while let Some(s) = idle.pop() {
            if !s.is_closed() && s.is_ready() {
                return Some(s);
            }
        }
        None
    }

    fn checkin(&self, sender: http1::SendRequest<Body>) {
        let mut idle = self.idle.lock();
        if idle.len() < MAX_IDLE {
            idle.push(sender);
        }
    }
}

pub async fn send(
    endpoint: &Arc<EndpointState>,
    tls: &BackendTlsConfig,
    connect_timeout: Duration,
    mut req: Request<Body>,
    preface: Option<&[u8]>,
) -> Result<Response<Incoming>, SendError> {
    // A connection that starts with a PROXY protocol header names one
    // client: it serves this request only and is never pooled.
    let pooled = preface.is_none();
    let mut sender = match pooled.then(|| endpoint.tls_pool.checkout()).flatten() {
        Some(s) => s,
        None => dial(endpoint, tls, connect_timeout, preface.unwrap_or_default()).await?,
    };
    // Origin-form request target; Host carries the authority.
    if let Some(pq) = req.uri().path_and_query().cloned() {
        *req.uri_mut() = http::Uri::from(pq);
    }
    *req.version_mut() = Version::HTTP_11;
    let resp = sender
        .send_request(req)
        .await
        .map_err(|e| SendError::Broken(e.to_string()))?;
    if !pooled {
        return Ok(resp);
    }
    // The connection is reusable once this response's body is consumed.
    let endpoint = Arc::clone(endpoint);
    tokio::spawn(async move {
        if sender.ready().await.is_ok() {
            endpoint.tls_pool.checkin(sender);
        }
    });
    Ok(resp)
}

async fn dial(
    endpoint: &EndpointState,
    tls: &BackendTlsConfig,
    connect_timeout: Duration,
    preface: &[u8],
) -> Result<http1::SendRequest<Body>, SendError> {
    let address = endpoint.address;
    let work = async {
        // The PROXY header precedes the TLS handshake.
        let tcp = crate::proxy_protocol::connect(address, preface)
            .await
            .map_err(|e| SendError::Connect(format!("connect to {address}: {e}")))?;
        let _ = tcp.set_nodelay(true);
        let stream = TlsConnector::from(Arc::clone(&tls.config))
            .connect(tls.server_name.clone(), tcp)
            .await
            .map_err(|e| SendError::Connect(format!("TLS to {address}: {e}")))?;
        let (sender, conn) = http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| SendError::Connect(format!("HTTP/1.1 handshake with {address}: {e}")))?;
        tokio::spawn(async move {
            if let Err(error) = conn.await {
                tracing::debug!(%address, %error, "upstream TLS connection ended");
            }
        });
        Ok(sender)
    };
    tokio::time::timeout(connect_timeout, work)
        .await
        .map_err(|_| SendError::Connect(format!("connect to {address} timed out")))?
}
