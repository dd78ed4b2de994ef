//! HTTPRoute RequestMirror filters: the primary backend answers, the
//! mirror backends log the same request.

use crate::expect::{Expect, ExpectedRequest, expect_mirrored};
use crate::status::{route_accepted, route_resolved};
use crate::{ConformanceTest, Env, Failure, INFRA_NS, conformance_test};

pub fn tests() -> Vec<ConformanceTest> {
    vec![
        conformance_test!(
            "HTTPRouteRequestMirror",
            manifests: ["tests/httproute-request-mirror.yaml"],
            features: ["Gateway", "HTTPRoute", "HTTPRouteRequestMirror"],
            request_mirror
        ),
        conformance_test!(
            "HTTPRouteRequestMultipleMirrors",
            manifests: ["tests/httproute-request-multiple-mirrors.yaml"],
            features: [
                "Gateway",
                "HTTPRoute",
                "HTTPRouteRequestMirror",
                "HTTPRouteRequestMultipleMirrors"
            ],
            request_multiple_mirrors
        ),
    ]
}

const SAME: [(&str, &str); 1] = [(INFRA_NS, "same-namespace")];

async fn ready(env: &Env, route: &str) -> Result<String, Failure> {
    route_accepted(env, "HTTPRoute", INFRA_NS, route, &SAME).await?;
    route_resolved(env, "HTTPRoute", INFRA_NS, route, &SAME).await?;
    env.gateway_address(INFRA_NS, "same-namespace").await
}

/// `path` with the header-modifying filter of these manifests applied.
pub(super) fn modified(path: &str) -> Expect {
    Expect::get(path, "infra-backend-v1", INFRA_NS)
        .headers(&[
            ("X-Header-Remove", "remove-val"),
            ("X-Header-Add-Append", "append-val-1"),
        ])
        .expect_request(ExpectedRequest::new(
            path,
            &[
                ("X-Header-Add", "header-val-1"),
                ("X-Header-Add-Append", "append-val-1,header-val-2"),
                ("X-Header-Set", "set-overwrites-values"),
            ],
            &["X-Header-Remove"],
        ))
}

async fn request_mirror(env: &Env) -> Result<(), Failure> {
    let gw = ready(env, "request-mirror").await?;
    let v2 = [("infra-backend-v2", INFRA_NS)];
    expect_mirrored(
        env,
        &gw,
        &Expect::get("/mirror", "infra-backend-v1", INFRA_NS),
        &v2,
    )
    .await?;
    expect_mirrored(env, &gw, &modified("/mirror-and-modify-headers"), &v2).await
}

async fn request_multiple_mirrors(env: &Env) -> Result<(), Failure> {
    let gw = ready(env, "request-multiple-mirrors").await?;
    let mirrors = [
        ("infra-backend-v2", INFRA_NS),
        ("infra-backend-v3", INFRA_NS),
    ];
    expect_mirrored(
        env,
        &gw,
        &Expect::get("/multi-mirror", "infra-backend-v1", INFRA_NS),
        &mirrors,
    )
    .await?;
    expect_mirrored(
        env,
        &gw,
        &modified("/multi-mirror-and-modify-request-headers"),
        &mirrors,
    )
    .await
}
