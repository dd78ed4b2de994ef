//! Route-side expectations of the upstream Gateway API v1.6.1 conformance
//! tests, checked on their manifests (base/manifests.yaml plus the test file)
//! loaded as standalone mode loads them.

mod support;

use portico_model::Snapshot;
use portico_model::core::ObjectMeta;
use portico_translate::{ObjectStatus, Options, Output, RouteParentStatus, condition, translate};

const INFRA: &str = "gateway-conformance-infra";

fn run(file: &str) -> (Snapshot, Output) {
    let dir = support::conformance_dir();
    let base = std::fs::read_to_string(dir.join("base/manifests.yaml")).expect("base manifests");
    let test = std::fs::read_to_string(dir.join("tests").join(file)).expect("test manifest");
    let text = format!(
        "{}\n---\n{}",
        support::substitute(&base),
        support::substitute(&test)
    );
    let (snapshot, errors) = support::load(file, &text, support::suite_objects());
    assert!(errors.is_empty(), "{file}: load errors {errors:?}");
    let out = translate(&snapshot, &Options::default());
    (snapshot, out)
}

fn parents<'a>(out: &'a Output, kind: &str, ns: &str, name: &str) -> &'a [RouteParentStatus] {
    match out.statuses.get(kind, ns, name) {
        Some(ObjectStatus::Route(r)) => &r.parents,
        other => panic!("no {kind} status for {ns}/{name}: {other:?}"),
    }
}

/// (file, route kind, route namespace, route name, parent name, Accepted, ResolvedRefs);
/// each expectation is `(status, reason)`.
type Case = (
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    (&'static str, &'static str),
    (&'static str, &'static str),
);

const WEB: &str = "gateway-conformance-web-backend";
const OK: (&str, &str) = ("True", "Accepted");
const RESOLVED: (&str, &str) = ("True", "ResolvedRefs");

const CASES: &[Case] = &[
    (
        "httproute-disallowed-kind.yaml",
        "HTTPRoute",
        INFRA,
        "disallowed-kind",
        "tlsroutes-only",
        ("False", "NotAllowedByListeners"),
        RESOLVED,
    ),
    (
        "httproute-hostname-intersection.yaml",
        "HTTPRoute",
        INFRA,
        "no-intersecting-hosts",
        "httproute-hostname-intersection",
        ("False", "NoMatchingListenerHostname"),
        RESOLVED,
    ),
    (
        "httproute-invalid-backendref-unknown-kind.yaml",
        "HTTPRoute",
        INFRA,
        "invalid-backend-ref-unknown-kind",
        "same-namespace",
        OK,
        ("False", "InvalidKind"),
    ),
    (
        "httproute-invalid-cross-namespace-backend-ref.yaml",
        "HTTPRoute",
        INFRA,
        "invalid-cross-namespace-backend-ref",
        "same-namespace",
        OK,
        ("False", "RefNotPermitted"),
    ),
    (
        "httproute-invalid-cross-namespace-parent-ref.yaml",
        "HTTPRoute",
        WEB,
        "invalid-cross-namespace-parent-ref",
        "same-namespace",
        ("False", "NotAllowedByListeners"),
        RESOLVED,
    ),
    (
        "httproute-invalid-nonexistent-backendref.yaml",
        "HTTPRoute",
        INFRA,
        "invalid-nonexistent-backend-ref",
        "same-namespace",
        OK,
        ("False", "BackendNotFound"),
    ),
    (
        "httproute-invalid-parentref-not-matching-listener-port.yaml",
        "HTTPRoute",
        INFRA,
        "httproute-listener-not-matching-route-port",
        "same-namespace",
        ("False", "NoMatchingParent"),
        RESOLVED,
    ),
    (
        "httproute-invalid-parentref-not-matching-section-name.yaml",
        "HTTPRoute",
        INFRA,
        "httproute-listener-not-matching-section-name",
        "same-namespace",
        ("False", "NoMatchingParent"),
        RESOLVED,
    ),
    (
        "httproute-invalid-parentref-section-name-not-matching-port.yaml",
        "HTTPRoute",
        INFRA,
        "httproute-listener-section-name-not-matching-port",
        "gateway-with-one-not-matching-port-and-section-name-route",
        ("False", "NoMatchingParent"),
        RESOLVED,
    ),
    (
        "httproute-invalid-reference-grant.yaml",
        "HTTPRoute",
        INFRA,
        "reference-grant",
        "same-namespace",
        OK,
        ("False", "RefNotPermitted"),
    ),
    (
        "httproute-partially-invalid-via-invalid-reference-grant.yaml",
        "HTTPRoute",
        INFRA,
        "invalid-reference-grant",
        "same-namespace",
        OK,
        ("False", "RefNotPermitted"),
    ),
    (
        "httproute-reference-grant.yaml",
        "HTTPRoute",
        INFRA,
        "reference-grant",
        "same-namespace",
        OK,
        RESOLVED,
    ),
    (
        "httproute-omitted-backendrefs.yaml",
        "HTTPRoute",
        INFRA,
        "omitted-backendrefs",
        "same-namespace",
        OK,
        RESOLVED,
    ),
    (
        "gateway-with-attached-routes.yaml",
        "HTTPRoute",
        INFRA,
        "http-route-not-accepted",
        "gateway-with-two-attached-routes",
        ("False", "NoMatchingListenerHostname"),
        RESOLVED,
    ),
    (
        "gateway-with-attached-routes.yaml",
        "HTTPRoute",
        INFRA,
        "http-route-4",
        "unresolved-gateway-with-one-attached-unresolved-route",
        OK,
        ("False", "BackendNotFound"),
    ),
    (
        "listenerset-gateway-parent-section-name-not-found.yaml",
        "HTTPRoute",
        INFRA,
        "route-via-gateway",
        "gateway-section-name",
        ("False", "NoMatchingParent"),
        RESOLVED,
    ),
    (
        "tcproute-invalid-backendref-nonexistent.yaml",
        "TCPRoute",
        INFRA,
        "tcp-route-invalid-backend-ref-nonexistent",
        "tcp-gateway-invalid-backend",
        OK,
        ("False", "BackendNotFound"),
    ),
    (
        "tcproute-invalid-cross-namespace-backend-ref.yaml",
        "TCPRoute",
        INFRA,
        "tcp-invalid-cross-namespace-backend-ref",
        "tcp-invalid-cross-namespace-backend-ref-gateway",
        OK,
        ("False", "RefNotPermitted"),
    ),
    (
        "tcproute-multiple-routes-attachment.yaml",
        "TCPRoute",
        INFRA,
        "tcproute-attach-older",
        "tcp-multi-route-attach-gateway",
        OK,
        RESOLVED,
    ),
    (
        "tlsroute-invalid-backendref-nonexistent.yaml",
        "TLSRoute",
        INFRA,
        "invalid-backend-ref-nonexistent",
        "gateway-tlsroute-invalid-backend-ref-nonexistent",
        OK,
        ("False", "BackendNotFound"),
    ),
    (
        "tlsroute-invalid-backendref-unknown-kind.yaml",
        "TLSRoute",
        INFRA,
        "invalid-backend-ref-unknown-kind",
        "gateway-tlsroute-invalid-backend-ref-unknown-kind",
        OK,
        ("False", "InvalidKind"),
    ),
    (
        "tlsroute-invalid-no-matching-listener-hostname.yaml",
        "TLSRoute",
        INFRA,
        "tlsroute-hostname-mismatch-1",
        "gateway-tls-exact-hostname",
        ("False", "NoMatchingListenerHostname"),
        RESOLVED,
    ),
    (
        "tlsroute-invalid-no-matching-listener-hostname.yaml",
        "TLSRoute",
        INFRA,
        "tlsroute-hostname-mismatch-2",
        "gateway-tls-wildcard-hostname",
        ("False", "NoMatchingListenerHostname"),
        RESOLVED,
    ),
    (
        "tlsroute-invalid-no-matching-listener.yaml",
        "TLSRoute",
        INFRA,
        "tlsroute-no-matching-section-name",
        "gateway-tlsroute-tls-passthrough-only",
        ("False", "NoMatchingParent"),
        RESOLVED,
    ),
    (
        "tlsroute-invalid-no-matching-listener.yaml",
        "TLSRoute",
        INFRA,
        "tlsroute-not-allowed-protocol-http",
        "gateway-tlsroute-http-only",
        ("False", "NotAllowedByListeners"),
        RESOLVED,
    ),
    (
        "tlsroute-invalid-no-matching-listener.yaml",
        "TLSRoute",
        INFRA,
        "tlsroute-not-allowed-protocol-https",
        "gateway-tlsroute-https-only",
        ("False", "NotAllowedByListeners"),
        RESOLVED,
    ),
    (
        "tlsroute-invalid-reference-grant.yaml",
        "TLSRoute",
        INFRA,
        "gateway-conformance-infra-test",
        "gateway-tlsroute-referencegrant",
        OK,
        ("False", "RefNotPermitted"),
    ),
    (
        "udproute-invalid-backendref-nonexistent.yaml",
        "UDPRoute",
        INFRA,
        "udp-route-invalid-backend-ref-nonexistent",
        "udp-gateway-invalid-backend",
        OK,
        ("False", "BackendNotFound"),
    ),
    (
        "udproute-invalid-cross-namespace-backend-ref.yaml",
        "UDPRoute",
        INFRA,
        "udp-route-invalid-cross-namespace-backend-ref",
        "udp-gateway-invalid-cross-namespace-backend-ref",
        OK,
        ("False", "RefNotPermitted"),
    ),
    (
        "udproute-not-allowed-by-listeners.yaml",
        "UDPRoute",
        INFRA,
        "udproute-not-allowed-by-listeners",
        "udproute-tls-only-gateway",
        ("False", "NotAllowedByListeners"),
        RESOLVED,
    ),
];

#[test]
fn route_statuses_match_the_upstream_tests() {
    let mut failures = Vec::new();
    for (file, kind, ns, name, parent, accepted, resolved) in CASES {
        let (snapshot, out) = run(file);
        let generation = route_generation(&snapshot, kind, ns, name);
        let entries: Vec<&RouteParentStatus> = parents(&out, kind, ns, name)
            .iter()
            .filter(|p| p.parent_ref.name == *parent)
            .collect();
        if entries.is_empty() {
            failures.push(format!(
                "{file}: {kind} {ns}/{name} has no parent entry for {parent}"
            ));
            continue;
        }
        for entry in entries {
            for (type_, (status, reason)) in [("Accepted", accepted), ("ResolvedRefs", resolved)] {
                match condition(&entry.conditions, type_) {
                    Some(c) if c.status == *status && c.reason == *reason && c.observed_generation == generation => {}
                    other => failures.push(format!(
                        "{file}: {kind} {ns}/{name} -> {parent}: want {type_}={status}/{reason} (generation {generation}), got {other:?}"
                    )),
                }
            }
            if entry.controller_name != support::GATEWAY_CONTROLLER_NAME {
                failures.push(format!(
                    "{file}: {name}: controllerName {}",
                    entry.controller_name
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

fn route_generation(snapshot: &Snapshot, kind: &str, ns: &str, name: &str) -> i64 {
    let meta = |m: &ObjectMeta| {
        (m.namespace.as_deref() == Some(ns) && m.name.as_deref() == Some(name))
            .then(|| m.generation.unwrap_or(0))
    };
    let found = match kind {
        "HTTPRoute" => snapshot.http_routes.iter().find_map(|r| meta(&r.metadata)),
        "GRPCRoute" => snapshot.grpc_routes.iter().find_map(|r| meta(&r.metadata)),
        "TLSRoute" => snapshot.tls_routes.iter().find_map(|r| meta(&r.metadata)),
        "TCPRoute" => snapshot.tcp_routes.iter().find_map(|r| meta(&r.metadata)),
        _ => snapshot.udp_routes.iter().find_map(|r| meta(&r.metadata)),
    };
    found.unwrap_or_else(|| panic!("{kind} {ns}/{name} not in snapshot"))
}

fn listener_attached(out: &Output, gateway: &str, listener: &str) -> i32 {
    match out.statuses.get("Gateway", INFRA, gateway) {
        Some(ObjectStatus::Gateway(g)) => g
            .listeners
            .iter()
            .find(|l| l.name == listener)
            .map(|l| l.attached_routes)
            .unwrap_or_else(|| panic!("{gateway} has no listener {listener}")),
        other => panic!("no Gateway status for {gateway}: {other:?}"),
    }
}

#[test]
fn attached_routes_counts() {
    let (_, out) = run("gateway-with-attached-routes.yaml");
    assert_eq!(
        listener_attached(&out, "gateway-with-one-attached-route", "http"),
        1
    );
    // http-route-not-accepted has no matching hostname: not counted.
    assert_eq!(
        listener_attached(&out, "gateway-with-two-attached-routes", "http"),
        2
    );
    // The listener's certificate is missing, its route's backend too: still counted.
    assert_eq!(
        listener_attached(
            &out,
            "unresolved-gateway-with-one-attached-unresolved-route",
            "tls"
        ),
        1
    );

    // The upstream test adds a newer TCPRoute to the same listener at run
    // time: both are Accepted and counted, only the older one serves.
    let (mut snapshot, _) = run("tcproute-multiple-routes-attachment.yaml");
    let older = snapshot
        .tcp_routes
        .iter_mut()
        .find(|r| r.metadata.name.as_deref() == Some("tcproute-attach-older"))
        .expect("older route");
    older.metadata.creation_timestamp =
        serde_json::from_value(serde_json::json!("2025-01-01T00:00:00Z")).ok();
    let mut newer = older.clone();
    newer.metadata.name = Some("a-tcproute-attach-newer".to_string());
    newer.metadata.creation_timestamp =
        serde_json::from_value(serde_json::json!("2025-01-02T00:00:00Z")).ok();
    snapshot.tcp_routes.insert(0, newer);
    let out = translate(&snapshot, &Options::default());
    assert_eq!(
        listener_attached(&out, "tcp-multi-route-attach-gateway", "tcp"),
        2
    );
    for name in ["tcproute-attach-older", "a-tcproute-attach-newer"] {
        let p = &parents(&out, "TCPRoute", INFRA, name)[0];
        assert!(
            condition(&p.conditions, "Accepted").is_some_and(|c| c.is_true()),
            "{name}"
        );
    }
    let serving = ir_listener(&out, "tcp-multi-route-attach-gateway", "tcp")
        .l4_route
        .as_ref()
        .expect("an L4 route serves the listener");
    assert_eq!(serving.route.name, "tcproute-attach-older");
}

/// The listeners of `gateway` in the IR, by listener name.
fn ir_listener<'a>(out: &'a Output, gateway: &str, listener: &str) -> &'a portico_ir::Listener {
    out.ir
        .binds
        .iter()
        .filter(|b| b.gateway.name == gateway)
        .flat_map(|b| b.listeners.iter())
        .find(|l| l.name == listener)
        .unwrap_or_else(|| panic!("no IR listener {gateway}/{listener}"))
}

#[test]
fn path_match_order_in_the_ir() {
    let (_, out) = run("httproute-path-match-order.yaml");
    let l = ir_listener(&out, "same-namespace", "http");
    let paths: Vec<String> = l
        .http
        .iter()
        .flat_map(|vh| vh.routes.iter())
        .filter(|r| r.source.route.name == "path-matching-order")
        .map(|r| format!("{:?}", r.matcher.path))
        .collect();
    assert_eq!(
        paths,
        [
            "Exact(\"/match/exact/one\")",
            "Exact(\"/match/exact\")",
            "Exact(\"/match\")",
            "Prefix(\"/match/prefix/one\")",
            "Prefix(\"/match/prefix/\")",
            "Prefix(\"/match/\")",
        ]
    );
}

#[test]
fn every_route_parent_entry_is_complete() {
    let mut files: Vec<String> = std::fs::read_dir(support::conformance_dir().join("tests"))
        .expect("conformance tests dir")
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|f| f.ends_with(".yaml"))
        .collect();
    files.sort();
    for file in files {
        let text = std::fs::read_to_string(support::conformance_dir().join("tests").join(&file))
            .expect("read");
        if text.contains("PLACEHOLDER_") {
            continue; // static-address tests: covered by the gateway-side suite
        }
        let (_, out) = run(&file);
        for (key, status) in &out.statuses.objects {
            let ObjectStatus::Route(route) = status else {
                continue;
            };
            for p in &route.parents {
                let types: Vec<&str> = p.conditions.iter().map(|c| c.type_.as_str()).collect();
                assert!(
                    types.starts_with(&["Accepted", "ResolvedRefs"]),
                    "{file}: {key}: conditions {types:?}"
                );
                // No upstream test uses a backend of the wrong transport.
                assert!(
                    p.conditions
                        .iter()
                        .all(|c| c.reason != "UnsupportedProtocol"),
                    "{file}: {key}: {:?}",
                    p.conditions
                );
                let generation = p.conditions[0].observed_generation;
                assert!(
                    p.conditions
                        .iter()
                        .all(|c| c.observed_generation == generation)
                );
                assert_eq!(p.controller_name, support::GATEWAY_CONTROLLER_NAME);
            }
        }
    }
}

/// (file, policy, Gateway ancestor, Accepted, ResolvedRefs) from the upstream
/// BackendTLSPolicy tests.
type PolicyCase = (
    &'static str,
    &'static str,
    &'static str,
    (&'static str, &'static str),
    (&'static str, &'static str),
);

const POLICY_CASES: &[PolicyCase] = &[
    (
        "backendtlspolicy.yaml",
        "normative-test",
        "same-namespace",
        OK,
        RESOLVED,
    ),
    (
        "backendtlspolicy.yaml",
        "normative-test",
        "same-namespace-with-https-listener",
        OK,
        RESOLVED,
    ),
    // A CA, hostname or SAN mismatch only shows at run time.
    (
        "backendtlspolicy.yaml",
        "cert-mismatch",
        "same-namespace",
        OK,
        RESOLVED,
    ),
    (
        "backendtlspolicy.yaml",
        "host-mismatch",
        "same-namespace",
        OK,
        RESOLVED,
    ),
    (
        "backendtlspolicy-san.yaml",
        "san-uri-mismatch",
        "same-namespace",
        OK,
        RESOLVED,
    ),
    (
        "backendtlspolicy-conflict-resolution.yaml",
        "conflicted-with-section-name-1",
        "same-namespace",
        OK,
        RESOLVED,
    ),
    (
        "backendtlspolicy-conflict-resolution.yaml",
        "conflicted-with-section-name-2",
        "same-namespace",
        ("False", "Conflicted"),
        RESOLVED,
    ),
    (
        "backendtlspolicy-conflict-resolution.yaml",
        "conflicted-without-section-name-1",
        "same-namespace",
        OK,
        RESOLVED,
    ),
    (
        "backendtlspolicy-conflict-resolution.yaml",
        "conflicted-without-section-name-2",
        "same-namespace",
        ("False", "Conflicted"),
        RESOLVED,
    ),
    (
        "backendtlspolicy-conflict-resolution.yaml",
        "not-conflicted-with-section-name",
        "same-namespace",
        OK,
        RESOLVED,
    ),
    (
        "backendtlspolicy-conflict-resolution.yaml",
        "not-conflicted-without-section-name",
        "same-namespace",
        OK,
        RESOLVED,
    ),
    (
        "backendtlspolicy-invalid-ca-certificate-ref.yaml",
        "nonexistent-ca-certificate-ref",
        "same-namespace",
        ("False", "NoValidCACertificate"),
        ("False", "InvalidCACertificateRef"),
    ),
    (
        "backendtlspolicy-invalid-ca-certificate-ref.yaml",
        "malformed-ca-certificate-ref",
        "same-namespace",
        ("False", "NoValidCACertificate"),
        ("False", "InvalidCACertificateRef"),
    ),
    (
        "backendtlspolicy-invalid-kind.yaml",
        "invalid-kind",
        "same-namespace",
        ("False", "NoValidCACertificate"),
        ("False", "InvalidKind"),
    ),
];

#[test]
fn backend_tls_policy_statuses_match_the_upstream_tests() {
    let mut failures = Vec::new();
    for (file, policy, gateway, accepted, resolved) in POLICY_CASES {
        let (snapshot, out) = run(file);
        let generation = snapshot
            .backend_tls_policies
            .iter()
            .find(|p| p.metadata.name.as_deref() == Some(policy))
            .and_then(|p| p.metadata.generation)
            .unwrap_or(0);
        let Some(ObjectStatus::Policy(status)) =
            out.statuses.get("BackendTLSPolicy", INFRA, policy)
        else {
            failures.push(format!("{file}: no status for {policy}"));
            continue;
        };
        let Some(entry) = status
            .ancestors
            .iter()
            .find(|a| a.ancestor_ref.name == *gateway)
        else {
            failures.push(format!("{file}: {policy} has no ancestor {gateway}"));
            continue;
        };
        for (type_, (want_status, reason)) in [("Accepted", accepted), ("ResolvedRefs", resolved)] {
            match condition(&entry.conditions, type_) {
                Some(c) if c.status == *want_status && c.reason == *reason && c.observed_generation == generation => {}
                other => failures.push(format!("{file}: {policy} -> {gateway}: want {type_}={want_status}/{reason}, got {other:?}")),
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));

    // The accepted policy's TLS settings reach the cluster of the targeted port.
    let (_, out) = run("backendtlspolicy.yaml");
    let tls = out
        .ir
        .clusters
        .values()
        .filter(|c| c.service.name == "backendtlspolicy-test")
        .find_map(|c| c.tls.as_ref())
        .expect("cluster of backendtlspolicy-test has TLS settings");
    assert_eq!(tls.hostname, "abc.example.com");
    assert!(
        tls.ca_pem
            .as_deref()
            .is_some_and(|p| p.contains("BEGIN CERTIFICATE"))
    );
}
