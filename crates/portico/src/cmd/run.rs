//! `portico run --config DIR`: serve the objects of a directory.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use portico_observe::trace::{OtlpConfig, TraceExporter, TraceMetrics, Tracer};
use portico_observe::{AdminServer, ConfigMetrics};
use portico_proxy::Proxy;
use portico_translate::Options;
use prometheus_client::registry::Registry;
use tokio::signal::unix::{Signal, SignalKind, signal};

use super::AdminArg;
use crate::reload::Reloader;
use crate::state::Published;
use crate::telemetry::Telemetry;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Directory of YAML files (multi-document, watched).
    #[arg(
        short = 'c',
        long,
        value_name = "DIR",
        required_unless_present = "kubernetes"
    )]
    pub config: Option<PathBuf>,
    /// Read the objects from the Kubernetes API server instead (in-cluster
    /// configuration or KUBECONFIG); see the Kubernetes flags below.
    #[arg(long, conflicts_with = "config")]
    pub kubernetes: bool,
    #[command(flatten)]
    pub kube: super::run_kubernetes::Args,
    #[command(flatten)]
    pub admin: AdminArg,
    /// Hubble-compatible observer API (flows; `portico observe`). If the
    /// address cannot be bound, Portico runs without it.
    #[arg(long = "hubble-addr", env = "PORTICO_HUBBLE_ADDR", value_name = "ADDR", default_value = portico_observe::hubble::DEFAULT_ADDR)]
    pub hubble_addr: SocketAddr,
    /// Write the bound admin address to FILE once listening (use with `--admin 127.0.0.1:0`).
    #[arg(long, value_name = "FILE")]
    pub admin_addr_file: Option<PathBuf>,
    /// Quiet time after a file change before reloading.
    #[arg(long, value_name = "DURATION", default_value = "200ms", value_parser = humantime::parse_duration)]
    pub debounce: Duration,
    #[command(flatten)]
    pub kube_proxy_replacement: super::agent::KubeProxyReplacementArgs,
    /// Worker threads serving traffic. 1 runs everything on one thread (no
    /// cross-thread wakeups: the cheapest per request); default: one per CPU
    /// (or TOKIO_WORKER_THREADS).
    #[arg(long, env = "PORTICO_WORKER_THREADS", value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    pub workers: Option<u16>,
    /// How long shutdown waits for in-flight requests.
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = humantime::parse_duration)]
    pub drain_timeout: Duration,
    /// Write an access log (one JSON line per HTTP/gRPC request) to PATH, or `-` for stdout.
    #[arg(long, value_name = "PATH|-")]
    pub access_log: Option<String>,
    /// Access log fields, comma-separated (time, client, gateway, listener, route, service,
    /// backend, method, path, authority, protocol, status, grpc_status, latency_ms, verdict,
    /// drop_reason, trace_id). Default: all.
    #[arg(long, value_name = "a,b,c")]
    pub access_log_fields: Option<String>,
    /// Record a flow per proxied request or connection (`portico observe`,
    /// the web UI, Hubble metrics, access logs). `off` makes the proxy skip
    /// building flows altogether; the observer API then serves an empty ring.
    #[arg(long, value_enum, value_name = "on|off", default_value_t = FlowRecording::On)]
    pub flows: FlowRecording,
    #[command(flatten)]
    pub otlp: Box<OtlpArgs>,
}

/// `--flows on|off`.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum FlowRecording {
    On,
    Off,
}

pub async fn main(args: Args) -> anyhow::Result<ExitCode> {
    let mut registry = Registry::default();
    let mut telemetry = Telemetry::start(&args, &mut registry).await?;
    let Some(config) = args.config.clone().filter(|_| !args.kubernetes) else {
        return super::run_kubernetes::main(&args, registry, telemetry).await;
    };
    anyhow::ensure!(
        config.is_dir(),
        "--config {}: not a directory",
        config.display()
    );
    let metrics = ConfigMetrics::register(&mut registry);
    let proxy = Proxy::new(telemetry.proxy_config());
    crate::proxy_metrics::register(&mut registry, proxy.metrics().clone());
    let published = Arc::new(Published::default());

    let admin_source = telemetry.admin_source(published.clone());
    let admin = AdminServer::bind(args.admin.addr, admin_source, Arc::new(registry))
        .await
        .context("starting the admin server")?;
    if let Some(file) = &args.admin_addr_file {
        write_atomically(file, &admin.local_addr().to_string())?;
    }
    telemetry.serve_hubble(args.hubble_addr).await;

    let mut sigterm = signal(SignalKind::terminate()).context("installing SIGTERM handler")?;
    let mut service_lb = super::agent::ServiceLoadBalancer::start(&args.kube_proxy_replacement);
    if service_lb.is_on() {
        tracing::info!("eBPF service load balancing is on");
        if let Err(e) = service_lb.forward_flows(telemetry.sink()) {
            tracing::warn!(error = %e, "eBPF flows are not recorded");
        }
    }
    let mut reloader = Reloader::new(
        Options::default(),
        proxy.clone(),
        metrics,
        published,
        service_lb,
    );

    let mut states = portico_file::watch(&config, args.debounce)
        .await
        .with_context(|| format!("watching {}", config.display()))?;
    let first = states.borrow_and_update().clone();
    reloader.reload(&first).await;

    loop {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {
                tracing::info!("SIGINT: shutting down");
                break;
            }
            _ = sigterm.recv() => {
                tracing::info!("SIGTERM: shutting down");
                break;
            }
            changed = states.changed() => {
                if changed.is_err() {
                    tracing::error!("the configuration watch stopped; serving the last configuration");
                    wait_for_shutdown(&mut sigterm).await;
                    break;
                }
                let state = states.borrow_and_update().clone();
                reloader.reload(&state).await;
            }
        }
    }

    reloader.shutdown();
    proxy.shutdown(args.drain_timeout).await;
    telemetry.shutdown().await;
    admin.shutdown(Duration::from_secs(2)).await;
    tracing::info!("stopped");
    Ok(ExitCode::SUCCESS)
}

async fn wait_for_shutdown(sigterm: &mut Signal) {
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = sigterm.recv() => {}
    }
}

/// Writes `content` to `path` through a temporary file and a rename, so a
/// reader never sees a partial address.
pub(super) fn write_atomically(path: &Path, content: &str) -> anyhow::Result<()> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, content).with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("renaming to {}", path.display()))?;
    Ok(())
}

/// OpenTelemetry traces (off unless `--otlp-endpoint` is given).
#[derive(clap::Args, Debug)]
pub struct OtlpArgs {
    /// Export a server span per proxied HTTP/gRPC request over OTLP/gRPC to
    /// this collector (`http://HOST:PORT`, usually port 4317). Backends
    /// receive a W3C `traceparent` naming the proxy's span.
    #[arg(long, env = "PORTICO_OTLP_ENDPOINT", value_name = "URL")]
    pub otlp_endpoint: Option<String>,
    /// The `service.name` of the exported spans.
    #[arg(
        long,
        env = "PORTICO_OTLP_SERVICE_NAME",
        value_name = "NAME",
        default_value = "portico"
    )]
    pub otlp_service_name: String,
    /// Share of new traces recorded, 0 to 1 (a caller's `traceparent`
    /// sampled flag always wins).
    #[arg(long, value_name = "RATIO", default_value_t = 1.0)]
    pub otlp_sampling_ratio: f64,
    /// Longest a finished span waits before its batch is sent.
    #[arg(long, value_name = "DURATION", default_value = "5s", value_parser = humantime::parse_duration)]
    pub otlp_flush_interval: Duration,
}

impl OtlpArgs {
    /// The tracer for the proxy and its exporter task, when configured.
    pub(crate) fn start(
        &self,
        registry: &mut Registry,
    ) -> anyhow::Result<Option<(Tracer, TraceExporter)>> {
        let Some(endpoint) = &self.otlp_endpoint else {
            return Ok(None);
        };
        let mut config = OtlpConfig::new(endpoint.as_str());
        config.service_name.clone_from(&self.otlp_service_name);
        config.sampling_ratio = self.otlp_sampling_ratio;
        config.flush_interval = self.otlp_flush_interval;
        let started = portico_observe::trace::start(config, TraceMetrics::register(registry))
            .context("--otlp-endpoint")?;
        Ok(Some(started))
    }
}
