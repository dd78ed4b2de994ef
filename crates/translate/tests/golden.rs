//! Golden tests: every `tests/golden/<case>/input.yaml` is loaded as the
//! standalone mode would load it, translated with `Options::default()`, and
//! the `{ir, statuses}` output compared with `expected.yaml` beside it.
//!
//! `PORTICO_BLESS=1 cargo test -p portico-translate --test golden` rewrites
//! the expectations; review every rewritten file against the spec before
//! committing it: a golden file is a claim that the output is right.
//!
//! `PORTICO_GOLDEN=<substring>` runs (and blesses) only the cases whose
//! directory name contains the substring, e.g. `PORTICO_GOLDEN=gateway-`.
//!
//! Input placeholders: `{GATEWAY_CLASS_NAME}`, `{GATEWAY_CONTROLLER_NAME}` (as
//! upstream), and `{TLS_CRT}` / `{TLS_KEY}`: base64 of a certificate and key
//! generated for the run (SANs `*.example.com`, `example.com`), and
//! `{TLS_CRT_PEM}`: that certificate as a quoted PEM string (for ConfigMap
//! `ca.crt` values). PEM material
//! is redacted in the output so expectations stay stable.

mod support;

use std::path::{Path, PathBuf};

use portico_translate::{Options, translate};
use serde_json::Value;

fn cases() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden");
    let mut cases: Vec<PathBuf> = std::fs::read_dir(&root)
        .unwrap_or_else(|e| panic!("reading {}: {e}", root.display()))
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.join("input.yaml").is_file())
        .collect();
    if let Ok(filter) = std::env::var("PORTICO_GOLDEN") {
        cases.retain(|c| {
            c.file_name()
                .is_some_and(|n| n.to_string_lossy().contains(&filter))
        });
    }
    cases.sort();
    cases
}

/// Replaces PEM strings (certificates, keys) by a fixed marker, and each
/// GatewayClass's `supportedFeatures` (checked by the features unit tests)
/// by a marker, so adding a feature does not rewrite every expectation.
fn redact(value: &mut Value) {
    match value {
        Value::Object(map) if map.contains_key("supportedFeatures") => {
            map.insert(
                "supportedFeatures".to_string(),
                Value::String("<features::SUPPORTED>".to_string()),
            );
            map.values_mut().for_each(redact);
        }
        Value::String(s) if s.contains("-----BEGIN ") => {
            *s = if s.contains("PRIVATE KEY") {
                "<redacted private key PEM>".to_string()
            } else {
                "<redacted certificate PEM>".to_string()
            };
        }
        Value::Array(items) => items.iter_mut().for_each(redact),
        Value::Object(map) => map.values_mut().for_each(redact),
        _ => {}
    }
}

fn render(case: &Path, cert: &support::TestCert) -> String {
    let text = std::fs::read_to_string(case.join("input.yaml")).expect("read input.yaml");
    let text = support::substitute(&text)
        .replace("{TLS_CRT}", &support::base64(cert.cert_pem.as_bytes()))
        .replace("{TLS_KEY}", &support::base64(cert.key_pem.as_bytes()))
        .replace(
            "{TLS_CRT_PEM}",
            &serde_json::to_string(&cert.cert_pem).expect("JSON string"),
        );
    let (snapshot, errors) = support::load(
        &case.join("input.yaml").display().to_string(),
        &text,
        vec![],
    );
    let output = translate(&snapshot, &Options::default());
    let mut value = serde_json::json!({
        "ir": output.ir,
        "statuses": output.statuses,
    });
    if !errors.is_empty() {
        value["load_errors"] = serde_json::json!(errors);
    }
    redact(&mut value);
    serde_saphyr::to_string(&value).expect("serialize YAML")
}

/// A small line diff (longest common subsequence), enough for review.
fn diff(expected: &str, actual: &str) -> String {
    let a: Vec<&str> = expected.lines().collect();
    let b: Vec<&str> = actual.lines().collect();
    let mut lcs = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for i in (0..a.len()).rev() {
        for j in (0..b.len()).rev() {
            lcs[i][j] = if a[i] == b[j] {
                lcs[i + 1][j + 1] + 1
            } else {
                lcs[i + 1][j].max(lcs[i][j + 1])
            };
        }
    }
    let (mut i, mut j) = (0, 0);
    let mut out = String::new();
    while i < a.len() || j < b.len() {
        if i < a.len() && j < b.len() && a[i] == b[j] {
            i += 1;
            j += 1;
        } else if i < a.len() && (j == b.len() || lcs[i + 1][j] >= lcs[i][j + 1]) {
            out.push_str(&format!("{:>5} - {}\n", i + 1, a[i]));
            i += 1;
        } else {
            out.push_str(&format!("{:>5} + {}\n", j + 1, b[j]));
            j += 1;
        }
    }
    out
}

#[test]
fn golden() {
    let bless = std::env::var_os("PORTICO_BLESS").is_some_and(|v| v == "1");
    let cert = support::cert(&["*.example.com", "example.com"]);
    let cases = cases();
    assert!(!cases.is_empty(), "no golden cases found");
    let mut failures = Vec::new();
    for case in &cases {
        let name = case
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let actual = render(case, &cert);
        // Deterministic: a second run gives the same text.
        assert_eq!(
            actual,
            render(case, &cert),
            "{name}: output is not deterministic"
        );
        let expected_path = case.join("expected.yaml");
        if bless {
            std::fs::write(&expected_path, &actual).expect("write expected.yaml");
            continue;
        }
        match std::fs::read_to_string(&expected_path) {
            Ok(expected) if expected == actual => {}
            Ok(expected) => failures.push(format!(
                "== {name}: output differs from expected.yaml (- expected, + actual)\n{}",
                diff(&expected, &actual)
            )),
            Err(_) => failures.push(format!(
                "== {name}: no expected.yaml (run with PORTICO_BLESS=1, then review it)"
            )),
        }
    }
    assert!(
        failures.is_empty(),
        "{} golden case(s) failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn diff_marks_removed_and_added_lines() {
    let d = diff("a\nb\nc\n", "a\nB\nc\nd\n");
    assert_eq!(d, "    2 - b\n    2 + B\n    4 + d\n");
    assert_eq!(diff("same\n", "same\n"), "");
}
