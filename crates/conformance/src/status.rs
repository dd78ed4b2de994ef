//! Status expectations, checked the way the upstream helpers check them:
//! every condition must carry `observedGeneration == metadata.generation`,
//! an empty expected reason means "any reason".

use std::time::Duration;

use serde_json::Value;

use crate::env::Env;
use crate::error::Failure;
use crate::{CONTROLLER_NAME, GATEWAY_GROUP};

/// An expected condition: type, status (`True`/`False`), reason (`""` = any).
#[derive(Clone, Copy, Debug)]
pub struct Cond(pub &'static str, pub &'static str, pub &'static str);

/// Polls `kind ns/name` until `check` accepts it or the deadline passes.
pub async fn eventually<F>(
    env: &Env,
    kind: &str,
    namespace: &str,
    name: &str,
    check: F,
) -> Result<Value, Failure>
where
    F: Fn(&Value) -> Result<(), String>,
{
    let deadline = tokio::time::Instant::now() + env.config.max_time_to_consistency;
    let mut last: String;
    loop {
        match env.portico()?.object(kind, namespace, name).await {
            Ok(Some(obj)) => match check(&obj) {
                Ok(()) => return Ok(obj),
                Err(why) => last = why,
            },
            Ok(None) => last = format!("{kind} {namespace}/{name} not found"),
            Err(e) => last = e.to_string(),
        }
        if tokio::time::Instant::now() > deadline {
            return Err(Failure(format!("{kind} {namespace}/{name}: {last}")));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn generation(obj: &Value) -> i64 {
    obj.pointer("/metadata/generation")
        .and_then(Value::as_i64)
        .unwrap_or(1)
}

/// Checks `conditions` (a status array) against `expected`.
pub fn conditions_match(
    conditions: &Value,
    expected: &[Cond],
    generation: i64,
) -> Result<(), String> {
    let list = conditions.as_array().cloned().unwrap_or_default();
    for Cond(type_, status, reason) in expected {
        let Some(c) = list
            .iter()
            .find(|c| c.get("type").and_then(Value::as_str) == Some(type_))
        else {
            return Err(format!("condition {type_} missing in {conditions}"));
        };
        let got_status = c.get("status").and_then(Value::as_str).unwrap_or("");
        let got_reason = c.get("reason").and_then(Value::as_str).unwrap_or("");
        if got_status != *status || (!reason.is_empty() && got_reason != *reason) {
            return Err(format!(
                "condition {type_}: expected {status}/{reason}, got {got_status}/{got_reason}: {}",
                c.get("message").and_then(Value::as_str).unwrap_or("")
            ));
        }
        let observed = c.get("observedGeneration").and_then(Value::as_i64);
        if observed != Some(generation) {
            return Err(format!(
                "condition {type_}: observedGeneration {observed:?}, metadata.generation {generation}"
            ));
        }
    }
    Ok(())
}

/// Waits for a Gateway with Accepted=True, Programmed=True and an address.
pub async fn gateway_ready(env: &Env, namespace: &str, name: &str) -> Result<Value, Failure> {
    eventually(env, "Gateway", namespace, name, |gw| {
        conditions_match(
            gw.pointer("/status/conditions").unwrap_or(&Value::Null),
            &[Cond("Accepted", "True", ""), Cond("Programmed", "True", "")],
            generation(gw),
        )?;
        let has_address = gw
            .pointer("/status/addresses/0/value")
            .and_then(Value::as_str)
            .is_some_and(|a| !a.is_empty());
        if has_address {
            Ok(())
        } else {
            Err("no status.addresses".into())
        }
    })
    .await
}

/// Waits for Gateway-level conditions.
pub async fn gateway_conditions(
    env: &Env,
    namespace: &str,
    name: &str,
    expected: &[Cond],
) -> Result<Value, Failure> {
    eventually(env, "Gateway", namespace, name, |gw| {
        conditions_match(
            gw.pointer("/status/conditions").unwrap_or(&Value::Null),
            expected,
            generation(gw),
        )
    })
    .await
}

/// An expected listener status.
#[derive(Clone, Debug)]
pub struct ListenerExpect {
    pub name: &'static str,
    /// Kinds that must be supported (a superset is fine; empty means must be empty).
    pub supported_kinds: &'static [&'static str],
    pub attached_routes: i64,
    pub conditions: &'static [Cond],
}

/// Waits for the exact listener statuses (count, attachedRoutes, kinds, conditions).
pub async fn gateway_listeners(
    env: &Env,
    namespace: &str,
    name: &str,
    expected: &[ListenerExpect],
) -> Result<Value, Failure> {
    listeners_of(env, "Gateway", namespace, name, expected).await
}

/// Upstream `ListenerSetStatusMustHaveListeners`: the same check on a
/// ListenerSet's `status.listeners`.
pub async fn listener_set_listeners(
    env: &Env,
    namespace: &str,
    name: &str,
    expected: &[ListenerExpect],
) -> Result<Value, Failure> {
    listeners_of(env, "ListenerSet", namespace, name, expected).await
}

async fn listeners_of(
    env: &Env,
    kind: &str,
    namespace: &str,
    name: &str,
    expected: &[ListenerExpect],
) -> Result<Value, Failure> {
    eventually(env, kind, namespace, name, |gw| {
        let listeners = gw
            .pointer("/status/listeners")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        if listeners.len() != expected.len() {
            return Err(format!(
                "expected {} listener statuses, got {}",
                expected.len(),
                listeners.len()
            ));
        }
        for e in expected {
            let Some(l) = listeners
                .iter()
                .find(|l| l.get("name").and_then(Value::as_str) == Some(e.name))
            else {
                return Err(format!("listener {} has no status", e.name));
            };
            let attached = l
                .get("attachedRoutes")
                .and_then(Value::as_i64)
                .unwrap_or(-1);
            if attached != e.attached_routes {
                return Err(format!(
                    "listener {}: attachedRoutes {attached}, expected {}",
                    e.name, e.attached_routes
                ));
            }
            let mut kinds: Vec<String> = l
                .get("supportedKinds")
                .and_then(Value::as_array)
                .map(|k| {
                    k.iter()
                        .filter_map(|k| k.get("kind").and_then(Value::as_str).map(String::from))
                        .collect()
                })
                .unwrap_or_default();
            kinds.sort();
            // Upstream: the expected kinds must all be present (extra kinds
            // are fine), and an expected empty list means exactly empty.
            let missing: Vec<&str> = e
                .supported_kinds
                .iter()
                .copied()
                .filter(|k| !kinds.iter().any(|g| g == k))
                .collect();
            if !missing.is_empty() || (e.supported_kinds.is_empty() && !kinds.is_empty()) {
                return Err(format!(
                    "listener {}: supportedKinds {kinds:?}, expected {:?}",
                    e.name, e.supported_kinds
                ));
            }
            conditions_match(
                l.get("conditions").unwrap_or(&Value::Null),
                e.conditions,
                generation(gw),
            )
            .map_err(|why| format!("listener {}: {why}", e.name))?;
        }
        Ok(())
    })
    .await
}

/// An expected route parent status entry.
#[derive(Clone, Debug)]
pub struct ParentExpect {
    pub gateway_namespace: &'static str,
    pub gateway: &'static str,
    /// `Gateway` unless a ListenerSet.
    pub kind: &'static str,
    pub conditions: &'static [Cond],
}

impl ParentExpect {
    pub fn gateway(
        namespace: &'static str,
        name: &'static str,
        conditions: &'static [Cond],
    ) -> Self {
        ParentExpect {
            gateway_namespace: namespace,
            gateway: name,
            kind: "Gateway",
            conditions,
        }
    }
}

/// The usual "accepted and resolved" parent conditions.
pub const ACCEPTED: &[Cond] = &[
    Cond("Accepted", "True", ""),
    Cond("ResolvedRefs", "True", ""),
];

/// The route's parent status entries written by Portico.
fn our_parents(route: &Value) -> Vec<&Value> {
    route
        .pointer("/status/parents")
        .and_then(Value::as_array)
        .map(|parents| {
            parents
                .iter()
                .filter(|p| {
                    p.get("controllerName").and_then(Value::as_str) == Some(CONTROLLER_NAME)
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Whether a parent entry's parentRef names `gw_ns/gw` of `kind` (any kind
/// when `None`; group, kind and namespace defaulted as the API does;
/// `route_ns` is the route's namespace).
fn refers_to(parent: &Value, route_ns: &str, kind: Option<&str>, gw_ns: &str, gw: &str) -> bool {
    let r = parent.get("parentRef").unwrap_or(&Value::Null);
    let field = |name: &str, default: &'static str| -> String {
        r.get(name)
            .and_then(Value::as_str)
            .unwrap_or(default)
            .to_string()
    };
    field("group", GATEWAY_GROUP) == GATEWAY_GROUP
        && kind.is_none_or(|k| field("kind", "Gateway") == k)
        && r.get("name").and_then(Value::as_str) == Some(gw)
        && r.get("namespace")
            .and_then(Value::as_str)
            .unwrap_or(route_ns)
            == gw_ns
}

/// Waits until the route's parents are exactly `expected` (matched on
/// controller, parentRef group/kind/name and namespace).
pub async fn route_parents(
    env: &Env,
    kind: &str,
    namespace: &str,
    name: &str,
    expected: &[ParentExpect],
) -> Result<Value, Failure> {
    eventually(env, kind, namespace, name, |route| {
        let parents = our_parents(route);
        if parents.len() != expected.len() {
            return Err(format!(
                "expected {} parents, got {}: {:?}",
                expected.len(),
                parents.len(),
                parents
            ));
        }
        for e in expected {
            let found = parents
                .iter()
                .find(|p| refers_to(p, namespace, Some(e.kind), e.gateway_namespace, e.gateway));
            let Some(p) = found else {
                return Err(format!(
                    "no parent status for {} {}/{}",
                    e.kind, e.gateway_namespace, e.gateway
                ));
            };
            conditions_match(
                p.get("conditions").unwrap_or(&Value::Null),
                e.conditions,
                generation(route),
            )
            .map_err(|why| format!("parent {}/{}: {why}", e.gateway_namespace, e.gateway))?;
        }
        Ok(())
    })
    .await
}

/// Waits until every parent entry of the route for each Gateway (one per
/// parentRef, e.g. per sectionName) has `conditions`.
pub async fn route_parent_conditions(
    env: &Env,
    kind: &str,
    namespace: &str,
    name: &str,
    gateways: &[(&str, &str)],
    conditions: &[Cond],
) -> Result<Value, Failure> {
    eventually(env, kind, namespace, name, |route| {
        let parents = our_parents(route);
        for (gw_ns, gw) in gateways {
            let mine: Vec<&Value> = parents
                .iter()
                .copied()
                .filter(|p| refers_to(p, namespace, None, gw_ns, gw))
                .collect();
            if mine.is_empty() {
                return Err(format!("no parent status for Gateway {gw_ns}/{gw}"));
            }
            for p in mine {
                conditions_match(
                    p.get("conditions").unwrap_or(&Value::Null),
                    conditions,
                    generation(route),
                )
                .map_err(|why| format!("parent {gw_ns}/{gw}: {why}"))?;
            }
        }
        Ok(())
    })
    .await
}

/// Upstream `GatewayAndRoutesMustBeAccepted` for one route: Accepted=True
/// for every parentRef to each Gateway.
pub async fn route_accepted(
    env: &Env,
    kind: &str,
    namespace: &str,
    name: &str,
    gateways: &[(&str, &str)],
) -> Result<Value, Failure> {
    route_parent_conditions(
        env,
        kind,
        namespace,
        name,
        gateways,
        &[Cond("Accepted", "True", "")],
    )
    .await
}

/// Upstream `HTTPRouteMustHaveResolvedRefsConditionsTrue`.
pub async fn route_resolved(
    env: &Env,
    kind: &str,
    namespace: &str,
    name: &str,
    gateways: &[(&str, &str)],
) -> Result<Value, Failure> {
    route_parent_conditions(
        env,
        kind,
        namespace,
        name,
        gateways,
        &[Cond("ResolvedRefs", "True", "")],
    )
    .await
}

/// Upstream `HTTPRouteMustHaveNoAcceptedParents`: no parent entry of ours
/// is Accepted=True (an empty list is fine).
pub async fn route_no_accepted_parents(
    env: &Env,
    kind: &str,
    namespace: &str,
    name: &str,
) -> Result<Value, Failure> {
    eventually(env, kind, namespace, name, |route| {
        for p in our_parents(route) {
            let accepted = p
                .get("conditions")
                .and_then(Value::as_array)
                .and_then(|c| {
                    c.iter()
                        .find(|c| c.get("type").and_then(Value::as_str) == Some("Accepted"))
                })
                .and_then(|c| c.get("status").and_then(Value::as_str));
            if accepted == Some("True") {
                return Err(format!("a parent is accepted: {p}"));
            }
        }
        Ok(())
    })
    .await
}

/// Upstream `GatewayMustHaveZeroRoutes`: every listener has attachedRoutes 0.
pub async fn gateway_zero_routes(env: &Env, namespace: &str, name: &str) -> Result<Value, Failure> {
    eventually(env, "Gateway", namespace, name, |gw| {
        let listeners = gw
            .pointer("/status/listeners")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        for l in &listeners {
            let n = l
                .get("attachedRoutes")
                .and_then(Value::as_i64)
                .unwrap_or(-1);
            if n != 0 {
                return Err(format!(
                    "listener {} has attachedRoutes {n}",
                    l.get("name").and_then(Value::as_str).unwrap_or("?")
                ));
            }
        }
        Ok(())
    })
    .await
}
