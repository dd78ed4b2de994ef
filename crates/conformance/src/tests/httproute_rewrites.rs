//! HTTPRoute URLRewrite (path, host) and ResponseHeaderModifier filters.

use crate::expect::{Expect, ExpectedRequest, expect_all};
use crate::status::{route_accepted, route_resolved};
use crate::{ConformanceTest, Env, Failure, INFRA_NS, conformance_test};

pub fn tests() -> Vec<ConformanceTest> {
    vec![
        conformance_test!(
            "HTTPRouteRewritePath",
            manifests: ["tests/httproute-rewrite-path.yaml"],
            features: ["Gateway", "HTTPRoute", "HTTPRoutePathRewrite"],
            rewrite_path
        ),
        conformance_test!(
            "HTTPRouteRewriteHost",
            manifests: ["tests/httproute-rewrite-host.yaml"],
            features: ["Gateway", "HTTPRoute", "HTTPRouteHostRewrite"],
            rewrite_host
        ),
        conformance_test!(
            "HTTPRouteResponseHeaderModifier",
            manifests: ["tests/httproute-response-header-modifier.yaml"],
            features: ["Gateway", "HTTPRoute", "HTTPRouteResponseHeaderModification"],
            response_header_modifier
        ),
    ]
}

const SAME: [(&str, &str); 1] = [(INFRA_NS, "same-namespace")];

async fn ready(env: &Env, route: &str) -> Result<String, Failure> {
    route_accepted(env, "HTTPRoute", INFRA_NS, route, &SAME).await?;
    route_resolved(env, "HTTPRoute", INFRA_NS, route, &SAME).await?;
    env.gateway_address(INFRA_NS, "same-namespace").await
}

/// The headers a request-modifying filter of these manifests sends on.
const MODIFY_REQUEST_IN: &[(&str, &str)] = &[
    ("X-Header-Remove", "remove-val"),
    ("X-Header-Add-Append", "append-val-1"),
    ("X-Header-Set", "set-val"),
];
const MODIFY_REQUEST_OUT: &[(&str, &str)] = &[
    ("X-Header-Add", "header-val-1"),
    ("X-Header-Add-Append", "append-val-1,header-val-2"),
    ("X-Header-Set", "set-overwrites-values"),
];

async fn rewrite_path(env: &Env) -> Result<(), Failure> {
    let gw = ready(env, "rewrite-path").await?;
    let v1 = |path: &str, seen: &str| {
        Expect::get(path, "infra-backend-v1", INFRA_NS).expect_request(ExpectedRequest::new(
            seen,
            &[],
            &[],
        ))
    };
    expect_all(
        env,
        &gw,
        &[
            v1("/prefix/one/two", "/one/two"),
            v1("/strip-prefix/three", "/three"),
            v1("/strip-prefix", "/"),
            v1("/full/one/two", "/one"),
            Expect::get(
                "/full/rewrite-path-and-modify-headers/test",
                "infra-backend-v1",
                INFRA_NS,
            )
            .headers(MODIFY_REQUEST_IN)
            .expect_request(ExpectedRequest::new(
                "/test",
                MODIFY_REQUEST_OUT,
                &["X-Header-Remove"],
            )),
            Expect::get(
                "/prefix/rewrite-path-and-modify-headers/one",
                "infra-backend-v1",
                INFRA_NS,
            )
            .headers(MODIFY_REQUEST_IN)
            .expect_request(ExpectedRequest::new(
                "/prefix/one",
                MODIFY_REQUEST_OUT,
                &["X-Header-Remove"],
            )),
        ],
    )
    .await
}

async fn rewrite_host(env: &Env) -> Result<(), Failure> {
    let gw = ready(env, "rewrite-host").await?;
    let to = |path: &str, backend: &str, host: &str| {
        let mut seen = ExpectedRequest::new(path, &[], &[]);
        seen.host = host.to_string();
        Expect::get(path, backend, INFRA_NS)
            .host("rewrite.example")
            .expect_request(seen)
    };
    let mut modified = ExpectedRequest::new(
        "/rewrite-host-and-modify-headers",
        MODIFY_REQUEST_OUT,
        &["X-Header-Remove"],
    );
    modified.host = "test.example.org".into();
    expect_all(
        env,
        &gw,
        &[
            to("/one", "infra-backend-v1", "one.example.org"),
            to("/two", "infra-backend-v2", "example.org"),
            Expect::get(
                "/rewrite-host-and-modify-headers",
                "infra-backend-v2",
                INFRA_NS,
            )
            .host("rewrite.example")
            .headers(&MODIFY_REQUEST_IN[..2])
            .expect_request(modified),
        ],
    )
    .await
}

/// `GET path` answered by infra-backend-v1, which sets `backend_sets` on
/// its response.
fn responds(path: &str, backend_sets: &[(&str, &str)]) -> Expect {
    backend_sets.iter().fold(
        Expect::get(path, "infra-backend-v1", INFRA_NS),
        |e, (n, v)| e.backend_sets(n, v),
    )
}

fn with_response(mut e: Expect, headers: &[(&str, &str)], absent: &[&str]) -> Expect {
    for (n, v) in headers {
        e = e.response_header(n, v);
    }
    for n in absent {
        e = e.absent_response_header(n);
    }
    e
}

async fn response_header_modifier(env: &Env) -> Result<(), Failure> {
    let gw = ready(env, "response-header-modifier").await?;
    let other = ("Some-Other-Header", "val");
    let mut both = responds(
        "/response-and-request-header-modifiers",
        &[
            ("X-Header-Set-2", "set-val-2"),
            ("X-Header-Add-2", "add-val-2"),
            ("X-Header-Remove-2", "remove-val-2"),
        ],
    )
    .headers(&[
        ("X-Header-Remove", "val"),
        ("X-Header-Add-Append", "append-val-1"),
        ("X-Header-Set", "set-val"),
    ])
    .expect_request(ExpectedRequest::new(
        "/response-and-request-header-modifiers",
        &[
            ("X-Header-Set", "set-overwrites-values"),
            ("X-Header-Add", "header-val-1"),
            ("X-Header-Add-Append", "append-val-1,header-val-2"),
        ],
        &["X-Header-Remove"],
    ));
    both = with_response(
        both,
        &[
            ("X-Header-Set-1", "header-set-1"),
            ("X-Header-Set-2", "header-set-2"),
            ("X-Header-Add-1", "header-add-1"),
            ("X-Header-Add-2", "add-val-2,header-add-2"),
        ],
        &["X-Header-Remove-1", "X-Header-Remove-2"],
    );
    expect_all(
        env,
        &gw,
        &[
            with_response(
                responds("/set", &[other]),
                &[other, ("X-Header-Set", "set-overwrites-values")],
                &[],
            ),
            with_response(
                responds("/set", &[other, ("X-Header-Set", "some-other-value")]),
                &[other, ("X-Header-Set", "set-overwrites-values")],
                &[],
            ),
            with_response(
                responds("/add", &[other]),
                &[other, ("X-Header-Add", "add-appends-values")],
                &[],
            ),
            with_response(
                responds("/add", &[other, ("X-Header-Add", "some-other-value")]),
                &[
                    other,
                    ("X-Header-Add", "some-other-value,add-appends-values"),
                ],
                &[],
            ),
            with_response(
                responds("/remove", &[("X-Header-Remove", "val")]),
                &[],
                &["X-Header-Remove"],
            ),
            with_response(
                responds(
                    "/multiple",
                    &[
                        ("X-Header-Set-2", "set-val-2"),
                        ("X-Header-Add-2", "add-val-2"),
                        ("X-Header-Remove-2", "remove-val-2"),
                        ("Another-Header", "another-header-val"),
                    ],
                ),
                &[
                    ("X-Header-Set-1", "header-set-1"),
                    ("X-Header-Set-2", "header-set-2"),
                    ("X-Header-Add-1", "header-add-1"),
                    ("X-Header-Add-2", "add-val-2,header-add-2"),
                    ("X-Header-Add-3", "header-add-3"),
                    ("Another-Header", "another-header-val"),
                ],
                &["X-Header-Remove-1", "X-Header-Remove-2"],
            ),
            with_response(
                responds(
                    "/case-insensitivity",
                    &[
                        ("x-header-set", "original-val-set"),
                        ("x-header-add", "original-val-add"),
                        ("x-header-remove", "original-val-remove"),
                        ("Another-Header", "another-header-val"),
                    ],
                ),
                &[
                    ("X-Header-Set", "header-set"),
                    ("X-Header-Add", "original-val-add,header-add"),
                    ("X-Lowercase-Add", "lowercase-add"),
                    ("X-Mixedcase-Add-1", "mixedcase-add-1"),
                    ("X-Mixedcase-Add-2", "mixedcase-add-2"),
                    ("X-Uppercase-Add", "uppercase-add"),
                    ("Another-Header", "another-header-val"),
                ],
                &["x-header-remove", "X-Header-Remove"],
            ),
            both,
        ],
    )
    .await
}
