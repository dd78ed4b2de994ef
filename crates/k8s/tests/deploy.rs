//! The deploy manifests: they parse, RBAC is least-privilege, the pod is
//! non-root with only NET_BIND_SERVICE and probes on the admin server, and
//! the Helm chart renders to the plain manifests. `helm` is not installed on
//! the build machine, so the chart is rendered here by a renderer of the
//! subset of Helm's template language the chart uses: `{{ .Values.x }}`,
//! and whole-line `{{- if .Values.x }}` / `{{- if eq .Values.x "v" }}` /
//! `{{- else }}` / `{{- end }}` (anything else fails the test).

use std::path::PathBuf;

use serde_json::Value;

fn deploy(path: &str) -> String {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../deploy")
        .join(path);
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn docs(text: &str) -> Vec<Value> {
    text.split("\n---\n")
        .filter(|d| {
            d.lines()
                .any(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
        })
        .map(|d| serde_saphyr::from_str::<Value>(d).unwrap_or_else(|e| panic!("{e}\n{d}")))
        .collect()
}

fn value_text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Whether a whole-line `if` condition holds.
fn condition(expr: &str, values: &Value) -> bool {
    let lookup = |key: &str| {
        let key = key
            .strip_prefix(".Values.")
            .unwrap_or_else(|| panic!("unsupported template expression {expr:?}"));
        values[key].clone()
    };
    let words: Vec<&str> = expr.split_whitespace().collect();
    match words.as_slice() {
        ["eq", key, literal] => value_text(&lookup(key)) == literal.trim_matches('"'),
        [key] => match lookup(key) {
            Value::Bool(b) => b,
            Value::Null => false,
            Value::String(s) => !s.is_empty(),
            _ => true,
        },
        _ => panic!("unsupported template condition {expr:?}"),
    }
}

/// Renders `template` with `values.yaml` plus `overrides` (like `--set`).
fn render(template: &str, values: &str, overrides: &[(&str, Value)]) -> String {
    let mut values: Value = serde_saphyr::from_str(values).expect("values.yaml");
    for (key, value) in overrides {
        assert!(
            values.get(*key).is_some(),
            "--set {key}: not in values.yaml"
        );
        values[*key] = value.clone();
    }
    // Whole-line control structures: a stack of (this branch taken, any branch taken).
    let mut stack: Vec<(bool, bool)> = Vec::new();
    let mut lines = Vec::new();
    for line in template.lines() {
        let t = line.trim();
        if let Some(expr) = t
            .strip_prefix("{{- if ")
            .and_then(|r| r.strip_suffix(" }}"))
        {
            let holds = condition(expr, &values);
            stack.push((holds, holds));
        } else if t == "{{- else }}" {
            let top = stack.last_mut().expect("else without if");
            *top = (!top.1, true);
        } else if t == "{{- end }}" {
            stack.pop().expect("end without if");
        } else if stack.iter().all(|(taken, _)| *taken) {
            lines.push(line.to_string());
        }
    }
    assert!(stack.is_empty(), "unterminated if");
    let mut out = lines.join("\n");
    out.push('\n');
    for (key, value) in values.as_object().expect("values map") {
        out = out.replace(&format!("{{{{ .Values.{key} }}}}"), &value_text(value));
    }
    assert!(!out.contains("{{"), "unrendered template expression");
    out
}

fn find<'a>(docs: &'a [Value], kind: &str) -> &'a Value {
    docs.iter()
        .find(|d| d["kind"] == kind)
        .unwrap_or_else(|| panic!("no {kind}"))
}

#[test]
fn chart_renders_to_the_plain_manifests() {
    let rendered = render(
        &deploy("helm/portico/templates/portico.yaml"),
        &deploy("helm/portico/values.yaml"),
        &[],
    );
    assert_eq!(docs(&rendered), docs(&deploy("manifests/portico.yaml")));
    let daemonset = render(
        &deploy("helm/portico/templates/portico.yaml"),
        &deploy("helm/portico/values.yaml"),
        &[("kind", "DaemonSet".into()), ("hostNetwork", true.into())],
    );
    assert_eq!(
        docs(&daemonset),
        docs(&deploy("manifests/portico-daemonset.yaml"))
    );
    assert_eq!(
        deploy("helm/portico/crds/portico.dev_loadbalancerippools.yaml"),
        deploy("crds/portico.dev_loadbalancerippools.yaml")
    );
}

#[test]
fn manifests_have_every_piece() {
    let d = docs(&deploy("manifests/portico.yaml"));
    let kinds: Vec<&str> = d.iter().filter_map(|o| o["kind"].as_str()).collect();
    for kind in [
        "Namespace",
        "ServiceAccount",
        "ClusterRole",
        "ClusterRoleBinding",
        "Role",
        "RoleBinding",
        "Deployment",
        "PodDisruptionBudget",
    ] {
        assert!(kinds.contains(&kind), "missing {kind}");
    }
    let crd = docs(&deploy("crds/portico.dev_loadbalancerippools.yaml"));
    assert_eq!(crd[0]["spec"]["versions"][0]["name"], "v1alpha1");
    assert!(crd[0]["spec"]["versions"][0]["subresources"]["status"].is_object());
}

#[test]
fn rbac_is_least_privilege() {
    let d = docs(&deploy("manifests/portico.yaml"));
    let rules = find(&d, "ClusterRole")["rules"]
        .as_array()
        .expect("rules")
        .clone();
    for rule in &rules {
        let verbs: Vec<&str> = rule["verbs"]
            .as_array()
            .expect("verbs")
            .iter()
            .filter_map(Value::as_str)
            .collect();
        let resources: Vec<&str> = rule["resources"]
            .as_array()
            .expect("resources")
            .iter()
            .filter_map(Value::as_str)
            .collect();
        assert!(
            !verbs.contains(&"*") && !resources.contains(&"*"),
            "wildcard in {rule}"
        );
        assert!(!verbs.contains(&"delete"), "delete in {rule}");
        let writes = verbs
            .iter()
            .any(|v| matches!(*v, "create" | "patch" | "update"));
        if writes {
            assert!(
                resources
                    .iter()
                    .all(|r| r.ends_with("/status") || *r == "services" || *r == "events"),
                "writes beyond status, Services, Events: {rule}"
            );
        }
    }
    let lease_rules = &find(&d, "Role")["rules"];
    assert_eq!(lease_rules[0]["resources"][0], "leases");
}

#[test]
fn pod_is_non_root_with_only_net_bind_service_and_probes() {
    let d = docs(&deploy("manifests/portico.yaml"));
    let pod = &find(&d, "Deployment")["spec"]["template"]["spec"];
    assert_eq!(pod["securityContext"]["runAsNonRoot"], true);
    let c = &pod["containers"][0];
    assert_eq!(c["securityContext"]["capabilities"]["drop"][0], "ALL");
    assert_eq!(
        c["securityContext"]["capabilities"]["add"],
        serde_json::json!(["NET_BIND_SERVICE"])
    );
    assert_eq!(c["securityContext"]["allowPrivilegeEscalation"], false);
    assert_eq!(c["livenessProbe"]["httpGet"]["path"], "/healthz");
    assert_eq!(c["readinessProbe"]["httpGet"]["path"], "/readyz");
    let args: Vec<&str> = c["args"]
        .as_array()
        .expect("args")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(args.contains(&"--kubernetes"));
}

#[test]
fn daemonset_variant_runs_one_pod_per_node_on_the_host_network() {
    let d = docs(&deploy("manifests/portico-daemonset.yaml"));
    let ds = find(&d, "DaemonSet");
    assert!(
        ds["spec"].get("replicas").is_none(),
        "a DaemonSet has no replicas"
    );
    let pod = &ds["spec"]["template"]["spec"];
    assert_eq!(pod["hostNetwork"], true);
    assert_eq!(pod["dnsPolicy"], "ClusterFirstWithHostNet");
    assert!(d.iter().all(|o| o["kind"] != "Deployment"));
    // Same pod hardening as the Deployment.
    let c = &pod["containers"][0];
    assert_eq!(
        c["securityContext"]["capabilities"]["add"],
        serde_json::json!(["NET_BIND_SERVICE"])
    );
    assert_eq!(pod["securityContext"]["runAsNonRoot"], true);
}
