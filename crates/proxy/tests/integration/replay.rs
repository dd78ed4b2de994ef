//! Request bodies sent more than once: mirrors receive a copy of small
//! bodies, retries resend them; large bodies stream once (no mirror copy,
//! no retry).

use std::convert::Infallible;
use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use portico_ir::*;
use tokio::net::TcpListener;
use tokio::sync::mpsc;

use crate::common::*;

/// A backend that reports the path and body of every request it gets.
struct Recorder {
    addr: SocketAddr,
    seen: mpsc::UnboundedReceiver<(String, Bytes)>,
}

impl Recorder {
    async fn start() -> Recorder {
        let listener = TcpListener::bind(any_port()).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, seen) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let tx = tx.clone();
                tokio::spawn(async move {
                    let svc = service_fn(move |req: Request<Incoming>| {
                        let tx = tx.clone();
                        async move {
                            let path = req.uri().path().to_string();
                            let body = req.into_body().collect().await.map(|b| b.to_bytes());
                            let _ = tx.send((path, body.unwrap_or_default()));
                            Ok::<_, Infallible>(Response::new(Full::new(Bytes::new())))
                        }
                    });
                    let _ = auto::Builder::new(TokioExecutor::new())
                        .serve_connection(TokioIo::new(stream), svc)
                        .await;
                });
            }
        });
        Recorder { addr, seen }
    }

    fn cluster(&self, name: &str) -> Cluster {
        cluster(name, vec![endpoint(self.addr)])
    }

    /// The next request the recorder saw, within the deadline.
    async fn next(&mut self) -> (String, Bytes) {
        tokio::time::timeout(DEADLINE, self.seen.recv())
            .await
            .expect("the recorder saw no request")
            .expect("recorder stopped")
    }
}

async fn post(addr: SocketAddr, path: &str, body: Bytes) -> Reply {
    let req = Request::builder()
        .method("POST")
        .uri(format!("http://{addr}{path}"))
        .header("host", "h")
        .body(Full::new(body))
        .unwrap();
    send(&h1_client(), req).await
}

fn body_len(r: &Reply) -> u64 {
    r.json()["body_len"].as_u64().unwrap_or(u64::MAX)
}

#[tokio::test]
async fn mirrors_get_small_bodies_and_skip_large_ones() {
    let a = Echo::start("a").await;
    let mut mirror = Recorder::start().await;
    let gw = Gateway::start(simple(
        vec![with_filters(
            route(prefix("/"), vec![backend("a", 1)]),
            vec![HttpFilter::RequestMirror(RequestMirror {
                target: BackendTarget::Cluster(cluster_id("m")),
                numerator: 1,
                denominator: 1,
            })],
        )],
        vec![a.cluster(), mirror.cluster("m")],
    ))
    .await;

    let small = Bytes::from(vec![b's'; 1000]);
    let r = post(gw.addr(), "/small", small.clone()).await;
    assert_eq!((r.status, body_len(&r)), (StatusCode::OK, 1000));
    assert_eq!(mirror.next().await, ("/small".to_string(), small));

    // Over the buffering limit: the backend still gets all of it, the
    // mirror gets nothing.
    let large = Bytes::from(vec![b'l'; 200 * 1024]);
    let r = post(gw.addr(), "/large", large).await;
    assert_eq!((r.status, body_len(&r)), (StatusCode::OK, 200 * 1024));
    // Bodiless requests are still mirrored; the large one never was.
    let r = get(gw.addr(), "h", "/after").await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(mirror.next().await, ("/after".to_string(), Bytes::new()));
}

#[tokio::test]
async fn retries_resend_small_bodies_only() {
    let a = Echo::start("a").await;
    let mut r = route(prefix("/"), vec![backend("a", 1)]);
    r.action.retry = Some(RetryPolicy {
        codes: vec![503],
        attempts: 2,
        backoff: Some(Duration::from_millis(1)),
    });
    let gw = Gateway::start(simple(vec![r], vec![a.cluster()])).await;

    // Two 503s, then the third attempt carries the whole body again.
    let reply = post(gw.addr(), "/fail-first/2", Bytes::from(vec![b'x'; 5000])).await;
    assert_eq!((reply.status, body_len(&reply)), (StatusCode::OK, 5000));
    assert_eq!(a.hits(), 3);

    // A body too large to buffer streams once: the 503 (answered after
    // reading the whole body) is final.
    let large = Bytes::from(vec![b'y'; 200 * 1024]);
    let reply = post(gw.addr(), "/status/503", large).await;
    assert_eq!(reply.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(a.hits(), 4);
    // The same answer to a small body is retried twice.
    let reply = post(gw.addr(), "/status/503", Bytes::from_static(b"small")).await;
    assert_eq!(reply.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(a.hits(), 7);
}
