//! Reading the upstream manifests as plain JSON documents.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::error::{Context, Failure};
use crate::{CONTROLLER_NAME, GATEWAY_CLASS};

/// The shared directory holding `gateway-api/` (CRDs and conformance manifests).
pub fn shared_dir() -> Result<PathBuf, Failure> {
    let candidates = [
        std::env::var_os("PORTICO_SHARED_DIR").map(PathBuf::from),
        Some(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared")),
    ];
    for dir in candidates.into_iter().flatten() {
        if dir.join("gateway-api/conformance").is_dir() {
            return Ok(dir);
        }
    }
    Err(Failure::new(
        "the upstream conformance manifests were not found: expected ../shared/gateway-api next to \
         the repository, or set PORTICO_SHARED_DIR",
    ))
}

/// Path of an upstream conformance file, e.g. `tests/httproute-matching.yaml`.
pub fn conformance_file(relative: &str) -> Result<PathBuf, Failure> {
    Ok(shared_dir()?.join("gateway-api/conformance").join(relative))
}

/// Replaces the placeholders the upstream suite fills in at run time.
pub fn substitute(text: &str, extra: &[(&str, &str)]) -> String {
    let mut out = text
        .replace("{GATEWAY_CLASS_NAME}", GATEWAY_CLASS)
        .replace("{GATEWAY_CONTROLLER_NAME}", CONTROLLER_NAME);
    for (from, to) in extra {
        out = out.replace(from, to);
    }
    out
}

/// Splits a multi-document YAML text into JSON values (empty documents dropped).
pub fn documents(text: &str) -> Result<Vec<Value>, Failure> {
    let mut docs = Vec::new();
    let mut current = String::new();
    let mut flush = |chunk: &mut String| -> Result<(), Failure> {
        if chunk.lines().any(|l| {
            let t = l.trim();
            !t.is_empty() && !t.starts_with('#')
        }) {
            let value: Value =
                serde_saphyr::from_str(chunk).context("parsing a manifest document")?;
            if !value.is_null() {
                docs.push(value);
            }
        }
        chunk.clear();
        Ok(())
    };
    for line in text.lines() {
        if line.starts_with("---") {
            flush(&mut current)?;
        } else {
            current.push_str(line);
            current.push('\n');
        }
    }
    flush(&mut current)?;
    Ok(docs)
}

/// `kind` of a document.
pub fn kind(doc: &Value) -> &str {
    doc.get("kind").and_then(Value::as_str).unwrap_or("")
}

/// `metadata.name` of a document.
pub fn name(doc: &Value) -> &str {
    doc.pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("")
}

/// `metadata.namespace` of a document (`default` when absent).
pub fn namespace(doc: &Value) -> &str {
    doc.pointer("/metadata/namespace")
        .and_then(Value::as_str)
        .unwrap_or("default")
}

/// The GatewayClass the upstream suite expects to exist.
pub fn gateway_class_yaml() -> String {
    format!(
        "apiVersion: gateway.networking.k8s.io/v1\nkind: GatewayClass\nmetadata:\n  name: {GATEWAY_CLASS}\nspec:\n  controllerName: {CONTROLLER_NAME}\n"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_documents_and_skips_comments() {
        let docs = documents("# header\n---\nkind: A\n---\n\n---\nkind: B\nmetadata: {name: b}\n")
            .expect("parse");
        assert_eq!(docs.len(), 2);
        assert_eq!(kind(&docs[1]), "B");
        assert_eq!(name(&docs[1]), "b");
        assert_eq!(namespace(&docs[1]), "default");
    }

    #[test]
    fn substitutes_placeholders() {
        let s = substitute("c: {GATEWAY_CLASS_NAME} x: X", &[("X", "y")]);
        assert_eq!(s, "c: portico x: y");
    }
}
