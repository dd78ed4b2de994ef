//! HTTPRoute / GRPCRoute filters → [`HttpFilter`].
//!
//! Every filter list (rule filters, backendRef filters, GRPCRoute filters) has
//! the JSON shape of the HTTPRoute rule filter, so the other generated types
//! are converted to [`RuleFilter`] through serde and translated here once.

use portico_ir::{
    Cors, HeaderModifier, HttpFilter, PathModifier, RequestMirror, RequestRedirect, UrlRewrite,
};
use portico_model::gateway::{
    HttpRouteRulesFilters as RuleFilter,
    HttpRouteRulesFiltersRequestRedirectPathType as RedirectPathType,
    HttpRouteRulesFiltersRequestRedirectScheme as Scheme, HttpRouteRulesFiltersType as FilterType,
    HttpRouteRulesFiltersUrlRewritePathType as RewritePathType,
};
use serde::Serialize;

use super::backends::{self, ClusterNeed, backend_ref};
use super::compiled::Compiled;
use super::index::Index;
use super::problem::{Problem, Scope};
use super::view::RouteMeta;

/// A filter list of any generated type, as HTTPRoute rule filters.
pub fn convert<T: Serialize>(filters: &[T]) -> Result<Vec<RuleFilter>, Problem> {
    filters
        .iter()
        .map(|f| {
            serde_json::to_value(f)
                .and_then(serde_json::from_value)
                .map_err(|e| Problem::unsupported(format!("unsupported filter: {e}")))
        })
        .collect()
}

/// Translates a filter list. A mirror whose backend does not resolve is
/// dropped (the spec says not to configure it) and reported as a
/// `ResolvedRefs` problem; any other problem (`UnsupportedValue`, an
/// unresolvable ExtensionRef) is returned: the rule must then answer with an
/// error rather than skip the filter.
pub fn translate_all<'s>(
    index: &Index<'s>,
    route: &RouteMeta,
    filters: &[RuleFilter],
    out: &mut Compiled<'s>,
) -> Result<Vec<HttpFilter>, Problem> {
    let mut translated = Vec::with_capacity(filters.len());
    for filter in filters {
        match translate(index, route, filter, &mut out.needs) {
            Ok(f) => translated.push(f),
            Err(p) if p.scope == Scope::DroppedRef => {
                if out.refs_problem.is_none() {
                    out.refs_problem = Some(p);
                }
            }
            Err(p) => return Err(p),
        }
    }
    Ok(translated)
}

/// Translates one filter.
pub fn translate<'s>(
    index: &Index<'s>,
    route: &RouteMeta,
    filter: &RuleFilter,
    needs: &mut Vec<ClusterNeed<'s>>,
) -> Result<HttpFilter, Problem> {
    let missing =
        |field: &str| Problem::unsupported(format!("filter {:?} requires {field}", filter.r#type));
    match filter.r#type {
        FilterType::RequestHeaderModifier => {
            let m = filter
                .request_header_modifier
                .as_ref()
                .ok_or_else(|| missing("requestHeaderModifier"))?;
            Ok(HttpFilter::RequestHeaderModifier(header_modifier(
                pairs(m.set.iter().flatten().map(|h| (&h.name, &h.value))),
                pairs(m.add.iter().flatten().map(|h| (&h.name, &h.value))),
                m.remove.as_deref().unwrap_or(&[]),
            )))
        }
        FilterType::ResponseHeaderModifier => {
            let m = filter
                .response_header_modifier
                .as_ref()
                .ok_or_else(|| missing("responseHeaderModifier"))?;
            Ok(HttpFilter::ResponseHeaderModifier(header_modifier(
                pairs(m.set.iter().flatten().map(|h| (&h.name, &h.value))),
                pairs(m.add.iter().flatten().map(|h| (&h.name, &h.value))),
                m.remove.as_deref().unwrap_or(&[]),
            )))
        }
        FilterType::RequestRedirect => {
            let r = filter
                .request_redirect
                .as_ref()
                .ok_or_else(|| missing("requestRedirect"))?;
            let status_code = match r.status_code.unwrap_or(302) {
                c @ (301 | 302 | 303 | 307 | 308) => c as u16,
                other => {
                    return Err(Problem::unsupported(format!(
                        "redirect statusCode {other} is not supported"
                    )));
                }
            };
            let path = match &r.path {
                None => None,
                Some(p) => Some(path_modifier(
                    matches!(p.r#type, RedirectPathType::ReplaceFullPath),
                    p.replace_full_path.as_deref(),
                    p.replace_prefix_match.as_deref(),
                )?),
            };
            Ok(HttpFilter::RequestRedirect(RequestRedirect {
                scheme: r.scheme.as_ref().map(|s| match s {
                    Scheme::Http => "http".to_string(),
                    Scheme::Https => "https".to_string(),
                }),
                hostname: r.hostname.clone(),
                path,
                port: match r.port {
                    None => None,
                    Some(p) => {
                        Some(u16::try_from(p).ok().filter(|p| *p != 0).ok_or_else(|| {
                            Problem::unsupported(format!("redirect port {p} is invalid"))
                        })?)
                    }
                },
                status_code,
            }))
        }
        FilterType::UrlRewrite => {
            let r = filter
                .url_rewrite
                .as_ref()
                .ok_or_else(|| missing("urlRewrite"))?;
            let path = match &r.path {
                None => None,
                Some(p) => Some(path_modifier(
                    matches!(p.r#type, RewritePathType::ReplaceFullPath),
                    p.replace_full_path.as_deref(),
                    p.replace_prefix_match.as_deref(),
                )?),
            };
            Ok(HttpFilter::UrlRewrite(UrlRewrite {
                hostname: r.hostname.clone(),
                path,
            }))
        }
        FilterType::RequestMirror => {
            let m = filter
                .request_mirror
                .as_ref()
                .ok_or_else(|| missing("requestMirror"))?;
            let (numerator, denominator) = match (&m.fraction, m.percent) {
                (Some(f), _) => (f.numerator, f.denominator.unwrap_or(100)),
                (None, Some(p)) => (p, 100),
                (None, None) => (100, 100),
            };
            let (Ok(numerator), Ok(denominator)) =
                (u32::try_from(numerator), u32::try_from(denominator))
            else {
                return Err(Problem::unsupported("mirror fraction must not be negative"));
            };
            if denominator == 0 || numerator > denominator {
                return Err(Problem::unsupported(format!(
                    "mirror fraction {numerator}/{denominator} is invalid"
                )));
            }
            let target = backends::resolve(index, route, backend_ref!(m.backend_ref), needs)
                .map_err(|p| Problem {
                    scope: Scope::DroppedRef,
                    message: format!("RequestMirror not configured: {}", p.message),
                    ..p
                })?;
            Ok(HttpFilter::RequestMirror(RequestMirror {
                target: portico_ir::BackendTarget::Cluster(target),
                numerator,
                denominator,
            }))
        }
        FilterType::Cors => {
            let c = filter.cors.as_ref().ok_or_else(|| missing("cors"))?;
            Ok(HttpFilter::Cors(Cors {
                allow_origins: c.allow_origins.clone().unwrap_or_default(),
                allow_credentials: c.allow_credentials.unwrap_or(false),
                allow_methods: c.allow_methods.clone().unwrap_or_default(),
                allow_headers: c.allow_headers.clone().unwrap_or_default(),
                expose_headers: c.expose_headers.clone().unwrap_or_default(),
                max_age: c.max_age.and_then(|a| u32::try_from(a).ok()),
            }))
        }
        FilterType::ExtensionRef => {
            let (group, kind, name) = filter
                .extension_ref
                .as_ref()
                .map(|e| (e.group.as_str(), e.kind.as_str(), e.name.as_str()))
                .unwrap_or_default();
            Err(Problem::refs(
                "InvalidKind",
                format!(
                    "ExtensionRef filter {group}/{kind} {name} cannot be resolved: no extension kinds are supported"
                ),
            ))
        }
        FilterType::ExternalAuth => Err(Problem::unsupported(
            "filter type ExternalAuth is not supported",
        )),
    }
}

fn pairs<'a>(it: impl Iterator<Item = (&'a String, &'a String)>) -> Vec<(String, String)> {
    it.map(|(n, v)| (n.clone(), v.clone())).collect()
}

fn header_modifier(
    set: Vec<(String, String)>,
    add: Vec<(String, String)>,
    remove: &[String],
) -> HeaderModifier {
    HeaderModifier {
        set,
        add,
        remove: remove.iter().map(|n| n.to_ascii_lowercase()).collect(),
    }
}

fn path_modifier(
    full: bool,
    full_path: Option<&str>,
    prefix: Option<&str>,
) -> Result<PathModifier, Problem> {
    if full {
        full_path
            .map(|p| PathModifier::ReplaceFullPath(p.to_string()))
            .ok_or_else(|| Problem::unsupported("ReplaceFullPath requires replaceFullPath"))
    } else {
        prefix
            .map(|p| PathModifier::ReplacePrefixMatch(p.to_string()))
            .ok_or_else(|| Problem::unsupported("ReplacePrefixMatch requires replacePrefixMatch"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Options;
    use crate::routes::view::RouteKind;
    use portico_model::Snapshot;

    fn run(json: serde_json::Value) -> Result<HttpFilter, Problem> {
        let snapshot = Snapshot::default();
        let index = Index::new(&snapshot, &Options::default());
        let route = RouteMeta::new(RouteKind::Http, &Default::default(), vec![], vec![]);
        let filter: RuleFilter = serde_json::from_value(json).unwrap();
        translate(&index, &route, &filter, &mut Vec::new())
    }

    #[test]
    fn header_modifier_lowercases_removals() {
        let f = run(
            serde_json::json!({"type": "RequestHeaderModifier", "requestHeaderModifier": {
            "set": [{"name": "X-A", "value": "1"}], "add": [{"name": "X-B", "value": "2"}], "remove": ["X-C"]}}),
        );
        assert_eq!(
            f,
            Ok(HttpFilter::RequestHeaderModifier(HeaderModifier {
                set: vec![("X-A".into(), "1".into())],
                add: vec![("X-B".into(), "2".into())],
                remove: vec!["x-c".into()],
            }))
        );
    }

    #[test]
    fn redirect_defaults_to_302_and_rejects_other_codes() {
        let f = run(
            serde_json::json!({"type": "RequestRedirect", "requestRedirect": {"scheme": "https", "port": 443}}),
        );
        let Ok(HttpFilter::RequestRedirect(r)) = f else {
            panic!("{f:?}")
        };
        assert_eq!(
            (r.status_code, r.port, r.scheme.as_deref()),
            (302, Some(443), Some("https"))
        );
        let bad = run(
            serde_json::json!({"type": "RequestRedirect", "requestRedirect": {"statusCode": 304}}),
        );
        assert_eq!(bad.map_err(|p| p.reason), Err("UnsupportedValue"));
    }

    #[test]
    fn rewrite_prefix() {
        let f = run(
            serde_json::json!({"type": "URLRewrite", "urlRewrite": {"hostname": "h",
            "path": {"type": "ReplacePrefixMatch", "replacePrefixMatch": "/new"}}}),
        );
        assert_eq!(
            f,
            Ok(HttpFilter::UrlRewrite(UrlRewrite {
                hostname: Some("h".into()),
                path: Some(PathModifier::ReplacePrefixMatch("/new".into())),
            }))
        );
    }

    #[test]
    fn mirror_needs_a_resolvable_backend() {
        let f = run(
            serde_json::json!({"type": "RequestMirror", "requestMirror": {
            "backendRef": {"name": "missing", "port": 80}, "percent": 50}}),
        );
        assert_eq!(f.map_err(|p| p.reason), Err("BackendNotFound"));
        let f = run(
            serde_json::json!({"type": "RequestMirror", "requestMirror": {
            "backendRef": {"name": "missing", "port": 80}, "fraction": {"numerator": 3, "denominator": 2}}}),
        );
        assert_eq!(f.map_err(|p| p.reason), Err("UnsupportedValue"));
    }

    #[test]
    fn unresolvable_mirror_is_dropped_but_reported() {
        let snapshot = Snapshot::default();
        let index = Index::new(&snapshot, &Options::default());
        let route = RouteMeta::new(RouteKind::Http, &Default::default(), vec![], vec![]);
        let filters: Vec<RuleFilter> = serde_json::from_value(serde_json::json!([
            {"type": "RequestMirror", "requestMirror": {"backendRef": {"name": "gone", "port": 80}}},
            {"type": "ResponseHeaderModifier", "responseHeaderModifier": {"remove": ["x"]}}
        ]))
        .unwrap();
        let mut out = Compiled::default();
        let got = translate_all(&index, &route, &filters, &mut out).unwrap();
        assert_eq!(got.len(), 1, "mirror dropped, sibling filter kept");
        assert!(matches!(got[0], HttpFilter::ResponseHeaderModifier(_)));
        let problem = out.refs_problem.expect("ResolvedRefs problem recorded");
        assert_eq!(problem.reason, "BackendNotFound");
        assert!(out.invalid_rules.is_empty());
    }

    #[test]
    fn extension_ref_and_external_auth_are_errors() {
        let f = run(
            serde_json::json!({"type": "ExtensionRef", "extensionRef": {"group": "x.io", "kind": "K", "name": "n"}}),
        );
        assert_eq!(f.map_err(|p| p.reason), Err("InvalidKind"));
        let f = run(serde_json::json!({"type": "RequestHeaderModifier"}));
        assert_eq!(f.map_err(|p| p.reason), Err("UnsupportedValue"));
    }

    #[test]
    fn grpc_filters_convert() {
        use portico_model::gateway::GrpcRouteRulesFilters;
        let g: GrpcRouteRulesFilters = serde_json::from_value(serde_json::json!({
            "type": "ResponseHeaderModifier", "responseHeaderModifier": {"remove": ["A"]}}))
        .unwrap();
        let converted = convert(&[g]).unwrap();
        assert_eq!(converted.len(), 1);
        assert_eq!(converted[0].r#type, FilterType::ResponseHeaderModifier);
    }
}
