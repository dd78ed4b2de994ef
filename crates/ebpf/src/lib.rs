//! eBPF service load balancer (kube-proxy replacement).
//!
//! C programs under `bpf/` (compiled by clang in `build.rs`) rewrite a Service
//! VIP to a backend at `connect()`/`sendmsg()` (cgroup v2 socket hooks) and
//! show the VIP again on `recvmsg()`/`getpeername()`. This crate plans the
//! kernel maps from the IR's [`portico_ir::ServiceFrontend`]s
//! ([`LbState::plan`]), diffs two plans into ordered map writes ([`diff()`]),
//! and runs them through an aya-based [`Agent`].
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
pub use nodeport::NodePort;
pub use object::{BUILD_STATUS, compiled};
pub use state::{BackendEntry, Draining, LbState, PlanNotes, ServiceKey, ServiceState, SlotKey};
pub use view::{BackendView, ServiceView};
