//! The upstream Gateway API v1.6.1 conformance manifests, loaded as the
//! standalone mode loads them: base/manifests.yaml together with each test
//! file. Translation must not panic; every Gateway of our class gets
//! Accepted and Programmed conditions with the right observedGeneration; the
//! base Gateways are Accepted and Programmed; and the gateway-side
//! expectations of the upstream tests hold for the named files.
//!
//! The certificates and CA ConfigMaps the upstream suite generates at start
//! are generated here with rcgen.

mod support;

use std::path::{Path, PathBuf};

use portico_model::Snapshot;
use portico_translate::{
    Condition, GatewayStatus, ListenerSetStatus, ListenerStatus, ObjectStatus, Options, Output,
    Statuses, condition, translate,
};

const INFRA: &str = "gateway-conformance-infra";
const USABLE: &str = "127.10.0.200";
const UNUSABLE: &str = "203.0.113.5";

fn load_case(test_file: &Path) -> Snapshot {
    let base = std::fs::read_to_string(support::conformance_dir().join("base/manifests.yaml"))
        .expect("base");
    let test = std::fs::read_to_string(test_file).expect("test file");
    let test = test
        .replace("PLACEHOLDER_USABLE_ADDRS", USABLE)
        .replace("PLACEHOLDER_UNUSABLE_ADDRS", UNUSABLE);
    let text = format!(
        "{}\n---\n{}",
        support::substitute(&base),
        support::substitute(&test)
    );
    let (snapshot, errors) = support::load(
        &test_file.display().to_string(),
        &text,
        support::suite_objects(),
    );
    assert!(
        errors.is_empty(),
        "{}: load errors: {errors:?}",
        test_file.display()
    );
    snapshot
}

fn test_files() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(support::conformance_dir().join("tests"))
        .expect("conformance tests dir")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    files
}

fn gateway<'a>(s: &'a Statuses, name: &str) -> &'a GatewayStatus {
    match s.get("Gateway", INFRA, name) {
        Some(ObjectStatus::Gateway(g)) => g,
        other => panic!("no Gateway status for {name}: {other:?}"),
    }
}

fn listener_set<'a>(s: &'a Statuses, ns: &str, name: &str) -> &'a ListenerSetStatus {
    match s.get("ListenerSet", ns, name) {
        Some(ObjectStatus::ListenerSet(l)) => l,
        other => panic!("no ListenerSet status for {ns}/{name}: {other:?}"),
    }
}

fn listener<'a>(listeners: &'a [ListenerStatus], name: &str) -> &'a ListenerStatus {
    listeners
        .iter()
        .find(|l| l.name == name)
        .unwrap_or_else(|| panic!("no listener status {name} in {listeners:?}"))
}

#[track_caller]
fn expect(conditions: &[Condition], type_: &str, status: &str, reason: &str) {
    let c = condition(conditions, type_).unwrap_or_else(|| panic!("no {type_} in {conditions:?}"));
    assert_eq!(
        (c.status.as_str(), c.reason.as_str()),
        (status, reason),
        "{type_}: {c:?}"
    );
}

fn kinds(l: &ListenerStatus) -> Vec<&str> {
    l.supported_kinds.iter().map(|k| k.kind.as_str()).collect()
}

fn run(snapshot: &Snapshot) -> Output {
    translate(snapshot, &Options::default())
}

/// Checks that hold for every file.
fn check_common(file: &str, snapshot: &Snapshot, out: &Output) {
    for gw in &snapshot.gateways {
        if gw.spec.gateway_class_name != support::GATEWAY_CLASS_NAME {
            continue;
        }
        let ns = gw.metadata.namespace.as_deref().unwrap_or_default();
        let name = gw.metadata.name.as_deref().unwrap_or_default();
        let generation = gw.metadata.generation.unwrap_or(0);
        let Some(ObjectStatus::Gateway(status)) = out.statuses.get("Gateway", ns, name) else {
            panic!("{file}: Gateway {ns}/{name} has no status");
        };
        for type_ in ["Accepted", "Programmed"] {
            let c = condition(&status.conditions, type_)
                .unwrap_or_else(|| panic!("{file}: {ns}/{name} has no {type_}"));
            assert_eq!(
                c.observed_generation, generation,
                "{file}: {ns}/{name} {type_}"
            );
        }
        assert_eq!(
            status.listeners.len(),
            gw.spec.listeners.len(),
            "{file}: {ns}/{name}"
        );
        for l in &status.listeners {
            assert!(
                l.conditions
                    .iter()
                    .all(|c| c.observed_generation == generation)
            );
        }
    }
    for name in [
        "same-namespace",
        "same-namespace-with-https-listener",
        "all-namespaces",
        "backend-namespaces",
    ] {
        let g = gateway(&out.statuses, name);
        expect(&g.conditions, "Accepted", "True", "Accepted");
        expect(&g.conditions, "Programmed", "True", "Programmed");
        assert!(!g.addresses.is_empty(), "{file}: {name} has no address");
        for l in &g.listeners {
            expect(&l.conditions, "Programmed", "True", "Programmed");
            expect(&l.conditions, "ResolvedRefs", "True", "ResolvedRefs");
        }
    }
}

/// Expectations of the upstream tests for one file, if any.
fn check_file(file: &str, snapshot: &mut Snapshot, out: &Output) {
    let s = &out.statuses;
    match file {
        "gateway-invalid-listeners-unsupported-protocol.yaml" => {
            let only = gateway(s, "gateway-only-unsupported-protocols");
            expect(&only.conditions, "Accepted", "False", "ListenersNotValid");
            let l = listener(&only.listeners, "invalid");
            expect(&l.conditions, "Accepted", "False", "UnsupportedProtocol");
            assert!(l.supported_kinds.is_empty());
            let mixed = gateway(s, "gateway-supported-and-unsupported-protocols");
            expect(&mixed.conditions, "Accepted", "True", "ListenersNotValid");
            expect(&mixed.conditions, "Programmed", "True", "Programmed");
            expect(
                &listener(&mixed.listeners, "http").conditions,
                "Programmed",
                "True",
                "Programmed",
            );
        }
        "gateway-invalid-route-kind.yaml" => {
            let only = listener(
                &gateway(s, "gateway-only-invalid-route-kind").listeners,
                "http",
            );
            expect(
                &only.conditions,
                "ResolvedRefs",
                "False",
                "InvalidRouteKinds",
            );
            assert!(only.supported_kinds.is_empty());
            expect(&only.conditions, "Programmed", "False", "Invalid");
            let some = listener(
                &gateway(s, "gateway-supported-and-invalid-route-kind").listeners,
                "http",
            );
            expect(
                &some.conditions,
                "ResolvedRefs",
                "False",
                "InvalidRouteKinds",
            );
            assert_eq!(kinds(some), vec!["HTTPRoute"]);
        }
        "gateway-invalid-tls-configuration.yaml" => {
            for gw in [
                "gateway-certificate-nonexistent-secret",
                "gateway-certificate-unsupported-group",
                "gateway-certificate-unsupported-kind",
                "gateway-certificate-malformed-secret",
            ] {
                let l = listener(&gateway(s, gw).listeners, "https");
                expect(
                    &l.conditions,
                    "ResolvedRefs",
                    "False",
                    "InvalidCertificateRef",
                );
                expect(&l.conditions, "Programmed", "False", "Invalid");
            }
        }
        "gateway-secret-missing-reference-grant.yaml"
        | "gateway-secret-invalid-reference-grant.yaml" => {
            let gw = file.trim_end_matches(".yaml");
            let l = listener(&gateway(s, gw).listeners, "https");
            expect(&l.conditions, "ResolvedRefs", "False", "RefNotPermitted");
            expect(&l.conditions, "Programmed", "False", "Invalid");
        }
        "gateway-secret-reference-grant-all-in-namespace.yaml"
        | "gateway-secret-reference-grant-specific.yaml" => {
            let gw = file.trim_end_matches(".yaml");
            let l = listener(&gateway(s, gw).listeners, "https");
            expect(&l.conditions, "ResolvedRefs", "True", "ResolvedRefs");
            expect(&l.conditions, "Programmed", "True", "Programmed");
        }
        "gateway-invalid-parameters-ref.yaml" => {
            expect(
                &gateway(s, "gateway-invalid-parameters-ref").conditions,
                "Accepted",
                "False",
                "InvalidParameters",
            );
        }
        "gateway-optional-address-value.yaml" => {
            let g = gateway(s, "gateway-without-address-value");
            expect(&g.conditions, "Programmed", "True", "Programmed");
            assert_eq!(g.addresses.len(), 1);
            assert_eq!(g.addresses[0].type_, "IPAddress");
        }
        "gateway-static-addresses.yaml" => check_static_addresses(snapshot, out),
        "gateway-invalid-tls-backend-configuration.yaml" => {
            for gw in [
                "gateway-client-certificate-nonexistent-secret",
                "gateway-client-certificate-unsupported-group",
                "gateway-client-certificate-unsupported-kind",
                "gateway-client-certificate-malformed-secret",
            ] {
                let g = gateway(s, gw);
                expect(&g.conditions, "Accepted", "True", "Accepted");
                expect(
                    &g.conditions,
                    "ResolvedRefs",
                    "False",
                    "InvalidClientCertificateRef",
                );
            }
        }
        "gateway-with-invalid-clientcertificate-validation.yaml" => {
            let g = gateway(s, "gateway-with-invalid-client-cert-validation");
            expect(
                &listener(&g.listeners, "https").conditions,
                "Programmed",
                "True",
                "Programmed",
            );
            for (name, reason) in [
                ("https-unresolved", "InvalidCACertificateRef"),
                ("https-invalid-kind", "InvalidCACertificateKind"),
                ("https-grant-missing", "RefNotPermitted"),
            ] {
                let l = listener(&g.listeners, name);
                expect(&l.conditions, "ResolvedRefs", "False", reason);
                expect(&l.conditions, "Accepted", "False", "NoValidCACertificate");
                expect(&l.conditions, "Programmed", "False", "Invalid");
            }
        }
        "tlsroute-listener-passthrough-supported-kinds.yaml" => {
            let g = gateway(s, "gateway-tlsroute-passthrough-supported-kind");
            let l = listener(&g.listeners, "tls-passthrough");
            expect(&l.conditions, "ResolvedRefs", "False", "InvalidRouteKinds");
            assert_eq!(kinds(l), vec!["TLSRoute"]);
        }
        "tlsroute-listener-mixed-termination-not-supported.yaml" => {
            // Upstream runs this only without TLSRouteModeMixed.
            let g = gateway(s, "gateway-tlsroute-mixed-termination-not-supported");
            let mixed = portico_translate::features::supports("TLSRouteModeMixed");
            for name in ["tls-terminate", "tls-passthrough"] {
                let l = listener(&g.listeners, name);
                if mixed {
                    expect(&l.conditions, "Accepted", "True", "Accepted");
                    expect(&l.conditions, "Conflicted", "False", "NoConflicts");
                } else {
                    expect(&l.conditions, "Accepted", "False", "ProtocolConflict");
                    expect(&l.conditions, "Conflicted", "True", "ProtocolConflict");
                }
            }
        }
        "tlsroute-mixed-termination-same-namespace.yaml"
            if portico_translate::features::supports("TLSRouteModeMixed") =>
        {
            let g = gateway(s, "gateway-tlsroute-mixed-termination");
            expect(&g.conditions, "Accepted", "True", "Accepted");
            for l in &g.listeners {
                expect(&l.conditions, "Programmed", "True", "Programmed");
            }
        }
        "listenerset-default-not-allowed.yaml" | "listenerset-allowed-namespace-none.yaml" => {
            let (gw, ls) = if file == "listenerset-default-not-allowed.yaml" {
                (
                    "gateway-default-does-not-allow-listenerset",
                    "listenerset-default-not-allowed",
                )
            } else {
                (
                    "gateway-does-not-allow-listenerset",
                    "listenerset-not-allowed",
                )
            };
            let g = gateway(s, gw);
            expect(&g.conditions, "Accepted", "True", "Accepted");
            assert_eq!(g.attached_listener_sets.unwrap_or(0), 0);
            let l = listener_set(s, INFRA, ls);
            expect(&l.conditions, "Accepted", "False", "NotAllowed");
            expect(&l.conditions, "Programmed", "False", "NotAllowed");
        }
        "listenerset-allowed-namespace-same.yaml" => {
            let g = gateway(s, "gateway-allows-listenerset-in-same-namespace");
            assert_eq!(g.attached_listener_sets, Some(1));
            expect(
                &listener_set(s, INFRA, "listenerset-in-same-namespace").conditions,
                "Accepted",
                "True",
                "Accepted",
            );
            let other = listener_set(
                s,
                "gateway-api-listenerset-not-allowed-ns",
                "listenerset-in-different-namespace",
            );
            expect(&other.conditions, "Accepted", "False", "NotAllowed");
        }
        "listenerset-allowed-namespace-selector.yaml" => {
            let g = gateway(s, "gateway-allows-listenerset-in-selected-namespace");
            assert_eq!(g.attached_listener_sets, Some(1));
            let ok = listener_set(
                s,
                "gateway-api-listenerset-selector-allowed-ns",
                "listenerset-in-selected-namespace",
            );
            expect(&ok.conditions, "Accepted", "True", "Accepted");
            expect(&ok.conditions, "Programmed", "True", "Programmed");
        }
        "listenerset-allowed-routes-supported-kinds.yaml" => {
            let g = gateway(s, "gateway-with-listener-sets-test-supported-route-kinds");
            expect(&g.conditions, "Accepted", "True", "Accepted");
            let ls = listener_set(s, INFRA, "listenerset-test-allowed-routes-supported-kinds");
            let l = listener(
                &ls.listeners,
                "listener-set-listener-allowed-routes-tls-only",
            );
            expect(&l.conditions, "ResolvedRefs", "False", "InvalidRouteKinds");
            assert!(l.supported_kinds.is_empty());
        }
        "listenerset-reference-grant.yaml" => {
            let g = gateway(s, "gateway-with-listener-sets-test-reference-grant");
            expect(
                &listener(&g.listeners, "gateway-listener").conditions,
                "ResolvedRefs",
                "True",
                "ResolvedRefs",
            );
            let with = listener_set(s, INFRA, "listenerset-with-reference-grant");
            let l = listener(&with.listeners, "listenerset-with-reference-grant-listener");
            expect(&l.conditions, "ResolvedRefs", "True", "ResolvedRefs");
            expect(&l.conditions, "Programmed", "True", "Programmed");
            let without = listener_set(
                s,
                "gateway-api-listener-sets-test-reference-grant-ns",
                "listenerset-without-reference-grant",
            );
            let l = listener(
                &without.listeners,
                "listenerset-without-reference-grant-listener",
            );
            expect(&l.conditions, "ResolvedRefs", "False", "RefNotPermitted");
            expect(&l.conditions, "Programmed", "False", "Invalid");
        }
        "listenerset-protocol-conflict.yaml" | "listenerset-hostname-conflict.yaml" => {
            let kind = if file.contains("protocol") {
                "protocol"
            } else {
                "hostname"
            };
            let reason = if kind == "protocol" {
                "ProtocolConflict"
            } else {
                "HostnameConflict"
            };
            let g = gateway(s, &format!("gateway-with-listenerset-{kind}-conflict"));
            for l in &g.listeners {
                expect(&l.conditions, "Conflicted", "False", "NoConflicts");
            }
            assert_eq!(g.attached_listener_sets, Some(2));
            let ls = |n: &str| {
                listener_set(
                    s,
                    INFRA,
                    &format!("listenerset-with-{kind}-conflict-with-{n}"),
                )
            };
            let with_gw = ls("gateway-1");
            expect(&with_gw.conditions, "Accepted", "True", "ListenersNotValid");
            let lost = listener(
                &with_gw.listeners,
                &format!("{kind}-conflict-with-gateway-listener"),
            );
            expect(&lost.conditions, "Accepted", "False", reason);
            expect(&lost.conditions, "Conflicted", "True", reason);
            expect(&lost.conditions, "Programmed", "False", "Invalid");
            let won = listener(
                &with_gw.listeners,
                &format!("{kind}-conflict-with-listener-set-listener"),
            );
            expect(&won.conditions, "Accepted", "True", "Accepted");
            expect(
                &ls("gateway-2").conditions,
                "Accepted",
                "False",
                "ListenersNotValid",
            );
            expect(
                &ls("gateway-2").conditions,
                "Programmed",
                "False",
                "ListenersNotValid",
            );
            let with_ls = ls("listener-set-1");
            expect(&with_ls.conditions, "Accepted", "True", "ListenersNotValid");
            let lost = listener(
                &with_ls.listeners,
                &format!("{kind}-conflict-with-listener-set-listener"),
            );
            expect(&lost.conditions, "Conflicted", "True", reason);
            expect(
                &ls("listener-set-2").conditions,
                "Accepted",
                "False",
                "ListenersNotValid",
            );
        }
        _ => {}
    }
}

/// The three phases of the upstream GatewayStaticAddresses test.
fn check_static_addresses(snapshot: &mut Snapshot, out: &Output) {
    let name = "gateway-static-addresses";
    expect(
        &gateway(&out.statuses, name).conditions,
        "Accepted",
        "False",
        "UnsupportedAddress",
    );
    let index = snapshot
        .gateways
        .iter()
        .position(|g| g.metadata.name.as_deref() == Some(name))
        .expect("static addresses gateway");
    // Phase 2: the unsupported type removed; one unusable address remains.
    let addresses = snapshot.gateways[index]
        .spec
        .addresses
        .as_mut()
        .expect("addresses");
    addresses.remove(0);
    let s = run(snapshot).statuses;
    let g = gateway(&s, name);
    expect(&g.conditions, "Accepted", "True", "Accepted");
    expect(&g.conditions, "Programmed", "False", "AddressNotUsable");
    // Phase 3: only the usable address.
    let addresses = snapshot.gateways[index]
        .spec
        .addresses
        .as_mut()
        .expect("addresses");
    addresses.remove(0);
    let s = run(snapshot).statuses;
    let g = gateway(&s, name);
    expect(&g.conditions, "Accepted", "True", "Accepted");
    expect(&g.conditions, "Programmed", "True", "Programmed");
    let values: Vec<&str> = g.addresses.iter().map(|a| a.value.as_str()).collect();
    assert_eq!(values, vec![USABLE]);
}

#[test]
fn conformance_manifests_translate_with_expected_gateway_statuses() {
    let files = test_files();
    assert!(
        files.len() > 100,
        "expected the upstream test manifests, found {}",
        files.len()
    );
    for path in &files {
        let file = path
            .file_name()
            .map(|f| f.to_string_lossy().into_owned())
            .unwrap_or_default();
        let mut snapshot = load_case(path);
        let out = run(&snapshot);
        assert_eq!(out, run(&snapshot), "{file}: not deterministic");
        check_common(&file, &snapshot, &out);
        check_file(&file, &mut snapshot, &out);
    }
}

/// Gateways the upstream suite expects to become ready (no skip annotation)
/// must be Accepted and Programmed, unless listed here with the reason.
#[test]
fn gateways_without_skip_annotation_become_ready() {
    // (file, gateway): expected not to be fully ready, and why.
    let known: &[(&str, &str, &str)] = &[
        (
            "gateway-secret-invalid-reference-grant.yaml",
            "gateway-secret-invalid-reference-grant",
            "its only listener's certificate is not permitted",
        ),
        (
            "gateway-secret-missing-reference-grant.yaml",
            "gateway-secret-missing-reference-grant",
            "its only listener's certificate is not permitted",
        ),
    ];
    let mut problems = Vec::new();
    for path in test_files() {
        let file = path
            .file_name()
            .map(|f| f.to_string_lossy().into_owned())
            .unwrap_or_default();
        let snapshot = load_case(&path);
        let out = run(&snapshot);
        for gw in &snapshot.gateways {
            let skip = gw.metadata.annotations.as_ref().is_some_and(|a| {
                a.get("gateway-api/skip-this-for-readiness")
                    .is_some_and(|v| v == "true")
            });
            let name = gw.metadata.name.as_deref().unwrap_or_default();
            let ns = gw.metadata.namespace.as_deref().unwrap_or_default();
            let mixed_unsupported = !portico_translate::features::supports("TLSRouteModeMixed")
                && file.starts_with("tlsroute-")
                && file.contains("mixed-termination");
            if skip || mixed_unsupported || known.iter().any(|(f, g, _)| *f == file && *g == name) {
                continue;
            }
            let Some(ObjectStatus::Gateway(status)) = out.statuses.get("Gateway", ns, name) else {
                problems.push(format!("{file}: {ns}/{name}: no status"));
                continue;
            };
            for type_ in ["Accepted", "Programmed"] {
                if !condition(&status.conditions, type_).is_some_and(Condition::is_true) {
                    problems.push(format!(
                        "{file}: {ns}/{name}: {type_} is not True: {:?}",
                        status.conditions
                    ));
                }
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
