use std::time::Duration;

use bytes::Bytes;
use http::{Request, StatusCode};
use http_body_util::Full;
use portico_ir::*;

use crate::common::*;

#[tokio::test]
async fn no_usable_endpoint_is_503() {
    let a = Echo::start("a").await;
    let mut not_ready = a.endpoint();
    not_ready.ready = false;
    let mut terminating = a.endpoint();
    terminating.terminating = true;
    let gw = Gateway::start(simple(
        vec![
            route(prefix("/none"), vec![backend("none", 1)]),
            route(prefix("/unready"), vec![backend("unready", 1)]),
            route(prefix("/terminating"), vec![backend("terminating", 1)]),
        ],
        vec![
            cluster("none", vec![]),
            cluster("unready", vec![not_ready]),
            cluster("terminating", vec![terminating]),
        ],
    ))
    .await;
    for path in ["/none", "/unready", "/terminating"] {
        assert_eq!(
            get(gw.addr(), "h", path).await.status,
            StatusCode::SERVICE_UNAVAILABLE,
            "{path}"
        );
    }
    assert_eq!(a.hits(), 0);
    assert_eq!(gw.proxy.metrics().snapshot().no_endpoint_total, 3);
}

#[tokio::test]
async fn connect_failure_is_503() {
    // A port nobody listens on: bind one, note it, close it.
    let dead = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let gw = Gateway::start(simple(
        vec![route(prefix("/"), vec![backend("dead", 1)])],
        vec![cluster("dead", vec![endpoint(dead)])],
    ))
    .await;
    assert_eq!(
        get(gw.addr(), "h", "/").await.status,
        StatusCode::SERVICE_UNAVAILABLE
    );
    assert_eq!(gw.proxy.metrics().snapshot().upstream_errors_total, 1);
}

#[tokio::test]
async fn round_robin_spreads_over_endpoints() {
    let a = Echo::start("a").await;
    let b = Echo::start("b").await;
    let gw = Gateway::start(simple(
        vec![route(prefix("/"), vec![backend("svc", 1)])],
        vec![cluster("svc", vec![a.endpoint(), b.endpoint()])],
    ))
    .await;
    for _ in 0..10 {
        get(gw.addr(), "h", "/").await;
    }
    assert_eq!((a.hits(), b.hits()), (5, 5));
}

#[tokio::test]
async fn least_request_and_random_clusters_serve() {
    let a = Echo::start("a").await;
    let b = Echo::start("b").await;
    let mut lr = cluster("lr", vec![a.endpoint(), b.endpoint()]);
    lr.lb = LbAlgorithm::LeastRequest;
    let mut rnd = cluster("rnd", vec![a.endpoint(), b.endpoint()]);
    rnd.lb = LbAlgorithm::Random;
    let gw = Gateway::start(simple(
        vec![
            route(prefix("/lr"), vec![backend("lr", 1)]),
            route(prefix("/rnd"), vec![backend("rnd", 1)]),
        ],
        vec![lr, rnd],
    ))
    .await;
    for _ in 0..20 {
        assert_eq!(get(gw.addr(), "h", "/lr").await.status, StatusCode::OK);
        assert_eq!(get(gw.addr(), "h", "/rnd").await.status, StatusCode::OK);
    }
    assert!(
        a.hits() > 0 && b.hits() > 0,
        "a={} b={}",
        a.hits(),
        b.hits()
    );
}

#[tokio::test]
async fn h2c_client_to_gateway() {
    let a = Echo::start("a").await;
    let gw = Gateway::start(simple(
        vec![route(prefix("/"), vec![backend("a", 1)])],
        vec![a.cluster()],
    ))
    .await;
    let req = Request::builder()
        .uri(format!("http://{}/h2?x=1", gw.addr()))
        .body(Full::new(Bytes::new()))
        .unwrap();
    let r = send(&h2c_client(), req).await;
    assert_eq!(r.status, StatusCode::OK);
    let j = r.json();
    assert_eq!(j["path"], "/h2?x=1");
    // Upstream is HTTP/1.1 by default and gets :authority as Host.
    assert_eq!(j["proto"], "HTTP/1.1");
    assert_eq!(j["host"], gw.addr().to_string());
}

#[tokio::test]
async fn h2c_upstream_uses_http2_with_original_authority() {
    let a = Echo::start("a").await;
    let mut c = a.cluster();
    c.protocol = AppProtocol::H2c;
    let gw = Gateway::start(simple(
        vec![route(prefix("/"), vec![backend("a", 1)])],
        vec![c],
    ))
    .await;
    for _ in 0..3 {
        let r = get(gw.addr(), "grpc.example.com", "/h2c").await;
        assert_eq!(r.status, StatusCode::OK);
        assert_eq!(r.json()["proto"], "HTTP/2.0");
        assert_eq!(r.json()["host"], "grpc.example.com");
    }
}

#[tokio::test]
async fn request_body_is_forwarded() {
    let a = Echo::start("a").await;
    let gw = Gateway::start(simple(
        vec![route(prefix("/"), vec![backend("a", 1)])],
        vec![a.cluster()],
    ))
    .await;
    let body = Bytes::from(vec![b'x'; 256 * 1024]);
    let req = Request::builder()
        .method("POST")
        .uri(format!("http://{}/upload", gw.addr()))
        .header("host", "h")
        .body(Full::new(body))
        .unwrap();
    let r = send(&h1_client(), req).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.json()["body_len"], 256 * 1024);
}

#[tokio::test]
async fn backend_and_request_timeouts_are_504() {
    let a = Echo::start("a").await;
    let mut backend_timeout = route(prefix("/backend"), vec![backend("a", 1)]);
    backend_timeout.action.timeouts.backend_request = Some(Duration::from_millis(100));
    let mut request_timeout = route(prefix("/request"), vec![backend("a", 1)]);
    request_timeout.action.timeouts.request = Some(Duration::from_millis(100));
    let mut disabled = route(prefix("/zero"), vec![backend("a", 1)]);
    disabled.action.timeouts.request = Some(Duration::ZERO);
    let gw = Gateway::start(simple(
        vec![backend_timeout, request_timeout, disabled],
        vec![a.cluster()],
    ))
    .await;
    assert_eq!(
        get(gw.addr(), "h", "/backend?delay_ms=2000").await.status,
        StatusCode::GATEWAY_TIMEOUT
    );
    assert_eq!(
        get(gw.addr(), "h", "/request?delay_ms=2000").await.status,
        StatusCode::GATEWAY_TIMEOUT
    );
    assert_eq!(get(gw.addr(), "h", "/backend").await.status, StatusCode::OK);
    assert_eq!(
        get(gw.addr(), "h", "/zero?delay_ms=200").await.status,
        StatusCode::OK,
        "0s disables"
    );
    assert_eq!(gw.proxy.metrics().snapshot().upstream_timeouts_total, 2);
}

#[tokio::test]
async fn hop_by_hop_stripped_and_forwarded_headers_added() {
    let a = Echo::start("a").await;
    let gw = Gateway::start(simple(
        vec![route(prefix("/"), vec![backend("a", 1)])],
        vec![a.cluster()],
    ))
    .await;
    let r = request(
        gw.addr(),
        "GET",
        "example.com",
        "/",
        &[
            ("connection", "x-drop-me"),
            ("x-drop-me", "1"),
            ("proxy-authorization", "Basic abc"),
            ("x-forwarded-for", "203.0.113.9"),
            ("x-forwarded-proto", "https"),
        ],
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.seen_header("x-drop-me"), None);
    assert_eq!(r.seen_header("proxy-authorization"), None);
    assert_eq!(
        r.seen_header("x-forwarded-for").as_deref(),
        Some("203.0.113.9, 127.0.0.1")
    );
    assert_eq!(
        r.seen_header("x-forwarded-proto").as_deref(),
        Some("http"),
        "client value not trusted"
    );
    assert_eq!(
        r.seen_header("x-forwarded-host").as_deref(),
        Some("example.com")
    );
}

#[tokio::test]
async fn upstream_status_is_passed_through() {
    let a = Echo::start("a").await;
    let gw = Gateway::start(simple(
        vec![route(prefix("/"), vec![backend("a", 1)])],
        vec![a.cluster()],
    ))
    .await;
    assert_eq!(
        get(gw.addr(), "h", "/status/418").await.status,
        StatusCode::IM_A_TEAPOT
    );
    assert_eq!(
        get(gw.addr(), "h", "/status/503").await.status,
        StatusCode::SERVICE_UNAVAILABLE
    );
}

#[tokio::test]
async fn websocket_upgrade_is_tunnelled() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let a = Echo::start("a").await;
    let gw = Gateway::start(simple(
        vec![route(prefix("/"), vec![backend("a", 1)])],
        vec![a.cluster()],
    ))
    .await;
    let mut s = tokio::net::TcpStream::connect(gw.addr()).await.unwrap();
    s.write_all(
        b"GET /ws HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
    )
    .await
    .unwrap();
    // Read the 101 head.
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        let n = tokio::time::timeout(DEADLINE, s.read(&mut byte))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            n,
            1,
            "connection closed during handshake: {}",
            String::from_utf8_lossy(&head)
        );
        head.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&head).to_ascii_lowercase();
    assert!(head.starts_with("http/1.1 101"), "{head}");
    assert!(head.contains("upgrade: websocket"), "{head}");
    // Bytes now flow both ways through the tunnel.
    for msg in [&b"ping"[..], b"second frame"] {
        s.write_all(msg).await.unwrap();
        let mut got = vec![0u8; msg.len()];
        tokio::time::timeout(DEADLINE, s.read_exact(&mut got))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(got, msg);
    }
}

#[tokio::test]
async fn retries_on_listed_codes() {
    let a = Echo::start("a").await;
    let b = Echo::start("b").await;
    let mut retried = route(prefix("/"), vec![backend("a", 1)]);
    retried.action.retry = Some(RetryPolicy {
        codes: vec![503],
        attempts: 2,
        backoff: Some(Duration::from_millis(1)),
    });
    let not_retried = route(prefix("/"), vec![backend("b", 1)]);
    let gw = Gateway::start(ir(
        vec![bind(
            any_port(),
            vec![listener(
                "gw",
                None,
                vec![
                    vhost(Some("retry.example"), vec![retried]),
                    vhost(None, vec![not_retried]),
                ],
            )],
        )],
        vec![a.cluster(), b.cluster()],
    ))
    .await;
    // Two failures, then success: within 2 retries.
    assert_eq!(
        get(gw.addr(), "retry.example", "/fail-first/2")
            .await
            .status,
        StatusCode::OK
    );
    assert_eq!(a.hits(), 3);
    assert_eq!(gw.proxy.metrics().snapshot().retries_total, 2);
    // Without a policy the first 503 is final.
    assert_eq!(
        get(gw.addr(), "other", "/fail-first/1").await.status,
        StatusCode::SERVICE_UNAVAILABLE
    );
    assert_eq!(b.hits(), 1);
}

#[tokio::test]
async fn retries_give_up_after_attempts_and_retry_connect_errors() {
    let dead = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let a = Echo::start("a").await;
    let mut r = route(prefix("/"), vec![backend("mixed", 1)]);
    r.action.retry = Some(RetryPolicy {
        codes: vec![503],
        attempts: 1,
        backoff: Some(Duration::from_millis(1)),
    });
    // Round robin: the dead endpoint first, then the live one.
    let gw = Gateway::start(simple(
        vec![r],
        vec![cluster("mixed", vec![endpoint(dead), a.endpoint()])],
    ))
    .await;
    assert_eq!(get(gw.addr(), "h", "/").await.status, StatusCode::OK);
    // Attempts are bounded: a backend that always fails still answers.
    assert_eq!(
        get(gw.addr(), "h", "/fail-first/100").await.status,
        StatusCode::SERVICE_UNAVAILABLE
    );
}

#[tokio::test]
async fn maglev_cluster_keeps_a_client_on_one_endpoint() {
    let a = Echo::start("a").await;
    let b = Echo::start("b").await;
    let c = Echo::start("c").await;
    let mut svc = cluster("svc", vec![a.endpoint(), b.endpoint(), c.endpoint()]);
    svc.lb = LbAlgorithm::Maglev;
    let gw = Gateway::start(simple(
        vec![route(prefix("/"), vec![backend("svc", 1)])],
        vec![svc],
    ))
    .await;
    let first = get(gw.addr(), "h", "/").await.backend();
    for _ in 0..10 {
        assert_eq!(
            get(gw.addr(), "h", "/").await.backend(),
            first,
            "same client IP, same endpoint"
        );
    }
}

#[tokio::test]
async fn failing_endpoint_is_ejected() {
    let dead = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let a = Echo::start("a").await;
    let gw = Gateway::start(simple(
        vec![route(prefix("/"), vec![backend("svc", 1)])],
        vec![cluster("svc", vec![endpoint(dead), a.endpoint()])],
    ))
    .await;
    // Round robin alternates; the dead endpoint fails 5 times in a row
    // (the default threshold) within the first 10 requests.
    let mut failures = 0;
    for _ in 0..10 {
        if get(gw.addr(), "h", "/").await.status != StatusCode::OK {
            failures += 1;
        }
    }
    assert_eq!(failures, 5);
    assert_eq!(gw.proxy.metrics().snapshot().outlier_ejections_total, 1);
    for _ in 0..20 {
        assert_eq!(
            get(gw.addr(), "h", "/").await.status,
            StatusCode::OK,
            "ejected endpoint skipped"
        );
    }
}

#[tokio::test]
async fn session_persistence_cookie_and_header() {
    let a = Echo::start("a").await;
    let b = Echo::start("b").await;
    let c = Echo::start("c").await;
    let sticky = |path: &str, kind, name: &str| {
        let mut r = route(prefix(path), vec![backend("svc", 1)]);
        r.action.session_persistence = Some(SessionPersistence {
            kind,
            name: name.into(),
            absolute_timeout: None,
            idle_timeout: None,
            permanent: false,
        });
        r
    };
    let gw = Gateway::start(simple(
        vec![
            sticky("/cookie", SessionPersistenceKind::Cookie, "portico-session"),
            sticky("/header", SessionPersistenceKind::Header, "x-session"),
        ],
        vec![cluster(
            "svc",
            vec![a.endpoint(), b.endpoint(), c.endpoint()],
        )],
    ))
    .await;
    let first = get(gw.addr(), "h", "/cookie").await;
    let set_cookie = first.headers["set-cookie"].to_str().unwrap().to_string();
    let cookie = set_cookie.split(';').next().unwrap().to_string();
    assert!(cookie.starts_with("portico-session="), "{set_cookie}");
    for _ in 0..6 {
        let r = request(gw.addr(), "GET", "h", "/cookie", &[("cookie", &cookie)]).await;
        assert_eq!(r.backend(), first.backend(), "cookie pins the endpoint");
        assert!(
            r.headers.get("set-cookie").is_none(),
            "existing session is not re-issued"
        );
    }

    let first = get(gw.addr(), "h", "/header").await;
    let token = first.headers["x-session"].to_str().unwrap().to_string();
    for _ in 0..6 {
        let r = request(gw.addr(), "GET", "h", "/header", &[("x-session", &token)]).await;
        assert_eq!(r.backend(), first.backend(), "header pins the endpoint");
    }
    // An unknown token starts a new session instead of failing.
    let r = request(gw.addr(), "GET", "h", "/header", &[("x-session", "bogus")]).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.headers.get("x-session").is_some());
}

/// An HTTP/2 backend answering like a gRPC server: data, then trailers.
async fn grpc_like_backend() -> std::net::SocketAddr {
    use http_body_util::StreamBody;
    use hyper::body::Frame;
    let l = tokio::net::TcpListener::bind(any_port()).await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((s, _)) = l.accept().await {
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(
                    |req: http::Request<hyper::body::Incoming>| async move {
                        let te = req
                            .headers()
                            .get("te")
                            .map(|v| v.to_str().unwrap_or("").to_string());
                        let mut trailers = http::HeaderMap::new();
                        trailers.insert("grpc-status", "0".parse().unwrap());
                        trailers.insert("x-te-seen", te.unwrap_or_default().parse().unwrap());
                        let frames: Vec<Result<Frame<Bytes>, std::convert::Infallible>> = vec![
                            Ok(Frame::data(Bytes::from_static(b"\0\0\0\0\x05hello"))),
                            Ok(Frame::trailers(trailers)),
                        ];
                        let mut resp =
                            http::Response::new(StreamBody::new(futures::stream::iter(frames)));
                        resp.headers_mut()
                            .insert("content-type", "application/grpc".parse().unwrap());
                        Ok::<_, std::convert::Infallible>(resp)
                    },
                );
                let _ = hyper_util::server::conn::auto::Builder::new(
                    hyper_util::rt::TokioExecutor::new(),
                )
                .serve_connection(hyper_util::rt::TokioIo::new(s), svc)
                .await;
            });
        }
    });
    addr
}

#[tokio::test]
async fn grpc_over_h2c_keeps_trailers_both_ways() {
    use http_body_util::BodyExt;
    let backend_addr = grpc_like_backend().await;
    let mut c = cluster("grpc", vec![endpoint(backend_addr)]);
    c.protocol = AppProtocol::H2c;
    let mut r = route(
        HttpMatch {
            path: PathMatch::Exact("/pkg.Echo/Say".into()),
            ..Default::default()
        },
        vec![backend("grpc", 1)],
    );
    r.action.grpc = true;
    let gw = Gateway::start(simple(vec![r], vec![c])).await;
    let req = Request::builder()
        .method("POST")
        .uri(format!("http://{}/pkg.Echo/Say", gw.addr()))
        .header("content-type", "application/grpc")
        .header("te", "trailers")
        .body(Full::new(Bytes::from_static(b"\0\0\0\0\0")))
        .unwrap();
    let resp = tokio::time::timeout(DEADLINE, h2c_client().request(req))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let collected = tokio::time::timeout(DEADLINE, resp.into_body().collect())
        .await
        .unwrap()
        .unwrap();
    let trailers = collected.trailers().cloned().expect("trailers forwarded");
    assert_eq!(trailers["grpc-status"], "0");
    assert_eq!(
        trailers["x-te-seen"], "trailers",
        "TE: trailers reaches the backend"
    );
    assert_eq!(&collected.to_bytes()[..], b"\0\0\0\0\x05hello");

    // A method with no route gets a gRPC status, not an HTML 404.
    let req = Request::builder()
        .method("POST")
        .uri(format!("http://{}/pkg.Echo/Missing", gw.addr()))
        .header("content-type", "application/grpc")
        .body(Full::new(Bytes::new()))
        .unwrap();
    let r = send(&h2c_client(), req).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.headers["grpc-status"], "12");
}

#[tokio::test]
async fn upstream_connections_are_reused_for_length_delimited_and_empty_bodies() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    // A keep-alive backend counting accepted connections: `/empty` answers
    // 204 (no body), anything else "ok\n" with a content-length.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let accepted = std::sync::Arc::new(AtomicUsize::new(0));
    let count = accepted.clone();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            count.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                let mut buf = vec![0u8; 8192];
                let mut seen = Vec::new();
                loop {
                    let Ok(n) = s.read(&mut buf).await else {
                        return;
                    };
                    if n == 0 {
                        return;
                    }
                    seen.extend_from_slice(&buf[..n]);
                    while let Some(end) = seen.windows(4).position(|w| w == b"\r\n\r\n") {
                        let empty = seen.starts_with(b"GET /empty");
                        seen.drain(..end + 4);
                        let reply: &[u8] = if empty {
                            b"HTTP/1.1 204 No Content\r\n\r\n"
                        } else {
                            b"HTTP/1.1 200 OK\r\ncontent-length: 3\r\n\r\nok\n"
                        };
                        if s.write_all(reply).await.is_err() {
                            return;
                        }
                    }
                }
            });
        }
    });
    let gw = Gateway::start(simple(
        vec![route(prefix("/"), vec![backend("raw", 1)])],
        vec![cluster("raw", vec![endpoint(addr)])],
    ))
    .await;
    for path in ["/", "/empty", "/", "/empty", "/"] {
        let reply = get(gw.addr(), "h", path).await;
        assert!(reply.status.is_success(), "{path}: {}", reply.status);
    }
    assert_eq!(accepted.load(Ordering::SeqCst), 1, "one pooled connection");
}

/// HTTP/1.1 upstream requests need a Host: an HTTP/1.0 request without one
/// reaches the backend with the endpoint's address as Host.
#[tokio::test]
async fn http10_request_without_host_gets_one_upstream() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let a = Echo::start("a").await;
    let gw = Gateway::start(simple(
        vec![route(prefix("/"), vec![backend("a", 1)])],
        vec![a.cluster()],
    ))
    .await;
    let mut s = tokio::net::TcpStream::connect(gw.addr())
        .await
        .expect("connect");
    s.write_all(b"GET /old HTTP/1.0\r\n\r\n")
        .await
        .expect("write");
    let mut out = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut out))
        .await
        .expect("answered in time")
        .expect("read");
    let text = String::from_utf8_lossy(&out);
    assert!(text.starts_with("HTTP/1.0 200"), "{text}");
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or("");
    let json: serde_json::Value = serde_json::from_str(body).expect("echo json");
    assert_eq!(
        json["headers"]["host"][0].as_str(),
        Some(a.endpoint().address.to_string().as_str()),
        "{json}"
    );
}
