//! An in-memory Kubernetes API server for tests: discovery, list, watch
//! (streamed events), status patches (recorded and applied), Leases.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::channel::mpsc;
use http::{Request, Response, StatusCode};
use http_body::Frame;
use http_body_util::{BodyExt, StreamBody};
use parking_lot::Mutex;
use serde_json::{Value, json};

type Chunk = Result<Frame<Bytes>, Infallible>;
pub type MockBody = StreamBody<mpsc::UnboundedReceiver<Chunk>>;

/// One recorded write.
#[derive(Clone, Debug)]
pub struct Write {
    pub method: String,
    pub path: String,
    pub body: Value,
}

#[derive(Default)]
pub struct State {
    /// collection path (`/apis/g/v/plural`) → name-keyed objects (namespace/name or name).
    pub objects: BTreeMap<String, BTreeMap<String, Value>>,
    pub watchers: BTreeMap<String, Vec<mpsc::UnboundedSender<Chunk>>>,
    pub writes: Vec<Write>,
    pub resource_version: u64,
    /// Served Gateway API kinds (plural, kind).
    pub gateway_kinds: Vec<(&'static str, &'static str)>,
    /// Answer every request with 500 (API server broken).
    pub fail: bool,
}

#[derive(Clone, Default)]
pub struct Mock {
    pub state: Arc<Mutex<State>>,
}

fn full(value: &Value) -> MockBody {
    let (tx, rx) = mpsc::unbounded();
    let _ = tx.unbounded_send(Ok(Frame::data(Bytes::from(value.to_string()))));
    StreamBody::new(rx)
}

fn respond(status: StatusCode, value: &Value) -> Response<MockBody> {
    let mut r = Response::new(full(value));
    *r.status_mut() = status;
    r
}

fn not_found() -> Response<MockBody> {
    respond(
        StatusCode::NOT_FOUND,
        &json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "NotFound", "code": 404, "message": "not found"}),
    )
}

/// The collection path and object key of a request path:
/// `/api/v1/namespaces/ns/services/x/status` → (`/api/v1/services`, Some(`ns/x`), status=true).
fn split(path: &str) -> (String, Option<String>, bool) {
    let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let prefix_len = if parts.first() == Some(&"api") { 2 } else { 3 };
    let prefix = parts[..prefix_len.min(parts.len())].join("/");
    let rest = &parts[prefix_len.min(parts.len())..];
    let (ns, rest) = if rest.first() == Some(&"namespaces") && rest.len() >= 3 {
        (Some(rest[1]), &rest[2..])
    } else {
        (None, rest)
    };
    let plural = rest.first().copied().unwrap_or_default();
    let name = rest.get(1).map(|n| match ns {
        Some(ns) => format!("{ns}/{n}"),
        None => n.to_string(),
    });
    let status = rest.get(2) == Some(&"status");
    (format!("/{prefix}/{plural}"), name, status)
}

impl Mock {
    pub fn new(gateway_kinds: &[(&'static str, &'static str)]) -> Mock {
        let m = Mock::default();
        m.state.lock().gateway_kinds = gateway_kinds.to_vec();
        m
    }

    pub fn client(&self) -> kube::Client {
        let mock = self.clone();
        let svc = tower::service_fn(move |req: Request<kube::client::Body>| {
            let mock = mock.clone();
            async move { Ok::<_, Infallible>(mock.handle(req).await) }
        });
        kube::Client::new(svc, "default")
    }

    /// Stores (or replaces) an object and notifies watchers.
    pub fn put(&self, collection: &str, mut object: Value) {
        let mut s = self.state.lock();
        s.resource_version += 1;
        object["metadata"]["resourceVersion"] = json!(s.resource_version.to_string());
        if object["metadata"]["generation"].is_null() {
            object["metadata"]["generation"] = json!(1);
        }
        if object["metadata"]["uid"].is_null() {
            object["metadata"]["uid"] = json!(format!("uid-{}", s.resource_version));
        }
        let key = match object["metadata"]["namespace"].as_str() {
            Some(ns) => format!(
                "{ns}/{}",
                object["metadata"]["name"].as_str().unwrap_or_default()
            ),
            None => object["metadata"]["name"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
        };
        let existed = s
            .objects
            .entry(collection.to_string())
            .or_default()
            .insert(key, object.clone())
            .is_some();
        let event = json!({"type": if existed { "MODIFIED" } else { "ADDED" }, "object": object});
        if let Some(ws) = s.watchers.get_mut(collection) {
            ws.retain(|w| {
                w.unbounded_send(Ok(Frame::data(Bytes::from(format!("{event}\n")))))
                    .is_ok()
            });
        }
    }

    pub fn get(&self, collection: &str, key: &str) -> Option<Value> {
        self.state.lock().objects.get(collection)?.get(key).cloned()
    }

    pub fn writes(&self) -> Vec<Write> {
        self.state.lock().writes.clone()
    }

    async fn handle(&self, req: Request<kube::client::Body>) -> Response<MockBody> {
        if self.state.lock().fail {
            return respond(
                StatusCode::INTERNAL_SERVER_ERROR,
                &json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "InternalError", "code": 500, "message": "down"}),
            );
        }
        let method = req.method().to_string();
        let path = req.uri().path().to_string();
        let query = req.uri().query().unwrap_or_default().to_string();
        let body = req
            .into_body()
            .collect()
            .await
            .map(|b| b.to_bytes())
            .unwrap_or_default();
        let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        if path == "/apis" {
            let kinds = self.state.lock().gateway_kinds.clone();
            let groups = if kinds.is_empty() {
                vec![]
            } else {
                vec![
                    json!({"name": "gateway.networking.k8s.io", "versions": [{"groupVersion": "gateway.networking.k8s.io/v1", "version": "v1"}],
                    "preferredVersion": {"groupVersion": "gateway.networking.k8s.io/v1", "version": "v1"}}),
                ]
            };
            return respond(
                StatusCode::OK,
                &json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}),
            );
        }
        if path == "/apis/gateway.networking.k8s.io/v1" {
            let kinds = self.state.lock().gateway_kinds.clone();
            let mut resources = Vec::new();
            for (plural, kind) in kinds {
                resources.push(json!({"name": plural, "kind": kind, "namespaced": kind != "GatewayClass", "singularName": "", "verbs": ["get","list","watch","patch"]}));
                resources.push(json!({"name": format!("{plural}/status"), "kind": kind, "namespaced": kind != "GatewayClass", "singularName": "", "verbs": ["get","patch"]}));
            }
            return respond(
                StatusCode::OK,
                &json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": "gateway.networking.k8s.io/v1", "resources": resources}),
            );
        }
        let (collection, key, status) = split(&path);
        match (method.as_str(), key) {
            ("GET", None) if query.contains("watch=true") => {
                let (tx, rx) = mpsc::unbounded();
                self.state
                    .lock()
                    .watchers
                    .entry(collection)
                    .or_default()
                    .push(tx);
                Response::new(StreamBody::new(rx))
            }
            ("GET", None) => {
                let s = self.state.lock();
                let items: Vec<Value> = s
                    .objects
                    .get(&collection)
                    .map(|m| m.values().cloned().collect())
                    .unwrap_or_default();
                respond(
                    StatusCode::OK,
                    &json!({"kind": "List", "apiVersion": "v1", "metadata": {"resourceVersion": s.resource_version.to_string()}, "items": items}),
                )
            }
            ("GET", Some(key)) => match self.get(&collection, &key) {
                Some(o) => respond(StatusCode::OK, &o),
                None => not_found(),
            },
            ("PATCH", Some(key)) => {
                self.state.lock().writes.push(Write {
                    method,
                    path: path.clone(),
                    body: body.clone(),
                });
                let mut object = self.get(&collection, &key).unwrap_or_else(|| {
                    let mut o = body.clone();
                    if let Some((ns, _)) = key.split_once('/') {
                        o["metadata"]["namespace"] = json!(ns);
                    }
                    o
                });
                if status {
                    object["status"] = body["status"].clone();
                } else {
                    object["spec"] = body["spec"].clone();
                    object["metadata"]["labels"] = body["metadata"]["labels"].clone();
                    object["metadata"]["annotations"] = body["metadata"]["annotations"].clone();
                    object["metadata"]["ownerReferences"] =
                        body["metadata"]["ownerReferences"].clone();
                }
                self.put(&collection, object.clone());
                respond(StatusCode::OK, &object)
            }
            ("POST", None) => {
                let ns = body["metadata"]["namespace"].as_str().map(str::to_string);
                let key = match &ns {
                    Some(ns) => format!(
                        "{ns}/{}",
                        body["metadata"]["name"].as_str().unwrap_or_default()
                    ),
                    None => body["metadata"]["name"]
                        .as_str()
                        .unwrap_or_default()
                        .to_string(),
                };
                if self.get(&collection, &key).is_some() {
                    return respond(
                        StatusCode::CONFLICT,
                        &json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "AlreadyExists", "code": 409, "message": "exists"}),
                    );
                }
                self.state.lock().writes.push(Write {
                    method,
                    path,
                    body: body.clone(),
                });
                self.put(&collection, body);
                respond(
                    StatusCode::CREATED,
                    &self.get(&collection, &key).unwrap_or(Value::Null),
                )
            }
            ("PUT", Some(key)) => {
                let current = self.get(&collection, &key);
                let rv = current
                    .as_ref()
                    .map(|c| c["metadata"]["resourceVersion"].clone());
                if rv.as_ref() != Some(&body["metadata"]["resourceVersion"]) {
                    return respond(
                        StatusCode::CONFLICT,
                        &json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "Conflict", "code": 409, "message": "conflict"}),
                    );
                }
                self.state.lock().writes.push(Write {
                    method,
                    path,
                    body: body.clone(),
                });
                self.put(&collection, body);
                respond(
                    StatusCode::OK,
                    &self.get(&collection, &key).unwrap_or(Value::Null),
                )
            }
            _ => not_found(),
        }
    }
}

/// Polls `check` until it holds or `deadline` passes.
pub async fn eventually(deadline: Duration, mut check: impl FnMut() -> bool) -> bool {
    let until = tokio::time::Instant::now() + deadline;
    while tokio::time::Instant::now() < until {
        if check() {
            return true;
        }
        tokio::task::yield_now().await;
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    check()
}

pub fn gateway_class() -> Value {
    json!({"apiVersion": "gateway.networking.k8s.io/v1", "kind": "GatewayClass",
        "metadata": {"name": "portico", "creationTimestamp": "2026-01-01T00:00:00Z"},
        "spec": {"controllerName": "portico.dev/gateway-controller"}})
}

pub fn gateway(name: &str) -> Value {
    json!({"apiVersion": "gateway.networking.k8s.io/v1", "kind": "Gateway",
    "metadata": {"name": name, "namespace": "default", "creationTimestamp": "2026-01-01T00:00:00Z"},
    "spec": {"gatewayClassName": "portico", "listeners": [
        {"name": "http", "port": 80, "protocol": "HTTP", "allowedRoutes": {"namespaces": {"from": "Same"}}}
    ]}})
}

pub const CLASSES: &str = "/apis/gateway.networking.k8s.io/v1/gatewayclasses";
pub const GATEWAYS: &str = "/apis/gateway.networking.k8s.io/v1/gateways";
pub const SERVICES: &str = "/api/v1/services";
pub const LEASES: &str = "/apis/coordination.k8s.io/v1/leases";
