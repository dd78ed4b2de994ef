//! Helpers shared by the tests that run the real `portico` binary (each
//! test file uses some of them).
#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use portico_testkit::eventually;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::process::{Child, Command};

/// Starts `portico run --config DIR` (admin on a free loopback port, the
/// Hubble API on `hubble`, then `extra` flags; killed on drop) and waits for
/// its admin address.
pub async fn spawn_run(
    dir: &Path,
    hubble: &str,
    extra: &[&str],
    deadline: Duration,
) -> (Child, SocketAddr) {
    let addr_file = dir.join(".admin-addr");
    let child = Command::new(env!("CARGO_BIN_EXE_portico"))
        .args(["run", "--config"])
        .arg(dir)
        .args(["--admin", "127.0.0.1:0", "--admin-addr-file"])
        .arg(&addr_file)
        .args(["--hubble-addr", hubble])
        .args(extra)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn portico run");
    let admin = admin_address(addr_file, deadline).await;
    (child, admin)
}

/// The admin address `portico run --admin-addr-file FILE` writes once it
/// listens.
pub async fn admin_address(addr_file: PathBuf, deadline: Duration) -> SocketAddr {
    eventually(deadline, || {
        let addr_file = addr_file.clone();
        async move {
            let text = tokio::fs::read_to_string(&addr_file).await?;
            text.trim()
                .parse::<SocketAddr>()
                .map_err(|e| std::io::Error::other(e.to_string()))
        }
    })
    .await
    .expect("admin address file")
}

/// One HTTP/1.1 GET over a fresh connection; returns status and body.
pub async fn http_request(
    addr: SocketAddr,
    host: &str,
    path: &str,
    headers: &[(&str, &str)],
) -> std::io::Result<(u16, String)> {
    let mut stream = tokio::net::TcpStream::connect(addr).await?;
    let mut request = format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n");
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    stream.write_all(request.as_bytes()).await?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await?;
    let text = String::from_utf8_lossy(&raw).into_owned();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("no status line in {text:?}")))?;
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    Ok((status, body))
}

/// [`http_request`] without extra headers.
pub async fn http_get(addr: SocketAddr, host: &str, path: &str) -> std::io::Result<(u16, String)> {
    http_request(addr, host, path, &[]).await
}
