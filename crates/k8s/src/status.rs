//! Status writing: server-side apply of the `status` subresource under the
//! field manager `portico`, only when the desired status differs
//! semantically from the one on the object.
//!
//! "Semantically" means ignoring `lastTransitionTime`; a condition whose
//! type, status and reason are unchanged keeps the time already on the
//! object, so an idle cluster causes zero writes.

use kube::Client;
use kube::api::{Api, DynamicObject, Patch, PatchParams};
use serde_json::{Map, Value, json};

use crate::error::Result;
use crate::kinds::KindSpec;

/// Field manager of every write.
pub const FIELD_MANAGER: &str = "portico";

/// Removes every `lastTransitionTime` (for comparison).
pub fn without_times(value: &Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.iter()
                .filter(|(k, _)| k.as_str() != "lastTransitionTime")
                .map(|(k, v)| (k.clone(), without_times(v)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(without_times).collect()),
        other => other.clone(),
    }
}

/// Identity of an array element, to pair desired and existing entries:
/// conditions by `type`, listeners by `name`, route parents by `parentRef`
/// and controller, policy ancestors by `ancestorRef` and controller.
fn identity(item: &Value) -> Option<Value> {
    let map = item.as_object()?;
    for key in ["parentRef", "ancestorRef"] {
        if let Some(r) = map.get(key) {
            return Some(json!([r, map.get("controllerName")]));
        }
    }
    for key in ["type", "name"] {
        if let Some(v) = map.get(key) {
            return Some(v.clone());
        }
    }
    None
}

/// Sets `lastTransitionTime` on every condition of `desired`: the existing
/// condition's time when type, status and reason are unchanged, else `now`.
pub fn stamp(desired: &mut Value, existing: Option<&Value>, now: &str) {
    match desired {
        Value::Object(map) => {
            let is_condition = map.contains_key("type")
                && map.contains_key("status")
                && map.contains_key("reason");
            if is_condition {
                let kept = existing
                    .filter(|e| {
                        e.get("status") == map.get("status") && e.get("reason") == map.get("reason")
                    })
                    .and_then(|e| e.get("lastTransitionTime"))
                    .filter(|t| t.is_string())
                    .cloned();
                map.insert(
                    "lastTransitionTime".into(),
                    kept.unwrap_or_else(|| Value::String(now.to_string())),
                );
                return;
            }
            for (key, value) in map.iter_mut() {
                stamp(value, existing.and_then(|e| e.get(key)), now);
            }
        }
        Value::Array(items) => {
            let before = existing.and_then(Value::as_array);
            for (i, item) in items.iter_mut().enumerate() {
                let id = identity(item);
                let matched = before.and_then(|b| match &id {
                    Some(id) => b.iter().find(|e| identity(e).as_ref() == Some(id)),
                    None => b.get(i),
                });
                stamp(item, matched, now);
            }
        }
        _ => {}
    }
}

/// Route and policy statuses are shared between controllers: keeps the
/// entries of other controllers from `existing` and puts ours (from
/// `desired`) after them.
pub fn merge_foreign(kind: &str, desired: &mut Value, existing: Option<&Value>, controller: &str) {
    let key = match kind {
        "HTTPRoute" | "GRPCRoute" | "TLSRoute" | "TCPRoute" | "UDPRoute" => "parents",
        "BackendTLSPolicy" => "ancestors",
        _ => return,
    };
    let foreign: Vec<Value> = existing
        .and_then(|e| e.get(key))
        .and_then(Value::as_array)
        .map(|items| {
            items
                .iter()
                .filter(|i| i.get("controllerName").and_then(Value::as_str) != Some(controller))
                .cloned()
                .collect()
        })
        .unwrap_or_default();
    if let Value::Object(map) = desired {
        let ours = map.remove(key).and_then(|v| match v {
            Value::Array(a) => Some(a),
            _ => None,
        });
        let mut all = foreign;
        all.extend(ours.unwrap_or_default());
        map.insert(key.into(), Value::Array(all));
    }
}

/// What to write for one object: `None` when the object's status already
/// says the same (ignoring times), else the stamped status.
pub fn plan(
    kind: &str,
    desired: &Value,
    existing: Option<&Value>,
    controller: &str,
    now: &str,
) -> Option<Value> {
    let mut desired = desired.clone();
    merge_foreign(kind, &mut desired, existing, controller);
    let same = existing.is_some_and(|e| without_times(e) == without_times(&desired));
    if same {
        return None;
    }
    stamp(&mut desired, existing, now);
    if existing == Some(&desired) {
        return None;
    }
    Some(desired)
}

/// Applies `status` to the status subresource of one object.
pub async fn apply(
    client: &Client,
    kind: &KindSpec,
    version: &str,
    namespace: Option<&str>,
    name: &str,
    status: Value,
) -> Result<()> {
    let resource = kind.resource(version);
    let api: Api<DynamicObject> = match namespace {
        Some(ns) if kind.namespaced => Api::namespaced_with(client.clone(), ns, &resource),
        _ => Api::all_with(client.clone(), &resource),
    };
    let mut body = Map::new();
    body.insert(
        "apiVersion".into(),
        Value::String(resource.api_version.clone()),
    );
    body.insert("kind".into(), Value::String(kind.kind.to_string()));
    body.insert("metadata".into(), json!({ "name": name }));
    body.insert("status".into(), status);
    api.patch_status(
        name,
        &PatchParams::apply(FIELD_MANAGER).force(),
        &Patch::Apply(Value::Object(body)),
    )
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gateway(status: &str, reason: &str, time: Option<&str>) -> Value {
        let mut c = json!({"type": "Programmed", "status": status, "reason": reason, "message": "", "observedGeneration": 1});
        if let Some(t) = time {
            c["lastTransitionTime"] = json!(t);
        }
        json!({"conditions": [c], "listeners": [{"name": "http", "attachedRoutes": 0, "conditions": [
            {"type": "Accepted", "status": "True", "reason": "Accepted", "message": "", "observedGeneration": 1}
        ]}]})
    }

    #[test]
    fn unchanged_status_plans_no_write() {
        let mut existing = gateway("True", "Programmed", None);
        stamp(&mut existing, None, "T0");
        let desired = gateway("True", "Programmed", None);
        assert_eq!(plan("Gateway", &desired, Some(&existing), "c", "T1"), None);
    }

    #[test]
    fn changed_condition_gets_now_others_keep_their_time() {
        let mut existing = gateway("True", "Programmed", None);
        stamp(&mut existing, None, "T0");
        let desired = gateway("False", "Invalid", None);
        let out = plan("Gateway", &desired, Some(&existing), "c", "T1").expect("write");
        assert_eq!(out["conditions"][0]["lastTransitionTime"], "T1");
        assert_eq!(
            out["listeners"][0]["conditions"][0]["lastTransitionTime"],
            "T0"
        );
    }

    #[test]
    fn missing_status_is_written() {
        let desired = gateway("True", "Programmed", None);
        let out = plan("Gateway", &desired, None, "c", "T1").expect("write");
        assert_eq!(out["conditions"][0]["lastTransitionTime"], "T1");
    }

    #[test]
    fn other_controllers_route_parents_are_kept() {
        let existing = json!({"parents": [
            {"parentRef": {"name": "other"}, "controllerName": "example.com/x", "conditions": []}
        ]});
        let desired = json!({"parents": [
            {"parentRef": {"name": "gw"}, "controllerName": "portico", "conditions": []}
        ]});
        let out = plan("HTTPRoute", &desired, Some(&existing), "portico", "T").expect("write");
        let parents = out["parents"].as_array().expect("parents");
        assert_eq!(parents.len(), 2);
        assert_eq!(parents[0]["controllerName"], "example.com/x");
        // Applying again with the merged result on the object: no write.
        assert_eq!(
            plan("HTTPRoute", &desired, Some(&out), "portico", "T2"),
            None
        );
    }
}
