//! The per-request pipeline: route, filters, backend, endpoint, forward.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::request::Parts;
use http::{HeaderValue, Request, Response, StatusCode, header};
use http_body::Body as _;
use hyper::body::Incoming;
use hyper::upgrade::OnUpgrade;
use portico_ir::AppProtocol;

use crate::action::Action;
use crate::bind::ConnCtx;
use crate::body::Body;
use crate::extended_connect;
use crate::filters::{Cors, Filter};
use crate::flow::{Disposition, Start, Trace};
use crate::hygiene;
use crate::lb::client_hash;
use crate::local_reply::{is_grpc, reply};
use crate::metrics::{GaugeGuard, Metrics};
use crate::replay::RequestBody;
use crate::router::{RouteTable, host};
use crate::tracing_hook;
use crate::upgrade;
use crate::upstream::{Backend, ClusterState, EndpointState, InflightGuard, SendError, Target};

pub async fn handle(ctx: Arc<ConnCtx>, mut req: Request<Incoming>) -> Response<Body> {
    let metrics = &ctx.shared.metrics;
    Metrics::incr(&metrics.requests_total);
    let _active = GaugeGuard::new(&metrics.active_requests);
    let sink = &ctx.shared.config.flows;
    let mut trace = Trace::default();
    let span =
        (ctx.shared.config.tracer.as_ref()).map(|t| tracing_hook::start(t, &mut req, ctx.peer));
    let resp = if sink.is_enabled() {
        let start = {
            let (head, body) = req.into_parts();
            let host = host::request_host(&head).map(|h| Arc::<str>::from(h.as_ref()));
            let req = Request::from_parts(head, body);
            (Start::capture(&req, host), req)
        };
        let (start, req) = start;
        let resp = route(&ctx, req, &mut trace).await;
        tracing_hook::end(span, &trace, resp.status());
        start.finish(
            sink,
            trace,
            ctx.peer,
            ctx.local,
            resp.status().as_u16(),
            resp.headers(),
        );
        resp
    } else {
        let resp = route(&ctx, req, &mut trace).await;
        tracing_hook::end(span, &trace, resp.status());
        resp
    };
    metrics.record_status(resp.status().as_u16());
    resp
}

async fn route(ctx: &ConnCtx, req: Request<Incoming>, trace: &mut Trace) -> Response<Body> {
    // In-flight requests keep the table they started with.
    let table = ctx.shared.table.load_full();
    let (parts, body) = req.into_parts();
    let found = {
        let host = host::request_host(&parts);
        table.find(host.as_deref().unwrap_or(""), &parts)
    };
    let Some((listener, route)) = found else {
        // No route, but the Host belongs to another HTTPS listener than
        // the one the TLS server name chose: misdirected, not missing.
        if let Some(tls_listener) = &ctx.tls_listener
            && table
                .listener_for(host::request_host(&parts).as_deref().unwrap_or(""))
                .is_some_and(|id| **id != **tls_listener)
        {
            trace.disposition = Disposition::Error;
            return reply(StatusCode::MISDIRECTED_REQUEST, is_grpc(&parts.headers));
        }
        trace.disposition = Disposition::NoRoute;
        trace.gateway =
            table.unmatched_gateway(host::request_host(&parts).as_deref().unwrap_or(""));
        Metrics::incr(&ctx.shared.metrics.no_route_total);
        tracing::debug!(peer = %ctx.peer, path = parts.uri.path(), "no route");
        return reply(StatusCode::NOT_FOUND, is_grpc(&parts.headers));
    };
    tracing::trace!(listener = %listener.id, route = %route.source.route, rule = route.source.rule_index, "matched");
    trace.gateway = Some(listener.flow_gateway.clone());
    // HTTP/2 connection reuse across HTTPS listeners: the Host must select
    // the listener the TLS server name chose.
    if let Some(tls_listener) = &ctx.tls_listener
        && **tls_listener != *listener.id
    {
        trace.disposition = Disposition::Error;
        return reply(StatusCode::MISDIRECTED_REQUEST, is_grpc(&parts.headers));
    }
    trace.route = Some(route.flow_route.clone());
    let action = &route.action;
    let grpc = action.grpc || is_grpc(&parts.headers);
    match action.request_timeout {
        Some(limit) => {
            match tokio::time::timeout(limit, forward(ctx, &table, action, parts, body, trace))
                .await
            {
                Ok(resp) => resp,
                Err(_) => {
                    trace.disposition = Disposition::Error;
                    Metrics::incr(&ctx.shared.metrics.upstream_timeouts_total);
                    reply(StatusCode::GATEWAY_TIMEOUT, grpc)
                }
            }
        }
        None => forward(ctx, &table, action, parts, body, trace).await,
    }
}

/// What the response phase must add, decided while the request passed
/// through the filters.
#[derive(Default)]
struct ResponsePlan<'a> {
    /// An allowed cross-origin request: its CORS filter and Origin.
    cors: Option<(&'a Cors, HeaderValue)>,
}

/// Applies the request-side filters. `Some` is a response that ends the
/// request (a redirect, a CORS preflight). `body` is the buffered request
/// body mirrors copy (`None`: it streams, mirrors are skipped).
fn request_filters<'a>(
    ctx: &ConnCtx,
    filters: &'a [Filter],
    parts: &mut Parts,
    body: Option<&Bytes>,
    table: &RouteTable,
    plan: &mut ResponsePlan<'a>,
) -> Option<Response<Body>> {
    for f in filters {
        match f {
            Filter::RequestHeaders(m) => m.apply(&mut parts.headers),
            Filter::Rewrite(r) => r.apply(parts),
            Filter::Redirect(r) => {
                let host = host::request_host(parts);
                return Some(r.respond(
                    parts,
                    host.as_deref().unwrap_or(""),
                    table.scheme,
                    table.port,
                ));
            }
            Filter::Mirror(m) => m.send(
                parts,
                body,
                &ctx.shared.clients,
                client_hash(client_ip(ctx, parts)),
            ),
            Filter::Cors(c) => {
                if Cors::is_preflight(parts) {
                    return Some(c.preflight(parts));
                }
                if let Some(origin) = c.allowed_origin(&parts.headers) {
                    plan.cors = Some((c, origin));
                }
            }
            Filter::ResponseHeaders(_) => {}
        }
    }
    None
}

fn response_filters(filters: &[Filter], resp: &mut http::response::Parts) {
    for f in filters {
        if let Filter::ResponseHeaders(m) = f {
            m.apply(&mut resp.headers);
        }
    }
}

async fn forward(
    ctx: &ConnCtx,
    table: &RouteTable,
    action: &Action,
    mut parts: Parts,
    body: Incoming,
    trace: &mut Trace,
) -> Response<Body> {
    let shared = &ctx.shared;
    let grpc = action.grpc || is_grpc(&parts.headers);
    ensure_host_header(&mut parts);
    let mut plan = ResponsePlan::default();
    let body = match RequestBody::prepare(body, action.replays_body()).await {
        Ok(body) => body,
        Err(error) => {
            tracing::debug!(peer = %ctx.peer, %error, "request body");
            trace.disposition = Disposition::Error;
            return reply(StatusCode::BAD_REQUEST, grpc);
        }
    };
    let replay = body.replayable().cloned();
    if let Some(resp) = request_filters(
        ctx,
        &action.filters,
        &mut parts,
        replay.as_ref(),
        table,
        &mut plan,
    ) {
        trace.disposition = Disposition::Answered;
        return finish(resp, action, None, &plan);
    }
    // A session token that names a live endpoint pins backend and endpoint.
    let pinned = action
        .session
        .as_ref()
        .and_then(|s| s.token(&parts.headers))
        .and_then(|token| find_session(action, token));
    let picked = match &pinned {
        Some((backend, _)) => Some(*backend),
        None => action.backends.pick(),
    };
    let pinned_endpoint = pinned.map(|(_, ep)| ep);
    let new_session = action
        .session
        .as_ref()
        .filter(|_| pinned_endpoint.is_none());
    let Some(backend) = picked else {
        trace.disposition = Disposition::Error;
        Metrics::incr(&shared.metrics.invalid_backend_total);
        return finish(
            reply(StatusCode::INTERNAL_SERVER_ERROR, grpc),
            action,
            None,
            &plan,
        );
    };
    let cluster = match &backend.target {
        Target::Cluster(c) => c,
        Target::Invalid(reason) => {
            trace.disposition = Disposition::Error;
            Metrics::incr(&shared.metrics.invalid_backend_total);
            tracing::debug!(%reason, "invalid backend");
            return finish(
                reply(StatusCode::INTERNAL_SERVER_ERROR, grpc),
                action,
                Some(backend),
                &plan,
            );
        }
    };
    trace.service = Some(cluster.flow_service.clone());
    if let Some(resp) = request_filters(
        ctx,
        &backend.filters,
        &mut parts,
        replay.as_ref(),
        table,
        &mut plan,
    ) {
        trace.disposition = Disposition::Answered;
        return finish(resp, action, Some(backend), &plan);
    }
    // RFC 8441: a WebSocket on an HTTP/2 stream reaches HTTP/1.1 upstreams
    // as an HTTP/1.1 upgrade.
    let stream_websocket = extended_connect::is_websocket(&parts);
    if stream_websocket {
        if cluster.protocol == AppProtocol::H2c {
            tracing::debug!(cluster = %cluster.id, "WebSocket over HTTP/2 to an h2c backend");
            trace.disposition = Disposition::Error;
            return finish(
                reply(StatusCode::NOT_IMPLEMENTED, grpc),
                action,
                Some(backend),
                &plan,
            );
        }
        extended_connect::to_upgrade_request(&mut parts);
    }
    // WebSocket and other HTTP/1.1 upgrades are tunnelled to HTTP/1.1 upstreams.
    let upgrade =
        hygiene::is_websocket_upgrade(&parts.headers) && cluster.protocol != AppProtocol::H2c;
    let mut downstream_upgrade = if upgrade {
        parts.extensions.remove::<OnUpgrade>()
    } else {
        None
    };
    // Before this hop's address joins X-Forwarded-For.
    let client = client_ip(ctx, &parts);
    hygiene::strip_hop_by_hop(&mut parts.headers, upgrade);
    if shared.config.forwarded_header {
        hygiene::add_rfc7239(&mut parts.headers, ctx.peer.ip(), table.scheme);
    }
    hygiene::add_forwarded(
        &mut parts.headers,
        &ctx.peer_ip,
        table.scheme,
        shared.config.trusted_hops,
    );

    let outcome = match (&action.retry, replay) {
        // Only buffered bodies are replayed: a streamed body is gone.
        (Some(retry), Some(replay)) => {
            let mut n = 0;
            loop {
                let outcome = attempt(
                    ctx,
                    cluster,
                    action.backend_timeout,
                    copy_request(&parts, &replay),
                    pinned_endpoint.clone(),
                    client,
                    trace,
                )
                .await;
                let retryable = match &outcome {
                    Outcome::Response(r, _) => retry.retries_status(r.status()),
                    Outcome::Connect | Outcome::Broken | Outcome::Timeout => true,
                    Outcome::NoEndpoint => false,
                };
                if !retryable || n >= retry.attempts {
                    break outcome;
                }
                n += 1;
                Metrics::incr(&shared.metrics.retries_total);
                tokio::time::sleep(retry.backoff(n)).await;
            }
        }
        _ => {
            let req = Request::from_parts(parts, body.into_body());
            attempt(
                ctx,
                cluster,
                action.backend_timeout,
                req,
                pinned_endpoint,
                client,
                trace,
            )
            .await
        }
    };
    let resp = match outcome {
        Outcome::Response(mut resp, guard) => {
            if resp.status() == StatusCode::SWITCHING_PROTOCOLS {
                let Some(downstream) = downstream_upgrade.take() else {
                    tracing::debug!(cluster = %cluster.id, "upstream switched protocols unasked");
                    trace.disposition = Disposition::Error;
                    return finish(
                        reply(StatusCode::BAD_GATEWAY, grpc),
                        action,
                        Some(backend),
                        &plan,
                    );
                };
                let upstream = hyper::upgrade::on(&mut resp);
                let (mut rp, _) = resp.into_parts();
                hygiene::strip_hop_by_hop(&mut rp.headers, true);
                if stream_websocket {
                    extended_connect::to_stream_response(&mut rp);
                }
                upgrade::splice(downstream, upstream, guard);
                Response::from_parts(rp, Body::Empty)
            } else {
                let (mut rp, rb) = resp.into_parts();
                hygiene::strip_hop_by_hop(&mut rp.headers, false);
                if let Some(session) = new_session {
                    session.stamp(&mut rp.headers, &guard.endpoint().session_token);
                }
                if rb.is_end_stream() {
                    // No body will be polled: the connection is free now.
                    guard.reuse();
                    Response::from_parts(rp, Body::Empty)
                } else {
                    Response::from_parts(rp, Body::Incoming(rb, Some(guard)))
                }
            }
        }
        Outcome::NoEndpoint => {
            trace.disposition = Disposition::NoEndpoint;
            Metrics::incr(&shared.metrics.no_endpoint_total);
            reply(StatusCode::SERVICE_UNAVAILABLE, grpc)
        }
        Outcome::Connect => {
            trace.disposition = Disposition::Error;
            reply(StatusCode::SERVICE_UNAVAILABLE, grpc)
        }
        Outcome::Broken => {
            trace.disposition = Disposition::Error;
            reply(StatusCode::BAD_GATEWAY, grpc)
        }
        Outcome::Timeout => {
            trace.disposition = Disposition::Error;
            reply(StatusCode::GATEWAY_TIMEOUT, grpc)
        }
    };
    finish(resp, action, Some(backend), &plan)
}

/// The result of one upstream attempt (errors are logged and counted here).
enum Outcome {
    Response(Response<Incoming>, InflightGuard),
    NoEndpoint,
    Connect,
    Broken,
    Timeout,
}

async fn attempt(
    ctx: &ConnCtx,
    cluster: &ClusterState,
    limit: Option<Duration>,
    req: Request<Body>,
    pinned: Option<Arc<EndpointState>>,
    client: std::net::IpAddr,
    trace: &mut Trace,
) -> Outcome {
    let metrics = &ctx.shared.metrics;
    let hash = if cluster.wants_hash() {
        client_hash(client)
    } else {
        0
    };
    let Some(endpoint) = pinned.or_else(|| cluster.pick(hash)) else {
        return Outcome::NoEndpoint;
    };
    trace.endpoint = Some(endpoint.address);
    let mut guard = InflightGuard::new(Arc::clone(&endpoint));
    let send = ctx
        .shared
        .clients
        .send(cluster, &endpoint, req, Some(ctx.origin()));
    let result = match limit {
        Some(limit) => match tokio::time::timeout(limit, send).await {
            Ok(r) => r,
            Err(_) => {
                Metrics::incr(&metrics.upstream_timeouts_total);
                tracing::debug!(cluster = %cluster.id, endpoint = %endpoint.address, "backend request timed out");
                eject_on_failure(ctx, cluster, &endpoint);
                return Outcome::Timeout;
            }
        },
        None => send.await,
    };
    match result {
        Ok((resp, connection)) => {
            if let Some(connection) = connection {
                guard.attach(connection);
            }
            if resp.status().is_server_error() {
                eject_on_failure(ctx, cluster, &endpoint);
            } else {
                endpoint.outlier.success();
            }
            Outcome::Response(resp, guard)
        }
        Err(SendError::Connect(error)) => {
            Metrics::incr(&metrics.upstream_errors_total);
            tracing::debug!(cluster = %cluster.id, endpoint = %endpoint.address, %error, "upstream connect failed");
            eject_on_failure(ctx, cluster, &endpoint);
            Outcome::Connect
        }
        Err(SendError::Broken(error)) => {
            Metrics::incr(&metrics.upstream_errors_total);
            tracing::debug!(cluster = %cluster.id, endpoint = %endpoint.address, %error, "upstream exchange failed");
            eject_on_failure(ctx, cluster, &endpoint);
            Outcome::Broken
        }
    }
}

/// The client address for hashing: X-Forwarded-For only from trusted hops.
fn client_ip(ctx: &ConnCtx, parts: &Parts) -> std::net::IpAddr {
    hygiene::client_ip(
        &parts.headers,
        ctx.peer.ip(),
        ctx.shared.config.trusted_hops,
    )
}

/// The backend and endpoint a session token names, if still usable.
fn find_session<'a>(action: &'a Action, token: &str) -> Option<(&'a Backend, Arc<EndpointState>)> {
    action.backends.iter().find_map(|b| match &b.target {
        Target::Cluster(c) => c.by_session_token(token).map(|ep| (b, ep)),
        Target::Invalid(_) => None,
    })
}

fn eject_on_failure(ctx: &ConnCtx, cluster: &ClusterState, endpoint: &EndpointState) {
    if endpoint.outlier.failure(&ctx.shared.config.outlier) {
        Metrics::incr(&ctx.shared.metrics.outlier_ejections_total);
        tracing::info!(cluster = %cluster.id, endpoint = %endpoint.address, "endpoint ejected after consecutive failures");
    }
}

/// A copy of the request with its buffered body, for one retry attempt.
fn copy_request(parts: &Parts, body: &Bytes) -> Request<Body> {
    let mut req = Request::new(Body::full(body.clone()));
    *req.method_mut() = parts.method.clone();
    *req.uri_mut() = parts.uri.clone();
    *req.version_mut() = parts.version;
    *req.headers_mut() = parts.headers.clone();
    req
}

/// Response header modifiers (the rule's, then the backend's) and CORS.
fn finish(
    resp: Response<Body>,
    action: &Action,
    backend: Option<&Backend>,
    plan: &ResponsePlan<'_>,
) -> Response<Body> {
    let (mut parts, body) = resp.into_parts();
    response_filters(&action.filters, &mut parts);
    if let Some(b) = backend {
        response_filters(&b.filters, &mut parts);
    }
    if let Some((cors, origin)) = &plan.cors {
        cors.decorate(&mut parts.headers, origin.clone());
    }
    Response::from_parts(parts, body)
}

/// HTTP/2 requests carry the host in `:authority`; HTTP/1.1 upstreams need
/// it as `Host`.
fn ensure_host_header(parts: &mut Parts) {
    if parts.headers.contains_key(header::HOST) {
        return;
    }
    if let Some(v) = parts
        .uri
        .authority()
        .and_then(|a| HeaderValue::from_str(a.as_str()).ok())
    {
        parts.headers.insert(header::HOST, v);
    }
}
