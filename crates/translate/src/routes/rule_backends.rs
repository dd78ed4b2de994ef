//! The weighted backends of an HTTPRoute / GRPCRoute rule.

use portico_ir::{BackendTarget, WeightedBackend};
use portico_model::gateway::HttpRouteRulesFilters as RuleFilter;

use super::backends::{self, BackendRef};
use super::compiled::Compiled;
use super::filters;
use super::index::Index;
use super::problem::{Problem, Scope};
use super::view::RouteMeta;

/// Resolves every backendRef (with its weight and its own filters). A
/// reference that does not resolve keeps its weight with an invalid target,
/// so only the requests sent to it fail, and the first such problem becomes
/// the route's `ResolvedRefs` condition. A problem that invalidates the rule
/// (an unsupported backend filter) is returned.
pub fn weighted<'s, 'r>(
    index: &Index<'s>,
    meta: &RouteMeta,
    refs: impl Iterator<
        Item = (
            BackendRef<'r>,
            Option<i32>,
            Result<Vec<RuleFilter>, Problem>,
        ),
    >,
    out: &mut Compiled<'s>,
) -> Result<Vec<WeightedBackend>, Problem> {
    let mut list = Vec::new();
    for (r, weight, backend_filters) in refs {
        let resolved = backends::resolve(index, meta, r, &mut out.needs);
        let translated =
            backend_filters.and_then(|fs| filters::translate_all(index, meta, &fs, out));
        let (target, filters) = match (resolved, translated) {
            (Ok(id), Ok(fs)) => (BackendTarget::Cluster(id), fs),
            (_, Err(p)) if p.scope == Scope::Rule => return Err(p),
            (Err(p), _) | (Ok(_), Err(p)) => {
                let target = backends::target(&Err(p.clone()));
                out.record(0, &p);
                (target, Vec::new())
            }
        };
        list.push(WeightedBackend {
            weight: backends::weight(weight),
            target,
            filters,
        });
    }
    Ok(list)
}
