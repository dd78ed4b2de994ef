//! The HTTP echo modes: HTTP/1.1 + h2c (prior knowledge) on one port, and the
//! h2c-only port.

mod assertions;
mod handler;
mod reset;
mod retry;
mod set_header;
mod ws;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode, header};
use http_body_util::Full;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;

use crate::accept::accept_loop;
use crate::tls::{TlsInfo, TlsSettings};
use crate::{EchoConfig, Error, ServerHandle};
use handler::{Conn, Mode, Shared};
use reset::{ResetSignal, ResettableStream};

/// A client that has not finished its TLS handshake by then is dropped.
const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Serves the full HTTP echo contract on `listener`: HTTP/1.1 and HTTP/2
/// with prior knowledge (h2c) on the same port, `/health`, `/status/NNN`,
/// `/retry/…`, `/ws` and the echo answer for everything else.
///
/// An HTTP/1.1 `Upgrade: h2c` request is answered over HTTP/1.1 (the upgrade
/// is declined, which RFC 9110 allows).
pub async fn serve_http(
    listener: TcpListener,
    config: EchoConfig,
    shutdown: CancellationToken,
) -> Result<ServerHandle, Error> {
    serve(listener, config, shutdown, Mode::Full, None)
}

/// Serves the h2c-only port variant: HTTP/2 prior knowledge gets the echo
/// answer, HTTP/1.x without `Upgrade: h2c` gets 400 `Expected h2c request`.
pub async fn serve_h2c(
    listener: TcpListener,
    config: EchoConfig,
    shutdown: CancellationToken,
) -> Result<ServerHandle, Error> {
    serve(listener, config, shutdown, Mode::H2cOnly, None)
}

/// Serves the full HTTP contract over TLS (the upstream `HTTPS_PORT`):
/// ALPN `h2` and `http/1.1`, client certificates verified when presented
/// (with [`TlsSettings::with_client_ca`]), and a `tls` block in every echo
/// answer (`version`, `peerCertificates`, `serverName`,
/// `negotiatedProtocol`, `cipherSuite`).
pub async fn serve_https(
    listener: TcpListener,
    config: EchoConfig,
    tls: TlsSettings,
    shutdown: CancellationToken,
) -> Result<ServerHandle, Error> {
    let acceptor = tls.acceptor(&[b"h2", b"http/1.1"])?;
    serve(listener, config, shutdown, Mode::Full, Some(acceptor))
}

fn serve(
    listener: TcpListener,
    config: EchoConfig,
    shutdown: CancellationToken,
    mode: Mode,
    acceptor: Option<TlsAcceptor>,
) -> Result<ServerHandle, Error> {
    let local_addr = listener.local_addr().map_err(Error::LocalAddr)?;
    let identity = config.identity.resolved_for_port(local_addr.port());
    let token = shutdown.child_token();
    let shared = Arc::new(Shared {
        identity: identity.clone(),
        port_label: config.port_label_for(local_addr.port()),
        log: config.log,
        retries: retry::RetryCounters::default(),
        mode,
        token: token.clone(),
    });
    tracing::info!(
        addr = %local_addr,
        pod = %identity.pod,
        ?mode,
        tls = acceptor.is_some(),
        "echo http server listening"
    );
    let conn_token = token.clone();
    let task = tokio::spawn(accept_loop(
        listener,
        token.clone(),
        move |stream, remote| {
            serve_connection(
                stream,
                remote,
                shared.clone(),
                conn_token.clone(),
                acceptor.clone(),
            )
        },
    ));
    Ok(ServerHandle::new(local_addr, identity, token, task))
}

async fn serve_connection(
    stream: TcpStream,
    remote: SocketAddr,
    shared: Arc<Shared>,
    token: CancellationToken,
    acceptor: Option<TlsAcceptor>,
) {
    let reset = Arc::new(ResetSignal::default());
    let io = ResettableStream::new(stream, reset.clone());
    let Some(acceptor) = acceptor else {
        let conn = Arc::new(Conn {
            remote,
            reset,
            tls: None,
        });
        return drive(TokioIo::new(io), shared, conn, token).await;
    };
    let handshake = tokio::select! {
        r = tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, acceptor.accept(io)) => r,
        () = token.cancelled() => return,
    };
    let tls = match handshake {
        Ok(Ok(tls)) => tls,
        Ok(Err(error)) => {
            tracing::debug!(%error, %remote, "echo TLS handshake failed");
            return;
        }
        Err(_) => {
            tracing::debug!(%remote, "echo TLS handshake timed out");
            return;
        }
    };
    let info = TlsInfo::from_connection(tls.get_ref().1);
    let conn = Arc::new(Conn {
        remote,
        reset,
        tls: Some(info),
    });
    drive(TokioIo::new(tls), shared, conn, token).await;
}

/// Serves HTTP on one connection until it ends, is reset on request, or has
/// drained after shutdown.
async fn drive<I>(io: TokioIo<I>, shared: Arc<Shared>, conn: Arc<Conn>, token: CancellationToken)
where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let reset = conn.reset.clone();
    let service = service_fn(move |req| handler::handle(req, shared.clone(), conn.clone()));
    let builder = auto::Builder::new(TokioExecutor::new());
    let connection = builder.serve_connection_with_upgrades(io, service);
    tokio::pin!(connection);
    let mut draining = false;
    loop {
        tokio::select! {
            result = connection.as_mut() => {
                if let Err(error) = result {
                    tracing::debug!(%error, "echo connection ended with error");
                }
                return;
            }
            () = reset.triggered() => {
                tracing::debug!("resetting echo connection on request");
                return;
            }
            () = token.cancelled(), if !draining => {
                draining = true;
                connection.as_mut().graceful_shutdown();
            }
        }
    }
}

/// A plain-text answer.
pub(crate) fn plain(code: StatusCode, body: &'static str) -> Response<Full<Bytes>> {
    let mut resp = Response::new(Full::new(Bytes::from_static(body.as_bytes())));
    *resp.status_mut() = code;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    resp
}

/// Decoded `key=value` pairs of a query string (`+` is a space, `%XX`
/// escapes decoded, invalid escapes kept literally).
pub(crate) fn query_pairs(query: &str) -> Vec<(String, String)> {
    query
        .split(['&', ';'])
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect()
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3])
                    .ok()
                    .and_then(|h| u8::from_str_radix(h, 16).ok());
                match hex {
                    Some(b) => {
                        out.push(b);
                        i += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_pairs_decode() {
        let pairs = query_pairs("delay=1s&a=b%20c&plus=x+y&bad=%zz&flag");
        assert_eq!(
            pairs,
            vec![
                ("delay".into(), "1s".into()),
                ("a".into(), "b c".into()),
                ("plus".into(), "x y".into()),
                ("bad".into(), "%zz".into()),
                ("flag".into(), String::new()),
            ]
        );
        assert_eq!(percent_decode("%4"), "%4");
        assert_eq!(percent_decode("%41"), "A");
    }
}
