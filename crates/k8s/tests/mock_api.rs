//! The Kubernetes layer against an in-memory API server: discovery with a
//! missing CRD, watch → snapshot, status apply only on semantic change,
//! lease loss stopping writes.

mod common;

use std::time::Duration;

use common::*;
use portico_k8s::controller::{Config, Controller, null_data_plane};
use portico_k8s::lease::{self, Leadership, LeaseConfig};
use portico_k8s::metrics::Metrics;
use serde_json::json;

const DEADLINE: Duration = Duration::from_secs(10);

fn mock() -> Mock {
    Mock::new(&[
        ("gatewayclasses", "GatewayClass"),
        ("gateways", "Gateway"),
        ("httproutes", "HTTPRoute"),
    ])
}

fn controller(m: &Mock, leadership: Leadership) -> (Controller, Metrics) {
    let metrics = Metrics::default();
    let config = Config {
        debounce: Duration::from_millis(10),
        ..Config::default()
    };
    (
        Controller::new(m.client(), config, leadership, metrics.clone()),
        metrics,
    )
}

#[tokio::test]
async fn discovery_disables_only_missing_crds() {
    let m = mock();
    let (c, _) = controller(&m, Leadership::default());
    let found = c.discover().await.expect("discovery");
    assert_eq!(found.served.get("Gateway"), Some(&"v1"));
    assert_eq!(found.served.get("Service"), Some(&"v1"));
    assert!(found.missing.contains_key("GRPCRoute"));
    assert!(found.missing.contains_key("LoadBalancerIPPool"));
    let watched = c.reflectors().watched();
    assert!(watched.contains_key("Gateway") && !watched.contains_key("GRPCRoute"));

    // The CRD gets installed later: the next discovery round picks it up.
    m.state
        .lock()
        .gateway_kinds
        .push(("grpcroutes", "GRPCRoute"));
    let found = c.discover().await.expect("rediscovery");
    assert_eq!(found.served.get("GRPCRoute"), Some(&"v1"));
    assert!(c.reflectors().watched().contains_key("GRPCRoute"));
}

#[tokio::test]
async fn watch_events_reach_the_snapshot() {
    let m = mock();
    m.put(CLASSES, gateway_class());
    let (c, _) = controller(&m, Leadership::default());
    c.discover().await.expect("discovery");
    assert!(
        eventually(DEADLINE, || c.reflectors().snapshot().gateway_classes.len()
            == 1)
        .await
    );
    // Added after the initial list: arrives through the watch.
    m.put(GATEWAYS, gateway("gw"));
    assert!(eventually(DEADLINE, || c.reflectors().snapshot().gateways.len() == 1).await);
    assert!(eventually(DEADLINE, || c.reflectors().ready()).await);
}

#[tokio::test]
async fn statuses_are_applied_only_on_semantic_change() {
    let m = mock();
    m.put(CLASSES, gateway_class());
    m.put(GATEWAYS, gateway("gw"));
    let (c, metrics) = controller(&m, Leadership::always());
    c.discover().await.expect("discovery");
    assert!(eventually(DEADLINE, || c.reflectors().snapshot().gateways.len() == 1).await);
    let dp = null_data_plane();
    c.reconcile(&dp).await;
    let first = metrics.status_writes.get();
    assert!(
        first >= 2,
        "GatewayClass and Gateway statuses written, got {first}"
    );
    let writes = m.writes();
    let gw_write = writes
        .iter()
        .find(|w| w.path.ends_with("/gateways/gw/status"))
        .expect("gateway status patch");
    assert_eq!(gw_write.method, "PATCH");
    assert_eq!(
        gw_write.body["status"]["conditions"][0]["observedGeneration"],
        1
    );
    assert!(gw_write.body["status"]["conditions"][0]["lastTransitionTime"].is_string());
    assert!(
        writes
            .iter()
            .any(|w| w.path.ends_with("/services/portico-gw")),
        "Gateway Service applied"
    );

    // The watch brings the written statuses back; nothing changed: no writes.
    assert!(
        eventually(DEADLINE, || c
            .reflectors()
            .status_of("Gateway", Some("default"), "gw")
            .is_some()
            && c.reflectors().snapshot().services.len() == 1)
        .await
    );
    c.reconcile(&dp).await;
    c.reconcile(&dp).await;
    assert_eq!(
        metrics.status_writes.get(),
        first,
        "idle: zero status writes"
    );
    assert_eq!(metrics.service_writes.get(), 1, "idle: zero Service writes");

    // The Service gets an address: the Gateway's addresses change → one write.
    let mut svc = m.get(SERVICES, "default/portico-gw").expect("service");
    svc["status"] = json!({"loadBalancer": {"ingress": [{"ip": "192.0.2.10"}]}});
    m.put(SERVICES, svc);
    assert!(
        eventually(DEADLINE, || c.reflectors().snapshot().services.iter().any(
            |s| s
                .status
                .as_ref()
                .and_then(|s| s.load_balancer.as_ref())
                .and_then(|l| l.ingress.as_ref())
                .is_some()
        ))
        .await
    );
    c.reconcile(&dp).await;
    assert_eq!(metrics.status_writes.get(), first + 1);
    let gw = m.get(GATEWAYS, "default/gw").expect("gw");
    assert_eq!(gw["status"]["addresses"][0]["value"], "192.0.2.10");
}

#[tokio::test]
async fn losing_the_lease_stops_writes() {
    let m = mock();
    m.put(CLASSES, gateway_class());
    let leadership = Leadership::default();
    let cfg = LeaseConfig {
        duration: Duration::from_secs(3),
        renew: Duration::from_millis(50),
        ..LeaseConfig::new("default", "replica-a")
    };
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let task = tokio::spawn(lease::run(m.client(), cfg, leadership.clone(), stop_rx));
    assert!(
        eventually(DEADLINE, || leadership.is_leader()).await,
        "acquires a free lease"
    );

    // Another replica takes the lease over (fresh renewTime).
    let mut l = m.get(LEASES, "default/portico-controller").expect("lease");
    assert_eq!(l["spec"]["holderIdentity"], "replica-a");
    l["spec"]["holderIdentity"] = json!("replica-b");
    l["spec"]["renewTime"] = json!(k8s_openapi::jiff::Timestamp::now().to_string());
    m.put(LEASES, l);
    assert!(
        eventually(DEADLINE, || !leadership.is_leader()).await,
        "notices the loss"
    );

    let (c, metrics) = controller(&m, leadership.clone());
    c.discover().await.expect("discovery");
    assert!(
        eventually(DEADLINE, || c.reflectors().snapshot().gateway_classes.len()
            == 1)
        .await
    );
    c.reconcile(&null_data_plane()).await;
    assert_eq!(metrics.status_writes.get(), 0, "a follower never writes");
    assert!(m.writes().iter().all(|w| !w.path.contains("/status")));
    let _ = stop_tx.send(true);
    let _ = tokio::time::timeout(DEADLINE, task).await;
}

#[tokio::test]
async fn unreachable_api_keeps_leadership_only_until_the_deadline() {
    // The first round succeeds, then the API server disappears: the replica
    // stops claiming leadership within the lease duration.
    let m = mock();
    let leadership = Leadership::default();
    let cfg = LeaseConfig {
        duration: Duration::from_millis(600),
        renew: Duration::from_millis(50),
        ..LeaseConfig::new("default", "replica-a")
    };
    let (_stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    tokio::spawn(lease::run(m.client(), cfg, leadership.clone(), stop_rx));
    assert!(eventually(DEADLINE, || leadership.is_leader()).await);
    m.state.lock().fail = true;
    let lost_at = std::time::Instant::now();
    assert!(eventually(Duration::from_secs(5), || !leadership.is_leader()).await);
    // Within the lease duration (plus the polling granularity of the check).
    assert!(lost_at.elapsed() < Duration::from_secs(5));
}
