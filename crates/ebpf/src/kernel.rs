//! The kernel maps as typed aya handles: apply [`MapOp`]s, read the state back.

use std::collections::BTreeMap;
use std::path::Path;

use aya::maps::{HashMap, Map, MapData, MapError};

use crate::diff::MapOp;
use crate::error::{Error, Result};
use crate::maps::{
    ALG_MAGLEV, Lb4Backend, Lb4Key, Lb4ReverseNat, Lb4Service, LbMaglev, MAGLEV_SIZE, MAP_BACKENDS,
    MAP_MAGLEV, MAP_REVERSE_NAT, MAP_SERVICES,
};
use crate::state::{LbState, ServiceState};

/// The service maps the agent writes.
pub struct LbMaps {
    services: HashMap<MapData, Lb4Key, Lb4Service>,
    backends: HashMap<MapData, u32, Lb4Backend>,
    reverse_nat: HashMap<MapData, u16, Lb4ReverseNat>,
    maglev: HashMap<MapData, u16, LbMaglev>,
}

fn typed<K: aya::Pod, V: aya::Pod>(name: &'static str, map: Map) -> Result<HashMap<MapData, K, V>> {
    HashMap::try_from(map).map_err(|e| Error::map(name, e))
}

fn is_not_found(e: &MapError) -> bool {
    match e {
        MapError::KeyNotFound | MapError::ElementNotFound => true,
        MapError::SyscallError(s) => s.io_error.raw_os_error() == Some(libc::ENOENT),
        _ => false,
    }
}

impl LbMaps {
    /// Takes the maps out of a loaded object.
    pub fn from_ebpf(ebpf: &mut aya::Ebpf) -> Result<LbMaps> {
        let mut take = |name: &'static str| {
            ebpf.take_map(name).ok_or(Error::MissingMap {
                map: name,
                dir: Default::default(),
            })
        };
        Ok(LbMaps {
            services: typed(MAP_SERVICES, take(MAP_SERVICES)?)?,
            backends: typed(MAP_BACKENDS, take(MAP_BACKENDS)?)?,
            reverse_nat: typed(MAP_REVERSE_NAT, take(MAP_REVERSE_NAT)?)?,
            maglev: typed(MAP_MAGLEV, take(MAP_MAGLEV)?)?,
        })
    }

    /// Opens the maps a running (or previous) agent pinned under `dir`,
    /// without loading any program: what `portico bpf services` reads.
    pub fn open_pinned(dir: &Path) -> Result<LbMaps> {
        let open = |name: &'static str| {
            let path = dir.join(name);
            if !path.exists() {
                return Err(Error::MissingMap {
                    map: name,
                    dir: dir.to_path_buf(),
                });
            }
            MapData::from_pin(&path)
                .map(Map::HashMap)
                .map_err(|e| Error::map(name, e))
        };
        Ok(LbMaps {
            services: typed(MAP_SERVICES, open(MAP_SERVICES)?)?,
            backends: typed(MAP_BACKENDS, open(MAP_BACKENDS)?)?,
            reverse_nat: typed(MAP_REVERSE_NAT, open(MAP_REVERSE_NAT)?)?,
            maglev: typed(MAP_MAGLEV, open(MAP_MAGLEV)?)?,
        })
    }

    /// Runs the operations in order; a delete of a missing key is not an error.
    pub fn apply(&mut self, ops: &[MapOp]) -> Result<()> {
        for op in ops {
            let (map, r) = match op {
                MapOp::UpsertBackend { id, backend } => {
                    (MAP_BACKENDS, self.backends.insert(id, backend, 0))
                }
                MapOp::DeleteBackend { id } => (MAP_BACKENDS, self.backends.remove(id)),
                MapOp::UpsertReverseNat { id, value } => {
                    (MAP_REVERSE_NAT, self.reverse_nat.insert(id, value, 0))
                }
                MapOp::DeleteReverseNat { id } => (MAP_REVERSE_NAT, self.reverse_nat.remove(id)),
                MapOp::UpsertService { key, value } => {
                    (MAP_SERVICES, self.services.insert(key, value, 0))
                }
                MapOp::DeleteService { key } => (MAP_SERVICES, self.services.remove(key)),
                MapOp::UpsertMaglev { rev_nat_id, table } => {
                    let mut value = Box::new(LbMaglev {
                        backend_ids: [0; MAGLEV_SIZE],
                    });
                    for (dst, src) in value.backend_ids.iter_mut().zip(table.iter()) {
                        *dst = *src;
                    }
                    (
                        MAP_MAGLEV,
                        self.maglev.insert(rev_nat_id, value.as_ref(), 0),
                    )
                }
                MapOp::DeleteMaglev { rev_nat_id } => (MAP_MAGLEV, self.maglev.remove(rev_nat_id)),
            };
            match r {
                Ok(()) => {}
                Err(e) if is_not_found(&e) && is_delete(op) => {}
                Err(e) => return Err(Error::map(map, e)),
            }
        }
        Ok(())
    }

    /// Reads the kernel's view back as an [`LbState`] (names left empty).
    pub fn read_state(&self) -> Result<LbState> {
        let mut entries = Vec::new();
        for kv in self.services.iter() {
            entries.push(kv.map_err(|e| Error::map(MAP_SERVICES, e))?);
        }
        let mut backends = Vec::new();
        for kv in self.backends.iter() {
            backends.push(kv.map_err(|e| Error::map(MAP_BACKENDS, e))?);
        }
        let mut maglev = BTreeMap::new();
        for (_, svc) in entries.iter().filter(|(k, _)| k.slot == 0) {
            if svc.algorithm != ALG_MAGLEV {
                continue;
            }
            match self.maglev.get(&svc.rev_nat_id, 0) {
                Ok(t) => {
                    maglev.insert(svc.rev_nat_id, t.backend_ids.to_vec());
                }
                Err(e) if is_not_found(&e) => {}
                Err(e) => return Err(Error::map(MAP_MAGLEV, e)),
            }
        }
        Ok(state_from_entries(entries, backends, maglev))
    }
}

fn is_delete(op: &MapOp) -> bool {
    matches!(
        op,
        MapOp::DeleteBackend { .. }
            | MapOp::DeleteReverseNat { .. }
            | MapOp::DeleteService { .. }
            | MapOp::DeleteMaglev { .. }
    )
}

/// Rebuilds a state from raw map entries: masters (slot 0) with the backend
/// ids of slots `1..=count`. Slots beyond a master's count are ignored.
pub fn state_from_entries(
    entries: Vec<(Lb4Key, Lb4Service)>,
    backends: Vec<(u32, Lb4Backend)>,
    maglev: BTreeMap<u16, Vec<u32>>,
) -> LbState {
    let slots: BTreeMap<Lb4Key, u32> = entries
        .iter()
        .filter(|(k, _)| k.slot != 0)
        .map(|(k, v)| (*k, v.backend_id))
        .collect();
    let mut state = LbState {
        services: BTreeMap::new(),
        backends: backends.into_iter().collect(),
    };
    for (key, master) in entries.into_iter().filter(|(k, _)| k.slot == 0) {
        let backend_ids = (1..=master.count)
            .filter_map(|slot| slots.get(&key.with_slot(slot)).copied())
            .collect();
        state.services.insert(
            key,
            ServiceState {
                name: String::new(),
                rev_nat_id: master.rev_nat_id,
                flags: master.flags,
                algorithm: master.algorithm,
                affinity_timeout: master.affinity_timeout,
                backend_ids,
                maglev: (master.algorithm == ALG_MAGLEV)
                    .then(|| maglev.get(&master.rev_nat_id).cloned())
                    .flatten(),
            },
        );
    }
    state
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diff::diff;
    use crate::state::tests::frontend;

    /// Applying the diff to a simulated kernel and reading it back gives the
    /// planned state (names aside), so a restarted agent sees no changes.
    #[test]
    fn read_back_round_trip() {
        let mut f = frontend("10.96.0.1:80", &["10.0.0.1:1", "10.0.0.2:1"]);
        f.lb = portico_ir::LbAlgorithm::Maglev;
        let fs = [f, frontend("10.96.0.2:53", &["10.0.0.3:53"])];
        let (planned, _) = LbState::plan(&LbState::default(), &fs);
        let mut services = BTreeMap::new();
        let mut backends = BTreeMap::new();
        let mut maglev = BTreeMap::new();
        for op in diff(&LbState::default(), &planned) {
            match op {
                MapOp::UpsertService { key, value } => {
                    services.insert(key, value);
                }
                MapOp::UpsertBackend { id, backend } => {
                    backends.insert(id, backend);
                }
                MapOp::UpsertMaglev { rev_nat_id, table } => {
                    maglev.insert(rev_nat_id, table.to_vec());
                }
                _ => {}
            }
        }
        let read = state_from_entries(
            services.into_iter().collect(),
            backends.into_iter().collect(),
            maglev,
        );
        assert!(diff(&read, &planned).is_empty());
        let mut unnamed = planned.clone();
        for s in unnamed.services.values_mut() {
            s.name.clear();
        }
        assert_eq!(read, unnamed);
    }
}
