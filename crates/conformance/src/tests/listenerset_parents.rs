//! Routes whose parentRefs name a Gateway, its ListenerSet or both: each
//! parentRef is evaluated on its own, a Gateway parentRef cannot reach a
//! ListenerSet listener by sectionName, and status lists only the
//! parentRefs the route declares.

use super::listenerset::{attached_listener_sets, listener_set_conditions};
use super::listenerset_namespaces::ACCEPTED_LISTENER;
use crate::expect::{Expect, expect_all};
use crate::status::{self, Cond, ParentExpect, listener_set_listeners, route_parent_conditions};
use crate::{ConformanceTest, Env, Failure, INFRA_NS, conformance_test};

pub fn tests() -> Vec<ConformanceTest> {
    vec![
        conformance_test!(
            "ListenerSetDualParentRefIndependence",
            manifests: ["tests/listenerset-dual-parentref-independence.yaml"],
            features: ["Gateway", "ListenerSet", "HTTPRoute"],
            dual_parent_ref
        ),
        conformance_test!(
            "ListenerSetGatewayParentSectionNameNotFound",
            manifests: ["tests/listenerset-gateway-parent-section-name-not-found.yaml"],
            features: ["Gateway", "ListenerSet", "HTTPRoute"],
            gateway_parent_section_name_not_found
        ),
        conformance_test!(
            "ListenerSetRouteStatusScopedToParentRef",
            manifests: ["tests/listenerset-route-status-scoped-to-parentref.yaml"],
            features: ["Gateway", "ListenerSet", "HTTPRoute"],
            route_status_scoped_to_parent_ref
        ),
    ]
}

const ACCEPTED: &[Cond] = &[Cond("Accepted", "True", "")];

/// The Gateway is accepted, has an address and one attached ListenerSet.
async fn gateway_with_one_set(env: &Env, gateway: &str) -> Result<String, Failure> {
    let addr = env.gateway_address(INFRA_NS, gateway).await?;
    status::gateway_conditions(env, INFRA_NS, gateway, ACCEPTED).await?;
    attached_listener_sets(env, gateway, 1).await?;
    Ok(addr)
}

/// The ListenerSet's only listener is ready with `attached` routes.
async fn one_listener(
    env: &Env,
    set: &str,
    name: &'static str,
    attached: i64,
) -> Result<(), Failure> {
    listener_set_listeners(
        env,
        INFRA_NS,
        set,
        &[status::ListenerExpect {
            name,
            supported_kinds: &["HTTPRoute", "GRPCRoute"],
            attached_routes: attached,
            conditions: ACCEPTED_LISTENER,
        }],
    )
    .await?;
    Ok(())
}

/// The route's parent entry for `parent` (a Gateway or ListenerSet name in
/// the infra namespace) has `conditions`.
async fn parent_has(
    env: &Env,
    route: &str,
    parent: &str,
    conditions: &[Cond],
) -> Result<(), Failure> {
    route_parent_conditions(
        env,
        "HTTPRoute",
        INFRA_NS,
        route,
        &[(INFRA_NS, parent)],
        conditions,
    )
    .await?;
    Ok(())
}

async fn dual_parent_ref(env: &Env) -> Result<(), Failure> {
    const GW: &str = "gateway-dual-parentref";
    const SET: &str = "ls-dual-parentref";
    let gw = gateway_with_one_set(env, GW).await?;
    one_listener(env, SET, "ls-dual-parentref-listener", 2).await?;
    let both = "route-dual-parentref-both";
    parent_has(env, both, GW, ACCEPTED).await?;
    parent_has(env, both, SET, ACCEPTED).await?;
    let v1 = "infra-backend-v1";
    expect_all(
        env,
        &gw,
        &[
            Expect::get("/dualboth", v1, INFRA_NS).host("gw-dual.com"),
            Expect::get("/dualboth", v1, INFRA_NS).host("ls-dual.com"),
        ],
    )
    .await?;
    // The Gateway parentRef names a section only the ListenerSet has.
    let one = "route-dual-parentref-one";
    parent_has(env, one, SET, ACCEPTED).await?;
    section_only_on_set(
        env,
        &gw,
        (one, GW),
        Expect::get("/dualone", "infra-backend-v2", INFRA_NS).host("ls-dual.com"),
        Expect::status("/dualone", 404).host("gw-dual.com"),
    )
    .await
}

/// `route`'s parentRef to `gateway` names a section only its ListenerSet
/// has: NoMatchingParent, and only `served` (through the ListenerSet)
/// answers; `not_found` (through the Gateway's listener) is 404.
async fn section_only_on_set(
    env: &Env,
    gw_addr: &str,
    (route, gateway): (&str, &str),
    served: Expect,
    not_found: Expect,
) -> Result<(), Failure> {
    parent_has(
        env,
        route,
        gateway,
        &[Cond("Accepted", "False", "NoMatchingParent")],
    )
    .await?;
    expect_all(env, gw_addr, &[served, not_found]).await
}

async fn gateway_parent_section_name_not_found(env: &Env) -> Result<(), Failure> {
    const GW: &str = "gateway-section-name";
    let gw = gateway_with_one_set(env, GW).await?;
    listener_set_conditions(env, INFRA_NS, "listenerset-section-name", ACCEPTED).await?;
    parent_has(
        env,
        "route-via-listenerset",
        "listenerset-section-name",
        ACCEPTED,
    )
    .await?;
    section_only_on_set(
        env,
        &gw,
        ("route-via-gateway", GW),
        Expect::get("/goodsection", "infra-backend-v1", INFRA_NS).host("ls-section-name.com"),
        Expect::status("/badsection", 404).host("gw-section.com"),
    )
    .await
}

async fn route_status_scoped_to_parent_ref(env: &Env) -> Result<(), Failure> {
    const GW: &str = "gateway-parentref";
    const SET: &str = "listenerset-parentref";
    status::gateway_conditions(env, INFRA_NS, GW, ACCEPTED).await?;
    attached_listener_sets(env, GW, 1).await?;
    one_listener(env, SET, "listenerset-parentref-listener", 1).await?;
    // Exactly one parent entry each, for the parentRef the route declares.
    status::route_parents(
        env,
        "HTTPRoute",
        INFRA_NS,
        "route-parentref-gwonly",
        &[ParentExpect::gateway(INFRA_NS, GW, ACCEPTED)],
    )
    .await?;
    status::route_parents(
        env,
        "HTTPRoute",
        INFRA_NS,
        "route-parentref-lsonly",
        &[ParentExpect {
            kind: "ListenerSet",
            ..ParentExpect::gateway(INFRA_NS, SET, ACCEPTED)
        }],
    )
    .await?;
    Ok(())
}
