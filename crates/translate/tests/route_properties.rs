//! Property tests for route precedence and hostname intersection.

use std::cmp::Ordering;

use portico_ir::{HeaderMatch, HostMatch, HttpMatch, PathMatch, QueryParamMatch, StringMatch};
use portico_translate::routes::hostnames::intersect;
use portico_translate::routes::precedence::RuleKey;
use portico_translate::routes::view::AgeKey;
use proptest::prelude::*;

// === precedence ===

fn path_strategy() -> impl Strategy<Value = PathMatch> {
    let segs = prop::collection::vec(prop::sample::select(vec!["a", "b", "api", "v1"]), 0..4);
    (0u8..3, segs).prop_map(|(kind, segs)| {
        let p = format!("/{}", segs.join("/"));
        match kind {
            0 => PathMatch::Exact(p),
            1 => PathMatch::Prefix(p),
            _ => PathMatch::Regex(format!("{p}.*")),
        }
    })
}

fn match_strategy() -> impl Strategy<Value = HttpMatch> {
    (path_strategy(), any::<bool>(), 0usize..3, 0usize..3).prop_map(|(path, method, h, q)| {
        HttpMatch {
            path,
            method: method.then(|| "GET".to_string()),
            headers: (0..h)
                .map(|i| HeaderMatch {
                    name: format!("h{i}"),
                    value: StringMatch::Exact("v".into()),
                })
                .collect(),
            query_params: (0..q)
                .map(|i| QueryParamMatch {
                    name: format!("q{i}"),
                    value: StringMatch::Exact("v".into()),
                })
                .collect(),
        }
    })
}

fn age(route: u8, dated: bool) -> AgeKey {
    AgeKey {
        undated: !dated,
        created: dated
            .then(|| {
                serde_json::from_value(serde_json::json!(format!(
                    "2025-01-0{}T00:00:00Z",
                    1 + route % 5
                )))
                .ok()
            })
            .flatten(),
        namespace: format!("ns{}", route % 2),
        name: format!("r{route}"),
    }
}

/// Keys unique by (route, rule index, match index), like a real virtual host.
fn keys_strategy() -> impl Strategy<Value = Vec<RuleKey>> {
    prop::collection::vec((match_strategy(), 0u8..6, any::<bool>()), 1..40).prop_map(|items| {
        items
            .into_iter()
            .enumerate()
            .map(|(i, (m, route, dated))| RuleKey::http(&m, age(route, dated), i, 0))
            .collect()
    })
}

proptest! {
    #[test]
    fn precedence_is_a_strict_total_order(keys in keys_strategy()) {
        for a in &keys {
            for b in &keys {
                let ab = a.cmp(b);
                prop_assert_eq!(ab, b.cmp(a).reverse());
                prop_assert_eq!(ab == Ordering::Equal, std::ptr::eq(a, b) || a == b);
            }
        }
        for a in &keys {
            for b in &keys {
                for c in &keys {
                    if a < b && b < c {
                        prop_assert!(a < c);
                    }
                }
            }
        }
    }

    #[test]
    fn sort_is_independent_of_input_order(keys in keys_strategy(), seed in any::<u64>()) {
        let mut sorted = keys.clone();
        sorted.sort();
        let mut shuffled = keys;
        // Deterministic Fisher-Yates driven by the seed.
        let mut state = seed | 1;
        for i in (1..shuffled.len()).rev() {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let j = (state % (i as u64 + 1)) as usize;
            shuffled.swap(i, j);
        }
        shuffled.sort();
        prop_assert_eq!(sorted, shuffled);
    }

    #[test]
    fn exact_beats_prefix_for_the_same_path(
        a in match_strategy(), b in match_strategy(), ra in 0u8..6, rb in 0u8..6,
    ) {
        let path = match &a.path { PathMatch::Exact(p) | PathMatch::Prefix(p) | PathMatch::Regex(p) => p.clone() };
        let exact = HttpMatch { path: PathMatch::Exact(path.clone()), ..a };
        let prefix = HttpMatch { path: PathMatch::Prefix(path), ..b };
        let ke = RuleKey::http(&exact, age(ra, true), 0, 0);
        let kp = RuleKey::http(&prefix, age(rb, true), 1, 0);
        prop_assert!(ke < kp);
    }

    #[test]
    fn longer_prefix_beats_shorter(
        a in match_strategy(), b in match_strategy(), extra in "[a-z]{1,5}", ra in 0u8..6, rb in 0u8..6,
    ) {
        let short = match &a.path { PathMatch::Exact(p) | PathMatch::Prefix(p) | PathMatch::Regex(p) => p.clone() };
        let long = format!("{}/{extra}", short.trim_end_matches('/'));
        let long_m = HttpMatch { path: PathMatch::Prefix(long), ..a };
        let short_m = HttpMatch { path: PathMatch::Prefix(short), ..b };
        prop_assert!(RuleKey::http(&long_m, age(ra, true), 0, 0) < RuleKey::http(&short_m, age(rb, true), 1, 0));
    }
}

// === hostname intersection ===

const LABELS: [&str; 3] = ["a", "b", "c"];

fn domain_strategy(max: usize) -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(LABELS.to_vec()), 1..=max).prop_map(|l| l.join("."))
}

fn host_strategy() -> impl Strategy<Value = HostMatch> {
    prop_oneof![
        Just(HostMatch::Any),
        domain_strategy(3).prop_map(|d| HostMatch::parse(Some(&d))),
        domain_strategy(2).prop_map(|d| HostMatch::parse(Some(&format!("*.{d}")))),
    ]
}

/// Every concrete host of 1..=4 labels over [`LABELS`]: enough to witness any
/// intersection of the generated patterns (wildcards add at least one label).
fn universe() -> Vec<String> {
    let mut out: Vec<String> = LABELS.iter().map(|s| (*s).to_string()).collect();
    let mut layer = out.clone();
    for _ in 1..4 {
        layer = layer
            .iter()
            .flat_map(|d| LABELS.iter().map(move |l| format!("{l}.{d}")))
            .collect();
        out.extend(layer.iter().cloned());
    }
    out
}

proptest! {
    #[test]
    fn intersection_is_symmetric(a in host_strategy(), b in host_strategy()) {
        prop_assert_eq!(intersect(&a, &b), intersect(&b, &a));
    }

    #[test]
    fn intersection_agrees_with_brute_force(a in host_strategy(), b in host_strategy()) {
        let hosts = universe();
        let both: Vec<&String> = hosts.iter().filter(|h| a.matches(h) && b.matches(h)).collect();
        match intersect(&a, &b) {
            None => prop_assert!(both.is_empty(), "{a} x {b}: none, but {both:?} match both"),
            Some(r) => {
                for h in &hosts {
                    prop_assert_eq!(r.matches(h), a.matches(h) && b.matches(h), "{} x {} = {} on {}", a, b, r, h);
                }
            }
        }
    }
}

// === whole translation: route order in the snapshot does not matter ===

fn route_json(i: usize, path: &str, exact: bool, host: Option<&str>, day: u8) -> serde_json::Value {
    let mut spec = serde_json::json!({
        "parentRefs": [{"name": "gw", "namespace": "infra"}],
        "rules": [{
            "matches": [{"path": {"type": if exact { "Exact" } else { "PathPrefix" }, "value": path}}],
            "backendRefs": [{"name": format!("svc-{}", i % 3), "port": 80}]
        }]
    });
    if let Some(h) = host {
        spec["hostnames"] = serde_json::json!([h]);
    }
    serde_json::json!({
        "apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
        "metadata": {"name": format!("r{i}"), "namespace": if i.is_multiple_of(2) { "infra" } else { "apps" },
                     "creationTimestamp": format!("2025-01-{:02}T00:00:00Z", 1 + day % 28)},
        "spec": spec
    })
}

fn base_snapshot() -> portico_model::Snapshot {
    let class = serde_json::json!({"apiVersion": "gateway.networking.k8s.io/v1", "kind": "GatewayClass",
        "metadata": {"name": "portico"}, "spec": {"controllerName": portico_translate::CONTROLLER_NAME}});
    let gw = serde_json::json!({"apiVersion": "gateway.networking.k8s.io/v1", "kind": "Gateway",
        "metadata": {"name": "gw", "namespace": "infra"},
        "spec": {"gatewayClassName": "portico", "listeners": [
            {"name": "http", "port": 80, "protocol": "HTTP", "allowedRoutes": {"namespaces": {"from": "All"}}},
            {"name": "wild", "port": 8080, "protocol": "HTTP", "hostname": "*.example.com",
             "allowedRoutes": {"namespaces": {"from": "All"}}}]}});
    let mut s = portico_model::Snapshot {
        gateway_classes: vec![serde_json::from_value(class).expect("class")],
        gateways: vec![serde_json::from_value(gw).expect("gateway")],
        ..Default::default()
    };
    for i in 0..3 {
        s.services.push(
            serde_json::from_value(serde_json::json!({
                "metadata": {"name": format!("svc-{i}"), "namespace": "infra"},
                "spec": {"ports": [{"port": 80}]}
            }))
            .expect("service"),
        );
    }
    s
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    #[test]
    fn translation_ignores_route_order(
        routes in prop::collection::vec(
            (path_strategy(), any::<bool>(), prop::option::of(prop::sample::select(vec!["a.example.com", "*.example.com", "b.example.org"])), 0u8..4),
            1..25,
        ),
        seed in any::<u64>(),
    ) {
        let mut snapshot = base_snapshot();
        for (i, (path, exact, host, day)) in routes.iter().enumerate() {
            let p = match path { PathMatch::Exact(p) | PathMatch::Prefix(p) | PathMatch::Regex(p) => p.clone() };
            snapshot.http_routes.push(serde_json::from_value(route_json(i, &p, *exact, *host, *day)).expect("route"));
        }
        let options = portico_translate::Options::default();
        let first = portico_translate::translate(&snapshot, &options);
        let mut state = seed | 1;
        for i in (1..snapshot.http_routes.len()).rev() {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            snapshot.http_routes.swap(i, (state % (i as u64 + 1)) as usize);
        }
        let second = portico_translate::translate(&snapshot, &options);
        prop_assert_eq!(first, second);
    }
}

// === robustness: arbitrary (schema-shaped) input never panics ===

fn any_text() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z/*.(\\[\\]{}^$|+?\\\\-]{0,12}",
        Just(String::new()),
        Just("/".to_string()),
        Just("*".to_string()),
        Just("(".to_string()),
        Just("x{99999}".to_string()),
        Just("1h2m3s4ms".to_string()),
        Just("99999h".to_string()),
    ]
}

fn any_int() -> impl Strategy<Value = i64> {
    prop_oneof![
        Just(0i64),
        Just(-1),
        Just(1),
        Just(80),
        Just(65535),
        Just(65536),
        Just(i64::from(i32::MAX)),
        any::<i32>().prop_map(i64::from)
    ]
}

fn filter_json() -> impl Strategy<Value = serde_json::Value> {
    (0u8..9, any_text(), any_int(), any_int()).prop_map(|(kind, text, a, b)| match kind {
        0 => serde_json::json!({"type": "RequestHeaderModifier", "requestHeaderModifier": {"set": [{"name": text, "value": text}], "remove": [text]}}),
        1 => serde_json::json!({"type": "ResponseHeaderModifier", "responseHeaderModifier": {"add": [{"name": text, "value": "v"}]}}),
        2 => serde_json::json!({"type": "RequestRedirect", "requestRedirect": {"statusCode": a, "port": b, "hostname": text,
            "path": {"type": "ReplacePrefixMatch", "replacePrefixMatch": text}}}),
        3 => serde_json::json!({"type": "URLRewrite", "urlRewrite": {"path": {"type": "ReplaceFullPath"}}}),
        4 => serde_json::json!({"type": "RequestMirror", "requestMirror": {"backendRef": {"name": "svc-0", "port": a},
            "fraction": {"numerator": a, "denominator": b}}}),
        5 => serde_json::json!({"type": "RequestMirror", "requestMirror": {"backendRef": {"name": text, "namespace": "other"}, "percent": a}}),
        6 => serde_json::json!({"type": "CORS", "cors": {"maxAge": a, "allowOrigins": [text]}}),
        7 => serde_json::json!({"type": "ExtensionRef", "extensionRef": {"group": text, "kind": "K", "name": "n"}}),
        _ => serde_json::json!({"type": "RequestHeaderModifier"}),
    })
}

fn rule_json() -> impl Strategy<Value = serde_json::Value> {
    (
        prop::sample::select(vec!["Exact", "PathPrefix", "RegularExpression"]),
        any_text(),
        any_text(),
        prop::collection::vec(filter_json(), 0..3),
        prop::collection::vec((any_text(), any_int(), any_int(), 0u8..4), 0..3),
        prop::option::of((any_text(), any_text())),
    )
        .prop_map(|(ptype, path, header, filters, backends, timeouts)| {
            let backends: Vec<serde_json::Value> = backends
                .into_iter()
                .map(|(name, port, weight, k)| match k {
                    0 => serde_json::json!({"name": "svc-1", "port": port, "weight": weight}),
                    1 => serde_json::json!({"name": name, "port": port, "namespace": "apps"}),
                    2 => serde_json::json!({"name": name, "kind": "Thing", "group": "x.io"}),
                    _ => serde_json::json!({"name": "svc-2", "filters": [{"type": "RequestHeaderModifier"}]}),
                })
                .collect();
            let mut rule = serde_json::json!({
                "matches": [{"path": {"type": ptype, "value": path},
                             "headers": [{"name": "h", "value": header, "type": "RegularExpression"}],
                             "queryParams": [{"name": "q", "value": header}]}],
                "filters": filters,
                "backendRefs": backends,
            });
            if let Some((request, backend)) = timeouts {
                rule["timeouts"] = serde_json::json!({"request": request, "backendRequest": backend});
                rule["retry"] = serde_json::json!({"codes": [500, 99999], "attempts": -1, "backoff": request});
                rule["sessionPersistence"] = serde_json::json!({"absoluteTimeout": backend});
            }
            rule
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn arbitrary_routes_never_panic(
        rules in prop::collection::vec(rule_json(), 0..4),
        hostnames in prop::collection::vec(any_text(), 0..3),
        parent in (any_text(), prop::option::of(any_text()), prop::option::of(any_int())),
        grpc in (any_text(), any_text(), any::<bool>()),
    ) {
        let mut snapshot = base_snapshot();
        let parent_ref = serde_json::json!({"name": "gw", "namespace": "infra",
            "sectionName": parent.1, "port": parent.2.and_then(|p| i32::try_from(p).ok())});
        let route = serde_json::json!({
            "apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
            "metadata": {"name": "fuzz", "namespace": "infra"},
            "spec": {"hostnames": hostnames, "parentRefs": [parent_ref.clone(), {"name": parent.0}], "rules": rules}
        });
        match serde_json::from_value(route) {
            Ok(r) => snapshot.http_routes.push(r),
            Err(e) => prop_assert!(false, "generator produced an unreadable HTTPRoute: {e}"),
        }
        let grpc_route = serde_json::json!({
            "apiVersion": "gateway.networking.k8s.io/v1", "kind": "GRPCRoute",
            "metadata": {"name": "fuzz", "namespace": "infra"},
            "spec": {"hostnames": hostnames, "parentRefs": [parent_ref.clone()], "rules": [{
                "matches": [{"method": {"service": grpc.0, "method": grpc.1,
                              "type": if grpc.2 { "RegularExpression" } else { "Exact" }}}],
                "backendRefs": [{"name": "svc-0", "port": 80}]}]}
        });
        if let Ok(r) = serde_json::from_value(grpc_route) {
            snapshot.grpc_routes.push(r);
        }
        let tls_route = serde_json::json!({
            "apiVersion": "gateway.networking.k8s.io/v1", "kind": "TLSRoute",
            "metadata": {"name": "fuzz", "namespace": "infra"},
            "spec": {"hostnames": hostnames, "parentRefs": [parent_ref], "rules": [{"backendRefs": [{"name": "svc-0", "port": 80}]}]}
        });
        if let Ok(r) = serde_json::from_value(tls_route) {
            snapshot.tls_routes.push(r);
        }
        let out = portico_translate::translate(&snapshot, &portico_translate::Options::default());
        // Every attached rule keeps its source; every cluster target exists.
        for bind in &out.ir.binds {
            for l in &bind.listeners {
                for vh in &l.http {
                    for r in &vh.routes {
                        for b in &r.action.backends {
                            if let portico_ir::BackendTarget::Cluster(id) = &b.target {
                                prop_assert!(out.ir.clusters.contains_key(id), "dangling cluster {id}");
                            }
                        }
                    }
                }
            }
        }
    }
}
