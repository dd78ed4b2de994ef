use http::StatusCode;
use portico_ir::*;

use crate::common::*;

fn kv(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect()
}

#[tokio::test]
async fn request_and_response_header_modifiers() {
    let a = Echo::start("a").await;
    let r = with_filters(
        route(prefix("/"), vec![backend("a", 1)]),
        vec![
            HttpFilter::RequestHeaderModifier(HeaderModifier {
                set: kv(&[("x-set", "set")]),
                add: kv(&[("x-add", "added")]),
                remove: vec!["x-remove".into()],
            }),
            HttpFilter::ResponseHeaderModifier(HeaderModifier {
                set: kv(&[("x-resp-set", "rs")]),
                add: kv(&[("x-backend", "extra")]),
                remove: vec!["content-type".into()],
            }),
        ],
    );
    let gw = Gateway::start(simple(vec![r], vec![a.cluster()])).await;
    let reply = request(
        gw.addr(),
        "GET",
        "h",
        "/",
        &[("x-set", "orig"), ("x-add", "orig"), ("x-remove", "bye")],
    )
    .await;
    assert_eq!(reply.seen_header("x-set").as_deref(), Some("set"));
    let adds: Vec<_> = reply.json()["headers"]["x-add"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    assert_eq!(adds, ["orig", "added"]);
    assert_eq!(reply.seen_header("x-remove"), None);
    assert_eq!(reply.headers["x-resp-set"], "rs");
    assert_eq!(reply.headers.get_all("x-backend").iter().count(), 2);
    assert!(reply.headers.get("content-type").is_none());
}

#[tokio::test]
async fn backend_level_filters_apply_to_that_backend_only() {
    let a = Echo::start("a").await;
    let mut b = backend("a", 1);
    b.filters = vec![
        HttpFilter::RequestHeaderModifier(HeaderModifier {
            set: kv(&[("x-backend-filter", "yes")]),
            ..Default::default()
        }),
        HttpFilter::ResponseHeaderModifier(HeaderModifier {
            set: kv(&[("x-from-backend-ref", "1")]),
            ..Default::default()
        }),
    ];
    let gw = Gateway::start(simple(
        vec![
            route(prefix("/filtered"), vec![b]),
            route(prefix("/"), vec![backend("a", 1)]),
        ],
        vec![a.cluster()],
    ))
    .await;
    let r = get(gw.addr(), "h", "/filtered").await;
    assert_eq!(r.seen_header("x-backend-filter").as_deref(), Some("yes"));
    assert_eq!(r.headers["x-from-backend-ref"], "1");
    let plain = get(gw.addr(), "h", "/plain").await;
    assert_eq!(plain.seen_header("x-backend-filter"), None);
}

#[tokio::test]
async fn redirects() {
    let redirect = |p: &str, r: RequestRedirect| {
        with_filters(
            route(prefix(p), vec![]),
            vec![HttpFilter::RequestRedirect(r)],
        )
    };
    let gw = Gateway::start(simple(
        vec![
            redirect(
                "/host",
                RequestRedirect {
                    hostname: Some("example.org".into()),
                    status_code: 302,
                    ..Default::default()
                },
            ),
            redirect(
                "/scheme",
                RequestRedirect {
                    scheme: Some("https".into()),
                    status_code: 301,
                    ..Default::default()
                },
            ),
            redirect(
                "/port",
                RequestRedirect {
                    port: Some(8083),
                    status_code: 308,
                    ..Default::default()
                },
            ),
            redirect(
                "/prefix",
                RequestRedirect {
                    path: Some(PathModifier::ReplacePrefixMatch("/replacement".into())),
                    status_code: 303,
                    ..Default::default()
                },
            ),
        ],
        vec![],
    ))
    .await;
    let addr = gw.addr();
    let port = addr.port();
    let r = get(addr, "example.com", "/host/x?y=z").await;
    assert_eq!(r.status, StatusCode::FOUND);
    assert_eq!(
        r.headers["location"],
        format!("http://example.org:{port}/host/x?y=z")
    );
    let r = get(addr, "example.com", "/scheme").await;
    assert_eq!(r.status, StatusCode::MOVED_PERMANENTLY);
    assert_eq!(r.headers["location"], "https://example.com/scheme");
    let r = get(addr, "example.com", "/port").await;
    assert_eq!(r.status, StatusCode::PERMANENT_REDIRECT);
    assert_eq!(r.headers["location"], "http://example.com:8083/port");
    let r = get(addr, "example.com", "/prefix/lemon").await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert_eq!(
        r.headers["location"],
        format!("http://example.com:{port}/replacement/lemon")
    );
}

#[tokio::test]
async fn url_rewrite_hostname_and_path() {
    let a = Echo::start("a").await;
    let gw = Gateway::start(simple(
        vec![
            with_filters(
                route(prefix("/prefix/one"), vec![backend("a", 1)]),
                vec![HttpFilter::UrlRewrite(UrlRewrite {
                    hostname: Some("rewritten.example.org".into()),
                    path: Some(PathModifier::ReplacePrefixMatch("/one".into())),
                })],
            ),
            with_filters(
                route(prefix("/full"), vec![backend("a", 1)]),
                vec![HttpFilter::UrlRewrite(UrlRewrite {
                    hostname: None,
                    path: Some(PathModifier::ReplaceFullPath("/replaced".into())),
                })],
            ),
        ],
        vec![a.cluster()],
    ))
    .await;
    let r = get(gw.addr(), "orig.example.org", "/prefix/one/two?q=1").await;
    assert_eq!(r.json()["path"], "/one/two?q=1");
    assert_eq!(r.json()["host"], "rewritten.example.org");
    let r = get(gw.addr(), "orig.example.org", "/full/deep/path").await;
    assert_eq!(r.json()["path"], "/replaced");
    assert_eq!(r.json()["host"], "orig.example.org");
}

fn cors_route(
    path: &str,
    origins: &[&str],
    methods: &[&str],
    headers: &[&str],
    credentials: bool,
) -> HttpRoute {
    let own = |v: &[&str]| v.iter().map(|s| s.to_string()).collect();
    with_filters(
        route(prefix(path), vec![backend("a", 1)]),
        vec![HttpFilter::Cors(Cors {
            allow_origins: own(origins),
            allow_credentials: credentials,
            allow_methods: own(methods),
            allow_headers: own(headers),
            expose_headers: own(&["x-header-3"]),
            max_age: Some(3600),
        })],
    )
}

#[tokio::test]
async fn cors_preflight_answered_by_gateway_and_simple_requests_decorated() {
    let a = Echo::start("a").await;
    let gw = Gateway::start(simple(
        vec![
            cors_route(
                "/cors-1",
                &["https://www.foo.com", "https://*.bar.com"],
                &["GET", "OPTIONS"],
                &["x-header-1"],
                true,
            ),
            cors_route("/cors-any", &["*"], &["*"], &["*"], false),
        ],
        vec![a.cluster()],
    ))
    .await;
    let addr = gw.addr();
    let pre = |path: &'static str, origin: &'static str| async move {
        request(
            addr,
            "OPTIONS",
            "h",
            path,
            &[("origin", origin), ("access-control-request-method", "PUT")],
        )
        .await
    };
    let r = pre("/cors-1", "https://xpto.www.bar.com").await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(
        r.headers["access-control-allow-origin"],
        "https://xpto.www.bar.com"
    );
    assert_eq!(r.headers["access-control-allow-methods"], "GET, OPTIONS");
    assert_eq!(r.headers["access-control-allow-credentials"], "true");
    assert_eq!(r.headers["access-control-max-age"], "3600");
    let denied = pre("/cors-1", "https://foobar.com").await;
    assert!(denied.headers.get("access-control-allow-origin").is_none());
    let any = pre("/cors-any", "https://foobar.com:12345").await;
    assert_eq!(
        any.headers["access-control-allow-origin"],
        "https://foobar.com:12345"
    );
    assert_eq!(any.headers["access-control-allow-methods"], "PUT");
    assert!(
        any.headers
            .get("access-control-allow-credentials")
            .is_none()
    );
    assert_eq!(a.hits(), 0, "preflights never reach the backend");

    let simple_req = request(
        addr,
        "GET",
        "h",
        "/cors-1",
        &[("origin", "https://www.foo.com")],
    )
    .await;
    assert_eq!(simple_req.backend(), "a");
    assert_eq!(
        simple_req.headers["access-control-allow-origin"],
        "https://www.foo.com"
    );
    assert_eq!(
        simple_req.headers["access-control-expose-headers"],
        "x-header-3"
    );
    let other = request(
        addr,
        "GET",
        "h",
        "/cors-1",
        &[("origin", "https://foobar.com")],
    )
    .await;
    assert_eq!(other.backend(), "a");
    assert!(other.headers.get("access-control-allow-origin").is_none());
}

#[tokio::test]
async fn request_mirror_copies_without_delaying() {
    let a = Echo::start("a").await;
    let m1 = Echo::start("m1").await;
    let m2 = Echo::start("m2").await;
    let never = Echo::start("never").await;
    let mirror = |name: &str, numerator| {
        HttpFilter::RequestMirror(RequestMirror {
            target: BackendTarget::Cluster(cluster_id(name)),
            numerator,
            denominator: 100,
        })
    };
    let gw = Gateway::start(simple(
        vec![
            with_filters(
                route(prefix("/mirror"), vec![backend("a", 1)]),
                vec![
                    HttpFilter::RequestHeaderModifier(HeaderModifier {
                        set: kv(&[("x-before-mirror", "1")]),
                        ..Default::default()
                    }),
                    mirror("m1", 100),
                    mirror("m2", 100),
                    mirror("never", 0),
                ],
            ),
            with_filters(
                route(prefix("/invalid-mirror"), vec![backend("a", 1)]),
                vec![HttpFilter::RequestMirror(RequestMirror {
                    target: BackendTarget::Invalid { reason: "x".into() },
                    numerator: 1,
                    denominator: 1,
                })],
            ),
        ],
        vec![a.cluster(), m1.cluster(), m2.cluster(), never.cluster()],
    ))
    .await;
    let r = get(gw.addr(), "h", "/mirror/x").await;
    assert_eq!(r.backend(), "a");
    eventually("both mirrors received the copy", || {
        m1.hits() == 1 && m2.hits() == 1
    })
    .await;
    assert_eq!(get(gw.addr(), "h", "/invalid-mirror").await.backend(), "a");
    assert_eq!(never.hits(), 0);
}
