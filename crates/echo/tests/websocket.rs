//! `/ws` WebSocket echo with a tungstenite client.

mod common;

use common::{config, listener, within};
use futures::{SinkExt as _, StreamExt as _};
use portico_echo::{CancellationToken, serve_http};
use tokio_tungstenite::tungstenite::Message;

#[tokio::test]
async fn websocket_echoes_text_and_binary() {
    let (config, _log) = config("svc");
    let server = serve_http(listener().await, config, CancellationToken::new())
        .await
        .expect("serve");
    let addr = server.local_addr();
    let stream = within(tokio::net::TcpStream::connect(addr))
        .await
        .expect("connect");
    let (mut ws, resp) = within(tokio_tungstenite::client_async(
        format!("ws://{addr}/ws"),
        stream,
    ))
    .await
    .expect("handshake");
    assert_eq!(resp.status(), http::StatusCode::SWITCHING_PROTOCOLS);

    within(ws.send(Message::text("hello"))).await.expect("send");
    let got = within(ws.next()).await.expect("frame").expect("ok");
    assert_eq!(got, Message::text("hello"));

    within(ws.send(Message::binary(vec![0u8, 1, 2, 255])))
        .await
        .expect("send");
    let got = within(ws.next()).await.expect("frame").expect("ok");
    assert_eq!(got, Message::binary(vec![0u8, 1, 2, 255]));

    within(ws.close(None)).await.expect("close");
    // The server completes the closing handshake and the stream ends.
    loop {
        match within(ws.next()).await {
            Some(Ok(Message::Close(_))) => {}
            Some(Ok(other)) => panic!("unexpected frame {other:?}"),
            Some(Err(_)) | None => break,
        }
    }
}

#[tokio::test]
async fn plain_get_on_ws_is_bad_request() {
    let (config, _log) = config("svc");
    let server = serve_http(listener().await, config, CancellationToken::new())
        .await
        .expect("serve");
    let resp = common::http1(server.local_addr(), common::get("/ws", "h"))
        .await
        .expect("response");
    assert_eq!(resp.status(), http::StatusCode::BAD_REQUEST);
}
