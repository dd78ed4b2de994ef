//! Hostname intersection between a listener and a route.
//!
//! Both sides may be exact names or `*.`-wildcards (a wildcard matches one or
//! more labels in front of its suffix), and either side may be absent (any
//! host). The intersection is the set of hosts both accept, which is again a
//! single [`HostMatch`]: the more specific of the two when one contains the
//! other, nothing otherwise.

use portico_ir::HostMatch;

/// Hosts matched by both `a` and `b`, or `None` when no host matches both.
/// Symmetric: `intersect(a, b) == intersect(b, a)`.
pub fn intersect(a: &HostMatch, b: &HostMatch) -> Option<HostMatch> {
    match (a, b) {
        (HostMatch::Any, other) | (other, HostMatch::Any) => Some(other.clone()),
        (HostMatch::Exact(x), HostMatch::Exact(y)) => x.eq_ignore_ascii_case(y).then(|| a.clone()),
        (HostMatch::Exact(host), wild @ HostMatch::Wildcard(_))
        | (wild @ HostMatch::Wildcard(_), HostMatch::Exact(host)) => {
            wild.matches(host).then(|| HostMatch::Exact(host.clone()))
        }
        (HostMatch::Wildcard(x), HostMatch::Wildcard(y)) => {
            // `.b.example.com` is inside `.example.com`: the longer suffix wins.
            if ends_with_ignore_case(x, y) {
                Some(a.clone())
            } else if ends_with_ignore_case(y, x) {
                Some(b.clone())
            } else {
                None
            }
        }
    }
}

fn ends_with_ignore_case(s: &str, suffix: &str) -> bool {
    s.len() >= suffix.len()
        && s.get(s.len() - suffix.len()..)
            .is_some_and(|tail| tail.eq_ignore_ascii_case(suffix))
}

/// The effective hostnames of a route on a listener: every non-empty
/// intersection of the route's hostnames with the listener's, without
/// duplicates, most specific first. A route without hostnames takes the
/// listener's. Empty means the route does not match the listener.
pub fn effective(listener: &HostMatch, route_hostnames: &[String]) -> Vec<HostMatch> {
    if route_hostnames.is_empty() {
        return vec![listener.clone()];
    }
    let mut out: Vec<HostMatch> = Vec::new();
    for hostname in route_hostnames {
        let route = HostMatch::parse(Some(hostname));
        if let Some(host) = intersect(listener, &route)
            && !out.contains(&host)
        {
            out.push(host);
        }
    }
    sort_most_specific_first(&mut out);
    out
}

/// Sorts exact names first, then wildcards by suffix length, then `Any`;
/// ties alphabetically so the order is total.
pub fn sort_most_specific_first(hosts: &mut [HostMatch]) {
    hosts.sort_by(|a, b| {
        b.specificity()
            .cmp(&a.specificity())
            .then_with(|| a.to_string().cmp(&b.to_string()))
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(s: &str) -> HostMatch {
        HostMatch::parse(if s.is_empty() { None } else { Some(s) })
    }

    #[test]
    fn intersections() {
        let cases = [
            ("", "a.example.com", Some("a.example.com")),
            ("*.example.com", "", Some("*.example.com")),
            ("a.example.com", "a.example.com", Some("a.example.com")),
            ("a.example.com", "b.example.com", None),
            ("*.example.com", "a.example.com", Some("a.example.com")),
            ("*.example.com", "example.com", None),
            ("*.example.com", "*.a.example.com", Some("*.a.example.com")),
            ("*.example.com", "*.example.com", Some("*.example.com")),
            ("*.example.com", "*.example.org", None),
            ("*.com", "*.example.com", Some("*.example.com")),
            ("*.xample.com", "*.example.com", None),
            ("A.Example.COM", "*.example.com", Some("a.example.com")),
        ];
        for (l, r, want) in cases {
            let want = want.map(h);
            assert_eq!(intersect(&h(l), &h(r)), want, "{l} x {r}");
            assert_eq!(intersect(&h(r), &h(l)), want, "{r} x {l}");
        }
    }

    #[test]
    fn effective_hostnames_dedup_and_order() {
        let listener = h("*.example.com");
        let got = effective(
            &listener,
            &[
                "*.example.com".into(),
                "foo.example.com".into(),
                "other.org".into(),
                "FOO.example.com".into(),
            ],
        );
        assert_eq!(got, vec![h("foo.example.com"), h("*.example.com")]);
        assert_eq!(effective(&listener, &[]), vec![listener.clone()]);
        assert!(effective(&listener, &["x.org".into()]).is_empty());
    }
}
