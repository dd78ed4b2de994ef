use http::StatusCode;
use portico_ir::*;

use crate::common::*;

#[tokio::test]
async fn routes_by_path_prefix_and_exact() {
    let a = Echo::start("a").await;
    let b = Echo::start("b").await;
    let gw = Gateway::start(simple(
        vec![
            route(
                HttpMatch {
                    path: PathMatch::Exact("/exact".into()),
                    ..Default::default()
                },
                vec![backend("b", 1)],
            ),
            route(prefix("/foo"), vec![backend("b", 1)]),
            route(prefix("/"), vec![backend("a", 1)]),
        ],
        vec![a.cluster(), b.cluster()],
    ))
    .await;
    let addr = gw.addr();
    assert_eq!(get(addr, "x", "/foo").await.backend(), "b");
    assert_eq!(get(addr, "x", "/foo/bar").await.backend(), "b");
    assert_eq!(
        get(addr, "x", "/foobar").await.backend(),
        "a",
        "prefix is segment-wise"
    );
    assert_eq!(get(addr, "x", "/exact").await.backend(), "b");
    assert_eq!(get(addr, "x", "/exact/more").await.backend(), "a");
    let r = get(addr, "x", "/foo/bar?q=1").await;
    assert_eq!(
        r.json()["path"],
        "/foo/bar?q=1",
        "path and query forwarded unchanged"
    );
    assert_eq!(r.json()["host"], "x", "original Host forwarded");
}

#[tokio::test]
async fn routes_by_regex_method_header_and_query() {
    let a = Echo::start("a").await;
    let b = Echo::start("b").await;
    let m = |f: fn(&mut HttpMatch)| {
        let mut m = prefix("/");
        f(&mut m);
        m
    };
    let gw = Gateway::start(simple(
        vec![
            route(
                m(|m| m.path = PathMatch::Regex("/v[0-9]+/items".into())),
                vec![backend("b", 1)],
            ),
            route(m(|m| m.method = Some("POST".into())), vec![backend("b", 1)]),
            route(
                m(|m| {
                    m.headers = vec![HeaderMatch {
                        name: "x-version".into(),
                        value: StringMatch::Exact("two".into()),
                    }]
                }),
                vec![backend("b", 1)],
            ),
            route(
                m(|m| {
                    m.headers = vec![HeaderMatch {
                        name: "x-env".into(),
                        value: StringMatch::Regex("can.*".into()),
                    }]
                }),
                vec![backend("b", 1)],
            ),
            route(
                m(|m| {
                    m.query_params = vec![QueryParamMatch {
                        name: "animal".into(),
                        value: StringMatch::Exact("whale".into()),
                    }]
                }),
                vec![backend("b", 1)],
            ),
            route(prefix("/"), vec![backend("a", 1)]),
        ],
        vec![a.cluster(), b.cluster()],
    ))
    .await;
    let addr = gw.addr();
    assert_eq!(get(addr, "h", "/v2/items").await.backend(), "b");
    assert_eq!(
        get(addr, "h", "/x/v2/items").await.backend(),
        "a",
        "regex is anchored"
    );
    assert_eq!(request(addr, "POST", "h", "/", &[]).await.backend(), "b");
    assert_eq!(
        request(addr, "GET", "h", "/", &[("X-Version", "two")])
            .await
            .backend(),
        "b"
    );
    assert_eq!(
        request(addr, "GET", "h", "/", &[("X-Version", "three")])
            .await
            .backend(),
        "a"
    );
    assert_eq!(
        request(addr, "GET", "h", "/", &[("x-env", "canary")])
            .await
            .backend(),
        "b"
    );
    assert_eq!(get(addr, "h", "/?animal=whale").await.backend(), "b");
    assert_eq!(get(addr, "h", "/?animal=dolphin").await.backend(), "a");
}

#[tokio::test]
async fn host_routing_and_listener_isolation() {
    let exact = Echo::start("exact").await;
    let wild = Echo::start("wild").await;
    let catch = Echo::start("catch").await;
    // Listeners sorted most specific first, as the IR promises.
    let ir = ir(
        vec![bind(
            any_port(),
            vec![
                listener(
                    "gw/exact",
                    Some("a.example.com"),
                    vec![vhost(
                        Some("a.example.com"),
                        vec![route(prefix("/"), vec![backend("exact", 1)])],
                    )],
                ),
                listener(
                    "gw/wild",
                    Some("*.example.com"),
                    // Only serves /wild: /other on a wildcard host must not
                    // fall through to the catch-all listener.
                    vec![vhost(
                        Some("*.example.com"),
                        vec![route(prefix("/wild"), vec![backend("wild", 1)])],
                    )],
                ),
                listener(
                    "gw/any",
                    None,
                    vec![
                        // A route on the catch-all listener that names a host
                        // a more specific listener owns: isolation hides it.
                        vhost(
                            Some("b.example.com"),
                            vec![route(prefix("/"), vec![backend("catch", 1)])],
                        ),
                        vhost(None, vec![route(prefix("/"), vec![backend("catch", 1)])]),
                    ],
                ),
            ],
        )],
        vec![exact.cluster(), wild.cluster(), catch.cluster()],
    );
    let gw = Gateway::start(ir).await;
    let addr = gw.addr();
    assert_eq!(get(addr, "a.example.com", "/").await.backend(), "exact");
    assert_eq!(
        get(addr, "A.Example.com:80", "/").await.backend(),
        "exact",
        "host is case-insensitive, port ignored"
    );
    assert_eq!(
        get(addr, "b.example.com", "/wild/x").await.backend(),
        "wild"
    );
    assert_eq!(
        get(addr, "b.example.com", "/other").await.status,
        StatusCode::NOT_FOUND,
        "listener isolation"
    );
    assert_eq!(
        get(addr, "example.com", "/").await.backend(),
        "catch",
        "wildcard needs a label"
    );
    assert_eq!(get(addr, "other.org", "/").await.backend(), "catch");
}

#[tokio::test]
async fn most_specific_virtual_host_wins() {
    let a = Echo::start("a").await;
    let b = Echo::start("b").await;
    let c = Echo::start("c").await;
    let ir = ir(
        vec![bind(
            any_port(),
            vec![listener(
                "gw/http",
                None,
                vec![
                    vhost(None, vec![route(prefix("/"), vec![backend("c", 1)])]),
                    vhost(
                        Some("*.example.com"),
                        vec![route(prefix("/"), vec![backend("b", 1)])],
                    ),
                    vhost(
                        Some("foo.example.com"),
                        vec![route(prefix("/"), vec![backend("a", 1)])],
                    ),
                ],
            )],
        )],
        vec![a.cluster(), b.cluster(), c.cluster()],
    );
    let gw = Gateway::start(ir).await;
    assert_eq!(get(gw.addr(), "foo.example.com", "/").await.backend(), "a");
    assert_eq!(get(gw.addr(), "bar.example.com", "/").await.backend(), "b");
    assert_eq!(get(gw.addr(), "example.org", "/").await.backend(), "c");
}

#[tokio::test]
async fn no_match_is_404_and_invalid_backend_is_500_while_sibling_serves() {
    let a = Echo::start("a").await;
    let gw = Gateway::start(simple(
        vec![
            route(prefix("/invalid"), vec![invalid_backend()]),
            route(prefix("/empty"), vec![]),
            route(prefix("/zero"), vec![backend("a", 0)]),
            route(prefix("/missing-cluster"), vec![backend("not-in-ir", 1)]),
            route(prefix("/ok"), vec![backend("a", 1)]),
        ],
        vec![a.cluster()],
    ))
    .await;
    let addr = gw.addr();
    assert_eq!(
        get(addr, "h", "/nothing").await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        get(addr, "h", "/invalid").await.status,
        StatusCode::INTERNAL_SERVER_ERROR
    );
    assert_eq!(
        get(addr, "h", "/empty").await.status,
        StatusCode::INTERNAL_SERVER_ERROR
    );
    assert_eq!(
        get(addr, "h", "/zero").await.status,
        StatusCode::INTERNAL_SERVER_ERROR
    );
    assert_eq!(
        get(addr, "h", "/missing-cluster").await.status,
        StatusCode::INTERNAL_SERVER_ERROR
    );
    let ok = get(addr, "h", "/ok").await;
    assert_eq!(ok.status, StatusCode::OK);
    assert_eq!(ok.backend(), "a");
    let m = gw.proxy.metrics().snapshot();
    assert_eq!(m.no_route_total, 1);
    assert_eq!(m.invalid_backend_total, 4);
    assert!(m.requests_total >= 6);
}

#[tokio::test]
async fn weighted_backends_split_traffic() {
    let a = Echo::start("a").await;
    let b = Echo::start("b").await;
    let z = Echo::start("z").await;
    let gw = Gateway::start(simple(
        vec![route(
            prefix("/"),
            vec![backend("a", 1), backend("b", 3), backend("z", 0)],
        )],
        vec![a.cluster(), b.cluster(), z.cluster()],
    ))
    .await;
    for _ in 0..200 {
        assert_eq!(get(gw.addr(), "h", "/").await.status, StatusCode::OK);
    }
    // Expected a=50, b=150; generous bounds, and weight 0 never.
    assert_eq!(z.hits(), 0);
    assert!((20..=90).contains(&a.hits()), "a got {}", a.hits());
    assert_eq!(a.hits() + b.hits(), 200);
}

#[tokio::test]
async fn grpc_requests_get_grpc_status_when_unrouted() {
    let gw = Gateway::start(simple(vec![], vec![])).await;
    let r = request(
        gw.addr(),
        "POST",
        "h",
        "/pkg.Svc/Method",
        &[("content-type", "application/grpc")],
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.headers["grpc-status"], "12");
}
