//! HTTP request expectations, compared the way the upstream suite compares
//! them: status code; for 200, the request the echo backend saw (path,
//! method, host, headers, absent headers), its namespace and pod prefix,
//! response headers; for redirects, the Location's scheme/host/port/path.
//! An expectation passes after N consecutive successes within the deadline.

use std::collections::BTreeMap;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde_json::Value;

use crate::env::Env;
use crate::error::Failure;

/// The request to send.
#[derive(Clone, Debug, Default)]
pub struct Request {
    /// Host header (default: the Gateway address).
    pub host: String,
    /// Default `GET`.
    pub method: String,
    /// Path with optional `?query`.
    pub path: String,
    pub headers: Vec<(String, String)>,
    /// Send as HTTP/2 with prior knowledge (h2c) instead of HTTP/1.1; the
    /// authority is then the Gateway address and `host` is not sent.
    pub h2c: bool,
}

/// What the backend must have received (defaults to the request itself).
#[derive(Clone, Debug, Default)]
pub struct ExpectedRequest {
    pub host: String,
    pub method: String,
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub absent_headers: Vec<String>,
}

impl ExpectedRequest {
    /// The backend must see `path` with `headers` and without `absent`.
    pub fn new(path: &str, headers: &[(&str, &str)], absent: &[&str]) -> ExpectedRequest {
        ExpectedRequest {
            path: path.to_string(),
            headers: headers
                .iter()
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .collect(),
            absent_headers: absent.iter().map(|s| s.to_string()).collect(),
            ..ExpectedRequest::default()
        }
    }
}

/// Where a redirect must point (empty fields: not checked / defaults).
#[derive(Clone, Debug, Default)]
pub struct Redirect {
    pub scheme: String,
    pub host: String,
    pub port: String,
    pub path: String,
}

/// One expectation: request, and what must come back.
#[derive(Clone, Debug, Default)]
pub struct Expect {
    pub request: Request,
    pub expected_request: Option<ExpectedRequest>,
    pub redirect: Option<Redirect>,
    /// Headers the echo backend is asked to set on its response.
    pub backend_set_response_headers: Vec<(String, String)>,
    /// Default 200.
    pub status: u16,
    /// Any of these statuses passes (upstream `StatusCodes`); when set,
    /// `status` is ignored.
    pub statuses: Vec<u16>,
    pub response_headers: Vec<(String, String)>,
    /// Response headers whose value must be one of the listed ones,
    /// compared without whitespace (upstream `ValidHeaderValues` with
    /// `IgnoreWhitespace`).
    pub valid_response_headers: Vec<(String, Vec<String>)>,
    pub absent_response_headers: Vec<String>,
    /// Pod name prefix (the Deployment) that must answer.
    pub backend: String,
    pub namespace: String,
}

impl Expect {
    /// `GET path` answered 200 by `backend` in `namespace`.
    pub fn get(path: &str, backend: &str, namespace: &str) -> Expect {
        Expect {
            request: Request {
                path: path.to_string(),
                ..Request::default()
            },
            backend: backend.to_string(),
            namespace: namespace.to_string(),
            ..Expect::default()
        }
    }

    /// `GET path` answered with `status` by the gateway.
    pub fn status(path: &str, status: u16) -> Expect {
        Expect {
            request: Request {
                path: path.to_string(),
                ..Request::default()
            },
            status,
            ..Expect::default()
        }
    }

    pub fn host(mut self, host: &str) -> Expect {
        self.request.host = host.to_string();
        self
    }

    pub fn method(mut self, method: &str) -> Expect {
        self.request.method = method.to_string();
        self
    }

    pub fn header(mut self, name: &str, value: &str) -> Expect {
        self.request
            .headers
            .push((name.to_string(), value.to_string()));
        self
    }

    /// Adds several request headers.
    pub fn headers(self, headers: &[(&str, &str)]) -> Expect {
        headers.iter().fold(self, |e, (n, v)| e.header(n, v))
    }

    pub fn expect_request(mut self, expected: ExpectedRequest) -> Expect {
        self.expected_request = Some(expected);
        self
    }

    pub fn redirect(mut self, redirect: Redirect) -> Expect {
        self.redirect = Some(redirect);
        self
    }

    pub fn response_header(mut self, name: &str, value: &str) -> Expect {
        self.response_headers
            .push((name.to_string(), value.to_string()));
        self
    }

    /// Passes with any of `statuses`.
    pub fn statuses(mut self, statuses: &[u16]) -> Expect {
        self.statuses = statuses.to_vec();
        self
    }

    /// The response header must be one of `values` (whitespace ignored).
    pub fn response_header_one_of(mut self, name: &str, values: &[&str]) -> Expect {
        self.valid_response_headers.push((
            name.to_string(),
            values.iter().map(|v| v.to_string()).collect(),
        ));
        self
    }

    pub fn absent_response_header(mut self, name: &str) -> Expect {
        self.absent_response_headers.push(name.to_string());
        self
    }

    pub fn backend_sets(mut self, name: &str, value: &str) -> Expect {
        self.backend_set_response_headers
            .push((name.to_string(), value.to_string()));
        self
    }

    fn describe(&self) -> String {
        format!(
            "{} {}{}{}",
            if self.request.method.is_empty() {
                "GET"
            } else {
                &self.request.method
            },
            self.request.host,
            self.request.path,
            if self.request.headers.is_empty() {
                ""
            } else {
                " (with headers)"
            }
        )
    }
}

/// A response as captured.
#[derive(Debug)]
pub struct Captured {
    pub status: u16,
    pub headers: BTreeMap<String, Vec<String>>,
    pub body: Bytes,
}

/// Plain HTTP/1.1 client that does not follow redirects.
pub fn client() -> Client<HttpConnector, Full<Bytes>> {
    Client::builder(TokioExecutor::new())
        .pool_max_idle_per_host(0)
        .build_http()
}

/// HTTP/2 prior-knowledge (h2c) client that does not follow redirects.
pub fn h2c_client() -> Client<HttpConnector, Full<Bytes>> {
    Client::builder(TokioExecutor::new())
        .http2_only(true)
        .pool_max_idle_per_host(0)
        .build_http()
}

/// Sends one request to `gw_addr` (`ip:port`).
pub async fn round_trip(
    gw_addr: &str,
    request: &Request,
    extra: &[(String, String)],
) -> Result<Captured, String> {
    let method = if request.method.is_empty() {
        "GET"
    } else {
        &request.method
    };
    let path = if request.path.is_empty() {
        "/"
    } else {
        &request.path
    };
    let uri: http::Uri = format!("http://{gw_addr}{path}")
        .parse()
        .map_err(|e| format!("bad uri: {e}"))?;
    let host = if request.host.is_empty() {
        host_for(gw_addr)
    } else {
        request.host.clone()
    };
    let mut builder = http::Request::builder().method(method).uri(uri);
    if request.h2c {
        builder = builder.version(http::Version::HTTP_2);
    } else {
        builder = builder.header(http::header::HOST, host);
    }
    for (name, value) in request.headers.iter().chain(extra) {
        builder = builder.header(name.as_str(), value.as_str());
    }
    let req = builder
        .body(Full::new(Bytes::new()))
        .map_err(|e| format!("building request: {e}"))?;
    let client = if request.h2c { h2c_client() } else { client() };
    let response = tokio::time::timeout(Duration::from_secs(10), client.request(req))
        .await
        .map_err(|_| "request timed out".to_string())?
        .map_err(|e| format!("request failed: {e}"))?;
    let status = response.status().as_u16();
    let mut headers: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (name, value) in response.headers() {
        headers
            .entry(name.as_str().to_ascii_lowercase())
            .or_default()
            .push(String::from_utf8_lossy(value.as_bytes()).into_owned());
    }
    let body = response
        .into_body()
        .collect()
        .await
        .map_err(|e| format!("reading body: {e}"))?
        .to_bytes();
    Ok(Captured {
        status,
        headers,
        body,
    })
}

/// The Host header for an address: the port is left out when it is 80.
pub fn host_for(gw_addr: &str) -> String {
    gw_addr.strip_suffix(":80").unwrap_or(gw_addr).to_string()
}

/// Compares one captured response with an expectation.
pub fn compare(gw_addr: &str, expect: &Expect, got: &Captured) -> Result<(), String> {
    let want_statuses = match (expect.statuses.is_empty(), expect.status) {
        (false, _) => expect.statuses.clone(),
        (true, 0) => vec![200],
        (true, s) => vec![s],
    };
    if !want_statuses.contains(&got.status) {
        return Err(format!(
            "expected status {want_statuses:?}, got {} ({})",
            got.status,
            String::from_utf8_lossy(&got.body)
                .chars()
                .take(200)
                .collect::<String>()
        ));
    }
    if (200..300).contains(&got.status) {
        compare_response_headers(expect, got)?;
    }
    if got.status == 200 {
        let echo = echoed_request(expect, got)?;
        let seen = |field: &str| {
            echo.get(field)
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string()
        };
        let er = expect
            .expected_request
            .clone()
            .unwrap_or_else(|| ExpectedRequest {
                host: expect.request.host.clone(),
                method: expect.request.method.clone(),
                path: expect.request.path.clone(),
                headers: expect.request.headers.clone(),
                absent_headers: Vec::new(),
            });
        if !er.host.is_empty() && er.host != seen("host") {
            return Err(format!("expected host {}, got {}", er.host, seen("host")));
        }
        let want_path = if er.path.is_empty() { "/" } else { &er.path };
        if want_path != seen("path") {
            return Err(format!("expected path {want_path}, got {}", seen("path")));
        }
        let want_method = if er.method.is_empty() {
            "GET"
        } else {
            &er.method
        };
        if want_method != seen("method") {
            return Err(format!(
                "expected method {want_method}, got {}",
                seen("method")
            ));
        }
        if expect.namespace != seen("namespace") {
            return Err(format!(
                "expected namespace {}, got {}",
                expect.namespace,
                seen("namespace")
            ));
        }
        let echoed: BTreeMap<String, Vec<String>> = echo
            .get("headers")
            .and_then(Value::as_object)
            .map(|m| {
                m.iter()
                    .map(|(k, v)| {
                        let values = v
                            .as_array()
                            .map(|a| {
                                a.iter()
                                    .filter_map(|x| x.as_str().map(String::from))
                                    .collect()
                            })
                            .unwrap_or_default();
                        (k.to_ascii_lowercase(), values)
                    })
                    .collect()
            })
            .unwrap_or_default();
        for (name, value) in &er.headers {
            match echoed.get(&name.to_ascii_lowercase()) {
                None => return Err(format!("expected request header {name} at the backend")),
                Some(v) if v.join(",") != *value => {
                    return Err(format!(
                        "expected request header {name}: {value}, got {}",
                        v.join(",")
                    ));
                }
                Some(_) => {}
            }
        }
        for name in &er.absent_headers {
            if let Some(v) = echoed.get(&name.to_ascii_lowercase()) {
                return Err(format!("request header {name} must be absent, got {v:?}"));
            }
        }
        if !seen("pod").starts_with(&expect.backend) {
            return Err(format!(
                "expected pod name to start with {}, got {}",
                expect.backend,
                seen("pod")
            ));
        }
    } else if (300..400).contains(&got.status)
        && let Some(want) = &expect.redirect
    {
        let location = got
            .headers
            .get("location")
            .and_then(|v| v.first())
            .ok_or("redirect without Location")?;
        let uri: http::Uri = location
            .parse()
            .map_err(|e| format!("Location {location} does not parse: {e}"))?;
        let scheme = uri.scheme_str().unwrap_or("").to_string();
        let host = uri.host().unwrap_or("").to_string();
        let port = uri.port_u16().map(|p| p.to_string()).unwrap_or_default();
        let path = uri.path().to_string();
        let want_scheme = if want.scheme.is_empty() {
            "http"
        } else {
            &want.scheme
        };
        if scheme != want_scheme {
            return Err(format!("redirect scheme {scheme}, expected {want_scheme}"));
        }
        let want_host = if want.host.is_empty() {
            host.clone()
        } else {
            want.host.clone()
        };
        if host != want_host {
            return Err(format!("redirect host {host}, expected {want_host}"));
        }
        if want.port.is_empty() {
            let default = if scheme == "https" { "443" } else { "80" };
            if !port.is_empty() && port != default {
                return Err(format!("redirect port {port}, expected none or {default}"));
            }
        } else if port != want.port {
            return Err(format!("redirect port {port:?}, expected {}", want.port));
        }
        let want_path = if want.path.is_empty() {
            expect
                .request
                .path
                .split('?')
                .next()
                .unwrap_or("")
                .to_string()
        } else {
            want.path.clone()
        };
        if path != want_path {
            return Err(format!("redirect path {path}, expected {want_path}"));
        }
    }
    let _ = gw_addr;
    Ok(())
}

/// The request the echo backend reports in a JSON body. A response that is
/// not `application/json` (the gateway answered itself, e.g. a CORS
/// preflight) counts as the request made, with every other field empty, as
/// the upstream round tripper assumes.
fn echoed_request(expect: &Expect, got: &Captured) -> Result<Value, String> {
    let json = got
        .headers
        .get("content-type")
        .and_then(|v| v.first())
        .is_some_and(|ct| ct == "application/json");
    if json {
        return serde_json::from_slice(&got.body)
            .map_err(|e| format!("echo body is not JSON: {e}"));
    }
    let method = if expect.request.method.is_empty() {
        "GET"
    } else {
        expect.request.method.as_str()
    };
    // An empty expected path means "/" in [`compare`]: the empty path the
    // upstream helper captures here.
    Ok(serde_json::json!({ "method": method, "path": "/" }))
}

/// Present, one-of and absent response headers.
fn compare_response_headers(expect: &Expect, got: &Captured) -> Result<(), String> {
    for (name, value) in &expect.response_headers {
        match got.headers.get(&name.to_ascii_lowercase()) {
            None => return Err(format!("expected response header {name}")),
            Some(v) if v.join(",") != *value => {
                return Err(format!(
                    "expected response header {name}: {value}, got {}",
                    v.join(",")
                ));
            }
            Some(_) => {}
        }
    }
    let squash = |s: &str| s.chars().filter(|c| !c.is_whitespace()).collect::<String>();
    for (name, values) in &expect.valid_response_headers {
        let Some(got_value) = got.headers.get(&name.to_ascii_lowercase()) else {
            return Err(format!(
                "expected response header {name} (one of {values:?})"
            ));
        };
        let got_value = squash(&got_value.join(","));
        if !values.iter().any(|v| squash(v) == got_value) {
            return Err(format!(
                "response header {name}: {got_value}, expected one of {values:?}"
            ));
        }
    }
    for name in &expect.absent_response_headers {
        if let Some(v) = got.headers.get(&name.to_ascii_lowercase()) {
            return Err(format!("response header {name} must be absent, got {v:?}"));
        }
    }
    Ok(())
}

/// Sends the expectation's request until it passes N times in a row.
pub async fn expect(env: &Env, gw_addr: &str, expect: &Expect) -> Result<(), Failure> {
    let set_header = expect
        .backend_set_response_headers
        .iter()
        .map(|(n, v)| format!("{n}:{v}"))
        .collect::<Vec<_>>()
        .join(",");
    let extra = vec![("X-Echo-Set-Header".to_string(), set_header)];
    let deadline = tokio::time::Instant::now() + env.config.max_time_to_consistency;
    let mut successes = 0;
    let mut last: String;
    loop {
        match round_trip(gw_addr, &expect.request, &extra).await {
            Ok(got) => match compare(gw_addr, expect, &got) {
                Ok(()) => {
                    successes += 1;
                    if successes >= env.config.required_consecutive_successes {
                        return Ok(());
                    }
                    continue;
                }
                Err(why) => last = why,
            },
            Err(why) => last = why,
        }
        successes = 0;
        if tokio::time::Instant::now() > deadline {
            return Err(Failure(format!("{}: {last}", expect.describe())));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Checks every expectation in turn.
pub async fn expect_all(env: &Env, gw_addr: &str, expects: &[Expect]) -> Result<(), Failure> {
    for e in expects {
        expect(env, gw_addr, e).await?;
    }
    Ok(())
}

/// Sends `total` copies of `request` (`concurrency` at a time) and counts
/// answers by the Deployment of the answering pod (the pod name without its
/// last two `-` parts). Any non-200 answer is an error.
pub async fn distribution(
    gw_addr: &str,
    request: &Request,
    total: usize,
    concurrency: usize,
) -> Result<BTreeMap<String, usize>, String> {
    use futures::StreamExt as _;
    let extra = vec![("X-Echo-Set-Header".to_string(), String::new())];
    let results: Vec<Result<String, String>> = futures::stream::iter(0..total)
        .map(|_| {
            let extra = extra.clone();
            async move {
                let got = round_trip(gw_addr, request, &extra).await?;
                if got.status != 200 {
                    return Err(format!("status {}", got.status));
                }
                let echo: Value = serde_json::from_slice(&got.body).map_err(|e| e.to_string())?;
                let pod = echo.get("pod").and_then(Value::as_str).unwrap_or("");
                let parts: Vec<&str> = pod.split('-').collect();
                let keep = parts.len().saturating_sub(2);
                Ok(parts[..keep].join("-"))
            }
        })
        .buffer_unordered(concurrency.max(1))
        .collect()
        .await;
    let mut seen = BTreeMap::new();
    for r in results {
        *seen.entry(r?).or_insert(0) += 1;
    }
    Ok(seen)
}

/// Upstream weight check: `total` requests must split as `weights` (share
/// per Deployment, 0.0 meaning none) within `tolerance`, retried up to 10
/// times because it is statistical.
pub async fn expect_weights(
    env: &Env,
    gw_addr: &str,
    request: &Request,
    weights: &[(&str, f64)],
) -> Result<(), Failure> {
    const TOTAL: usize = 500;
    const TOLERANCE: f64 = 0.05;
    let mut last = String::new();
    for _ in 0..10 {
        let seen = match distribution(gw_addr, request, TOTAL, 10).await {
            Ok(seen) => seen,
            Err(e) => {
                last = e;
                continue;
            }
        };
        let mut problems = Vec::new();
        for name in seen.keys() {
            if !weights.iter().any(|(w, _)| w == name) {
                problems.push(format!("unexpected backend {name}"));
            }
        }
        for (name, want) in weights {
            let got = *seen.get(*name).unwrap_or(&0) as f64 / TOTAL as f64;
            if (got - want).abs() > TOLERANCE {
                problems.push(format!(
                    "{name}: {got:.3} of traffic, want {want} ±{TOLERANCE}"
                ));
            }
        }
        if problems.is_empty() {
            return Ok(());
        }
        last = format!("{} (seen {seen:?})", problems.join("; "));
    }
    let _ = env;
    Err(Failure(format!("weighted distribution: {last}")))
}

/// Upstream `ExpectMirroredRequest`: `expect` must pass, and every
/// Deployment in `mirrors` (name, namespace) must have logged a request for
/// the expectation's path (the echo "Echoing back request made to PATH"
/// line) within the consistency deadline.
pub async fn expect_mirrored(
    env: &Env,
    gw_addr: &str,
    want: &Expect,
    mirrors: &[(&str, &str)],
) -> Result<(), Failure> {
    use tokio::sync::broadcast::error::RecvError;
    let mut records = env.echo_records()?;
    expect(env, gw_addr, want).await?;
    let path = if want.request.path.is_empty() {
        "/"
    } else {
        want.request.path.as_str()
    };
    let mut missing: Vec<(&str, &str)> = mirrors.to_vec();
    let deadline = tokio::time::Instant::now() + env.config.max_time_to_consistency;
    while !missing.is_empty() {
        let record = match tokio::time::timeout_at(deadline, records.recv()).await {
            Err(_) => break,
            Ok(Ok(record)) => record,
            Ok(Err(RecvError::Lagged(_))) => continue,
            Ok(Err(RecvError::Closed)) => break,
        };
        if record.request_uri.split('?').next() != Some(path) {
            continue;
        }
        // The pod name is the Deployment's plus generated suffixes.
        missing.retain(|(deployment, namespace)| {
            !(record.identity.pod.starts_with(&format!("{deployment}-"))
                && record.identity.namespace == *namespace)
        });
    }
    if missing.is_empty() {
        Ok(())
    } else {
        Err(Failure(format!(
            "{}: no mirrored request for {path} seen by {missing:?}",
            want.describe()
        )))
    }
}

/// Upstream percentage-mirror check: `want` must pass; then, in up to five
/// rounds of 500 requests (10 at a time, each of which must pass), the
/// Deployment `mirror` in `namespace` must log the mirrored path for
/// `percent`% of them within ±5% (relative) of that share.
pub async fn expect_mirror_share(
    env: &Env,
    gw_addr: &str,
    want: &Expect,
    (mirror, namespace): (&str, &str),
    percent: u32,
) -> Result<(), Failure> {
    use futures::StreamExt as _;
    use tokio::sync::broadcast::error::TryRecvError;
    const TOTAL: usize = 500;
    const ROUNDS: usize = 5;
    expect(env, gw_addr, want).await?;
    let extra = vec![("X-Echo-Set-Header".to_string(), String::new())];
    let path = want
        .request
        .path
        .split('?')
        .next()
        .unwrap_or("/")
        .to_string();
    let expected = TOTAL as f64 * f64::from(percent) / 100.0;
    let (low, high) = (expected * 0.95, expected * 1.05);
    let mut last = String::new();
    for _ in 0..ROUNDS {
        let mut records = env.echo_records()?;
        let failures: Vec<String> = futures::stream::iter(0..TOTAL)
            .map(|_| {
                let extra = extra.clone();
                async move {
                    round_trip(gw_addr, &want.request, &extra)
                        .await
                        .and_then(|got| compare(gw_addr, want, &got))
                        .err()
                }
            })
            .buffer_unordered(10)
            .filter_map(|r| async move { r })
            .collect()
            .await;
        if let Some(first) = failures.first() {
            return Err(Failure(format!(
                "{}: {} of {TOTAL} requests failed, e.g. {first}",
                want.describe(),
                failures.len()
            )));
        }
        // Mirrors are fire-and-forget: count until nothing new arrives for
        // half a second.
        let mut mirrored = 0usize;
        let mut quiet_since = tokio::time::Instant::now();
        let deadline = quiet_since + Duration::from_secs(10);
        loop {
            match records.try_recv() {
                Ok(record) => {
                    quiet_since = tokio::time::Instant::now();
                    if record.request_uri.split('?').next() == Some(path.as_str())
                        && record.identity.pod.starts_with(&format!("{mirror}-"))
                        && record.identity.namespace == namespace
                    {
                        mirrored += 1;
                    }
                }
                Err(TryRecvError::Lagged(n)) => {
                    return Err(Failure(format!("echo log lagged by {n} records")));
                }
                Err(TryRecvError::Empty) => {
                    let now = tokio::time::Instant::now();
                    if now - quiet_since > Duration::from_millis(500) || now > deadline {
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                Err(TryRecvError::Closed) => break,
            }
        }
        let got = mirrored as f64;
        if (low..=high).contains(&got) {
            return Ok(());
        }
        last = format!("{mirror} saw {mirrored} of {TOTAL} requests, want {low:.1}..={high:.1}");
    }
    Err(Failure(format!("{}: {last}", want.describe())))
}
