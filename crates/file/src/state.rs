//! What a directory holds at one revision.

use std::collections::BTreeMap;
use std::path::PathBuf;

use portico_model::{LoadWarning, Location, Object, Snapshot};

use crate::Error;

/// One object and the start of the document that defined it.
#[derive(Clone, Debug, PartialEq)]
pub struct SourcedObject {
    pub object: Object,
    pub location: Location,
}

/// Everything read from a directory at one revision.
#[derive(Debug, Default)]
pub struct DirState {
    /// The directory that was read.
    pub dir: PathBuf,
    /// Increases by one whenever objects, errors or skipped documents change.
    /// Starts at 1 for the first load.
    pub revision: u64,
    /// The YAML files that were read, sorted.
    pub files: Vec<PathBuf>,
    /// Every object, in file order then document order; for a duplicate the
    /// later definition is kept (at the position of the first).
    pub objects: Vec<SourcedObject>,
    /// Every problem found (located when it is in a file).
    pub errors: Vec<Error>,
    /// Warnings about objects that loaded (e.g. a deprecated apiVersion).
    pub warnings: Vec<LoadWarning>,
    /// Documents of kinds Portico does not read (kind, location).
    pub skipped: Vec<(String, Location)>,
    /// Files whose current text is not valid YAML, whose objects are those of
    /// their last valid version.
    pub stale_files: Vec<PathBuf>,
}

impl DirState {
    /// The objects as a translation input.
    pub fn snapshot(&self) -> Snapshot {
        Snapshot::from_objects(self.objects.iter().map(|o| o.object.clone()))
    }

    /// Skipped documents per kind, for one log line per kind.
    pub fn skipped_kinds(&self) -> BTreeMap<&str, usize> {
        let mut out = BTreeMap::new();
        for (kind, _) in &self.skipped {
            *out.entry(kind.as_str()).or_default() += 1;
        }
        out
    }

    /// True when nothing is wrong.
    pub fn is_clean(&self) -> bool {
        self.errors.is_empty()
    }

    /// Same objects, errors, skipped documents and stale files (the revision
    /// and file list aside).
    pub(crate) fn same_content(&self, other: &DirState) -> bool {
        self.objects == other.objects
            && self.skipped == other.skipped
            && self.warnings == other.warnings
            && self.stale_files == other.stale_files
            && self.errors.len() == other.errors.len()
            && self
                .errors
                .iter()
                .zip(&other.errors)
                .all(|(a, b)| a.to_string() == b.to_string())
    }
}
