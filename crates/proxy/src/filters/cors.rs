//! CORS: the gateway answers preflight requests itself and decorates the
//! responses of allowed cross-origin requests.

use http::request::Parts;
use http::{HeaderMap, HeaderValue, Method, Response, StatusCode, header};
use portico_ir::Cors as IrCors;

use crate::body::Body;

#[derive(Clone, Debug)]
pub struct Cors {
    origins: Vec<OriginPattern>,
    credentials: bool,
    /// `None`: any method (`*`).
    methods: Option<HeaderValue>,
    /// `None` with `any_header`: any header (`*`).
    headers: Option<HeaderValue>,
    any_header: bool,
    expose: Option<HeaderValue>,
    max_age: Option<HeaderValue>,
}

/// An allowed origin: exact, `*`, or with a `*` in the host that matches
/// greedily to the left (`https://*.bar.com` matches `https://a.b.bar.com`).
#[derive(Clone, Debug)]
enum OriginPattern {
    Any,
    Exact(String),
    Wildcard { prefix: String, suffix: String },
}

impl OriginPattern {
    fn parse(p: &str) -> OriginPattern {
        if p == "*" {
            return OriginPattern::Any;
        }
        let p = normalize_origin(p);
        match p.split_once('*') {
            Some((prefix, suffix)) => OriginPattern::Wildcard {
                prefix: prefix.to_string(),
                suffix: suffix.to_string(),
            },
            None => OriginPattern::Exact(p),
        }
    }

    fn matches(&self, origin: &str) -> bool {
        match self {
            OriginPattern::Any => true,
            OriginPattern::Exact(o) => o == origin,
            OriginPattern::Wildcard { prefix, suffix } => {
                origin.len() > prefix.len() + suffix.len()
                    && origin.starts_with(prefix)
                    && origin.ends_with(suffix)
            }
        }
    }
}

/// Lower-case, default port removed, no trailing slash.
fn normalize_origin(o: &str) -> String {
    let o = o.trim().trim_end_matches('/').to_ascii_lowercase();
    for (scheme, port) in [("http://", ":80"), ("https://", ":443")] {
        if o.starts_with(scheme)
            && let Some(stripped) = o.strip_suffix(port)
        {
            return stripped.to_string();
        }
    }
    o
}

fn join(items: &[String]) -> Option<HeaderValue> {
    if items.is_empty() {
        return None;
    }
    HeaderValue::from_str(&items.join(", ")).ok()
}

static ACRM: header::HeaderName = header::ACCESS_CONTROL_REQUEST_METHOD;

impl Cors {
    pub fn compile(c: &IrCors) -> Cors {
        let any_method = c.allow_methods.iter().any(|m| m == "*");
        let any_header = c.allow_headers.iter().any(|h| h == "*");
        Cors {
            origins: c
                .allow_origins
                .iter()
                .map(|o| OriginPattern::parse(o))
                .collect(),
            credentials: c.allow_credentials,
            methods: if any_method {
                None
            } else {
                join(&c.allow_methods)
            },
            headers: if any_header {
                None
            } else {
                join(&c.allow_headers)
            },
            any_header,
            expose: join(&c.expose_headers),
            max_age: c.max_age.map(HeaderValue::from),
        }
    }

    /// The request's Origin when it is allowed.
    pub fn allowed_origin(&self, headers: &HeaderMap) -> Option<HeaderValue> {
        let origin = headers.get(header::ORIGIN)?;
        let normalized = normalize_origin(origin.to_str().ok()?);
        self.origins
            .iter()
            .any(|p| p.matches(&normalized))
            .then(|| origin.clone())
    }

    pub fn is_preflight(parts: &Parts) -> bool {
        parts.method == Method::OPTIONS
            && parts.headers.contains_key(header::ORIGIN)
            && parts.headers.contains_key(&ACRM)
    }

    /// The gateway's answer to a preflight request: 200, with CORS headers
    /// only when the origin is allowed.
    pub fn preflight(&self, parts: &Parts) -> Response<Body> {
        let mut resp = Response::new(Body::Empty);
        *resp.status_mut() = StatusCode::OK;
        let Some(origin) = self.allowed_origin(&parts.headers) else {
            return resp;
        };
        let h = resp.headers_mut();
        self.decorate(h, origin);
        let methods = match &self.methods {
            Some(m) => Some(m.clone()),
            None => parts.headers.get(&ACRM).cloned(),
        };
        if let Some(m) = methods {
            h.insert(header::ACCESS_CONTROL_ALLOW_METHODS, m);
        }
        let allow_headers = match (&self.headers, self.any_header) {
            (Some(v), _) => Some(v.clone()),
            (None, true) => parts
                .headers
                .get(header::ACCESS_CONTROL_REQUEST_HEADERS)
                .cloned()
                .or_else(|| (!self.credentials).then(|| HeaderValue::from_static("*"))),
            (None, false) => None,
        };
        if let Some(v) = allow_headers {
            h.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, v);
        }
        if let Some(age) = &self.max_age {
            h.insert(header::ACCESS_CONTROL_MAX_AGE, age.clone());
        }
        resp
    }

    /// Headers for the response to an allowed request (preflight or not).
    /// The Origin is echoed, never `*`, so credentialed requests work too.
    pub fn decorate(&self, h: &mut HeaderMap, origin: HeaderValue) {
        h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
        if self.credentials {
            h.insert(
                header::ACCESS_CONTROL_ALLOW_CREDENTIALS,
                HeaderValue::from_static("true"),
            );
        }
        if let Some(e) = &self.expose {
            h.insert(header::ACCESS_CONTROL_EXPOSE_HEADERS, e.clone());
        }
        h.append(header::VARY, HeaderValue::from_static("Origin"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cors(origins: &[&str], methods: &[&str], headers: &[&str], credentials: bool) -> Cors {
        let own = |v: &[&str]| v.iter().map(|s| s.to_string()).collect();
        Cors::compile(&IrCors {
            allow_origins: own(origins),
            allow_credentials: credentials,
            allow_methods: own(methods),
            allow_headers: own(headers),
            expose_headers: vec!["x-header-3".into(), "x-header-4".into()],
            max_age: Some(3600),
        })
    }

    fn preflight(origin: &str, method: &str, headers: Option<&str>) -> Parts {
        let mut b = http::Request::builder()
            .method("OPTIONS")
            .uri("/")
            .header("origin", origin)
            .header("access-control-request-method", method);
        if let Some(h) = headers {
            b = b.header("access-control-request-headers", h);
        }
        b.body(()).unwrap().into_parts().0
    }

    #[test]
    fn origin_patterns() {
        let c = cors(
            &["https://www.foo.com", "https://*.bar.com"],
            &[],
            &[],
            false,
        );
        let ok = |o: &str| {
            let mut h = HeaderMap::new();
            h.insert("origin", o.parse().unwrap());
            c.allowed_origin(&h).is_some()
        };
        assert!(ok("https://www.foo.com"));
        assert!(ok("https://WWW.foo.com:443"));
        assert!(ok("https://www.bar.com"));
        assert!(ok("https://xpto.www.bar.com"));
        assert!(!ok("https://bar.com"));
        assert!(!ok("https://foobar.com"));
        assert!(!ok("http://www.foo.com"));
        assert!(c.allowed_origin(&HeaderMap::new()).is_none());
    }

    #[test]
    fn preflight_allowed_lists_configuration() {
        let c = cors(
            &["https://www.foo.com"],
            &["GET", "OPTIONS"],
            &["x-header-1", "x-header-2"],
            true,
        );
        let p = preflight("https://www.foo.com", "GET", Some("x-header-1"));
        assert!(Cors::is_preflight(&p));
        let r = c.preflight(&p);
        assert_eq!(r.status(), StatusCode::OK);
        let h = r.headers();
        assert_eq!(h["access-control-allow-origin"], "https://www.foo.com");
        assert_eq!(h["access-control-allow-methods"], "GET, OPTIONS");
        assert_eq!(h["access-control-allow-headers"], "x-header-1, x-header-2");
        assert_eq!(h["access-control-expose-headers"], "x-header-3, x-header-4");
        assert_eq!(h["access-control-max-age"], "3600");
        assert_eq!(h["access-control-allow-credentials"], "true");
    }

    #[test]
    fn preflight_denied_has_no_cors_headers() {
        let c = cors(&["https://www.foo.com"], &["GET"], &[], true);
        let r = c.preflight(&preflight("https://foobar.com", "GET", None));
        assert_eq!(r.status(), StatusCode::OK);
        assert!(r.headers().get("access-control-allow-origin").is_none());
    }

    #[test]
    fn wildcards_echo_the_request() {
        let c = cors(&["*"], &["*"], &["*"], true);
        let r = c.preflight(&preflight(
            "https://other.foo.com",
            "PUT",
            Some("x-header-1, x-header-2"),
        ));
        let h = r.headers();
        assert_eq!(h["access-control-allow-origin"], "https://other.foo.com");
        assert_eq!(h["access-control-allow-methods"], "PUT");
        assert_eq!(h["access-control-allow-headers"], "x-header-1, x-header-2");
        let unauth = cors(&["*"], &["*"], &["*"], false);
        let r = unauth.preflight(&preflight("https://foobar.com:12345", "PUT", None));
        assert_eq!(
            r.headers()["access-control-allow-origin"],
            "https://foobar.com:12345"
        );
        assert_eq!(r.headers()["access-control-allow-headers"], "*");
        assert!(
            r.headers()
                .get("access-control-allow-credentials")
                .is_none()
        );
    }

    #[test]
    fn not_a_preflight_without_request_method() {
        let p = http::Request::builder()
            .method("OPTIONS")
            .uri("/")
            .header("origin", "https://a")
            .body(())
            .unwrap()
            .into_parts()
            .0;
        assert!(!Cors::is_preflight(&p));
    }
}
