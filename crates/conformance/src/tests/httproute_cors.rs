//! HTTPRoute CORS filter: preflight requests answered by the gateway,
//! simple requests decorated with the allowed origin.

use crate::expect::{Expect, expect_all};
use crate::status::{route_accepted, route_resolved};
use crate::{ConformanceTest, Env, Failure, INFRA_NS, conformance_test};

pub fn tests() -> Vec<ConformanceTest> {
    vec![conformance_test!(
        "HTTPRouteCORS",
        manifests: ["tests/httproute-cors.yaml"],
        features: ["Gateway", "HTTPRoute", "HTTPRouteCORS"],
        cors
    )]
}

const SAME: [(&str, &str); 1] = [(INFRA_NS, "same-namespace")];

const ROUTES: [&str; 4] = [
    "cors-multiple-origins-methods-headers",
    "cors-wildcard-methods",
    "cors-wildcard-origin",
    "cors-wildcard-methods-headers",
];

const ALLOW_ORIGIN: &str = "access-control-allow-origin";
const ALLOW_METHODS: &str = "access-control-allow-methods";
const ALLOW_HEADERS: &str = "access-control-allow-headers";
const ALLOW_CREDENTIALS: &str = "access-control-allow-credentials";
const REQUEST_METHOD: &str = "access-control-request-method";
const REQUEST_HEADERS: &str = "access-control-request-headers";
const BOTH_HEADERS: [&str; 2] = ["x-header-1, x-header-2", "x-header-2, x-header-1"];

/// An OPTIONS preflight from `origin` asking for `method` (and
/// `headers` when not empty), answered by the gateway itself: a 200 whose
/// body is not an echo, so only the method is compared.
fn preflight(path: &str, origin: &str, method: &str, headers: &str) -> Expect {
    let mut e = Expect::status(path, 200)
        .method("OPTIONS")
        .headers(&[("Origin", origin), (REQUEST_METHOD, method)]);
    if !headers.is_empty() {
        e = e.header(REQUEST_HEADERS, headers);
    }
    e.expect_request(crate::expect::ExpectedRequest {
        method: "OPTIONS".into(),
        ..Default::default()
    })
}

/// The full set of headers `/cors-1` answers an allowed preflight with.
fn cors_1_allowed(origin: &str) -> Expect {
    preflight("/cors-1", origin, "GET", "x-header-1, x-header-2")
        .response_header_one_of(ALLOW_ORIGIN, &[origin])
        .response_header_one_of(ALLOW_METHODS, &["GET, OPTIONS", "OPTIONS, GET"])
        .response_header_one_of(ALLOW_HEADERS, &BOTH_HEADERS)
        .response_header_one_of(
            "access-control-expose-headers",
            &["x-header-3, x-header-4", "x-header-4, x-header-3"],
        )
        .response_header_one_of("access-control-max-age", &["3600"])
        .response_header_one_of(ALLOW_CREDENTIALS, &["true"])
}

/// A request that reaches infra-backend-v1.
fn simple(path: &str, method: &str, headers: &[(&str, &str)]) -> Expect {
    Expect::get(path, "", INFRA_NS)
        .method(method)
        .headers(headers)
}

async fn cors(env: &Env) -> Result<(), Failure> {
    for route in ROUTES {
        route_accepted(env, "HTTPRoute", INFRA_NS, route, &SAME).await?;
        route_resolved(env, "HTTPRoute", INFRA_NS, route, &SAME).await?;
    }
    let gw = env.gateway_address(INFRA_NS, "same-namespace").await?;
    let ask = [
        ("access-control-request-method", "GET"),
        ("access-control-request-headers", "x-header-1, x-header-2"),
    ];
    let mut cases = vec![
        cors_1_allowed("https://www.foo.com").statuses(&[200, 204]),
        cors_1_allowed("https://www.bar.com"),
        cors_1_allowed("https://xpto.www.bar.com"),
        preflight("/cors-1", "https://foobar.com", "GET", "")
            .statuses(&[200, 204, 403])
            .absent_response_header(ALLOW_ORIGIN),
    ];
    for origin in ["https://www.foo.com", "https://www.bar.com"] {
        let mut headers = vec![("Origin", origin)];
        headers.extend(ask);
        cases.push(
            simple("/cors-1", "GET", &headers)
                .statuses(&[200, 204])
                .response_header(ALLOW_ORIGIN, origin),
        );
    }
    cases.extend([
        simple(
            "/cors-1",
            "GET",
            &[("Origin", "https://foobar.com"), (REQUEST_METHOD, "GET")],
        )
        .absent_response_header(ALLOW_ORIGIN),
        preflight("/cors-2", "https://www.foo.com", "POST", "")
            .statuses(&[200, 204])
            .response_header_one_of(ALLOW_METHODS, &["POST", "*"])
            .response_header(ALLOW_ORIGIN, "https://www.foo.com")
            .absent_response_header(ALLOW_CREDENTIALS),
        preflight("/cors-2", "https://www.foo.com", "POST", "")
            .absent_response_header(ALLOW_CREDENTIALS),
    ]);
    // allowOrigins "*" without credentials: "*" or the Origin echoed.
    for origin in ["https://foobar.com", "https://foobar.com:12345"] {
        cases.push(
            preflight("/cors-wildcard-origin", origin, "PUT", "")
                .statuses(&[200, 204])
                .response_header_one_of(ALLOW_ORIGIN, &[origin, "*"])
                .response_header_one_of(ALLOW_METHODS, &["PUT"])
                .absent_response_header(ALLOW_CREDENTIALS),
        );
    }
    cases.push(
        simple(
            "/cors-wildcard-origin",
            "PUT",
            &[("Origin", "https://foobar.com:12345")],
        )
        .response_header_one_of(ALLOW_ORIGIN, &["https://foobar.com:12345", "*"]),
    );
    cases.push(
        simple(
            "/cors-wildcard-origin",
            "PUT",
            &[("Origin", "https://foobar.com")],
        )
        .statuses(&[200, 204])
        .response_header_one_of(ALLOW_ORIGIN, &["https://foobar.com", "*"])
        .absent_response_header(ALLOW_CREDENTIALS),
    );
    // Wildcards with credentials: the origin, method and headers are echoed,
    // never "*"; without credentials "*" is fine and no credentials header.
    let other = "https://other.foo.com";
    cases.extend([
        preflight(
            "/cors-wildcard-methods-headers",
            other,
            "PUT",
            BOTH_HEADERS[0],
        )
        .response_header_one_of(ALLOW_ORIGIN, &[other])
        .response_header_one_of(ALLOW_METHODS, &["PUT"])
        .response_header_one_of(ALLOW_HEADERS, &BOTH_HEADERS)
        .response_header_one_of(ALLOW_CREDENTIALS, &["true"]),
        preflight(
            "/cors-wildcard-methods-headers-unauth",
            other,
            "PUT",
            BOTH_HEADERS[0],
        )
        .response_header_one_of(ALLOW_ORIGIN, &[other, "*"])
        .response_header_one_of(ALLOW_METHODS, &["PUT", "*"])
        .response_header_one_of(ALLOW_HEADERS, &[BOTH_HEADERS[0], BOTH_HEADERS[1], "*"])
        .absent_response_header(ALLOW_CREDENTIALS),
        simple(
            "/cors-wildcard-methods-headers",
            "GET",
            &[("Origin", other), ("Authorization", "Bearer test")],
        )
        .response_header_one_of(ALLOW_ORIGIN, &[other])
        .response_header_one_of(ALLOW_CREDENTIALS, &["true"]),
        simple(
            "/cors-wildcard-methods-headers-unauth",
            "GET",
            &[("Origin", other), ("Authorization", "Bearer test")],
        )
        .response_header_one_of(ALLOW_ORIGIN, &[other])
        .absent_response_header(ALLOW_CREDENTIALS),
    ]);
    expect_all(env, &gw, &cases).await
}
