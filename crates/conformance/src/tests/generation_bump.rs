//! Spec updates must bump `metadata.generation`, and every condition must
//! follow with `observedGeneration`: GatewayClass, Gateway, HTTPRoute;
//! listeners added to and removed from a live Gateway.
//! The file source stamps generations, so the tests edit the config files.

use serde_json::{Value, json};

use crate::status::{self, Cond, ListenerExpect, ParentExpect, gateway_listeners, route_parents};
use crate::{ConformanceTest, Env, Failure, INFRA_NS, conformance_test, manifests};

pub fn tests() -> Vec<ConformanceTest> {
    vec![
        conformance_test!(
            "GatewayClassObservedGenerationBump",
            manifests: ["tests/gatewayclass-observed-generation-bump.yaml"],
            features: ["Gateway"],
            gateway_class_bump
        ),
        conformance_test!(
            "GatewayObservedGenerationBump",
            manifests: ["tests/gateway-observed-generation-bump.yaml"],
            features: ["Gateway"],
            gateway_bump
        ),
        conformance_test!(
            "HTTPRouteObservedGenerationBump",
            manifests: ["tests/httproute-observed-generation-bump.yaml"],
            features: ["Gateway", "HTTPRoute"],
            httproute_bump
        ),
        conformance_test!(
            "GatewayModifyListeners",
            manifests: ["tests/gateway-modify-listeners.yaml"],
            features: ["Gateway"],
            modify_listeners
        ),
    ]
}

/// The object as written in the test's manifests (no status, no stamped
/// generation, so the file source keeps counting).
fn manifest(env: &Env, kind: &str, namespace: &str, name: &str) -> Result<Value, Failure> {
    env.documents()
        .iter()
        .find(|d| {
            manifests::kind(d) == kind
                && manifests::name(d) == name
                && (namespace.is_empty() || manifests::namespace(d) == namespace)
        })
        .cloned()
        .ok_or_else(|| Failure(format!("{kind} {namespace}/{name} is not in the manifests")))
}

fn generation(obj: &Value) -> i64 {
    obj.pointer("/metadata/generation")
        .and_then(Value::as_i64)
        .unwrap_or(0)
}

/// Waits until `kind/name` has a generation other than `before` and
/// `expected` conditions observed at it.
async fn conditions_after_bump(
    env: &Env,
    kind: &str,
    namespace: &str,
    name: &str,
    before: i64,
    expected: &[Cond],
) -> Result<Value, Failure> {
    status::eventually(env, kind, namespace, name, |obj| {
        let now = generation(obj);
        if now == before {
            return Err(format!("generation is still {before} after the update"));
        }
        status::conditions_match(
            obj.pointer("/status/conditions").unwrap_or(&Value::Null),
            expected,
            now,
        )
    })
    .await
}

async fn gateway_class_bump(env: &Env) -> Result<(), Failure> {
    const NAME: &str = "gatewayclass-observed-generation-bump";
    let accepted = [Cond("Accepted", "True", "")];
    let original = status::eventually(env, "GatewayClass", "", NAME, |gc| {
        status::conditions_match(
            gc.pointer("/status/conditions").unwrap_or(&Value::Null),
            &accepted,
            generation(gc),
        )
    })
    .await?;
    let mut mutated = manifest(env, "GatewayClass", "", NAME)?;
    mutated["spec"]["description"] = json!("new");
    env.replace_object("GatewayClass", "default", NAME, &mutated)?;
    conditions_after_bump(
        env,
        "GatewayClass",
        "",
        NAME,
        generation(&original),
        &accepted,
    )
    .await?;
    Ok(())
}

async fn gateway_bump(env: &Env) -> Result<(), Failure> {
    const NAME: &str = "gateway-observed-generation-bump";
    let original = status::gateway_ready(env, INFRA_NS, NAME).await?;
    let mut mutated = manifest(env, "Gateway", INFRA_NS, NAME)?;
    let listeners = mutated
        .pointer_mut("/spec/listeners")
        .and_then(Value::as_array_mut)
        .ok_or_else(|| Failure::new("the Gateway has no listeners"))?;
    listeners.push(json!({
        "name": "alternate",
        "hostname": "foo.com",
        "port": 80,
        "protocol": "HTTP",
        "allowedRoutes": {"namespaces": {"from": "All"}},
    }));
    env.replace_object("Gateway", INFRA_NS, NAME, &mutated)?;
    conditions_after_bump(
        env,
        "Gateway",
        INFRA_NS,
        NAME,
        generation(&original),
        &[Cond("Accepted", "True", ""), Cond("Programmed", "True", "")],
    )
    .await?;
    Ok(())
}

async fn httproute_bump(env: &Env) -> Result<(), Failure> {
    const NAME: &str = "observed-generation-bump";
    const CONDS: &[Cond] = &[
        Cond("Accepted", "True", "Accepted"),
        Cond("ResolvedRefs", "True", "ResolvedRefs"),
    ];
    let parents = [ParentExpect::gateway(INFRA_NS, "same-namespace", CONDS)];
    let original = route_parents(env, "HTTPRoute", INFRA_NS, NAME, &parents).await?;
    let before = generation(&original);
    let mut mutated = manifest(env, "HTTPRoute", INFRA_NS, NAME)?;
    let backend = mutated
        .pointer_mut("/spec/rules/0/backendRefs/0/name")
        .ok_or_else(|| Failure::new("the route has no backendRef"))?;
    *backend = json!("infra-backend-v2");
    env.replace_object("HTTPRoute", INFRA_NS, NAME, &mutated)?;
    // route_parents checks observedGeneration against the current
    // generation; the generation must also have moved.
    status::eventually(env, "HTTPRoute", INFRA_NS, NAME, |route| {
        if generation(route) == before {
            return Err(format!("generation is still {before} after the update"));
        }
        Ok(())
    })
    .await?;
    route_parents(env, "HTTPRoute", INFRA_NS, NAME, &parents).await?;
    Ok(())
}

const HEALTHY_LISTENER: &[Cond] = &[
    Cond("Accepted", "True", ""),
    Cond("ResolvedRefs", "True", ""),
];

fn attached_once(name: &'static str) -> ListenerExpect {
    ListenerExpect {
        name,
        supported_kinds: &["HTTPRoute"],
        attached_routes: 1,
        conditions: HEALTHY_LISTENER,
    }
}

async fn modify_listeners(env: &Env) -> Result<(), Failure> {
    let latest = [Cond("Accepted", "True", ""), Cond("Programmed", "True", "")];

    const ADD: &str = "gateway-add-listener";
    let original = status::gateway_ready(env, INFRA_NS, ADD).await?;
    let mut mutated = manifest(env, "Gateway", INFRA_NS, ADD)?;
    mutated
        .pointer_mut("/spec/listeners")
        .and_then(Value::as_array_mut)
        .ok_or_else(|| Failure::new("the Gateway has no listeners"))?
        .push(json!({
            "name": "http",
            "port": 80,
            "protocol": "HTTP",
            "hostname": "data.test.com",
            "allowedRoutes": {"namespaces": {"from": "All"}},
        }));
    env.replace_object("Gateway", INFRA_NS, ADD, &mutated)?;
    gateway_listeners(
        env,
        INFRA_NS,
        ADD,
        &[attached_once("https"), attached_once("http")],
    )
    .await?;
    conditions_after_bump(
        env,
        "Gateway",
        INFRA_NS,
        ADD,
        generation(&original),
        &latest,
    )
    .await?;

    const REMOVE: &str = "gateway-remove-listener";
    let original = status::gateway_ready(env, INFRA_NS, REMOVE).await?;
    let mut mutated = manifest(env, "Gateway", INFRA_NS, REMOVE)?;
    let listeners = mutated
        .pointer_mut("/spec/listeners")
        .and_then(Value::as_array_mut)
        .ok_or_else(|| Failure::new("the Gateway has no listeners"))?;
    if listeners.len() != 2 {
        return Err(Failure(format!(
            "the Gateway must have 2 listeners, has {}",
            listeners.len()
        )));
    }
    listeners.retain(|l| l.get("name").and_then(Value::as_str) == Some("http"));
    env.replace_object("Gateway", INFRA_NS, REMOVE, &mutated)?;
    gateway_listeners(env, INFRA_NS, REMOVE, &[attached_once("http")]).await?;
    conditions_after_bump(
        env,
        "Gateway",
        INFRA_NS,
        REMOVE,
        generation(&original),
        &latest,
    )
    .await?;
    Ok(())
}
