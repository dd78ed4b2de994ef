//! Core HTTPRoute routing: same-namespace attachment, path and header
//! matching, invalid backends.

use crate::expect::{Expect, expect_all};
use crate::status::{Cond, ParentExpect, route_accepted, route_parents};
use crate::{ConformanceTest, Env, Failure, INFRA_NS, conformance_test};

pub fn tests() -> Vec<ConformanceTest> {
    vec![
        conformance_test!(
            "HTTPRouteSimpleSameNamespace",
            manifests: ["tests/httproute-simple-same-namespace.yaml"],
            features: ["Gateway", "HTTPRoute"],
            simple_same_namespace
        ),
        conformance_test!(
            "HTTPRouteMatching",
            manifests: ["tests/httproute-matching.yaml"],
            features: ["Gateway", "HTTPRoute"],
            matching
        ),
        conformance_test!(
            "HTTPRouteExactPathMatching",
            manifests: ["tests/httproute-exact-path-matching.yaml"],
            features: ["Gateway", "HTTPRoute"],
            exact_path_matching
        ),
        conformance_test!(
            "HTTPRouteInvalidNonExistentBackendRef",
            manifests: ["tests/httproute-invalid-nonexistent-backendref.yaml"],
            features: ["Gateway", "HTTPRoute"],
            invalid_nonexistent_backend_ref
        ),
    ]
}

async fn simple_same_namespace(env: &Env) -> Result<(), Failure> {
    let gw = env.gateway_address(INFRA_NS, "same-namespace").await?;
    route_accepted(
        env,
        "HTTPRoute",
        INFRA_NS,
        "gateway-conformance-infra-test",
        &[(INFRA_NS, "same-namespace")],
    )
    .await?;
    expect_all(env, &gw, &[Expect::get("/", "infra-backend-v1", INFRA_NS)]).await
}

async fn matching(env: &Env) -> Result<(), Failure> {
    let gw = env.gateway_address(INFRA_NS, "same-namespace").await?;
    route_accepted(
        env,
        "HTTPRoute",
        INFRA_NS,
        "matching",
        &[(INFRA_NS, "same-namespace")],
    )
    .await?;
    expect_all(
        env,
        &gw,
        &[
            Expect::get("/", "infra-backend-v1", INFRA_NS),
            Expect::get("/example", "infra-backend-v1", INFRA_NS),
            Expect::get("/", "infra-backend-v1", INFRA_NS).header("Version", "one"),
            Expect::get("/v2", "infra-backend-v2", INFRA_NS),
            Expect::get("/v2/example", "infra-backend-v2", INFRA_NS),
            Expect::get("/", "infra-backend-v2", INFRA_NS).header("Version", "two"),
        ],
    )
    .await
}

async fn exact_path_matching(env: &Env) -> Result<(), Failure> {
    let gw = env.gateway_address(INFRA_NS, "same-namespace").await?;
    route_accepted(
        env,
        "HTTPRoute",
        INFRA_NS,
        "exact-matching",
        &[(INFRA_NS, "same-namespace")],
    )
    .await?;
    expect_all(
        env,
        &gw,
        &[
            Expect::get("/one", "infra-backend-v1", INFRA_NS),
            Expect::get("/two", "infra-backend-v2", INFRA_NS),
            Expect::status("/", 404),
            Expect::status("/one/example", 404),
            Expect::status("/two/", 404),
        ],
    )
    .await
}

async fn invalid_nonexistent_backend_ref(env: &Env) -> Result<(), Failure> {
    let gw = env.gateway_address(INFRA_NS, "same-namespace").await?;
    const CONDS: &[Cond] = &[
        Cond("Accepted", "True", "Accepted"),
        Cond("ResolvedRefs", "False", "BackendNotFound"),
    ];
    route_parents(
        env,
        "HTTPRoute",
        INFRA_NS,
        "invalid-nonexistent-backend-ref",
        &[ParentExpect::gateway(INFRA_NS, "same-namespace", CONDS)],
    )
    .await?;
    expect_all(env, &gw, &[Expect::status("/", 500)]).await
}
