//! HTTPRoute rules → [`HttpRoute`] entries (one per match).

use portico_ir::{
    HttpAction, HttpMatch, HttpRoute, PathMatch, RetryPolicy, RouteSource, SessionPersistence,
    SessionPersistenceKind, Timeouts,
};
use portico_model::gateway::{
    HttpRoute as HttpRouteObj, HttpRouteRules, HttpRouteRulesMatches,
    HttpRouteRulesMatchesHeadersType, HttpRouteRulesMatchesMethod as Method,
    HttpRouteRulesMatchesPathType as PathType, HttpRouteRulesMatchesQueryParamsType,
    HttpRouteRulesSessionPersistenceCookieConfigLifetimeType as Lifetime,
    HttpRouteRulesSessionPersistenceType,
};

use super::backends::backend_ref;
use super::compiled::{Compiled, error_action};
use super::duration;
use super::filters;
use super::index::Index;
use super::matches::{self, check_regex};
use super::precedence::RuleKey;
use super::problem::Problem;
use super::rule_backends;
use super::view::RouteMeta;

/// Compiles every rule of an HTTPRoute.
pub fn compile<'s>(index: &Index<'s>, meta: &RouteMeta, route: &HttpRouteObj) -> Compiled<'s> {
    let rules = route.spec.rules.as_deref().unwrap_or(&[]);
    let mut out = Compiled {
        rule_count: rules.len(),
        ..Compiled::default()
    };
    let route_ref = meta.object_ref();
    for (rule_index, rule) in rules.iter().enumerate() {
        let matchers = match rule_matches(rule) {
            Ok(m) => m,
            Err(problem) => {
                // Nothing to match on: the rule is dropped.
                out.record_dropped(rule_index, &problem);
                continue;
            }
        };
        let action = match action(index, meta, rule, &mut out) {
            Ok(action) => action,
            Err(problem) => {
                out.record(rule_index, &problem);
                error_action(problem.reason, false)
            }
        };
        for (match_index, matcher) in matchers.into_iter().enumerate() {
            let key = RuleKey::http(&matcher, meta.age_key(), rule_index, match_index);
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

fn rule_matches(rule: &HttpRouteRules) -> Result<Vec<HttpMatch>, Problem> {
    match rule.matches.as_deref() {
        None | Some([]) => Ok(vec![HttpMatch::default()]),
        Some(list) => list.iter().map(http_match).collect(),
    }
}

/// One `matches[]` entry. Defaults: PathPrefix `/`.
pub fn http_match(m: &HttpRouteRulesMatches) -> Result<HttpMatch, Problem> {
    let path = match &m.path {
        None => PathMatch::default(),
        Some(p) => {
            let value = p.value.clone().unwrap_or_else(|| "/".to_string());
            match p.r#type.as_ref().unwrap_or(&PathType::PathPrefix) {
                PathType::Exact | PathType::PathPrefix if !value.starts_with('/') => {
                    return Err(Problem::unsupported(format!(
                        "path {value:?} must start with '/'"
                    )));
                }
                PathType::Exact => PathMatch::Exact(value),
                PathType::PathPrefix => PathMatch::Prefix(value),
                PathType::RegularExpression => {
                    check_regex(&value, "path match")?;
                    PathMatch::Regex(value)
                }
            }
        }
    };
    let headers = matches::headers(m.headers.iter().flatten().map(|h| {
        (
            h.name.as_str(),
            h.value.as_str(),
            matches!(
                h.r#type,
                Some(HttpRouteRulesMatchesHeadersType::RegularExpression)
            ),
        )
    }))?;
    let query_params = matches::query_params(m.query_params.iter().flatten().map(|q| {
        (
            q.name.as_str(),
            q.value.as_str(),
            matches!(
                q.r#type,
                Some(HttpRouteRulesMatchesQueryParamsType::RegularExpression)
            ),
        )
    }))?;
    Ok(HttpMatch {
        path,
        method: m.method.as_ref().map(|x| method(x).to_string()),
        headers,
        query_params,
    })
}

fn method(m: &Method) -> &'static str {
    match m {
        Method::Get => "GET",
        Method::Head => "HEAD",
        Method::Post => "POST",
        Method::Put => "PUT",
        Method::Delete => "DELETE",
        Method::Connect => "CONNECT",
        Method::Options => "OPTIONS",
        Method::Trace => "TRACE",
        Method::Patch => "PATCH",
    }
}

/// The rule's action. `Err` means the rule must answer with an error; the
/// problem has been classified by the caller.
fn action<'s>(
    index: &Index<'s>,
    meta: &RouteMeta,
    rule: &HttpRouteRules,
    out: &mut Compiled<'s>,
) -> Result<HttpAction, Problem> {
    let filters = filters::translate_all(index, meta, rule.filters.as_deref().unwrap_or(&[]), out)?;
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
    let timeouts = match &rule.timeouts {
        None => Timeouts::default(),
        Some(t) => {
            let request = timeout(t.request.as_deref(), "request")?;
            let backend_request = timeout(t.backend_request.as_deref(), "backendRequest")?;
            if let (Some(r), Some(b)) = (request, backend_request)
                && b > r
            {
                return Err(Problem::unsupported(
                    "timeouts.backendRequest must not be longer than timeouts.request",
                ));
            }
            Timeouts {
                request,
                backend_request,
            }
        }
    };
    let retry = match &rule.retry {
        None => None,
        Some(r) => Some(RetryPolicy {
            codes: r
                .codes
                .iter()
                .flatten()
                .map(|c| {
                    u16::try_from(*c)
                        .ok()
                        .filter(|c| (400..600).contains(c))
                        .ok_or_else(|| {
                            Problem::unsupported(format!(
                                "retry code {c} is not an HTTP error status"
                            ))
                        })
                })
                .collect::<Result<_, _>>()?,
            attempts: r
                .attempts
                .map(|a| {
                    u32::try_from(a)
                        .map_err(|_| Problem::unsupported("retry attempts must not be negative"))
                })
                .transpose()?
                .unwrap_or(1),
            backoff: match r.backoff.as_deref() {
                None => None,
                Some(b) => {
                    Some(duration::parse(b).ok_or_else(|| {
                        Problem::unsupported(format!("invalid retry backoff {b:?}"))
                    })?)
                }
            },
        }),
    };
    let session_persistence = match &rule.session_persistence {
        None => None,
        Some(sp) => Some(session_persistence(
            matches!(
                sp.r#type,
                Some(HttpRouteRulesSessionPersistenceType::Header)
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
        timeouts,
        retry,
        session_persistence,
        grpc: false,
    })
}

/// A timeout; `0s` disables it (no timeout).
fn timeout(text: Option<&str>, field: &str) -> Result<Option<std::time::Duration>, Problem> {
    match text {
        None => Ok(None),
        Some(t) => match duration::parse(t) {
            Some(d) if d.is_zero() => Ok(None),
            Some(d) => Ok(Some(d)),
            None => Err(Problem::unsupported(format!(
                "invalid timeouts.{field} {t:?}"
            ))),
        },
    }
}

/// Session persistence (shared with GRPCRoute).
pub fn session_persistence(
    header: bool,
    name: Option<&str>,
    absolute_timeout: Option<&str>,
    permanent: bool,
) -> Result<SessionPersistence, Problem> {
    let absolute_timeout = match absolute_timeout {
        None => None,
        Some(t) => Some(duration::parse(t).ok_or_else(|| {
            Problem::unsupported(format!("invalid sessionPersistence.absoluteTimeout {t:?}"))
        })?),
    };
    Ok(SessionPersistence {
        kind: if header {
            SessionPersistenceKind::Header
        } else {
            SessionPersistenceKind::Cookie
        },
        name: name
            .filter(|n| !n.is_empty())
            .unwrap_or("portico-session")
            .to_string(),
        absolute_timeout,
        idle_timeout: None,
        permanent,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Options;
    use crate::routes::view::RouteKind;
    use portico_model::Snapshot;

    fn compile_yaml(
        spec: serde_json::Value,
    ) -> (Vec<HttpRoute>, Option<Problem>, Vec<(usize, String)>) {
        let snapshot = Snapshot::default();
        let index = Index::new(&snapshot, &Options::default());
        let route: HttpRouteObj = serde_json::from_value(serde_json::json!({
            "apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
            "metadata": {"name": "r", "namespace": "ns"}, "spec": spec
        }))
        .unwrap();
        let meta = RouteMeta::new(RouteKind::Http, &route.metadata, vec![], vec![]);
        let c = compile(&index, &meta, &route);
        (
            c.http.into_iter().map(|(_, r)| r).collect(),
            c.refs_problem,
            c.invalid_rules,
        )
    }

    #[test]
    fn default_match_is_prefix_slash_and_empty_backends() {
        let (routes, refs, invalid) = compile_yaml(serde_json::json!({"rules": [{}]}));
        assert_eq!(routes.len(), 1);
        assert_eq!(routes[0].matcher.path, PathMatch::Prefix("/".into()));
        assert!(routes[0].action.backends.is_empty());
        assert!(refs.is_none() && invalid.is_empty());
    }

    #[test]
    fn invalid_regex_drops_the_rule_only() {
        let (routes, _, invalid) = compile_yaml(serde_json::json!({"rules": [
            {"matches": [{"path": {"type": "RegularExpression", "value": "/("}}]},
            {"matches": [{"path": {"type": "Exact", "value": "/ok"}}]}
        ]}));
        assert_eq!(routes.len(), 1);
        assert_eq!(routes[0].source.rule_index, 1);
        assert_eq!(invalid.len(), 1);
        assert_eq!(invalid[0].0, 0);
    }

    #[test]
    fn missing_backend_keeps_weight_and_sibling() {
        let snapshot_routes = compile_yaml(serde_json::json!({"rules": [
            {"backendRefs": [{"name": "gone", "port": 80, "weight": 3}]}
        ]}));
        let (routes, refs, _) = snapshot_routes;
        let b = &routes[0].action.backends[0];
        assert_eq!(b.weight, 3);
        assert_eq!(
            b.target,
            portico_ir::BackendTarget::Invalid {
                reason: "BackendNotFound".into()
            }
        );
        assert_eq!(refs.map(|p| p.reason), Some("BackendNotFound"));
    }

    #[test]
    fn timeouts_and_retry() {
        let (routes, _, invalid) = compile_yaml(serde_json::json!({"rules": [
            {"timeouts": {"request": "10s", "backendRequest": "0s"}, "retry": {"codes": [503], "attempts": 3, "backoff": "100ms"}},
            {"timeouts": {"request": "10 seconds"}}
        ]}));
        let a = &routes[0].action;
        assert_eq!(a.timeouts.request, Some(std::time::Duration::from_secs(10)));
        assert_eq!(a.timeouts.backend_request, None);
        let retry = a.retry.as_ref().unwrap();
        assert_eq!((retry.codes.clone(), retry.attempts), (vec![503], 3));
        assert_eq!(invalid.len(), 1);
        // The invalid rule still matches and answers with an error.
        assert_eq!(
            routes[1].action.backends[0].target,
            portico_ir::BackendTarget::Invalid {
                reason: "UnsupportedValue".into()
            }
        );
    }

    #[test]
    fn method_headers_query() {
        let (routes, _, _) = compile_yaml(serde_json::json!({"rules": [{"matches": [
            {"method": "POST", "headers": [{"name": "X-V", "value": "1"}],
             "queryParams": [{"name": "q", "value": "v.*", "type": "RegularExpression"}]}
        ]}]}));
        let m = &routes[0].matcher;
        assert_eq!(m.method.as_deref(), Some("POST"));
        assert_eq!(m.headers[0].name, "x-v");
        assert_eq!(
            m.query_params[0].value,
            portico_ir::StringMatch::Regex("v.*".into())
        );
    }
}
