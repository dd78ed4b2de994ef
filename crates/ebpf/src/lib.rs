//! eBPF service load balancer (kube-proxy replacement).
//!
//! C programs under `bpf/` (compiled by clang in `build.rs`) rewrite a Service
//! VIP to a backend at `connect()`/`sendmsg()` (cgroup v2 socket hooks) and
//! show the VIP again on `recvmsg()`/`getpeername()`. This crate plans the
//! kernel maps from the IR's [`portico_ir::ServiceFrontend`]s
//! ([`LbState::plan`]), diffs two plans into ordered map writes ([`diff()`]),
//! and runs them through an aya-based [`Agent`].
#![deny(unsafe_code)]

pub mod diff;
pub mod maps;
pub mod state;

pub use diff::{MapOp, diff};
pub use state::{LbState, PlanNotes, ServiceState};
