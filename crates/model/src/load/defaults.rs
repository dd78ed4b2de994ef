//! Field defaults the API server applies on create, so an object read from a
//! file looks like the same object read from a cluster:
//!
//! - Gateway API kinds: the OpenAPI `default`s of their CRD schemas
//!   (`generated/schema.json`, produced by `scripts/gen-model.sh`), applied
//!   with the API server's structural defaulting algorithm: a missing (or
//!   null) property with a default gets a copy of it, then every present
//!   value is defaulted in turn, defaults included.
//! - Core kinds: the handful of Go defaulting functions translation relies on
//!   (Service port protocol and targetPort, Service type, EndpointSlice port
//!   protocol, Secret type).

use serde_json::{Map, Value};

use super::schema;

/// Applies the defaults of `kind` to `object` (a whole object: apiVersion,
/// kind, metadata, spec, ...).
pub(crate) fn apply(kind: &str, object: &mut Value) {
    if let Some(schema) = schema::for_kind(kind) {
        structural(object, schema);
    }
    match kind {
        "Service" => service(object),
        "EndpointSlice" => endpoint_slice(object),
        "Secret" => secret(object),
        _ => {}
    }
}

/// The API server's structural defaulting over a pruned schema node
/// (`default`, `properties`, `items`, `additionalProperties`).
fn structural(value: &mut Value, schema: &Value) {
    match value {
        Value::Object(map) => {
            let properties = schema.get("properties").and_then(Value::as_object);
            if let Some(properties) = properties {
                for (name, prop) in properties {
                    if let Some(default) = prop.get("default")
                        && map.get(name).is_none_or(Value::is_null)
                    {
                        map.insert(name.clone(), default.clone());
                    }
                }
            }
            let additional = schema.get("additionalProperties");
            for (name, child) in map.iter_mut() {
                match properties.and_then(|p| p.get(name)) {
                    Some(prop) => structural(child, prop),
                    None => {
                        if let Some(additional) = additional {
                            structural(child, additional);
                        }
                    }
                }
            }
        }
        Value::Array(items) => {
            if let Some(item_schema) = schema.get("items") {
                for item in items {
                    structural(item, item_schema);
                }
            }
        }
        _ => {}
    }
}

fn set_if_missing(map: &mut Map<String, Value>, key: &str, value: impl FnOnce() -> Value) {
    if map.get(key).is_none_or(Value::is_null) {
        map.insert(key.to_string(), value());
    }
}

fn service(object: &mut Value) {
    let Some(root) = object.as_object_mut() else {
        return;
    };
    set_if_missing(root, "spec", || Value::Object(Map::new()));
    let Some(spec) = root.get_mut("spec").and_then(Value::as_object_mut) else {
        return;
    };
    set_if_missing(spec, "type", || Value::from("ClusterIP"));
    set_if_missing(spec, "sessionAffinity", || Value::from("None"));
    let external_name = spec.get("type").and_then(Value::as_str) == Some("ExternalName");
    if !external_name {
        set_if_missing(spec, "internalTrafficPolicy", || Value::from("Cluster"));
    }
    if let Some(ports) = spec.get_mut("ports").and_then(Value::as_array_mut) {
        for port in ports.iter_mut().filter_map(Value::as_object_mut) {
            set_if_missing(port, "protocol", || Value::from("TCP"));
            let target_unset = match port.get("targetPort") {
                None | Some(Value::Null) => true,
                Some(Value::Number(n)) => n.as_i64() == Some(0),
                Some(Value::String(s)) => s.is_empty(),
                Some(_) => false,
            };
            if target_unset && let Some(p) = port.get("port").cloned() {
                port.insert("targetPort".to_string(), p);
            }
        }
    }
}

fn endpoint_slice(object: &mut Value) {
    let Some(ports) = object.get_mut("ports").and_then(Value::as_array_mut) else {
        return;
    };
    for port in ports.iter_mut().filter_map(Value::as_object_mut) {
        set_if_missing(port, "protocol", || Value::from("TCP"));
        set_if_missing(port, "name", || Value::from(""));
    }
}

fn secret(object: &mut Value) {
    if let Some(root) = object.as_object_mut() {
        set_if_missing(root, "type", || Value::from("Opaque"));
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn httproute_without_rules_gets_the_catch_all_rule() {
        let mut route = json!({"spec": {"parentRefs": [{"name": "gw"}]}});
        apply("HTTPRoute", &mut route);
        assert_eq!(
            route["spec"],
            json!({
                "parentRefs": [{"name": "gw", "group": "gateway.networking.k8s.io", "kind": "Gateway"}],
                "rules": [{"matches": [{"path": {"type": "PathPrefix", "value": "/"}}]}]
            })
        );
    }

    #[test]
    fn nested_defaults_fill_present_objects_only() {
        let mut route = json!({"spec": {"rules": [{
            "matches": [{"headers": [{"name": "a", "value": "b"}]}],
            "backendRefs": [{"name": "svc", "port": 80}]
        }]}});
        apply("HTTPRoute", &mut route);
        let rule = &route["spec"]["rules"][0];
        assert_eq!(rule["matches"][0]["headers"][0]["type"], "Exact");
        assert_eq!(
            rule["matches"][0]["path"],
            json!({"type": "PathPrefix", "value": "/"})
        );
        assert_eq!(
            rule["backendRefs"][0],
            json!({"name": "svc", "port": 80, "group": "", "kind": "Service", "weight": 1})
        );
        // No filters were given; none are invented.
        assert!(rule.get("filters").is_none());
    }

    #[test]
    fn gateway_listener_allowed_routes_default_to_same_namespace() {
        let mut gw =
            json!({"spec": {"listeners": [{"name": "http", "port": 80, "protocol": "HTTP"}]}});
        apply("Gateway", &mut gw);
        assert_eq!(
            gw["spec"]["listeners"][0]["allowedRoutes"]["namespaces"]["from"],
            "Same"
        );
    }

    #[test]
    fn explicit_values_are_kept() {
        let mut route =
            json!({"spec": {"rules": [{"matches": [{"path": {"type": "Exact", "value": "/x"}}]}]}});
        apply("HTTPRoute", &mut route);
        assert_eq!(
            route["spec"]["rules"][0]["matches"][0]["path"],
            json!({"type": "Exact", "value": "/x"})
        );
    }

    #[test]
    fn service_ports_get_protocol_and_target_port() {
        let mut svc =
            json!({"spec": {"ports": [{"port": 80}, {"port": 443, "targetPort": "https"}]}});
        apply("Service", &mut svc);
        assert_eq!(
            svc["spec"]["ports"],
            json!([
                {"port": 80, "protocol": "TCP", "targetPort": 80},
                {"port": 443, "protocol": "TCP", "targetPort": "https"}
            ])
        );
        assert_eq!(svc["spec"]["type"], "ClusterIP");
    }

    #[test]
    fn endpoint_slice_ports_get_protocol() {
        let mut slice = json!({"ports": [{"port": 8080}]});
        apply("EndpointSlice", &mut slice);
        assert_eq!(
            slice["ports"][0],
            json!({"port": 8080, "protocol": "TCP", "name": ""})
        );
    }
}
