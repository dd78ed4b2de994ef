//! The agent: loads and attaches the socket-LB programs, keeps the maps in
//! step with the IR, detaches on drop.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use aya::maps::RingBuf;
use aya::programs::{CgroupAttachMode, CgroupSockAddr};
use aya::{Ebpf, EbpfLoader};
use portico_ir::ServiceFrontend;

use crate::diff::diff;
use crate::error::{Error, Result};
use crate::events::{EventReader, MAP_EVENTS};
use crate::kernel::LbMaps;
use crate::state::{Draining, LbState, PlanNotes};
use crate::view::{self, ServiceView};
use crate::{object, sys};

/// The default pin directory of the service maps.
pub const DEFAULT_PIN_DIR: &str = "/sys/fs/bpf/portico";

/// Kubernetes' default termination grace period.
pub const DEFAULT_DRAIN_GRACE: Duration = Duration::from_secs(30);

/// The socket-LB programs, by function name in `bpf/sock_lb.c`.
pub const SOCK_PROGRAMS: [&str; 8] = [
    "portico_connect4",
    "portico_sendmsg4",
    "portico_recvmsg4",
    "portico_getpeername4",
    "portico_connect6",
    "portico_sendmsg6",
    "portico_recvmsg6",
    "portico_getpeername6",
];

#[derive(Clone, Debug)]
pub struct AgentConfig {
    /// The cgroup (v2) to attach to; `None` is the cgroup v2 root (every
    /// process on the host), mounted first if the host has none.
    pub cgroup: Option<PathBuf>,
    /// Where the maps are pinned so that they outlive the agent.
    pub pin_dir: PathBuf,
    /// How long a removed backend stays (terminating: no new connections,
    /// established north-south flows continue). Zero deletes at once.
    pub drain_grace: Duration,
}

impl Default for AgentConfig {
    fn default() -> AgentConfig {
        AgentConfig {
            cgroup: None,
            pin_dir: PathBuf::from(DEFAULT_PIN_DIR),
            drain_grace: DEFAULT_DRAIN_GRACE,
        }
    }
}

/// Counts of one [`Agent::sync`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SyncReport {
    pub services: usize,
    pub backends: usize,
    pub operations: usize,
    pub notes: PlanNotes,
}

pub struct Agent {
    // Holds the programs and their cgroup links: dropping it detaches them.
    ebpf: Ebpf,
    maps: LbMaps,
    events: Option<EventReader>,
    state: LbState,
    draining: Draining,
    drain_grace: Duration,
    /// The last frontends given to [`Agent::sync`], for [`Agent::expire`].
    last: Vec<ServiceFrontend>,
    cgroup: PathBuf,
    pin_dir: PathBuf,
}

impl Agent {
    /// Loads and attaches the programs. Reuses maps pinned by a previous agent
    /// (their contents are read back, so the first sync only writes changes).
    pub fn start(config: AgentConfig) -> Result<Agent> {
        let bytes = object::sock_lb()?;
        sys::check_capabilities()?;
        sys::ensure_bpffs(&config.pin_dir)?;
        std::fs::create_dir_all(&config.pin_dir).map_err(|e| {
            Error::io(
                format!("creating pin directory {}", config.pin_dir.display()),
                e,
            )
        })?;
        let cgroup = match config.cgroup {
            Some(p) => p,
            None => sys::cgroup2_root()?,
        };
        let cgroup_dir = std::fs::File::open(&cgroup).map_err(|source| Error::Cgroup {
            path: cgroup.clone(),
            source,
        })?;
        crate::pins::drop_incompatible(&config.pin_dir)?;
        let mut ebpf = EbpfLoader::new()
            .default_map_pin_directory(&config.pin_dir)
            .load(bytes)
            .map_err(|e| Error::Load {
                pin_dir: config.pin_dir.clone(),
                source: Box::new(e),
            })?;
        let maps = LbMaps::from_ebpf(&mut ebpf)?;
        let events = ebpf
            .take_map(MAP_EVENTS)
            .ok_or(Error::MissingMap {
                map: MAP_EVENTS,
                dir: PathBuf::new(),
            })
            .and_then(|m| RingBuf::try_from(m).map_err(|e| Error::map(MAP_EVENTS, e)))?;
        let state = maps.read_state()?;
        for name in SOCK_PROGRAMS {
            let program: &mut CgroupSockAddr = ebpf
                .program_mut(name)
                .ok_or(Error::MissingProgram { program: name })?
                .try_into()
                .map_err(|e| Error::Program {
                    program: name,
                    action: "type-check",
                    source: Box::new(e),
                })?;
            program.load().map_err(|e| Error::Program {
                program: name,
                action: "load",
                source: Box::new(e),
            })?;
            program
                .attach(&cgroup_dir, CgroupAttachMode::Single)
                .map_err(|e| Error::Program {
                    program: name,
                    action: "attach",
                    source: Box::new(e),
                })?;
        }
        tracing::info!(
            cgroup = %cgroup.display(),
            pin_dir = %config.pin_dir.display(),
            services = state.services.len(),
            "eBPF socket load balancer attached"
        );
        Ok(Agent {
            ebpf,
            maps,
            events: Some(EventReader::new(events)),
            state,
            draining: Draining::default(),
            drain_grace: config.drain_grace,
            last: Vec::new(),
            cgroup,
            pin_dir: config.pin_dir,
        })
    }

    /// Brings the kernel maps to `frontends`, writing only what changed, in
    /// an order that keeps every service consistent (see [`crate::diff()`]).
    pub fn sync(&mut self, frontends: &[ServiceFrontend]) -> Result<SyncReport> {
        let (mut next, notes) = LbState::plan(&self.state, frontends);
        self.draining
            .retain(&self.state, &mut next, Instant::now(), self.drain_grace);
        let ops = diff(&self.state, &next);
        if let Err(e) = self.maps.apply(&ops) {
            // Part of the operations may have run: re-read the truth so the
            // next sync diffs against what the kernel really holds.
            if let Ok(actual) = self.maps.read_state() {
                self.state = actual;
            }
            return Err(e);
        }
        let report = SyncReport {
            services: next.services.len(),
            backends: next.backends.len(),
            operations: ops.len(),
            notes,
        };
        if report.notes != PlanNotes::default() {
            tracing::warn!(
                duplicates = report.notes.duplicates,
                skipped_backends = report.notes.skipped_backends,
                out_of_ids = report.notes.out_of_ids,
                "some service frontends are not in the eBPF maps"
            );
        }
        tracing::debug!(
            services = report.services,
            backends = report.backends,
            operations = report.operations,
            "eBPF service maps synced"
        );
        self.state = next;
        if self.last.as_slice() != frontends {
            self.last = frontends.to_vec();
        }
        Ok(report)
    }

    /// Deletes the backends whose grace period has ended (call at
    /// [`Agent::next_drain_deadline`]); the services stay as last synced.
    pub fn expire(&mut self) -> Result<SyncReport> {
        let last = std::mem::take(&mut self.last);
        let report = self.sync(&last);
        self.last = last;
        report
    }

    /// When the next draining backend is due for deletion.
    pub fn next_drain_deadline(&self) -> Option<Instant> {
        self.draining.next_deadline()
    }

    /// The services as the kernel maps hold them, with this agent's names.
    pub fn list_services(&self) -> Result<Vec<ServiceView>> {
        let mut kernel = self.maps.read_state()?;
        for (key, s) in kernel.services.iter_mut() {
            if let Some(mine) = self.state.services.get(key) {
                s.name.clone_from(&mine.name);
            }
        }
        Ok(view::services(&kernel))
    }

    /// The flow-record reader of this agent's programs (once).
    pub fn take_events(&mut self) -> Option<EventReader> {
        self.events.take()
    }

    pub fn cgroup(&self) -> &Path {
        &self.cgroup
    }

    pub fn pin_dir(&self) -> &Path {
        &self.pin_dir
    }

    /// Detaches the programs. The pinned maps stay, so a restarted agent
    /// resumes with the same ids; [`remove_pins`] deletes them.
    pub fn shutdown(self) {
        let Agent { ebpf, cgroup, .. } = self;
        drop(ebpf);
        tracing::info!(cgroup = %cgroup.display(), "eBPF socket load balancer detached");
    }

    /// The loaded object, for programs added later (XDP/tc).
    pub fn ebpf_mut(&mut self) -> &mut Ebpf {
        &mut self.ebpf
    }
}

/// Services as held by maps pinned under `pin_dir` (no program is loaded).
pub fn list_pinned(pin_dir: &Path) -> Result<Vec<ServiceView>> {
    let maps = LbMaps::open_pinned(pin_dir)?;
    Ok(view::services(&maps.read_state()?))
}

/// Deletes the pinned maps under `pin_dir` (and the directory if empty).
pub fn remove_pins(pin_dir: &Path) -> Result<()> {
    for (name, _, _) in crate::pins::PINNED_LAYOUT {
        match std::fs::remove_file(pin_dir.join(name)) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(Error::io(format!("removing pin {name}"), e)),
        }
    }
    match std::fs::remove_dir(pin_dir) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::io(format!("removing {}", pin_dir.display()), e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `portico run` keeps the agent in a tokio task.
    #[test]
    fn agent_and_readers_are_send() {
        fn send<T: Send>() {}
        send::<Agent>();
        send::<crate::EventReader>();
        send::<crate::NodePort>();
    }

    #[test]
    fn not_root_is_a_clear_error() {
        // Runs as root in CI; the message shape is what matters here.
        let e = Error::MissingCapability {
            missing: "CAP_NET_ADMIN".into(),
        };
        assert!(e.to_string().contains("needs root"));
        assert!(e.to_string().contains("CAP_NET_ADMIN"));
    }
}
