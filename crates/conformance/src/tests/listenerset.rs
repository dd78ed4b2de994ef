//! ListenerSet: routes attached to a Gateway, to its ListenerSets and to
//! single listeners of either are served only on those listeners.

use serde_json::Value;

use crate::expect::{Expect, expect_all};
use crate::status::{
    self, Cond, ListenerExpect, listener_set_listeners, route_accepted, route_parent_conditions,
};
use crate::{ConformanceTest, Env, Failure, INFRA_NS, conformance_test};

pub fn tests() -> Vec<ConformanceTest> {
    vec![
        conformance_test!(
            "ListenerSetHTTPRouting",
            manifests: ["tests/listenerset-http-routing.yaml"],
            features: ["Gateway", "ListenerSet", "HTTPRoute"],
            http_routing
        ),
        conformance_test!(
            "ListenerSetDefaultNotAllowed",
            manifests: ["tests/listenerset-default-not-allowed.yaml"],
            features: ["Gateway", "ListenerSet"],
            default_not_allowed
        ),
        conformance_test!(
            "ListenerSetAllowedNamespaceNone",
            manifests: ["tests/listenerset-allowed-namespace-none.yaml"],
            features: ["Gateway", "ListenerSet"],
            allowed_namespace_none
        ),
    ]
}

const GW: &str = "gateway-with-listener-sets-http-routing";
const LS1: &str = "listener-set-http-routing-1";
const LS2: &str = "listener-set-http-routing-2";

pub(super) const READY_LISTENER: &[Cond] = &[
    Cond("ResolvedRefs", "True", ""),
    Cond("Accepted", "True", ""),
    Cond("Programmed", "True", ""),
];

pub(super) fn listener(name: &'static str, attached: i64) -> ListenerExpect {
    ListenerExpect {
        name,
        supported_kinds: &["HTTPRoute", "GRPCRoute"],
        attached_routes: attached,
        conditions: READY_LISTENER,
    }
}

/// Upstream `GatewayMustHaveAttachedListeners`.
pub(super) async fn attached_listener_sets(
    env: &Env,
    gateway: &str,
    want: i64,
) -> Result<(), Failure> {
    status::eventually(env, "Gateway", INFRA_NS, gateway, |gw| {
        let got = gw
            .pointer("/status/attachedListenerSets")
            .and_then(Value::as_i64)
            .unwrap_or(0);
        if got == want {
            Ok(())
        } else {
            Err(format!("attachedListenerSets {got}, expected {want}"))
        }
    })
    .await?;
    Ok(())
}

/// Upstream `RoutesAndParentMustBeAccepted` for a ListenerSet parent.
pub(super) async fn accepted_by_listener_set(
    env: &Env,
    set: &str,
    routes: &[&str],
) -> Result<(), Failure> {
    status::eventually(env, "ListenerSet", INFRA_NS, set, |ls| {
        status::conditions_match(
            ls.pointer("/status/conditions").unwrap_or(&Value::Null),
            &[Cond("Accepted", "True", "")],
            ls.pointer("/metadata/generation")
                .and_then(Value::as_i64)
                .unwrap_or(1),
        )
    })
    .await?;
    for route in routes {
        route_parent_conditions(
            env,
            "HTTPRoute",
            INFRA_NS,
            route,
            &[(INFRA_NS, set)],
            &[Cond("Accepted", "True", "")],
        )
        .await?;
    }
    Ok(())
}

/// Every host (one per listener) crossed with every route path; `serves`
/// says which (host index, backend) pairs answer, all others are 404.
fn matrix(path: &str, serves: &[(usize, &str)]) -> Vec<Expect> {
    const HOSTS: [&str; 6] = [
        "gateway-listener-1.com",
        "gateway-listener-2.com",
        "listener-set-http-routing-1-listener-1.com",
        "listener-set-http-routing-1-listener-2.com",
        "listener-set-http-routing-2-listener-1.com",
        "listener-set-http-routing-2-listener-2.com",
    ];
    HOSTS
        .iter()
        .enumerate()
        .map(|(i, host)| match serves.iter().find(|(h, _)| *h == i) {
            Some((_, backend)) => Expect::get(path, backend, INFRA_NS).host(host),
            None => Expect::status(path, 404).host(host),
        })
        .collect()
}

async fn http_routing(env: &Env) -> Result<(), Failure> {
    let gws = [(INFRA_NS, GW)];
    for route in [
        "attaches-to-all-listeners",
        "gateway-route",
        "gateway-section-route",
    ] {
        route_accepted(env, "HTTPRoute", INFRA_NS, route, &gws).await?;
    }
    let gw = env.gateway_address(INFRA_NS, GW).await?;
    attached_listener_sets(env, GW, 2).await?;

    accepted_by_listener_set(
        env,
        LS1,
        &[
            "attaches-to-all-listeners",
            "listener-set-http-routing-1-route",
            "listener-set-http-routing-1-section-route",
        ],
    )
    .await?;
    listener_set_listeners(
        env,
        INFRA_NS,
        LS1,
        &[
            listener("listener-set-http-routing-1-listener-1", 3),
            listener("listener-set-http-routing-1-listener-2", 2),
        ],
    )
    .await?;
    accepted_by_listener_set(
        env,
        LS2,
        &[
            "attaches-to-all-listeners",
            "listener-set-http-routing-2-route",
        ],
    )
    .await?;
    listener_set_listeners(
        env,
        INFRA_NS,
        LS2,
        &[
            listener("listener-set-http-routing-2-listener-1", 2),
            listener("listener-set-http-routing-2-listener-2", 2),
        ],
    )
    .await?;

    const V1: &str = "infra-backend-v1";
    const V2: &str = "infra-backend-v2";
    const V3: &str = "infra-backend-v3";
    let mut cases = matrix(
        "/route",
        &[(0, V1), (1, V1), (2, V1), (3, V1), (4, V1), (5, V1)],
    );
    cases.extend(matrix("/gateway-route", &[(0, V2), (1, V2)]));
    cases.extend(matrix("/gateway-section-route", &[(0, V3)]));
    cases.extend(matrix(
        "/listener-set-http-routing-1-route",
        &[(2, V2), (3, V2)],
    ));
    cases.extend(matrix(
        "/listener-set-http-routing-1-section-route",
        &[(2, V3)],
    ));
    cases.extend(matrix(
        "/listener-set-http-routing-2-route",
        &[(4, V2), (5, V2)],
    ));
    expect_all(env, &gw, &cases).await
}

/// Upstream `ListenerSetMustHaveCondition` for several conditions.
pub(super) async fn listener_set_conditions(
    env: &Env,
    namespace: &str,
    name: &str,
    expected: &[Cond],
) -> Result<(), Failure> {
    status::eventually(env, "ListenerSet", namespace, name, |ls| {
        status::conditions_match(
            ls.pointer("/status/conditions").unwrap_or(&Value::Null),
            expected,
            ls.pointer("/metadata/generation")
                .and_then(Value::as_i64)
                .unwrap_or(1),
        )
    })
    .await?;
    Ok(())
}

/// The Gateway is accepted with no ListenerSet attached, and the
/// ListenerSet is rejected as NotAllowed.
async fn rejected(env: &Env, gateway: &str, listener_set: &str) -> Result<(), Failure> {
    status::gateway_conditions(env, INFRA_NS, gateway, &[Cond("Accepted", "True", "")]).await?;
    attached_listener_sets(env, gateway, 0).await?;
    listener_set_conditions(
        env,
        INFRA_NS,
        listener_set,
        &[
            Cond("Accepted", "False", "NotAllowed"),
            Cond("Programmed", "False", "NotAllowed"),
        ],
    )
    .await
}

async fn default_not_allowed(env: &Env) -> Result<(), Failure> {
    rejected(
        env,
        "gateway-default-does-not-allow-listenerset",
        "listenerset-default-not-allowed",
    )
    .await
}

async fn allowed_namespace_none(env: &Env) -> Result<(), Failure> {
    rejected(
        env,
        "gateway-does-not-allow-listenerset",
        "listenerset-not-allowed",
    )
    .await
}
