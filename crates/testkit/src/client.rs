//! Minimal HTTP clients for tests: one request over a fresh connection,
//! HTTP/1.1 or h2c (prior knowledge), bounded by a deadline.

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response, Version};
use http_body_util::{BodyExt as _, Full};
use hyper_util::rt::{TokioExecutor, TokioIo};
use portico_echo::EchoAnswer;
use tokio::net::TcpStream;

use crate::Error;

/// How long [`send`] waits for connect + answer + body.
pub const REQUEST_DEADLINE: Duration = Duration::from_secs(10);

/// Sends `req` to `addr` over a new connection speaking `version`
/// (`HTTP_11` or `HTTP_2` for h2c prior knowledge) and collects the body.
/// For HTTP/1.1 set a `Host` header; for HTTP/2 give the URI an authority.
pub async fn send(
    addr: SocketAddr,
    version: Version,
    req: Request<Full<Bytes>>,
) -> Result<Response<Bytes>, Error> {
    tokio::time::timeout(REQUEST_DEADLINE, send_inner(addr, version, req))
        .await
        .map_err(|_| Error::Client(format!("no answer from {addr} within {REQUEST_DEADLINE:?}")))?
}

async fn send_inner(
    addr: SocketAddr,
    version: Version,
    req: Request<Full<Bytes>>,
) -> Result<Response<Bytes>, Error> {
    let client = |e: hyper::Error| Error::Client(e.to_string());
    let stream = TcpStream::connect(addr)
        .await
        .map_err(|e| Error::Client(format!("connect {addr}: {e}")))?;
    let io = TokioIo::new(stream);
    let resp = if version == Version::HTTP_2 {
        let (mut sender, conn) = hyper::client::conn::http2::handshake(TokioExecutor::new(), io)
            .await
            .map_err(client)?;
        tokio::spawn(conn);
        sender.send_request(req).await.map_err(client)?
    } else {
        let (mut sender, conn) = hyper::client::conn::http1::handshake(io)
            .await
            .map_err(client)?;
        tokio::spawn(conn);
        sender.send_request(req).await.map_err(client)?
    };
    let (parts, body) = resp.into_parts();
    let body = body.collect().await.map_err(client)?.to_bytes();
    Ok(Response::from_parts(parts, body))
}

/// `GET path` with `Host: host` over HTTP/1.1.
pub async fn get(addr: SocketAddr, host: &str, path: &str) -> Result<Response<Bytes>, Error> {
    let req = Request::get(path)
        .header(http::header::HOST, host)
        .body(Full::new(Bytes::new()))
        .map_err(|e| Error::Client(e.to_string()))?;
    send(addr, Version::HTTP_11, req).await
}

/// The echo answer in a response (which must say `application/json`).
pub fn echo_answer(resp: &Response<Bytes>) -> Result<EchoAnswer, Error> {
    let json = resp
        .headers()
        .get(http::header::CONTENT_TYPE)
        .is_some_and(|v| v == "application/json");
    if !json {
        return Err(Error::Client(format!(
            "status {} without an application/json echo body",
            resp.status()
        )));
    }
    EchoAnswer::from_json(resp.body()).map_err(|e| Error::Client(format!("echo body: {e}")))
}
