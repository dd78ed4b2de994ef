//! Path matching: Exact, PathPrefix on segment boundaries, anchored regex.

use portico_ir::PathMatch;
use regex::Regex;

use crate::Error;

#[derive(Clone, Debug)]
pub enum PathMatcher {
    Exact(Box<str>),
    /// The prefix without its trailing `/`; empty matches every path.
    Prefix(Box<str>),
    Regex(Regex),
}

impl PathMatcher {
    pub fn compile(m: &PathMatch) -> Result<PathMatcher, Error> {
        Ok(match m {
            PathMatch::Exact(p) => PathMatcher::Exact(p.as_str().into()),
            PathMatch::Prefix(p) => PathMatcher::Prefix(p.trim_end_matches('/').into()),
            PathMatch::Regex(re) => PathMatcher::Regex(super::anchored_regex(re)?),
        })
    }

    /// `path` is the request path without the query.
    pub fn matches(&self, path: &str) -> bool {
        match self {
            PathMatcher::Exact(p) => path == &**p,
            PathMatcher::Prefix(p) => prefix_matches(p, path),
            PathMatcher::Regex(re) => re.is_match(path),
        }
    }

    /// The matched prefix (trailing `/` removed), for `ReplacePrefixMatch`.
    pub fn prefix(&self) -> Option<&str> {
        match self {
            PathMatcher::Prefix(p) => Some(p),
            _ => None,
        }
    }
}

fn prefix_matches(prefix: &str, path: &str) -> bool {
    match path.strip_prefix(prefix) {
        Some(rest) => rest.is_empty() || rest.starts_with('/'),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prefix(p: &str) -> PathMatcher {
        PathMatcher::compile(&PathMatch::Prefix(p.into())).unwrap()
    }

    #[test]
    fn prefix_respects_segment_boundaries() {
        let m = prefix("/foo");
        assert!(m.matches("/foo"));
        assert!(m.matches("/foo/"));
        assert!(m.matches("/foo/bar"));
        assert!(!m.matches("/foobar"));
        assert!(!m.matches("/fo"));
        assert!(!m.matches("/"));
    }

    #[test]
    fn prefix_trailing_slash_is_ignored() {
        let m = prefix("/foo/");
        assert!(m.matches("/foo"));
        assert!(m.matches("/foo/bar"));
        assert!(!m.matches("/foobar"));
        assert_eq!(m.prefix(), Some("/foo"));
    }

    #[test]
    fn root_prefix_matches_everything() {
        let m = prefix("/");
        assert!(m.matches("/"));
        assert!(m.matches("/anything/at/all"));
    }

    #[test]
    fn exact_is_exact() {
        let m = PathMatcher::compile(&PathMatch::Exact("/foo".into())).unwrap();
        assert!(m.matches("/foo"));
        assert!(!m.matches("/foo/"));
        assert!(!m.matches("/foo/bar"));
    }

    #[test]
    fn regex_is_anchored() {
        let m = PathMatcher::compile(&PathMatch::Regex("/v[0-9]+/.*".into())).unwrap();
        assert!(m.matches("/v1/users"));
        assert!(!m.matches("/api/v1/users"));
        let m = PathMatcher::compile(&PathMatch::Regex("/a|/b".into())).unwrap();
        assert!(m.matches("/a"));
        assert!(
            !m.matches("/a/x"),
            "alternation must be anchored as a whole"
        );
    }

    #[test]
    fn invalid_regex_is_an_error() {
        assert!(PathMatcher::compile(&PathMatch::Regex("(".into())).is_err());
    }
}
