//! One compiled route: every matcher of an `HttpMatch` plus its action.

use std::sync::Arc;

use http::request::Parts;
use portico_ir::{HttpRoute, RouteSource};
use portico_observe::flow::RouteRef;

use super::header::HeaderMatcher;
use super::method::MethodMatcher;
use super::path::PathMatcher;
use super::query::QueryMatcher;
use crate::Error;
use crate::action::Action;
use crate::upstream::Upstreams;

#[derive(Debug)]
pub struct RequestMatcher {
    pub path: PathMatcher,
    method: Option<MethodMatcher>,
    headers: Vec<HeaderMatcher>,
    query: Vec<QueryMatcher>,
}

impl RequestMatcher {
    pub fn compile(m: &portico_ir::HttpMatch) -> Result<RequestMatcher, Error> {
        Ok(RequestMatcher {
            path: PathMatcher::compile(&m.path)?,
            method: m
                .method
                .as_deref()
                .map(MethodMatcher::compile)
                .transpose()?,
            headers: m
                .headers
                .iter()
                .map(HeaderMatcher::compile)
                .collect::<Result<_, _>>()?,
            query: m
                .query_params
                .iter()
                .map(QueryMatcher::compile)
                .collect::<Result<_, _>>()?,
        })
    }

    /// Cheapest checks first.
    pub fn matches(&self, parts: &Parts) -> bool {
        self.method
            .as_ref()
            .is_none_or(|m| m.matches(&parts.method))
            && self.path.matches(parts.uri.path())
            && self.matches_beyond_path(parts)
    }

    /// Method, headers and query; for callers that already know the path
    /// matches (the virtual host's path index).
    pub fn matches_except_path(&self, parts: &Parts) -> bool {
        self.method
            .as_ref()
            .is_none_or(|m| m.matches(&parts.method))
            && self.matches_beyond_path(parts)
    }

    fn matches_beyond_path(&self, parts: &Parts) -> bool {
        self.headers.iter().all(|h| h.matches(&parts.headers))
            && self.query.iter().all(|q| q.matches(parts.uri.query()))
    }
}

#[derive(Debug)]
pub struct Route {
    pub source: Arc<RouteSource>,
    /// For flow records.
    pub flow_route: RouteRef,
    pub matcher: RequestMatcher,
    pub action: Action,
}

impl Route {
    pub fn compile(route: &HttpRoute, upstreams: &Upstreams) -> Result<Route, Error> {
        let matcher = RequestMatcher::compile(&route.matcher)?;
        let action = Action::compile(&route.action, matcher.path.prefix(), upstreams);
        let r = &route.source.route;
        Ok(Route {
            flow_route: RouteRef {
                kind: if r.kind == "GRPCRoute" {
                    "GRPCRoute"
                } else {
                    "HTTPRoute"
                },
                namespace: r.namespace.as_str().into(),
                name: r.name.as_str().into(),
            },
            source: Arc::new(route.source.clone()),
            matcher,
            action,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use portico_ir::{HeaderMatch, HttpMatch, PathMatch, QueryParamMatch, StringMatch};

    fn parts(method: &str, uri: &str, headers: &[(&str, &str)]) -> Parts {
        let mut b = http::Request::builder().method(method).uri(uri);
        for (n, v) in headers {
            b = b.header(*n, *v);
        }
        b.body(()).unwrap().into_parts().0
    }

    #[test]
    fn all_conditions_must_hold() {
        let m = RequestMatcher::compile(&HttpMatch {
            path: PathMatch::Prefix("/api".into()),
            method: Some("POST".into()),
            headers: vec![HeaderMatch {
                name: "x-version".into(),
                value: StringMatch::Exact("2".into()),
            }],
            query_params: vec![QueryParamMatch {
                name: "debug".into(),
                value: StringMatch::Exact("1".into()),
            }],
        })
        .unwrap();
        assert!(m.matches(&parts("POST", "/api/x?debug=1", &[("x-version", "2")])));
        assert!(!m.matches(&parts("GET", "/api/x?debug=1", &[("x-version", "2")])));
        assert!(!m.matches(&parts("POST", "/apix?debug=1", &[("x-version", "2")])));
        assert!(!m.matches(&parts("POST", "/api/x?debug=1", &[("x-version", "3")])));
        assert!(!m.matches(&parts("POST", "/api/x", &[("x-version", "2")])));
    }

    #[test]
    fn empty_match_matches_everything() {
        let m = RequestMatcher::compile(&HttpMatch::default()).unwrap();
        assert!(m.matches(&parts("DELETE", "/any/thing?x", &[])));
    }
}
