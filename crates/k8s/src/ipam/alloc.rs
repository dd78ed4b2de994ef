//! The LB IPAM allocation as a pure function.
//!
//! State lives in the Services' own status (`current`): feeding the output
//! back as `current` gives the same output (stable across restarts), and the
//! order of the inputs does not matter (pools are ordered by age, Services
//! by age then namespace/name).

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use portico_model::core::LabelSelector;

use super::selector;

/// An inclusive address range of one family.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Range {
    pub start: IpAddr,
    pub stop: IpAddr,
}

impl Range {
    fn contains(&self, ip: IpAddr) -> bool {
        ip.is_ipv4() == self.start.is_ipv4() && self.start <= ip && ip <= self.stop
    }

    fn overlaps(&self, other: &Range) -> bool {
        self.start.is_ipv4() == other.start.is_ipv4()
            && self.start <= other.stop
            && other.start <= self.stop
    }

    fn size(&self) -> u128 {
        to_u128(self.stop)
            .saturating_sub(to_u128(self.start))
            .saturating_add(1)
    }
}

fn to_u128(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(v) => u128::from(u32::from(v)),
        IpAddr::V6(v) => u128::from(v),
    }
}

fn from_u128(v4: bool, n: u128) -> Option<IpAddr> {
    if v4 {
        u32::try_from(n).ok().map(|n| IpAddr::V4(n.into()))
    } else {
        Some(IpAddr::V6(n.into()))
    }
}

/// One pool, already parsed.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Pool {
    pub name: String,
    /// `metadata.creationTimestamp` (RFC 3339, sorts by age).
    pub created: String,
    pub ranges: Vec<Range>,
    pub selector: Option<LabelSelector>,
    pub disabled: bool,
}

/// One LoadBalancer Service asking for addresses.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Request {
    pub namespace: String,
    pub name: String,
    pub created: String,
    /// Labels plus `io.kubernetes.service.namespace` / `.name`.
    pub labels: BTreeMap<String, String>,
    /// `lbipam.cilium.io/ips` (or `spec.loadBalancerIP`).
    pub requested: Vec<IpAddr>,
    pub sharing_key: Option<String>,
    /// Namespaces allowed to share (`*` for all), from
    /// `lbipam.cilium.io/sharing-cross-namespace`.
    pub share_with: Vec<String>,
    /// `(protocol, port)` of the Service.
    pub ports: Vec<(String, i32)>,
    /// Whether the Service wants IPv6 (first of `spec.ipFamilies`).
    pub ipv6: bool,
    /// Addresses in its `status.loadBalancer.ingress` now.
    pub current: Vec<IpAddr>,
}

/// Why a request is not satisfied.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unsatisfied {
    /// `no_pool`, `out_of_ips`, `already_allocated`.
    pub reason: &'static str,
    pub message: String,
}

/// Counts and conflicts of one pool.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PoolReport {
    pub total: u128,
    pub used: u128,
    /// The older pool this one overlaps (it then allocates nothing new).
    pub conflict: Option<String>,
}

/// The result: per Service (by index in the input) and per pool (by name).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Allocation {
    pub services: Vec<Result<Vec<IpAddr>, Unsatisfied>>,
    pub pools: BTreeMap<String, PoolReport>,
}

struct Holder {
    namespace: String,
    sharing_key: Option<String>,
    share_with: Vec<String>,
    ports: Vec<(String, i32)>,
}

fn may_share(a: &Holder, b: &Request) -> bool {
    let (Some(ka), Some(kb)) = (&a.sharing_key, &b.sharing_key) else {
        return false;
    };
    if ka != kb {
        return false;
    }
    let namespaces_ok = a.namespace == b.namespace
        || ((a.share_with.iter().any(|n| n == "*" || *n == b.namespace))
            && (b.share_with.iter().any(|n| n == "*" || *n == a.namespace)));
    let ports_clash = a.ports.iter().any(|p| b.ports.contains(p));
    namespaces_ok && !ports_clash
}

/// Allocates addresses for `requests` from `pools`.
pub fn allocate(pools: &[Pool], requests: &[Request]) -> Allocation {
    // Pools by age; a pool overlapping an older one is in conflict.
    let mut pool_order: Vec<usize> = (0..pools.len()).collect();
    pool_order.sort_by(|&a, &b| {
        (&pools[a].created, &pools[a].name).cmp(&(&pools[b].created, &pools[b].name))
    });
    let mut reports: BTreeMap<String, PoolReport> = BTreeMap::new();
    let mut active: Vec<usize> = Vec::new();
    for &i in &pool_order {
        let pool = &pools[i];
        let conflict = active.iter().find(|&&j| {
            pools[j]
                .ranges
                .iter()
                .any(|a| pool.ranges.iter().any(|b| a.overlaps(b)))
        });
        // Overlaps within one pool are not conflicts.
        let conflict = conflict.map(|&j| pools[j].name.clone());
        if conflict.is_none() {
            active.push(i);
        }
        reports.insert(
            pool.name.clone(),
            PoolReport {
                total: pool
                    .ranges
                    .iter()
                    .map(Range::size)
                    .fold(0u128, u128::saturating_add),
                used: 0,
                conflict,
            },
        );
    }
    let selects = |pool: &Pool, r: &Request| selector::matches(pool.selector.as_ref(), &r.labels);
    // May a new address be taken from a pool for this request?
    let allocating = |r: &Request| -> Vec<usize> {
        active
            .iter()
            .copied()
            .filter(|&i| !pools[i].disabled && selects(&pools[i], r))
            .collect()
    };

    let mut order: Vec<usize> = (0..requests.len()).collect();
    order.sort_by(|&a, &b| {
        let (ra, rb) = (&requests[a], &requests[b]);
        (ra.current.is_empty(), &ra.created, &ra.namespace, &ra.name).cmp(&(
            rb.current.is_empty(),
            &rb.created,
            &rb.namespace,
            &rb.name,
        ))
    });
    let mut used: BTreeMap<IpAddr, Vec<Holder>> = BTreeMap::new();
    let mut services: Vec<Result<Vec<IpAddr>, Unsatisfied>> = vec![Ok(vec![]); requests.len()];
    let free_for = |used: &BTreeMap<IpAddr, Vec<Holder>>, ip: &IpAddr, r: &Request| {
        used.get(ip)
            .is_none_or(|holders| holders.iter().all(|h| may_share(h, r)))
    };

    for &i in &order {
        let r = &requests[i];
        let hold = |used: &mut BTreeMap<IpAddr, Vec<Holder>>, ip: IpAddr| {
            used.entry(ip).or_default().push(Holder {
                namespace: r.namespace.clone(),
                sharing_key: r.sharing_key.clone(),
                share_with: r.share_with.clone(),
                ports: r.ports.clone(),
            });
        };
        // 1. Keep what the Service has, if still valid: inside an active pool
        //    selecting it (a pool disabled later keeps its addresses), what
        //    it asked for, and not taken by an older holder.
        let keep: Vec<IpAddr> = r
            .current
            .iter()
            .copied()
            .filter(|ip| {
                active.iter().any(|&p| {
                    selects(&pools[p], r) && pools[p].ranges.iter().any(|g| g.contains(*ip))
                }) && (r.requested.is_empty() || r.requested.contains(ip))
                    && free_for(&used, ip, r)
            })
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let satisfied_by_keep = if r.requested.is_empty() {
            !keep.is_empty()
        } else {
            r.requested.iter().all(|ip| keep.contains(ip))
        };
        if satisfied_by_keep {
            for ip in &keep {
                hold(&mut used, *ip);
            }
            services[i] = Ok(keep);
            continue;
        }
        let candidates = allocating(r);
        // 2. Requested addresses: each inside a pool that may allocate for it.
        if !r.requested.is_empty() {
            let mut out = Vec::new();
            let mut failure = None;
            for ip in &r.requested {
                let in_pool = candidates
                    .iter()
                    .any(|&p| pools[p].ranges.iter().any(|g| g.contains(*ip)));
                if !in_pool {
                    failure = Some(Unsatisfied {
                        reason: "no_pool",
                        message: format!("no enabled pool selecting this Service contains {ip}"),
                    });
                    break;
                }
                if !free_for(&used, ip, r) {
                    failure = Some(Unsatisfied {
                        reason: "already_allocated",
                        message: format!("{ip} is allocated to another Service"),
                    });
                    break;
                }
                out.push(*ip);
            }
            services[i] = match failure {
                Some(f) => Err(f),
                None => {
                    out.sort();
                    out.dedup();
                    for ip in &out {
                        hold(&mut used, *ip);
                    }
                    Ok(out)
                }
            };
            continue;
        }
        if candidates.is_empty() {
            services[i] = Err(Unsatisfied {
                reason: "no_pool",
                message: "no enabled pool selects this Service".into(),
            });
            continue;
        }
        // 3. Sharing: an address already used under the same sharing key.
        let shared = used
            .iter()
            .filter(|(ip, holders)| {
                ip.is_ipv6() == r.ipv6
                    && !holders.is_empty()
                    && holders.iter().all(|h| may_share(h, r))
                    && candidates
                        .iter()
                        .any(|&p| pools[p].ranges.iter().any(|g| g.contains(**ip)))
            })
            .map(|(ip, _)| *ip)
            .next();
        if let Some(ip) = shared {
            hold(&mut used, ip);
            services[i] = Ok(vec![ip]);
            continue;
        }
        // 4. The lowest free address of the oldest pool that has one.
        let mut found = None;
        'pools: for &p in &candidates {
            for range in &pools[p].ranges {
                if range.start.is_ipv6() != r.ipv6 {
                    continue;
                }
                let (lo, hi) = (to_u128(range.start), to_u128(range.stop));
                // Walk past used addresses; at most `used.len() + 1` steps.
                let mut n = lo;
                while n <= hi {
                    let Some(ip) = from_u128(!r.ipv6, n) else {
                        break;
                    };
                    if !used.contains_key(&ip) {
                        found = Some(ip);
                        break 'pools;
                    }
                    n = n.saturating_add(1);
                    if n == u128::MAX {
                        break;
                    }
                }
            }
        }
        services[i] = match found {
            Some(ip) => {
                hold(&mut used, ip);
                Ok(vec![ip])
            }
            None => Err(Unsatisfied {
                reason: "out_of_ips",
                message: "every pool selecting this Service is full".into(),
            }),
        };
    }
    for ip in used.keys() {
        if let Some(pool) = pool_order.iter().map(|&i| &pools[i]).find(|p| {
            p.ranges.iter().any(|g| g.contains(*ip))
                && reports.get(&p.name).is_some_and(|r| r.conflict.is_none())
        }) && let Some(report) = reports.get_mut(&pool.name)
        {
            report.used += 1;
        }
    }
    Allocation {
        services,
        pools: reports,
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn v4(s: &str) -> IpAddr {
        s.parse().expect("ip")
    }

    fn pool(name: &str, created: &str, start: &str, stop: &str) -> Pool {
        Pool {
            name: name.into(),
            created: created.into(),
            ranges: vec![Range {
                start: v4(start),
                stop: v4(stop),
            }],
            ..Pool::default()
        }
    }

    fn svc(ns: &str, name: &str, created: &str) -> Request {
        Request {
            namespace: ns.into(),
            name: name.into(),
            created: created.into(),
            ports: vec![("TCP".into(), 80)],
            ..Request::default()
        }
    }

    #[test]
    fn lowest_free_address_in_age_order() {
        let pools = [pool("p", "1", "10.0.0.1", "10.0.0.3")];
        let out = allocate(&pools, &[svc("a", "b", "2"), svc("a", "a", "1")]);
        assert_eq!(out.services[1], Ok(vec![v4("10.0.0.1")]));
        assert_eq!(out.services[0], Ok(vec![v4("10.0.0.2")]));
        assert_eq!(out.pools["p"].used, 2);
        assert_eq!(out.pools["p"].total, 3);
    }

    #[test]
    fn requested_outside_every_pool_is_no_pool() {
        let pools = [pool("p", "1", "10.0.0.1", "10.0.0.3")];
        let mut s = svc("a", "a", "1");
        s.requested = vec![v4("192.168.0.1")];
        let out = allocate(&pools, &[s]);
        assert_eq!(
            out.services[0].as_ref().map_err(|e| e.reason),
            Err("no_pool")
        );
    }

    #[test]
    fn newer_overlapping_pool_conflicts_and_does_not_allocate() {
        let pools = [
            pool("new", "2", "10.0.0.1", "10.0.0.9"),
            pool("old", "1", "10.0.0.1", "10.0.0.1"),
        ];
        let out = allocate(&pools, &[svc("a", "a", "1"), svc("a", "b", "2")]);
        assert_eq!(out.pools["new"].conflict.as_deref(), Some("old"));
        assert_eq!(out.services[0], Ok(vec![v4("10.0.0.1")]));
        assert_eq!(
            out.services[1].as_ref().map_err(|e| e.reason),
            Err("out_of_ips")
        );
    }

    #[test]
    fn sharing_key_shares_when_ports_do_not_clash() {
        let pools = [pool("p", "1", "10.0.0.1", "10.0.0.9")];
        let mut a = svc("a", "a", "1");
        a.sharing_key = Some("k".into());
        let mut b = svc("a", "b", "2");
        b.sharing_key = Some("k".into());
        b.ports = vec![("TCP".into(), 443)];
        let mut c = svc("a", "c", "3");
        c.sharing_key = Some("k".into());
        let mut d = svc("other", "d", "4");
        d.sharing_key = Some("k".into());
        d.ports = vec![("UDP".into(), 53)];
        let out = allocate(&pools, &[a, b, c, d]);
        assert_eq!(out.services[0], Ok(vec![v4("10.0.0.1")]));
        assert_eq!(out.services[1], Ok(vec![v4("10.0.0.1")]));
        // Port 80 clashes with `a`: a second address joins the key's set.
        assert_eq!(out.services[2], Ok(vec![v4("10.0.0.2")]));
        // Another namespace without sharing-cross-namespace: own address.
        assert_eq!(out.services[3], Ok(vec![v4("10.0.0.3")]));
    }

    #[test]
    fn selector_and_disabled_pools() {
        let mut p = pool("p", "1", "10.0.0.1", "10.0.0.9");
        p.selector = Some(LabelSelector {
            match_labels: Some(BTreeMap::from([(
                "io.kubernetes.service.namespace".to_string(),
                "a".to_string(),
            )])),
            match_expressions: None,
        });
        let mut d = pool("d", "2", "10.1.0.1", "10.1.0.9");
        d.disabled = true;
        let mut s = svc("a", "x", "1");
        s.labels
            .insert("io.kubernetes.service.namespace".into(), "a".into());
        let mut t = svc("b", "y", "1");
        t.labels
            .insert("io.kubernetes.service.namespace".into(), "b".into());
        let out = allocate(&[p, d], &[s, t]);
        assert_eq!(out.services[0], Ok(vec![v4("10.0.0.1")]));
        assert_eq!(
            out.services[1].as_ref().map_err(|e| e.reason),
            Err("no_pool")
        );
    }

    fn arb_case() -> impl Strategy<Value = (Vec<Pool>, Vec<Request>)> {
        let pools =
            prop::collection::vec((0u8..4, 0u8..20, 0u8..8, any::<bool>()), 1..4).prop_map(|ps| {
                ps.into_iter()
                    .enumerate()
                    .map(|(i, (created, start, len, disabled))| Pool {
                        name: format!("p{i}"),
                        created: created.to_string(),
                        ranges: vec![Range {
                            start: IpAddr::V4([10, 0, 0, start].into()),
                            stop: IpAddr::V4([10, 0, 0, start.saturating_add(len)].into()),
                        }],
                        selector: None,
                        disabled,
                    })
                    .collect()
            });
        let requests = prop::collection::vec(
            (
                0u8..4,
                prop::option::of(0u8..2),
                0u8..3,
                prop::option::of(0u8..30),
            ),
            0..12,
        )
        .prop_map(|rs| {
            rs.into_iter()
                .enumerate()
                .map(|(i, (created, key, port, want))| Request {
                    namespace: "ns".into(),
                    name: format!("s{i}"),
                    created: created.to_string(),
                    sharing_key: key.map(|k| format!("k{k}")),
                    ports: vec![("TCP".into(), i32::from(port))],
                    requested: want
                        .map(|w| vec![IpAddr::V4([10, 0, 0, w].into())])
                        .unwrap_or_default(),
                    ..Request::default()
                })
                .collect()
        });
        (pools, requests)
    }

    fn holders(out: &Allocation) -> BTreeMap<IpAddr, Vec<usize>> {
        let mut by_ip: BTreeMap<IpAddr, Vec<usize>> = BTreeMap::new();
        for (i, r) in out.services.iter().enumerate() {
            for ip in r.as_ref().map(|v| v.as_slice()).unwrap_or_default() {
                by_ip.entry(*ip).or_default().push(i);
            }
        }
        by_ip
    }

    proptest! {
        #[test]
        fn never_given_twice_unless_shared((pools, requests) in arb_case()) {
            let out = allocate(&pools, &requests);
            for (ip, users) in holders(&out) {
                for (x, &a) in users.iter().enumerate() {
                    for &b in &users[x + 1..] {
                        let (ra, rb) = (&requests[a], &requests[b]);
                        prop_assert!(ra.sharing_key.is_some() && ra.sharing_key == rb.sharing_key, "{ip} given to {a} and {b}");
                        prop_assert!(!ra.ports.iter().any(|p| rb.ports.contains(p)), "{ip}: port clash");
                    }
                }
            }
        }

        #[test]
        fn always_inside_an_enabled_non_conflicting_pool((pools, requests) in arb_case()) {
            let out = allocate(&pools, &requests);
            for ip in holders(&out).keys() {
                let ok = pools.iter().any(|p| !p.disabled
                    && out.pools[&p.name].conflict.is_none()
                    && p.ranges.iter().any(|r| r.contains(*ip)));
                prop_assert!(ok, "{ip} outside every pool");
            }
        }

        #[test]
        fn stable_under_restart_and_input_order((pools, mut requests) in arb_case()) {
            let first = allocate(&pools, &requests);
            // Restart: the Services' status now holds the first result.
            for (r, out) in requests.iter_mut().zip(&first.services) {
                r.current = out.clone().unwrap_or_default();
            }
            let second = allocate(&pools, &requests);
            prop_assert_eq!(&first.services, &second.services);
            // Same input, reversed order: same per-Service result.
            let mut reversed = requests.clone();
            reversed.reverse();
            let mut pools_rev = pools.clone();
            pools_rev.reverse();
            let third = allocate(&pools_rev, &reversed);
            let mut third_services = third.services.clone();
            third_services.reverse();
            prop_assert_eq!(&second.services, &third_services);
        }
    }
}
