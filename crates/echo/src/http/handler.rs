//! Request dispatch for the HTTP echo modes.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderValue, Request, Response, StatusCode, Version, header};
use http_body_util::Full;
use hyper::body::Incoming;
use tokio_util::sync::CancellationToken;

use super::assertions::{RequestAssertions, request_uri};
use super::reset::ResetSignal;
use super::retry::{Failure, RetryCounters, RetryParams};
use super::set_header::apply_echo_set_header;
use super::{plain, query_pairs, ws};
use crate::duration::parse_go_duration;
use crate::tls::TlsInfo;
use crate::{EchoLog, EchoRecord, Identity};

/// Which HTTP mode a port serves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Mode {
    /// Everything: echo, `/health`, `/status/NNN`, `/retry`, `/ws`.
    Full,
    /// The h2c port: HTTP/2 only (or HTTP/1.1 with `Upgrade: h2c`), echo only.
    H2cOnly,
}

/// State shared by all connections of one server.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) identity: Identity,
    pub(crate) port_label: String,
    pub(crate) log: EchoLog,
    pub(crate) retries: RetryCounters,
    pub(crate) mode: Mode,
    pub(crate) token: CancellationToken,
}

/// Per-connection facts.
#[derive(Debug)]
pub(crate) struct Conn {
    pub(crate) remote: SocketAddr,
    pub(crate) reset: Arc<ResetSignal>,
    pub(crate) tls: Option<TlsInfo>,
}

type Resp = Response<Full<Bytes>>;

/// Entry point for every request.
pub(crate) async fn handle(
    req: Request<Incoming>,
    shared: Arc<Shared>,
    conn: Arc<Conn>,
) -> Result<Resp, std::convert::Infallible> {
    // Read (and drop) the request body first, so the connection stays
    // reusable for the next request; the echo never looks at bodies.
    let (parts, body) = req.into_parts();
    let req = Request::from_parts(parts, ());
    if req.uri().path() != "/ws" {
        drain(body).await;
    }
    if shared.mode == Mode::H2cOnly {
        let upgrade_h2c = req
            .headers()
            .get(header::UPGRADE)
            .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"h2c"));
        if req.version() != Version::HTTP_2 && !upgrade_h2c {
            return Ok(plain(StatusCode::BAD_REQUEST, "Expected h2c request"));
        }
        return Ok(echo(&req, &shared, &conn).await);
    }
    // Routing sees `//` collapsed to `/`; the echoed path keeps the original.
    let route = req.uri().path().replace("//", "/");
    let resp = match route.as_str() {
        "/health" => plain(StatusCode::OK, "OK"),
        "/ws" => ws::upgrade(req, shared.token.clone()),
        p if p.starts_with("/status/") => status(&request_uri(req.uri(), req.version())),
        p if p.starts_with("/retry") => retry(&req, &shared, &conn).await,
        _ => echo(&req, &shared, &conn).await,
    };
    Ok(resp)
}

/// Longest request body read and dropped; past it the connection is closed
/// after the answer instead.
const MAX_DRAIN: usize = 16 << 20;

async fn drain(mut body: Incoming) {
    use http_body_util::BodyExt as _;
    let mut total = 0usize;
    while let Some(frame) = body.frame().await {
        match frame {
            Ok(frame) => {
                total += frame.data_ref().map_or(0, bytes::Bytes::len);
                if total > MAX_DRAIN {
                    return;
                }
            }
            Err(error) => {
                tracing::debug!(%error, "reading request body failed");
                return;
            }
        }
    }
}

/// `/status/NNN` (exactly three digits, no query) answers NNN; anything else
/// under `/status/` is 400.
fn status(request_uri: &str) -> Resp {
    let code = request_uri
        .strip_prefix("/status/")
        .filter(|d| d.len() == 3 && d.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|d| d.parse::<u16>().ok())
        .and_then(|c| StatusCode::from_u16(c).ok())
        .unwrap_or(StatusCode::BAD_REQUEST);
    let mut resp = Response::new(Full::new(Bytes::new()));
    *resp.status_mut() = code;
    resp
}

async fn retry(req: &Request<()>, shared: &Shared, conn: &Conn) -> Resp {
    let Some(params) = RetryParams::from_query(req.uri().query()) else {
        return echo(req, shared, conn).await;
    };
    let attempt = shared.retries.attempt(&params.uuid);
    let Some(failure) = params.failure_for(attempt) else {
        return echo(req, shared, conn).await;
    };
    log_request(req, shared, conn);
    tracing::debug!(uuid = %params.uuid, attempt, ?failure, "failing retry attempt");
    if let Some(delay) = params.delay
        && !sleep_or_cancel(delay, &shared.token).await
    {
        return plain(StatusCode::SERVICE_UNAVAILABLE, "shutting down");
    }
    match failure {
        Failure::Status(code) => {
            let code = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            plain(code, "retry attempt failed on purpose")
        }
        Failure::Reset => {
            conn.reset.trigger();
            // The connection task drops the connection (with a reset) and
            // this future with it.
            futures::future::pending().await
        }
    }
}

fn log_request(req: &Request<()>, shared: &Shared, conn: &Conn) {
    shared.log.record(EchoRecord {
        request_uri: request_uri(req.uri(), req.version()),
        remote: conn.remote,
        method: req.method().as_str().to_owned(),
        identity: shared.identity.clone(),
    });
}

/// Sleeps unless the server is shutting down; false when cut short.
async fn sleep_or_cancel(delay: Duration, token: &CancellationToken) -> bool {
    tokio::select! {
        () = tokio::time::sleep(delay) => true,
        () = token.cancelled() => false,
    }
}

/// The echo answer itself.
async fn echo(req: &Request<()>, shared: &Shared, conn: &Conn) -> Resp {
    log_request(req, shared, conn);
    let delay = query_pairs(req.uri().query().unwrap_or(""))
        .into_iter()
        .find(|(k, _)| k == "delay")
        .map(|(_, v)| v)
        .filter(|v| !v.is_empty());
    if let Some(delay) = delay {
        match parse_go_duration(&delay) {
            Ok(d) => {
                if !sleep_or_cancel(d, &shared.token).await {
                    return plain(StatusCode::SERVICE_UNAVAILABLE, "shutting down");
                }
            }
            Err(e) => return json_error(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
        }
    }
    let body = RequestAssertions::from_request(
        req,
        &shared.identity,
        &shared.port_label,
        conn.tls.as_ref(),
    )
    .to_json();
    let mut resp = Response::new(Full::new(Bytes::from(body)));
    apply_echo_set_header(req.headers(), resp.headers_mut());
    set_json_headers(&mut resp);
    resp
}

fn set_json_headers(resp: &mut Resp) {
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
}

fn json_error(code: StatusCode, message: &str) -> Resp {
    let body = serde_json::json!({ "message": message }).to_string();
    let mut resp = Response::new(Full::new(Bytes::from(body)));
    *resp.status_mut() = code;
    set_json_headers(&mut resp);
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_paths() {
        assert_eq!(status("/status/418").status(), StatusCode::IM_A_TEAPOT);
        assert_eq!(
            status("/status/503").status(),
            StatusCode::SERVICE_UNAVAILABLE
        );
        assert_eq!(status("/status/42").status(), StatusCode::BAD_REQUEST);
        assert_eq!(status("/status/200?x").status(), StatusCode::BAD_REQUEST);
        assert_eq!(status("/status/099").status(), StatusCode::BAD_REQUEST);
    }
}
