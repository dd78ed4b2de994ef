//! Sending one request to one endpoint over a pooled connection.
//!
//! HTTP/1.1 goes through hyper-util's pooled client (keep-alive connections
//! keyed by endpoint address); HTTP/2 prior knowledge (`kubernetes.io/h2c`)
//! through the endpoint's own multiplexed connections ([`super::h2`]), so
//! the original `:authority` can be sent while dialing the endpoint address;
//! backends with a BackendTLSPolicy through [`super::h1_tls`].

use std::time::Duration;

use http::uri::{Authority, PathAndQuery, Scheme};
use http::{Request, Response, Uri, Version, header};
use hyper::body::Incoming;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use portico_ir::AppProtocol;

use std::sync::Arc;

use super::cluster::ClusterState;
use super::endpoint::EndpointState;
use crate::body::Body;

/// Why an upstream exchange failed (timeouts are the caller's).
#[derive(Debug)]
pub enum SendError {
    /// No connection could be made: 503.
    Connect(String),
    /// The connection broke or the response was malformed: 502.
    Broken(String),
}

#[derive(Debug, Clone)]
pub struct Clients {
    h1: Client<HttpConnector, Body>,
    connect_timeout: Duration,
}

impl Clients {
    pub fn new(connect_timeout: Duration, idle_timeout: Duration) -> Clients {
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        connector.set_connect_timeout(Some(connect_timeout));
        connector.set_keepalive(Some(Duration::from_secs(60)));
        let h1 = Client::builder(TokioExecutor::new())
            .pool_timer(TokioTimer::new())
            .pool_idle_timeout(idle_timeout)
            .set_host(false)
            .build(connector);
        Clients {
            h1,
            connect_timeout,
        }
    }

    /// Sends `req` (origin-form or absolute URI, `Host` set) to `endpoint`.
    pub async fn send(
        &self,
        cluster: &ClusterState,
        endpoint: &Arc<EndpointState>,
        mut req: Request<Body>,
    ) -> Result<Response<Incoming>, SendError> {
        match &cluster.tls {
            Ok(None) => {}
            Ok(Some(tls)) => {
                return super::h1_tls::send(endpoint, tls, self.connect_timeout, req).await;
            }
            Err(reason) => return Err(SendError::Connect(format!("backend TLS: {reason}"))),
        }
        let protocol = cluster.protocol;
        let pq = req
            .uri()
            .path_and_query()
            .cloned()
            .unwrap_or_else(|| PathAndQuery::from_static("/"));
        match protocol {
            AppProtocol::H2c => {
                // :authority carries the original host; Host is redundant.
                let authority = req
                    .headers_mut()
                    .remove(header::HOST)
                    .and_then(|h| Authority::try_from(h.as_bytes()).ok())
                    .unwrap_or_else(|| endpoint.authority.clone());
                *req.uri_mut() = uri(authority, pq);
                *req.version_mut() = Version::HTTP_2;
                let mut sender = endpoint
                    .h2
                    .sender(endpoint.address, self.connect_timeout, endpoint.active())
                    .await
                    .map_err(|e| SendError::Connect(e.to_string()))?;
                sender
                    .send_request(req)
                    .await
                    .map_err(|e| SendError::Broken(e.to_string()))
            }
            AppProtocol::Http1 | AppProtocol::WebSocket | AppProtocol::Other => {
                *req.uri_mut() = uri(endpoint.authority.clone(), pq);
                *req.version_mut() = Version::HTTP_11;
                self.h1.request(req).await.map_err(|e| {
                    if e.is_connect() {
                        SendError::Connect(format!("{e:?}"))
                    } else {
                        SendError::Broken(format!("{e:?}"))
                    }
                })
            }
        }
    }
}

fn uri(authority: Authority, pq: PathAndQuery) -> Uri {
    let mut parts = http::uri::Parts::default();
    parts.scheme = Some(Scheme::HTTP);
    parts.authority = Some(authority);
    parts.path_and_query = Some(pq);
    // Scheme, authority and path are each valid, so the whole is.
    Uri::from_parts(parts).unwrap_or_default()
}
