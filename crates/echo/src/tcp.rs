//! TCP echo mode: a greeting, then line commands `PING`, `IS_TLS`, `TEST`;
//! plain or over TLS.

use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use tokio::io::{
    AsyncBufReadExt as _, AsyncRead, AsyncReadExt as _, AsyncWrite, AsyncWriteExt as _, BufReader,
};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;

use crate::accept::accept_loop;
use crate::tls::{TlsInfo, TlsSettings, go_version_name};
use crate::{EchoConfig, Error, Identity, ServerHandle};

/// Sent to every client on connect.
pub const TCP_GREETING: &str = "Gateway API Test TCP Server\n";

/// Longest command line accepted; longer input closes the connection.
const MAX_LINE: usize = 4096;

/// A client that has not finished its TLS handshake by then is dropped.
const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// The `TEST` answer.
#[derive(Debug, Serialize)]
struct TcpAssertions<'a> {
    namespace: &'a str,
    ingress: &'a str,
    service: &'a str,
    pod: &'a str,
    tcpport: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    tlsport: Option<&'a str>,
    #[serde(rename = "isTLS")]
    is_tls: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    tls: Option<TcpTls<'a>>,
}

/// The `tls` block of a TCP `TEST` answer (Go's field names and spellings).
#[derive(Debug, Serialize)]
struct TcpTls<'a> {
    version: String,
    #[serde(rename = "serverName")]
    server_name: &'a str,
    #[serde(rename = "negotiatedProtocol", skip_serializing_if = "str::is_empty")]
    negotiated_protocol: &'a str,
    #[serde(skip_serializing_if = "str::is_empty")]
    curves: &'a str,
    #[serde(rename = "cipherSuite")]
    cipher_suite: &'a str,
}

struct Shared {
    identity: Identity,
    port_label: String,
    acceptor: Option<TlsAcceptor>,
}

impl Shared {
    fn test_line(&self, tls: Option<&TlsInfo>) -> String {
        let mut line = serde_json::to_string(&TcpAssertions {
            namespace: &self.identity.namespace,
            ingress: &self.identity.ingress,
            service: &self.identity.service,
            pod: &self.identity.pod,
            tcpport: &self.port_label,
            tlsport: tls.map(|_| self.port_label.as_str()),
            is_tls: tls.is_some(),
            tls: tls.map(|t| TcpTls {
                version: go_version_name(&t.version),
                server_name: &t.server_name,
                negotiated_protocol: &t.negotiated_protocol,
                curves: &t.curve,
                cipher_suite: &t.cipher_suite,
            }),
        })
        .unwrap_or_else(|_| "{}".to_owned());
        line.push('\n');
        line
    }
}

/// Serves the TCP echo contract: on connect the server sends
/// [`TCP_GREETING`]; each line `PING` is answered `PONG`, `IS_TLS` with
/// `false`, `TEST` with one JSON line holding the identity and port
/// (`tcpport`); other lines are ignored.
pub async fn serve_tcp(
    listener: TcpListener,
    config: EchoConfig,
    shutdown: CancellationToken,
) -> Result<ServerHandle, Error> {
    start(listener, config, shutdown, None)
}

/// The TCP contract over TLS (the upstream `TLS_PORT`): after the handshake
/// the same greeting and commands, `IS_TLS` answers `true` and `TEST` adds
/// `tlsport` and a `tls` block (`version` as `TLS 1.3`, `serverName`,
/// `negotiatedProtocol`, `curves`, `cipherSuite`).
pub async fn serve_tcp_tls(
    listener: TcpListener,
    config: EchoConfig,
    tls: TlsSettings,
    shutdown: CancellationToken,
) -> Result<ServerHandle, Error> {
    let acceptor = tls.acceptor(&[])?;
    start(listener, config, shutdown, Some(acceptor))
}

fn start(
    listener: TcpListener,
    config: EchoConfig,
    shutdown: CancellationToken,
    acceptor: Option<TlsAcceptor>,
) -> Result<ServerHandle, Error> {
    let local_addr = listener.local_addr().map_err(Error::LocalAddr)?;
    let identity = config.identity.resolved_for_port(local_addr.port());
    let shared = Arc::new(Shared {
        identity: identity.clone(),
        port_label: config.port_label_for(local_addr.port()),
        acceptor,
    });
    let token = shutdown.child_token();
    tracing::info!(
        addr = %local_addr,
        pod = %identity.pod,
        tls = shared.acceptor.is_some(),
        "echo tcp server listening"
    );
    let conn_token = token.clone();
    let task = tokio::spawn(accept_loop(
        listener,
        token.clone(),
        move |stream, remote| {
            let shared = shared.clone();
            let token = conn_token.clone();
            async move {
                tokio::select! {
                    result = connection(stream, &shared) => {
                        if let Err(error) = result {
                            tracing::debug!(%error, %remote, "tcp echo session ended");
                        }
                    }
                    () = token.cancelled() => {}
                }
            }
        },
    ));
    Ok(ServerHandle::new(local_addr, identity, token, task))
}

async fn connection(stream: TcpStream, shared: &Shared) -> std::io::Result<()> {
    let Some(acceptor) = &shared.acceptor else {
        return session(stream, false, &shared.test_line(None)).await;
    };
    let tls = tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, acceptor.accept(stream))
        .await
        .map_err(|_| {
            std::io::Error::new(std::io::ErrorKind::TimedOut, "TLS handshake timed out")
        })??;
    let info = TlsInfo::from_connection(tls.get_ref().1);
    let line = shared.test_line(Some(&info));
    session(tls, true, &line).await
}

async fn session<S>(stream: S, is_tls: bool, test_line: &str) -> std::io::Result<()>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let (read, mut write) = tokio::io::split(stream);
    write.write_all(TCP_GREETING.as_bytes()).await?;
    write.flush().await?;
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
        let reply: &[u8] = match trim_line(&line) {
            b"PING" => b"PONG\n",
            b"IS_TLS" if is_tls => b"true\n",
            b"IS_TLS" => b"false\n",
            b"TEST" => test_line.as_bytes(),
            _ => continue,
        };
        write.write_all(reply).await?;
        write.flush().await?;
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

    #[test]
    fn test_line_shape() {
        let shared = Shared {
            identity: Identity::new("ns", "svc").with_pod("svc-a-b"),
            port_label: "3000".into(),
            acceptor: None,
        };
        let plain: serde_json::Value = serde_json::from_str(&shared.test_line(None)).expect("json");
        assert_eq!(plain["isTLS"], false);
        assert_eq!(plain["tcpport"], "3000");
        assert!(plain.get("tls").is_none() && plain.get("tlsport").is_none());
        let info = TlsInfo {
            version: "TLSv1.3".into(),
            server_name: "tls.example.com".into(),
            cipher_suite: "TLS_AES_128_GCM_SHA256".into(),
            curve: "X25519".into(),
            ..TlsInfo::default()
        };
        let tls: serde_json::Value =
            serde_json::from_str(&shared.test_line(Some(&info))).expect("json");
        assert_eq!(tls["isTLS"], true);
        assert_eq!(tls["tlsport"], "3000");
        assert_eq!(tls["tls"]["version"], "TLS 1.3");
        assert_eq!(tls["tls"]["serverName"], "tls.example.com");
        assert_eq!(tls["tls"]["curves"], "X25519");
        assert!(tls["tls"].get("negotiatedProtocol").is_none());
    }
}
