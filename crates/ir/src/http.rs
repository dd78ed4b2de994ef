//! HTTP and gRPC routing tables.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::{ClusterId, HostMatch, ObjectRef};

/// Route rules that apply to one effective hostname on a listener.
///
/// A request picks the most specific virtual host whose `hostname` matches its
/// Host (exact, then the longest wildcard, then `Any`) and then the first rule
/// in `routes` whose match succeeds. Translation already ordered `routes` by
/// the Gateway API precedence, so the data plane only scans.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct VirtualHost {
    pub hostname: HostMatch,
    pub routes: Vec<HttpRoute>,
}

/// One match of one rule of an HTTPRoute or GRPCRoute, with the rule's action.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HttpRoute {
    /// Which object/rule/match this came from (for flows, metrics and debugging).
    pub source: RouteSource,
    pub matcher: HttpMatch,
    pub action: HttpAction,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RouteSource {
    /// `HTTPRoute` or `GRPCRoute` object.
    pub route: ObjectRef,
    pub rule_index: usize,
    /// `rules[].name` when set.
    pub rule_name: Option<String>,
    pub match_index: usize,
}

/// Everything a request must satisfy; empty fields match everything.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct HttpMatch {
    pub path: PathMatch,
    /// Upper-case method name.
    pub method: Option<String>,
    pub headers: Vec<HeaderMatch>,
    pub query_params: Vec<QueryParamMatch>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum PathMatch {
    Exact(String),
    /// Matches on `/` segment boundaries; a trailing `/` in the prefix is ignored.
    Prefix(String),
    /// Anchored regular expression over the whole path (RE2-like syntax).
    Regex(String),
}

impl Default for PathMatch {
    fn default() -> Self {
        PathMatch::Prefix("/".to_string())
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HeaderMatch {
    /// Lower-case header name.
    pub name: String,
    pub value: StringMatch,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct QueryParamMatch {
    /// Case-sensitive parameter name.
    pub name: String,
    pub value: StringMatch,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum StringMatch {
    Exact(String),
    /// Anchored regular expression.
    Regex(String),
}

/// What happens to a request that matched.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct HttpAction {
    /// Filters in the order the rule lists them.
    pub filters: Vec<HttpFilter>,
    /// Weighted backends. Empty means "no backend": the gateway answers 500.
    pub backends: Vec<WeightedBackend>,
    pub timeouts: Timeouts,
    pub retry: Option<RetryPolicy>,
    pub session_persistence: Option<SessionPersistence>,
    /// The rule came from a GRPCRoute: errors the gateway itself produces are
    /// reported as gRPC statuses.
    pub grpc: bool,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WeightedBackend {
    /// Relative weight; 0 means never chosen.
    pub weight: u32,
    pub target: BackendTarget,
    /// Filters from `backendRefs[].filters`, applied after the rule's filters.
    pub filters: Vec<HttpFilter>,
}

/// A resolved backend or the reason it could not be resolved.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum BackendTarget {
    Cluster(ClusterId),
    /// The reference is invalid (missing Service, not permitted, unknown kind,
    /// …). Requests that pick it get HTTP 500 (TLS/TCP: connection closed).
    Invalid {
        reason: String,
    },
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum HttpFilter {
    RequestHeaderModifier(HeaderModifier),
    ResponseHeaderModifier(HeaderModifier),
    RequestRedirect(RequestRedirect),
    UrlRewrite(UrlRewrite),
    RequestMirror(RequestMirror),
    Cors(Cors),
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct HeaderModifier {
    /// (name, value): replaces any existing values.
    pub set: Vec<(String, String)>,
    /// (name, value): appended to existing values.
    pub add: Vec<(String, String)>,
    /// Lower-case names.
    pub remove: Vec<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct RequestRedirect {
    pub scheme: Option<String>,
    pub hostname: Option<String>,
    pub path: Option<PathModifier>,
    pub port: Option<u16>,
    /// 301, 302, 303, 307 or 308.
    pub status_code: u16,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct UrlRewrite {
    pub hostname: Option<String>,
    pub path: Option<PathModifier>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum PathModifier {
    ReplaceFullPath(String),
    /// Replace the matched `PathPrefix` with this prefix.
    ReplacePrefixMatch(String),
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RequestMirror {
    pub target: BackendTarget,
    /// Share of requests mirrored, as a fraction numerator/denominator.
    pub numerator: u32,
    pub denominator: u32,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Cors {
    pub allow_origins: Vec<String>,
    pub allow_credentials: bool,
    pub allow_methods: Vec<String>,
    pub allow_headers: Vec<String>,
    pub expose_headers: Vec<String>,
    pub max_age: Option<u32>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Timeouts {
    /// Whole request, from headers received to response headers sent.
    pub request: Option<Duration>,
    /// One attempt to the backend.
    pub backend_request: Option<Duration>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RetryPolicy {
    /// Status codes that trigger a retry.
    pub codes: Vec<u16>,
    /// Total retries after the first attempt.
    pub attempts: u32,
    pub backoff: Option<Duration>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SessionPersistence {
    pub kind: SessionPersistenceKind,
    /// Cookie or header name.
    pub name: String,
    pub absolute_timeout: Option<Duration>,
    pub idle_timeout: Option<Duration>,
    /// Cookie lifetime: `Permanent` (with Max-Age) vs `Session`.
    pub permanent: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum SessionPersistenceKind {
    Cookie,
    Header,
}
