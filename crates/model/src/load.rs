//! YAML loading with located errors.

use std::path::{Path, PathBuf};

use crate::Object;

/// Where something is in a file (1-based line and column).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Location {
    pub file: PathBuf,
    pub line: usize,
    pub column: usize,
}

/// A loaded object and the start of its document.
#[derive(Clone, Debug, PartialEq)]
pub struct Document {
    pub object: Object,
    pub location: Location,
}

/// A problem with one document; the others still load.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoadError {
    pub location: Location,
    /// Kind and `namespace/name` of the object when they could be read.
    pub kind: Option<String>,
    pub name: Option<String>,
    pub message: String,
}

/// The result of loading one file.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Loaded {
    pub documents: Vec<Document>,
    pub errors: Vec<LoadError>,
    /// Documents of kinds Portico does not use (kind, location).
    pub skipped: Vec<(String, Location)>,
}

/// Parses every document in `text` (the content of `file`).
pub fn load_str(file: &Path, text: &str) -> Loaded {
    let _ = text;
    Loaded {
        errors: vec![LoadError {
            location: Location {
                file: file.to_path_buf(),
                line: 1,
                column: 1,
            },
            kind: None,
            name: None,
            message: "loader not written yet".to_string(),
        }],
        ..Loaded::default()
    }
}
