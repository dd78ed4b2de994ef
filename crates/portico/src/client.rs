//! A small HTTP/1.1 client for the admin API of a running instance.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context;
use bytes::Bytes;
use http::{Request, StatusCode};
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

/// How long one admin request may take.
const TIMEOUT: Duration = Duration::from_secs(10);

/// GETs `path` (with query) from the admin API; returns status and body.
pub async fn get(admin: SocketAddr, path: &str) -> anyhow::Result<(StatusCode, Bytes)> {
    tokio::time::timeout(TIMEOUT, get_inner(admin, path))
        .await
        .with_context(|| format!("admin API at {admin} did not answer within {TIMEOUT:?}"))?
}

async fn get_inner(admin: SocketAddr, path: &str) -> anyhow::Result<(StatusCode, Bytes)> {
    let stream = TcpStream::connect(admin).await.with_context(|| {
        format!("cannot reach the Portico admin API at {admin} (is `portico run` running? set --admin or PORTICO_ADMIN)")
    })?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .context("admin API handshake")?;
    let conn = tokio::spawn(conn);
    let request = Request::get(path)
        .header(http::header::HOST, admin.to_string())
        .body(Empty::<Bytes>::new())
        .context("building the admin request")?;
    let response = sender
        .send_request(request)
        .await
        .context("admin API request")?;
    let status = response.status();
    let body = response
        .into_body()
        .collect()
        .await
        .context("reading the admin API response")?
        .to_bytes();
    drop(sender);
    conn.abort();
    Ok((status, body))
}

/// GETs `path` and parses a JSON body; non-2xx answers become errors
/// carrying the server's message.
pub async fn get_json(admin: SocketAddr, path: &str) -> anyhow::Result<serde_json::Value> {
    let (status, body) = get(admin, path).await?;
    let value: serde_json::Value = serde_json::from_slice(&body).with_context(|| {
        format!(
            "admin API answered {status} with a non-JSON body: {}",
            String::from_utf8_lossy(&body).trim()
        )
    })?;
    if !status.is_success() {
        let message = value
            .get("message")
            .and_then(serde_json::Value::as_str)
            .unwrap_or("request failed");
        anyhow::bail!("{message}");
    }
    Ok(value)
}
