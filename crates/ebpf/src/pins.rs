//! Pinned maps outlive the agent, so an upgrade may find maps of an older
//! layout under the pin directory. aya reuses a pinned map by name without
//! comparing its shape, so the agent checks key and value sizes first and
//! unpins any map that no longer fits; the loader then creates it afresh.

use std::path::Path;

use aya::maps::MapInfo;

use crate::error::{Error, Result};
use crate::maps::{
    Lb4Backend, Lb4Key, Lb6Backend, Lb6Key, LbMaglev, LbReverseNat, LbService, MAP_AFFINITY,
    MAP_BACKENDS4, MAP_BACKENDS6, MAP_MAGLEV, MAP_REVERSE_NAT, MAP_REVERSE_SK4, MAP_REVERSE_SK6,
    MAP_SERVICES4, MAP_SERVICES6,
};
use crate::nodeport::{MAP_CT4, MAP_CT4_REVERSE, MAP_CT6, MAP_CT6_REVERSE, MAP_SNAT4};

const fn size<T>() -> u32 {
    std::mem::size_of::<T>() as u32
}

/// Every pinned map with its key and value size (`bpf/lb.h`, `nodeport.c`).
pub const PINNED_LAYOUT: [(&str, u32, u32); 14] = [
    (MAP_SERVICES4, size::<Lb4Key>(), size::<LbService>()),
    (MAP_SERVICES6, size::<Lb6Key>(), size::<LbService>()),
    (MAP_BACKENDS4, 4, size::<Lb4Backend>()),
    (MAP_BACKENDS6, 4, size::<Lb6Backend>()),
    (MAP_REVERSE_NAT, 2, size::<LbReverseNat>()),
    (MAP_MAGLEV, 2, size::<LbMaglev>()),
    (MAP_REVERSE_SK4, 16, 8),
    (MAP_REVERSE_SK6, 32, 20),
    (MAP_AFFINITY, 16, 16),
    (MAP_CT4, 16, 8),
    (MAP_CT4_REVERSE, 16, 8),
    (MAP_SNAT4, 16, 8),
    (MAP_CT6, 40, 8),
    (MAP_CT6_REVERSE, 40, 20),
];

/// Unpins the maps under `pin_dir` whose key or value size differs from
/// this build's; returns their names.
pub fn drop_incompatible(pin_dir: &Path) -> Result<Vec<&'static str>> {
    let mut dropped = Vec::new();
    for (name, key, value) in PINNED_LAYOUT {
        let path = pin_dir.join(name);
        if !path.exists() {
            continue;
        }
        let fits = match MapInfo::from_pin(&path) {
            Ok(info) => info.key_size() == key && info.value_size() == value,
            Err(_) => false,
        };
        if !fits {
            std::fs::remove_file(&path)
                .map_err(|e| Error::io(format!("unpinning stale map {}", path.display()), e))?;
            tracing::warn!(map = name, "pinned map had another layout; recreated empty");
            dropped.push(name);
        }
    }
    Ok(dropped)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_covers_every_pinned_map() {
        let names: Vec<&str> = PINNED_LAYOUT.iter().map(|(n, _, _)| *n).collect();
        for map in crate::maps::ALL_MAPS {
            assert!(names.contains(&map), "{map} missing from PINNED_LAYOUT");
        }
        assert!(names.contains(&MAP_CT4) && names.contains(&MAP_CT4_REVERSE));
        assert!(names.contains(&MAP_CT6) && names.contains(&MAP_CT6_REVERSE));
        assert_eq!(PINNED_LAYOUT[5], (MAP_MAGLEV, 2, 4 * 16381));
    }

    #[test]
    fn missing_directory_is_fine() {
        let dir = Path::new("/nonexistent/portico-pins");
        assert_eq!(drop_incompatible(dir).unwrap(), Vec::<&str>::new());
    }
}
