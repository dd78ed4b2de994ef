//! The OpenAPI validations of the Gateway API CRDs that the API server
//! checks before CEL: enum, pattern, length, item and property counts,
//! numeric bounds, and uniqueness in `map` / `set` lists. (The CRDs' CEL
//! rules are not evaluated here; translation reports what they would catch
//! that matters to it.) Values of the wrong JSON type are left to the typed
//! deserialization, which reports them.

use std::collections::HashSet;

use serde_json::{Map, Value};

use super::node::escape_segment;
use super::schema;

/// One failed validation: where (JSON pointer) and what.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Violation {
    pub(crate) pointer: String,
    pub(crate) message: String,
}

/// Every violation in `object` (a whole object) of the schema of `kind`.
pub(crate) fn validate(kind: &str, object: &Value) -> Vec<Violation> {
    let mut out = Vec::new();
    if let Some(schema) = schema::for_kind(kind) {
        let mut pointer = String::new();
        walk(object, schema, &mut pointer, &mut out);
    }
    out
}

fn push(out: &mut Vec<Violation>, pointer: &str, message: String) {
    out.push(Violation {
        pointer: pointer.to_string(),
        message,
    });
}

fn usize_of(schema: &Value, key: &str) -> Option<usize> {
    schema
        .get(key)
        .and_then(Value::as_u64)
        .and_then(|n| usize::try_from(n).ok())
}

fn walk(value: &Value, schema: &Value, pointer: &mut String, out: &mut Vec<Violation>) {
    if let Some(Value::Array(allowed)) = schema.get("enum")
        && !value.is_null()
        && !allowed.contains(value)
    {
        let list: Vec<String> = allowed.iter().map(Value::to_string).collect();
        push(
            out,
            pointer,
            format!(
                "Unsupported value: {value}: supported values: {}",
                list.join(", ")
            ),
        );
    }
    match value {
        Value::String(s) => string(s, schema, pointer, out),
        Value::Number(n) => number(n, schema, pointer, out),
        Value::Array(items) => array(items, schema, pointer, out),
        Value::Object(map) => object(map, schema, pointer, out),
        Value::Bool(_) | Value::Null => {}
    }
}

fn string(s: &str, schema: &Value, pointer: &str, out: &mut Vec<Violation>) {
    let len = s.chars().count();
    if let Some(max) = usize_of(schema, "maxLength")
        && len > max
    {
        push(
            out,
            pointer,
            format!("Too long: may not be longer than {max} characters (is {len})"),
        );
    }
    if let Some(min) = usize_of(schema, "minLength")
        && len < min
    {
        push(
            out,
            pointer,
            format!("Invalid value: {s:?}: should be at least {min} characters long"),
        );
    }
    if let Some(Value::String(p)) = schema.get("pattern")
        && let Some(re) = schema::pattern(p)
        && !re.is_match(s)
    {
        push(
            out,
            pointer,
            format!("Invalid value: {s:?}: should match '{p}'"),
        );
    }
}

fn number(n: &serde_json::Number, schema: &Value, pointer: &str, out: &mut Vec<Violation>) {
    let Some(v) = n.as_f64() else {
        return;
    };
    if let Some(min) = schema.get("minimum").and_then(Value::as_f64)
        && v < min
    {
        push(
            out,
            pointer,
            format!("Invalid value: {n}: should be greater than or equal to {min}"),
        );
    }
    if let Some(max) = schema.get("maximum").and_then(Value::as_f64)
        && v > max
    {
        push(
            out,
            pointer,
            format!("Invalid value: {n}: should be less than or equal to {max}"),
        );
    }
}

fn array(items: &[Value], schema: &Value, pointer: &mut String, out: &mut Vec<Violation>) {
    if let Some(max) = usize_of(schema, "maxItems")
        && items.len() > max
    {
        push(
            out,
            pointer,
            format!("Too many: {}: must have at most {max} items", items.len()),
        );
    }
    if let Some(min) = usize_of(schema, "minItems")
        && items.len() < min
    {
        push(
            out,
            pointer,
            format!("Required value: must have at least {min} item(s)"),
        );
    }
    match schema.get("x-kubernetes-list-type").and_then(Value::as_str) {
        Some("set") => {
            let mut seen = HashSet::new();
            for (i, item) in items.iter().enumerate() {
                if !seen.insert(item.to_string()) {
                    push(
                        out,
                        &format!("{pointer}/{i}"),
                        format!("Duplicate value: {item}"),
                    );
                }
            }
        }
        Some("map") => {
            let keys: Vec<&str> = schema
                .get("x-kubernetes-list-map-keys")
                .and_then(Value::as_array)
                .map(|k| k.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            let mut seen = HashSet::new();
            for (i, item) in items.iter().enumerate() {
                let id: Map<String, Value> = keys
                    .iter()
                    .filter_map(|k| item.get(*k).map(|v| ((*k).to_string(), v.clone())))
                    .collect();
                let id = Value::Object(id);
                if !seen.insert(id.to_string()) {
                    push(
                        out,
                        &format!("{pointer}/{i}"),
                        format!("Duplicate value: {id}"),
                    );
                }
            }
        }
        _ => {}
    }
    if let Some(item_schema) = schema.get("items") {
        for (i, item) in items.iter().enumerate() {
            let len = pointer.len();
            pointer.push('/');
            pointer.push_str(&i.to_string());
            walk(item, item_schema, pointer, out);
            pointer.truncate(len);
        }
    }
}

fn object(
    map: &Map<String, Value>,
    schema: &Value,
    pointer: &mut String,
    out: &mut Vec<Violation>,
) {
    if let Some(max) = usize_of(schema, "maxProperties")
        && map.len() > max
    {
        push(
            out,
            pointer,
            format!("Too many: {}: must have at most {max} items", map.len()),
        );
    }
    let properties = schema.get("properties").and_then(Value::as_object);
    let additional = schema.get("additionalProperties");
    for (name, child) in map {
        let child_schema = match properties.and_then(|p| p.get(name)) {
            Some(s) => s,
            None => match additional {
                Some(s) => s,
                None => continue,
            },
        };
        let len = pointer.len();
        pointer.push('/');
        pointer.push_str(&escape_segment(name));
        walk(child, child_schema, pointer, out);
        pointer.truncate(len);
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn gateway(listeners: Value) -> Value {
        json!({
            "apiVersion": "gateway.networking.k8s.io/v1",
            "kind": "Gateway",
            "metadata": {"name": "gw"},
            "spec": {"gatewayClassName": "portico", "listeners": listeners}
        })
    }

    #[test]
    fn valid_gateway_has_no_violations() {
        let gw = gateway(json!([{"name": "http", "port": 80, "protocol": "HTTP"}]));
        assert_eq!(validate("Gateway", &gw), []);
    }

    #[test]
    fn bounds_patterns_and_duplicates() {
        let gw = gateway(json!([
            {"name": "http", "port": 70000, "protocol": "HTTP", "hostname": "Bad_Host"},
            {"name": "http", "port": 81, "protocol": "HTTP"}
        ]));
        let found: Vec<_> = validate("Gateway", &gw)
            .into_iter()
            .map(|v| v.pointer)
            .collect();
        assert!(
            found.contains(&"/spec/listeners/0/port".to_string()),
            "{found:?}"
        );
        assert!(
            found.contains(&"/spec/listeners/0/hostname".to_string()),
            "{found:?}"
        );
        assert!(
            found.contains(&"/spec/listeners/1".to_string()),
            "{found:?}"
        );
    }

    #[test]
    fn too_few_items() {
        let gw = gateway(json!([]));
        let v = validate("Gateway", &gw);
        assert_eq!(v.len(), 1, "{v:?}");
        assert_eq!(v[0].pointer, "/spec/listeners");
        assert!(
            v[0].message.starts_with("Required value"),
            "{}",
            v[0].message
        );
    }

    #[test]
    fn enum_values() {
        let route =
            json!({"spec": {"rules": [{"matches": [{"path": {"type": "Glob", "value": "/"}}]}]}});
        let v = validate("HTTPRoute", &route);
        assert_eq!(v.len(), 1, "{v:?}");
        assert_eq!(v[0].pointer, "/spec/rules/0/matches/0/path/type");
        assert!(v[0].message.contains("\"PathPrefix\""), "{}", v[0].message);
    }

    #[test]
    fn kinds_without_schema_are_not_checked() {
        assert_eq!(validate("Service", &json!({"spec": {"ports": 5}})), []);
    }
}
