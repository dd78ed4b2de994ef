//! Against a real API server, gated on `PORTICO_TEST_KUBECONFIG` (skipped
//! with a message when unset): installs the Gateway API CRDs from
//! ../shared/gateway-api/crds/ and Portico's CRD, applies the upstream
//! conformance base manifests, runs two `portico run --kubernetes` processes
//! (each with its own Lease identity, admin server and bind address) and
//! checks statuses, the Gateway Service, the LB IPAM assignment, that an idle
//! cluster causes no status writes, and leader hand-over when the leader is
//! killed. It prints two figures: status writes while idle and the time from
//! creating a Gateway to it being Programmed.
//!
//! The Gateways of the base manifests listen on port 80: run as root (or
//! with CAP_NET_BIND_SERVICE) so the data plane can bind it; otherwise
//! Programmed is not asserted (the test says so).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::Service;
use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind, Patch, PatchParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::discovery::{Discovery, Scope};
use kube::{Client, Config as KubeConfig};
use serde_json::{Value, json};

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

/// One `portico run --kubernetes` process.
struct Replica {
    child: Child,
    admin: String,
    _dir: tempfile::TempDir,
}

impl Replica {
    async fn start(kubeconfig: &str, identity: &str, bind: &str) -> Replica {
        let dir = tempfile::tempdir().expect("tempdir");
        let addr_file = dir.path().join("admin-addr");
        let child = Command::new(env!("CARGO_BIN_EXE_portico"))
            .args(["run", "--kubernetes", "--identity", identity])
            .args(["--lease-namespace", LEASE_NS, "--lease-duration", "6s"])
            .args(["--bind-address", bind, "--admin", "127.0.0.1:0"])
            .args(["--hubble-addr", "127.0.0.1:0"])
            .arg("--admin-addr-file")
            .arg(&addr_file)
            .env("KUBECONFIG", kubeconfig)
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("starting portico");
        let admin = wait_for_file(&addr_file).await;
        Replica {
            child,
            admin,
            _dir: dir,
        }
    }

    /// A sample of `name` from the admin server's /metrics (None when the
    /// process does not answer).
    async fn metric(&self, name: &str) -> Option<f64> {
        let body = http_get(&self.admin, "/metrics").await?;
        body.lines()
            .filter(|l| !l.starts_with('#'))
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
    }

    async fn is_leader(&self) -> bool {
        self.metric("portico_kubernetes_leader").await == Some(1.0)
    }

    async fn status_writes(&self) -> f64 {
        self.metric("portico_kubernetes_status_writes_total")
            .await
            .unwrap_or(0.0)
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Replica {
    fn drop(&mut self) {
        self.kill();
    }
}

async fn wait_for_file(path: &Path) -> String {
    let until = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(s) = std::fs::read_to_string(path)
            && !s.trim().is_empty()
        {
            return s.trim().to_string();
        }
        assert!(
            Instant::now() < until,
            "portico did not start its admin server"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A minimal HTTP/1.0 GET against the admin server.
async fn http_get(addr: &str, path: &str) -> Option<String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(addr).await.ok()?;
    s.write_all(format!("GET {path} HTTP/1.0\r\nHost: admin\r\n\r\n").as_bytes())
        .await
        .ok()?;
    let mut out = Vec::new();
    s.read_to_end(&mut out).await.ok()?;
    let text = String::from_utf8_lossy(&out).into_owned();
    text.split_once("\r\n\r\n").map(|(_, b)| b.to_string())
}

fn running_as_root() -> bool {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
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

    let mut a = Replica::start(&path, "replica-a", "127.0.0.2").await;
    let mut b = Replica::start(&path, "replica-b", "127.0.0.3").await;
    let root = running_as_root();
    if !root {
        println!("note: not root, the data plane cannot bind port 80; Programmed is not asserted");
    }

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

    // The Gateway: Accepted, Programmed (as root), with that address.
    eventually(
        "Gateway Accepted (and Programmed) with the Service address",
        || {
            let gw_api = gw_api.clone();
            async move {
                gateway_ready(&gw_api, "same-namespace", root)
                    .await
                    .is_some()
            }
        },
    )
    .await;

    // Exactly one leader; it wrote, the follower did not.
    let until = Instant::now() + DEADLINE;
    let (la, lb) = loop {
        let (la, lb) = (a.is_leader().await, b.is_leader().await);
        if la != lb {
            break (la, lb);
        }
        assert!(
            Instant::now() < until,
            "no single leader (a: {la}, b: {lb})"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    assert!(la ^ lb);
    let (leader, follower) = if la {
        (&mut a, &mut b)
    } else {
        (&mut b, &mut a)
    };
    assert!(leader.status_writes().await > 0.0);
    assert_eq!(follower.status_writes().await, 0.0, "the follower wrote");

    // Idle: no status writes for 30 s (figure).
    let before = leader.status_writes().await;
    tokio::time::sleep(Duration::from_secs(30)).await;
    let idle_writes = leader.status_writes().await - before;
    println!("figure: status writes while idle: {idle_writes} in 30 s");
    assert_eq!(idle_writes, 0.0, "status writes while idle");

    // Figure: time from creating a Gateway to it being Programmed (Accepted
    // when not root) with an address.
    let created = Instant::now();
    apply_all(
        &admin,
        &[json!({"apiVersion": "gateway.networking.k8s.io/v1", "kind": "Gateway",
            "metadata": {"name": "timing-probe", "namespace": NS},
            "spec": {"gatewayClassName": "portico", "listeners": [{"name": "http", "port": 8090, "protocol": "HTTP"}]}})],
    )
    .await;
    eventually("the new Gateway is ready", || {
        let gw_api = gw_api.clone();
        async move { gateway_ready(&gw_api, "timing-probe", true).await.is_some() }
    })
    .await;
    println!(
        "figure: Gateway create -> Programmed with an address: {} ms",
        created.elapsed().as_millis()
    );

    // Hand-over: the leader process is killed (no Lease release); the other
    // takes the Lease once it expires and writes.
    leader.kill();
    eventually("the follower takes over", || {
        let follower = &*follower;
        async move { follower.is_leader().await }
    })
    .await;
    let leases: Api<Lease> = Api::namespaced(admin.clone(), LEASE_NS);
    let lease = leases.get("portico-controller").await.expect("lease");
    let holder = lease
        .spec
        .and_then(|s| s.holder_identity)
        .unwrap_or_default();
    assert!(
        holder == "replica-a" || holder == "replica-b",
        "holder {holder}"
    );
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
    assert!(follower.status_writes().await > 0.0);
    follower.kill();
    for name in ["timing-probe", "after-handover"] {
        let _ = gw_api.delete(name, &Default::default()).await;
    }
}

/// The Gateway's status when it is Accepted, has an address and (when
/// `programmed`) is Programmed.
async fn gateway_ready(api: &Api<DynamicObject>, name: &str, programmed: bool) -> Option<Value> {
    let gw = api.get(name).await.ok()?;
    let status = gw.data.get("status").cloned().unwrap_or_default();
    let ok = |t| condition(&status, t).is_some_and(|c| c["status"] == "True");
    let has_address = status["addresses"][0]["value"]
        .as_str()
        .is_some_and(|v| v.starts_with("198.51.100."));
    (ok("Accepted") && (!programmed || ok("Programmed")) && has_address).then_some(status)
}
