//! HTTPRoute / GRPCRoute hostname conflicts on one listener.
//!
//! The spec: when a listener has routes of both kinds attached whose
//! hostnames intersect, exactly one of each conflicting pair is accepted:
//! the older route (creation time, then `{namespace}/{name}`); the other is
//! not accepted on that listener.

use std::collections::{HashMap, HashSet};

use portico_ir::HostMatch;

use super::hostnames::intersect;
use super::view::AgeKey;

/// One HTTP or gRPC route attached (so far) to one listener.
pub struct Candidate<'a> {
    pub entry: usize,
    pub grpc: bool,
    pub age: &'a AgeKey,
    pub listener: (usize, usize),
    pub hostnames: &'a [HostMatch],
}

/// The (entry, gateway, listener) attachments to drop.
pub fn rejected(candidates: Vec<Candidate<'_>>) -> HashSet<(usize, usize, usize)> {
    let mut by_listener: HashMap<(usize, usize), Vec<Candidate<'_>>> = HashMap::new();
    for c in candidates {
        by_listener.entry(c.listener).or_default().push(c);
    }
    let mut out = HashSet::new();
    for ((g, l), mut list) in by_listener {
        if !(list.iter().any(|c| c.grpc) && list.iter().any(|c| !c.grpc)) {
            continue; // One kind only: nothing can conflict.
        }
        list.sort_by(|a, b| a.age.cmp(b.age).then(a.entry.cmp(&b.entry)));
        let mut accepted: [Vec<&[HostMatch]>; 2] = [Vec::new(), Vec::new()];
        for c in &list {
            let other = &accepted[usize::from(!c.grpc)];
            let clash = other.iter().any(|hosts| {
                hosts
                    .iter()
                    .any(|h| c.hostnames.iter().any(|m| intersect(h, m).is_some()))
            });
            if clash {
                out.insert((c.entry, g, l));
            } else {
                accepted[usize::from(c.grpc)].push(c.hostnames);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn age(name: &str) -> AgeKey {
        AgeKey {
            undated: true,
            created: None,
            namespace: "ns".into(),
            name: name.into(),
        }
    }

    #[test]
    fn older_route_of_the_other_kind_wins_intersecting_hostnames() {
        let (a, b, c, d) = (age("a"), age("b"), age("c"), age("d"));
        let wild = [HostMatch::parse(Some("*.example.com"))];
        let foo = [HostMatch::parse(Some("foo.example.com"))];
        let other = [HostMatch::parse(Some("other.org"))];
        let got = rejected(vec![
            Candidate {
                entry: 0,
                grpc: false,
                age: &b,
                listener: (0, 0),
                hostnames: &foo,
            },
            Candidate {
                entry: 1,
                grpc: true,
                age: &a,
                listener: (0, 0),
                hostnames: &wild,
            },
            Candidate {
                entry: 2,
                grpc: false,
                age: &c,
                listener: (0, 0),
                hostnames: &other,
            },
            // Same kind never conflicts; another listener is independent.
            Candidate {
                entry: 3,
                grpc: true,
                age: &d,
                listener: (0, 0),
                hostnames: &foo,
            },
            Candidate {
                entry: 0,
                grpc: false,
                age: &b,
                listener: (0, 1),
                hostnames: &foo,
            },
        ]);
        assert_eq!(got, HashSet::from([(0, 0, 0)]));
    }
}
