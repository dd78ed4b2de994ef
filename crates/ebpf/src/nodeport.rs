//! North-south load balancing on tc: `bpf/nodeport.c` attached to the
//! ingress and egress of an external interface. It shares the service,
//! backend and Maglev maps the [`crate::Agent`] keeps in sync (pinned by name
//! in the same directory) and adds a conntrack LRU of its own.

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use aya::maps::RingBuf;
use aya::programs::{SchedClassifier, TcAttachType};
use aya::{Ebpf, EbpfLoader};

use crate::error::{Error, Result};
use crate::events::{EventReader, MAP_EVENTS};
use crate::{object, sys};

pub const INGRESS_PROGRAM: &str = "portico_nodeport_ingress";
pub const EGRESS_PROGRAM: &str = "portico_nodeport_egress";
pub const SNAT_REPLY_PROGRAM: &str = "portico_nodeport_snat_reply";
pub const SNAT_EGRESS_PROGRAM: &str = "portico_nodeport_snat_egress";
pub const MAP_SNAT4: &str = "portico_snat4";
pub const MAP_CT4: &str = "portico_ct4";
pub const MAP_CT4_REVERSE: &str = "portico_ct4_reverse";

/// The tc programs on one interface; dropping it detaches them.
pub struct NodePort {
    _ebpf: Ebpf,
    interface: String,
    events: Option<EventReader>,
}

impl NodePort {
    /// Attaches to `interface` of the calling thread's network namespace,
    /// using the maps pinned under `pin_dir` (created if the agent has not
    /// pinned them yet).
    pub fn attach(pin_dir: &Path, interface: &str) -> Result<NodePort> {
        NodePort::load(pin_dir, interface, None)
    }

    /// Like [`NodePort::attach`], and also SNATs each new flow to `node`
    /// (an address of `internal`, the interface towards the backends) with a
    /// port from 32768-60999 (on `internal`'s egress, after routing), so
    /// backends need no route to the clients. The replies are translated back
    /// on `internal`'s ingress.
    pub fn attach_with_snat(
        pin_dir: &Path,
        external: &str,
        internal: &str,
        node: Ipv4Addr,
    ) -> Result<NodePort> {
        NodePort::load(pin_dir, external, Some((internal, node)))
    }

    fn load(pin_dir: &Path, interface: &str, snat: Option<(&str, Ipv4Addr)>) -> Result<NodePort> {
        let bytes = object::nodeport()?;
        sys::check_capabilities()?;
        sys::ensure_bpffs(pin_dir)?;
        std::fs::create_dir_all(pin_dir)
            .map_err(|e| Error::io(format!("creating pin directory {}", pin_dir.display()), e))?;
        crate::pins::drop_incompatible(pin_dir)?;
        let snat_addr: u32 = snat.map_or(0, |(_, ip)| crate::maps::ip_to_net(ip));
        let mut ebpf = EbpfLoader::new()
            .default_map_pin_directory(pin_dir)
            .override_global("snat_addr", &snat_addr, true)
            .load(bytes)
            .map_err(|e| Error::Load {
                pin_dir: PathBuf::from(pin_dir),
                source: Box::new(e),
            })?;
        let mut attach = vec![
            (INGRESS_PROGRAM, interface, TcAttachType::Ingress),
            (EGRESS_PROGRAM, interface, TcAttachType::Egress),
        ];
        if let Some((internal, _)) = snat {
            attach.push((SNAT_EGRESS_PROGRAM, internal, TcAttachType::Egress));
            attach.push((SNAT_REPLY_PROGRAM, internal, TcAttachType::Ingress));
        }
        for (name, iface, direction) in attach {
            let program: &mut SchedClassifier = ebpf
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
                .attach(iface, direction)
                .map_err(|e| Error::Program {
                    program: name,
                    action: "attach",
                    source: Box::new(e),
                })?;
        }
        let events = ebpf
            .take_map(MAP_EVENTS)
            .ok_or(Error::MissingMap {
                map: MAP_EVENTS,
                dir: PathBuf::new(),
            })
            .and_then(|m| RingBuf::try_from(m).map_err(|e| Error::map(MAP_EVENTS, e)))?;
        tracing::info!(interface, pin_dir = %pin_dir.display(), "tc north-south load balancer attached");
        Ok(NodePort {
            _ebpf: ebpf,
            interface: interface.to_string(),
            events: Some(EventReader::new(events)),
        })
    }

    /// Flow records of new north-south flows and drops (once).
    pub fn take_events(&mut self) -> Option<EventReader> {
        self.events.take()
    }

    pub fn interface(&self) -> &str {
        &self.interface
    }
}
