//! Invalid backendRefs: unknown kind, cross-namespace without a grant.
//! The route stays Accepted, ResolvedRefs says why, traffic gets 500.

use crate::expect::{Expect, expect_all};
use crate::status::{Cond, route_accepted, route_parent_conditions};
use crate::{ConformanceTest, Env, Failure, INFRA_NS, conformance_test};

pub fn tests() -> Vec<ConformanceTest> {
    vec![
        conformance_test!(
            "HTTPRouteInvalidCrossNamespaceBackendRef",
            manifests: ["tests/httproute-invalid-cross-namespace-backend-ref.yaml"],
            features: ["Gateway", "HTTPRoute", "ReferenceGrant"],
            invalid_cross_namespace_backend_ref
        ),
        conformance_test!(
            "HTTPRouteInvalidBackendRefUnknownKind",
            manifests: ["tests/httproute-invalid-backendref-unknown-kind.yaml"],
            features: ["Gateway", "HTTPRoute"],
            invalid_backend_ref_unknown_kind
        ),
    ]
}

async fn invalid_backend(env: &Env, route: &str, reason: &'static str) -> Result<(), Failure> {
    let gws = [(INFRA_NS, "same-namespace")];
    route_accepted(env, "HTTPRoute", INFRA_NS, route, &gws).await?;
    let gw = env.gateway_address(INFRA_NS, "same-namespace").await?;
    let conds = [Cond("ResolvedRefs", "False", reason)];
    route_parent_conditions(env, "HTTPRoute", INFRA_NS, route, &gws, &conds).await?;
    expect_all(env, &gw, &[Expect::status("/", 500)]).await
}

async fn invalid_cross_namespace_backend_ref(env: &Env) -> Result<(), Failure> {
    invalid_backend(
        env,
        "invalid-cross-namespace-backend-ref",
        "RefNotPermitted",
    )
    .await
}

async fn invalid_backend_ref_unknown_kind(env: &Env) -> Result<(), Failure> {
    invalid_backend(env, "invalid-backend-ref-unknown-kind", "InvalidKind").await
}
