//! Hubble-compatible flow API: the `observer.Observer` gRPC service (wire
//! compatible with Cilium's published `observer.proto`/`flow.proto`), the
//! conversions between Portico's flow types and those messages, and the
//! generated client for `portico observe`.
//!
//! The binary binds a listener (default [`DEFAULT_ADDR`]) and calls
//! [`serve`]; invalid filters are answered with `INVALID_ARGUMENT`.

pub mod convert;
pub mod flags;
pub mod print;
pub mod proto;
pub mod query;
pub mod server;

pub use proto::observer::observer_client::ObserverClient;
pub use server::{DEFAULT_ADDR, HubbleServer, ObserverService, ServerOptions, serve};
