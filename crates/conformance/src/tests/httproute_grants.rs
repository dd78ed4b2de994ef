//! ReferenceGrant for backendRefs, disallowed route kinds, several Gateways.

use crate::expect::{Expect, expect_all};
use crate::status::{
    Cond, gateway_zero_routes, route_accepted, route_no_accepted_parents, route_parent_conditions,
    route_resolved,
};
use crate::{
    APP_BACKEND_NS, ConformanceTest, Env, Failure, INFRA_NS, WEB_BACKEND_NS, conformance_test,
};

pub fn tests() -> Vec<ConformanceTest> {
    vec![
        conformance_test!(
            "HTTPRouteReferenceGrant",
            manifests: ["tests/httproute-reference-grant.yaml"],
            features: ["Gateway", "HTTPRoute", "ReferenceGrant"],
            reference_grant
        ),
        conformance_test!(
            "HTTPRouteInvalidReferenceGrant",
            manifests: ["tests/httproute-invalid-reference-grant.yaml"],
            features: ["Gateway", "HTTPRoute", "ReferenceGrant"],
            invalid_reference_grant
        ),
        conformance_test!(
            "HTTPRoutePartiallyInvalidViaInvalidReferenceGrant",
            manifests: ["tests/httproute-partially-invalid-via-invalid-reference-grant.yaml"],
            features: ["Gateway", "HTTPRoute", "ReferenceGrant"],
            partially_invalid_via_invalid_reference_grant
        ),
        conformance_test!(
            "HTTPRouteDisallowedKind",
            manifests: ["tests/httproute-disallowed-kind.yaml"],
            features: ["Gateway", "HTTPRoute", "TLSRoute"],
            disallowed_kind
        ),
        conformance_test!(
            "HTTPRouteMultipleGateways",
            manifests: ["tests/httproute-multiple-gateways.yaml"],
            features: ["Gateway", "HTTPRoute"],
            multiple_gateways
        ),
    ]
}

const SAME: [(&str, &str); 1] = [(INFRA_NS, "same-namespace")];

async fn reference_grant(env: &Env) -> Result<(), Failure> {
    route_accepted(env, "HTTPRoute", INFRA_NS, "reference-grant", &SAME).await?;
    route_resolved(env, "HTTPRoute", INFRA_NS, "reference-grant", &SAME).await?;
    let gw = env.gateway_address(INFRA_NS, "same-namespace").await?;
    expect_all(env, &gw, &[Expect::get("/", "web-backend", WEB_BACKEND_NS)]).await
}

async fn invalid_reference_grant(env: &Env) -> Result<(), Failure> {
    route_accepted(env, "HTTPRoute", INFRA_NS, "reference-grant", &SAME).await?;
    let conds = [Cond("ResolvedRefs", "False", "RefNotPermitted")];
    route_parent_conditions(env, "HTTPRoute", INFRA_NS, "reference-grant", &SAME, &conds).await?;
    let gw = env.gateway_address(INFRA_NS, "same-namespace").await?;
    expect_all(env, &gw, &[Expect::status("/", 500)]).await
}

async fn partially_invalid_via_invalid_reference_grant(env: &Env) -> Result<(), Failure> {
    const ROUTE: &str = "invalid-reference-grant";
    route_accepted(env, "HTTPRoute", INFRA_NS, ROUTE, &SAME).await?;
    let conds = [Cond("ResolvedRefs", "False", "RefNotPermitted")];
    route_parent_conditions(env, "HTTPRoute", INFRA_NS, ROUTE, &SAME, &conds).await?;
    let gw = env.gateway_address(INFRA_NS, "same-namespace").await?;
    expect_all(
        env,
        &gw,
        &[
            Expect::status("/v2", 500),
            Expect::get("/", "app-backend-v1", APP_BACKEND_NS),
        ],
    )
    .await
}

async fn disallowed_kind(env: &Env) -> Result<(), Failure> {
    let gws = [(INFRA_NS, "tlsroutes-only")];
    let conds = [Cond("Accepted", "False", "NotAllowedByListeners")];
    route_parent_conditions(env, "HTTPRoute", INFRA_NS, "disallowed-kind", &gws, &conds).await?;
    route_no_accepted_parents(env, "HTTPRoute", INFRA_NS, "disallowed-kind").await?;
    gateway_zero_routes(env, INFRA_NS, "tlsroutes-only").await?;
    Ok(())
}

async fn multiple_gateways(env: &Env) -> Result<(), Failure> {
    let both = [(INFRA_NS, "same-namespace"), (INFRA_NS, "all-namespaces")];
    route_accepted(
        env,
        "HTTPRoute",
        INFRA_NS,
        "multiple-gateways-shared-route",
        &both,
    )
    .await?;
    route_accepted(
        env,
        "HTTPRoute",
        INFRA_NS,
        "same-namespace-dedicated-route",
        &SAME,
    )
    .await?;
    let all = [(INFRA_NS, "all-namespaces")];
    route_accepted(
        env,
        "HTTPRoute",
        INFRA_NS,
        "all-namespaces-dedicated-route",
        &all,
    )
    .await?;
    let same = env.gateway_address(INFRA_NS, "same-namespace").await?;
    let all_ns = env.gateway_address(INFRA_NS, "all-namespaces").await?;
    if same == all_ns {
        return Err(Failure(format!(
            "two Gateways on port 80 share the address {same}"
        )));
    }
    expect_all(
        env,
        &same,
        &[
            Expect::get("/shared", "infra-backend-v1", INFRA_NS),
            Expect::get("/", "infra-backend-v2", INFRA_NS),
        ],
    )
    .await?;
    expect_all(
        env,
        &all_ns,
        &[
            Expect::get("/shared", "infra-backend-v1", INFRA_NS),
            Expect::get("/", "infra-backend-v3", INFRA_NS),
        ],
    )
    .await
}
