//! A directory read again and again, with the bookkeeping the API server
//! would do between versions of the same objects.
//!
//! - A file whose text is not valid YAML keeps the objects of its last valid
//!   version (a half-saved edit does not take routes down); the syntax error
//!   is reported. Per-document errors (valid YAML, invalid object) drop only
//!   that document.
//! - `metadata.creationTimestamp`, unless the YAML sets it, is the wall-clock
//!   second at which the object was first seen, plus one microsecond per
//!   object already stamped in that second, so first-seen order is strict.
//!   The stamp is kept across reloads while the object exists (route
//!   precedence by age stays stable); an object that disappears and comes
//!   back is new. On the wire (seconds precision) objects of one load share
//!   a second, as they would after one `kubectl apply`.
//! - `metadata.generation`, unless the YAML sets it, starts at 1 and goes up
//!   by one whenever anything outside `metadata` and `status` changes.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::hash::{DefaultHasher, Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use portico_model::core::Time;
use portico_model::core::jiff::{SignedDuration, Timestamp};
use portico_model::{LoadError, Loaded, ObjectKey, load_str};

use crate::error::Duplicate;
use crate::state::{DirState, SourcedObject};
use crate::{Error, scan};

/// What one file last held.
#[derive(Debug)]
struct FileCache {
    /// The text last read.
    text: String,
    /// The errors of loading `text`.
    errors: Vec<LoadError>,
    /// The last result without syntax errors (or the first result ever, if
    /// every version so far had syntax errors): whose objects are served.
    good: Loaded,
    /// `good` is from an older text than `text`.
    stale: bool,
    /// A digest of `content_json()` of each of `good.documents`, computed
    /// once, to tell whether an object changed between reloads.
    digests: Vec<u64>,
}

impl FileCache {
    fn new(text: String, loaded: Loaded) -> FileCache {
        FileCache {
            text,
            errors: loaded.errors.clone(),
            digests: digests(&loaded),
            good: loaded,
            stale: false,
        }
    }

    fn update(&mut self, text: String, loaded: Loaded) {
        self.text = text;
        self.errors = loaded.errors.clone();
        if loaded.has_syntax_errors() {
            self.stale = true;
        } else {
            self.digests = digests(&loaded);
            self.good = loaded;
            self.stale = false;
        }
    }
}

/// Digest of an object's content (everything outside metadata and status).
/// The serialization of a typed object is deterministic, and the digest
/// only compares versions of one object within this process.
fn digests(loaded: &Loaded) -> Vec<u64> {
    loaded
        .documents
        .iter()
        .map(|d| {
            let mut hasher = DefaultHasher::new();
            d.object.content_json().to_string().hash(&mut hasher);
            hasher.finish()
        })
        .collect()
}

#[derive(Debug)]
struct Tracked {
    digest: u64,
    generation: i64,
}

/// A configuration directory with memory across reloads.
#[derive(Debug)]
pub struct DirSource {
    dir: PathBuf,
    clock: fn() -> Timestamp,
    files: BTreeMap<PathBuf, FileCache>,
    first_seen: HashMap<ObjectKey, Time>,
    generations: HashMap<ObjectKey, Tracked>,
    last_stamp: Option<Timestamp>,
    last: Option<Arc<DirState>>,
    /// Directory-level errors of the last reload, to tell whether anything
    /// changed without assembling a new state.
    last_scan_errors: Vec<String>,
}

fn system_clock() -> Timestamp {
    Timestamp::now()
}

impl DirSource {
    pub fn new(dir: impl Into<PathBuf>) -> DirSource {
        DirSource::with_clock(dir, system_clock)
    }

    /// Like [`DirSource::new`] with another clock for first-seen stamps.
    pub fn with_clock(dir: impl Into<PathBuf>, clock: fn() -> Timestamp) -> DirSource {
        DirSource {
            dir: dir.into(),
            clock,
            files: BTreeMap::new(),
            first_seen: HashMap::new(),
            generations: HashMap::new(),
            last_stamp: None,
            last: None,
            last_scan_errors: Vec::new(),
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The last state returned by [`DirSource::reload`].
    pub fn current(&self) -> Option<Arc<DirState>> {
        self.last.clone()
    }

    /// Reads the directory again. Returns the previous state (same revision)
    /// when nothing changed. If the directory itself cannot be read, the
    /// objects of the last reload stay and the error is reported.
    pub fn reload(&mut self) -> Arc<DirState> {
        let mut errors = Vec::new();
        let changed = match scan::yaml_files(&self.dir, &mut errors) {
            Ok(files) => self.read_files(&files, &mut errors),
            Err(e) => {
                errors.push(e);
                false
            }
        };
        let scan_errors: Vec<String> = errors.iter().map(ToString::to_string).collect();
        if let Some(last) = &self.last
            && !changed
            && scan_errors == self.last_scan_errors
        {
            return Arc::clone(last);
        }
        self.last_scan_errors = scan_errors;
        let state = self.assemble(errors);
        match &self.last {
            Some(last) if last.same_content(&state) => Arc::clone(last),
            _ => {
                let state = Arc::new(DirState {
                    revision: self.last.as_ref().map_or(1, |l| l.revision + 1),
                    ..state
                });
                self.last = Some(Arc::clone(&state));
                state
            }
        }
    }

    /// Reads the directory into a state with revision 0.
    fn read(&mut self) -> DirState {
        let mut errors = Vec::new();
        match scan::yaml_files(&self.dir, &mut errors) {
            Ok(files) => {
                self.read_files(&files, &mut errors);
            }
            Err(e) => errors.push(e),
        }
        self.assemble(errors)
    }

    /// Updates the file caches; true when a file was added, removed or
    /// changed its text.
    fn read_files(&mut self, files: &[PathBuf], errors: &mut Vec<Error>) -> bool {
        let mut changed = false;
        let mut present = BTreeSet::new();
        for path in files {
            let text = match std::fs::read_to_string(path) {
                Ok(text) => text,
                // Deleted between listing and reading: gone.
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => {
                    // Unreadable for now (permissions, not UTF-8): keep what
                    // it held, report why.
                    errors.push(Error::Read {
                        path: path.clone(),
                        message: e.to_string(),
                    });
                    present.insert(path.clone());
                    continue;
                }
            };
            present.insert(path.clone());
            match self.files.get_mut(path) {
                Some(cache) if cache.text == text => {}
                Some(cache) => {
                    changed = true;
                    let loaded = load_str(path, &text);
                    cache.update(text, loaded);
                }
                None => {
                    changed = true;
                    let loaded = load_str(path, &text);
                    self.files
                        .insert(path.clone(), FileCache::new(text, loaded));
                }
            }
        }
        let before = self.files.len();
        self.files.retain(|path, _| present.contains(path));
        changed || self.files.len() != before
    }

    /// Builds the state from the file caches: duplicates, stamps, generations.
    fn assemble(&mut self, mut errors: Vec<Error>) -> DirState {
        let mut objects: Vec<SourcedObject> = Vec::new();
        // Per object: which metadata the loader defaulted, and its digest.
        let mut extra = Vec::new();
        let mut index: HashMap<ObjectKey, usize> = HashMap::new();
        let mut skipped = Vec::new();
        let mut warnings = Vec::new();
        let mut stale_files = Vec::new();
        for (path, cache) in &self.files {
            errors.extend(cache.errors.iter().cloned().map(Error::Load));
            if cache.stale {
                stale_files.push(path.clone());
            }
            skipped.extend(cache.good.skipped.iter().cloned());
            warnings.extend(cache.good.warnings.iter().cloned());
            for (doc, digest) in cache.good.documents.iter().zip(&cache.digests) {
                let key = doc.object.key();
                let sourced = SourcedObject {
                    object: doc.object.clone(),
                    location: doc.location.clone(),
                };
                if let Some(&i) = index.get(&key) {
                    errors.push(Error::Duplicate(Box::new(Duplicate {
                        key,
                        first: objects[i].location.clone(),
                        second: doc.location.clone(),
                    })));
                    objects[i] = sourced;
                    extra[i] = (doc.defaulted, *digest);
                } else {
                    index.insert(key, objects.len());
                    objects.push(sourced);
                    extra.push((doc.defaulted, *digest));
                }
            }
        }

        let mut generations = HashMap::with_capacity(objects.len());
        let mut first_seen = HashMap::with_capacity(objects.len());
        for (sourced, (defaulted, digest)) in objects.iter_mut().zip(extra) {
            let key = sourced.object.key();
            let meta = sourced.object.metadata_mut();
            if defaulted.creation_timestamp {
                let stamp = match self.first_seen.get(&key) {
                    Some(stamp) => stamp.clone(),
                    None => Time(next_stamp(&mut self.last_stamp, self.clock)),
                };
                meta.creation_timestamp = Some(stamp.clone());
                first_seen.insert(key.clone(), stamp);
            }
            let generation = if defaulted.generation {
                match self.generations.get(&key) {
                    Some(t) if t.digest == digest => t.generation,
                    Some(t) => t.generation + 1,
                    None => 1,
                }
            } else {
                meta.generation.unwrap_or(1)
            };
            meta.generation = Some(generation);
            generations.insert(key, Tracked { digest, generation });
        }
        // Forget objects that are gone: if they come back, they are new.
        self.generations = generations;
        self.first_seen = first_seen;

        DirState {
            dir: self.dir.clone(),
            revision: 0,
            files: self.files.keys().cloned().collect(),
            objects,
            errors,
            warnings,
            skipped,
            stale_files,
        }
    }
}

/// The stamp for an object seen for the first time: now (whole seconds), or
/// one microsecond after the previous stamp if that is not earlier.
fn next_stamp(last_stamp: &mut Option<Timestamp>, clock: fn() -> Timestamp) -> Timestamp {
    let now = clock();
    let now = Timestamp::from_second(now.as_second()).unwrap_or(now);
    let stamp = match *last_stamp {
        Some(last) if last >= now => last
            .checked_add(SignedDuration::from_micros(1))
            .unwrap_or(last),
        _ => now,
    };
    *last_stamp = Some(stamp);
    stamp
}

/// Reads a directory once. Fails only when `dir` is not a readable
/// directory; problems in files are in [`DirState::errors`].
pub fn load_dir(dir: impl AsRef<Path>) -> Result<DirState, Error> {
    let dir = dir.as_ref();
    scan::yaml_files(dir, &mut Vec::new())?;
    let mut state = DirSource::new(dir).read();
    state.revision = 1;
    Ok(state)
}

#[cfg(test)]
mod tests;
