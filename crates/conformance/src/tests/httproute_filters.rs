//! Core HTTPRoute filters.

use crate::expect::{Expect, ExpectedRequest, expect_all, expect_weights};
use crate::status::{route_accepted, route_resolved};
use crate::{ConformanceTest, Env, Failure, INFRA_NS, conformance_test};

pub fn tests() -> Vec<ConformanceTest> {
    vec![
        conformance_test!(
            "HTTPRouteRequestHeaderModifier",
            manifests: ["tests/httproute-request-header-modifier.yaml"],
            features: ["Gateway", "HTTPRoute"],
            request_header_modifier
        ),
        conformance_test!(
            "HTTPRouteWeight",
            manifests: ["tests/httproute-weight.yaml"],
            features: ["Gateway", "HTTPRoute"],
            weight
        ),
        conformance_test!(
            "HTTPRouteBackendRequestHeaderModifier",
            manifests: ["tests/httproute-request-header-modifier-backend.yaml"],
            features: ["Gateway", "HTTPRoute", "HTTPRouteBackendRequestHeaderModification"],
            request_header_modifier
        ),
    ]
}

async fn weight(env: &Env) -> Result<(), Failure> {
    route_accepted(env, "HTTPRoute", INFRA_NS, "weighted-backends", &SAME).await?;
    route_resolved(env, "HTTPRoute", INFRA_NS, "weighted-backends", &SAME).await?;
    let gw = env.gateway_address(INFRA_NS, "same-namespace").await?;
    let mut any = Expect::get("/", "", INFRA_NS);
    any.request.path = "/".into();
    expect_all(env, &gw, &[any.clone()]).await?;
    expect_weights(
        env,
        &gw,
        &any.request,
        &[
            ("infra-backend-v1", 0.7),
            ("infra-backend-v2", 0.3),
            ("infra-backend-v3", 0.0),
        ],
    )
    .await
}

const SAME: [(&str, &str); 1] = [(INFRA_NS, "same-namespace")];

/// Route-level and backend-level variants: same route name, same expectations.
async fn request_header_modifier(env: &Env) -> Result<(), Failure> {
    route_accepted(env, "HTTPRoute", INFRA_NS, "request-header-modifier", &SAME).await?;
    route_resolved(env, "HTTPRoute", INFRA_NS, "request-header-modifier", &SAME).await?;
    let gw = env.gateway_address(INFRA_NS, "same-namespace").await?;
    let v1 = |path: &str| Expect::get(path, "infra-backend-v1", INFRA_NS);
    expect_all(
        env,
        &gw,
        &[
            v1("/set")
                .headers(&[("Some-Other-Header", "val")])
                .expect_request(ExpectedRequest::new(
                    "/set",
                    &[
                        ("Some-Other-Header", "val"),
                        ("X-Header-Set", "set-overwrites-values"),
                    ],
                    &[],
                )),
            v1("/set")
                .headers(&[
                    ("Some-Other-Header", "val"),
                    ("X-Header-Set", "some-other-value"),
                ])
                .expect_request(ExpectedRequest::new(
                    "/set",
                    &[
                        ("Some-Other-Header", "val"),
                        ("X-Header-Set", "set-overwrites-values"),
                    ],
                    &[],
                )),
            v1("/add")
                .headers(&[("Some-Other-Header", "val")])
                .expect_request(ExpectedRequest::new(
                    "/add",
                    &[
                        ("Some-Other-Header", "val"),
                        ("X-Header-Add", "add-appends-values"),
                    ],
                    &[],
                )),
            v1("/add")
                .headers(&[
                    ("Some-Other-Header", "val"),
                    ("X-Header-Add", "some-other-value"),
                ])
                .expect_request(ExpectedRequest::new(
                    "/add",
                    &[
                        ("Some-Other-Header", "val"),
                        ("X-Header-Add", "some-other-value,add-appends-values"),
                    ],
                    &[],
                )),
            v1("/remove")
                .headers(&[("X-Header-Remove", "val")])
                .expect_request(ExpectedRequest::new("/remove", &[], &["X-Header-Remove"])),
            v1("/multiple")
                .headers(&[
                    ("X-Header-Set-2", "set-val-2"),
                    ("X-Header-Add-2", "add-val-2"),
                    ("X-Header-Remove-2", "remove-val-2"),
                    ("Another-Header", "another-header-val"),
                ])
                .expect_request(ExpectedRequest::new(
                    "/multiple",
                    &[
                        ("X-Header-Set-1", "header-set-1"),
                        ("X-Header-Set-2", "header-set-2"),
                        ("X-Header-Add-1", "header-add-1"),
                        ("X-Header-Add-2", "add-val-2,header-add-2"),
                        ("X-Header-Add-3", "header-add-3"),
                        ("Another-Header", "another-header-val"),
                    ],
                    &["X-Header-Remove-1", "X-Header-Remove-2"],
                )),
            // The filter names are canonical, the request's are lower-case.
            v1("/case-insensitivity")
                .headers(&[
                    ("x-header-set", "original-val-set"),
                    ("x-header-add", "original-val-add"),
                    ("x-header-remove", "original-val-remove"),
                    ("Another-Header", "another-header-val"),
                ])
                .expect_request(ExpectedRequest::new(
                    "/case-insensitivity",
                    &[
                        ("X-Header-Set", "header-set"),
                        ("X-Header-Add", "original-val-add,header-add"),
                        ("Another-Header", "another-header-val"),
                    ],
                    &["x-header-remove", "X-Header-Remove"],
                )),
        ],
    )
    .await
}
