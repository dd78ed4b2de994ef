//! URLRewrite: hostname (the Host sent upstream) and path.

use http::request::Parts;
use http::uri::PathAndQuery;
use http::{HeaderValue, Uri, header};
use portico_ir::UrlRewrite as IrUrlRewrite;

use super::path_rewrite::PathRewrite;
use crate::Error;

#[derive(Clone, Debug)]
pub struct UrlRewrite {
    hostname: Option<HeaderValue>,
    path: Option<PathRewrite>,
}

impl UrlRewrite {
    pub fn compile(r: &IrUrlRewrite, matched_prefix: Option<&str>) -> Result<UrlRewrite, Error> {
        let hostname = r
            .hostname
            .as_deref()
            .map(|h| HeaderValue::from_str(h).map_err(|_| Error::HeaderValue("host".into())))
            .transpose()?;
        Ok(UrlRewrite {
            hostname,
            path: r
                .path
                .as_ref()
                .map(|p| PathRewrite::compile(p, matched_prefix)),
        })
    }

    /// Rewrites the request in place. The upstream URI is built later from
    /// the Host header and the path, so only those two change here.
    pub fn apply(&self, parts: &mut Parts) {
        if let Some(host) = &self.hostname {
            parts.headers.insert(header::HOST, host.clone());
        }
        if let Some(path) = &self.path {
            let mut new = path.rewrite(parts.uri.path());
            if let Some(q) = parts.uri.query() {
                new.push('?');
                new.push_str(q);
            }
            match PathAndQuery::try_from(new) {
                Ok(pq) => {
                    let mut uri_parts = std::mem::take(&mut parts.uri).into_parts();
                    uri_parts.path_and_query = Some(pq);
                    parts.uri = Uri::from_parts(uri_parts).unwrap_or_default();
                }
                Err(e) => {
                    tracing::warn!(error = %e, "URLRewrite produced an invalid path; left unchanged")
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use portico_ir::PathModifier;

    #[test]
    fn rewrites_host_and_prefix_keeping_query() {
        let rw = UrlRewrite::compile(
            &IrUrlRewrite {
                hostname: Some("rewritten.example.com".into()),
                path: Some(PathModifier::ReplacePrefixMatch("/new".into())),
            },
            Some("/old"),
        )
        .unwrap();
        let (mut parts, ()) = http::Request::builder()
            .uri("/old/x?y=1")
            .header("host", "orig.example.com")
            .body(())
            .unwrap()
            .into_parts();
        rw.apply(&mut parts);
        assert_eq!(parts.headers[header::HOST], "rewritten.example.com");
        assert_eq!(parts.uri, "/new/x?y=1");
    }

    #[test]
    fn full_path_on_absolute_uri_keeps_authority() {
        let rw = UrlRewrite::compile(
            &IrUrlRewrite {
                hostname: None,
                path: Some(PathModifier::ReplaceFullPath("/full".into())),
            },
            None,
        )
        .unwrap();
        let (mut parts, ()) = http::Request::builder()
            .uri("http://a.example.com/some/path")
            .body(())
            .unwrap()
            .into_parts();
        rw.apply(&mut parts);
        assert_eq!(parts.uri, "http://a.example.com/full");
    }
}
