//! Clients for the L4 profiles, checking what the upstream `tcp` and `udp`
//! helpers check: the TCP echo dialogue (greeting, `PING`, `IS_TLS`, `TEST`)
//! over plain TCP or a TLS stream, UDP echo datagrams, and a DNS query for
//! the `coredns` backend.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncBufReadExt as _, AsyncRead, AsyncWrite, AsyncWriteExt as _, BufReader};

use crate::status::{
    self, Cond, ListenerExpect, ParentExpect, gateway_listeners, route_parent_conditions,
};
use crate::{Env, Failure, INFRA_NS};

/// How long one probe (connect + dialogue, or one datagram) may take.
const PROBE_TIMEOUT: Duration = Duration::from_secs(5);
/// The greeting of the TCP echo server.
const GREETING: &str = "Gateway API Test TCP Server\n";

/// What a TCP echo answer must show (upstream `tcp.ExpectedResponse`).
#[derive(Clone, Debug, Default)]
pub struct TcpExpect {
    /// The backend Deployment: the answering pod's name starts with `backend-`.
    pub backend: &'static str,
    pub namespace: &'static str,
    /// `IS_TLS` must answer this.
    pub backend_is_tls: bool,
    /// When set, the backend must have seen this SNI.
    pub hostname: Option<&'static str>,
}

/// `addr:port` of the Gateway's listener `listener` once the Gateway has
/// an address (upstream `WaitForGatewayAddress`; readiness is checked
/// separately where the test asks for it).
pub async fn listener_addr(
    env: &Env,
    namespace: &str,
    gateway: &str,
    listener: &str,
) -> Result<String, Failure> {
    let gw = status::eventually(env, "Gateway", namespace, gateway, |gw| {
        gw.pointer("/status/addresses/0/value")
            .and_then(Value::as_str)
            .map(|_| ())
            .ok_or_else(|| "no address yet".to_string())
    })
    .await?;
    let address = gw
        .pointer("/status/addresses/0/value")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let port = gw
        .pointer("/spec/listeners")
        .and_then(Value::as_array)
        .and_then(|ls| {
            ls.iter()
                .find(|l| l.get("name").and_then(Value::as_str) == Some(listener))
        })
        .and_then(|l| l.get("port"))
        .and_then(Value::as_u64)
        .ok_or_else(|| Failure(format!("gateway {gateway} has no listener {listener}")))?;
    Ok(format!("{address}:{port}"))
}

/// Upstream `GatewayAndTCPRoutesMustBeAccepted` (and the UDP/TLS variants):
/// every listener of the Gateway ready, each route Accepted on it, and the
/// address of `listener`.
pub async fn gateway_and_routes_accepted(
    env: &Env,
    kind: &str,
    namespace: &str,
    gateway: &str,
    listener: &str,
    routes: &[&str],
) -> Result<String, Failure> {
    listeners_ready(env, namespace, gateway).await?;
    for route in routes {
        status::route_accepted(env, kind, namespace, route, &[(namespace, gateway)]).await?;
    }
    listener_addr(env, namespace, gateway, listener).await
}

/// Upstream `TCPRouteMustHaveCondition` (and the TLS/UDP variants): every
/// parent entry of `kind` `route` for `gateway` (both in the infra
/// namespace) has `cond`.
pub async fn route_condition(
    env: &Env,
    kind: &str,
    route: &str,
    gateway: &str,
    cond: &[Cond],
) -> Result<(), Failure> {
    route_parent_conditions(env, kind, INFRA_NS, route, &[(INFRA_NS, gateway)], cond)
        .await
        .map(|_| ())
}

/// The invalid-backendRef tests: `route` (Accepted on `listener` of
/// `gateway` first, when given) has ResolvedRefs=False with `reason`.
pub async fn route_refs_unresolved(
    env: &Env,
    kind: &str,
    (gateway, listener): (&str, Option<&str>),
    route: &str,
    reason: &'static str,
) -> Result<(), Failure> {
    if let Some(listener) = listener {
        gateway_and_routes_accepted(env, kind, INFRA_NS, gateway, listener, &[route]).await?;
    }
    route_condition(
        env,
        kind,
        route,
        gateway,
        &[Cond("ResolvedRefs", "False", reason)],
    )
    .await
}

/// The single expected parent: `gateway`, Accepted=True/Accepted.
pub fn accepted_on(gateway: &'static str) -> [ParentExpect; 1] {
    [ParentExpect::gateway(
        INFRA_NS,
        gateway,
        &[Cond("Accepted", "True", "Accepted")],
    )]
}

/// The set-up of the `*RouteMultipleRoutesAttachment` tests: once the
/// older route serves, a newer route to `newer_backend` is written for the
/// same listener; both must be Accepted and the listener must count two
/// attached routes. Returns the listener's address.
pub async fn attach_newer_route(
    env: &Env,
    kind: &'static str,
    gateway: &'static str,
    listener: &'static str,
    (older, newer): (&str, &str),
    (newer_backend, port): (&str, u16),
) -> Result<String, Failure> {
    let addr =
        gateway_and_routes_accepted(env, kind, INFRA_NS, gateway, listener, &[older]).await?;
    // creationTimestamp has one-second precision: the newer route must be
    // strictly newer, as upstream ensures with a pause too.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    env.write_file(
        "90-newer-route.yaml",
        &format!(
            "apiVersion: gateway.networking.k8s.io/v1alpha2\nkind: {kind}\nmetadata:\n  name: {newer}\n  namespace: {INFRA_NS}\nspec:\n  parentRefs:\n  - name: {gateway}\n    sectionName: {listener}\n  rules:\n  - backendRefs:\n    - name: {newer_backend}\n      port: {port}\n"
        ),
    )?;
    for route in [older, newer] {
        route_condition(
            env,
            kind,
            route,
            gateway,
            &[Cond("Accepted", "True", "Accepted")],
        )
        .await?;
    }
    let kinds: &'static [&'static str] = match kind {
        "TCPRoute" => &["TCPRoute"],
        _ => &["UDPRoute"],
    };
    gateway_listeners(
        env,
        INFRA_NS,
        gateway,
        &[ListenerExpect {
            name: listener,
            supported_kinds: kinds,
            attached_routes: 2,
            conditions: &[Cond("Accepted", "True", "Accepted")],
        }],
    )
    .await?;
    Ok(addr)
}

/// Every listener of the Gateway is Accepted, ResolvedRefs and Programmed.
pub async fn listeners_ready(env: &Env, namespace: &str, gateway: &str) -> Result<(), Failure> {
    const READY: &[Cond] = &[
        Cond("Accepted", "True", ""),
        Cond("ResolvedRefs", "True", ""),
        Cond("Programmed", "True", ""),
    ];
    status::eventually(env, "Gateway", namespace, gateway, |gw| {
        let generation = gw
            .pointer("/metadata/generation")
            .and_then(Value::as_i64)
            .unwrap_or(1);
        let listeners = gw
            .pointer("/status/listeners")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        if listeners.is_empty() {
            return Err("no listener statuses".into());
        }
        for l in &listeners {
            status::conditions_match(
                l.get("conditions").unwrap_or(&Value::Null),
                READY,
                generation,
            )
            .map_err(|why| {
                format!(
                    "listener {}: {why}",
                    l.get("name").and_then(Value::as_str).unwrap_or("?")
                )
            })?;
        }
        Ok(())
    })
    .await
    .map(|_| ())
}

/// One TCP echo dialogue on `stream`; returns the `TEST` answer.
pub async fn tcp_dialogue<S>(stream: S, want_tls: Option<bool>) -> Result<Value, String>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let mut stream = BufReader::new(stream);
    let mut line = String::new();
    read_line(&mut stream, &mut line).await?;
    if line != GREETING {
        return Err(format!("greeting {line:?}"));
    }
    if let Some(want_tls) = want_tls {
        let pong = command(&mut stream, "PING").await?;
        if pong != "PONG\n" {
            return Err(format!("PING answered {pong:?}"));
        }
        let is_tls = command(&mut stream, "IS_TLS").await?;
        if is_tls.trim_end() != want_tls.to_string() {
            return Err(format!("IS_TLS answered {is_tls:?}, want {want_tls}"));
        }
    }
    let test = command(&mut stream, "TEST").await?;
    serde_json::from_str(&test).map_err(|e| format!("TEST answer {test:?}: {e}"))
}

async fn command<S>(stream: &mut BufReader<S>, cmd: &str) -> Result<String, String>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    stream
        .get_mut()
        .write_all(format!("{cmd}\n").as_bytes())
        .await
        .map_err(|e| format!("writing {cmd}: {e}"))?;
    let mut line = String::new();
    read_line(stream, &mut line).await?;
    Ok(line)
}

async fn read_line<S>(stream: &mut BufReader<S>, line: &mut String) -> Result<(), String>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    match stream.read_line(line).await {
        Ok(0) => Err("connection closed".into()),
        Ok(_) => Ok(()),
        Err(e) => Err(format!("reading: {e}")),
    }
}

/// Checks a `TEST` answer against `want` (upstream `validateTestMessage`).
pub fn check_tcp_answer(answer: &Value, want: &TcpExpect) -> Result<(), String> {
    let field = |name: &str| answer.get(name).and_then(Value::as_str).unwrap_or("");
    if field("namespace") != want.namespace {
        return Err(format!(
            "namespace {:?}, want {:?}",
            field("namespace"),
            want.namespace
        ));
    }
    if !field("pod").starts_with(&format!("{}-", want.backend)) {
        return Err(format!(
            "pod {:?}, want backend {}",
            field("pod"),
            want.backend
        ));
    }
    if let Some(host) = want.hostname {
        let sni = answer
            .pointer("/tls/serverName")
            .and_then(Value::as_str)
            .ok_or("no TLS assertions in the answer")?;
        if sni != host {
            return Err(format!("backend saw SNI {sni:?}, want {host:?}"));
        }
    }
    Ok(())
}

/// One probe: connect (over TLS when `tls` is given), run the dialogue.
async fn tcp_probe(
    gw_addr: &str,
    tls: Option<(
        &rustls_pki_types::ServerName<'static>,
        &Arc<rustls::ClientConfig>,
    )>,
    want_tls: Option<bool>,
) -> Result<Value, String> {
    let exchange = async {
        let tcp = tokio::net::TcpStream::connect(gw_addr)
            .await
            .map_err(|e| format!("connect {gw_addr}: {e}"))?;
        match tls {
            Some((name, config)) => {
                let stream = tokio_rustls::TlsConnector::from(config.clone())
                    .connect(name.clone(), tcp)
                    .await
                    .map_err(|e| format!("TLS handshake: {e}"))?;
                tcp_dialogue(stream, want_tls).await
            }
            None => tcp_dialogue(tcp, want_tls).await,
        }
    };
    tokio::time::timeout(PROBE_TIMEOUT, exchange)
        .await
        .map_err(|_| "TCP probe timed out".to_string())?
}

/// Upstream `MakeTCPRequestAndExpectEventuallyValidResponse`: repeated
/// until one dialogue validates, within the consistency deadline. With
/// `tls`, the client verifies the Gateway's (or backend's) certificate
/// against the configured roots with `server_name` as SNI.
pub async fn expect_tcp(
    env: &Env,
    gw_addr: &str,
    tls: Option<(&str, Arc<rustls::ClientConfig>)>,
    want: &TcpExpect,
) -> Result<(), Failure> {
    let tls = match tls {
        Some((name, config)) => Some((
            rustls_pki_types::ServerName::try_from(name.to_string())
                .map_err(|e| Failure(format!("server name {name}: {e}")))?,
            config,
        )),
        None => None,
    };
    let deadline = tokio::time::Instant::now() + env.config.max_time_to_consistency;
    loop {
        let tls_ref = tls.as_ref().map(|(n, c)| (n, c));
        let outcome = tcp_probe(gw_addr, tls_ref, Some(want.backend_is_tls))
            .await
            .and_then(|answer| check_tcp_answer(&answer, want));
        match outcome {
            Ok(()) => return Ok(()),
            Err(why) if tokio::time::Instant::now() > deadline => {
                return Err(Failure(format!("tcp {gw_addr}: {why}")));
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(250)).await,
        }
    }
}

/// Upstream `tcp.EchoSendOnce`: one plain connection, `TEST`, the pod name.
pub async fn tcp_pod_once(gw_addr: &str) -> Result<String, String> {
    let answer = tcp_probe(gw_addr, None, None).await?;
    answer
        .get("pod")
        .and_then(Value::as_str)
        .filter(|p| !p.is_empty())
        .map(String::from)
        .ok_or_else(|| format!("answer without pod: {answer}"))
}

/// One UDP echo datagram to `gw_addr`; returns the JSON answer.
pub async fn udp_once(gw_addr: &str, payload: &[u8]) -> Result<Value, String> {
    let answer = udp_exchange(gw_addr, payload).await?;
    serde_json::from_slice(&answer)
        .map_err(|e| format!("UDP answer {:?}: {e}", String::from_utf8_lossy(&answer)))
}

async fn udp_exchange(gw_addr: &str, payload: &[u8]) -> Result<Vec<u8>, String> {
    let target: SocketAddr = gw_addr
        .parse()
        .map_err(|e| format!("address {gw_addr}: {e}"))?;
    let socket = tokio::net::UdpSocket::bind("127.0.0.1:0")
        .await
        .map_err(|e| format!("bind: {e}"))?;
    socket
        .connect(target)
        .await
        .map_err(|e| format!("connect {gw_addr}: {e}"))?;
    socket
        .send(payload)
        .await
        .map_err(|e| format!("send: {e}"))?;
    let mut buf = vec![0u8; 4096];
    let n = tokio::time::timeout(Duration::from_secs(2), socket.recv(&mut buf))
        .await
        .map_err(|_| "no UDP answer within 2s".to_string())?
        .map_err(|e| format!("recv: {e}"))?;
    buf.truncate(n);
    Ok(buf)
}

/// Upstream `udp.ExpectEchoResponseFromBackend`: polled until an answer
/// from `service` in `namespace` arrives (any answer when both are empty).
pub async fn expect_udp(
    env: &Env,
    gw_addr: &str,
    service: &str,
    namespace: &str,
) -> Result<(), Failure> {
    let deadline = tokio::time::Instant::now() + env.config.max_time_to_consistency;
    loop {
        let outcome = udp_once(gw_addr, b"gateway-api-conformance-udp-echo")
            .await
            .and_then(|answer| {
                let field = |n: &str| answer.get(n).and_then(Value::as_str).unwrap_or("");
                if !service.is_empty() && field("service") != service {
                    return Err(format!("service {:?}, want {service:?}", field("service")));
                }
                if !namespace.is_empty() && field("namespace") != namespace {
                    return Err(format!(
                        "namespace {:?}, want {namespace:?}",
                        field("namespace")
                    ));
                }
                Ok(())
            });
        match outcome {
            Ok(()) => return Ok(()),
            Err(why) if tokio::time::Instant::now() > deadline => {
                return Err(Failure(format!("udp {gw_addr}: {why}")));
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(250)).await,
        }
    }
}

/// The Deployment of a pod name (without its last two `-` parts).
pub fn deployment_of(pod: &str) -> String {
    let parts: Vec<&str> = pod.split('-').collect();
    if parts.len() < 3 {
        return pod.to_string();
    }
    parts[..parts.len() - 2].join("-")
}

/// Upstream weighted-distribution check for L4: `total` single probes
/// (from `once`) must split by Deployment as `weights` within `tolerance`;
/// retried because it is statistical.
pub async fn expect_l4_weights<F, Fut>(
    once: F,
    weights: &[(&str, f64)],
    total: usize,
    tolerance: f64,
) -> Result<(), Failure>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Result<String, String>>,
{
    use futures::StreamExt as _;
    let mut last = String::new();
    for _ in 0..5 {
        let results: Vec<Result<String, String>> = futures::stream::iter(0..total)
            .map(|_| once())
            .buffer_unordered(10)
            .collect()
            .await;
        let mut seen: BTreeMap<String, usize> = BTreeMap::new();
        let mut error = None;
        for r in results {
            match r {
                Ok(pod) => *seen.entry(deployment_of(&pod)).or_insert(0) += 1,
                Err(e) => error = Some(e),
            }
        }
        if let Some(e) = error {
            last = e;
            continue;
        }
        let mut problems = Vec::new();
        for name in seen.keys() {
            if !weights.iter().any(|(w, _)| w == name) {
                problems.push(format!("unexpected backend {name}"));
            }
        }
        for (name, want) in weights {
            let got = *seen.get(*name).unwrap_or(&0) as f64 / total as f64;
            if (got - want).abs() > tolerance {
                problems.push(format!("{name}: {got:.3} of traffic, want {want}"));
            }
        }
        if problems.is_empty() {
            return Ok(());
        }
        last = format!("{} (seen {seen:?})", problems.join("; "));
    }
    Err(Failure(format!("weighted distribution: {last}")))
}

/// A DNS query for `name` type A with id `id` (RFC 1035 wire format).
pub fn dns_query(id: u16, name: &str) -> Vec<u8> {
    let mut q = Vec::with_capacity(32 + name.len());
    q.extend_from_slice(&id.to_be_bytes());
    q.extend_from_slice(&[0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]);
    for label in name.trim_end_matches('.').split('.') {
        q.push(label.len() as u8);
        q.extend_from_slice(label.as_bytes());
    }
    q.extend_from_slice(&[0, 0, 1, 0, 1]);
    q
}

/// The answer a `whoami`-style DNS server gives to `query`: the question
/// echoed with one A record holding `client` (None for a malformed query).
pub fn dns_answer(query: &[u8], client: std::net::Ipv4Addr) -> Option<Vec<u8>> {
    if query.len() < 12 || query[2] & 0x80 != 0 {
        return None;
    }
    // Walk the first question's name.
    let mut at = 12;
    loop {
        let len = usize::from(*query.get(at)?);
        at += 1;
        if len == 0 {
            break;
        }
        if len & 0xc0 != 0 {
            return None;
        }
        at += len;
    }
    let question_end = at + 4;
    if query.len() < question_end {
        return None;
    }
    let mut out = Vec::with_capacity(question_end + 16);
    out.extend_from_slice(&query[..2]);
    out.extend_from_slice(&[0x81, 0x80, 0, 1, 0, 1, 0, 0, 0, 0]);
    out.extend_from_slice(&query[12..question_end]);
    out.extend_from_slice(&[0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 0, 0, 4]);
    out.extend_from_slice(&client.octets());
    Some(out)
}

/// One DNS exchange: the answer must carry the query's id, be a response
/// and hold at least one answer record.
pub async fn dns_exchange(gw_addr: &str, id: u16, name: &str) -> Result<(), String> {
    let answer = udp_exchange(gw_addr, &dns_query(id, name)).await?;
    if answer.len() < 12 {
        return Err(format!("short DNS answer ({} bytes)", answer.len()));
    }
    if answer[..2] != id.to_be_bytes() || answer[2] & 0x80 == 0 {
        return Err("DNS answer with another id, or not a response".into());
    }
    if u16::from_be_bytes([answer[6], answer[7]]) == 0 {
        return Err("DNS answer without records".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dns_answer_echoes_the_question_with_one_record() {
        let q = dns_query(0x1234, "foo.bar.com.");
        let a = dns_answer(&q, std::net::Ipv4Addr::new(127, 0, 0, 9)).expect("answer");
        assert_eq!(&a[..2], &[0x12, 0x34]);
        assert_eq!(a[2] & 0x80, 0x80);
        assert_eq!(u16::from_be_bytes([a[6], a[7]]), 1);
        assert_eq!(&a[a.len() - 4..], &[127, 0, 0, 9]);
        assert_eq!(&a[12..q.len()], &q[12..]);
    }

    #[test]
    fn malformed_dns_queries_get_no_answer() {
        let localhost = std::net::Ipv4Addr::LOCALHOST;
        assert!(dns_answer(&[0; 5], localhost).is_none());
        let mut q = dns_query(1, "a.b");
        q.truncate(q.len() - 2);
        assert!(dns_answer(&q, localhost).is_none());
        let mut response = dns_query(1, "a.b");
        response[2] |= 0x80;
        assert!(dns_answer(&response, localhost).is_none());
    }

    #[test]
    fn deployment_strips_replica_set_and_pod_hashes() {
        assert_eq!(
            deployment_of("tcp-backend-v1-abc12-xyz34"),
            "tcp-backend-v1"
        );
        assert_eq!(deployment_of("pod"), "pod");
    }

    #[test]
    fn tcp_answer_checks_namespace_pod_and_sni() {
        let answer = serde_json::json!({
            "namespace": "ns", "pod": "tcp-backend-a-b",
            "tls": {"serverName": "abc.example.com"}
        });
        let mut want = TcpExpect {
            backend: "tcp-backend",
            namespace: "ns",
            backend_is_tls: true,
            hostname: Some("abc.example.com"),
        };
        assert!(check_tcp_answer(&answer, &want).is_ok());
        want.hostname = Some("other.example.com");
        assert!(check_tcp_answer(&answer, &want).is_err());
        want.hostname = None;
        want.backend = "tcp-backend-v2";
        assert!(check_tcp_answer(&answer, &want).is_err());
    }
}
