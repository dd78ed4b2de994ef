//! Test helpers for Portico (a dev-dependency only).
//!
//! * [`EchoBackend`]: an echo backend (HTTP, h2c, gRPC, TCP, UDP) on
//!   `127.0.0.1:0` with its request log captured:
//!   `EchoBackend::http(Identity::new("ns", "svc")).await?` gives the address,
//!   the reported pod name and [`EchoBackend::records`].
//! * [`eventually`]: poll a condition until a deadline instead of sleeping.
//! * [`TestCa`] / [`self_signed`]: CA, server and client certificates as PEM
//!   (and DER for rustls).
//! * [`net`]: loopback sockets on port 0, and the rule that goes with them:
//!   bind first, then pass the bound socket or its address; never guess a
//!   port.
//! * [`client`]: one request over a fresh HTTP/1.1 or h2c connection with a
//!   deadline, and [`client::echo_answer`] to read an echo body back.
//! * [`manifests`]: YAML for a Service + EndpointSlices pointing at backends,
//!   TLS Secrets and CA ConfigMaps, for the standalone (directory) source.
//!
//! ```no_run
//! # async fn demo() -> Result<(), portico_testkit::Error> {
//! use std::time::Duration;
//! use portico_testkit::{EchoBackend, Identity, eventually, manifests};
//!
//! let backend = EchoBackend::http(Identity::new("default", "infra-backend-v1")).await?;
//! let yaml = manifests::service("default", "infra-backend-v1", 8080, "TCP", None, &[(&backend).into()]);
//! // ... write `yaml` next to a Gateway and HTTPRoute, start the gateway, then:
//! let seen = backend
//!     .wait_for_record(Duration::from_secs(10), |r| r.request_uri == "/mirror")
//!     .await?;
//! # let _ = (yaml, seen);
//! # let _ = eventually(Duration::from_secs(1), || async { Ok::<_, ()>(()) }).await;
//! # Ok(()) }
//! ```

mod backend;
pub mod client;
mod error;
mod eventually;
pub mod manifests;
pub mod net;
mod tls;

pub use backend::{Bound, EchoBackend, EchoKind};
pub use error::Error;
pub use eventually::{Timeout, eventually};
pub use portico_echo::TlsSettings;
pub use portico_echo::{EchoAnswer, EchoRecord, Identity};
pub use tls::{CertifiedPem, TestCa, self_signed};
