//! Maglev consistent hashing (Eisenbud et al., NSDI 2016) with weights.
//!
//! One implementation shared by the proxy (per-request selection) and the eBPF
//! agent (tables written into kernel maps): both must agree slot for slot, so
//! the permutation hash is a fixed XXH64 with fixed seeds, never std's
//! `DefaultHasher`. The same backend list always yields the same table, in
//! every process and on every node.
//!
//! ```
//! use portico_maglev::{Backend, Table, TableSize};
//! let backends = [Backend::new("10.0.0.1:80", 1), Backend::new("10.0.0.2:80", 1)];
//! let table = Table::build(&backends, TableSize::DEFAULT).unwrap();
//! assert!(table.lookup(42).is_some());
//! ```

#![forbid(unsafe_code)]

mod xxh64;

pub use xxh64::xxh64;

/// Seed of the hash that picks a backend's first preferred slot.
pub const OFFSET_SEED: u64 = 0x706f_7274_6963_6f31; // "portico1"
/// Seed of the hash that picks a backend's step through the table.
pub const SKIP_SEED: u64 = 0x706f_7274_6963_6f32; // "portico2"
/// Seed of [`flow_hash`].
pub const FLOW_SEED: u64 = 0x706f_7274_6963_6f33; // "portico3"

/// Errors building a table.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    #[error("maglev table size {0} is not a prime between 3 and 1048573")]
    NotPrime(u32),
    #[error("{backends} backends with total weight {weight} do not fit a table of {size} slots")]
    TooManyBackends {
        backends: usize,
        weight: u64,
        size: u32,
    },
}

/// Number of slots of a lookup table: a prime, well above 100 × the number of
/// backends for a reshuffle under 1 % when one backend changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TableSize(u32);

impl TableSize {
    /// 16381 slots: good for up to ~160 backends (Cilium's default).
    pub const DEFAULT: TableSize = TableSize(16381);
    /// 65521 slots: good for up to ~650 backends.
    pub const LARGE: TableSize = TableSize(65521);
    /// The sizes Cilium offers, all prime.
    pub const STANDARD: [u32; 10] = [
        251, 509, 1021, 2039, 4093, 8191, 16381, 32749, 65521, 131071,
    ];

    /// A custom size; it must be prime.
    pub fn new(size: u32) -> Result<TableSize, Error> {
        if (3..=1_048_573).contains(&size) && is_prime(size) {
            Ok(TableSize(size))
        } else {
            Err(Error::NotPrime(size))
        }
    }

    pub fn get(self) -> u32 {
        self.0
    }
}

impl Default for TableSize {
    fn default() -> TableSize {
        TableSize::DEFAULT
    }
}

fn is_prime(n: u32) -> bool {
    if n < 2 {
        return false;
    }
    let mut d = 2u32;
    while u64::from(d) * u64::from(d) <= u64::from(n) {
        if n.is_multiple_of(d) {
            return false;
        }
        d += 1;
    }
    true
}

/// One backend: a stable identity (e.g. `"10.0.0.1:8080"`) and a weight.
/// Backends of weight 0 get no slot.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Backend<'a> {
    pub key: &'a [u8],
    pub weight: u32,
}

impl<'a> Backend<'a> {
    pub fn new(key: &'a str, weight: u32) -> Backend<'a> {
        Backend {
            key: key.as_bytes(),
            weight,
        }
    }
}

/// A filled lookup table: slot → index into the backend list it was built from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Table {
    slots: Vec<u32>,
}

impl Table {
    /// Builds the table. An empty list (or all weights 0) gives an empty table
    /// whose [`Table::lookup`] returns `None`.
    pub fn build(backends: &[Backend<'_>], size: TableSize) -> Result<Table, Error> {
        let m = size.get();
        let weight: u64 = backends.iter().map(|b| u64::from(b.weight)).sum();
        let live: Vec<usize> = (0..backends.len())
            .filter(|&i| backends[i].weight > 0)
            .collect();
        if live.is_empty() {
            return Ok(Table { slots: Vec::new() });
        }
        if live.len() > m as usize || backends.len() > u32::MAX as usize {
            return Err(Error::TooManyBackends {
                backends: backends.len(),
                weight,
                size: m,
            });
        }
        let max_weight = live
            .iter()
            .map(|&i| u64::from(backends[i].weight))
            .max()
            .unwrap_or(1);
        // Permutation of backend i: offset + j * skip (mod m); skip is never 0
        // and m is prime, so every permutation visits every slot.
        let perm: Vec<(u64, u64)> = live
            .iter()
            .map(|&i| {
                let key = backends[i].key;
                let offset = xxh64(key, OFFSET_SEED) % u64::from(m);
                let skip = xxh64(key, SKIP_SEED) % (u64::from(m) - 1) + 1;
                (offset, skip)
            })
            .collect();
        let mut next = vec![0u64; live.len()];
        let mut credit = vec![0u64; live.len()];
        let mut slots = vec![u32::MAX; m as usize];
        let mut filled = 0u32;
        // Weighted population: per round each backend earns `weight` credit
        // and claims one slot per `max_weight` of credit, so the heaviest
        // backend claims one slot every round and the others in proportion.
        while filled < m {
            for (n, &i) in live.iter().enumerate() {
                credit[n] += u64::from(backends[i].weight);
                while credit[n] >= max_weight && filled < m {
                    credit[n] -= max_weight;
                    let (offset, skip) = perm[n];
                    loop {
                        let slot = ((offset + next[n] * skip) % u64::from(m)) as usize;
                        next[n] += 1;
                        if slots[slot] == u32::MAX {
                            slots[slot] = i as u32;
                            filled += 1;
                            break;
                        }
                    }
                }
                if filled == m {
                    break;
                }
            }
        }
        Ok(Table { slots })
    }

    /// The backend index for a flow hash, `None` for an empty table.
    pub fn lookup(&self, hash: u64) -> Option<u32> {
        if self.slots.is_empty() {
            return None;
        }
        let idx = (hash % self.slots.len() as u64) as usize;
        self.slots.get(idx).copied()
    }

    /// Slot → backend index; empty when there were no backends.
    pub fn slots(&self) -> &[u32] {
        &self.slots
    }

    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// Slot counts per backend index (length = number of backends given).
    pub fn shares(&self, backends: usize) -> Vec<usize> {
        let mut counts = vec![0usize; backends];
        for &s in &self.slots {
            if let Some(c) = counts.get_mut(s as usize) {
                *c += 1;
            }
        }
        counts
    }
}

/// Hash of a flow's identity (e.g. the 5-tuple bytes) for [`Table::lookup`].
pub fn flow_hash(flow: &[u8]) -> u64 {
    xxh64(flow, FLOW_SEED)
}

#[cfg(test)]
mod tests;
