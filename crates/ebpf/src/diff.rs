//! From one [`LbState`] to the next as an ordered list of map operations.
//!
//! The order keeps every service consistent for a concurrent `connect()`:
//! backends exist before a slot names them; slots `1..=n` (each backend
//! repeated by its weight, [`ServiceState::slots`]) and the Maglev
//! table are written before the master entry announces `n`; a shrinking master
//! is written before the slots beyond its new count are deleted; a removed
//! service loses its master first; backends go last, once nothing names them.

use std::sync::Arc;

use crate::maps::{LbReverseNat, LbService};
use crate::state::{BackendEntry, LbState, ServiceState, SlotKey};

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MapOp {
    UpsertBackend {
        id: u32,
        backend: BackendEntry,
    },
    /// `backend` is the entry being removed (its family picks the map).
    DeleteBackend {
        id: u32,
        backend: BackendEntry,
    },
    UpsertReverseNat {
        id: u16,
        value: LbReverseNat,
    },
    DeleteReverseNat {
        id: u16,
    },
    /// A service entry: slot 0 (master) or a backend slot.
    UpsertService {
        key: SlotKey,
        value: LbService,
    },
    DeleteService {
        key: SlotKey,
    },
    UpsertMaglev {
        rev_nat_id: u16,
        table: Arc<Vec<u32>>,
    },
    DeleteMaglev {
        rev_nat_id: u16,
    },
}

pub fn master_value(s: &ServiceState) -> LbService {
    LbService {
        backend_id: 0,
        count: u16::try_from(s.slots().len()).unwrap_or(u16::MAX),
        rev_nat_id: s.rev_nat_id,
        flags: s.flags,
        algorithm: s.algorithm,
        pad: 0,
        affinity_timeout: s.affinity_timeout,
    }
}

fn slot_value(backend_id: u32) -> LbService {
    LbService {
        backend_id,
        ..LbService::default()
    }
}

/// Number of slots a service can hold (the count is a u16).
const MAX_SLOTS: usize = u16::MAX as usize;

/// The operations that turn the kernel from `old` into `new`.
pub fn diff(old: &LbState, new: &LbState) -> Vec<MapOp> {
    let mut ops = Vec::new();
    for (&id, &backend) in &new.backends {
        if old.backends.get(&id) != Some(&backend) {
            ops.push(MapOp::UpsertBackend { id, backend });
        }
    }
    for (&key, svc) in &new.services {
        let prev = old.services.get(&key);
        let rev_nat = LbReverseNat::new(key.frontend);
        if prev.is_none_or(|p| p.rev_nat_id != svc.rev_nat_id) {
            ops.push(MapOp::UpsertReverseNat {
                id: svc.rev_nat_id,
                value: rev_nat,
            });
        }
        let prev_slots: Vec<u32> = prev.map(ServiceState::slots).unwrap_or_default();
        let slots = svc.slots();
        for (i, &id) in slots.iter().take(MAX_SLOTS).enumerate() {
            if prev_slots.get(i) != Some(&id) {
                ops.push(MapOp::UpsertService {
                    key: key.slot(i as u16 + 1),
                    value: slot_value(id),
                });
            }
        }
        match (&svc.maglev, prev.and_then(|p| p.maglev.as_ref())) {
            (Some(t), Some(p)) if t == p => {}
            (Some(t), _) => ops.push(MapOp::UpsertMaglev {
                rev_nat_id: svc.rev_nat_id,
                table: Arc::new(t.clone()),
            }),
            (None, _) => {}
        }
        let master = master_value(svc);
        if prev.map(master_value) != Some(master) {
            ops.push(MapOp::UpsertService {
                key: key.slot(0),
                value: master,
            });
        }
        for i in slots.len().min(MAX_SLOTS)..prev_slots.len().min(MAX_SLOTS) {
            ops.push(MapOp::DeleteService {
                key: key.slot(i as u16 + 1),
            });
        }
        if let Some(p) = prev
            && p.maglev.is_some()
            && svc.maglev.is_none()
        {
            ops.push(MapOp::DeleteMaglev {
                rev_nat_id: p.rev_nat_id,
            });
        }
    }
    for (&key, svc) in &old.services {
        if new.services.contains_key(&key) {
            continue;
        }
        ops.push(MapOp::DeleteService { key: key.slot(0) });
        for i in 0..svc.slots().len().min(MAX_SLOTS) {
            ops.push(MapOp::DeleteService {
                key: key.slot(i as u16 + 1),
            });
        }
        if svc.maglev.is_some() {
            ops.push(MapOp::DeleteMaglev {
                rev_nat_id: svc.rev_nat_id,
            });
        }
        // The id may already belong to a new service in `new`.
        if !new
            .services
            .values()
            .any(|s| s.rev_nat_id == svc.rev_nat_id)
        {
            ops.push(MapOp::DeleteReverseNat { id: svc.rev_nat_id });
        }
    }
    for (&id, &backend) in &old.backends {
        if !new.backends.contains_key(&id) {
            ops.push(MapOp::DeleteBackend { id, backend });
        }
    }
    ops
}

#[cfg(test)]
mod tests {
    use portico_ir::LbAlgorithm;

    use super::*;
    use crate::maps::PROTO_TCP;
    use crate::state::ServiceKey;
    use crate::state::tests::frontend;

    fn key(s: &str, slot: u16) -> SlotKey {
        ServiceKey {
            frontend: s.parse().unwrap(),
            proto: PROTO_TCP,
        }
        .slot(slot)
    }

    fn position(ops: &[MapOp], pred: impl Fn(&MapOp) -> bool) -> usize {
        ops.iter().position(pred).expect("operation present")
    }

    #[test]
    fn no_change_no_ops() {
        let fs = [frontend("10.96.0.1:80", &["10.0.0.1:1", "10.0.0.2:1"])];
        let (s, _) = LbState::plan(&LbState::default(), &fs);
        assert!(diff(&s, &s).is_empty());
    }

    #[test]
    fn new_service_writes_backends_slots_then_master() {
        let fs = [frontend("10.96.0.1:80", &["10.0.0.1:1", "10.0.0.2:1"])];
        let (s, _) = LbState::plan(&LbState::default(), &fs);
        let ops = diff(&LbState::default(), &s);
        let master = position(
            &ops,
            |op| matches!(op, MapOp::UpsertService { key: k, .. } if *k == key("10.96.0.1:80", 0)),
        );
        for slot in 1..=2 {
            let p = position(
                &ops,
                |op| matches!(op, MapOp::UpsertService { key: k, .. } if *k == key("10.96.0.1:80", slot)),
            );
            assert!(p < master, "slot {slot} before master: {ops:?}");
        }
        let backend = position(&ops, |op| matches!(op, MapOp::UpsertBackend { .. }));
        let revnat = position(&ops, |op| matches!(op, MapOp::UpsertReverseNat { .. }));
        assert!(backend < master && revnat < master);
        assert_eq!(ops.len(), 2 + 1 + 2 + 1);
        match &ops[master] {
            MapOp::UpsertService { value, .. } => assert_eq!(value.count, 2),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn shrinking_writes_master_before_deleting_slots() {
        let (s1, _) = LbState::plan(
            &LbState::default(),
            &[frontend(
                "10.96.0.1:80",
                &["10.0.0.1:1", "10.0.0.2:1", "10.0.0.3:1"],
            )],
        );
        let (s2, _) = LbState::plan(&s1, &[frontend("10.96.0.1:80", &["10.0.0.1:1"])]);
        let ops = diff(&s1, &s2);
        let master = position(
            &ops,
            |op| matches!(op, MapOp::UpsertService { key: k, value } if *k == key("10.96.0.1:80", 0) && value.count == 1),
        );
        let del2 = position(
            &ops,
            |op| matches!(op, MapOp::DeleteService { key: k } if *k == key("10.96.0.1:80", 2)),
        );
        let del3 = position(
            &ops,
            |op| matches!(op, MapOp::DeleteService { key: k } if *k == key("10.96.0.1:80", 3)),
        );
        let backend_gone = position(&ops, |op| matches!(op, MapOp::DeleteBackend { .. }));
        assert!(master < del2 && master < del3 && del3 < backend_gone);
        assert_eq!(
            ops.iter()
                .filter(|op| matches!(op, MapOp::DeleteBackend { .. }))
                .count(),
            2
        );
    }

    #[test]
    fn removed_service_loses_master_first_and_rev_nat() {
        let fs = [
            frontend("10.96.0.1:80", &["10.0.0.1:1"]),
            frontend("10.96.0.2:81", &["10.0.0.1:1"]),
        ];
        let (s1, _) = LbState::plan(&LbState::default(), &fs);
        let (s2, _) = LbState::plan(&s1, &fs[1..]);
        let ops = diff(&s1, &s2);
        assert_eq!(
            ops,
            vec![
                MapOp::DeleteService {
                    key: key("10.96.0.1:80", 0)
                },
                MapOp::DeleteService {
                    key: key("10.96.0.1:80", 1)
                },
                MapOp::DeleteReverseNat {
                    id: s1.services[&key("10.96.0.1:80", 0).service].rev_nat_id
                },
            ],
            "the shared backend stays"
        );
    }

    #[test]
    fn maglev_table_written_before_master_and_only_on_change() {
        let mut f = frontend("10.96.0.1:80", &["10.0.0.1:1", "10.0.0.2:1"]);
        f.lb = LbAlgorithm::Maglev;
        let (s1, _) = LbState::plan(&LbState::default(), std::slice::from_ref(&f));
        let ops = diff(&LbState::default(), &s1);
        let table = position(&ops, |op| matches!(op, MapOp::UpsertMaglev { .. }));
        let master = position(
            &ops,
            |op| matches!(op, MapOp::UpsertService { key: k, .. } if k.slot == 0),
        );
        assert!(table < master);
        assert!(diff(&s1, &s1).is_empty());

        f.lb = LbAlgorithm::Random;
        let (s2, _) = LbState::plan(&s1, &[f]);
        let ops = diff(&s1, &s2);
        assert!(
            ops.iter()
                .any(|op| matches!(op, MapOp::DeleteMaglev { .. }))
        );
        let master = position(&ops, |op| matches!(op, MapOp::UpsertService { .. }));
        let drop_table = position(&ops, |op| matches!(op, MapOp::DeleteMaglev { .. }));
        assert!(
            master < drop_table,
            "switch algorithm before the table goes"
        );
    }

    #[test]
    fn weights_expand_into_slots_and_master_counts_them() {
        let mut f = frontend("10.96.0.1:80", &["10.0.0.1:1", "10.0.0.2:1"]);
        f.weights.insert("10.0.0.1:1".parse().unwrap(), 6);
        f.weights.insert("10.0.0.2:1".parse().unwrap(), 2);
        let (s1, _) = LbState::plan(&LbState::default(), std::slice::from_ref(&f));
        let ops = diff(&LbState::default(), &s1);
        let slots: Vec<(u16, u32)> = ops
            .iter()
            .filter_map(|op| match op {
                MapOp::UpsertService { key, value } if key.slot > 0 => {
                    Some((key.slot, value.backend_id))
                }
                _ => None,
            })
            .collect();
        assert_eq!(slots, vec![(1, 1), (2, 1), (3, 1), (4, 2)], "6:2 is 3:1");
        let master = ops.iter().find_map(|op| match op {
            MapOp::UpsertService { key, value } if key.slot == 0 => Some(value.count),
            _ => None,
        });
        assert_eq!(master, Some(4));

        // Back to equal weights: the master shrinks before slots 3 and 4 go.
        f.weights.clear();
        let (s2, _) = LbState::plan(&s1, &[f]);
        let ops = diff(&s1, &s2);
        let master = position(
            &ops,
            |op| matches!(op, MapOp::UpsertService { key: k, value } if k.slot == 0 && value.count == 2),
        );
        let del4 = position(
            &ops,
            |op| matches!(op, MapOp::DeleteService { key: k } if k.slot == 4),
        );
        assert!(master < del4, "{ops:?}");
    }

    #[test]
    fn replacing_one_backend_touches_one_slot() {
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
                &["10.0.0.1:1", "10.0.0.2:1", "10.0.0.4:1"],
            )],
        );
        let ops = diff(&s1, &s2);
        let slots: Vec<&MapOp> = ops
            .iter()
            .filter(|op| matches!(op, MapOp::UpsertService { .. }))
            .collect();
        assert_eq!(slots.len(), 1, "{ops:?}");
    }
}
