//! parentRefs that match no listener, cross-namespace parents, omitted
//! backendRefs.

use crate::expect::{Expect, expect_all};
use crate::status::{
    Cond, gateway_zero_routes, route_accepted, route_no_accepted_parents, route_parent_conditions,
    route_resolved,
};
use crate::{ConformanceTest, Env, Failure, INFRA_NS, WEB_BACKEND_NS, conformance_test};

pub fn tests() -> Vec<ConformanceTest> {
    vec![
        conformance_test!(
            "HTTPRouteInvalidParentRefNotMatchingListenerPort",
            manifests: ["tests/httproute-invalid-parentref-not-matching-listener-port.yaml"],
            features: ["Gateway", "HTTPRoute", "HTTPRouteParentRefPort"],
            not_matching_listener_port
        ),
        conformance_test!(
            "HTTPRouteInvalidParentRefNotMatchingSectionName",
            manifests: ["tests/httproute-invalid-parentref-not-matching-section-name.yaml"],
            features: ["Gateway", "HTTPRoute"],
            not_matching_section_name
        ),
        conformance_test!(
            "HTTPRouteInvalidParentRefSectionNameNotMatchingPort",
            manifests: ["tests/httproute-invalid-parentref-section-name-not-matching-port.yaml"],
            features: ["Gateway", "HTTPRoute", "HTTPRouteParentRefPort"],
            section_name_not_matching_port
        ),
        conformance_test!(
            "HTTPRouteInvalidCrossNamespaceParentRef",
            manifests: ["tests/httproute-invalid-cross-namespace-parent-ref.yaml"],
            features: ["Gateway", "HTTPRoute"],
            invalid_cross_namespace_parent_ref
        ),
        conformance_test!(
            "HTTPRouteOmittedBackendRefs",
            manifests: ["tests/httproute-omitted-backendrefs.yaml"],
            features: ["Gateway", "HTTPRoute"],
            omitted_backend_refs
        ),
    ]
}

const NO_MATCHING_PARENT: &[Cond] = &[Cond("Accepted", "False", "NoMatchingParent")];

async fn no_matching_parent(env: &Env, gw: &'static str, route: &str) -> Result<(), Failure> {
    let gws = [(INFRA_NS, gw)];
    route_resolved(env, "HTTPRoute", INFRA_NS, route, &gws).await?;
    route_parent_conditions(env, "HTTPRoute", INFRA_NS, route, &gws, NO_MATCHING_PARENT).await?;
    route_no_accepted_parents(env, "HTTPRoute", INFRA_NS, route).await?;
    gateway_zero_routes(env, INFRA_NS, gw).await?;
    Ok(())
}

async fn not_matching_listener_port(env: &Env) -> Result<(), Failure> {
    no_matching_parent(
        env,
        "same-namespace",
        "httproute-listener-not-matching-route-port",
    )
    .await
}

async fn not_matching_section_name(env: &Env) -> Result<(), Failure> {
    no_matching_parent(
        env,
        "same-namespace",
        "httproute-listener-not-matching-section-name",
    )
    .await
}

async fn section_name_not_matching_port(env: &Env) -> Result<(), Failure> {
    no_matching_parent(
        env,
        "gateway-with-one-not-matching-port-and-section-name-route",
        "httproute-listener-section-name-not-matching-port",
    )
    .await
}

async fn invalid_cross_namespace_parent_ref(env: &Env) -> Result<(), Failure> {
    const ROUTE: &str = "invalid-cross-namespace-parent-ref";
    let gws = [(INFRA_NS, "same-namespace")];
    let conds = [Cond("Accepted", "False", "NotAllowedByListeners")];
    route_parent_conditions(env, "HTTPRoute", WEB_BACKEND_NS, ROUTE, &gws, &conds).await?;
    route_no_accepted_parents(env, "HTTPRoute", WEB_BACKEND_NS, ROUTE).await?;
    gateway_zero_routes(env, INFRA_NS, "same-namespace").await?;
    Ok(())
}

async fn omitted_backend_refs(env: &Env) -> Result<(), Failure> {
    let gws = [(INFRA_NS, "same-namespace")];
    route_accepted(env, "HTTPRoute", INFRA_NS, "omitted-backendrefs", &gws).await?;
    route_resolved(env, "HTTPRoute", INFRA_NS, "omitted-backendrefs", &gws).await?;
    let gw = env.gateway_address(INFRA_NS, "same-namespace").await?;
    expect_all(
        env,
        &gw,
        &[
            Expect::status("/omitted-no-forward", 500),
            Expect::status("/empty-no-forward", 500),
            Expect::get("/", "infra-backend-v1", INFRA_NS),
        ],
    )
    .await
}
