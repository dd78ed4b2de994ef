//! Request routing of the admin server, independent of the connection.

use bytes::Bytes;
use http::{Method, Response, StatusCode, Uri, header};
use http_body_util::Full;
use prometheus_client::registry::Registry;
use serde_json::Value;

use super::{AdminSource, ObjectQuery, QueryError};
use crate::metrics;

pub(crate) type Body = Full<Bytes>;

/// Answers one admin request.
pub(crate) fn handle(
    method: &Method,
    uri: &Uri,
    source: &dyn AdminSource,
    registry: &Registry,
) -> Response<Body> {
    if method != Method::GET && method != Method::HEAD {
        return text(StatusCode::METHOD_NOT_ALLOWED, "only GET is supported\n");
    }
    if let Some(response) = crate::ui::handle(uri.path(), uri.query().unwrap_or(""), source.flows())
    {
        return response;
    }
    match uri.path() {
        "/healthz" => text(StatusCode::OK, "ok\n"),
        "/readyz" => {
            if source.ready() {
                text(StatusCode::OK, "ready\n")
            } else {
                text(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "not ready: no configuration applied yet\n",
                )
            }
        }
        "/metrics" => respond(
            StatusCode::OK,
            metrics::CONTENT_TYPE,
            metrics::encode(registry),
        ),
        "/config_dump" => json(StatusCode::OK, &source.config_dump()),
        "/api/objects" => {
            let query = ObjectQuery::parse(uri.query().unwrap_or(""));
            if query.kind.is_empty() {
                return error_json(StatusCode::BAD_REQUEST, &QueryError::MissingKind);
            }
            match source.objects(&query) {
                Ok(list) => json(StatusCode::OK, &list),
                Err(e @ QueryError::UnknownKind(_)) => error_json(StatusCode::NOT_FOUND, &e),
                Err(e) => error_json(StatusCode::BAD_REQUEST, &e),
            }
        }
        "/api/problems" => json(StatusCode::OK, &source.problems()),
        "/" => text(
            StatusCode::OK,
            "portico admin: /healthz /readyz /metrics /config_dump /api/objects?kind=K /api/problems /ui/ /api/flows /api/servicemap\n",
        ),
        _ => text(StatusCode::NOT_FOUND, "not found\n"),
    }
}

fn text(status: StatusCode, body: &'static str) -> Response<Body> {
    respond(status, "text/plain; charset=utf-8", body.to_string())
}

fn json(status: StatusCode, value: &Value) -> Response<Body> {
    match serde_json::to_string(value) {
        Ok(body) => respond(status, "application/json", body),
        Err(e) => respond(
            StatusCode::INTERNAL_SERVER_ERROR,
            "text/plain; charset=utf-8",
            format!("encoding JSON: {e}\n"),
        ),
    }
}

fn error_json(status: StatusCode, error: &QueryError) -> Response<Body> {
    json(
        status,
        &serde_json::json!({
            "kind": "Status",
            "apiVersion": "v1",
            "status": "Failure",
            "message": error.to_string(),
            "code": status.as_u16(),
        }),
    )
}

fn respond(status: StatusCode, content_type: &str, body: String) -> Response<Body> {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    if let Ok(v) = header::HeaderValue::from_str(content_type) {
        response.headers_mut().insert(header::CONTENT_TYPE, v);
    }
    response
}

#[cfg(test)]
pub(crate) mod tests {
    use std::sync::atomic::{AtomicBool, Ordering};

    use http_body_util::BodyExt;
    use serde_json::json;

    use super::*;

    #[derive(Default)]
    pub(crate) struct FakeSource {
        pub(crate) ready: AtomicBool,
    }

    impl AdminSource for FakeSource {
        fn ready(&self) -> bool {
            self.ready.load(Ordering::SeqCst)
        }
        fn config_dump(&self) -> Value {
            json!({"binds": []})
        }
        fn objects(&self, query: &ObjectQuery) -> Result<Value, QueryError> {
            if query.kind != "Gateway" {
                return Err(QueryError::UnknownKind(query.kind.clone()));
            }
            Ok(json!({"apiVersion": "v1", "kind": "List", "items": [
                {"kind": "Gateway", "metadata": {"name": query.name, "namespace": query.namespace}}
            ]}))
        }
        fn problems(&self) -> Value {
            json!([])
        }
    }

    async fn get(source: &FakeSource, uri: &str) -> (StatusCode, String) {
        let registry = Registry::default();
        let uri: Uri = uri.parse().unwrap();
        let response = handle(&Method::GET, &uri, source, &registry);
        let status = response.status();
        let body = response.into_body().collect().await.unwrap().to_bytes();
        (status, String::from_utf8(body.to_vec()).unwrap())
    }

    #[tokio::test]
    async fn readyz_follows_the_source() {
        let source = FakeSource::default();
        assert_eq!(
            get(&source, "/readyz").await.0,
            StatusCode::SERVICE_UNAVAILABLE
        );
        source.ready.store(true, Ordering::SeqCst);
        assert_eq!(get(&source, "/readyz").await.0, StatusCode::OK);
        assert_eq!(get(&source, "/healthz").await.0, StatusCode::OK);
    }

    #[tokio::test]
    async fn objects_pass_the_query_through() {
        let source = FakeSource::default();
        let (status, body) = get(&source, "/api/objects?kind=Gateway&namespace=ns&name=gw").await;
        assert_eq!(status, StatusCode::OK);
        let v: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(v["items"][0]["metadata"]["namespace"], "ns");
        assert_eq!(v["items"][0]["metadata"]["name"], "gw");
    }

    #[tokio::test]
    async fn unknown_kind_and_missing_kind_are_errors() {
        let source = FakeSource::default();
        let (status, body) = get(&source, "/api/objects?kind=Pod").await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert!(body.contains("doesn't have a resource type"), "{body}");
        assert_eq!(
            get(&source, "/api/objects").await.0,
            StatusCode::BAD_REQUEST
        );
        assert_eq!(get(&source, "/nope").await.0, StatusCode::NOT_FOUND);
    }

    #[tokio::test]
    async fn non_get_is_rejected() {
        let source = FakeSource::default();
        let registry = Registry::default();
        let response = handle(
            &Method::POST,
            &"/healthz".parse().unwrap(),
            &source,
            &registry,
        );
        assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
    }
}
