//! `/ws`: RFC 6455 WebSocket echo over HTTP/1.1 (text and binary frames are
//! sent back unchanged; pings are answered; close ends the session).

use bytes::Bytes;
use futures::{SinkExt as _, StreamExt as _};
use http::{HeaderMap, HeaderValue, Method, Request, Response, StatusCode, Version, header};
use http_body_util::Full;
use hyper_util::rt::TokioIo;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::{Message, Role};
use tokio_util::sync::CancellationToken;

use super::plain;

/// True when `headers` carry a token list containing `token` (case-insensitive).
fn has_token(headers: &HeaderMap, name: header::HeaderName, token: &str) -> bool {
    headers
        .get_all(name)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| t.trim().eq_ignore_ascii_case(token))
}

/// Answers a WebSocket handshake and spawns the echo session; anything that
/// is not a valid handshake gets 400.
pub(crate) fn upgrade(mut req: Request<()>, token: CancellationToken) -> Response<Full<Bytes>> {
    let headers = req.headers();
    let valid = req.method() == Method::GET
        && req.version() == Version::HTTP_11
        && has_token(headers, header::CONNECTION, "upgrade")
        && has_token(headers, header::UPGRADE, "websocket")
        && headers
            .get(header::SEC_WEBSOCKET_VERSION)
            .is_some_and(|v| v == "13");
    let key = headers.get(header::SEC_WEBSOCKET_KEY).cloned();
    let (true, Some(key)) = (valid, key) else {
        return plain(
            StatusCode::BAD_REQUEST,
            "Bad Request: not a websocket handshake",
        );
    };
    let accept = derive_accept_key(key.as_bytes());
    let on_upgrade = hyper::upgrade::on(&mut req);
    tokio::spawn(async move {
        match on_upgrade.await {
            Ok(upgraded) => {
                let ws =
                    WebSocketStream::from_raw_socket(TokioIo::new(upgraded), Role::Server, None)
                        .await;
                echo_session(ws, token).await;
            }
            Err(error) => tracing::debug!(%error, "websocket upgrade failed"),
        }
    });
    let mut resp = Response::new(Full::new(Bytes::new()));
    *resp.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let h = resp.headers_mut();
    h.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
    h.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
    if let Ok(v) = HeaderValue::from_str(&accept) {
        h.insert(header::SEC_WEBSOCKET_ACCEPT, v);
    }
    resp
}

async fn echo_session<S>(mut ws: WebSocketStream<S>, token: CancellationToken)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    tracing::debug!("websocket session established");
    loop {
        let msg = tokio::select! {
            msg = ws.next() => msg,
            () = token.cancelled() => {
                let _ = ws.close(None).await;
                return;
            }
        };
        let reply = match msg {
            Some(Ok(msg @ (Message::Text(_) | Message::Binary(_)))) => msg,
            // Pings and the closing handshake are answered by tungstenite
            // itself on the next flush; after a close the stream ends.
            Some(Ok(
                Message::Ping(_) | Message::Pong(_) | Message::Frame(_) | Message::Close(_),
            )) => {
                if ws.flush().await.is_err() {
                    return;
                }
                continue;
            }
            None => return,
            Some(Err(error)) => {
                tracing::debug!(%error, "websocket session ended");
                return;
            }
        };
        if let Err(error) = ws.send(reply).await {
            tracing::debug!(%error, "websocket send failed");
            return;
        }
    }
}
