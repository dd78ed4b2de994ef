//! `portico echo`: echo backends following the Gateway API conformance echo
//! contract, for the quick start, examples and tests.

use std::net::SocketAddr;
use std::process::ExitCode;

use anyhow::Context;
use portico_echo::{EchoConfig, EchoLog, Identity, ServerHandle};
use tokio::net::{TcpListener, UdpSocket};
use tokio::signal::unix::{SignalKind, signal};
use tokio_util::sync::CancellationToken;

/// Address used when no server address is given (echo-basic's `HTTP_PORT`).
const DEFAULT_HTTP: &str = "127.0.0.1:3000";

#[derive(clap::Args, Debug)]
pub struct Args {
    /// HTTP/1.1 + h2c echo address (default 127.0.0.1:3000 when no address is given).
    #[arg(long, value_name = "ADDR")]
    pub http: Option<SocketAddr>,
    /// gRPC echo (h2c) address.
    #[arg(long, value_name = "ADDR")]
    pub grpc: Option<SocketAddr>,
    /// TCP echo address.
    #[arg(long, value_name = "ADDR")]
    pub tcp: Option<SocketAddr>,
    /// UDP echo address.
    #[arg(long, value_name = "ADDR")]
    pub udp: Option<SocketAddr>,
    /// Namespace reported in answers.
    #[arg(long, default_value = "default")]
    pub namespace: String,
    /// Service reported in answers.
    #[arg(long, default_value = "echo")]
    pub service: String,
    /// Pod reported in answers (default: `<service>-xxxxx-yyyyy`, derived from service and port).
    #[arg(long)]
    pub pod: Option<String>,
    /// Do not print a line per echoed request on stdout.
    #[arg(long)]
    pub quiet: bool,
}

pub async fn main(args: Args) -> anyhow::Result<ExitCode> {
    let mut identity = Identity::new(&args.namespace, &args.service);
    if let Some(pod) = &args.pod {
        identity = identity.with_pod(pod);
    }
    let log = if args.quiet {
        EchoLog::silent()
    } else {
        EchoLog::stdout()
    };
    let config = EchoConfig::new(identity).with_log(log);
    let token = CancellationToken::new();

    let http = match (args.http, args.grpc, args.tcp, args.udp) {
        (None, None, None, None) => Some(DEFAULT_HTTP.parse()?),
        _ => args.http,
    };
    let mut servers: Vec<ServerHandle> = vec![];
    if let Some(addr) = http {
        let listener = tcp(addr).await?;
        servers.push(portico_echo::serve_http(listener, config.clone(), token.clone()).await?);
    }
    if let Some(addr) = args.grpc {
        let listener = tcp(addr).await?;
        servers.push(portico_echo::serve_grpc(listener, config.clone(), token.clone()).await?);
    }
    if let Some(addr) = args.tcp {
        let listener = tcp(addr).await?;
        servers.push(portico_echo::serve_tcp(listener, config.clone(), token.clone()).await?);
    }
    if let Some(addr) = args.udp {
        let socket = UdpSocket::bind(addr)
            .await
            .with_context(|| format!("binding udp {addr}"))?;
        servers.push(portico_echo::serve_udp(socket, config.clone(), token.clone()).await?);
    }
    for s in &servers {
        tracing::info!(address = %s.local_addr(), pod = %s.identity().pod, "echo serving");
    }

    let mut sigterm = signal(SignalKind::terminate()).context("installing SIGTERM handler")?;
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = sigterm.recv() => {}
    }
    token.cancel();
    for s in servers {
        s.shutdown().await;
    }
    Ok(ExitCode::SUCCESS)
}

async fn tcp(addr: SocketAddr) -> anyhow::Result<TcpListener> {
    TcpListener::bind(addr)
        .await
        .with_context(|| format!("binding {addr}"))
}
