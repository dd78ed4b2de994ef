//! The load-balancer state as the kernel maps should hold it, planned from the
//! IR's [`ServiceFrontend`]s. Ids (backend ids, rev-NAT ids) are kept stable
//! across plans so that unchanged services produce no map writes.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;

use portico_ir::{FrontendKind, L4Protocol, LbAlgorithm, ServiceFrontend};
use portico_maglev::{Backend, Table, TableSize};

use crate::maps::{
    ALG_MAGLEV, ALG_RANDOM, BACKEND_ACTIVE, BACKEND_TERMINATING, FLAG_AFFINITY, FLAG_EXTERNAL_IP,
    FLAG_LOADBALANCER, FLAG_NODEPORT, PROTO_SCTP, PROTO_TCP, PROTO_UDP,
};

/// A service frontend: VIP, port and IP protocol (either address family;
/// the kernel side keeps one services map per family).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ServiceKey {
    pub frontend: SocketAddr,
    pub proto: u8,
}

impl ServiceKey {
    /// The services-map entry of `slot` (0 is the master entry).
    pub fn slot(self, slot: u16) -> SlotKey {
        SlotKey {
            service: self,
            slot,
        }
    }
}

/// One entry of a services map: a frontend and a slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SlotKey {
    pub service: ServiceKey,
    pub slot: u16,
}

/// A backend: address, IP protocol and state (active or terminating).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct BackendEntry {
    pub addr: SocketAddr,
    pub proto: u8,
    pub state: u8,
}

/// One frontend with everything its map entries need.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServiceState {
    /// `kind/namespace/name` of the Service, for listings (not in the kernel).
    pub name: String,
    pub rev_nat_id: u16,
    pub flags: u8,
    pub algorithm: u8,
    pub affinity_timeout: u32,
    /// The backends that take new connections, in order.
    pub backend_ids: Vec<u32>,
    /// Their effective weights (same order, each >= 1): a backend holds
    /// that many consecutive slots, so a uniformly random slot picks it in
    /// proportion to its weight. See [`effective_weights`].
    pub weights: Vec<u16>,
    /// Maglev table (slot → backend id) when the algorithm is Maglev.
    pub maglev: Option<Vec<u32>>,
}

/// The whole state: frontends and backends. Backend ids and rev-NAT ids are
/// one space across both address families.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LbState {
    pub services: BTreeMap<ServiceKey, ServiceState>,
    pub backends: BTreeMap<u32, BackendEntry>,
}

/// What planning could not program, for logs and reports.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PlanNotes {
    /// Frontends whose (VIP, port, protocol) was already taken.
    pub duplicates: usize,
    /// Backends of another address family than their frontend (the socket
    /// hooks cannot turn a v4 connect() into a v6 one).
    pub skipped_backends: usize,
    /// Frontends dropped because an id space (65535 services) ran out.
    pub out_of_ids: usize,
}

pub fn proto_number(p: L4Protocol) -> u8 {
    match p {
        L4Protocol::Tcp => PROTO_TCP,
        L4Protocol::Udp => PROTO_UDP,
        L4Protocol::Sctp => PROTO_SCTP,
    }
}

fn flags(f: &ServiceFrontend) -> u8 {
    let kind = match f.kind {
        FrontendKind::ClusterIp => 0,
        FrontendKind::NodePort => FLAG_NODEPORT,
        FrontendKind::LoadBalancer => FLAG_LOADBALANCER,
        FrontendKind::ExternalIp => FLAG_EXTERNAL_IP,
    };
    let affinity = if f.affinity_timeout_secs.is_some() {
        FLAG_AFFINITY
    } else {
        0
    };
    kind | affinity
}

/// Most slots one service takes in the services map. Weights are divided by
/// their greatest common divisor; if they still add up to more, they are
/// scaled down (each stays >= 1), so shares are then approximate.
pub const MAX_WEIGHTED_SLOTS: u64 = 1024;

fn gcd(a: u64, b: u64) -> u64 {
    if b == 0 { a } else { gcd(b, a % b) }
}

/// The weights the kernel holds for `weights` (all >= 1): reduced by their
/// gcd and, past [`MAX_WEIGHTED_SLOTS`] in total, scaled down.
pub fn effective_weights(weights: &[u32]) -> Vec<u16> {
    let g = weights
        .iter()
        .fold(0u64, |g, &w| gcd(g, u64::from(w.max(1))))
        .max(1);
    let reduced: Vec<u64> = weights.iter().map(|&w| u64::from(w.max(1)) / g).collect();
    let total: u64 = reduced.iter().sum();
    reduced
        .into_iter()
        .map(|w| {
            let w = if total > MAX_WEIGHTED_SLOTS {
                (w * MAX_WEIGHTED_SLOTS / total).max(1)
            } else {
                w
            };
            u16::try_from(w).unwrap_or(u16::MAX)
        })
        .collect()
}

impl ServiceState {
    /// Backend id of each slot `1..=len`: every backend repeated by weight.
    pub fn slots(&self) -> Vec<u32> {
        let mut out = Vec::with_capacity(self.weights.iter().map(|&w| usize::from(w)).sum());
        for (i, &id) in self.backend_ids.iter().enumerate() {
            let w = self.weights.get(i).copied().unwrap_or(1);
            out.extend(std::iter::repeat_n(id, usize::from(w)));
        }
        out
    }
}

/// One frontend's backends as planned: (entry, weight) for new
/// connections, and the terminating ones (established connections only).
struct Wanted<'a> {
    frontend: &'a ServiceFrontend,
    active: Vec<(BackendEntry, u32)>,
    terminating: Vec<BackendEntry>,
}

impl LbState {
    /// Plans the state for `frontends`, reusing the ids of `prev` for the
    /// same frontends and backends.
    ///
    /// A backend's id depends only on its address and protocol, so a
    /// backend that turns terminating keeps its id (and its conntrack
    /// entries). Terminating backends, and backends of weight 0, are in the
    /// backend map (state terminating) but in no slot and no Maglev table.
    /// A backend active for one frontend and terminating for another is
    /// active.
    pub fn plan(prev: &LbState, frontends: &[ServiceFrontend]) -> (LbState, PlanNotes) {
        let mut notes = PlanNotes::default();
        let prev_backend_ids: BTreeMap<(SocketAddr, u8), u32> = prev
            .backends
            .iter()
            .map(|(&id, b)| ((b.addr, b.proto), id))
            .collect();
        // Ids of the previous state are never given to something else in the
        // same step: a slot or socket that still names an old id must not
        // silently reach a different backend or service.
        let mut used_backend_ids: BTreeSet<u32> = prev.backends.keys().copied().collect();
        let mut backend_of: BTreeMap<(SocketAddr, u8), u32> = BTreeMap::new();
        let mut used_rev_nat: BTreeSet<u16> =
            prev.services.values().map(|s| s.rev_nat_id).collect();

        // Pass 1: frontends in a deterministic order, first one wins.
        let mut wanted: BTreeMap<ServiceKey, Wanted<'_>> = BTreeMap::new();
        for f in frontends {
            let proto = proto_number(f.protocol);
            let key = ServiceKey {
                frontend: SocketAddr::new(f.address, f.port),
                proto,
            };
            if wanted.contains_key(&key) {
                notes.duplicates += 1;
                continue;
            }
            let entry = |addr: SocketAddr, state| BackendEntry { addr, proto, state };
            let mut active = Vec::new();
            let mut terminating = Vec::new();
            for b in &f.backends {
                if b.is_ipv4() != f.address.is_ipv4() {
                    notes.skipped_backends += 1;
                } else if f.weight_of(b) == 0 {
                    terminating.push(entry(*b, BACKEND_TERMINATING));
                } else {
                    active.push((entry(*b, BACKEND_ACTIVE), f.weight_of(b)));
                }
            }
            for b in &f.terminating {
                if b.is_ipv4() == f.address.is_ipv4() {
                    terminating.push(entry(*b, BACKEND_TERMINATING));
                }
            }
            active.sort();
            active.dedup_by(|a, b| a.0 == b.0);
            terminating.sort();
            terminating.dedup();
            terminating.retain(|t| !active.iter().any(|(a, _)| a.addr == t.addr));
            wanted.insert(
                key,
                Wanted {
                    frontend: f,
                    active,
                    terminating,
                },
            );
        }

        // Pass 2: keep ids that still apply.
        for w in wanted.values() {
            let addrs = w.active.iter().map(|(b, _)| b).chain(&w.terminating);
            for b in addrs {
                if let Some(&id) = prev_backend_ids.get(&(b.addr, b.proto)) {
                    backend_of.insert((b.addr, b.proto), id);
                }
            }
        }

        // Pass 3: allocate new ids (lowest free) and build the services.
        let mut next_backend = 1u32;
        let mut next_rev_nat = 1u16;
        let mut state = LbState::default();
        let mut id_of = |b: &BackendEntry| match backend_of.get(&(b.addr, b.proto)) {
            Some(&id) => id,
            None => {
                while used_backend_ids.contains(&next_backend) && next_backend < u32::MAX {
                    next_backend += 1;
                }
                used_backend_ids.insert(next_backend);
                backend_of.insert((b.addr, b.proto), next_backend);
                next_backend
            }
        };
        for (key, w) in wanted {
            let f = w.frontend;
            let rev_nat_id = match prev.services.get(&key) {
                Some(s) => s.rev_nat_id,
                None => {
                    while used_rev_nat.contains(&next_rev_nat) && next_rev_nat < u16::MAX {
                        next_rev_nat += 1;
                    }
                    if used_rev_nat.contains(&next_rev_nat) {
                        notes.out_of_ids += 1;
                        continue;
                    }
                    used_rev_nat.insert(next_rev_nat);
                    next_rev_nat
                }
            };
            let mut ids = Vec::with_capacity(w.active.len());
            for (b, _) in &w.active {
                let id = id_of(b);
                // Active for this frontend wins over terminating for another.
                state.backends.insert(id, *b);
                ids.push(id);
            }
            for b in &w.terminating {
                let id = id_of(b);
                state.backends.entry(id).or_insert(*b);
            }
            let raw: Vec<u32> = w.active.iter().map(|(_, weight)| *weight).collect();
            let weights = effective_weights(&raw);
            let (algorithm, maglev) = match f.lb {
                LbAlgorithm::Maglev => {
                    let backends: Vec<BackendEntry> = w.active.iter().map(|(b, _)| *b).collect();
                    (ALG_MAGLEV, maglev_table(&backends, &weights, &ids))
                }
                _ => (ALG_RANDOM, None),
            };
            state.services.insert(
                key,
                ServiceState {
                    name: f.service.to_string(),
                    rev_nat_id,
                    flags: flags(f),
                    algorithm,
                    affinity_timeout: f.affinity_timeout_secs.unwrap_or(0),
                    backend_ids: ids,
                    weights,
                    maglev,
                },
            );
        }
        (state, notes)
    }
}

/// Graceful termination: a backend that leaves the plan stays in the backend
/// map as *terminating* for a grace period. No slot or Maglev table names it,
/// so it gets no new connections, but conntrack entries (north-south) that
/// name it keep working until it is deleted.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Draining {
    until: BTreeMap<u32, std::time::Instant>,
}

impl Draining {
    /// Adds to `next` the backends of `prev` that it dropped and whose grace
    /// period (started the first time they were missing) has not ended.
    pub fn retain(
        &mut self,
        prev: &LbState,
        next: &mut LbState,
        now: std::time::Instant,
        grace: std::time::Duration,
    ) {
        for (&id, b) in &prev.backends {
            if next.backends.contains_key(&id) {
                self.until.remove(&id);
                continue;
            }
            let until = *self.until.entry(id).or_insert(now + grace);
            if now < until {
                next.backends.insert(
                    id,
                    BackendEntry {
                        state: crate::maps::BACKEND_TERMINATING,
                        ..*b
                    },
                );
            } else {
                self.until.remove(&id);
            }
        }
        self.until.retain(|id, _| next.backends.contains_key(id));
    }

    /// The earliest end of a grace period, if any backend is draining.
    pub fn next_deadline(&self) -> Option<std::time::Instant> {
        self.until.values().min().copied()
    }
}

/// The kernel's Maglev table for a service: slot → backend id, built by the
/// shared `portico-maglev` crate over the backends' `ip:port` keys and
/// their weights.
pub fn maglev_table(backends: &[BackendEntry], weights: &[u16], ids: &[u32]) -> Option<Vec<u32>> {
    if backends.is_empty() {
        return None;
    }
    let keys: Vec<String> = backends.iter().map(|b| b.addr.to_string()).collect();
    let list: Vec<Backend<'_>> = keys
        .iter()
        .enumerate()
        .map(|(i, k)| Backend::new(k, u32::from(weights.get(i).copied().unwrap_or(1))))
        .collect();
    let table = Table::build(&list, TableSize::DEFAULT).ok()?;
    Some(
        table
            .slots()
            .iter()
            .map(|&i| ids.get(i as usize).copied().unwrap_or(0))
            .collect(),
    )
}

#[cfg(test)]
pub(crate) mod tests {
    use portico_ir::ObjectRef;

    use super::*;

    pub(crate) fn frontend(vip: &str, backends: &[&str]) -> ServiceFrontend {
        let addr: SocketAddr = vip.parse().unwrap();
        ServiceFrontend {
            service: ObjectRef {
                kind: "Service".into(),
                namespace: "default".into(),
                name: format!("svc-{}", addr.port()),
            },
            kind: FrontendKind::ClusterIp,
            address: addr.ip(),
            port: addr.port(),
            protocol: L4Protocol::Tcp,
            lb: LbAlgorithm::Random,
            affinity_timeout_secs: None,
            backends: backends.iter().map(|b| b.parse().unwrap()).collect(),
            weights: BTreeMap::new(),
            terminating: Vec::new(),
        }
    }

    #[test]
    fn ids_are_stable_and_shared() {
        let fs = vec![
            frontend("10.96.0.1:80", &["10.0.0.1:8080", "10.0.0.2:8080"]),
            frontend("10.96.0.2:80", &["10.0.0.2:8080"]),
        ];
        let (s1, notes) = LbState::plan(&LbState::default(), &fs);
        assert_eq!(notes, PlanNotes::default());
        assert_eq!(
            s1.backends.len(),
            2,
            "10.0.0.2:8080 is one backend for both"
        );
        let (s2, _) = LbState::plan(&s1, &fs);
        assert_eq!(s1, s2);

        // Removing the first service keeps the second one's ids.
        let (s3, _) = LbState::plan(&s1, &fs[1..]);
        let k2 = ServiceKey {
            frontend: "10.96.0.2:80".parse().unwrap(),
            proto: PROTO_TCP,
        };
        assert_eq!(s3.services[&k2], s1.services[&k2]);
        assert_eq!(s3.backends.len(), 1);
    }

    #[test]
    fn freed_ids_are_not_reused_in_the_same_step() {
        let (s1, _) = LbState::plan(
            &LbState::default(),
            &[frontend(
                "10.96.0.1:80",
                &["10.0.0.1:1", "10.0.0.2:1", "10.0.0.3:1"],
            )],
        );
        let (s2, _) = LbState::plan(
            &s1,
            &[frontend(
                "10.96.0.1:80",
                &["10.0.0.1:1", "10.0.0.3:1", "10.0.0.4:1"],
            )],
        );
        let ids: Vec<u32> = s2.backends.keys().copied().collect();
        assert_eq!(ids, vec![1, 3, 4], "10.0.0.4 does not take the freed id 2");
        let (s3, _) = LbState::plan(
            &s2,
            &[frontend(
                "10.96.0.1:80",
                &["10.0.0.1:1", "10.0.0.3:1", "10.0.0.4:1", "10.0.0.5:1"],
            )],
        );
        let ids: Vec<u32> = s3.backends.keys().copied().collect();
        assert_eq!(ids, vec![1, 2, 3, 4], "a gap freed earlier is filled later");
    }

    #[test]
    fn families_and_duplicates() {
        let mut v6 = frontend("10.96.0.1:80", &["[fd00::5]:8080", "10.0.0.7:1"]);
        v6.address = "fd00::1".parse().unwrap();
        let dup = frontend("10.96.0.1:80", &["10.0.0.9:1"]);
        let first = frontend("10.96.0.1:80", &["10.0.0.1:1"]);
        let (s, notes) = LbState::plan(&LbState::default(), &[first, dup, v6]);
        assert_eq!(notes.duplicates, 1);
        assert_eq!(notes.skipped_backends, 1, "a v4 backend behind a v6 VIP");
        assert_eq!(s.services.len(), 2);
        let addrs: Vec<String> = s.backends.values().map(|b| b.addr.to_string()).collect();
        assert_eq!(addrs, vec!["10.0.0.1:1", "[fd00::5]:8080"]);
        let ids: Vec<u32> = s.backends.keys().copied().collect();
        assert_eq!(ids, vec![1, 2], "one id space for both families");
    }

    #[test]
    fn removed_backends_drain_then_go() {
        use std::time::{Duration, Instant};
        let grace = Duration::from_secs(30);
        let t0 = Instant::now();
        let (s1, _) = LbState::plan(
            &LbState::default(),
            &[frontend("10.96.0.1:80", &["10.0.0.1:1", "10.0.0.2:1"])],
        );
        let mut draining = Draining::default();
        let (mut s2, _) = LbState::plan(&s1, &[frontend("10.96.0.1:80", &["10.0.0.1:1"])]);
        draining.retain(&s1, &mut s2, t0, grace);
        let gone = s2.backends[&2];
        assert_eq!(gone.state, crate::maps::BACKEND_TERMINATING);
        assert_eq!(s2.services.values().next().unwrap().backend_ids, vec![1]);
        assert_eq!(draining.next_deadline(), Some(t0 + grace));

        // The diff only flips its state; no slot names it.
        let ops = crate::diff::diff(&s1, &s2);
        assert!(ops.contains(&crate::diff::MapOp::UpsertBackend {
            id: 2,
            backend: gone
        }));
        assert!(
            !ops.iter()
                .any(|op| matches!(op, crate::diff::MapOp::DeleteBackend { .. }))
        );

        // Still draining before the deadline, deleted after it.
        let (mut s3, _) = LbState::plan(&s2, &[frontend("10.96.0.1:80", &["10.0.0.1:1"])]);
        draining.retain(&s2, &mut s3, t0 + Duration::from_secs(10), grace);
        assert!(s3.backends.contains_key(&2));
        let (mut s4, _) = LbState::plan(&s3, &[frontend("10.96.0.1:80", &["10.0.0.1:1"])]);
        draining.retain(&s3, &mut s4, t0 + grace, grace);
        assert!(!s4.backends.contains_key(&2));
        assert_eq!(draining.next_deadline(), None);
        assert!(
            crate::diff::diff(&s3, &s4).contains(&crate::diff::MapOp::DeleteBackend {
                id: 2,
                backend: gone
            })
        );

        // A zero grace deletes at once.
        let mut none = Draining::default();
        let (mut s5, _) = LbState::plan(&s1, &[frontend("10.96.0.1:80", &["10.0.0.1:1"])]);
        none.retain(&s1, &mut s5, t0, Duration::ZERO);
        assert!(!s5.backends.contains_key(&2));
    }

    #[test]
    fn effective_weights_reduce_and_cap() {
        assert_eq!(effective_weights(&[6, 2, 4]), vec![3, 1, 2]);
        assert_eq!(effective_weights(&[1, 1]), vec![1, 1]);
        assert_eq!(effective_weights(&[]), Vec::<u16>::new());
        let capped = effective_weights(&[60_000, 1, 3_000]);
        let total: u64 = capped.iter().map(|&w| u64::from(w)).sum();
        assert!(total <= MAX_WEIGHTED_SLOTS + 3, "{capped:?}");
        assert_eq!(capped[1], 1, "a positive weight never drops to 0");
        assert!(capped[0] > 15 * capped[2], "{capped:?}");
    }

    #[test]
    fn weighted_and_terminating_backends() {
        let a: SocketAddr = "10.0.0.1:1".parse().unwrap();
        let b: SocketAddr = "10.0.0.2:1".parse().unwrap();
        let c: SocketAddr = "10.0.0.3:1".parse().unwrap();
        let mut f = frontend("10.96.0.1:80", &["10.0.0.1:1", "10.0.0.2:1", "10.0.0.3:1"]);
        f.weights.insert(b, 3);
        let (s1, _) = LbState::plan(&LbState::default(), std::slice::from_ref(&f));
        let svc = s1.services.values().next().unwrap();
        assert_eq!(svc.weights, vec![1, 3, 1]);
        assert_eq!(svc.slots(), vec![1, 2, 2, 2, 3]);

        // b turns terminating, c goes to weight 0: both keep their ids (so
        // conntrack entries still name them), neither is in a slot.
        f.backends = vec![a];
        f.terminating = vec![b];
        f.weights = BTreeMap::from([(c, 0)]);
        f.backends.push(c);
        let (s2, _) = LbState::plan(&s1, std::slice::from_ref(&f));
        let svc = s2.services.values().next().unwrap();
        assert_eq!(svc.slots(), vec![1]);
        assert_eq!(s2.backends[&2].addr, b);
        assert_eq!(s2.backends[&2].state, BACKEND_TERMINATING);
        assert_eq!(s2.backends[&3].state, BACKEND_TERMINATING);
        assert_eq!(s2.backends[&1].state, BACKEND_ACTIVE);

        // Maglev shares follow the weights.
        let mut m = frontend("10.96.0.2:80", &["10.0.0.1:1", "10.0.0.2:1"]);
        m.lb = LbAlgorithm::Maglev;
        m.weights.insert(b, 3);
        let (s3, _) = LbState::plan(&LbState::default(), &[m]);
        let table = s3.services.values().next().unwrap().maglev.clone().unwrap();
        let heavy = table
            .iter()
            .filter(|&&id| s3.backends[&id].addr == b)
            .count();
        let share = heavy as f64 / table.len() as f64;
        assert!((share - 0.75).abs() < 0.01, "{share}");

        // Active for one frontend, terminating for another: active.
        let mut other = frontend("10.96.0.3:80", &[]);
        other.terminating = vec![a];
        let (s4, _) = LbState::plan(
            &LbState::default(),
            &[other, frontend("10.96.0.4:80", &["10.0.0.1:1"])],
        );
        assert_eq!(s4.backends.len(), 1);
        assert_eq!(s4.backends.values().next().unwrap().state, BACKEND_ACTIVE);
    }

    #[test]
    fn maglev_and_affinity_flags() {
        let mut f = frontend("10.96.0.1:80", &["10.0.0.1:1", "10.0.0.2:1"]);
        f.lb = LbAlgorithm::Maglev;
        f.affinity_timeout_secs = Some(10800);
        f.kind = FrontendKind::LoadBalancer;
        let (s, _) = LbState::plan(&LbState::default(), &[f]);
        let svc = s.services.values().next().unwrap();
        assert_eq!(svc.algorithm, ALG_MAGLEV);
        assert_eq!(svc.flags, FLAG_AFFINITY | FLAG_LOADBALANCER);
        assert_eq!(svc.affinity_timeout, 10800);
        let table = svc.maglev.as_ref().unwrap();
        assert_eq!(table.len(), crate::maps::MAGLEV_SIZE);
        assert!(table.iter().all(|id| svc.backend_ids.contains(id)));
    }
}
