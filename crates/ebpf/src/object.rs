//! The compiled C objects, embedded at build time.

use crate::error::{Error, Result};

static SOCK_LB: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/sock_lb.o"));

/// How `build.rs` fared: `"compiled"` or why not (e.g. `"clang missing"`).
pub const BUILD_STATUS: &str = env!("PORTICO_BPF_STATUS");

/// The socket-LB object, or why it is not available.
pub fn sock_lb() -> Result<&'static [u8]> {
    if SOCK_LB.is_empty() {
        let why = if BUILD_STATUS == "compiled" {
            "empty object"
        } else {
            BUILD_STATUS
        };
        return Err(Error::NotCompiled(why.to_string()));
    }
    // The object was written by clang at build time; still, fail clearly if
    // an ELF header is missing rather than hand garbage to the loader.
    if !SOCK_LB.starts_with(b"\x7fELF") {
        return Err(Error::NotCompiled("object is not ELF".to_string()));
    }
    Ok(SOCK_LB)
}

/// Whether the programs were compiled into this binary.
pub fn compiled() -> bool {
    sock_lb().is_ok()
}
