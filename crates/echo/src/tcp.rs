//! TCP echo mode: a greeting, then line commands `PING`, `IS_TLS`, `TEST`.

use std::sync::Arc;

use serde::Serialize;
use tokio::io::{AsyncBufReadExt as _, AsyncReadExt as _, AsyncWriteExt as _, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;

use crate::accept::accept_loop;
use crate::{EchoConfig, Error, ServerHandle};

/// Sent to every client on connect.
pub const TCP_GREETING: &str = "Gateway API Test TCP Server\n";

/// Longest command line accepted; longer input closes the connection.
const MAX_LINE: usize = 4096;

/// The `TEST` answer.
#[derive(Debug, Serialize)]
struct TcpAssertions<'a> {
    namespace: &'a str,
    ingress: &'a str,
    service: &'a str,
    pod: &'a str,
    tcpport: &'a str,
    #[serde(rename = "isTLS")]
    is_tls: bool,
}

/// Serves the TCP echo contract: on connect the server sends
/// [`TCP_GREETING`]; each line `PING` is answered `PONG`, `IS_TLS` with
/// `false`, `TEST` with one JSON line holding the identity and port; other
/// lines are ignored.
pub async fn serve_tcp(
    listener: TcpListener,
    config: EchoConfig,
    shutdown: CancellationToken,
) -> Result<ServerHandle, Error> {
    let local_addr = listener.local_addr().map_err(Error::LocalAddr)?;
    let identity = config.identity.resolved_for_port(local_addr.port());
    let port_label = config.port_label_for(local_addr.port());
    let test_line = {
        let mut line = serde_json::to_string(&TcpAssertions {
            namespace: &identity.namespace,
            ingress: &identity.ingress,
            service: &identity.service,
            pod: &identity.pod,
            tcpport: &port_label,
            is_tls: false,
        })
        .unwrap_or_else(|_| "{}".to_owned());
        line.push('\n');
        Arc::<str>::from(line)
    };
    let token = shutdown.child_token();
    tracing::info!(addr = %local_addr, pod = %identity.pod, "echo tcp server listening");
    let task = tokio::spawn(run(listener, test_line, token.clone()));
    Ok(ServerHandle::new(local_addr, identity, token, task))
}

async fn run(listener: TcpListener, test_line: Arc<str>, token: CancellationToken) {
    let conn_token = token.clone();
    accept_loop(listener, token, move |stream, remote| {
        let test_line = test_line.clone();
        let token = conn_token.clone();
        async move {
            tokio::select! {
                result = session(stream, &test_line) => {
                    if let Err(error) = result {
                        tracing::debug!(%error, %remote, "tcp echo session ended");
                    }
                }
                () = token.cancelled() => {}
            }
        }
    })
    .await;
}

async fn session(stream: TcpStream, test_line: &str) -> std::io::Result<()> {
    let (read, mut write) = stream.into_split();
    write.write_all(TCP_GREETING.as_bytes()).await?;
    let mut reader = BufReader::new(read);
    let mut line = Vec::new();
    loop {
        line.clear();
        let n = (&mut reader)
            .take(MAX_LINE as u64 + 1)
            .read_until(b'\n', &mut line)
            .await?;
        if n == 0 || (line.len() > MAX_LINE && !line.ends_with(b"\n")) {
            return Ok(());
        }
        let command = trim_line(&line);
        let reply: &[u8] = match command {
            b"PING" => b"PONG\n",
            b"IS_TLS" => b"false\n",
            b"TEST" => test_line.as_bytes(),
            _ => continue,
        };
        write.write_all(reply).await?;
    }
}

fn trim_line(line: &[u8]) -> &[u8] {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    line.strip_suffix(b"\r").unwrap_or(line)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trims_line_endings() {
        assert_eq!(trim_line(b"PING\r\n"), b"PING");
        assert_eq!(trim_line(b"PING\n"), b"PING");
        assert_eq!(trim_line(b"PING"), b"PING");
    }
}
