//! GRPCRoute rules → [`HttpRoute`] entries matching on the `/service/method` path.
//!
//! Exact service+method → exact path; exact service only → prefix
//! `/service/`; exact method only and regular expressions → an anchored
//! regex over the path. gRPC requests are HTTP/2 POSTs, so no method match.

use portico_ir::{HttpAction, HttpMatch, HttpRoute, PathMatch, RouteSource};
use portico_model::gateway::{
    GrpcRoute, GrpcRouteRules, GrpcRouteRulesMatches, GrpcRouteRulesMatchesHeadersType,
    GrpcRouteRulesMatchesMethodType,
    GrpcRouteRulesSessionPersistenceCookieConfigLifetimeType as Lifetime,
    GrpcRouteRulesSessionPersistenceType,
};

use super::backends::backend_ref;
use super::compiled::{Compiled, error_action};
use super::filters;
use super::http::session_persistence;
use super::index::Index;
use super::matches::{self, check_regex};
use super::precedence::{PathRank, RuleKey};
use super::problem::Problem;
use super::rule_backends;
use super::view::RouteMeta;

pub fn compile<'s>(index: &Index<'s>, meta: &RouteMeta, route: &GrpcRoute) -> Compiled<'s> {
    let rules = route.spec.rules.as_deref().unwrap_or(&[]);
    let mut out = Compiled {
        rule_count: rules.len(),
        ..Compiled::default()
    };
    let route_ref = meta.object_ref();
    for (rule_index, rule) in rules.iter().enumerate() {
        let matchers = match rule.matches.as_deref() {
            None | Some([]) => Ok(vec![(
                match_all(),
                PathRank {
                    class: 0,
                    primary: 0,
                    secondary: 0,
                },
            )]),
            Some(list) => list.iter().map(grpc_match).collect::<Result<Vec<_>, _>>(),
        };
        let matchers = match matchers {
            Ok(m) => m,
            Err(problem) => {
                out.record_dropped(rule_index, &problem);
                continue;
            }
        };
        let action = match action(index, meta, rule, &mut out) {
            Ok(a) => a,
            Err(problem) => {
                out.record(rule_index, &problem);
                error_action(problem.reason, true)
            }
        };
        for (match_index, (matcher, rank)) in matchers.into_iter().enumerate() {
            let key = RuleKey::grpc(
                rank,
                matcher.headers.len(),
                meta.age_key(),
                rule_index,
                match_index,
            );
            out.http.push((
                key,
                HttpRoute {
                    source: RouteSource {
                        route: route_ref.clone(),
                        rule_index,
                        rule_name: rule.name.clone(),
                        match_index,
                    },
                    matcher,
                    action: action.clone(),
                },
            ));
        }
    }
    out
}

fn match_all() -> HttpMatch {
    HttpMatch::default()
}

/// One `matches[]` entry with its precedence rank.
pub fn grpc_match(m: &GrpcRouteRulesMatches) -> Result<(HttpMatch, PathRank), Problem> {
    let headers = matches::headers(m.headers.iter().flatten().map(|h| {
        (
            h.name.as_str(),
            h.value.as_str(),
            matches!(
                h.r#type,
                Some(GrpcRouteRulesMatchesHeadersType::RegularExpression)
            ),
        )
    }))?;
    let (path, rank) = match &m.method {
        None => (
            PathMatch::default(),
            PathRank {
                class: 0,
                primary: 0,
                secondary: 0,
            },
        ),
        Some(method) => {
            let service = method.service.as_deref().filter(|s| !s.is_empty());
            let name = method.method.as_deref().filter(|s| !s.is_empty());
            let regex = matches!(
                method.r#type,
                Some(GrpcRouteRulesMatchesMethodType::RegularExpression)
            );
            method_path(service, name, regex)?
        }
    };
    Ok((
        HttpMatch {
            path,
            method: None,
            headers,
            query_params: Vec::new(),
        },
        rank,
    ))
}

fn method_path(
    service: Option<&str>,
    method: Option<&str>,
    regex: bool,
) -> Result<(PathMatch, PathRank), Problem> {
    let s_len = service.map_or(0, str::len);
    let m_len = method.map_or(0, str::len);
    if regex {
        let s = service.unwrap_or("[^/]+");
        let m = method.unwrap_or("[^/]+");
        check_regex(s, "gRPC service match")?;
        check_regex(m, "gRPC method match")?;
        let path = format!("/(?:{s})/(?:{m})");
        check_regex(&path, "gRPC method match")?;
        return Ok((
            PathMatch::Regex(path),
            PathRank {
                class: 1,
                primary: s_len,
                secondary: m_len,
            },
        ));
    }
    for part in [service, method].into_iter().flatten() {
        if part.contains('/') {
            return Err(Problem::unsupported(format!(
                "gRPC service/method {part:?} must not contain '/'"
            )));
        }
    }
    Ok(match (service, method) {
        (Some(s), Some(m)) => (
            PathMatch::Exact(format!("/{s}/{m}")),
            PathRank {
                class: 4,
                primary: s_len,
                secondary: m_len,
            },
        ),
        (Some(s), None) => (
            PathMatch::Prefix(format!("/{s}/")),
            PathRank {
                class: 2,
                primary: s_len + 2,
                secondary: 0,
            },
        ),
        (None, Some(m)) => (
            PathMatch::Regex(format!("/[^/]+/{}", regex::escape(m))),
            PathRank {
                class: 2,
                primary: 0,
                secondary: m_len,
            },
        ),
        (None, None) => (
            PathMatch::default(),
            PathRank {
                class: 0,
                primary: 0,
                secondary: 0,
            },
        ),
    })
}

fn action<'s>(
    index: &Index<'s>,
    meta: &RouteMeta,
    rule: &GrpcRouteRules,
    out: &mut Compiled<'s>,
) -> Result<HttpAction, Problem> {
    let rule_filters = filters::convert(rule.filters.as_deref().unwrap_or(&[]))?;
    let filters = filters::translate_all(index, meta, &rule_filters, out)?;
    let backends = rule_backends::weighted(
        index,
        meta,
        rule.backend_refs.iter().flatten().map(|r| {
            (
                backend_ref!(r),
                r.weight,
                filters::convert(r.filters.as_deref().unwrap_or(&[])),
            )
        }),
        out,
    )?;
    let session_persistence = match &rule.session_persistence {
        None => None,
        Some(sp) => Some(session_persistence(
            matches!(
                sp.r#type,
                Some(GrpcRouteRulesSessionPersistenceType::Header)
            ),
            sp.session_name.as_deref(),
            sp.absolute_timeout.as_deref(),
            matches!(
                sp.cookie_config
                    .as_ref()
                    .and_then(|c| c.lifetime_type.as_ref()),
                Some(Lifetime::Permanent)
            ),
        )?),
    };
    Ok(HttpAction {
        filters,
        backends,
        session_persistence,
        grpc: true,
        ..HttpAction::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(service: Option<&str>, method: Option<&str>, regex: bool) -> (PathMatch, PathRank) {
        method_path(service, method, regex).unwrap()
    }

    #[test]
    fn method_matches_become_paths() {
        assert_eq!(
            m(Some("pkg.Svc"), Some("Echo"), false).0,
            PathMatch::Exact("/pkg.Svc/Echo".into())
        );
        assert_eq!(
            m(Some("pkg.Svc"), None, false).0,
            PathMatch::Prefix("/pkg.Svc/".into())
        );
        assert_eq!(
            m(None, Some("Echo"), false).0,
            PathMatch::Regex("/[^/]+/Echo".into())
        );
        assert_eq!(
            m(Some("pkg\\..*"), None, true).0,
            PathMatch::Regex("/(?:pkg\\..*)/(?:[^/]+)".into())
        );
        assert!(method_path(Some("("), None, true).is_err());
        assert!(method_path(Some("a/b"), None, false).is_err());
    }

    #[test]
    fn grpc_precedence_prefers_exact_then_service_then_method() {
        let exact = m(Some("s"), Some("m"), false).1;
        let service = m(Some("svc"), None, false).1;
        let method = m(None, Some("method"), false).1;
        let regex = m(Some("svc.*"), Some("m.*"), true).1;
        assert!(exact > service);
        assert!(service > method);
        assert!(method > regex);
        assert!(
            regex
                > PathRank {
                    class: 0,
                    primary: 0,
                    secondary: 0
                }
        );
    }
}
