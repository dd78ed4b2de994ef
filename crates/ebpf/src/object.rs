//! The compiled C objects, embedded at build time.

use crate::error::{Error, Result};

static SOCK_LB: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/sock_lb.o"));
static NODEPORT: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/nodeport.o"));
static NODEPORT_XDP: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/nodeport_xdp.o"));

/// How `build.rs` fared: `"compiled"` or why not (e.g. `"clang missing"`).
pub const BUILD_STATUS: &str = env!("PORTICO_BPF_STATUS");

/// The socket-LB object, or why it is not available.
pub fn sock_lb() -> Result<&'static [u8]> {
    checked(SOCK_LB)
}

/// The tc north-south object, or why it is not available.
pub fn nodeport() -> Result<&'static [u8]> {
    checked(NODEPORT)
}

/// The XDP north-south object (ingress only), or why it is not available.
pub fn nodeport_xdp() -> Result<&'static [u8]> {
    checked(NODEPORT_XDP)
}

fn checked(object: &'static [u8]) -> Result<&'static [u8]> {
    if object.is_empty() {
        let why = if BUILD_STATUS == "compiled" {
            "empty object"
        } else {
            BUILD_STATUS
        };
        return Err(Error::NotCompiled(why.to_string()));
    }
    // The object was written by clang at build time; still, fail clearly if
    // an ELF header is missing rather than hand garbage to the loader.
    if !object.starts_with(b"\x7fELF") {
        return Err(Error::NotCompiled("object is not ELF".to_string()));
    }
    Ok(object)
}

/// Whether the programs were compiled into this binary.
pub fn compiled() -> bool {
    sock_lb().is_ok()
}
