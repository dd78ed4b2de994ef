//! RFC 8441: a WebSocket opened with an extended CONNECT on an HTTP/2
//! stream reaches an HTTP/1.1 backend as an upgrade and is spliced.

use bytes::Bytes;
use http::{Method, Request, StatusCode, Version};
use http_body_util::Empty;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::common::*;

#[tokio::test]
async fn websocket_over_http2_reaches_an_http1_backend() {
    let a = Echo::start("a").await;
    let gw = Gateway::start(simple(
        vec![route(prefix("/"), vec![backend("a", 1)])],
        vec![a.cluster()],
    ))
    .await;
    let tcp = tokio::net::TcpStream::connect(gw.addr()).await.unwrap();
    let (mut sender, conn) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(tcp))
            .await
            .unwrap();
    tokio::spawn(conn);
    // A plain request first: the server's SETTINGS (which must enable
    // extended CONNECT) have arrived once it is answered.
    let plain = Request::get(format!("http://{}/", gw.addr()))
        .version(Version::HTTP_2)
        .body(Empty::<Bytes>::new())
        .unwrap();
    let resp = tokio::time::timeout(DEADLINE, sender.send_request(plain))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);

    let mut connect = Request::builder()
        .method(Method::CONNECT)
        .uri(format!("http://{}/ws", gw.addr()))
        .version(Version::HTTP_2)
        .header("sec-websocket-version", "13")
        .body(Empty::<Bytes>::new())
        .unwrap();
    connect
        .extensions_mut()
        .insert(hyper::ext::Protocol::from_static("websocket"));
    let mut resp = tokio::time::timeout(DEADLINE, sender.send_request(connect))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK, "{:?}", resp.headers());
    assert!(resp.headers().get("sec-websocket-accept").is_none());
    let upgraded = tokio::time::timeout(DEADLINE, hyper::upgrade::on(&mut resp))
        .await
        .unwrap()
        .unwrap();
    let mut io = TokioIo::new(upgraded);
    // The backend echoes the bytes of the upgraded connection.
    io.write_all(b"hello over h2").await.unwrap();
    let mut buf = [0u8; 13];
    tokio::time::timeout(DEADLINE, io.read_exact(&mut buf))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(&buf, b"hello over h2");
    // The backend saw an HTTP/1.1 upgrade (plain GET + the /ws request).
    assert_eq!(a.hits(), 2);
}
