//! HTTPRoute filters, compiled once per routing table. One file per filter.

mod cors;
mod header_modifier;
mod mirror;
mod path_rewrite;
mod redirect;
mod url_rewrite;

pub use cors::Cors;
pub use header_modifier::HeaderModifier;
pub use mirror::Mirror;
pub use path_rewrite::PathRewrite;
pub use redirect::Redirect;
pub use url_rewrite::UrlRewrite;

use portico_ir::HttpFilter;

use crate::Error;
use crate::upstream::Upstreams;

#[derive(Clone, Debug)]
pub enum Filter {
    RequestHeaders(HeaderModifier),
    ResponseHeaders(HeaderModifier),
    Redirect(Redirect),
    Rewrite(UrlRewrite),
    Mirror(Mirror),
    Cors(Cors),
}

impl Filter {
    pub fn compile(
        f: &HttpFilter,
        matched_prefix: Option<&str>,
        upstreams: &Upstreams,
    ) -> Result<Filter, Error> {
        Ok(match f {
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
            HttpFilter::RequestMirror(m) => Filter::Mirror(Mirror::compile(m, upstreams)),
            HttpFilter::Cors(c) => Filter::Cors(Cors::compile(c)),
        })
    }

    pub fn compile_all(
        filters: &[HttpFilter],
        matched_prefix: Option<&str>,
        upstreams: &Upstreams,
    ) -> Result<Vec<Filter>, Error> {
        filters
            .iter()
            .map(|f| Filter::compile(f, matched_prefix, upstreams))
            .collect()
    }
}
