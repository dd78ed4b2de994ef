//! The crate's one error type. Start-up errors name what is missing (a
//! capability, a kernel feature, a mount) so the caller can log it and keep
//! the rest of Portico running with eBPF off.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("eBPF programs not compiled: {0}")]
    NotCompiled(String),
    #[error(
        "eBPF service load balancing needs root ({missing} missing from the effective capabilities)"
    )]
    MissingCapability { missing: String },
    #[error("cannot mount {fstype} at {}: {source}", target.display())]
    Mount {
        fstype: &'static str,
        target: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot open cgroup {}: {source}", path.display())]
    Cgroup {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("kernel refused the eBPF object (BTF maps, pinning under {}): {}", pin_dir.display(), chain(source.as_ref()))]
    Load {
        pin_dir: PathBuf,
        #[source]
        source: Box<aya::EbpfError>,
    },
    #[error("program {program} missing from the eBPF object")]
    MissingProgram { program: &'static str },
    #[error("kernel refused to {action} program {program}: {}", chain(source.as_ref()))]
    Program {
        program: &'static str,
        action: &'static str,
        #[source]
        source: Box<aya::programs::ProgramError>,
    },
    #[error("map {map}: {}", chain(source.as_ref()))]
    Map {
        map: &'static str,
        #[source]
        source: Box<aya::maps::MapError>,
    },
    #[error("map {map} missing (is the agent running? pins expected under {})", dir.display())]
    MissingMap { map: &'static str, dir: PathBuf },
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
}

/// An error and its causes, `a: b: c` (aya keeps the errno in the causes).
pub(crate) fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        let text = c.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        cur = c.source();
    }
    out
}

impl Error {
    pub(crate) fn map(map: &'static str, source: aya::maps::MapError) -> Error {
        Error::Map {
            map,
            source: Box::new(source),
        }
    }

    pub(crate) fn io(context: impl Into<String>, source: std::io::Error) -> Error {
        Error::Io {
            context: context.into(),
            source,
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
