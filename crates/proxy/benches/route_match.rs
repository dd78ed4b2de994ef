//! Route matching cost on one virtual host: the path index against the
//! linear first-match scan it replaced, with 10 and 5,010 routes, and the
//! resident-set growth of the compiled table. Not a test:
//! `cargo bench -p portico-proxy --bench route_match` prints figures.
//!
//! Shapes: `exact` is bench/control_plane.py's (one Exact path per route,
//! the request hits the last one); `prefix` gives every route a two-segment
//! PathPrefix plus a header match and requests a deeper path; `mixed` makes
//! every tenth route a regex (ordered after the Exact paths, as translate
//! does) and requests the last Exact path.

use std::hint::black_box;
use std::time::{Duration, Instant};

use http::request::Parts;
use portico_ir::{
    HeaderMatch, HttpAction, HttpMatch, HttpRoute, ObjectRef, PathMatch, RouteSource, StringMatch,
};
use portico_proxy::router::{Route, VhostRoutes};
use portico_proxy::upstream::Upstreams;

fn ir_route(i: usize, matcher: HttpMatch) -> HttpRoute {
    HttpRoute {
        source: RouteSource {
            route: ObjectRef {
                kind: "HTTPRoute".into(),
                namespace: "default".into(),
                name: format!("r{i}"),
            },
            rule_index: 0,
            rule_name: None,
            match_index: 0,
        },
        matcher,
        action: HttpAction::default(),
    }
}

fn matcher(shape: &str, i: usize) -> HttpMatch {
    match shape {
        "prefix" => HttpMatch {
            path: PathMatch::Prefix(format!("/svc{i}/api")),
            headers: vec![HeaderMatch {
                name: "x-tenant".into(),
                value: StringMatch::Exact("t".into()),
            }],
            ..HttpMatch::default()
        },
        "mixed" if i.is_multiple_of(10) => HttpMatch {
            path: PathMatch::Regex(format!("/re{i}/[a-z]+")),
            ..HttpMatch::default()
        },
        _ => HttpMatch {
            path: PathMatch::Exact(format!("/r{i}")),
            ..HttpMatch::default()
        },
    }
}

fn request(shape: &str, last: usize) -> Parts {
    let uri = match shape {
        "prefix" => format!("/svc{last}/api/users/42?x=1"),
        _ => format!("/r{last}"),
    };
    let (parts, ()) = http::Request::builder()
        .uri(uri)
        .header("x-tenant", "t")
        .header("user-agent", "bench")
        .body(())
        .map(http::Request::into_parts)
        .unwrap_or_else(|e| panic!("request: {e}"));
    parts
}

fn table(shape: &str, n: usize) -> VhostRoutes {
    let upstreams = Upstreams::default();
    let mut matchers: Vec<HttpMatch> = (0..n).map(|i| matcher(shape, i)).collect();
    // Translate's precedence puts every Exact path before any regex.
    matchers.sort_by_key(|m| matches!(m.path, PathMatch::Regex(_)));
    let routes = matchers
        .into_iter()
        .enumerate()
        .filter_map(|(i, m)| Route::compile(&ir_route(i, m), &upstreams).ok())
        .collect();
    VhostRoutes::new(routes)
}

/// Nanoseconds per call of `f`, best of three rounds of at least 200 ms.
fn ns_per_call(mut f: impl FnMut() -> bool) -> f64 {
    let mut best = f64::INFINITY;
    for _ in 0..3 {
        let mut calls = 0u64;
        let started = Instant::now();
        while started.elapsed() < Duration::from_millis(200) {
            for _ in 0..64 {
                assert!(black_box(f()), "the request must match");
            }
            calls += 64;
        }
        best = best.min(started.elapsed().as_nanos() as f64 / calls as f64);
    }
    best
}

fn rss_kb() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn main() {
    // First, before other tables leave freed memory for this one to reuse.
    let before = rss_kb();
    let t = table("exact", 5_010);
    if let (Some(before), Some(after)) = (before, rss_kb()) {
        println!(
            "RSS growth of a {}-route exact-path table: {} KB",
            t.len(),
            after.saturating_sub(before)
        );
    }
    drop(t);
    println!("shape   routes   index ns/req   linear ns/req");
    for shape in ["exact", "prefix", "mixed"] {
        for n in [10, 5_010] {
            let t = table(shape, n);
            let req = request(shape, n - 1);
            let index = ns_per_call(|| t.find(black_box(&req)).is_some());
            let linear = ns_per_call(|| t.find_linear(black_box(&req)).is_some());
            println!("{shape:7} {n:6}   {index:12.0}   {linear:13.0}");
        }
    }
}
