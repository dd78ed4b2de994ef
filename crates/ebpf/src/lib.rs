//! eBPF service load balancer (kube-proxy replacement).
//!
//! C programs under `bpf/` (compiled by clang in `build.rs`):
//! - `sock_lb.c`: east-west socket LB. cgroup v2 `connect`/`sendmsg` hooks
//!   (v4 and v6) rewrite a Service VIP to a backend before any packet exists;
//!   `recvmsg`/`getpeername` show the VIP again; ClientIP affinity by netns
//!   cookie; Maglev or random backend choice.
//! - `nodeport.c`: north-south on tc. DNAT to a backend chosen by Maglev over
//!   the 5-tuple (or a weighted random slot), a conntrack LRU so flows stick,
//!   reverse NAT of replies, and optional SNAT ([`NodePort`]).
//! - `nodeport_xdp.c`: the same ingress in XDP ([`NorthSouthMode::Xdp`]);
//!   selection and conntrack are shared through `nodeport.h`. Both handle
//!   IPv4 and IPv6 (SNAT is IPv4 only).
//!
//! Rust side: [`LbState::plan`] turns the IR's
//! [`portico_ir::ServiceFrontend`]s into the kernel state (stable ids,
//! Maglev tables from `portico-maglev`), [`diff()`] orders the map writes so
//! no lookup sees a half-written service, and the aya-based [`Agent`] loads,
//! attaches, pins under [`DEFAULT_PIN_DIR`], syncs, lists and detaches.
//! Trace/drop events arrive as [`FlowRecord`]s through an [`EventReader`].
//!
//! Root tests (`tests/`) build their own cgroups, network namespaces and veth
//! pairs and skip, saying why, without privileges or kernel support.
#![deny(unsafe_code)]

mod agent;
pub mod diff;
mod error;
pub mod events;
mod kernel;
pub mod maps;
pub mod nodeport;
mod object;
pub mod pins;
pub mod state;
pub mod sys;
pub mod view;

pub use agent::{
    Agent, AgentConfig, DEFAULT_DRAIN_GRACE, DEFAULT_PIN_DIR, SOCK_PROGRAMS, SyncReport,
    list_pinned, remove_pins,
};
pub use diff::{MapOp, diff};
pub use error::{Error, Result};
pub use events::{EventReader, FlowRecord, Verdict};
pub use kernel::{LbMaps, state_from_entries};
pub use nodeport::{NodePort, NorthSouthMode, XdpAttachMode};
pub use object::{BUILD_STATUS, compiled};
pub use state::{BackendEntry, Draining, LbState, PlanNotes, ServiceKey, ServiceState, SlotKey};
pub use view::{BackendView, ServiceView};
