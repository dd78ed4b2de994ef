//! In-repo runner for the upstream Gateway API v1.6.1 conformance tests.
//!
//! For each test it:
//! 1. loads `conformance/base/manifests.yaml` and the test's manifests from
//!    the shared directory, unchanged except for the placeholders the
//!    upstream suite substitutes (`{GATEWAY_CLASS_NAME}`, ...);
//! 2. starts the echo backends the Deployments describe on loopback "pod"
//!    addresses (`127.20.D.R`, one per replica) and writes the
//!    EndpointSlices a cluster would have created for the Services;
//! 3. writes the TLS Secrets and CA ConfigMaps the upstream suite generates
//!    at run time;
//! 4. runs the real `portico run --config DIR` binary on that directory;
//! 5. checks the behaviour the upstream test checks: statuses through the
//!    admin API and traffic through the Gateway's address, with the upstream
//!    "N consecutive successes" consistency rule.
//!
//! Tests whose features the GatewayClass does not advertise in
//! `status.supportedFeatures` are skipped, as upstream does. The summary
//! line is `N passed, N failed, N skipped`.

#![forbid(unsafe_code)]

mod backends;
mod certs;
mod env;
mod error;
pub mod expect;
pub mod grpc;
mod manifests;
mod portico;
pub mod status;
mod suite;
pub mod tests;
pub mod tls;
pub mod websocket;

pub use env::{Env, EnvConfig};
pub use error::Failure;
pub use suite::{ConformanceTest, Outcome, Summary, run_suite};

/// Upstream namespace holding the shared Gateways and backends.
pub const INFRA_NS: &str = "gateway-conformance-infra";
/// Namespace of the backends of cross-namespace tests.
pub const WEB_BACKEND_NS: &str = "gateway-conformance-web-backend";
/// Namespace of the app backends.
pub const APP_BACKEND_NS: &str = "gateway-conformance-app-backend";
/// The GatewayClass the runner creates.
pub const GATEWAY_CLASS: &str = "portico";
/// The controller name Portico answers to.
pub const CONTROLLER_NAME: &str = "portico.dev/gateway-controller";
/// Group of the Gateway API kinds.
pub const GATEWAY_GROUP: &str = "gateway.networking.k8s.io";
