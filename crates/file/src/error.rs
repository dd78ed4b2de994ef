//! The file source's one error type.

use std::path::PathBuf;

use portico_model::{LoadError, Location, ObjectKey};

/// A problem with the configuration directory or one of its files.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A document failed to load (located; the rest of the file loaded).
    #[error("{0}")]
    Load(#[from] LoadError),
    /// A file could not be read.
    #[error("{}: {message}", path.display())]
    Read { path: PathBuf, message: String },
    /// The same kind/namespace/name is defined twice; the later one is used.
    #[error(
        "{}: duplicate {}, first defined at {}; using this one",
        .0.second,
        .0.key,
        .0.first
    )]
    Duplicate(Box<Duplicate>),
    /// The configuration path is missing or not a directory.
    #[error("{}: not a readable directory: {message}", path.display())]
    NotADirectory { path: PathBuf, message: String },
    /// The file system watch could not be set up.
    #[error("watching {}: {source}", path.display())]
    Watch {
        path: PathBuf,
        #[source]
        source: notify::Error,
    },
}

/// Where an object is defined twice.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Duplicate {
    pub key: ObjectKey,
    /// The definition that is ignored.
    pub first: Location,
    /// The definition that is used.
    pub second: Location,
}

impl Error {
    /// Where the problem is, when it is inside a file.
    pub fn location(&self) -> Option<&Location> {
        match self {
            Error::Load(e) => Some(&e.location),
            Error::Duplicate(d) => Some(&d.second),
            Error::Read { .. } | Error::NotADirectory { .. } | Error::Watch { .. } => None,
        }
    }

    /// The file the problem is in, when there is one.
    pub fn file(&self) -> Option<&std::path::Path> {
        match self {
            Error::Load(e) => Some(&e.location.file),
            Error::Duplicate(d) => Some(&d.second.file),
            Error::Read { path, .. } => Some(path),
            Error::NotADirectory { .. } | Error::Watch { .. } => None,
        }
    }
}
