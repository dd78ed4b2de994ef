//! `load_str` takes whatever a file holds: it never panics, and every error
//! points inside the file.

use std::path::Path;

use portico_model::load_str;
use proptest::prelude::*;

const VALID: &str = "\
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: r
  labels: {app: web}
spec:
  parentRefs:
  - name: gw
    sectionName: http
  hostnames: [\"a.example.com\"]
  rules:
  - matches:
    - path: {type: PathPrefix, value: /api}
      headers:
      - {name: x-a, value: b}
    backendRefs:
    - {name: svc, port: 8080, weight: 2}
---
apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: Secret
  metadata: {name: s}
  stringData: {a: b}
";

fn check(text: &str) {
    let loaded = load_str(Path::new("f.yaml"), text);
    let lines = text.lines().count().max(1);
    for err in &loaded.errors {
        assert!(err.location.line >= 1 && err.location.column >= 1, "{err}");
        assert!(err.location.line <= lines + 1, "{err} beyond {lines} lines");
    }
    for doc in &loaded.documents {
        assert!(!doc.object.name().is_empty());
        assert!(doc.location.line <= lines + 1);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn arbitrary_text(text in "[ a-z:{}\\[\\],'\"\\-\\n#&*!|>0-9.]{0,200}") {
        check(&text);
    }

    #[test]
    fn mutated_valid_documents(pos in 0usize..VALID.len(), len in 0usize..20, insert in "[ :\\-\\[\\]{}\\n\\t'\"a-z0-9&*!]{0,8}") {
        let mut text = VALID.to_string();
        let start = (0..=pos).rev().find(|i| text.is_char_boundary(*i)).unwrap_or(0);
        let end = (start + len).min(text.len());
        let end = (end..=text.len()).find(|i| text.is_char_boundary(*i)).unwrap_or(text.len());
        text.replace_range(start..end, &insert);
        check(&text);
    }
}

#[test]
fn the_valid_base_loads() {
    let loaded = load_str(Path::new("f.yaml"), VALID);
    assert!(loaded.errors.is_empty(), "{:?}", loaded.errors);
    assert_eq!(loaded.documents.len(), 2);
}
