//! Hostname handling: listener hostnames, route × listener intersection,
//! cross-namespace attachment.

use crate::expect::{Expect, expect_all};
use crate::status::{
    ACCEPTED, Cond, ListenerExpect, ParentExpect, gateway_listeners, route_accepted, route_parents,
};
use crate::{ConformanceTest, Env, Failure, INFRA_NS, WEB_BACKEND_NS, conformance_test};

pub fn tests() -> Vec<ConformanceTest> {
    vec![
        conformance_test!(
            "HTTPRouteCrossNamespace",
            manifests: ["tests/httproute-cross-namespace.yaml"],
            features: ["Gateway", "HTTPRoute"],
            cross_namespace
        ),
        conformance_test!(
            "HTTPRouteHeaderMatching",
            manifests: ["tests/httproute-header-matching.yaml"],
            features: ["Gateway", "HTTPRoute"],
            header_matching
        ),
        conformance_test!(
            "HTTPRouteListenerHostnameMatching",
            manifests: ["tests/httproute-listener-hostname-matching.yaml"],
            features: ["HTTPRoute"],
            listener_hostname_matching
        ),
        conformance_test!(
            "HTTPRouteHostnameIntersection",
            manifests: ["tests/httproute-hostname-intersection.yaml"],
            features: ["Gateway", "HTTPRoute"],
            hostname_intersection
        ),
    ]
}

async fn cross_namespace(env: &Env) -> Result<(), Failure> {
    let gw = env.gateway_address(INFRA_NS, "backend-namespaces").await?;
    route_accepted(
        env,
        "HTTPRoute",
        WEB_BACKEND_NS,
        "cross-namespace",
        &[(INFRA_NS, "backend-namespaces")],
    )
    .await?;
    expect_all(env, &gw, &[Expect::get("/", "web-backend", WEB_BACKEND_NS)]).await
}

async fn header_matching(env: &Env) -> Result<(), Failure> {
    let gw = env.gateway_address(INFRA_NS, "same-namespace").await?;
    route_accepted(
        env,
        "HTTPRoute",
        INFRA_NS,
        "header-matching",
        &[(INFRA_NS, "same-namespace")],
    )
    .await?;
    let v1 = |h: &[(&str, &str)]| {
        h.iter().fold(
            Expect::get("/", "infra-backend-v1", INFRA_NS),
            |e, (n, v)| e.header(n, v),
        )
    };
    let v2 = |h: &[(&str, &str)]| {
        h.iter().fold(
            Expect::get("/", "infra-backend-v2", INFRA_NS),
            |e, (n, v)| e.header(n, v),
        )
    };
    let none = |h: &[(&str, &str)]| {
        h.iter()
            .fold(Expect::status("/", 404), |e, (n, v)| e.header(n, v))
    };
    expect_all(
        env,
        &gw,
        &[
            v1(&[("Version", "one")]),
            v2(&[("Version", "two")]),
            v1(&[("Version", "two"), ("Color", "orange")]),
            v2(&[("Version", "two"), ("Color", "blue")]),
            none(&[("Color", "orange")]),
            none(&[("Some-Other-Header", "one")]),
            v1(&[("Color", "blue")]),
            v1(&[("Color", "green")]),
            v2(&[("Color", "red")]),
            v2(&[("Color", "yellow")]),
            none(&[("Color", "purple")]),
        ],
    )
    .await
}

async fn listener_hostname_matching(env: &Env) -> Result<(), Failure> {
    const GW: &str = "httproute-listener-hostname-matching";
    for route in ["backend-v1", "backend-v2", "backend-v3"] {
        route_accepted(env, "HTTPRoute", INFRA_NS, route, &[(INFRA_NS, GW)]).await?;
    }
    let gw = env.gateway_address(INFRA_NS, GW).await?;
    let to = |host: &str, backend: &str| Expect::get("/", backend, INFRA_NS).host(host);
    expect_all(
        env,
        &gw,
        &[
            to("bar.com", "infra-backend-v1"),
            to("foo.bar.com", "infra-backend-v2"),
            to("baz.bar.com", "infra-backend-v3"),
            to("boo.bar.com", "infra-backend-v3"),
            to("multiple.prefixes.bar.com", "infra-backend-v3"),
            to("multiple.prefixes.foo.com", "infra-backend-v3"),
            Expect::status("/", 404).host("foo.com"),
            Expect::status("/", 404).host("no.matching.host"),
        ],
    )
    .await
}

async fn hostname_intersection(env: &Env) -> Result<(), Failure> {
    const GW: &str = "httproute-hostname-intersection";
    for route in [
        "specific-host-matches-listener-specific-host",
        "specific-host-matches-listener-wildcard-host",
        "wildcard-host-matches-listener-specific-host",
        "wildcard-host-matches-listener-wildcard-host",
    ] {
        route_parents(
            env,
            "HTTPRoute",
            INFRA_NS,
            route,
            &[ParentExpect::gateway(INFRA_NS, GW, ACCEPTED)],
        )
        .await?;
    }
    let gw = env.gateway_address(INFRA_NS, GW).await?;
    let ok =
        |host: &str, path: &str, backend: &str| Expect::get(path, backend, INFRA_NS).host(host);
    let nf = |host: &str, path: &str| Expect::status(path, 404).host(host);
    expect_all(
        env,
        &gw,
        &[
            ok("very.specific.com", "/s1", "infra-backend-v1"),
            // The port in the Host header is not part of the match.
            ok("very.specific.com:1234", "/s1", "infra-backend-v1"),
            nf("non.matching.com", "/s1"),
            nf("foo.nonmatchingwildcard.io", "/s1"),
            nf("foo.wildcard.io", "/s1"),
            nf("very.specific.com", "/non-matching-prefix"),
            ok("foo.wildcard.io", "/s2", "infra-backend-v2"),
            ok("bar.wildcard.io", "/s2", "infra-backend-v2"),
            ok("foo.bar.wildcard.io", "/s2", "infra-backend-v2"),
            nf("non.matching.com", "/s2"),
            nf("wildcard.io", "/s2"),
            nf("very.specific.com", "/s2"),
            nf("foo.wildcard.io", "/non-matching-prefix"),
            ok("very.specific.com", "/s3", "infra-backend-v3"),
            nf("non.matching.com", "/s3"),
            nf("foo.specific.com", "/s3"),
            nf("foo.wildcard.io", "/s3"),
            nf("very.specific.com", "/non-matching-prefix"),
            ok("foo.anotherwildcard.io", "/s4", "infra-backend-v1"),
            ok("bar.anotherwildcard.io", "/s4", "infra-backend-v1"),
            ok("foo.bar.anotherwildcard.io", "/s4", "infra-backend-v1"),
            nf("anotherwildcard.io", "/s4"),
            nf("foo.wildcard.io", "/s4"),
            nf("very.specific.com", "/s4"),
            nf("foo.anotherwildcard.io", "/non-matching-prefix"),
        ],
    )
    .await?;

    // A route whose hostnames intersect no listener is not accepted.
    const NO_MATCH: &[Cond] = &[Cond("Accepted", "False", "NoMatchingListenerHostname")];
    route_parents(
        env,
        "HTTPRoute",
        INFRA_NS,
        "no-intersecting-hosts",
        &[ParentExpect::gateway(INFRA_NS, GW, NO_MATCH)],
    )
    .await?;
    expect_all(
        env,
        &gw,
        &[
            nf("specific.but.wrong.com", "/s5"),
            nf("wildcard.io", "/s5"),
        ],
    )
    .await?;

    // Only accepted routes count in attachedRoutes.
    const LISTENER_OK: &[Cond] = &[
        Cond("Accepted", "True", ""),
        Cond("ResolvedRefs", "True", ""),
    ];
    gateway_listeners(
        env,
        INFRA_NS,
        GW,
        &[
            ListenerExpect {
                name: "listener-1",
                supported_kinds: &["HTTPRoute"],
                attached_routes: 2,
                conditions: LISTENER_OK,
            },
            ListenerExpect {
                name: "listener-2",
                supported_kinds: &["HTTPRoute"],
                attached_routes: 1,
                conditions: LISTENER_OK,
            },
            ListenerExpect {
                name: "listener-3",
                supported_kinds: &["HTTPRoute"],
                attached_routes: 1,
                conditions: LISTENER_OK,
            },
        ],
    )
    .await?;

    // A listener without hostname takes the route's hostnames as they are.
    const ALL: &str = "httproute-hostname-intersection-all";
    route_accepted(env, "HTTPRoute", INFRA_NS, ALL, &[(INFRA_NS, ALL)]).await?;
    let gw_all = env.gateway_address(INFRA_NS, ALL).await?;
    expect_all(
        env,
        &gw_all,
        &[
            ok("first.com", "/", "infra-backend-v2"),
            ok("sub.first.com", "/", "infra-backend-v2"),
            ok("second.com", "/", "infra-backend-v2"),
            ok("sub.second.com", "/", "infra-backend-v2"),
            nf("third.com", "/"),
            nf("sub.third.com", "/"),
        ],
    )
    .await
}
