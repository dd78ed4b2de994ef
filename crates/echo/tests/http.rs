//! HTTP/1.1 and h2c behaviour of `serve_http` and `serve_h2c`, through real
//! hyper clients.

mod common;

use common::{config, get, h2c, http1, json, listener, within};
use http::{Request, StatusCode};
use http_body_util::Empty;
use portico_echo::{CancellationToken, serve_h2c, serve_http};

#[tokio::test]
async fn http1_echo_reports_request_and_identity() {
    let (config, log) = config("infra-backend-v1");
    let mut records = log.subscribe();
    let server = serve_http(listener().await, config, CancellationToken::new())
        .await
        .expect("serve");
    let addr = server.local_addr();
    let req = Request::get("/some/path?x=1&y=2")
        .header("host", "foo.example.com")
        .header("x-custom", "a")
        .header("x-custom", "b")
        .header("x-echo-set-header", "X-Resp-One:1, X-Resp-Two:two")
        .body(Empty::new())
        .expect("request");
    let resp = http1(addr, req).await.expect("response");
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.headers()["content-type"], "application/json");
    assert_eq!(resp.headers()["x-resp-one"], "1");
    assert_eq!(resp.headers()["x-resp-two"], "two");
    let body = json(&resp);
    assert_eq!(body["path"], "/some/path?x=1&y=2");
    assert_eq!(body["host"], "foo.example.com");
    assert_eq!(body["method"], "GET");
    assert_eq!(body["proto"], "HTTP/1.1");
    assert_eq!(body["headers"]["X-Custom"], serde_json::json!(["a", "b"]));
    assert!(body["headers"].get("Host").is_none());
    assert_eq!(body["namespace"], "gateway-conformance-infra");
    assert_eq!(body["service"], "infra-backend-v1");
    assert_eq!(body["pod"], server.identity().pod.as_str());
    assert!(
        body["pod"]
            .as_str()
            .expect("pod")
            .starts_with("infra-backend-v1-")
    );
    assert_eq!(body["httpPort"], addr.port().to_string());
    // The client-side type reads the same answer back.
    let answer = portico_echo::EchoAnswer::from_json(resp.body()).expect("answer");
    assert_eq!(answer.path, "/some/path?x=1&y=2");
    assert_eq!(answer.header_values("x-custom"), ["a", "b"]);
    assert_eq!(answer.deployment(), "infra-backend-v1");
    assert!(answer.tls.is_none());

    let record = within(records.recv()).await.expect("record");
    assert_eq!(record.request_uri, "/some/path?x=1&y=2");
    assert!(
        record
            .line()
            .starts_with("Echoing back request made to /some/path?x=1&y=2 to client (127.0.0.1:"),
        "{}",
        record.line()
    );
    server.shutdown().await;
}

#[tokio::test]
async fn h2c_prior_knowledge_on_the_same_port() {
    let (config, _log) = config("infra-backend-v2");
    let server = serve_http(listener().await, config, CancellationToken::new())
        .await
        .expect("serve");
    let req = Request::get("http://h2.example.com/grpc-ish?q")
        .body(Empty::new())
        .expect("request");
    let resp = h2c(server.local_addr(), req).await.expect("response");
    assert_eq!(resp.status(), StatusCode::OK);
    let body = json(&resp);
    assert_eq!(body["proto"], "HTTP/2.0");
    assert_eq!(body["host"], "h2.example.com");
    assert_eq!(body["path"], "/grpc-ish?q");
}

#[tokio::test]
async fn health_status_and_slash_collapsing() {
    let (config, log) = config("svc");
    let mut records = log.subscribe();
    let server = serve_http(listener().await, config, CancellationToken::new())
        .await
        .expect("serve");
    let addr = server.local_addr();
    let health = http1(addr, get("/health", "h")).await.expect("health");
    assert_eq!(health.status(), StatusCode::OK);
    assert_eq!(&health.body()[..], b"OK");
    let collapsed = http1(addr, get("//health", "h")).await.expect("health");
    assert_eq!(&collapsed.body()[..], b"OK");
    for (path, code) in [
        ("/status/503", StatusCode::SERVICE_UNAVAILABLE),
        ("/status/418", StatusCode::IM_A_TEAPOT),
        ("/status/5000", StatusCode::BAD_REQUEST),
        ("/status/200?x=1", StatusCode::BAD_REQUEST),
    ] {
        let resp = http1(addr, get(path, "h")).await.expect("status");
        assert_eq!(resp.status(), code, "{path}");
    }
    // `//` is collapsed for routing only: the echoed path keeps it.
    let resp = http1(addr, get("/a//b", "h")).await.expect("echo");
    assert_eq!(json(&resp)["path"], "/a//b");
    // Health and status are not echoed, so the first record is /a//b.
    let record = within(records.recv()).await.expect("record");
    assert_eq!(record.request_uri, "/a//b");
}

#[tokio::test]
async fn delay_parameter() {
    let (config, _log) = config("svc");
    let server = serve_http(listener().await, config, CancellationToken::new())
        .await
        .expect("serve");
    let addr = server.local_addr();
    let ok = http1(addr, get("/d?delay=20ms", "h")).await.expect("delay");
    assert_eq!(ok.status(), StatusCode::OK);
    assert_eq!(json(&ok)["path"], "/d?delay=20ms");
    let bad = http1(addr, get("/d?delay=soon", "h"))
        .await
        .expect("bad delay");
    assert_eq!(bad.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert!(
        json(&bad)["message"]
            .as_str()
            .expect("message")
            .contains("invalid duration")
    );
}

#[tokio::test]
async fn retry_fails_first_attempts_with_code_then_echoes() {
    let (config, _log) = config("infra-backend-v3");
    let server = serve_http(listener().await, config, CancellationToken::new())
        .await
        .expect("serve");
    let addr = server.local_addr();
    let path = "/retry/code-500?uuid=one&succeedAfter=2&responseCode=500";
    let mut codes = Vec::new();
    for _ in 0..3 {
        codes.push(http1(addr, get(path, "h")).await.expect("retry").status());
    }
    assert_eq!(
        codes,
        [
            StatusCode::INTERNAL_SERVER_ERROR,
            StatusCode::INTERNAL_SERVER_ERROR,
            StatusCode::OK
        ]
    );
    // A different uuid starts from zero.
    let other = "/retry/code-500?uuid=two&succeedAfter=1&responseCode=503";
    let first = http1(addr, get(other, "h")).await.expect("retry");
    assert_eq!(first.status(), StatusCode::SERVICE_UNAVAILABLE);
}

#[tokio::test]
async fn retry_without_code_resets_the_connection() {
    let (config, _log) = config("infra-backend-v3");
    let server = serve_http(listener().await, config, CancellationToken::new())
        .await
        .expect("serve");
    let addr = server.local_addr();
    let path = "/retry/?uuid=reset&succeedAfter=1";
    let first = http1(addr, get(path, "h")).await;
    assert!(
        first.is_err(),
        "first attempt must fail at the connection level"
    );
    let second = http1(addr, get(path, "h")).await.expect("second attempt");
    assert_eq!(second.status(), StatusCode::OK);
}

#[tokio::test]
async fn h2c_only_port_rejects_http1() {
    let (config, _log) = config("svc");
    let server = serve_h2c(listener().await, config, CancellationToken::new())
        .await
        .expect("serve");
    let addr = server.local_addr();
    let h1 = http1(addr, get("/x", "h")).await.expect("h1");
    assert_eq!(h1.status(), StatusCode::BAD_REQUEST);
    assert_eq!(&h1.body()[..], b"Expected h2c request");
    let req = Request::get("http://h/x")
        .body(Empty::new())
        .expect("request");
    let h2 = h2c(addr, req).await.expect("h2");
    assert_eq!(h2.status(), StatusCode::OK);
    assert_eq!(json(&h2)["proto"], "HTTP/2.0");
}

#[tokio::test]
async fn shutdown_stops_accepting() {
    let (config, _log) = config("svc");
    let token = CancellationToken::new();
    let server = serve_http(listener().await, config, token.clone())
        .await
        .expect("serve");
    let addr = server.local_addr();
    assert!(http1(addr, get("/", "h")).await.is_ok());
    token.cancel();
    within(server.wait()).await;
    assert!(tokio::net::TcpStream::connect(addr).await.is_err());
}

#[tokio::test]
async fn unread_request_bodies_do_not_break_keep_alive() {
    use http_body_util::{BodyExt as _, Full};
    use hyper_util::rt::TokioIo;

    let (config, _log) = config("svc");
    let server = serve_http(listener().await, config, CancellationToken::new())
        .await
        .expect("serve");
    let stream = within(tokio::net::TcpStream::connect(server.local_addr()))
        .await
        .expect("connect");
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .expect("handshake");
    tokio::spawn(conn);
    for i in 0..3 {
        let body = bytes::Bytes::from(vec![b'x'; 100_000]);
        let req = Request::post(format!("/upload/{i}"))
            .header("host", "h")
            .body(Full::new(body))
            .expect("request");
        within(sender.ready()).await.expect("connection reusable");
        let resp = within(sender.send_request(req)).await.expect("response");
        assert_eq!(resp.status(), StatusCode::OK);
        let body = within(resp.into_body().collect())
            .await
            .expect("body")
            .to_bytes();
        let v: serde_json::Value = serde_json::from_slice(&body).expect("json");
        assert_eq!(v["method"], "POST");
        assert_eq!(v["path"], format!("/upload/{i}"));
    }
}
