//! TLSRoute / TCPRoute / UDPRoute backends, and the one route that serves a
//! TCP or UDP listener.

use portico_ir::{L4Route, WeightedBackend};

use super::backends::{self, BackendRef};
use super::compiled::Compiled;
use super::index::Index;
use super::view::{AgeKey, RouteMeta};

/// Compiles the backendRefs of every rule (`rules[].backendRefs`, each with
/// its weight) into one weighted list. Unresolvable references stay in the
/// list as invalid targets: connections picking them are closed.
pub fn compile<'s, 'r>(
    index: &Index<'s>,
    meta: &RouteMeta,
    rule_count: usize,
    refs: impl Iterator<Item = (BackendRef<'r>, Option<i32>)>,
) -> Compiled<'s> {
    let mut out = Compiled {
        rule_count,
        ..Compiled::default()
    };
    for (r, weight) in refs {
        let resolved = backends::resolve(index, meta, r, &mut out.needs);
        if let Err(p) = &resolved {
            out.record(0, p);
        }
        out.backends.push(WeightedBackend {
            weight: backends::weight(weight),
            target: backends::target(&resolved),
            filters: Vec::new(),
        });
    }
    out
}

/// The oldest attached route serves the listener (creation time, then
/// namespace/name); the others are attached but get no traffic.
pub fn oldest<'a>(
    candidates: impl Iterator<Item = (&'a AgeKey, &'a RouteMeta, &'a [WeightedBackend])>,
) -> Option<L4Route> {
    candidates
        .min_by(|a, b| a.0.cmp(b.0))
        .map(|(_, meta, backends)| L4Route {
            route: meta.object_ref(),
            backends: backends.to_vec(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::routes::view::RouteKind;

    fn meta(name: &str, ts: Option<&str>) -> RouteMeta {
        let mut m = RouteMeta::new(RouteKind::Tcp, &Default::default(), vec![], vec![]);
        m.name = name.into();
        m.created = ts.and_then(|t| serde_json::from_value(serde_json::json!(t)).ok());
        m
    }

    #[test]
    fn oldest_route_wins_then_name() {
        let a = meta("a", Some("2024-02-01T00:00:00Z"));
        let b = meta("b", Some("2024-01-01T00:00:00Z"));
        let c = meta("c", Some("2024-01-01T00:00:00Z"));
        let keys = [a.age_key(), b.age_key(), c.age_key()];
        let list = [(&keys[0], &a), (&keys[2], &c), (&keys[1], &b)];
        let got = oldest(list.iter().map(|(k, m)| (*k, *m, &[][..]))).unwrap();
        assert_eq!(got.route.name, "b");
    }
}
