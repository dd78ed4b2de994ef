//! Rule precedence inside one virtual host, as an [`Ord`] key: sorting keys
//! ascending puts the rule that must win first.
//!
//! HTTPRoute (spec, continuing on ties): Exact path, then the longest
//! PathPrefix (characters), then a method match, then the most header
//! matches, then the most query-param matches; across routes the oldest
//! route, then `{namespace}/{name}`; inside a route the first rule, then the
//! first match. RegularExpression paths are implementation-specific: Portico
//! ranks them between Exact and PathPrefix (longer pattern first), as
//! linkerd and Envoy Gateway do, so a catch-all prefix never shadows them.
//!
//! GRPCRoute: an exact service+method (an exact path), then the most
//! characters of matching service, then of method, then header matches;
//! regex method matches after exact ones. Every criterion is a function of
//! one rule alone, so the key is a strict total order even when HTTPRoute and
//! GRPCRoute rules share a virtual host.

use std::cmp::{Ordering, Reverse};

use portico_ir::{HttpMatch, PathMatch};

use super::view::AgeKey;

/// How specific a path (or gRPC method) match is. Larger is more specific.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct PathRank {
    /// 4 exact, 3 regex, 2 prefix (gRPC: exact service), 1 gRPC regex, 0 match-all gRPC.
    pub class: u8,
    pub primary: usize,
    pub secondary: usize,
}

impl PathRank {
    pub fn of_path(path: &PathMatch) -> PathRank {
        let (class, len) = match path {
            PathMatch::Exact(p) => (4, p.len()),
            PathMatch::Regex(r) => (3, r.len()),
            PathMatch::Prefix(p) => (2, p.trim_end_matches('/').len() + 1),
        };
        PathRank {
            class,
            primary: len,
            secondary: 0,
        }
    }
}

/// The full precedence key of one match of one rule.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RuleKey {
    pub path: PathRank,
    pub method: bool,
    pub headers: usize,
    pub query_params: usize,
    pub age: AgeKey,
    pub rule_index: usize,
    pub match_index: usize,
}

impl RuleKey {
    /// Key for an HTTPRoute match.
    pub fn http(m: &HttpMatch, age: AgeKey, rule_index: usize, match_index: usize) -> RuleKey {
        RuleKey {
            path: PathRank::of_path(&m.path),
            method: m.method.is_some(),
            headers: m.headers.len(),
            query_params: m.query_params.len(),
            age,
            rule_index,
            match_index,
        }
    }

    /// Key for a GRPCRoute match with its precomputed method rank.
    pub fn grpc(
        rank: PathRank,
        headers: usize,
        age: AgeKey,
        rule_index: usize,
        match_index: usize,
    ) -> RuleKey {
        RuleKey {
            path: rank,
            method: false,
            headers,
            query_params: 0,
            age,
            rule_index,
            match_index,
        }
    }

    fn specificity(
        &self,
    ) -> (
        Reverse<&PathRank>,
        Reverse<bool>,
        Reverse<usize>,
        Reverse<usize>,
    ) {
        (
            Reverse(&self.path),
            Reverse(self.method),
            Reverse(self.headers),
            Reverse(self.query_params),
        )
    }
}

impl Ord for RuleKey {
    fn cmp(&self, other: &Self) -> Ordering {
        self.specificity()
            .cmp(&other.specificity())
            .then_with(|| self.age.cmp(&other.age))
            .then_with(|| self.rule_index.cmp(&other.rule_index))
            .then_with(|| self.match_index.cmp(&other.match_index))
    }
}

impl PartialOrd for RuleKey {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use portico_ir::{HeaderMatch, StringMatch};

    fn age(name: &str) -> AgeKey {
        AgeKey {
            undated: true,
            created: None,
            namespace: "ns".into(),
            name: name.into(),
        }
    }

    fn key(path: PathMatch, headers: usize, route: &str, rule: usize) -> RuleKey {
        let m = HttpMatch {
            path,
            headers: (0..headers)
                .map(|i| HeaderMatch {
                    name: format!("h{i}"),
                    value: StringMatch::Exact("v".into()),
                })
                .collect(),
            ..HttpMatch::default()
        };
        RuleKey::http(&m, age(route), rule, 0)
    }

    #[test]
    fn conformance_path_match_order() {
        // httproute-path-match-order: exact beats prefixes, longer prefixes first.
        let mut keys = [
            key(PathMatch::Exact("/match".into()), 0, "r", 0),
            key(PathMatch::Exact("/match/exact".into()), 0, "r", 1),
            key(PathMatch::Exact("/match/exact/one".into()), 0, "r", 2),
            key(PathMatch::Prefix("/match/".into()), 0, "r", 3),
            key(PathMatch::Prefix("/match/prefix/".into()), 0, "r", 4),
            key(PathMatch::Prefix("/match/prefix/one".into()), 0, "r", 5),
        ];
        keys.reverse();
        keys.sort();
        let order: Vec<usize> = keys.iter().map(|k| k.rule_index).collect();
        assert_eq!(order, vec![2, 1, 0, 5, 4, 3]);
    }

    #[test]
    fn trailing_slash_does_not_lengthen_a_prefix() {
        let a = key(PathMatch::Prefix("/foo/".into()), 0, "a", 0);
        let b = key(PathMatch::Prefix("/foo".into()), 1, "b", 0);
        assert!(b < a, "same prefix: more headers wins");
    }

    #[test]
    fn ties_fall_back_to_route_then_rule() {
        let a = key(PathMatch::Prefix("/".into()), 1, "a", 3);
        let b = key(PathMatch::Prefix("/".into()), 1, "b", 0);
        let a0 = key(PathMatch::Prefix("/".into()), 1, "a", 0);
        assert!(a < b);
        assert!(a0 < a);
        assert!(
            key(PathMatch::Regex("/x.*".into()), 0, "z", 0)
                < key(PathMatch::Prefix("/x/y/z/w".into()), 9, "a", 0)
        );
    }
}
