//! Hubble-compatible flow API: the `observer.Observer` gRPC service (wire
//! compatible with Cilium's published `observer.proto`/`flow.proto`), the
//! conversions between Portico's flow types and those messages, and the
//! generated client for `portico observe`.
//!
//! The binary calls [`bind`] (default [`DEFAULT_ADDR`]) or [`serve`] with
//! its own listener; invalid filters are answered with `INVALID_ARGUMENT`.
//!
//! Wiring in the binary:
//!
//! ```no_run
//! # async fn wire(registry: &mut prometheus_client::registry::Registry) -> Result<(), portico_observe::Error> {
//! use portico_observe::flow::{FlowRing, HubbleMetrics, RingConfig};
//! use portico_observe::hubble::{self, ServerOptions};
//!
//! let ring = FlowRing::new(RingConfig {
//!     metrics: Some(HubbleMetrics::register(registry)),
//!     ..RingConfig::default()
//! })?;
//! let sink = ring.sink(); // give this to the proxy (and the eBPF agent)
//! let server = hubble::bind(hubble::DEFAULT_ADDR.parse().expect("valid"), ring, ServerOptions::default()).await?;
//! // ... on shutdown:
//! server.shutdown().await?;
//! # drop(sink);
//! # Ok(())
//! # }
//! ```

pub mod convert;
pub mod events;
pub mod flags;
pub mod print;
pub mod proto;
pub mod query;
pub mod server;

pub use proto::observer::observer_client::ObserverClient;
pub use server::{DEFAULT_ADDR, HubbleServer, ObserverService, ServerOptions, bind, serve};
