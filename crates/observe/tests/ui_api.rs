//! The UI endpoints over a real admin server on port 0: the embedded page,
//! `/api/flows` paging and filters, `/api/servicemap`, and 400 on bad
//! filters.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use portico_observe::admin::{AdminSource, ObjectQuery, QueryError};
use portico_observe::flow::{
    FlowRing, GatewayRef, HttpInfo, IpInfo, L7Record, L7Type, Layer4, Layer7, RingConfig, RouteRef,
    ServiceRef, TcpFlags, Verdict,
};
use portico_observe::ui::WithFlows;
use portico_observe::{AdminServer, flow::Flow};
use prometheus_client::registry::Registry;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

struct Empty;

impl AdminSource for Empty {
    fn ready(&self) -> bool {
        true
    }
    fn config_dump(&self) -> Value {
        json!({})
    }
    fn objects(&self, query: &ObjectQuery) -> Result<Value, QueryError> {
        Err(QueryError::UnknownKind(query.kind.clone()))
    }
    fn problems(&self) -> Value {
        json!([])
    }
}

fn flow(path: &str, code: u16, verdict: Verdict) -> Flow {
    Flow {
        verdict,
        ip: Some(IpInfo {
            source: "127.0.0.1".parse().expect("ip"),
            destination: "127.0.0.2".parse().expect("ip"),
        }),
        l4: Some(Layer4::Tcp {
            source_port: 40000,
            destination_port: 8080,
            flags: TcpFlags::default(),
        }),
        l7: Some(Layer7 {
            kind: L7Type::Response,
            latency: Some(Duration::from_millis(3)),
            record: L7Record::Http(HttpInfo {
                code,
                method: "GET".into(),
                url: format!("http://shop.example{path}"),
                protocol: "HTTP/1.1",
                ..HttpInfo::default()
            }),
        }),
        gateway: Some(GatewayRef {
            namespace: "infra".into(),
            name: "gw".into(),
            listener: Some("http".into()),
        }),
        route: Some(RouteRef {
            kind: "HTTPRoute",
            namespace: "shop".into(),
            name: "web".into(),
        }),
        destination_service: Some(ServiceRef {
            namespace: "shop".into(),
            name: "web".into(),
        }),
        ..Flow::default()
    }
}

async fn get(addr: SocketAddr, path: &str) -> (u16, String) {
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let request = format!("GET {path} HTTP/1.1\r\nHost: admin\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.expect("write");
    let mut raw = String::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_string(&mut raw))
        .await
        .expect("answered in time")
        .expect("read");
    let status = raw
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("status");
    let body = raw
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}

fn paths(v: &Value) -> Vec<String> {
    v["flows"]
        .as_array()
        .expect("flows")
        .iter()
        .filter_map(|f| f["path"].as_str().map(str::to_owned))
        .collect()
}

#[tokio::test]
async fn the_admin_server_serves_the_ui_and_flow_api() {
    let ring = FlowRing::new(RingConfig::default()).expect("ring");
    let sink = ring.sink();
    let server = AdminServer::bind(
        "127.0.0.1:0".parse().expect("addr"),
        Arc::new(WithFlows::new(Arc::new(Empty), ring.clone())),
        Arc::new(Registry::default()),
    )
    .await
    .expect("admin server");
    let addr = server.local_addr();

    let (status, page) = get(addr, "/ui/").await;
    assert_eq!(status, 200);
    assert!(page.contains("<svg id=\"service-map\""), "{page}");

    sink.emit(flow("/a", 200, Verdict::Forwarded));
    sink.emit(flow("/b", 503, Verdict::Forwarded));
    let (status, body) = get(addr, "/api/flows").await;
    assert_eq!(status, 200, "{body}");
    let v: Value = serde_json::from_str(&body).expect("json");
    assert_eq!(paths(&v), vec!["/a", "/b"]);
    let last = v["last_seq"].as_u64().expect("last_seq");

    sink.emit(flow("/c", 404, Verdict::Dropped));
    let (_, body) = get(addr, &format!("/api/flows?after={last}")).await;
    let v: Value = serde_json::from_str(&body).expect("json");
    assert_eq!(paths(&v), vec!["/c"]);
    assert_eq!(v["flows"][0]["status"], 404);
    assert_eq!(v["flows"][0]["verdict"], "DROPPED");

    let (_, body) = get(addr, "/api/flows?http-status=5%2B").await;
    let v: Value = serde_json::from_str(&body).expect("json");
    assert_eq!(paths(&v), vec!["/b"]);

    let (status, body) = get(addr, "/api/flows?http-path=%28").await;
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("error"), "{body}");

    let (status, body) = get(addr, "/api/servicemap").await;
    assert_eq!(status, 200);
    let map: Value = serde_json::from_str(&body).expect("json");
    let edge = map["edges"]
        .as_array()
        .expect("edges")
        .iter()
        .find(|e| e["source"] == "gateway:infra/gw" && e["target"] == "route:HTTPRoute shop/web")
        .cloned()
        .expect("gateway → route edge");
    assert_eq!(edge["flows"], 3);
    assert_eq!(edge["dropped"], 1);
    assert_eq!(edge["http_5xx"], 1);

    server.shutdown(Duration::from_secs(2)).await;
}

#[tokio::test]
async fn without_a_ring_the_flow_api_says_so() {
    let server = AdminServer::bind(
        "127.0.0.1:0".parse().expect("addr"),
        Arc::new(Empty),
        Arc::new(Registry::default()),
    )
    .await
    .expect("admin server");
    let (status, body) = get(server.local_addr(), "/api/flows").await;
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("flow recording is off"), "{body}");
    // The page itself still loads.
    assert_eq!(get(server.local_addr(), "/ui/").await.0, 200);
    server.shutdown(Duration::from_secs(2)).await;
}
