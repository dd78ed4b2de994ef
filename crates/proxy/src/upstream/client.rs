//! Sending one request to one endpoint over a pooled connection.
//!
//! HTTP/1.1 goes through the endpoint's own keep-alive pool ([`super::h1`]);
//! HTTP/2 prior knowledge (`kubernetes.io/h2c`)
//! through the endpoint's own multiplexed connections ([`super::h2`]), so
//! the original `:authority` can be sent while dialing the endpoint address;
//! backends with a BackendTLSPolicy through [`super::h1_tls`].

use std::time::Duration;

use http::uri::{Authority, PathAndQuery, Scheme};
use http::{Request, Response, Uri, Version, header};
use hyper::body::Incoming;
use portico_ir::AppProtocol;

use std::sync::Arc;

use super::cluster::ClusterState;
use super::endpoint::EndpointState;
use crate::body::Body;
use crate::proxy_protocol;

/// Why an upstream exchange failed (timeouts are the caller's).
#[derive(Debug)]
pub enum SendError {
    /// No connection could be made: 503.
    Connect(String),
    /// The connection broke or the response was malformed: 502.
    Broken(String),
}

/// A response and, for plain HTTP/1.1, the connection it arrives on: hand
/// that to [`super::InflightGuard::attach`] (or drop it to close it).
pub type Exchange = (Response<Incoming>, Option<super::h1::Connection>);

#[derive(Debug, Clone)]
pub struct Clients {
    connect_timeout: Duration,
    idle_timeout: Duration,
}

impl Clients {
    pub fn new(connect_timeout: Duration, idle_timeout: Duration) -> Clients {
        Clients {
            connect_timeout,
            idle_timeout,
        }
    }

    /// Sends `req` (origin-form or absolute URI, `Host` set) to `endpoint`.
    /// `origin` is the client connection the request came on (`None` for
    /// requests of the gateway's own, such as mirrors): clusters that ask
    /// for the PROXY protocol get it in the header of connections that only
    /// this client connection reuses (HTTP/1.1) or that serve this request
    /// alone (h2c, backend TLS, mirrors).
    pub async fn send(
        &self,
        cluster: &ClusterState,
        endpoint: &Arc<EndpointState>,
        mut req: Request<Body>,
        origin: Option<proxy_protocol::Origin<'_>>,
    ) -> Result<Exchange, SendError> {
        let preface = proxy_protocol::preface(cluster.proxy_protocol, origin.map(|o| o.addresses));
        match &cluster.tls {
            Ok(None) => {}
            Ok(Some(tls)) => {
                return super::h1_tls::send(
                    endpoint,
                    tls,
                    self.connect_timeout,
                    req,
                    preface.as_deref(),
                )
                .await
                .map(|r| (r, None));
            }
            Err(reason) => return Err(SendError::Connect(format!("backend TLS: {reason}"))),
        }
        let protocol = cluster.protocol;
        match protocol {
            AppProtocol::H2c => {
                let pq = req
                    .uri()
                    .path_and_query()
                    .cloned()
                    .unwrap_or_else(|| PathAndQuery::from_static("/"));
                // :authority carries the original host; Host is redundant.
                let authority = req
                    .headers_mut()
                    .remove(header::HOST)
                    .and_then(|h| Authority::try_from(h.as_bytes()).ok())
                    .unwrap_or_else(|| endpoint.authority.clone());
                *req.uri_mut() = uri(authority, pq);
                *req.version_mut() = Version::HTTP_2;
                let sender = match &preface {
                    None => {
                        endpoint
                            .h2
                            .sender(endpoint.address, self.connect_timeout, endpoint.active())
                            .await
                    }
                    Some(p) => super::h2::dial(endpoint.address, self.connect_timeout, p).await,
                };
                let mut sender = sender.map_err(|e| SendError::Connect(e.to_string()))?;
                sender
                    .send_request(req)
                    .await
                    .map(|r| (r, None))
                    .map_err(|e| SendError::Broken(e.to_string()))
            }
            AppProtocol::Http1 | AppProtocol::WebSocket | AppProtocol::Other => {
                // Origin-form target; Host carries the authority. HTTP/1.1
                // requires a Host: a request without one (HTTP/1.0) gets the
                // target's authority, else the endpoint's address.
                if !req.headers().contains_key(header::HOST) {
                    let host = req
                        .uri()
                        .authority()
                        .map(|a| a.as_str())
                        .unwrap_or(endpoint.authority.as_str())
                        .parse::<http::HeaderValue>();
                    if let Ok(host) = host {
                        req.headers_mut().insert(header::HOST, host);
                    }
                }
                if req.uri().scheme().is_some() || req.uri().authority().is_some() {
                    let pq = req
                        .uri()
                        .path_and_query()
                        .cloned()
                        .unwrap_or_else(|| PathAndQuery::from_static("/"));
                    *req.uri_mut() = Uri::from(pq);
                }
                *req.version_mut() = Version::HTTP_11;
                let home = match (&preface, origin, cluster.proxy_protocol) {
                    (None, _, _) => None,
                    (Some(_), Some(o), Some(version)) => {
                        Some(o.conns.pool(endpoint.address, version))
                    }
                    (Some(p), _, _) => {
                        let resp = super::h1::send_unpooled(
                            endpoint.address,
                            self.connect_timeout,
                            p,
                            req,
                        )
                        .await?;
                        return Ok((resp, None));
                    }
                };
                let (resp, sender) = super::h1::send(
                    home.as_deref().unwrap_or(&endpoint.h1),
                    endpoint.address,
                    preface.as_deref().unwrap_or_default(),
                    self.connect_timeout,
                    self.idle_timeout,
                    req,
                )
                .await?;
                Ok((resp, Some(super::h1::Connection { sender, home })))
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
