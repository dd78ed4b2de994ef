//! The pure part of a reload: the directory's state → objects + snapshot →
//! translate. `portico run` adds the data-plane apply and status stamping
//! around it; `portico check` uses it as is.

use std::collections::BTreeMap;
use std::time::Duration;

use portico_file::DirState;
use portico_model::{Location, Snapshot};
use portico_translate::{Options, Output};
use tokio::time::Instant;

use crate::objects::ObjectId;
use crate::problems::{self, Problem};
use crate::state::LoadedObject;

/// The result of translating a directory's state.
#[derive(Debug)]
pub struct Translated {
    /// Distinct objects sorted by identity.
    pub objects: Vec<LoadedObject>,
    /// Object count per kind, every kind listed.
    pub counts: Vec<(&'static str, usize)>,
    /// Problems of the source: load errors, unreadable files, duplicates
    /// (errors) and load warnings.
    pub source_problems: Vec<Problem>,
    /// Documents of kinds Portico does not use.
    pub skipped: Vec<(String, Location)>,
    pub output: Output,
    pub elapsed: Duration,
}

/// Builds the snapshot of `dir` and translates it (at the current time:
/// expired listener certificates are invalid).
pub fn translate(dir: &DirState, options: &Options) -> Translated {
    let options = &Options {
        now: options.now.or_else(unix_now),
        ..options.clone()
    };
    let mut by_id: BTreeMap<ObjectId, LoadedObject> = BTreeMap::new();
    for o in &dir.objects {
        let id = ObjectId::of(&o.object);
        by_id.insert(
            id.clone(),
            LoadedObject {
                id,
                object: o.object.clone(),
                location: Some(o.location.clone()),
            },
        );
    }
    let started = Instant::now();
    let snapshot = Snapshot::from_objects(dir.objects.iter().map(|o| o.object.clone()));
    let output = portico_translate::translate(&snapshot, options);
    let elapsed = started.elapsed();
    Translated {
        objects: by_id.into_values().collect(),
        counts: snapshot.counts().to_vec(),
        source_problems: dir
            .errors
            .iter()
            .map(problems::source_error)
            .chain(dir.warnings.iter().map(problems::load_warning))
            .collect(),
        skipped: dir.skipped.clone(),
        output,
        elapsed,
    }
}

/// Seconds since the Unix epoch, from the system clock.
pub fn unix_now() -> Option<u64> {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .ok()
        .map(|d| d.as_secs())
}
