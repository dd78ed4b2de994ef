//! What `portico run` records about traffic, in either mode (directory or
//! Kubernetes): the flow ring (or none with `--flows off`), the access log
//! written from it, OTLP traces, and the Hubble observer API serving it.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use portico_observe::AdminSource;
use portico_observe::accesslog::{AccessLog, Destination};
use portico_observe::flow::{FlowRing, FlowSink, HubbleMetrics, RingConfig};
use portico_observe::hubble::{HubbleServer, ServerOptions};
use portico_observe::trace::{TraceExporter, Tracer};
use portico_observe::ui::WithFlows;
use portico_proxy::ProxyConfig;
use prometheus_client::registry::Registry;

use crate::cmd::run::{Args, FlowRecording};

/// The running telemetry of one `portico run`.
pub struct Telemetry {
    ring: FlowRing,
    flows: FlowRecording,
    tracing: Option<(Tracer, TraceExporter)>,
    access_log: Option<AccessLog>,
    hubble: Option<HubbleServer>,
}

impl Telemetry {
    /// The ring, the tracer and the access log from `args` (their metrics
    /// registered in `registry`); [`Telemetry::serve_hubble`] starts the API.
    pub async fn start(args: &Args, registry: &mut Registry) -> anyhow::Result<Telemetry> {
        anyhow::ensure!(
            args.flows == FlowRecording::On || args.access_log.is_none(),
            "--access-log needs --flows on (the access log is written from the flows)"
        );
        let ring = FlowRing::new(RingConfig {
            metrics: Some(HubbleMetrics::register(registry)),
            ..RingConfig::default()
        })
        .context("creating the flow ring")?;
        let tracing = args.otlp.start(registry)?;
        let access_log = match &args.access_log {
            Some(dest) => Some(
                AccessLog::start(
                    &ring,
                    Destination::parse(dest),
                    match &args.access_log_fields {
                        Some(list) => portico_observe::accesslog::parse_fields(list)
                            .context("--access-log-fields")?,
                        None => portico_observe::accesslog::ALL_FIELDS.to_vec(),
                    },
                )
                .await
                .context("starting the access log")?,
            ),
            None => None,
        };
        Ok(Telemetry {
            ring,
            flows: args.flows,
            tracing,
            access_log,
            hubble: None,
        })
    }

    /// Where flows go: the ring, or nowhere with `--flows off`.
    pub fn sink(&self) -> FlowSink {
        match self.flows {
            FlowRecording::On => self.ring.sink(),
            FlowRecording::Off => FlowSink::disabled(),
        }
    }

    /// The proxy configuration with this telemetry's flow sink and tracer.
    pub fn proxy_config(&self) -> ProxyConfig {
        ProxyConfig {
            tracer: self.tracing.as_ref().map(|(tracer, _)| tracer.clone()),
            flows: self.sink(),
            ..ProxyConfig::default()
        }
    }

    /// `inner` plus the flow endpoints of the web UI.
    pub fn admin_source(&self, inner: Arc<dyn AdminSource>) -> Arc<WithFlows> {
        Arc::new(WithFlows::new(inner, self.ring.clone()))
    }

    /// Starts the Hubble observer API on `addr`; when the address cannot be
    /// bound, Portico runs without it (logged).
    pub async fn serve_hubble(&mut self, addr: SocketAddr) {
        match portico_observe::hubble::bind(addr, self.ring.clone(), ServerOptions::default()).await
        {
            Ok(server) => self.hubble = Some(server),
            Err(e) => tracing::warn!(error = %e, "Hubble observer API off"),
        }
    }

    /// Flushes traces and the access log, stops the Hubble API.
    pub async fn shutdown(self) {
        if let Some((_, exporter)) = self.tracing {
            exporter.shutdown().await;
        }
        if let Some(log) = self.access_log {
            log.shutdown().await;
        }
        if let Some(hubble) = self.hubble
            && let Err(e) = hubble.shutdown().await
        {
            tracing::warn!(error = %e, "Hubble observer API shutdown");
        }
    }
}
