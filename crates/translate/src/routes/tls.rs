//! TLSRoutes on a TLS listener → [`SniRoute`]s, most specific hostname first.

use portico_ir::{HostMatch, SniRoute, WeightedBackend};

use super::view::{AgeKey, RouteMeta};

/// One SNI entry per (route, effective hostname), sorted so the data plane
/// can take the first match: exact names, longer wildcards, then `Any`;
/// for the same hostname the oldest route wins.
pub fn sni_routes<'a>(
    attached: impl Iterator<
        Item = (
            &'a AgeKey,
            &'a RouteMeta,
            &'a [HostMatch],
            &'a [WeightedBackend],
        ),
    >,
) -> Vec<SniRoute> {
    let mut entries: Vec<(&HostMatch, &AgeKey, &RouteMeta, &[WeightedBackend])> = Vec::new();
    for (age, meta, hosts, backends) in attached {
        for host in hosts {
            entries.push((host, age, meta, backends));
        }
    }
    entries.sort_by(|a, b| {
        b.0.specificity()
            .cmp(&a.0.specificity())
            .then_with(|| a.0.to_string().cmp(&b.0.to_string()))
            .then_with(|| a.1.cmp(b.1))
    });
    entries
        .into_iter()
        .map(|(host, _, meta, backends)| SniRoute {
            route: meta.object_ref(),
            hostnames: vec![host.clone()],
            backends: backends.to_vec(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::routes::view::RouteKind;

    #[test]
    fn most_specific_first_then_oldest() {
        let mut old = RouteMeta::new(RouteKind::Tls, &Default::default(), vec![], vec![]);
        old.name = "old".into();
        old.created = serde_json::from_value(serde_json::json!("2020-01-01T00:00:00Z")).ok();
        let mut new = old.clone();
        new.name = "new".into();
        new.created = serde_json::from_value(serde_json::json!("2021-01-01T00:00:00Z")).ok();
        let (ka, kb) = (old.age_key(), new.age_key());
        let wild = [HostMatch::parse(Some("*.example.com"))];
        let both = [HostMatch::parse(Some("a.example.com")), HostMatch::Any];
        let got = sni_routes(
            [
                (&kb, &new, &both[..], &[][..]),
                (&ka, &old, &wild[..], &[][..]),
                (&ka, &old, &both[..1], &[][..]),
            ]
            .into_iter(),
        );
        let order: Vec<(String, String)> = got
            .iter()
            .map(|s| (s.hostnames[0].to_string(), s.route.name.clone()))
            .collect();
        assert_eq!(
            order,
            vec![
                ("a.example.com".into(), "old".into()),
                ("a.example.com".into(), "new".into()),
                ("*.example.com".into(), "old".into()),
                ("*".into(), "new".into()),
            ]
        );
    }
}
