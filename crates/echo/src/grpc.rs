//! gRPC echo mode: `gateway_api_conformance.echo_basic.grpcecho.GrpcEcho`
//! with `Echo` and `EchoTwo` answering what the backend saw, and
//! `EchoThree` answering UNIMPLEMENTED on purpose.

use std::net::SocketAddr;
use std::sync::Arc;

use http::Uri;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;
use tonic::service::Routes;
use tonic::{Request, Response, Status};
use tower::ServiceExt as _;

use crate::accept::accept_loop;
use crate::tls::{TlsInfo, TlsSettings};
use crate::{EchoConfig, EchoLog, EchoRecord, Error, Identity, ServerHandle};

/// Generated messages, server and client for `proto/grpcecho.proto`.
#[allow(
    clippy::all,
    clippy::pedantic,
    missing_docs,
    unreachable_pub,
    reason = "generated code"
)]
pub mod proto {
    tonic::include_proto!("gateway_api_conformance.echo_basic.grpcecho");
}

use proto::grpc_echo_server::{GrpcEcho, GrpcEchoServer};
use proto::{Assertions, Context, EchoRequest, EchoResponse, Header, TlsAssertions};

/// A client that has not finished its TLS handshake by then is dropped.
const TLS_HANDSHAKE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// Encoded descriptors of `grpcecho.proto`, served by gRPC reflection.
const FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/grpcecho_descriptor.bin"));

/// The fully-qualified service name.
pub const GRPC_ECHO_SERVICE: &str = "gateway_api_conformance.echo_basic.grpcecho.GrpcEcho";

/// What the HTTP layer knew about a call, handed to the service.
#[derive(Clone, Debug)]
struct CallMeta {
    uri: Uri,
    remote: SocketAddr,
    tls: Option<Arc<TlsInfo>>,
}

#[derive(Debug)]
struct EchoService {
    identity: Identity,
    log: EchoLog,
}

impl EchoService {
    fn answer(&self, req: &Request<EchoRequest>, method: &str) -> EchoResponse {
        let meta = req.extensions().get::<CallMeta>();
        let fully_qualified_method = meta
            .map(|m| m.uri.path().to_owned())
            .unwrap_or_else(|| format!("/{GRPC_ECHO_SERVICE}/{method}"));
        let headers_map = req.metadata().clone().into_headers();
        let authority = meta
            .and_then(|m| m.uri.authority().map(|a| a.as_str().to_owned()))
            .or_else(|| {
                headers_map
                    .get(http::header::HOST)
                    .and_then(|h| h.to_str().ok())
                    .map(str::to_owned)
            })
            .unwrap_or_default();
        let headers = headers_map
            .iter()
            .map(|(k, v)| Header {
                key: k.as_str().to_owned(),
                value: String::from_utf8_lossy(v.as_bytes()).into_owned(),
            })
            .collect();
        if let Some(meta) = meta {
            self.log.record(EchoRecord {
                request_uri: fully_qualified_method.clone(),
                remote: meta.remote,
                method: "GRPC".to_owned(),
                identity: self.identity.clone(),
            });
        }
        EchoResponse {
            assertions: Some(Assertions {
                fully_qualified_method,
                headers,
                authority,
                context: Some(Context {
                    namespace: self.identity.namespace.clone(),
                    ingress: self.identity.ingress.clone(),
                    service_name: self.identity.service.clone(),
                    pod: self.identity.pod.clone(),
                }),
                tls_assertions: meta.and_then(|m| m.tls.as_deref()).map(|t| TlsAssertions {
                    version: t.version.clone(),
                    negotiated_protocol: t.negotiated_protocol.clone(),
                    server_name: t.server_name.clone(),
                    cipher_suite: t.cipher_suite.clone(),
                    peer_certificates: t.peer_certificates.clone(),
                }),
            }),
        }
    }
}

#[tonic::async_trait]
impl GrpcEcho for Arc<EchoService> {
    async fn echo(&self, req: Request<EchoRequest>) -> Result<Response<EchoResponse>, Status> {
        Ok(Response::new(self.answer(&req, "Echo")))
    }

    async fn echo_two(&self, req: Request<EchoRequest>) -> Result<Response<EchoResponse>, Status> {
        Ok(Response::new(self.answer(&req, "EchoTwo")))
    }

    async fn echo_three(
        &self,
        _req: Request<EchoRequest>,
    ) -> Result<Response<EchoResponse>, Status> {
        Err(Status::unimplemented("EchoThree is not implemented"))
    }
}

/// Serves the gRPC echo service (and gRPC server reflection, v1) over h2c
/// (HTTP/2 prior knowledge) on `listener`. Every call is logged like an HTTP echo (`request_uri` is the
/// gRPC method path).
pub async fn serve_grpc(
    listener: TcpListener,
    config: EchoConfig,
    shutdown: CancellationToken,
) -> Result<ServerHandle, Error> {
    start(listener, config, shutdown, None)
}

/// Serves the gRPC echo service over TLS (ALPN `h2`; the upstream
/// `HTTPS_PORT`); answers carry `tls_assertions`.
pub async fn serve_grpc_tls(
    listener: TcpListener,
    config: EchoConfig,
    tls: TlsSettings,
    shutdown: CancellationToken,
) -> Result<ServerHandle, Error> {
    let acceptor = tls.acceptor(&[b"h2"])?;
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
    let echo = GrpcEchoServer::new(Arc::new(EchoService {
        identity: identity.clone(),
        log: config.log,
    }));
    let reflection = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(FILE_DESCRIPTOR_SET)
        .build_v1()
        .map_err(|e| Error::Grpc(e.to_string()))?;
    let service = Routes::new(echo).add_service(reflection);
    let token = shutdown.child_token();
    tracing::info!(
        addr = %local_addr,
        pod = %identity.pod,
        tls = acceptor.is_some(),
        "echo grpc server listening"
    );
    let conn_token = token.clone();
    let task = tokio::spawn(accept_loop(
        listener,
        token.clone(),
        move |stream, remote| {
            let service = service.clone();
            let token = conn_token.clone();
            let acceptor = acceptor.clone();
            async move {
                let Some(acceptor) = acceptor else {
                    return drive(TokioIo::new(stream), remote, None, service, token).await;
                };
                let handshake = tokio::select! {
                    r = tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, acceptor.accept(stream)) => r,
                    () = token.cancelled() => return,
                };
                match handshake {
                    Ok(Ok(tls)) => {
                        let info = Arc::new(TlsInfo::from_connection(tls.get_ref().1));
                        drive(TokioIo::new(tls), remote, Some(info), service, token).await;
                    }
                    Ok(Err(error)) => {
                        tracing::debug!(%error, %remote, "grpc echo TLS handshake failed")
                    }
                    Err(_) => tracing::debug!(%remote, "grpc echo TLS handshake timed out"),
                }
            }
        },
    ));
    Ok(ServerHandle::new(local_addr, identity, token, task))
}

async fn drive<I>(
    io: TokioIo<I>,
    remote: SocketAddr,
    tls: Option<Arc<TlsInfo>>,
    service: Routes,
    token: CancellationToken,
) where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let svc = service_fn(move |mut req: http::Request<Incoming>| {
        let meta = CallMeta {
            uri: req.uri().clone(),
            remote,
            tls: tls.clone(),
        };
        req.extensions_mut().insert(meta);
        service.clone().oneshot(req)
    });
    let builder = auto::Builder::new(TokioExecutor::new()).http2_only();
    let connection = builder.serve_connection(io, svc);
    tokio::pin!(connection);
    tokio::select! {
        result = connection.as_mut() => {
            if let Err(error) = result {
                tracing::debug!(%error, %remote, "grpc echo connection ended with error");
            }
            return;
        }
        () = token.cancelled() => connection.as_mut().graceful_shutdown(),
    }
    if let Err(error) = connection.await {
        tracing::debug!(%error, %remote, "grpc echo connection ended with error");
    }
}
