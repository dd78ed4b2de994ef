use std::path::Path;

use super::*;

fn load(text: &str) -> Loaded {
    load_str(Path::new("dir/test.yaml"), text)
}

const GATEWAY: &str = "\
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata:
  name: gw
spec:
  gatewayClassName: portico
  listeners:
  - name: http
    protocol: HTTP
    port: 80
";

#[test]
fn loads_a_gateway_with_defaults() {
    let loaded = load(GATEWAY);
    assert!(loaded.errors.is_empty(), "{:?}", loaded.errors);
    assert_eq!(loaded.documents.len(), 1);
    let doc = &loaded.documents[0];
    assert_eq!(doc.object.kind(), "Gateway");
    assert_eq!(doc.object.namespace(), Some("default"));
    assert_eq!(doc.object.name(), "gw");
    assert_eq!(doc.object.generation(), Some(1));
    assert_eq!(
        doc.object
            .creation_timestamp()
            .map(|t| t.0.to_string())
            .as_deref(),
        Some("1970-01-01T00:00:00Z")
    );
    assert_eq!(
        doc.defaulted,
        Defaulted {
            namespace: true,
            generation: true,
            creation_timestamp: true
        }
    );
    assert_eq!(doc.location.line, 1);
    assert_eq!(doc.location.file, Path::new("dir/test.yaml"));
}

#[test]
fn explicit_metadata_is_kept() {
    let text = "\
apiVersion: v1
kind: ConfigMap
metadata:
  name: c
  namespace: ns
  generation: 7
  creationTimestamp: \"2024-05-01T10:00:00Z\"
";
    let loaded = load(text);
    assert!(loaded.errors.is_empty(), "{:?}", loaded.errors);
    let doc = &loaded.documents[0];
    assert_eq!(doc.object.namespace(), Some("ns"));
    assert_eq!(doc.object.generation(), Some(7));
    assert_eq!(doc.defaulted, Defaulted::default());
}

#[test]
fn syntax_error_is_located_in_file_coordinates() {
    // Second document, its third line has an unclosed flow sequence.
    let text = format!("{GATEWAY}---\napiVersion: v1\nkind: ConfigMap\ndata: [a, b\n");
    let loaded = load(&text);
    assert_eq!(loaded.documents.len(), 1, "the good document still loads");
    assert_eq!(loaded.errors.len(), 1, "{:?}", loaded.errors);
    let err = &loaded.errors[0];
    assert_eq!(err.class, ErrorClass::Syntax);
    assert!(loaded.has_syntax_errors());
    // GATEWAY is 10 lines, `---` is line 11, `data:` is line 14.
    assert!(
        err.location.line >= 14,
        "error at {} (expected line 14 or later)",
        err.location
    );
    assert!(
        err.message.starts_with("YAML syntax error"),
        "{}",
        err.message
    );
}

#[test]
fn syntax_error_line_and_column_exact() {
    let text = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n   bad: indent\n";
    let loaded = load(text);
    assert_eq!(loaded.errors.len(), 1, "{:?}", loaded.errors);
    let err = &loaded.errors[0];
    assert_eq!(err.class, ErrorClass::Syntax);
    assert_eq!((err.location.line, err.location.column), (5, 7), "{err}");
}

#[test]
fn wrong_field_type_points_at_the_field() {
    let text = GATEWAY.replace("port: 80", "port: eighty");
    let loaded = load(&text);
    assert!(loaded.documents.is_empty());
    assert_eq!(loaded.errors.len(), 1);
    let err = &loaded.errors[0];
    assert_eq!(err.class, ErrorClass::Invalid);
    assert_eq!((err.location.line, err.location.column), (10, 11), "{err}");
    assert_eq!(err.kind.as_deref(), Some("Gateway"));
    assert_eq!(err.name.as_deref(), Some("default/gw"));
    let rendered = err.to_string();
    assert!(
        rendered.starts_with("dir/test.yaml:10:11: Gateway default/gw: spec.listeners[0].port:"),
        "{rendered}"
    );
}

#[test]
fn missing_required_field_points_at_parent() {
    let text = GATEWAY.replace("  gatewayClassName: portico\n", "");
    let loaded = load(&text);
    assert_eq!(loaded.errors.len(), 1);
    let err = &loaded.errors[0];
    assert!(err.message.contains("gatewayClassName"), "{err}");
    assert_eq!(err.location.line, 6, "{err}");
}

#[test]
fn unknown_api_version_names_accepted_versions() {
    let text = GATEWAY.replace(
        "gateway.networking.k8s.io/v1",
        "gateway.networking.k8s.io/v2",
    );
    let loaded = load(&text);
    assert_eq!(loaded.errors.len(), 1);
    let err = &loaded.errors[0];
    assert_eq!((err.location.line, err.location.column), (1, 13));
    assert!(
        err.message
            .contains("gateway.networking.k8s.io/v1, gateway.networking.k8s.io/v1beta1"),
        "{err}"
    );
}

#[test]
fn missing_name_is_an_error() {
    let text = "apiVersion: v1\nkind: Service\nmetadata:\n  namespace: x\nspec: {}\n";
    let loaded = load(text);
    assert!(loaded.documents.is_empty());
    assert_eq!(loaded.errors.len(), 1);
    assert!(
        loaded.errors[0]
            .message
            .contains("metadata.name is required")
    );
    assert_eq!(loaded.errors[0].kind.as_deref(), Some("Service"));
    let text = "apiVersion: v1\nkind: Service\nspec: {}\n";
    assert_eq!(load(text).errors.len(), 1);
}

#[test]
fn bad_document_between_two_good_ones() {
    let bad = "apiVersion: v1\nkind: Service\nmetadata:\n  name: s\nspec:\n  ports: 5\n";
    let second = GATEWAY.replace("name: gw", "name: gw2");
    let text = format!("{GATEWAY}---\n{bad}---\n{second}");
    let loaded = load(&text);
    let names: Vec<_> = loaded.documents.iter().map(|d| d.object.name()).collect();
    assert_eq!(names, ["gw", "gw2"]);
    assert_eq!(loaded.errors.len(), 1);
    let err = &loaded.errors[0];
    assert_eq!(err.name.as_deref(), Some("default/s"));
    // `ports: 5` is line 6 of the bad document, which starts on line 12.
    assert_eq!((err.location.line, err.location.column), (17, 10), "{err}");
    assert_eq!(loaded.documents[1].location.line, 19);
}

#[test]
fn unknown_kinds_are_skipped() {
    let text = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: d\n---\napiVersion: networking.istio.io/v1\nkind: Gateway\nmetadata:\n  name: g\n";
    let loaded = load(text);
    assert!(loaded.errors.is_empty());
    assert!(loaded.documents.is_empty());
    let kinds: Vec<_> = loaded
        .skipped
        .iter()
        .map(|(k, l)| (k.as_str(), l.line))
        .collect();
    assert_eq!(
        kinds,
        [("Deployment", 1), ("Gateway (networking.istio.io/v1)", 6)]
    );
}

#[test]
fn old_versions_convert_to_storage() {
    let text = "\
apiVersion: gateway.networking.k8s.io/v1beta1
kind: ReferenceGrant
metadata:
  name: rg
  namespace: backends
spec:
  from:
  - group: gateway.networking.k8s.io
    kind: HTTPRoute
    namespace: default
  to:
  - group: \"\"
    kind: Service
---
apiVersion: gateway.networking.k8s.io/v1alpha2
kind: TCPRoute
metadata:
  name: tcp
spec:
  parentRefs:
  - name: gw
  rules:
  - backendRefs:
    - name: svc
      port: 9000
";
    let loaded = load(text);
    assert!(loaded.errors.is_empty(), "{:?}", loaded.errors);
    assert_eq!(loaded.documents.len(), 2);
    for doc in &loaded.documents {
        assert_eq!(doc.object.api_version(), "gateway.networking.k8s.io/v1");
        assert_eq!(
            doc.object.to_json()["apiVersion"],
            "gateway.networking.k8s.io/v1"
        );
    }
}

#[test]
fn list_items_are_expanded_with_their_own_locations() {
    let text = "\
apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: Namespace
  metadata:
    name: a
- apiVersion: v1
  kind: ConfigMap
  metadata:
    name: c
  data: 5
";
    let loaded = load(text);
    assert_eq!(loaded.documents.len(), 1);
    assert_eq!(loaded.documents[0].object.key().to_string(), "Namespace a");
    assert_eq!(loaded.documents[0].location.line, 4);
    assert_eq!(loaded.errors.len(), 1);
    assert_eq!(
        (
            loaded.errors[0].location.line,
            loaded.errors[0].location.column
        ),
        (12, 9)
    );
}

#[test]
fn secret_string_data_is_merged_into_data() {
    let text = "\
apiVersion: v1
kind: Secret
metadata:
  name: s
data:
  a: YQ==
  b: Yg==
stringData:
  b: bee
  c: see
";
    let loaded = load(text);
    assert!(loaded.errors.is_empty(), "{:?}", loaded.errors);
    let Object::Secret(secret) = &loaded.documents[0].object else {
        panic!("a secret");
    };
    assert!(secret.string_data.is_none());
    let data = secret.data.as_ref().expect("data");
    let get = |k: &str| String::from_utf8(data[k].0.clone()).expect("utf8");
    assert_eq!(get("a"), "a");
    assert_eq!(get("b"), "bee");
    assert_eq!(get("c"), "see");
}

#[test]
fn cluster_scoped_kinds_get_no_namespace() {
    let text = "\
apiVersion: gateway.networking.k8s.io/v1
kind: GatewayClass
metadata:
  name: portico
  namespace: oops
spec:
  controllerName: portico.dev/gateway-controller
";
    let loaded = load(text);
    assert!(loaded.errors.is_empty(), "{:?}", loaded.errors);
    let doc = &loaded.documents[0];
    assert_eq!(doc.object.namespace(), None);
    assert!(doc.object.metadata().namespace.is_none());
    assert!(!doc.defaulted.namespace);
}

#[test]
fn non_mapping_and_missing_kind_are_errors() {
    let loaded = load("- a\n- b\n---\napiVersion: v1\nmetadata:\n  name: x\n---\n# empty\n");
    assert_eq!(loaded.errors.len(), 2, "{:?}", loaded.errors);
    assert!(loaded.errors[0].message.contains("found a sequence"));
    assert!(loaded.errors[1].message.contains("kind is missing"));
    assert_eq!(loaded.errors[1].location.line, 4);
}

#[test]
fn empty_file_loads_nothing() {
    assert_eq!(load(""), Loaded::default());
    assert_eq!(load("---\n# nothing\n---\n"), Loaded::default());
}

#[test]
fn portico_address_pool_loads() {
    let text = "\
apiVersion: portico.dev/v1alpha1
kind: LoadBalancerIPPool
metadata:
  name: loopback
spec:
  blocks:
  - cidr: 127.0.10.0/24
";
    let loaded = load(text);
    assert!(loaded.errors.is_empty(), "{:?}", loaded.errors);
    let Object::LoadBalancerIpPool(pool) = &loaded.documents[0].object else {
        panic!("a pool");
    };
    assert_eq!(pool.spec.blocks[0].cidr.as_deref(), Some("127.0.10.0/24"));
}

#[test]
fn unknown_fields_are_errors_at_the_field() {
    let text = GATEWAY.replace("    port: 80\n", "    port: 80\n    hostnme: a.example\n");
    let loaded = load(&text);
    assert!(loaded.documents.is_empty());
    assert_eq!(loaded.errors.len(), 1);
    let err = &loaded.errors[0];
    assert_eq!((err.location.line, err.location.column), (11, 5), "{err}");
    assert_eq!(
        err.message, "unknown field \"spec.listeners[0].hostnme\"",
        "{err}"
    );
}

#[test]
fn duplicate_keys_are_syntax_errors_without_parser_advice() {
    let loaded = load("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n  name: b\n");
    assert_eq!(loaded.errors.len(), 1);
    let err = &loaded.errors[0];
    assert_eq!(err.class, ErrorClass::Syntax);
    assert_eq!(err.location.line, 5);
    assert_eq!(
        err.message,
        "YAML syntax error: duplicate mapping key: name"
    );
}

#[test]
fn api_server_defaults_are_applied() {
    let text = "\
apiVersion: gateway.networking.k8s.io/v1beta1
kind: HTTPRoute
metadata:
  name: r
spec:
  parentRefs:
  - name: gw
---
apiVersion: v1
kind: Service
metadata:
  name: s
spec:
  ports:
  - port: 80
";
    let loaded = load(text);
    assert!(loaded.errors.is_empty(), "{:?}", loaded.errors);
    let Object::HttpRoute(route) = &loaded.documents[0].object else {
        panic!("a route");
    };
    let parent = &route.spec.parent_refs.as_ref().expect("parents")[0];
    assert_eq!(parent.kind.as_deref(), Some("Gateway"));
    let json = loaded.documents[0].object.to_json();
    assert_eq!(
        json["spec"]["rules"][0]["matches"][0]["path"]["value"], "/",
        "{json}"
    );
    let Object::Service(svc) = &loaded.documents[1].object else {
        panic!("a service");
    };
    let port = &svc
        .spec
        .as_ref()
        .expect("spec")
        .ports
        .as_ref()
        .expect("ports")[0];
    assert_eq!(port.protocol.as_deref(), Some("TCP"));
    assert_eq!(
        port.target_port,
        Some(k8s_openapi::apimachinery::pkg::util::intstr::IntOrString::Int(80))
    );
}

#[test]
fn invalid_names_are_located_errors() {
    let loaded = load(&GATEWAY.replace("name: gw", "name: My_Gateway"));
    assert_eq!(loaded.errors.len(), 1);
    let err = &loaded.errors[0];
    assert_eq!((err.location.line, err.location.column), (4, 9), "{err}");
    assert!(
        err.message
            .starts_with("metadata.name: invalid value \"My_Gateway\""),
        "{err}"
    );
    let loaded = load("apiVersion: v1\nkind: Service\nmetadata:\n  name: 1svc\n");
    assert_eq!(loaded.errors.len(), 1, "Service names are DNS-1035 labels");
    let loaded = load("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n  namespace: a.b\n");
    assert_eq!(loaded.errors.len(), 1);
    assert_eq!(loaded.errors[0].location.line, 5);
}

#[test]
fn schema_violations_are_located_errors() {
    let text = GATEWAY.replace("port: 80", "port: 70000");
    let loaded = load(&text);
    assert!(loaded.documents.is_empty());
    assert_eq!(loaded.errors.len(), 1, "{:?}", loaded.errors);
    let err = &loaded.errors[0];
    assert_eq!((err.location.line, err.location.column), (10, 11), "{err}");
    assert_eq!(
        err.message,
        "spec.listeners[0].port: Invalid value: 70000: should be less than or equal to 65535"
    );
}

#[test]
fn status_in_a_file_is_ignored() {
    let text = format!("{GATEWAY}status:\n  conditions: 5\n");
    let loaded = load(&text);
    assert!(loaded.errors.is_empty(), "{:?}", loaded.errors);
    let Object::Gateway(gw) = &loaded.documents[0].object else {
        panic!("a gateway");
    };
    assert!(gw.status.is_none());
}

#[test]
fn deprecated_versions_load_with_a_warning() {
    let text = "\
apiVersion: gateway.networking.k8s.io/v1alpha2
kind: UDPRoute
metadata:
  name: u
spec:
  rules:
  - backendRefs:
    - name: dns
      port: 53
";
    let loaded = load(text);
    assert!(loaded.errors.is_empty(), "{:?}", loaded.errors);
    assert_eq!(loaded.documents.len(), 1);
    assert_eq!(loaded.warnings.len(), 1);
    let warning = loaded.warnings[0].to_string();
    assert_eq!(
        warning,
        "dir/test.yaml:1:13: UDPRoute default/u: UDPRoute v1alpha2 is deprecated and will be \
         removed in a future release of the API; use gateway.networking.k8s.io/v1"
    );
    assert!(load(GATEWAY).warnings.is_empty());
}
