//! The standalone configuration source: a directory of YAML files, read once
//! ([`load_dir`]) or watched ([`watch`]).
//!
//! Every `*.yaml` / `*.yml` file under the directory is read (recursively,
//! sorted by path; names starting with `.` are ignored). Deleting a file
//! deletes its objects. A file that is not valid YAML keeps the objects of
//! its last valid version while its error is reported; an invalid document
//! drops only itself. The same object defined twice is reported with both
//! locations and the later definition wins. See [`DirSource`] for how
//! creation timestamps and generations are kept across reloads.

#![forbid(unsafe_code)]

mod error;
mod scan;
mod source;
mod state;
mod watch;

pub use error::{Duplicate, Error};
pub use source::{DirSource, load_dir};
pub use state::{DirState, SourcedObject};
pub use watch::{DEFAULT_DEBOUNCE, MAX_DELAY, RESYNC, watch};
