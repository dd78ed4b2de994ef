//! Strict field validation: a field the schema does not know (a typo such as
//! `hostname:` for `hostnames:`) is an error, as `kubectl apply` (strict
//! field validation, its default) reports it, instead of being dropped.
//!
//! Found by comparing the input with the typed object serialized again: a
//! non-null input field that does not come back is unknown to the type.

use serde_json::Value;

use super::node::escape_segment;

/// JSON pointers of the fields of `input` that `typed` does not have.
pub(crate) fn unknown_fields(input: &Value, typed: &Value) -> Vec<String> {
    let mut out = Vec::new();
    let mut pointer = String::new();
    walk(input, typed, &mut pointer, &mut out);
    out
}

fn walk(input: &Value, typed: &Value, pointer: &mut String, out: &mut Vec<String>) {
    match (input, typed) {
        (Value::Object(inp), Value::Object(typ)) => {
            for (key, value) in inp {
                if value.is_null() {
                    continue;
                }
                let len = pointer.len();
                pointer.push('/');
                pointer.push_str(&escape_segment(key));
                match typ.get(key) {
                    Some(t) => walk(value, t, pointer, out),
                    None => out.push(pointer.clone()),
                }
                pointer.truncate(len);
            }
        }
        (Value::Array(inp), Value::Array(typ)) => {
            for (i, (value, t)) in inp.iter().zip(typ).enumerate() {
                let len = pointer.len();
                pointer.push('/');
                pointer.push_str(&i.to_string());
                walk(value, t, pointer, out);
                pointer.truncate(len);
            }
        }
        // Scalars, or a shape the type turned into something else (a
        // base64 string, a quantity): nothing below to compare.
        _ => {}
    }
}

/// `/spec/rules/0/matchs` as `spec.rules[0].matchs`.
pub(crate) fn display_path(pointer: &str) -> String {
    let mut out = String::new();
    for segment in pointer.split('/').skip(1) {
        let segment = segment.replace("~1", "/").replace("~0", "~");
        if !segment.is_empty() && segment.bytes().all(|b| b.is_ascii_digit()) {
            out.push('[');
            out.push_str(&segment);
            out.push(']');
        } else {
            if !out.is_empty() {
                out.push('.');
            }
            out.push_str(&segment);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn finds_fields_the_type_dropped() {
        let input = json!({
            "spec": {"hostname": "x", "rules": [{"matchs": [], "filters": []}], "gone": null},
            "metadata": {"name": "a"}
        });
        let typed = json!({
            "spec": {"rules": [{"filters": []}]},
            "metadata": {"name": "a"}
        });
        assert_eq!(
            unknown_fields(&input, &typed),
            ["/spec/hostname", "/spec/rules/0/matchs"]
        );
    }

    #[test]
    fn equal_documents_have_none() {
        let v = json!({"a": [1, {"b": "c"}], "d": {"e.f/g": 1}});
        assert!(unknown_fields(&v, &v).is_empty());
    }

    #[test]
    fn displays_paths_like_kubectl() {
        assert_eq!(display_path("/spec/rules/0/matchs"), "spec.rules[0].matchs");
        assert_eq!(
            display_path("/metadata/labels/app.kubernetes.io~1name"),
            "metadata.labels.app.kubernetes.io/name"
        );
    }
}
