//! The kernel maps as typed aya handles: apply [`MapOp`]s, read the state back.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;

use aya::maps::{HashMap, Map, MapData, MapError};

use crate::diff::MapOp;
use crate::error::{Error, Result};
use crate::maps::{
    ALG_MAGLEV, Lb4Backend, Lb4Key, Lb6Backend, Lb6Key, LbMaglev, LbReverseNat, LbService,
    MAGLEV_SIZE, MAP_BACKENDS4, MAP_BACKENDS6, MAP_MAGLEV, MAP_REVERSE_NAT, MAP_SERVICES4,
    MAP_SERVICES6,
};
use crate::state::{BackendEntry, LbState, ServiceKey, ServiceState, SlotKey};

/// The service maps the agent writes.
pub struct LbMaps {
    services4: HashMap<MapData, Lb4Key, LbService>,
    services6: HashMap<MapData, Lb6Key, LbService>,
    backends4: HashMap<MapData, u32, Lb4Backend>,
    backends6: HashMap<MapData, u32, Lb6Backend>,
    reverse_nat: HashMap<MapData, u16, LbReverseNat>,
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

fn is_delete(op: &MapOp) -> bool {
    matches!(
        op,
        MapOp::DeleteBackend { .. }
            | MapOp::DeleteReverseNat { .. }
            | MapOp::DeleteService { .. }
            | MapOp::DeleteMaglev { .. }
    )
}

impl LbMaps {
    fn open(mut get: impl FnMut(&'static str) -> Result<Map>) -> Result<LbMaps> {
        Ok(LbMaps {
            services4: typed(MAP_SERVICES4, get(MAP_SERVICES4)?)?,
            services6: typed(MAP_SERVICES6, get(MAP_SERVICES6)?)?,
            backends4: typed(MAP_BACKENDS4, get(MAP_BACKENDS4)?)?,
            backends6: typed(MAP_BACKENDS6, get(MAP_BACKENDS6)?)?,
            reverse_nat: typed(MAP_REVERSE_NAT, get(MAP_REVERSE_NAT)?)?,
            maglev: typed(MAP_MAGLEV, get(MAP_MAGLEV)?)?,
        })
    }

    /// Takes the maps out of a loaded object.
    pub fn from_ebpf(ebpf: &mut aya::Ebpf) -> Result<LbMaps> {
        LbMaps::open(|name| {
            ebpf.take_map(name).ok_or(Error::MissingMap {
                map: name,
                dir: Default::default(),
            })
        })
    }

    /// Opens the maps a running (or previous) agent pinned under `dir`,
    /// without loading any program: what `portico bpf services` reads.
    pub fn open_pinned(dir: &Path) -> Result<LbMaps> {
        LbMaps::open(|name| {
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
        })
    }

    fn upsert_service(
        &mut self,
        key: &SlotKey,
        value: &LbService,
    ) -> (&'static str, Result<(), MapError>) {
        match key.service.frontend {
            SocketAddr::V4(a) => (
                MAP_SERVICES4,
                self.services4
                    .insert(Lb4Key::new(a, key.service.proto, key.slot), value, 0),
            ),
            SocketAddr::V6(a) => (
                MAP_SERVICES6,
                self.services6
                    .insert(Lb6Key::new(a, key.service.proto, key.slot), value, 0),
            ),
        }
    }

    fn delete_service(&mut self, key: &SlotKey) -> (&'static str, Result<(), MapError>) {
        match key.service.frontend {
            SocketAddr::V4(a) => (
                MAP_SERVICES4,
                self.services4
                    .remove(&Lb4Key::new(a, key.service.proto, key.slot)),
            ),
            SocketAddr::V6(a) => (
                MAP_SERVICES6,
                self.services6
                    .remove(&Lb6Key::new(a, key.service.proto, key.slot)),
            ),
        }
    }

    fn upsert_backend(
        &mut self,
        id: u32,
        b: &BackendEntry,
    ) -> (&'static str, Result<(), MapError>) {
        match b.addr {
            SocketAddr::V4(a) => (
                MAP_BACKENDS4,
                self.backends4
                    .insert(id, Lb4Backend::new(a, b.proto, b.state), 0),
            ),
            SocketAddr::V6(a) => (
                MAP_BACKENDS6,
                self.backends6
                    .insert(id, Lb6Backend::new(a, b.proto, b.state), 0),
            ),
        }
    }

    fn delete_backend(
        &mut self,
        id: u32,
        b: &BackendEntry,
    ) -> (&'static str, Result<(), MapError>) {
        match b.addr {
            SocketAddr::V4(_) => (MAP_BACKENDS4, self.backends4.remove(&id)),
            SocketAddr::V6(_) => (MAP_BACKENDS6, self.backends6.remove(&id)),
        }
    }

    /// Runs the operations in order; a delete of a missing key is not an error.
    pub fn apply(&mut self, ops: &[MapOp]) -> Result<()> {
        for op in ops {
            let (map, r) = match op {
                MapOp::UpsertBackend { id, backend } => self.upsert_backend(*id, backend),
                MapOp::DeleteBackend { id, backend } => self.delete_backend(*id, backend),
                MapOp::UpsertReverseNat { id, value } => {
                    (MAP_REVERSE_NAT, self.reverse_nat.insert(id, value, 0))
                }
                MapOp::DeleteReverseNat { id } => (MAP_REVERSE_NAT, self.reverse_nat.remove(id)),
                MapOp::UpsertService { key, value } => self.upsert_service(key, value),
                MapOp::DeleteService { key } => self.delete_service(key),
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
        for kv in self.services4.iter() {
            let (k, v) = kv.map_err(|e| Error::map(MAP_SERVICES4, e))?;
            let service = ServiceKey {
                frontend: SocketAddr::V4(k.frontend()),
                proto: k.proto,
            };
            entries.push((service.slot(k.slot), v));
        }
        for kv in self.services6.iter() {
            let (k, v) = kv.map_err(|e| Error::map(MAP_SERVICES6, e))?;
            let service = ServiceKey {
                frontend: SocketAddr::V6(k.frontend()),
                proto: k.proto,
            };
            entries.push((service.slot(k.slot), v));
        }
        let mut backends = Vec::new();
        for kv in self.backends4.iter() {
            let (id, b) = kv.map_err(|e| Error::map(MAP_BACKENDS4, e))?;
            backends.push((
                id,
                BackendEntry {
                    addr: SocketAddr::V4(b.addr()),
                    proto: b.proto,
                    state: b.state,
                },
            ));
        }
        for kv in self.backends6.iter() {
            let (id, b) = kv.map_err(|e| Error::map(MAP_BACKENDS6, e))?;
            backends.push((
                id,
                BackendEntry {
                    addr: SocketAddr::V6(b.addr()),
                    proto: b.proto,
                    state: b.state,
                },
            ));
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

/// Rebuilds a state from raw map entries: masters (slot 0) with the backend
/// ids of slots `1..=count` (a run of one id is one backend and its weight).
/// Slots beyond a master's count are ignored.
pub fn state_from_entries(
    entries: Vec<(SlotKey, LbService)>,
    backends: Vec<(u32, BackendEntry)>,
    maglev: BTreeMap<u16, Vec<u32>>,
) -> LbState {
    let slots: BTreeMap<SlotKey, u32> = entries
        .iter()
        .filter(|(k, _)| k.slot != 0)
        .map(|(k, v)| (*k, v.backend_id))
        .collect();
    let mut state = LbState {
        services: BTreeMap::new(),
        backends: backends.into_iter().collect(),
    };
    for (key, master) in entries.into_iter().filter(|(k, _)| k.slot == 0) {
        // Consecutive slots of one backend are its weight.
        let mut backend_ids: Vec<u32> = Vec::new();
        let mut weights: Vec<u16> = Vec::new();
        for id in (1..=master.count).filter_map(|slot| slots.get(&key.service.slot(slot))) {
            match (backend_ids.last(), weights.last_mut()) {
                (Some(last), Some(w)) if last == id => *w = w.saturating_add(1),
                _ => {
                    backend_ids.push(*id);
                    weights.push(1);
                }
            }
        }
        state.services.insert(
            key.service,
            ServiceState {
                name: String::new(),
                rev_nat_id: master.rev_nat_id,
                flags: master.flags,
                algorithm: master.algorithm,
                affinity_timeout: master.affinity_timeout,
                backend_ids,
                weights,
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
        let mut f = frontend("10.96.0.1:80", &["10.0.0.1:1", "10.0.0.2:1", "10.0.0.3:1"]);
        f.lb = portico_ir::LbAlgorithm::Maglev;
        f.weights.insert("10.0.0.2:1".parse().unwrap(), 3);
        f.weights.insert("10.0.0.3:1".parse().unwrap(), 0);
        f.terminating.push("10.0.0.4:1".parse().unwrap());
        let v6 = frontend("[fd00::1]:53", &["[fd00::53]:53"]);
        let fs = [f, frontend("10.96.0.2:53", &["10.0.0.3:53"]), v6];
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
        assert_eq!(read.services.len(), 3);
    }
}
