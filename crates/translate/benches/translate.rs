//! Translation time and memory for 1k and 10k HTTPRoutes across a few
//! Gateways, each route's backend one of 100 Services with endpoints. Not a test: `cargo bench -p portico-translate` prints figures.
//! Memory is the resident-set growth read from /proc (Linux), which includes
//! allocator slack; it is a rough figure, not a precise peak.

use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{ServicePort, ServiceSpec};
use k8s_openapi::api::discovery::v1::{Endpoint, EndpointPort};
use portico_model::Snapshot;
use portico_model::core::{EndpointSlice, ObjectMeta, Service};
use portico_model::gateway::{
    Gateway, GatewayClass, GatewayClassSpec, GatewayListeners, GatewayListenersAllowedRoutes,
    GatewayListenersAllowedRoutesNamespaces, GatewayListenersAllowedRoutesNamespacesFrom,
    GatewaySpec, HttpRoute, HttpRouteParentRefs, HttpRouteRules, HttpRouteRulesBackendRefs,
    HttpRouteRulesMatches, HttpRouteRulesMatchesPath, HttpRouteRulesMatchesPathType, HttpRouteSpec,
};
use portico_translate::{Options, translate};

const GATEWAYS: usize = 4;
const SERVICES: usize = 100;

fn meta(namespace: Option<&str>, name: &str) -> ObjectMeta {
    ObjectMeta {
        name: Some(name.to_string()),
        namespace: namespace.map(str::to_string),
        generation: Some(1),
        ..ObjectMeta::default()
    }
}

fn snapshot(routes: usize) -> Snapshot {
    let class = GatewayClass {
        metadata: meta(None, "portico"),
        spec: GatewayClassSpec {
            controller_name: portico_translate::CONTROLLER_NAME.to_string(),
            ..GatewayClassSpec::default()
        },
        status: None,
    };
    let gateways = (0..GATEWAYS)
        .map(|g| Gateway {
            metadata: meta(Some("infra"), &format!("gw-{g}")),
            spec: GatewaySpec {
                gateway_class_name: "portico".to_string(),
                listeners: vec![GatewayListeners {
                    name: "http".to_string(),
                    port: 80,
                    protocol: "HTTP".to_string(),
                    allowed_routes: Some(GatewayListenersAllowedRoutes {
                        namespaces: Some(GatewayListenersAllowedRoutesNamespaces {
                            from: Some(GatewayListenersAllowedRoutesNamespacesFrom::All),
                            selector: None,
                        }),
                        kinds: None,
                    }),
                    ..GatewayListeners::default()
                }],
                ..GatewaySpec::default()
            },
            status: None,
        })
        .collect();
    let http_routes = (0..routes)
        .map(|i| HttpRoute {
            metadata: meta(Some(&format!("app-{}", i % 50)), &format!("route-{i}")),
            spec: HttpRouteSpec {
                hostnames: Some(vec![format!("host-{}.example.com", i % 200)]),
                parent_refs: Some(vec![HttpRouteParentRefs {
                    name: format!("gw-{}", i % GATEWAYS),
                    namespace: Some("infra".to_string()),
                    ..HttpRouteParentRefs::default()
                }]),
                rules: Some(vec![HttpRouteRules {
                    matches: Some(vec![HttpRouteRulesMatches {
                        path: Some(HttpRouteRulesMatchesPath {
                            r#type: Some(HttpRouteRulesMatchesPathType::PathPrefix),
                            value: Some(format!("/svc-{i}")),
                        }),
                        ..HttpRouteRulesMatches::default()
                    }]),
                    backend_refs: Some(vec![HttpRouteRulesBackendRefs {
                        name: format!("svc-{}", i % SERVICES),
                        port: Some(8080),
                        ..HttpRouteRulesBackendRefs::default()
                    }]),
                    ..HttpRouteRules::default()
                }]),
                ..HttpRouteSpec::default()
            },
            status: None,
        })
        .collect();
    let services = (0..SERVICES)
        .map(|i| Service {
            metadata: meta(Some(&format!("app-{}", i % 50)), &format!("svc-{i}")),
            spec: Some(ServiceSpec {
                ports: Some(vec![ServicePort {
                    port: 8080,
                    ..ServicePort::default()
                }]),
                ..ServiceSpec::default()
            }),
            status: None,
        })
        .collect();
    let endpoint_slices = (0..SERVICES)
        .map(|i| {
            let mut metadata = meta(Some(&format!("app-{}", i % 50)), &format!("svc-{i}-abcde"));
            metadata.labels =
                Some([("kubernetes.io/service-name".to_string(), format!("svc-{i}"))].into());
            EndpointSlice {
                metadata,
                address_type: "IPv4".to_string(),
                endpoints: (0..3)
                    .map(|e| Endpoint {
                        addresses: vec![format!("10.{}.{}.{}", i / 256, i % 256, e + 1)],
                        ..Endpoint::default()
                    })
                    .collect(),
                ports: Some(vec![EndpointPort {
                    port: Some(8080),
                    ..EndpointPort::default()
                }]),
            }
        })
        .collect();
    Snapshot {
        gateway_classes: vec![class],
        gateways,
        http_routes,
        services,
        endpoint_slices,
        ..Snapshot::default()
    }
}

/// Resident set size in KiB (Linux), 0 elsewhere.
fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

fn main() {
    let options = Options::default();
    for routes in [1_000usize, 10_000] {
        let snapshot = snapshot(routes);
        let before = rss_kib();
        let start = Instant::now();
        let output = translate(&snapshot, &options);
        let first = start.elapsed();
        let grew = rss_kib().saturating_sub(before);
        let runs = 5;
        let mut best = Duration::MAX;
        for _ in 0..runs {
            let start = Instant::now();
            let again = translate(&snapshot, &options);
            best = best.min(start.elapsed());
            std::hint::black_box(again);
        }
        println!(
            "translate {routes:>6} HTTPRoutes / {GATEWAYS} Gateways / {SERVICES} Services: first {first:?}, best of {runs} {best:?}, RSS +{grew} KiB, {} binds, {} clusters, {} statuses",
            output.ir.binds.len(),
            output.ir.clusters.len(),
            output.statuses.objects.len()
        );
    }
}
