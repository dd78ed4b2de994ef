//! ListenerSet admission by namespace (`allowedListeners` Same and
//! Selector), routes admitted by a ListenerSet listener's `allowedRoutes`,
//! route kinds a listener rejects, and certificate references that need a
//! ReferenceGrant.

use serde_json::Value;

use super::listenerset::{attached_listener_sets, listener, listener_set_conditions};
use crate::expect::{Expect, expect_all};
use crate::status::{self, Cond, ListenerExpect, listener_set_listeners, route_parent_conditions};
use crate::{ConformanceTest, Env, Failure, INFRA_NS, conformance_test};

pub fn tests() -> Vec<ConformanceTest> {
    vec![
        conformance_test!(
            "ListenerSetAllowedNamespaceSame",
            manifests: ["tests/listenerset-allowed-namespace-same.yaml"],
            features: ["Gateway", "ListenerSet"],
            allowed_namespace_same
        ),
        conformance_test!(
            "ListenerSetAllowedNamespaceSelector",
            manifests: ["tests/listenerset-allowed-namespace-selector.yaml"],
            features: ["Gateway", "ListenerSet"],
            allowed_namespace_selector
        ),
        conformance_test!(
            "ListenerSetAllowedRoutesNamespaces",
            manifests: ["tests/listenerset-allowed-routes-namespaces.yaml"],
            features: ["Gateway", "ListenerSet", "HTTPRoute", "ReferenceGrant"],
            allowed_routes_namespaces
        ),
        conformance_test!(
            "ListenerSetAllowedRoutesSupportedKinds",
            manifests: ["tests/listenerset-allowed-routes-supported-kinds.yaml"],
            features: ["Gateway", "ListenerSet", "TLSRoute"],
            allowed_routes_supported_kinds
        ),
        conformance_test!(
            "ListenerSetReferenceGrant",
            manifests: ["tests/listenerset-reference-grant.yaml"],
            features: ["Gateway", "ListenerSet", "ReferenceGrant"],
            reference_grant
        ),
    ]
}

/// Upstream `generateAcceptedListenerConditions`: ready and not conflicted.
pub(super) const ACCEPTED_LISTENER: &[Cond] = &[
    Cond("ResolvedRefs", "True", ""),
    Cond("Accepted", "True", ""),
    Cond("Programmed", "True", ""),
    Cond("Conflicted", "False", ""),
];

/// Upstream `GatewayListenersMustHaveConditions` /
/// `ListenerSetListenersMustHaveConditions`: the named listener of a
/// Gateway or ListenerSet has `expected`.
pub(super) async fn listener_conditions(
    env: &Env,
    kind: &str,
    (namespace, name): (&str, &str),
    listener: &str,
    expected: &[Cond],
) -> Result<(), Failure> {
    status::eventually(env, kind, namespace, name, |obj| {
        let listeners = obj
            .pointer("/status/listeners")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let found = listeners
            .iter()
            .find(|l| l.get("name").and_then(Value::as_str) == Some(listener))
            .ok_or_else(|| format!("listener {listener} has no status"))?;
        status::conditions_match(
            found.get("conditions").unwrap_or(&Value::Null),
            expected,
            obj.pointer("/metadata/generation")
                .and_then(Value::as_i64)
                .unwrap_or(1),
        )
        .map_err(|why| format!("listener {listener}: {why}"))
    })
    .await?;
    Ok(())
}

const GATEWAY_ACCEPTED: &[Cond] = &[Cond("Accepted", "True", "")];
const SET_ACCEPTED: &[Cond] = &[
    Cond("Accepted", "True", "Accepted"),
    Cond("Programmed", "True", "Programmed"),
];
const SET_NOT_ALLOWED: &[Cond] = &[
    Cond("Accepted", "False", "NotAllowed"),
    Cond("Programmed", "False", "NotAllowed"),
];
pub(super) const SET_NOT_VALID: &[Cond] = &[
    Cond("Accepted", "False", "ListenersNotValid"),
    Cond("Programmed", "False", "ListenersNotValid"),
];

/// The Gateway admits the ListenerSet `allowed` (namespace, name) with
/// its one listener `allowed_listener`, and rejects `rejected`.
async fn admits_only(
    env: &Env,
    gateway: &str,
    allowed: (&str, &str),
    allowed_listener: &str,
    rejected: (&str, &str),
) -> Result<(), Failure> {
    status::gateway_conditions(env, INFRA_NS, gateway, GATEWAY_ACCEPTED).await?;
    attached_listener_sets(env, gateway, 1).await?;
    listener_set_conditions(env, allowed.0, allowed.1, SET_ACCEPTED).await?;
    listener_conditions(
        env,
        "ListenerSet",
        allowed,
        allowed_listener,
        ACCEPTED_LISTENER,
    )
    .await?;
    listener_set_conditions(env, rejected.0, rejected.1, SET_NOT_ALLOWED).await
}

async fn allowed_namespace_same(env: &Env) -> Result<(), Failure> {
    admits_only(
        env,
        "gateway-allows-listenerset-in-same-namespace",
        (INFRA_NS, "listenerset-in-same-namespace"),
        "listenerset-in-same-namespace-listener",
        (
            "gateway-api-listenerset-not-allowed-ns",
            "listenerset-in-different-namespace",
        ),
    )
    .await
}

async fn allowed_namespace_selector(env: &Env) -> Result<(), Failure> {
    admits_only(
        env,
        "gateway-allows-listenerset-in-selected-namespace",
        (
            "gateway-api-listenerset-selector-allowed-ns",
            "listenerset-in-selected-namespace",
        ),
        "listenerset-in-selected-namespace-listener",
        (
            "gateway-api-listenerset-selector-not-allowed-ns",
            "listenerset-not-in-selected-namespace",
        ),
    )
    .await
}

/// Upstream `RoutesAndParentMustBeAccepted` with a ListenerSet parent whose
/// routes live in several namespaces.
async fn accepted_by(env: &Env, set: (&str, &str), routes: &[(&str, &str)]) -> Result<(), Failure> {
    listener_set_conditions(env, set.0, set.1, &[Cond("Accepted", "True", "")]).await?;
    for (namespace, route) in routes {
        route_parent_conditions(
            env,
            "HTTPRoute",
            namespace,
            route,
            &[set],
            &[Cond("Accepted", "True", "")],
        )
        .await?;
    }
    Ok(())
}

async fn allowed_routes_namespaces(env: &Env) -> Result<(), Failure> {
    const GW: &str = "gateway-with-listener-sets-test-allowed-routes";
    const SET: (&str, &str) = (INFRA_NS, "listenerset-test-allowed-routes-namespaces");
    const CROSS_NS: &str = "gateway-api-ls-cross-ns";
    const CROSS: (&str, &str) = (CROSS_NS, "listenerset-test-allowed-routes-cross-ns");
    let gw = env.gateway_address(INFRA_NS, GW).await?;
    status::gateway_conditions(env, INFRA_NS, GW, GATEWAY_ACCEPTED).await?;
    attached_listener_sets(env, GW, 2).await?;

    // The ListenerSet in the Gateway's namespace: All, Same and Selector.
    accepted_by(
        env,
        SET,
        &[
            (INFRA_NS, "route-in-same-namespace"),
            (
                "gateway-api-routes-allowed-ns",
                "route-in-selected-namespace",
            ),
            (
                "gateway-api-routes-not-allowed-ns",
                "route-not-in-selected-namespace",
            ),
        ],
    )
    .await?;
    let ready = |name: &'static str, attached: i64| ListenerExpect {
        conditions: ACCEPTED_LISTENER,
        ..listener(name, attached)
    };
    listener_set_listeners(
        env,
        SET.0,
        SET.1,
        &[
            ready("listener-set-listener-allowed-routes-all", 3),
            ready("listener-set-listener-allowed-routes-same", 1),
            ready("listener-set-listener-allowed-routes-selector", 1),
        ],
    )
    .await?;
    let v1 = "infra-backend-v1";
    let v2 = "infra-backend-v2";
    let v3 = "infra-backend-v3";
    let on = |listener: &str, path: &str, backend: Option<&str>| {
        let host = format!("listener-set-listener-allowed-routes-{listener}.com");
        match backend {
            Some(b) => Expect::get(path, b, INFRA_NS).host(&host),
            None => Expect::status(path, 404).host(&host),
        }
    };
    let same = "/route-in-same-namespace";
    let selected = "/route-in-selected-namespace";
    let not_selected = "/route-not-in-selected-namespace";
    expect_all(
        env,
        &gw,
        &[
            on("all", same, Some(v1)),
            on("all", selected, Some(v2)),
            on("all", not_selected, Some(v3)),
            on("same", same, Some(v1)),
            on("same", selected, None),
            on("same", not_selected, None),
            on("selector", same, None),
            on("selector", selected, Some(v2)),
            on("selector", not_selected, None),
        ],
    )
    .await?;

    // A ListenerSet in another namespace: `Same` means the ListenerSet's
    // namespace, not the Gateway's.
    accepted_by(env, CROSS, &[(CROSS_NS, "route-in-listenerset-namespace")]).await?;
    route_parent_conditions(
        env,
        "HTTPRoute",
        INFRA_NS,
        "route-in-gateway-namespace",
        &[CROSS],
        &[Cond("Accepted", "False", "NotAllowedByListeners")],
    )
    .await?;
    listener_set_listeners(
        env,
        CROSS.0,
        CROSS.1,
        &[ready(
            "listener-set-listener-allowed-routes-cross-ns-same",
            1,
        )],
    )
    .await?;
    expect_all(
        env,
        &gw,
        &[
            on("cross-ns-same", "/route-in-listenerset-namespace", Some(v1)),
            on("cross-ns-same", "/route-in-gateway-namespace", None),
        ],
    )
    .await
}

async fn allowed_routes_supported_kinds(env: &Env) -> Result<(), Failure> {
    status::gateway_conditions(
        env,
        INFRA_NS,
        "gateway-with-listener-sets-test-supported-route-kinds",
        GATEWAY_ACCEPTED,
    )
    .await?;
    listener_conditions(
        env,
        "ListenerSet",
        (INFRA_NS, "listenerset-test-allowed-routes-supported-kinds"),
        "listener-set-listener-allowed-routes-tls-only",
        &[Cond("ResolvedRefs", "False", "InvalidRouteKinds")],
    )
    .await
}

async fn reference_grant(env: &Env) -> Result<(), Failure> {
    status::gateway_conditions(
        env,
        INFRA_NS,
        "gateway-with-listener-sets-test-reference-grant",
        GATEWAY_ACCEPTED,
    )
    .await?;
    let granted = (INFRA_NS, "listenerset-with-reference-grant");
    listener_set_conditions(env, granted.0, granted.1, &READY_SET).await?;
    listener_conditions(
        env,
        "ListenerSet",
        granted,
        "listenerset-with-reference-grant-listener",
        &[Cond("ResolvedRefs", "True", "")],
    )
    .await?;
    let denied = (
        "gateway-api-listener-sets-test-reference-grant-ns",
        "listenerset-without-reference-grant",
    );
    listener_set_conditions(env, denied.0, denied.1, SET_NOT_VALID).await?;
    listener_conditions(
        env,
        "ListenerSet",
        denied,
        "listenerset-without-reference-grant-listener",
        &[Cond("ResolvedRefs", "False", "RefNotPermitted")],
    )
    .await
}

const READY_SET: [Cond; 2] = [Cond("Accepted", "True", ""), Cond("Programmed", "True", "")];
