//! `portico run --kubernetes`: the Kubernetes API server as the source
//! (in-cluster configuration, or KUBECONFIG). The same translation and data
//! plane as standalone mode; the elected leader writes statuses, Gateway
//! Services and LB IPAM results.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::Context;
use portico_k8s::controller::{Config, Controller, DataPlane, Published};
use portico_k8s::lease::{self, Leadership, LeaseConfig};
use portico_k8s::metrics::Metrics;
use portico_observe::admin::{AdminSource, ObjectQuery, QueryError};
use portico_observe::{AdminServer, ConfigMetrics};
use portico_proxy::Proxy;
use portico_translate::Options;
use prometheus_client::registry::Registry;
use serde_json::{Value, json};
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::watch;

use crate::telemetry::Telemetry;

/// Flags of the Kubernetes mode (used with `--kubernetes`).
#[derive(clap::Args, Debug, Clone)]
#[group(id = "kubernetes-flags")]
pub struct Args {
    /// Namespace of the leader-election Lease.
    #[arg(long, env = "POD_NAMESPACE", default_value = "portico-system")]
    pub lease_namespace: String,
    /// This replica's identity in the Lease (the pod name).
    #[arg(long, env = "POD_NAME", default_value = "portico")]
    pub identity: String,
    /// How long a Lease is valid without renewal.
    #[arg(long, default_value = "15s", value_parser = humantime::parse_duration)]
    pub lease_duration: Duration,
    /// Address the listeners bind in the pod.
    #[arg(long, default_value = "0.0.0.0")]
    pub bind_address: IpAddr,
    /// Labels selecting the Portico pods (the Gateway Services' selector), `k=v,k=v`.
    #[arg(long, default_value = "app.kubernetes.io/name=portico")]
    pub pod_selector: String,
    /// Do not create a LoadBalancer Service per Gateway.
    #[arg(long)]
    pub no_gateway_services: bool,
    /// Do not assign load-balancer IPs (leave it to another LB IPAM).
    #[arg(long)]
    pub no_ipam: bool,
}

fn selector(s: &str) -> anyhow::Result<BTreeMap<String, String>> {
    s.split(',')
        .filter(|p| !p.trim().is_empty())
        .map(|p| {
            p.split_once('=')
                .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
                .with_context(|| format!("--pod-selector: {p:?} is not key=value"))
        })
        .collect()
}

/// Admin view of the Kubernetes mode.
struct KubeAdmin {
    published: watch::Receiver<Arc<Published>>,
    /// Live watch health: readiness drops while the API server is unreachable.
    reflectors: portico_k8s::reflectors::Reflectors,
    applied: AtomicBool,
}

impl AdminSource for KubeAdmin {
    fn ready(&self) -> bool {
        self.applied.load(Ordering::SeqCst) && self.reflectors.ready()
    }

    fn config_dump(&self) -> Value {
        portico_observe::redact::config_dump(&self.published.borrow().ir)
    }

    fn objects(&self, query: &ObjectQuery) -> Result<Value, QueryError> {
        let published = self.published.borrow().clone();
        let items: Vec<Value> = published
            .statuses
            .objects
            .iter()
            .filter(|(key, _)| key.split('/').next() == Some(query.kind.as_str()))
            .map(|(key, status)| json!({"key": key, "status": status}))
            .collect();
        Ok(json!({"apiVersion": "v1", "kind": "List", "items": items}))
    }

    fn problems(&self) -> Value {
        json!({"missingKinds": self.published.borrow().missing})
    }
}

pub async fn main(
    run: &super::run::Args,
    mut registry: Registry,
    mut telemetry: Telemetry,
) -> anyhow::Result<ExitCode> {
    let args = &run.kube;
    let client = kube::Client::try_default()
        .await
        .context("loading the Kubernetes client configuration (in-cluster or KUBECONFIG)")?;
    let _config_metrics = ConfigMetrics::register(&mut registry);
    let metrics = Metrics::register(&mut registry);
    let metrics_leader = metrics.leader.clone();
    let proxy = Proxy::new(telemetry.proxy_config());
    crate::proxy_metrics::register(&mut registry, proxy.metrics().clone());

    let leadership = Leadership::default();
    let controller = Controller::new(
        client.clone(),
        Config {
            options: Options::default(),
            bind_ip: args.bind_address,
            pod_selector: selector(&args.pod_selector)?,
            gateway_services: !args.no_gateway_services,
            ipam: !args.no_ipam,
            ..Config::default()
        },
        leadership.clone(),
        metrics,
    );
    let source = Arc::new(KubeAdmin {
        published: controller.subscribe(),
        reflectors: controller.reflectors().clone(),
        applied: AtomicBool::new(false),
    });
    let admin_server = AdminServer::bind(
        run.admin.addr,
        telemetry.admin_source(source.clone()),
        Arc::new(registry),
    )
    .await
    .context("starting the admin server")?;
    tracing::info!(address = %admin_server.local_addr(), "admin server listening");
    if let Some(file) = &run.admin_addr_file {
        super::run::write_atomically(file, &admin_server.local_addr().to_string())?;
    }
    telemetry.serve_hubble(run.hubble_addr).await;

    let (stop_tx, stop_rx) = watch::channel(false);
    let lease_cfg = LeaseConfig {
        duration: args.lease_duration,
        renew: args.lease_duration / 3,
        ..LeaseConfig::new(&args.lease_namespace, &args.identity)
    };
    let leader_gauge = tokio::spawn(mirror_leadership(
        leadership.clone(),
        metrics_leader,
        stop_rx.clone(),
    ));
    let lease_task = tokio::spawn(lease::run(client, lease_cfg, leadership, stop_rx.clone()));

    let data_plane: DataPlane = {
        let proxy = proxy.clone();
        let source = source.clone();
        Arc::new(move |ir, mut statuses| {
            let proxy = proxy.clone();
            let source = source.clone();
            Box::pin(async move {
                let report = proxy.apply(ir).await;
                crate::feedback::apply(&mut statuses, &report);
                source.applied.store(true, Ordering::SeqCst);
                statuses
            })
        })
    };
    let controller_task = tokio::spawn(controller.run(data_plane, stop_rx));

    let mut sigterm = signal(SignalKind::terminate()).context("installing SIGTERM handler")?;
    tokio::select! {
        _ = tokio::signal::ctrl_c() => tracing::info!("SIGINT: shutting down"),
        _ = sigterm.recv() => tracing::info!("SIGTERM: shutting down"),
    }
    let _ = stop_tx.send(true);
    let _ = tokio::time::timeout(Duration::from_secs(5), lease_task).await;
    leader_gauge.abort();
    let _ = tokio::time::timeout(Duration::from_secs(5), controller_task).await;
    proxy.shutdown(run.drain_timeout).await;
    telemetry.shutdown().await;
    admin_server.shutdown(Duration::from_secs(2)).await;
    tracing::info!("stopped");
    Ok(ExitCode::SUCCESS)
}

/// Keeps the `portico_kubernetes_leader` gauge equal to this replica's
/// leadership (checked every second: leadership also ends by expiry alone).
async fn mirror_leadership(
    leadership: Leadership,
    gauge: prometheus_client::metrics::gauge::Gauge,
    mut stop: watch::Receiver<bool>,
) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        gauge.set(i64::from(leadership.is_leader()));
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.changed() => {
                gauge.set(0);
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pod_selector_parses() {
        let s = selector("app=portico, tier=edge").expect("selector");
        assert_eq!(s.get("tier").map(String::as_str), Some("edge"));
        assert!(selector("nope").is_err());
    }
}
