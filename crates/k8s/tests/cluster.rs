//! Against a real API server, gated on `PORTICO_TEST_KUBECONFIG` (skipped
//! with a message when unset): installs the Gateway API CRDs from
//! ../shared/gateway-api/crds/ and Portico's CRD, applies the upstream
//! conformance base manifests, runs two controller instances (each with its
//! own client and Lease identity) and checks statuses, the Gateway Service,
//! the LB IPAM assignment and leader hand-over.

use std::path::PathBuf;
use std::time::Duration;

use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::Service;
use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind, Patch, PatchParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::discovery::{Discovery, Scope};
use kube::{Client, Config as KubeConfig};
use portico_k8s::controller::{Config, Controller, null_data_plane};
use portico_k8s::lease::{self, Leadership, LeaseConfig};
use portico_k8s::metrics::Metrics;
use serde_json::{Value, json};
use tokio::sync::watch;

const DEADLINE: Duration = Duration::from_secs(120);
const NS: &str = "gateway-conformance-infra";
const LEASE_NS: &str = "default";

fn shared() -> PathBuf {
    std::env::var_os("PORTICO_SHARED_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared"))
}

fn docs(text: &str) -> Vec<Value> {
    text.split("\n---")
        .filter(|d| {
            d.lines()
                .any(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
        })
        .filter_map(|d| serde_saphyr::from_str::<Value>(d).ok())
        .filter(|v| v.is_object())
        .collect()
}

async fn client(path: &str) -> Client {
    let kubeconfig = Kubeconfig::read_from(path).expect("PORTICO_TEST_KUBECONFIG readable");
    let config = KubeConfig::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
        .await
        .expect("kubeconfig valid");
    Client::try_from(config).expect("client")
}

/// Server-side applies every document (kinds resolved by discovery).
async fn apply_all(client: &Client, documents: &[Value]) {
    let discovery = Discovery::new(client.clone())
        .run()
        .await
        .expect("discovery");
    for doc in documents {
        let api_version = doc["apiVersion"].as_str().unwrap_or_default();
        let kind = doc["kind"].as_str().unwrap_or_default();
        let (group, version) = api_version.split_once('/').unwrap_or(("", api_version));
        let gvk = GroupVersionKind::gvk(group, version, kind);
        let Some((resource, caps)) = discovery.resolve_gvk(&gvk) else {
            panic!("{api_version} {kind} is not served");
        };
        let name = doc["metadata"]["name"].as_str().unwrap_or_default();
        let api: Api<DynamicObject> = match caps.scope {
            Scope::Namespaced => Api::namespaced_with(
                client.clone(),
                doc["metadata"]["namespace"].as_str().unwrap_or("default"),
                &resource,
            ),
            Scope::Cluster => Api::all_with(client.clone(), &resource),
        };
        api.patch(
            name,
            &PatchParams::apply("portico-test").force(),
            &Patch::Apply(doc),
        )
        .await
        .unwrap_or_else(|e| panic!("applying {kind} {name}: {e}"));
    }
}

async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let until = tokio::time::Instant::now() + DEADLINE;
    while tokio::time::Instant::now() < until {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    panic!("timed out waiting for: {what}");
}

struct Instance {
    leadership: Leadership,
    stop: watch::Sender<bool>,
    metrics: Metrics,
}

async fn start(path: &str, identity: &str) -> Instance {
    let client = client(path).await;
    let leadership = Leadership::default();
    let metrics = Metrics::default();
    let (stop, stop_rx) = watch::channel(false);
    let cfg = LeaseConfig {
        name: "portico-test".into(),
        duration: Duration::from_secs(6),
        renew: Duration::from_secs(2),
        ..LeaseConfig::new(LEASE_NS, identity)
    };
    tokio::spawn(lease::run(
        client.clone(),
        cfg,
        leadership.clone(),
        stop_rx.clone(),
    ));
    let controller = Controller::new(
        client,
        Config::default(),
        leadership.clone(),
        metrics.clone(),
    );
    tokio::spawn(controller.run(null_data_plane(), stop_rx));
    Instance {
        leadership,
        stop,
        metrics,
    }
}

fn condition<'a>(status: &'a Value, type_: &str) -> Option<&'a Value> {
    status["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["type"] == type_)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn against_a_real_cluster() {
    let Ok(path) = std::env::var("PORTICO_TEST_KUBECONFIG") else {
        println!("skipped: set PORTICO_TEST_KUBECONFIG to run the Kubernetes integration suite");
        return;
    };
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let admin = client(&path).await;

    // CRDs: Gateway API (experimental channel) and Portico's own.
    let crds = std::fs::read_to_string(shared().join("gateway-api/crds/experimental-install.yaml"))
        .expect("Gateway API CRDs");
    let mut crd_docs = docs(&crds);
    crd_docs.extend(docs(include_str!(
        "../../../deploy/crds/portico.dev_loadbalancerippools.yaml"
    )));
    apply_all(&admin, &crd_docs).await;
    eventually("CRDs served", || {
        let admin = admin.clone();
        async move {
            let d = portico_k8s::discovery::discover(&admin).await;
            d.is_ok_and(|d| {
                d.served.contains_key("Gateway") && d.served.contains_key("LoadBalancerIPPool")
            })
        }
    })
    .await;

    // The upstream base manifests, a GatewayClass for Portico, a pool.
    let base =
        std::fs::read_to_string(shared().join("gateway-api/conformance/base/manifests.yaml"))
            .expect("conformance base")
            .replace("{GATEWAY_CLASS_NAME}", "portico");
    let mut objects = vec![
        json!({"apiVersion": "gateway.networking.k8s.io/v1", "kind": "GatewayClass", "metadata": {"name": "portico"},
            "spec": {"controllerName": portico_translate::CONTROLLER_NAME}}),
        json!({"apiVersion": "portico.dev/v1alpha1", "kind": "LoadBalancerIPPool", "metadata": {"name": "portico-test"},
            "spec": {"blocks": [{"cidr": "198.51.100.0/24"}]}}),
    ];
    objects.extend(docs(&base));
    apply_all(&admin, &objects).await;

    let a = start(&path, "replica-a").await;
    let b = start(&path, "replica-b").await;

    let gateways = ApiResource::from_gvk(&GroupVersionKind::gvk(
        "gateway.networking.k8s.io",
        "v1",
        "Gateway",
    ));
    let gw_api: Api<DynamicObject> = Api::namespaced_with(admin.clone(), NS, &gateways);
    let svc_api: Api<Service> = Api::namespaced(admin.clone(), NS);

    // The Gateway Service exists, is owned by the Gateway and has an IPAM address.
    eventually("Gateway Service with a pool address", || {
        let svc_api = svc_api.clone();
        async move {
            let Ok(Some(svc)) = svc_api.get_opt("portico-same-namespace").await else {
                return false;
            };
            let owned = svc
                .metadata
                .owner_references
                .iter()
                .flatten()
                .any(|o| o.kind == "Gateway" && o.name == "same-namespace");
            let ip = svc
                .status
                .and_then(|s| s.load_balancer?.ingress?.first()?.ip.clone());
            owned && ip.is_some_and(|ip| ip.starts_with("198.51.100."))
        }
    })
    .await;

    // The Gateway: Accepted, Programmed, with that address.
    eventually(
        "Gateway Accepted and Programmed with the Service address",
        || {
            let gw_api = gw_api.clone();
            async move {
                let Ok(gw) = gw_api.get("same-namespace").await else {
                    return false;
                };
                let status = gw.data.get("status").cloned().unwrap_or_default();
                let ok = |t| condition(&status, t).is_some_and(|c| c["status"] == "True");
                let has_address = status["addresses"][0]["value"]
                    .as_str()
                    .is_some_and(|v| v.starts_with("198.51.100."));
                ok("Accepted") && ok("Programmed") && has_address
            }
        },
    )
    .await;

    // Exactly one leader; it wrote, the follower did not.
    eventually("one leader", || {
        let (la, lb) = (a.leadership.is_leader(), b.leadership.is_leader());
        async move { la != lb }
    })
    .await;
    let (leader, follower) = if a.leadership.is_leader() {
        (&a, &b)
    } else {
        (&b, &a)
    };
    assert!(leader.metrics.status_writes.get() > 0);
    assert_eq!(follower.metrics.status_writes.get(), 0);

    // Idle: no status writes for a while.
    let before = leader.metrics.status_writes.get();
    tokio::time::sleep(Duration::from_secs(10)).await;
    assert_eq!(
        leader.metrics.status_writes.get(),
        before,
        "status writes while idle"
    );

    // Hand-over: the leader stops; the other takes the Lease and writes.
    let _ = leader.stop.send(true);
    eventually("the follower takes over", || {
        let l = follower.leadership.is_leader();
        async move { l }
    })
    .await;
    let leases: Api<Lease> = Api::namespaced(admin.clone(), LEASE_NS);
    let lease = leases.get("portico-test").await.expect("lease");
    let holder = lease
        .spec
        .and_then(|s| s.holder_identity)
        .unwrap_or_default();
    assert!(holder == "replica-a" || holder == "replica-b");
    // A new Gateway after the hand-over gets its status from the new leader.
    apply_all(
        &admin,
        &[json!({"apiVersion": "gateway.networking.k8s.io/v1", "kind": "Gateway",
            "metadata": {"name": "after-handover", "namespace": NS},
            "spec": {"gatewayClassName": "portico", "listeners": [{"name": "http", "port": 8080, "protocol": "HTTP"}]}})],
    )
    .await;
    eventually("status from the new leader", || {
        let gw_api = gw_api.clone();
        async move {
            let Ok(gw) = gw_api.get("after-handover").await else {
                return false;
            };
            let status = gw.data.get("status").cloned().unwrap_or_default();
            condition(&status, "Accepted").is_some_and(|c| c["status"] == "True")
        }
    })
    .await;
    assert!(follower.metrics.status_writes.get() > 0);
    let _ = follower.stop.send(true);
}
