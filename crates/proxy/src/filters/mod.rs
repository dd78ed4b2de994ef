//! HTTPRoute filters, compiled once per routing table. One file per filter.

mod header_modifier;
mod path_rewrite;
mod redirect;
mod url_rewrite;

pub use header_modifier::HeaderModifier;
pub use path_rewrite::PathRewrite;
pub use redirect::Redirect;
pub use url_rewrite::UrlRewrite;

use portico_ir::HttpFilter;

use crate::Error;

#[derive(Clone, Debug)]
pub enum Filter {
    RequestHeaders(HeaderModifier),
    ResponseHeaders(HeaderModifier),
    Redirect(Redirect),
    Rewrite(UrlRewrite),
}

impl Filter {
    /// Compiles `f`. `Ok(None)` for filters this data plane does not
    /// implement yet (RequestMirror, CORS): they are skipped, and the
    /// corresponding features are not claimed.
    pub fn compile(f: &HttpFilter, matched_prefix: Option<&str>) -> Result<Option<Filter>, Error> {
        Ok(Some(match f {
            HttpFilter::RequestHeaderModifier(m) => {
                Filter::RequestHeaders(HeaderModifier::compile(m)?)
            }
            HttpFilter::ResponseHeaderModifier(m) => {
                Filter::ResponseHeaders(HeaderModifier::compile(m)?)
            }
            HttpFilter::RequestRedirect(r) => {
                Filter::Redirect(Redirect::compile(r, matched_prefix))
            }
            HttpFilter::UrlRewrite(r) => Filter::Rewrite(UrlRewrite::compile(r, matched_prefix)?),
            HttpFilter::RequestMirror(_) | HttpFilter::Cors(_) => {
                tracing::debug!(filter = ?std::mem::discriminant(f), "filter not implemented by the data plane yet; skipped");
                return Ok(None);
            }
        }))
    }

    pub fn compile_all(
        filters: &[HttpFilter],
        matched_prefix: Option<&str>,
    ) -> Result<Vec<Filter>, Error> {
        let mut out = Vec::with_capacity(filters.len());
        for f in filters {
            if let Some(c) = Filter::compile(f, matched_prefix)? {
                out.push(c);
            }
        }
        Ok(out)
    }
}
