//! The load-balancer state as the kernel maps should hold it, planned from the
//! IR's [`ServiceFrontend`]s. Ids (backend ids, rev-NAT ids) are kept stable
//! across plans so that unchanged services produce no map writes.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;

use portico_ir::{FrontendKind, L4Protocol, LbAlgorithm, ServiceFrontend};
use portico_maglev::{Backend, Table, TableSize};

use crate::maps::{
    ALG_MAGLEV, ALG_RANDOM, BACKEND_ACTIVE, FLAG_AFFINITY, FLAG_EXTERNAL_IP, FLAG_LOADBALANCER,
    FLAG_NODEPORT, PROTO_SCTP, PROTO_TCP, PROTO_UDP,
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
    /// Backend ids for slots 1..=len, in order.
    pub backend_ids: Vec<u32>,
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

impl LbState {
    /// Plans the state for `frontends`, reusing the ids of `prev` for the
    /// same frontends and backends.
    pub fn plan(prev: &LbState, frontends: &[ServiceFrontend]) -> (LbState, PlanNotes) {
        let mut notes = PlanNotes::default();
        let prev_backend_ids: BTreeMap<BackendEntry, u32> =
            prev.backends.iter().map(|(&id, &b)| (b, id)).collect();
        // Ids of the previous state are never given to something else in the
        // same step: a slot or socket that still names an old id must not
        // silently reach a different backend or service.
        let mut used_backend_ids: BTreeSet<u32> = prev.backends.keys().copied().collect();
        let mut backend_of: BTreeMap<BackendEntry, u32> = BTreeMap::new();
        let mut used_rev_nat: BTreeSet<u16> =
            prev.services.values().map(|s| s.rev_nat_id).collect();

        // Pass 1: frontends in a deterministic order, first one wins.
        let mut wanted: BTreeMap<ServiceKey, (&ServiceFrontend, Vec<BackendEntry>)> =
            BTreeMap::new();
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
            let mut backends = Vec::new();
            for b in &f.backends {
                if b.is_ipv4() == f.address.is_ipv4() {
                    backends.push(BackendEntry {
                        addr: *b,
                        proto,
                        state: BACKEND_ACTIVE,
                    });
                } else {
                    notes.skipped_backends += 1;
                }
            }
            backends.sort();
            backends.dedup();
            wanted.insert(key, (f, backends));
        }

        // Pass 2: keep ids that still apply.
        for (_, backends) in wanted.values() {
            for b in backends {
                if let Some(&id) = prev_backend_ids.get(b) {
                    backend_of.insert(*b, id);
                }
            }
        }

        // Pass 3: allocate new ids (lowest free) and build the services.
        let mut next_backend = 1u32;
        let mut next_rev_nat = 1u16;
        let mut state = LbState::default();
        for (key, (f, backends)) in wanted {
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
            let mut ids = Vec::with_capacity(backends.len());
            for b in &backends {
                let id = match backend_of.get(b) {
                    Some(&id) => id,
                    None => {
                        while used_backend_ids.contains(&next_backend) && next_backend < u32::MAX {
                            next_backend += 1;
                        }
                        used_backend_ids.insert(next_backend);
                        backend_of.insert(*b, next_backend);
                        next_backend
                    }
                };
                state.backends.insert(id, *b);
                ids.push(id);
            }
            let (algorithm, maglev) = match f.lb {
                LbAlgorithm::Maglev => (ALG_MAGLEV, maglev_table(&backends, &ids)),
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
/// shared `portico-maglev` crate over the backends' `ip:port` keys.
pub fn maglev_table(backends: &[BackendEntry], ids: &[u32]) -> Option<Vec<u32>> {
    if backends.is_empty() {
        return None;
    }
    let keys: Vec<String> = backends.iter().map(|b| b.addr.to_string()).collect();
    let list: Vec<Backend<'_>> = keys.iter().map(|k| Backend::new(k, 1)).collect();
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
