//! Echo backends that follow the upstream Gateway API conformance echo
//! contract (`echo-basic`), for `portico echo`, the in-repo conformance
//! runner, tests and benchmarks.
//!
//! Every mode takes an already-bound socket (so tests bind port 0), an
//! [`EchoConfig`] and a [`CancellationToken`], and returns a
//! [`ServerHandle`] with the local address once the server runs. The
//! server stops when the token is cancelled or the handle is dropped (keep
//! it, or call [`ServerHandle::wait`]). Request bodies are read and dropped
//! (up to 16 MiB) so HTTP/1.1 connections stay reusable.
//!
//! | function | contract |
//! | --- | --- |
//! | [`serve_http`] | HTTP/1.1 and h2c (prior knowledge) on one port. JSON echo (`path` incl. query, `host`, `method`, `proto`, `headers` with canonical names, `namespace`, `ingress`, `service`, `pod`, `httpPort`) with `Content-Type: application/json`; `X-Echo-Set-Header: Name:val,…` sets response headers; `?delay=<Go duration>` waits first; `/status/NNN`; `/health` → `OK`; `/retry…?uuid=U&succeedAfter=N[&responseCode=C][&delayRetry=D]`; `/ws` WebSocket echo; `//` collapsed to `/` for routing |
//! | [`serve_h2c`] | the h2c-only port: 400 `Expected h2c request` for HTTP/1.x without `Upgrade: h2c` |
//! | [`serve_https`] | [`serve_http`] over TLS (ALPN h2/http1.1, client certs verified if given) |
//! | [`serve_tcp`] / [`serve_tcp_tls`] | greeting `Gateway API Test TCP Server\n`, then `PING`→`PONG`, `IS_TLS`→`false`/`true`, `TEST`→ one JSON line |
//! | [`serve_udp`] | each datagram answered with `{"request", "namespace", "ingress", "service", "pod"}` |
//! | [`serve_grpc`] / [`serve_grpc_tls`] | `gateway_api_conformance.echo_basic.grpcecho.GrpcEcho` (`Echo`, `EchoTwo`; `EchoThree` UNIMPLEMENTED) plus server reflection, over h2c / TLS |
//!
//! Each echoed request is recorded as an [`EchoRecord`] whose
//! [`EchoRecord::line`] is `Echoing back request made to <RequestURI> to
//! client (<remote>)`; [`EchoLog`] prints it to stdout and/or broadcasts it
//! to subscribers (mirror tests read it).
//!
//! ```no_run
//! # async fn demo() -> Result<(), portico_echo::Error> {
//! use portico_echo::{EchoConfig, EchoLog, Identity, serve_http};
//! use tokio_util::sync::CancellationToken;
//!
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
//! let log = EchoLog::silent();
//! let mut records = log.subscribe();
//! let config = EchoConfig::new(Identity::new("default", "infra-backend-v1")).with_log(log);
//! let server = serve_http(listener, config, CancellationToken::new()).await?;
//! println!("echo on {} as pod {}", server.local_addr(), server.identity().pod);
//! # let _ = records.try_recv();
//! server.shutdown().await;
//! # Ok(()) }
//! ```
//!
//! [`EchoAnswer`] parses an HTTP answer back on the client side.
//!
//! [`UpstreamEcho::from_env`] maps the environment of an upstream
//! `echo-basic` container (as written in the conformance manifests) to the
//! servers above and their container ports.
//!
//! TLS variants ([`serve_https`], [`serve_tcp_tls`], [`serve_grpc_tls`], from [`TlsSettings`]
//! PEM) add the `tls` block of the contract to their answers.
//!
//! Not implemented: a real `Upgrade: h2c` switch (declined; answered over
//! HTTP/1.1), the `/backendTLS` SNI sniffing
//! (the `tls.serverName` of [`serve_https`] carries the SNI instead).

mod accept;
mod answer;
mod config;
mod duration;
mod error;
mod grpc;
mod handle;
mod http;
mod identity;
mod log;
mod tcp;
mod tls;
mod udp;
mod upstream_env;

pub use answer::{EchoAnswer, EchoTls};
pub use config::EchoConfig;
pub use error::Error;
pub use grpc::{GRPC_ECHO_SERVICE, proto, serve_grpc, serve_grpc_tls};
pub use handle::ServerHandle;
pub use http::{serve_h2c, serve_http, serve_https};
pub use identity::Identity;
pub use log::{EchoLog, EchoRecord};
pub use tcp::{TCP_GREETING, serve_tcp, serve_tcp_tls};
pub use tls::TlsSettings;
pub use tokio_util::sync::CancellationToken;
pub use udp::{serve_udp, udp_answer};
pub use upstream_env::{EchoMode, UpstreamEcho, UpstreamServer, UpstreamTlsFiles};
