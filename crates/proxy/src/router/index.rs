//! The routes of one virtual host with an index by path, so a request costs
//! a few hash lookups instead of a scan over every rule.
//!
//! Translation orders a virtual host's routes by the Gateway API precedence
//! (exact path, longest prefix, method, most headers, most query params,
//! oldest route, name, rule, match): the route that must win is the first
//! one in IR order that matches. The index keeps that contract exactly by
//! returning the *smallest IR position* among the candidates that match:
//!
//! * Exact paths: a hash map from the path to the positions using it.
//! * PathPrefix: a hash map from the prefix (trailing `/` removed) to its
//!   positions. A prefix `p` matches a path exactly when `p` is the path
//!   itself or the part of the path before one of its `/`, so a request
//!   looks up the path and each of its segment-boundary prefixes, longest
//!   first (at most one lookup per segment).
//! * RegularExpression paths: a residual list, tried in order.
//!
//! Every list holds positions in ascending order, so scanning one stops at
//! its first full match (method, headers, query) or as soon as a position
//! is not smaller than the best match found so far. [`VhostRoutes::find_linear`]
//! is the plain first-match scan the index must agree with (the oracle of
//! the property test below).

use std::collections::HashMap;

use http::request::Parts;

use super::path::PathMatcher;
use super::route::Route;

#[derive(Debug, Default)]
pub struct VhostRoutes {
    /// In IR (precedence) order.
    routes: Vec<Route>,
    exact: HashMap<Box<str>, Vec<usize>>,
    prefixes: HashMap<Box<str>, Vec<usize>>,
    /// Longest key in `prefixes`: longer boundaries are not looked up.
    longest_prefix: usize,
    /// Regex paths, in IR order.
    residual: Vec<usize>,
}

impl VhostRoutes {
    /// Indexes `routes`, which must be in precedence order.
    pub fn new(routes: Vec<Route>) -> VhostRoutes {
        let mut exact: HashMap<Box<str>, Vec<usize>> = HashMap::new();
        let mut prefixes: HashMap<Box<str>, Vec<usize>> = HashMap::new();
        let mut residual = Vec::new();
        for (i, r) in routes.iter().enumerate() {
            match &r.matcher.path {
                PathMatcher::Exact(p) => exact.entry(p.clone()).or_default().push(i),
                PathMatcher::Prefix(p) => prefixes.entry(p.clone()).or_default().push(i),
                PathMatcher::Regex(_) => residual.push(i),
            }
        }
        let longest_prefix = prefixes.keys().map(|k| k.len()).max().unwrap_or(0);
        exact.shrink_to_fit();
        prefixes.shrink_to_fit();
        VhostRoutes {
            routes,
            exact,
            prefixes,
            longest_prefix,
            residual,
        }
    }

    pub fn len(&self) -> usize {
        self.routes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.routes.is_empty()
    }

    /// The routes in IR order.
    pub fn routes(&self) -> &[Route] {
        &self.routes
    }

    /// The first route in IR order that matches the request.
    pub fn find(&self, parts: &Parts) -> Option<&Route> {
        let path = parts.uri.path();
        // Exclusive upper bound: the position of the best match so far.
        let mut best = self.routes.len();
        if let Some(candidates) = self.exact.get(path) {
            self.first_match(candidates, &mut best, |r| {
                r.matcher.matches_except_path(parts)
            });
        }
        // Regexes rank above prefixes, so trying them first prunes more.
        self.first_match(&self.residual, &mut best, |r| r.matcher.matches(parts));
        if !self.prefixes.is_empty() {
            let boundaries =
                std::iter::once(path.len()).chain(path.rmatch_indices('/').map(|(i, _)| i));
            for end in boundaries {
                if end > self.longest_prefix {
                    continue;
                }
                if let Some(candidates) = self.prefixes.get(&path[..end]) {
                    self.first_match(candidates, &mut best, |r| {
                        r.matcher.matches_except_path(parts)
                    });
                }
            }
        }
        self.routes.get(best)
    }

    /// The reference semantics: the first route in IR order whose matcher
    /// accepts the request.
    pub fn find_linear(&self, parts: &Parts) -> Option<&Route> {
        self.routes.iter().find(|r| r.matcher.matches(parts))
    }

    /// Lowers `best` to the first position in `candidates` (ascending) below
    /// it whose route passes `ok`.
    fn first_match(&self, candidates: &[usize], best: &mut usize, ok: impl Fn(&Route) -> bool) {
        for &i in candidates {
            if i >= *best {
                return;
            }
            if ok(&self.routes[i]) {
                *best = i;
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::upstream::Upstreams;
    use portico_ir::{
        HeaderMatch, HttpAction, HttpMatch, HttpRoute, ObjectRef, PathMatch, QueryParamMatch,
        RouteSource, StringMatch,
    };
    use proptest::prelude::*;

    fn ir_route(i: usize, matcher: HttpMatch) -> HttpRoute {
        HttpRoute {
            source: RouteSource {
                route: ObjectRef {
                    kind: "HTTPRoute".into(),
                    namespace: "ns".into(),
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

    fn table(matchers: Vec<HttpMatch>) -> VhostRoutes {
        let upstreams = Upstreams::default();
        VhostRoutes::new(
            matchers
                .into_iter()
                .enumerate()
                .map(|(i, m)| Route::compile(&ir_route(i, m), &upstreams).unwrap())
                .collect(),
        )
    }

    fn parts(method: &str, uri: &str, headers: &[(&str, &str)]) -> Parts {
        let mut b = http::Request::builder().method(method).uri(uri);
        for (n, v) in headers {
            b = b.header(*n, *v);
        }
        b.body(()).unwrap().into_parts().0
    }

    /// The position of the route `find` and `find_linear` return.
    fn position(t: &VhostRoutes, found: Option<&Route>) -> Option<usize> {
        found.map(|r| t.routes().iter().position(|x| std::ptr::eq(x, r)).unwrap())
    }

    fn path(m: PathMatch) -> HttpMatch {
        HttpMatch {
            path: m,
            ..HttpMatch::default()
        }
    }

    #[test]
    fn conformance_path_match_order() {
        // The order translate produces for httproute-path-match-order.
        let t = table(vec![
            path(PathMatch::Exact("/match/exact/one".into())),
            path(PathMatch::Exact("/match/exact".into())),
            path(PathMatch::Exact("/match".into())),
            path(PathMatch::Prefix("/match/prefix/one".into())),
            path(PathMatch::Prefix("/match/prefix/".into())),
            path(PathMatch::Prefix("/match/".into())),
        ]);
        let cases = [
            ("/match/exact/one", Some(0)),
            ("/match/exact", Some(1)),
            ("/match", Some(2)),
            ("/match/prefix/one/any", Some(3)),
            ("/match/prefix/one", Some(3)),
            ("/match/prefix/any", Some(4)),
            ("/match/prefix", Some(4)),
            ("/match/any", Some(5)),
            ("/match/exact/two", Some(5)),
            ("/match/", Some(5)),
            ("/matchx", None),
            ("/", None),
        ];
        for (uri, want) in cases {
            let p = parts("GET", uri, &[]);
            assert_eq!(position(&t, t.find(&p)), want, "{uri}");
            assert_eq!(position(&t, t.find_linear(&p)), want, "{uri}");
        }
    }

    #[test]
    fn same_path_falls_through_to_the_next_candidate() {
        let with_method = HttpMatch {
            method: Some("POST".into()),
            ..path(PathMatch::Exact("/a".into()))
        };
        let with_header = HttpMatch {
            headers: vec![HeaderMatch {
                name: "x".into(),
                value: StringMatch::Exact("1".into()),
            }],
            ..path(PathMatch::Prefix("/a".into()))
        };
        let t = table(vec![
            with_method,
            path(PathMatch::Regex("/a.*".into())),
            with_header,
            path(PathMatch::Prefix("/".into())),
        ]);
        assert_eq!(position(&t, t.find(&parts("POST", "/a", &[]))), Some(0));
        assert_eq!(position(&t, t.find(&parts("GET", "/a", &[]))), Some(1));
        assert_eq!(
            position(&t, t.find(&parts("GET", "/b/c", &[("x", "1")]))),
            Some(3)
        );
    }

    #[test]
    fn regex_only_wins_by_position() {
        // A regex placed after a prefix (not what translate produces, but
        // the index must still follow the given order).
        let t = table(vec![
            path(PathMatch::Prefix("/a".into())),
            path(PathMatch::Regex("/a/b".into())),
        ]);
        assert_eq!(position(&t, t.find(&parts("GET", "/a/b", &[]))), Some(0));
    }

    #[test]
    fn root_prefix_and_odd_paths() {
        let t = table(vec![
            path(PathMatch::Prefix("/a//b".into())),
            path(PathMatch::Prefix("/".into())),
        ]);
        assert_eq!(position(&t, t.find(&parts("GET", "/a//b/c", &[]))), Some(0));
        assert_eq!(position(&t, t.find(&parts("GET", "/a/b", &[]))), Some(1));
        // `OPTIONS *` has no leading `/`: not even the root prefix matches.
        let star = parts("OPTIONS", "*", &[]);
        assert_eq!(position(&t, t.find(&star)), None);
        assert_eq!(position(&t, t.find_linear(&star)), None);
    }

    #[test]
    fn empty_vhost_matches_nothing() {
        let t = table(Vec::new());
        assert!(t.is_empty());
        assert!(t.find(&parts("GET", "/", &[])).is_none());
    }

    const SEGMENTS: &[&str] = &["a", "b", "ab", ""];
    const REGEXES: &[&str] = &["/a/.*", "/[ab]+", "/a|/b", "/.*/b", "/ab?/?"];

    fn arb_path() -> impl Strategy<Value = String> {
        prop::collection::vec(prop::sample::select(SEGMENTS), 0..4)
            .prop_map(|segs| format!("/{}", segs.join("/")))
    }

    fn arb_string_match() -> impl Strategy<Value = StringMatch> {
        prop_oneof![
            prop::sample::select(&["1", "2"][..]).prop_map(|v| StringMatch::Exact(v.into())),
            Just(StringMatch::Regex("[12]".into())),
        ]
    }

    fn arb_match() -> impl Strategy<Value = HttpMatch> {
        let path = prop_oneof![
            arb_path().prop_map(PathMatch::Exact),
            (arb_path(), any::<bool>()).prop_map(|(p, slash)| PathMatch::Prefix(if slash {
                format!("{p}/")
            } else {
                p
            })),
            prop::sample::select(REGEXES).prop_map(|r| PathMatch::Regex(r.into())),
        ];
        let method = prop::option::of(prop::sample::select(&["GET", "POST"][..]));
        let headers = prop::collection::vec(
            (prop::sample::select(&["x", "y"][..]), arb_string_match()),
            0..3,
        );
        let query = prop::collection::vec(
            (prop::sample::select(&["q", "r"][..]), arb_string_match()),
            0..3,
        );
        (path, method, headers, query).prop_map(|(path, method, headers, query)| HttpMatch {
            path,
            method: method.map(Into::into),
            headers: headers
                .into_iter()
                .map(|(name, value)| HeaderMatch {
                    name: name.into(),
                    value,
                })
                .collect(),
            query_params: query
                .into_iter()
                .map(|(name, value)| QueryParamMatch {
                    name: name.into(),
                    value,
                })
                .collect(),
        })
    }

    #[derive(Debug)]
    struct Request {
        method: &'static str,
        uri: String,
        headers: Vec<(&'static str, &'static str)>,
    }

    fn arb_request() -> impl Strategy<Value = Request> {
        let query = prop::option::of(prop::collection::vec(
            (
                prop::sample::select(&["q", "r"][..]),
                prop::sample::select(&["1", "2", "3"][..]),
            ),
            0..3,
        ));
        let path = prop_oneof![
            8 => (arb_path(), any::<bool>())
                .prop_map(|(p, slash)| if slash { format!("{p}/") } else { p }),
            1 => Just("*".to_string()),
        ];
        (
            prop::sample::select(&["GET", "POST", "OPTIONS"][..]),
            path,
            query,
            prop::collection::vec(
                (
                    prop::sample::select(&["x", "y"][..]),
                    prop::sample::select(&["1", "2", "3"][..]),
                ),
                0..3,
            ),
        )
            .prop_map(|(method, path, query, headers)| {
                let uri = match query {
                    Some(q) if path != "*" => {
                        let q: Vec<String> = q.iter().map(|(n, v)| format!("{n}={v}")).collect();
                        format!("{path}?{}", q.join("&"))
                    }
                    _ => path,
                };
                Request {
                    method,
                    uri,
                    headers,
                }
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        /// For any rule order (translate's precedence order is one of them)
        /// the index returns exactly the route the linear scan returns.
        #[test]
        fn index_agrees_with_linear_scan(
            matchers in prop::collection::vec(arb_match(), 0..24),
            requests in prop::collection::vec(arb_request(), 1..16),
        ) {
            let t = table(matchers);
            for req in &requests {
                let p = parts(req.method, &req.uri, &req.headers);
                prop_assert_eq!(
                    position(&t, t.find(&p)),
                    position(&t, t.find_linear(&p)),
                    "{:?}", req
                );
            }
        }
    }
}
