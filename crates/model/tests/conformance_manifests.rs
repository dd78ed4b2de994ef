//! Every upstream Gateway API v1.6.1 conformance manifest loads without a
//! single error (kinds Portico does not read are skipped).
//!
//! The manifests are templates: the upstream suite replaces
//! `{GATEWAY_CLASS_NAME}` and `{GATEWAY_CONTROLLER_NAME}` before applying
//! them. Loaded as they are, the only error is the one the API server would
//! report too: `{GATEWAY_CONTROLLER_NAME}` is not a valid controllerName.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use portico_model::{Object, Snapshot, load_str};

/// The shared directory: `PORTICO_SHARED_DIR`, else `../../../shared` from
/// this crate (the CI layout: `shared/` beside the clone).
fn shared_dir() -> PathBuf {
    let dir = match std::env::var_os("PORTICO_SHARED_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared"),
    };
    let conformance = dir.join("gateway-api/conformance");
    assert!(
        conformance.is_dir(),
        "Gateway API conformance manifests not found at {}: put the shared \
         directory beside the clone or set PORTICO_SHARED_DIR",
        conformance.display()
    );
    dir
}

fn yaml_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("read {}: {e}", dir.display()))
        .map(|e| e.expect("dir entry").path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            yaml_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "yaml" || e == "yml") {
            out.push(path);
        }
    }
}

fn conformance_files() -> (PathBuf, Vec<PathBuf>) {
    let root = shared_dir().join("gateway-api/conformance");
    let mut files = Vec::new();
    yaml_files(&root, &mut files);
    (root, files)
}

/// What the upstream suite does to each manifest before applying it.
fn fill_placeholders(text: &str) -> String {
    text.replace("{GATEWAY_CLASS_NAME}", "portico").replace(
        "{GATEWAY_CONTROLLER_NAME}",
        "portico.dev/gateway-controller",
    )
}

#[test]
fn unfilled_templates_fail_only_on_the_controller_name_placeholder() {
    let (_, files) = conformance_files();
    let mut errors = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(file).expect("readable manifest");
        errors.extend(load_str(file, &text).errors);
    }
    assert_eq!(errors.len(), 1, "{errors:#?}");
    assert_eq!(errors[0].kind.as_deref(), Some("GatewayClass"));
    assert!(
        errors[0]
            .message
            .starts_with("spec.controllerName: Invalid value: \"{GATEWAY_CONTROLLER_NAME}\""),
        "{}",
        errors[0]
    );
}

#[test]
fn every_conformance_manifest_loads_without_errors() {
    let (root, files) = conformance_files();
    assert!(
        files.len() > 100,
        "expected the full conformance suite, found {} files",
        files.len()
    );
    assert!(files.iter().any(|f| f.starts_with(root.join("tests/mesh"))));

    let mut objects = Vec::new();
    let mut errors = Vec::new();
    let mut skipped: BTreeMap<String, usize> = BTreeMap::new();
    for file in &files {
        let text = std::fs::read_to_string(file).expect("readable manifest");
        let loaded = load_str(file, &fill_placeholders(&text));
        errors.extend(loaded.errors.iter().map(ToString::to_string));
        // Valid manifests break no CEL rule (deprecation notices aside).
        errors.extend(
            loaded
                .warnings
                .iter()
                .filter(|w| !w.message.contains("is deprecated"))
                .map(ToString::to_string),
        );
        for (kind, _) in loaded.skipped {
            *skipped.entry(kind).or_default() += 1;
        }
        objects.extend(loaded.documents.into_iter().map(|d| d.object));
    }
    assert!(errors.is_empty(), "load errors:\n{}", errors.join("\n"));
    // Only workload kinds are skipped; nothing Portico reads is.
    for kind in skipped.keys() {
        assert!(
            !["Gateway", "HTTPRoute", "Service", "Secret"].contains(&kind.as_str()),
            "skipped a kind Portico reads: {kind}"
        );
    }
    assert!(skipped.contains_key("Deployment"), "{skipped:?}");

    let find = |kind: &str, ns: &str, name: &str| {
        objects
            .iter()
            .any(|o: &Object| o.kind() == kind && o.namespace() == Some(ns) && o.name() == name)
    };
    assert!(find(
        "Gateway",
        "gateway-conformance-infra",
        "same-namespace"
    ));
    assert!(find(
        "Gateway",
        "gateway-conformance-infra",
        "all-namespaces"
    ));
    assert!(find(
        "HTTPRoute",
        "gateway-conformance-infra",
        "gateway-conformance-infra-test"
    ));
    assert!(objects.iter().any(|o| o.kind() == "GRPCRoute"));
    assert!(objects.iter().any(|o| o.kind() == "TLSRoute"));
    assert!(objects.iter().any(|o| o.kind() == "BackendTLSPolicy"));
    assert!(objects.iter().any(|o| o.kind() == "ReferenceGrant"));
    assert!(objects.iter().any(|o| o.kind() == "Secret"));

    let snap = Snapshot::from_objects(objects);
    assert!(!snap.gateways.is_empty());
    assert!(snap.http_routes.len() > 50, "{}", snap.http_routes.len());
}
