//! Match precedence across rules and routes; query parameter and method
//! matching.

use crate::expect::{Expect, expect_all};
use crate::status::route_accepted;
use crate::{ConformanceTest, Env, Failure, INFRA_NS, conformance_test};

pub fn tests() -> Vec<ConformanceTest> {
    vec![
        conformance_test!(
            "HTTPRouteMatchingAcrossRoutes",
            manifests: ["tests/httproute-matching-across-routes.yaml"],
            features: ["Gateway", "HTTPRoute"],
            matching_across_routes
        ),
        conformance_test!(
            "HTTPRoutePathMatchOrder",
            manifests: ["tests/httproute-path-match-order.yaml"],
            features: ["HTTPRoute"],
            path_match_order
        ),
        conformance_test!(
            "HTTPRouteQueryParamMatching",
            manifests: ["tests/httproute-query-param-matching.yaml"],
            features: ["Gateway", "HTTPRoute", "HTTPRouteQueryParamMatching"],
            query_param_matching
        ),
    ]
}

fn to(path: &str, backend: &str) -> Expect {
    Expect::get(path, backend, INFRA_NS)
}

async fn same_namespace_route(env: &Env, routes: &[&str]) -> Result<String, Failure> {
    for route in routes {
        route_accepted(
            env,
            "HTTPRoute",
            INFRA_NS,
            route,
            &[(INFRA_NS, "same-namespace")],
        )
        .await?;
    }
    env.gateway_address(INFRA_NS, "same-namespace").await
}

async fn matching_across_routes(env: &Env) -> Result<(), Failure> {
    let gw = same_namespace_route(env, &["matching-part1", "matching-part2"]).await?;
    expect_all(
        env,
        &gw,
        &[
            to("/", "infra-backend-v1").host("example.com"),
            to("/example", "infra-backend-v1").host("example.com"),
            to("/example", "infra-backend-v1").host("example.net"),
            to("/example", "infra-backend-v1")
                .host("example.com")
                .header("Version", "one"),
            to("/v2", "infra-backend-v2").host("example.com"),
            // The /v2 matches are limited to example.com.
            to("/v2", "infra-backend-v1").host("example.net"),
            to("/v2/example", "infra-backend-v2").host("example.com"),
            to("/", "infra-backend-v2")
                .host("example.com")
                .header("Version", "two"),
        ],
    )
    .await
}

async fn path_match_order(env: &Env) -> Result<(), Failure> {
    let gw = same_namespace_route(env, &["path-matching-order"]).await?;
    expect_all(
        env,
        &gw,
        &[
            to("/match/exact/one", "infra-backend-v3"),
            to("/match/exact", "infra-backend-v2"),
            to("/match", "infra-backend-v1"),
            to("/match/prefix/one/any", "infra-backend-v2"),
            to("/match/prefix/any", "infra-backend-v1"),
            to("/match/any", "infra-backend-v3"),
        ],
    )
    .await
}

async fn query_param_matching(env: &Env) -> Result<(), Failure> {
    let gw = same_namespace_route(env, &["query-param-matching"]).await?;
    let nf = |path: &str| Expect::status(path, 404);
    expect_all(
        env,
        &gw,
        &[
            to("/?animal=whale", "infra-backend-v1"),
            to("/?animal=dolphin", "infra-backend-v2"),
            to("/?animal=dolphin&color=blue", "infra-backend-v3"),
            to("/?ANIMAL=Whale", "infra-backend-v3"),
            to("/?animal=whale&otherparam=irrelevant", "infra-backend-v1"),
            to("/?animal=dolphin&color=yellow", "infra-backend-v2"),
            nf("/?color=blue"),
            nf("/?animal=dog"),
            nf("/?animal=whaledolphin"),
            nf("/"),
            // Combined with other matches.
            to("/path1?animal=whale", "infra-backend-v1"),
            to("/?animal=whale", "infra-backend-v2").header("version", "one"),
            to("/path2?animal=whale", "infra-backend-v3").header("version", "two"),
            // ORed matches match on either.
            to("/path3?animal=shark", "infra-backend-v1"),
            to("/path4?animal=kraken", "infra-backend-v1").header("version", "three"),
            // ANDed match types need all of them.
            nf("/?animal=shark"),
            nf("/path4?animal=kraken"),
            // Precedence when several matches apply.
            to("/path5?animal=hydra", "infra-backend-v1"),
            to("/?animal=hydra", "infra-backend-v3").header("version", "four"),
        ],
    )
    .await
}

pub fn method_tests() -> Vec<ConformanceTest> {
    vec![conformance_test!(
        "HTTPRouteMethodMatching",
        manifests: ["tests/httproute-method-matching.yaml"],
        features: ["Gateway", "HTTPRoute", "HTTPRouteMethodMatching"],
        method_matching
    )]
}

async fn method_matching(env: &Env) -> Result<(), Failure> {
    let gw = same_namespace_route(env, &["method-matching"]).await?;
    let m = |method: &str, path: &str, backend: &str| to(path, backend).method(method);
    let nf = |method: &str, path: &str| Expect::status(path, 404).method(method);
    expect_all(
        env,
        &gw,
        &[
            m("POST", "/", "infra-backend-v1"),
            m("GET", "/", "infra-backend-v2"),
            nf("HEAD", "/"),
            m("GET", "/path1", "infra-backend-v1"),
            m("PUT", "/", "infra-backend-v2").header("version", "one"),
            m("POST", "/path2", "infra-backend-v3").header("version", "two"),
            m("PATCH", "/path3", "infra-backend-v1"),
            m("DELETE", "/path4", "infra-backend-v1").header("version", "three"),
            nf("PUT", "/"),
            nf("DELETE", "/path4"),
            m("PATCH", "/path5", "infra-backend-v1"),
            m("PATCH", "/", "infra-backend-v2").header("version", "four"),
        ],
    )
    .await
}
