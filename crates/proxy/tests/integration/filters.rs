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
