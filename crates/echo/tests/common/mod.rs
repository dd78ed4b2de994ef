//! Helpers shared by the echo integration tests: raw hyper clients over one
//! connection, and a deadline for every await.

#![allow(dead_code, reason = "each test binary uses a subset")]

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::{BodyExt as _, Empty};
use hyper_util::rt::{TokioExecutor, TokioIo};
use portico_echo::{EchoConfig, EchoLog, Identity};
use tokio::net::TcpStream;

/// Upper bound for any single step of a test.
pub const DEADLINE: Duration = Duration::from_secs(10);

/// Awaits `fut` or panics after [`DEADLINE`].
pub async fn within<F: Future>(fut: F) -> F::Output {
    tokio::time::timeout(DEADLINE, fut)
        .await
        .expect("step exceeded the test deadline")
}

pub fn config(service: &str) -> (EchoConfig, EchoLog) {
    let log = EchoLog::silent();
    let config =
        EchoConfig::new(Identity::new("gateway-conformance-infra", service)).with_log(log.clone());
    (config, log)
}

pub async fn listener() -> tokio::net::TcpListener {
    tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind port 0")
}

/// Sends one request over a fresh HTTP/1.1 connection.
pub async fn http1(addr: SocketAddr, req: Request<Empty<Bytes>>) -> hyper::Result<Response<Bytes>> {
    let stream = within(TcpStream::connect(addr)).await.expect("connect");
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(conn);
    let resp = within(sender.send_request(req)).await?;
    collect(resp).await
}

/// Sends one request over a fresh h2c (prior knowledge) connection.
pub async fn h2c(addr: SocketAddr, req: Request<Empty<Bytes>>) -> hyper::Result<Response<Bytes>> {
    let stream = within(TcpStream::connect(addr)).await.expect("connect");
    let (mut sender, conn) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(stream)).await?;
    tokio::spawn(conn);
    let resp = within(sender.send_request(req)).await?;
    collect(resp).await
}

async fn collect(resp: Response<hyper::body::Incoming>) -> hyper::Result<Response<Bytes>> {
    let (parts, body) = resp.into_parts();
    let body = within(body.collect()).await?.to_bytes();
    Ok(Response::from_parts(parts, body))
}

pub fn get(uri: &str, host: &str) -> Request<Empty<Bytes>> {
    Request::get(uri)
        .header("host", host)
        .body(Empty::new())
        .expect("request")
}

pub fn json(resp: &Response<Bytes>) -> serde_json::Value {
    serde_json::from_slice(resp.body()).expect("json body")
}
