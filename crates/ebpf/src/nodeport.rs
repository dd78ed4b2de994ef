//! North-south load balancing: `bpf/nodeport.c` on tc (ingress and egress
//! of an external interface), or `bpf/nodeport_xdp.c` in XDP for the
//! ingress half ([`NorthSouthMode::Xdp`]: native where the driver supports
//! it, generic otherwise) with the same tc egress programs for replies and
//! SNAT (XDP has no egress hook). Both share the service, backend and
//! Maglev maps the [`crate::Agent`] keeps in sync (pinned by name in the
//! same directory) and the conntrack LRUs of `bpf/nodeport.h`.

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use aya::maps::RingBuf;
use aya::programs::{SchedClassifier, TcAttachType, Xdp, XdpMode};
use aya::{Ebpf, EbpfLoader, TestRun, TestRunOptions};

use crate::error::{Error, Result};
use crate::events::{EventReader, MAP_EVENTS};
use crate::{object, sys};

pub const INGRESS_PROGRAM: &str = "portico_nodeport_ingress";
pub const XDP_PROGRAM: &str = "portico_nodeport_xdp";
pub const EGRESS_PROGRAM: &str = "portico_nodeport_egress";
pub const SNAT_REPLY_PROGRAM: &str = "portico_nodeport_snat_reply";
pub const SNAT_EGRESS_PROGRAM: &str = "portico_nodeport_snat_egress";
pub const MAP_SNAT4: &str = "portico_snat4";
pub const MAP_CT4: &str = "portico_ct4";
pub const MAP_CT4_REVERSE: &str = "portico_ct4_reverse";
pub const MAP_CT6: &str = "portico_ct6";
pub const MAP_CT6_REVERSE: &str = "portico_ct6_reverse";

/// Where the north-south ingress program runs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum NorthSouthMode {
    /// tc (clsact) ingress.
    #[default]
    Tc,
    /// XDP: native (in the driver) where supported, generic otherwise.
    Xdp,
}

impl std::str::FromStr for NorthSouthMode {
    type Err = String;

    fn from_str(s: &str) -> Result<NorthSouthMode, String> {
        match s {
            "tc" => Ok(NorthSouthMode::Tc),
            "xdp" => Ok(NorthSouthMode::Xdp),
            other => Err(format!("{other}: expected tc or xdp")),
        }
    }
}

/// How the kernel runs an attached XDP program.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum XdpAttachMode {
    /// In the network driver.
    Native,
    /// Generic (SKB) mode, where the driver has no XDP support.
    Generic,
}

/// The north-south programs on one interface; dropping it detaches them.
pub struct NodePort {
    ebpf: Ebpf,
    xdp: Option<Ebpf>,
    interface: String,
    xdp_mode: Option<XdpAttachMode>,
    events: Option<EventReader>,
}

/// What to SNAT to: the interface towards the backends and its address.
type Snat<'a> = Option<(&'a str, Ipv4Addr)>;

fn program_error(
    program: &'static str,
    action: &'static str,
) -> impl FnOnce(aya::programs::ProgramError) -> Error {
    move |e| Error::Program {
        program,
        action,
        source: Box::new(e),
    }
}

/// Interface names reach the kernel as C strings of at most 15 bytes.
fn check_interface(name: &str) -> Result<()> {
    if name.is_empty() || name.len() > 15 || name.contains(['\0', '/']) || name.contains(' ') {
        return Err(Error::io(
            format!("interface name {name:?}"),
            std::io::ErrorKind::InvalidInput.into(),
        ));
    }
    Ok(())
}

/// Loads an object with its maps pinned under `pin_dir`; `snat_addr` sets
/// the tc object's global of that name (the XDP object has none).
fn load_object(bytes: &[u8], pin_dir: &Path, snat_addr: Option<u32>) -> Result<Ebpf> {
    let mut loader = EbpfLoader::new();
    loader.default_map_pin_directory(pin_dir);
    if let Some(addr) = &snat_addr {
        loader.override_global("snat_addr", addr, true);
    }
    loader.load(bytes).map_err(|e| Error::Load {
        pin_dir: PathBuf::from(pin_dir),
        source: Box::new(e),
    })
}

fn take_events(ebpf: &mut Ebpf) -> Result<EventReader> {
    ebpf.take_map(MAP_EVENTS)
        .ok_or(Error::MissingMap {
            map: MAP_EVENTS,
            dir: PathBuf::new(),
        })
        .and_then(|m| RingBuf::try_from(m).map_err(|e| Error::map(MAP_EVENTS, e)))
        .map(EventReader::new)
}

/// Loads `name` of `ebpf` as XDP and attaches it to `interface`, natively
/// if the driver can, generically otherwise.
fn attach_xdp(ebpf: &mut Ebpf, name: &'static str, interface: &str) -> Result<XdpAttachMode> {
    let program: &mut Xdp = ebpf
        .program_mut(name)
        .ok_or(Error::MissingProgram { program: name })?
        .try_into()
        .map_err(program_error(name, "type-check"))?;
    program.load().map_err(program_error(name, "load"))?;
    match program.attach(interface, XdpMode::Driver) {
        Ok(_) => Ok(XdpAttachMode::Native),
        Err(native) => {
            tracing::info!(interface, error = %crate::error::chain(&native), "native XDP refused; using generic XDP");
            program
                .attach(interface, XdpMode::Skb)
                .map_err(program_error(name, "attach"))?;
            Ok(XdpAttachMode::Generic)
        }
    }
}

impl NodePort {
    /// Attaches to `interface` of the calling thread's network namespace,
    /// using the maps pinned under `pin_dir` (created if the agent has not
    /// pinned them yet).
    pub fn attach(pin_dir: &Path, interface: &str) -> Result<NodePort> {
        NodePort::load(pin_dir, interface, None, NorthSouthMode::Tc)
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
        NodePort::load(
            pin_dir,
            external,
            Some((internal, node)),
            NorthSouthMode::Tc,
        )
    }

    /// [`NodePort::attach`] or [`NodePort::attach_with_snat`] with the
    /// ingress program in `mode`.
    pub fn attach_mode(
        pin_dir: &Path,
        external: &str,
        snat: Option<(&str, Ipv4Addr)>,
        mode: NorthSouthMode,
    ) -> Result<NodePort> {
        NodePort::load(pin_dir, external, snat, mode)
    }

    fn load(
        pin_dir: &Path,
        interface: &str,
        snat: Snat<'_>,
        mode: NorthSouthMode,
    ) -> Result<NodePort> {
        let bytes = object::nodeport()?;
        let xdp_bytes = match mode {
            NorthSouthMode::Xdp => Some(object::nodeport_xdp()?),
            NorthSouthMode::Tc => None,
        };
        check_interface(interface)?;
        if let Some((internal, _)) = snat {
            check_interface(internal)?;
        }
        sys::check_capabilities()?;
        sys::ensure_bpffs(pin_dir)?;
        std::fs::create_dir_all(pin_dir)
            .map_err(|e| Error::io(format!("creating pin directory {}", pin_dir.display()), e))?;
        crate::pins::drop_incompatible(pin_dir)?;
        let snat_addr = snat.map_or(0, |(_, ip)| crate::maps::ip_to_net(ip));
        let mut ebpf = load_object(bytes, pin_dir, Some(snat_addr))?;
        let mut attach = vec![(EGRESS_PROGRAM, interface, TcAttachType::Egress)];
        if mode == NorthSouthMode::Tc {
            attach.push((INGRESS_PROGRAM, interface, TcAttachType::Ingress));
        }
        if let Some((internal, _)) = snat {
            attach.push((SNAT_EGRESS_PROGRAM, internal, TcAttachType::Egress));
            attach.push((SNAT_REPLY_PROGRAM, internal, TcAttachType::Ingress));
        }
        for (name, iface, direction) in attach {
            let program: &mut SchedClassifier = ebpf
                .program_mut(name)
                .ok_or(Error::MissingProgram { program: name })?
                .try_into()
                .map_err(program_error(name, "type-check"))?;
            program.load().map_err(program_error(name, "load"))?;
            program
                .attach(iface, direction)
                .map_err(program_error(name, "attach"))?;
        }
        let mut events = take_events(&mut ebpf)?;
        let (xdp, xdp_mode) = match xdp_bytes {
            Some(bytes) => {
                let mut xdp = load_object(bytes, pin_dir, None)?;
                let how = attach_xdp(&mut xdp, XDP_PROGRAM, interface)?;
                // New flows are traced by the XDP program.
                events = take_events(&mut xdp)?;
                (Some(xdp), Some(how))
            }
            None => (None, None),
        };
        tracing::info!(
            interface,
            pin_dir = %pin_dir.display(),
            ?mode,
            xdp = ?xdp_mode,
            "north-south load balancer attached"
        );
        Ok(NodePort {
            ebpf,
            xdp,
            interface: interface.to_string(),
            xdp_mode,
            events: Some(events),
        })
    }

    /// Runs the ingress program (XDP, or tc) once over one Ethernet frame
    /// with `BPF_PROG_TEST_RUN`, with the live maps: its return code and the
    /// frame as the program left it. For checking the rewrite (checksums
    /// included) without a network.
    pub fn test_run_ingress(&self, frame: &[u8]) -> Result<(u32, Vec<u8>)> {
        let mut out = vec![0u8; frame.len() + 256];
        let opts = TestRunOptions {
            data_in: Some(frame),
            data_out: Some(&mut out),
            ..TestRunOptions::default()
        };
        let result = match &self.xdp {
            Some(xdp) => {
                let program: &Xdp = xdp
                    .program(XDP_PROGRAM)
                    .ok_or(Error::MissingProgram {
                        program: XDP_PROGRAM,
                    })?
                    .try_into()
                    .map_err(program_error(XDP_PROGRAM, "type-check"))?;
                program
                    .test_run(opts)
                    .map_err(program_error(XDP_PROGRAM, "test-run"))?
            }
            None => {
                let program: &SchedClassifier = self
                    .ebpf
                    .program(INGRESS_PROGRAM)
                    .ok_or(Error::MissingProgram {
                        program: INGRESS_PROGRAM,
                    })?
                    .try_into()
                    .map_err(program_error(INGRESS_PROGRAM, "type-check"))?;
                program
                    .test_run(opts)
                    .map_err(program_error(INGRESS_PROGRAM, "test-run"))?
            }
        };
        out.truncate(usize::try_from(result.data_size_out).unwrap_or(0));
        Ok((result.return_value, out))
    }

    /// How the XDP program runs (`None` in tc mode).
    pub fn xdp_mode(&self) -> Option<XdpAttachMode> {
        self.xdp_mode
    }

    /// Flow records of new north-south flows and drops (once).
    pub fn take_events(&mut self) -> Option<EventReader> {
        self.events.take()
    }

    pub fn interface(&self) -> &str {
        &self.interface
    }
}
