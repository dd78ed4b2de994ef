//! LB IPAM core: address pools and a deterministic, stable allocator.
//!
//! Requests are served oldest Gateway first (creationTimestamp, then
//! namespace/name), each taking the first free address of the first pool that
//! selects it, so adding a younger Gateway never moves an older one. Static
//! requests (`spec.addresses`, the `lbipam.cilium.io/ips` annotation) are
//! honoured when the address is usable and not already taken.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::IpNet;
use portico_model::LoadBalancerIpPool;

use super::selector::Selector;

/// Label keys a pool's `serviceSelector` may use to pick one Gateway.
pub const SERVICE_NAMESPACE_LABEL: &str = "io.kubernetes.service.namespace";
pub const SERVICE_NAME_LABEL: &str = "io.kubernetes.service.name";

/// An inclusive address range of one family.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Range {
    pub first: IpAddr,
    pub last: IpAddr,
}

impl Range {
    fn contains(&self, ip: IpAddr) -> bool {
        same_family(self.first, ip) && num(self.first) <= num(ip) && num(ip) <= num(self.last)
    }

    /// Addresses in order, lazily.
    fn iter(&self) -> impl Iterator<Item = IpAddr> + '_ {
        let v4 = self.first.is_ipv4();
        (num(self.first)..=num(self.last)).map(move |n| from_num(n, v4))
    }

    fn from_net(net: IpNet, allow_first_last: bool) -> Range {
        let (mut first, mut last) = (num(net.network()), num(net.broadcast()));
        let tiny = match net {
            IpNet::V4(n) => n.prefix_len() >= 31,
            IpNet::V6(n) => n.prefix_len() >= 127,
        };
        if !allow_first_last && !tiny {
            first += 1;
            last -= 1;
        }
        let v4 = net.addr().is_ipv4();
        Range {
            first: from_num(first, v4),
            last: from_num(last, v4),
        }
    }
}

fn same_family(a: IpAddr, b: IpAddr) -> bool {
    a.is_ipv4() == b.is_ipv4()
}

fn num(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(v4) => u128::from(u32::from(v4)),
        IpAddr::V6(v6) => u128::from(v6),
    }
}

fn from_num(n: u128, v4: bool) -> IpAddr {
    if v4 {
        IpAddr::V4(Ipv4Addr::from(u32::try_from(n).unwrap_or(u32::MAX)))
    } else {
        IpAddr::V6(Ipv6Addr::from(n))
    }
}

/// One address pool.
#[derive(Clone, Debug, PartialEq)]
pub struct Pool {
    /// Pool object name; `None` for the built-in default pool.
    pub name: Option<String>,
    pub ranges: Vec<Range>,
    /// `None`: selects every Gateway.
    pub selector: Option<Selector>,
    pub disabled: bool,
}

impl Pool {
    /// Builds a pool from its object; malformed blocks are skipped (logged).
    pub fn from_object(pool: &LoadBalancerIpPool) -> Pool {
        let name = pool.metadata.name.clone().unwrap_or_default();
        let allow_first_last = pool.spec.allow_first_last_ips.as_deref() != Some("No");
        let mut ranges = Vec::new();
        for block in &pool.spec.blocks {
            let range = match (&block.cidr, &block.start, &block.stop) {
                (Some(cidr), _, _) => cidr
                    .parse::<IpNet>()
                    .ok()
                    .map(|net| Range::from_net(net.trunc(), allow_first_last)),
                (None, Some(start), stop) => {
                    let first = start.parse::<IpAddr>().ok();
                    let last = match stop {
                        Some(s) => s.parse::<IpAddr>().ok(),
                        None => first,
                    };
                    match (first, last) {
                        (Some(f), Some(l)) if same_family(f, l) && num(f) <= num(l) => {
                            Some(Range { first: f, last: l })
                        }
                        _ => None,
                    }
                }
                _ => None,
            };
            match range {
                Some(r) => ranges.push(r),
                None => {
                    tracing::warn!(pool = %name, ?block, "skipping malformed address pool block")
                }
            }
        }
        Pool {
            name: Some(name),
            ranges,
            selector: pool.spec.service_selector.as_ref().map(Selector::from),
            disabled: pool.spec.disabled,
        }
    }

    /// The built-in pool from `Options::default_pool` (network and broadcast
    /// addresses of each block are left out).
    pub fn default_pool(nets: &[IpNet]) -> Pool {
        Pool {
            name: None,
            ranges: nets
                .iter()
                .map(|n| Range::from_net(n.trunc(), false))
                .collect(),
            selector: None,
            disabled: false,
        }
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        self.ranges.iter().any(|r| r.contains(ip))
    }

    fn selects(&self, labels: &BTreeMap<String, String>) -> bool {
        self.selector
            .as_ref()
            .is_none_or(|s| s.matches(labels).unwrap_or(false))
    }
}

/// What a Gateway asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Wants {
    /// One address from a pool.
    Dynamic,
    /// Exactly these addresses, plus `extra_dynamic` from a pool.
    Static {
        addresses: Vec<IpAddr>,
        extra_dynamic: bool,
    },
}

/// One Gateway's request, in allocation order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request {
    /// Labels the pool selectors see (infrastructure labels plus the
    /// service namespace/name keys).
    pub labels: BTreeMap<String, String>,
    pub wants: Wants,
}

/// The result for one request.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Assignment {
    pub addresses: Vec<IpAddr>,
    /// Static addresses that could not be honoured, with the reason.
    pub unusable: Vec<(IpAddr, String)>,
    /// A dynamic address was wanted but every selecting pool is full.
    pub exhausted: bool,
}

/// Allocates addresses for `requests` (already in age order). `pools` are the
/// pool objects; `default` is used when no pool object selects a request.
pub fn allocate(
    requests: &[Request],
    pools: &[Pool],
    default: &Pool,
    usable: Option<fn(&IpAddr) -> bool>,
) -> Vec<Assignment> {
    let mut taken: BTreeSet<IpAddr> = BTreeSet::new();
    requests
        .iter()
        .map(|req| {
            let mut out = Assignment::default();
            let dynamic = match &req.wants {
                Wants::Dynamic => true,
                Wants::Static {
                    addresses,
                    extra_dynamic,
                } => {
                    for ip in addresses {
                        let in_pool = pools.iter().any(|p| !p.disabled && p.contains(*ip))
                            || default.contains(*ip);
                        let allowed = in_pool || usable.is_some_and(|f| f(ip));
                        if !allowed {
                            out.unusable.push((
                                *ip,
                                "not in any address pool and not usable by the data plane".into(),
                            ));
                        } else if taken.contains(ip) || out.addresses.contains(ip) {
                            out.unusable
                                .push((*ip, "already assigned to another Gateway".into()));
                        } else {
                            taken.insert(*ip);
                            out.addresses.push(*ip);
                        }
                    }
                    *extra_dynamic
                }
            };
            if dynamic {
                let mut candidates: Vec<&Pool> = pools
                    .iter()
                    .filter(|p| !p.disabled && p.selects(&req.labels))
                    .collect();
                if candidates.is_empty() {
                    candidates.push(default);
                }
                let free = candidates
                    .iter()
                    .flat_map(|p| p.ranges.iter())
                    .flat_map(Range::iter)
                    .find(|ip| !taken.contains(ip));
                match free {
                    Some(ip) => {
                        taken.insert(ip);
                        out.addresses.push(ip);
                    }
                    None => out.exhausted = true,
                }
            }
            out
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn v4(a: u8, b: u8, c: u8, d: u8) -> IpAddr {
        IpAddr::V4(Ipv4Addr::new(a, b, c, d))
    }

    fn range(first: IpAddr, last: IpAddr) -> Range {
        Range { first, last }
    }

    fn labels(ns: &str, name: &str) -> BTreeMap<String, String> {
        BTreeMap::from([
            (SERVICE_NAMESPACE_LABEL.to_string(), ns.to_string()),
            (SERVICE_NAME_LABEL.to_string(), name.to_string()),
        ])
    }

    #[test]
    fn cidr_first_last_handling() {
        let net: IpNet = "10.0.0.0/30".parse().expect("net");
        assert_eq!(
            Range::from_net(net, true),
            range(v4(10, 0, 0, 0), v4(10, 0, 0, 3))
        );
        assert_eq!(
            Range::from_net(net, false),
            range(v4(10, 0, 0, 1), v4(10, 0, 0, 2))
        );
        let tiny: IpNet = "10.0.0.8/32".parse().expect("net");
        assert_eq!(
            Range::from_net(tiny, false),
            range(v4(10, 0, 0, 8), v4(10, 0, 0, 8))
        );
    }

    #[test]
    fn default_pool_skips_network_address_and_selectors_pick_pools() {
        let default = Pool::default_pool(&["127.10.0.0/24".parse().expect("net")]);
        let mut special = Pool {
            name: Some("special".into()),
            ranges: vec![range(v4(10, 1, 0, 5), v4(10, 1, 0, 5))],
            selector: Some(Selector {
                match_labels: BTreeMap::from([(SERVICE_NAME_LABEL.to_string(), "b".to_string())]),
                ..Selector::default()
            }),
            disabled: false,
        };
        let reqs = vec![
            Request {
                labels: labels("ns", "a"),
                wants: Wants::Dynamic,
            },
            Request {
                labels: labels("ns", "b"),
                wants: Wants::Dynamic,
            },
            Request {
                labels: labels("ns", "c"),
                wants: Wants::Dynamic,
            },
        ];
        let out = allocate(&reqs, std::slice::from_ref(&special), &default, None);
        let got: Vec<_> = out.iter().map(|a| a.addresses.clone()).collect();
        assert_eq!(
            got,
            vec![
                vec![v4(127, 10, 0, 1)],
                vec![v4(10, 1, 0, 5)],
                vec![v4(127, 10, 0, 2)]
            ]
        );
        special.disabled = true;
        let out = allocate(&reqs, &[special], &default, None);
        assert_eq!(out[1].addresses, vec![v4(127, 10, 0, 2)]);
    }

    #[test]
    fn static_addresses_checked_for_usability_and_reuse() {
        let default = Pool::default_pool(&["127.10.0.0/24".parse().expect("net")]);
        let reqs = vec![
            Request {
                labels: labels("ns", "a"),
                wants: Wants::Static {
                    addresses: vec![v4(127, 10, 0, 1)],
                    extra_dynamic: false,
                },
            },
            Request {
                labels: labels("ns", "b"),
                wants: Wants::Static {
                    addresses: vec![v4(127, 10, 0, 1), v4(203, 0, 113, 5), v4(127, 0, 0, 9)],
                    extra_dynamic: true,
                },
            },
        ];
        let out = allocate(&reqs, &[], &default, Some(|ip| ip.is_loopback()));
        assert_eq!(out[0].addresses, vec![v4(127, 10, 0, 1)]);
        assert_eq!(out[1].addresses, vec![v4(127, 0, 0, 9), v4(127, 10, 0, 2)]);
        let bad: Vec<_> = out[1].unusable.iter().map(|(ip, _)| *ip).collect();
        assert_eq!(bad, vec![v4(127, 10, 0, 1), v4(203, 0, 113, 5)]);
    }

    #[test]
    fn exhaustion_is_reported() {
        let default = Pool {
            name: None,
            ranges: vec![range(v4(10, 0, 0, 1), v4(10, 0, 0, 1))],
            selector: None,
            disabled: false,
        };
        let reqs = vec![
            Request {
                labels: labels("ns", "a"),
                wants: Wants::Dynamic
            };
            2
        ];
        let out = allocate(&reqs, &[], &default, None);
        assert!(!out[0].exhausted);
        assert!(out[1].exhausted && out[1].addresses.is_empty());
    }

    fn arb_pool() -> impl Strategy<Value = Pool> {
        (
            0u8..4,
            0u8..20,
            0u8..6,
            any::<bool>(),
            proptest::option::of(0u8..4),
        )
            .prop_map(|(net, start, len, disabled, sel)| Pool {
                name: Some(format!("p{net}-{start}")),
                ranges: vec![range(v4(10, net, 0, start), v4(10, net, 0, start + len))],
                selector: sel.map(|s| Selector {
                    match_labels: BTreeMap::from([("team".to_string(), s.to_string())]),
                    ..Selector::default()
                }),
                disabled,
            })
    }

    fn arb_request() -> impl Strategy<Value = Request> {
        let wants = prop_oneof![
            Just(Wants::Dynamic),
            (
                proptest::collection::vec((0u8..4, 0u8..30), 0..3),
                any::<bool>()
            )
                .prop_map(|(ips, extra_dynamic)| Wants::Static {
                    addresses: ips.into_iter().map(|(n, h)| v4(10, n, 0, h)).collect(),
                    extra_dynamic,
                }),
        ];
        (0u8..4, wants).prop_map(|(team, wants)| Request {
            labels: BTreeMap::from([("team".to_string(), team.to_string())]),
            wants,
        })
    }

    proptest! {
        #[test]
        fn allocation_is_unique_inside_pools_and_stable(
            pools in proptest::collection::vec(arb_pool(), 0..4),
            requests in proptest::collection::vec(arb_request(), 1..12),
            younger in arb_request(),
        ) {
            let default = Pool {
                name: None,
                ranges: vec![range(v4(10, 9, 0, 1), v4(10, 9, 0, 6))],
                selector: None,
                disabled: false,
            };
            let out = allocate(&requests, &pools, &default, None);
            let mut seen = BTreeSet::new();
            for a in &out {
                for ip in &a.addresses {
                    prop_assert!(seen.insert(*ip), "{ip} handed out twice");
                    prop_assert!(
                        default.contains(*ip) || pools.iter().any(|p| !p.disabled && p.contains(*ip)),
                        "{ip} outside every pool"
                    );
                }
            }
            let mut more = requests.clone();
            more.push(younger);
            let out2 = allocate(&more, &pools, &default, None);
            prop_assert_eq!(&out2[..out.len()], &out[..]);
        }
    }
}
