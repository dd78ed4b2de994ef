//! RequestRedirect: answers with a Location built from the request, the
//! listener and the filter (scheme, hostname, port, path, status).

use http::request::Parts;
use http::{HeaderValue, Response, StatusCode, header};
use portico_ir::RequestRedirect;

use super::path_rewrite::PathRewrite;
use crate::body::Body;

#[derive(Clone, Debug)]
pub struct Redirect {
    scheme: Option<Box<str>>,
    hostname: Option<Box<str>>,
    port: Option<u16>,
    path: Option<PathRewrite>,
    status: StatusCode,
}

impl Redirect {
    pub fn compile(r: &RequestRedirect, matched_prefix: Option<&str>) -> Redirect {
        let status = match r.status_code {
            301 | 302 | 303 | 307 | 308 => {
                StatusCode::from_u16(r.status_code).unwrap_or(StatusCode::FOUND)
            }
            _ => StatusCode::FOUND,
        };
        Redirect {
            scheme: r.scheme.as_deref().map(|s| s.to_ascii_lowercase().into()),
            hostname: r.hostname.as_deref().map(Into::into),
            port: r.port,
            path: r
                .path
                .as_ref()
                .map(|p| PathRewrite::compile(p, matched_prefix)),
            status,
        }
    }

    /// The Location for a request to `host` (normalized, no port) on a
    /// listener with `listener_scheme` and `listener_port`.
    pub fn location(
        &self,
        parts: &Parts,
        host: &str,
        listener_scheme: &str,
        listener_port: u16,
    ) -> String {
        let scheme = self.scheme.as_deref().unwrap_or(listener_scheme);
        let host = self.hostname.as_deref().unwrap_or(host);
        // Spec: an explicit port wins; a scheme change without a port uses the
        // scheme's well-known port; otherwise the listener's port.
        let port = match (self.port, self.scheme.as_deref()) {
            (Some(p), _) => p,
            (None, Some(s)) => well_known_port(s).unwrap_or(listener_port),
            (None, None) => listener_port,
        };
        let path = parts.uri.path();
        let new_path = self.path.as_ref().map(|p| p.rewrite(path));
        let path = new_path.as_deref().unwrap_or(path);
        let mut out = String::with_capacity(scheme.len() + host.len() + path.len() + 16);
        out.push_str(scheme);
        out.push_str("://");
        out.push_str(host);
        if well_known_port(scheme) != Some(port) {
            out.push(':');
            out.push_str(&port.to_string());
        }
        out.push_str(path);
        if let Some(q) = parts.uri.query() {
            out.push('?');
            out.push_str(q);
        }
        out
    }

    pub fn respond(
        &self,
        parts: &Parts,
        host: &str,
        listener_scheme: &str,
        listener_port: u16,
    ) -> Response<Body> {
        let location = self.location(parts, host, listener_scheme, listener_port);
        let mut resp = Response::new(Body::Empty);
        *resp.status_mut() = self.status;
        match HeaderValue::from_str(&location) {
            Ok(v) => {
                resp.headers_mut().insert(header::LOCATION, v);
            }
            Err(_) => *resp.status_mut() = StatusCode::INTERNAL_SERVER_ERROR,
        }
        resp.headers_mut()
            .insert(header::CONTENT_LENGTH, HeaderValue::from_static("0"));
        resp
    }
}

fn well_known_port(scheme: &str) -> Option<u16> {
    match scheme {
        "http" => Some(80),
        "https" => Some(443),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use portico_ir::PathModifier;

    fn parts(uri: &str) -> Parts {
        http::Request::builder()
            .uri(uri)
            .body(())
            .unwrap()
            .into_parts()
            .0
    }

    fn loc(r: RequestRedirect, prefix: Option<&str>, uri: &str, port: u16) -> String {
        Redirect::compile(&r, prefix).location(&parts(uri), "example.com", "http", port)
    }

    #[test]
    fn hostname_only_keeps_path_and_query() {
        let r = RequestRedirect {
            hostname: Some("example.org".into()),
            status_code: 302,
            ..Default::default()
        };
        assert_eq!(
            loc(r, None, "/hostname-redirect?a=b", 80),
            "http://example.org/hostname-redirect?a=b"
        );
    }

    #[test]
    fn scheme_change_without_port_uses_well_known_port() {
        let r = RequestRedirect {
            scheme: Some("https".into()),
            status_code: 301,
            ..Default::default()
        };
        assert_eq!(loc(r.clone(), None, "/x", 8080), "https://example.com/x");
        let with_port = RequestRedirect {
            port: Some(8443),
            ..r
        };
        assert_eq!(
            loc(with_port, None, "/x", 8080),
            "https://example.com:8443/x"
        );
    }

    #[test]
    fn no_scheme_no_port_uses_listener_port() {
        let r = RequestRedirect {
            hostname: Some("example.org".into()),
            status_code: 302,
            ..Default::default()
        };
        assert_eq!(loc(r.clone(), None, "/", 8080), "http://example.org:8080/");
        assert_eq!(loc(r, None, "/", 80), "http://example.org/");
        let explicit_80 = RequestRedirect {
            port: Some(80),
            status_code: 302,
            ..Default::default()
        };
        assert_eq!(loc(explicit_80, None, "/", 8080), "http://example.com/");
    }

    #[test]
    fn path_modifiers() {
        let full = RequestRedirect {
            path: Some(PathModifier::ReplaceFullPath("/new".into())),
            status_code: 302,
            ..Default::default()
        };
        assert_eq!(
            loc(full, Some("/old"), "/old/deep?q=1", 80),
            "http://example.com/new?q=1"
        );
        let prefix = RequestRedirect {
            path: Some(PathModifier::ReplacePrefixMatch(
                "/replacement-prefix".into(),
            )),
            status_code: 302,
            ..Default::default()
        };
        assert_eq!(
            loc(
                prefix,
                Some("/original-prefix"),
                "/original-prefix/lemon",
                80
            ),
            "http://example.com/replacement-prefix/lemon"
        );
    }

    #[test]
    fn status_codes() {
        for code in [301u16, 302, 303, 307, 308] {
            let r = Redirect::compile(
                &RequestRedirect {
                    status_code: code,
                    ..Default::default()
                },
                None,
            );
            let resp = r.respond(&parts("/"), "example.com", "http", 80);
            assert_eq!(resp.status().as_u16(), code);
            assert_eq!(resp.headers()[header::LOCATION], "http://example.com/");
        }
        let bogus = Redirect::compile(&RequestRedirect::default(), None);
        assert_eq!(
            bogus.respond(&parts("/"), "h", "http", 80).status(),
            StatusCode::FOUND
        );
    }
}
