//! The web UI served by the admin server: a service map (clients →
//! gateways → routes → services, edges coloured by verdict and error rate)
//! and a live flow table with `portico observe`'s filters.
//!
//! Plain HTML, CSS and JavaScript embedded in the binary (no build step);
//! the page polls two JSON endpoints:
//!
//! - `GET /api/flows?after=SEQ&limit=N&<filter>=<value>...`: flows newer
//!   than `SEQ` (oldest first, at most `N`) matching Hubble-style filters.
//!   Filter names are `portico observe`'s long flags (`from-ip`, `to-ip`,
//!   `namespace`, `to-service`, `verdict`, `http-status`, `http-method`,
//!   `http-path`, ...); a `not-` prefix negates one (`not-verdict=DROPPED`).
//!   Invalid filters are answered with 400 and the reason.
//! - `GET /api/servicemap?<filters>`: [`crate::flow::servicemap`] over the
//!   ring's flows.

mod api;
mod assets;

pub use api::{FlowsQuery, flows_json, servicemap_json};

use bytes::Bytes;
use http::{Response, StatusCode, header};
use http_body_util::Full;
use serde_json::Value;

use crate::admin::{AdminSource, ObjectQuery, QueryError};
use crate::flow::FlowRing;

/// An [`AdminSource`] that also serves the flow ring to the UI: wrap the
/// instance's source with the ring before handing it to the admin server.
pub struct WithFlows {
    inner: std::sync::Arc<dyn AdminSource>,
    ring: FlowRing,
}

impl WithFlows {
    pub fn new(inner: std::sync::Arc<dyn AdminSource>, ring: FlowRing) -> WithFlows {
        WithFlows { inner, ring }
    }
}

impl AdminSource for WithFlows {
    fn ready(&self) -> bool {
        self.inner.ready()
    }
    fn config_dump(&self) -> Value {
        self.inner.config_dump()
    }
    fn objects(&self, query: &ObjectQuery) -> Result<Value, QueryError> {
        self.inner.objects(query)
    }
    fn problems(&self) -> Value {
        self.inner.problems()
    }
    fn flows(&self) -> Option<&FlowRing> {
        Some(&self.ring)
    }
}

pub(crate) type Body = Full<Bytes>;

/// Answers UI and flow API paths; `None` for paths the UI does not own.
pub(crate) fn handle(path: &str, query: &str, ring: Option<&FlowRing>) -> Option<Response<Body>> {
    let response = match path {
        "/ui" => redirect("/ui/"),
        "/ui/" | "/ui/index.html" => asset("text/html; charset=utf-8", assets::INDEX_HTML),
        "/ui/app.js" => asset("text/javascript; charset=utf-8", assets::APP_JS),
        "/ui/map.js" => asset("text/javascript; charset=utf-8", assets::MAP_JS),
        "/ui/style.css" => asset("text/css; charset=utf-8", assets::STYLE_CSS),
        "/api/flows" | "/api/servicemap" => {
            let Some(ring) = ring else {
                return Some(error(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "flow recording is off in this instance",
                ));
            };
            let result = if path == "/api/flows" {
                FlowsQuery::parse(query).map(|q| flows_json(ring, &q))
            } else {
                FlowsQuery::parse(query).map(|q| servicemap_json(ring, &q))
            };
            match result {
                Ok(v) => json(StatusCode::OK, &v),
                Err(e) => error(StatusCode::BAD_REQUEST, &e.to_string()),
            }
        }
        _ => return None,
    };
    Some(response)
}

fn respond(status: StatusCode, content_type: &'static str, body: Bytes) -> Response<Body> {
    let mut response = Response::new(Full::new(body));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static(content_type),
    );
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("no-store"),
    );
    response
}

fn asset(content_type: &'static str, body: &'static str) -> Response<Body> {
    respond(
        StatusCode::OK,
        content_type,
        Bytes::from_static(body.as_bytes()),
    )
}

fn redirect(to: &'static str) -> Response<Body> {
    let mut response = respond(
        StatusCode::MOVED_PERMANENTLY,
        "text/plain; charset=utf-8",
        Bytes::from_static(b"moved to /ui/\n"),
    );
    response
        .headers_mut()
        .insert(header::LOCATION, header::HeaderValue::from_static(to));
    response
}

fn json(status: StatusCode, value: &Value) -> Response<Body> {
    match serde_json::to_vec(value) {
        Ok(body) => respond(status, "application/json", Bytes::from(body)),
        Err(e) => respond(
            StatusCode::INTERNAL_SERVER_ERROR,
            "text/plain; charset=utf-8",
            Bytes::from(format!("encoding JSON: {e}\n")),
        ),
    }
}

fn error(status: StatusCode, message: &str) -> Response<Body> {
    json(status, &serde_json::json!({ "error": message }))
}

#[cfg(test)]
mod tests {
    use http_body_util::BodyExt;

    use super::*;
    use crate::flow::{RingConfig, Verdict};

    async fn get(ring: Option<&FlowRing>, path: &str, query: &str) -> (StatusCode, String, String) {
        let response = handle(path, query, ring).expect("handled");
        let status = response.status();
        let ct = response
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned();
        let body = response
            .into_body()
            .collect()
            .await
            .expect("body")
            .to_bytes();
        (status, ct, String::from_utf8_lossy(&body).into_owned())
    }

    #[tokio::test]
    async fn serves_the_embedded_page_and_scripts() {
        let (status, ct, body) = get(None, "/ui/", "").await;
        assert_eq!(status, StatusCode::OK);
        assert!(ct.starts_with("text/html"), "{ct}");
        assert!(body.contains("id=\"service-map\"") && body.contains("id=\"flows\""));
        for script in ["/ui/app.js", "/ui/map.js"] {
            let (status, ct, _) = get(None, script, "").await;
            assert_eq!(status, StatusCode::OK);
            assert!(ct.starts_with("text/javascript"), "{ct}");
        }
        let (status, _, _) = get(None, "/ui", "").await;
        assert_eq!(status, StatusCode::MOVED_PERMANENTLY);
        assert!(handle("/ui/missing.png", "", None).is_none());
    }

    #[tokio::test]
    async fn flow_endpoints_need_a_ring_and_valid_filters() {
        let (status, _, body) = get(None, "/api/flows", "").await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
        let ring = FlowRing::new(RingConfig::default()).expect("ring");
        let (status, _, body) = get(Some(&ring), "/api/flows", "from-ip=10.0.0.0/33").await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert!(body.contains("10.0.0.0/33"), "{body}");
        let (status, _, body) = get(Some(&ring), "/api/servicemap", "verdict=MAYBE").await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        ring.sink().emit(crate::accesslog::tests_support::http_flow(
            200,
            Verdict::Forwarded,
        ));
        let (status, ct, body) = get(Some(&ring), "/api/servicemap", "").await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(ct, "application/json");
        assert!(body.contains("gateway:infra/gw"), "{body}");
    }
}
