//! RequestMirror: a fire-and-forget copy of the request to another
//! cluster. The copy carries the headers (as modified by the filters before
//! it) but no body: bodies stream once, to the real backend.

use http_body_util::BodyExt;
use std::sync::Arc;

use http::request::Parts;
use http::{Request, header};
use portico_ir::{BackendTarget, RequestMirror};
use rand::Rng;

use crate::body::Body;
use crate::hygiene;
use crate::upstream::{Clients, ClusterState, Upstreams};

#[derive(Clone, Debug)]
pub struct Mirror {
    /// `None`: the mirror backend is invalid; nothing is sent.
    cluster: Option<Arc<ClusterState>>,
    numerator: u32,
    denominator: u32,
}

impl Mirror {
    pub fn compile(m: &RequestMirror, upstreams: &Upstreams) -> Mirror {
        let cluster = match &m.target {
            BackendTarget::Cluster(id) => upstreams.get(id).cloned(),
            BackendTarget::Invalid { .. } => None,
        };
        Mirror {
            cluster,
            numerator: m.numerator,
            denominator: m.denominator.max(1),
        }
    }

    fn sampled(&self) -> bool {
        if self.numerator >= self.denominator {
            return true;
        }
        self.numerator > 0 && rand::rng().random_range(0..self.denominator) < self.numerator
    }

    /// Sends a copy of the request head in the background; never delays or
    /// affects the main request. `hash` keys Maglev mirror clusters.
    pub fn send(&self, parts: &Parts, clients: &Clients, hash: u64) {
        let Some(cluster) = self.cluster.clone() else {
            return;
        };
        if !self.sampled() {
            return;
        }
        let Some(endpoint) = cluster.pick(hash) else {
            return;
        };
        let mut req = Request::new(Body::Empty);
        *req.method_mut() = parts.method.clone();
        *req.uri_mut() = parts.uri.clone();
        let mut headers = parts.headers.clone();
        hygiene::strip_hop_by_hop(&mut headers, false);
        headers.remove(header::CONTENT_LENGTH);
        *req.headers_mut() = headers;
        let clients = clients.clone();
        tokio::spawn(async move {
            // No client of its own: a PROXY header says LOCAL/UNKNOWN.
            match clients.send(&cluster, &endpoint, req, None).await {
                Ok((resp, connection)) => {
                    // Drain the answer so its connection can be reused.
                    if resp.into_body().collect().await.is_ok()
                        && let Some(connection) = connection
                    {
                        endpoint.h1.checkin(connection);
                    }
                }
                Err(error) => {
                    tracing::debug!(cluster = %cluster.id, ?error, "mirror request failed");
                }
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mirror(numerator: u32, denominator: u32) -> Mirror {
        Mirror {
            cluster: None,
            numerator,
            denominator,
        }
    }

    #[test]
    fn sampling() {
        assert!(mirror(100, 100).sampled());
        assert!(!mirror(0, 100).sampled());
        let hits = (0..4000).filter(|_| mirror(25, 100).sampled()).count();
        assert!((700..1300).contains(&hits), "{hits}");
    }
}
