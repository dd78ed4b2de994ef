//! RequestMirror: a fire-and-forget copy of the request to another
//! cluster. The copy carries the headers as modified by the filters before
//! it and the request body when it was buffered (see [`crate::replay`]); a
//! request whose body streams (too large) is not mirrored.

use http_body_util::BodyExt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use http::Request;
use http::request::Parts;
use portico_ir::{BackendTarget, RequestMirror};

use crate::body::Body;
use crate::hygiene;
use crate::replay::set_length;
use crate::upstream::{Clients, ClusterState, Upstreams};

#[derive(Clone, Debug)]
pub struct Mirror {
    /// `None`: the mirror backend is invalid; nothing is sent.
    cluster: Option<Arc<ClusterState>>,
    numerator: u32,
    denominator: u32,
    /// Requests seen by this filter so far, for evenly spread sampling.
    seen: Arc<AtomicU64>,
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
            seen: Arc::new(AtomicU64::new(0)),
        }
    }

    /// Whether this request is mirrored. The n-th request is sampled when
    /// `floor(n * num / den)` steps up, so any run of consecutive requests
    /// is mirrored at the configured fraction to within one request
    /// (random sampling drifts by several percent over a few hundred).
    fn sampled(&self) -> bool {
        if self.numerator >= self.denominator {
            return true;
        }
        if self.numerator == 0 {
            return false;
        }
        let n = self.seen.fetch_add(1, Ordering::Relaxed);
        let (num, den) = (u64::from(self.numerator), u64::from(self.denominator));
        (n + 1) * num / den > n * num / den
    }

    /// Sends a copy of the request with `body` in the background; never
    /// delays or affects the main request. `body` is `None` when the
    /// request body was too large to buffer: no copy is sent then. `hash`
    /// keys Maglev mirror clusters.
    pub fn send(&self, parts: &Parts, body: Option<&Bytes>, clients: &Clients, hash: u64) {
        let Some(cluster) = self.cluster.clone() else {
            return;
        };
        if !self.sampled() {
            return;
        }
        let Some(body) = body else {
            tracing::debug!(cluster = %cluster.id, "request body too large to mirror");
            return;
        };
        let Some(endpoint) = cluster.pick(hash) else {
            return;
        };
        let mut req = Request::new(Body::full(body.clone()));
        *req.method_mut() = parts.method.clone();
        *req.uri_mut() = parts.uri.clone();
        let mut headers = parts.headers.clone();
        hygiene::strip_hop_by_hop(&mut headers, false);
        set_length(&mut headers, body);
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
                        connection.checkin(&endpoint.h1);
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
            seen: Arc::new(AtomicU64::new(0)),
        }
    }

    #[test]
    fn sampling() {
        assert!(mirror(100, 100).sampled());
        assert!(!mirror(0, 100).sampled());
        let m = mirror(25, 100);
        assert_eq!((0..4000).filter(|_| m.sampled()).count(), 1000);
    }

    #[test]
    fn any_window_of_requests_is_sampled_at_the_fraction() {
        for (num, den) in [(20, 100), (25, 50), (35, 100), (1, 3)] {
            let m = mirror(num, den);
            let picks: Vec<bool> = (0..3000).map(|_| m.sampled()).collect();
            for start in [0, 1, 7, 333, 1234] {
                let got = picks[start..start + 500].iter().filter(|p| **p).count() as f64;
                let want = 500.0 * f64::from(num) / f64::from(den);
                assert!((got - want).abs() <= 1.0, "{num}/{den} from {start}: {got}");
            }
        }
    }
}
