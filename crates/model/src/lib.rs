//! Resource model: Gateway API v1.6.1 (standard + experimental), the core
//! kinds Portico reads, Portico's own CRDs, and YAML loading with located
//! errors.

#![forbid(unsafe_code)]

#[allow(
    clippy::all,
    clippy::pedantic,
    missing_docs,
    rust_2018_idioms,
    unused_imports,
    unreachable_pub
)]
#[rustfmt::skip]
pub mod generated;

mod ippool;
mod load;
mod object;
mod snapshot;

pub use ippool::*;
pub use load::*;
pub use object::*;
pub use snapshot::*;

/// Group of the Gateway API kinds.
pub const GATEWAY_GROUP: &str = "gateway.networking.k8s.io";

/// Group of Portico's own kinds.
pub const PORTICO_GROUP: &str = "portico.dev";

/// Storage-version types, the shape every served version is converted to.
pub mod gateway {
    pub use crate::generated::v1::backendtlspolicies::*;
    pub use crate::generated::v1::gatewayclasses::*;
    pub use crate::generated::v1::gateways::*;
    pub use crate::generated::v1::grpcroutes::*;
    pub use crate::generated::v1::httproutes::*;
    pub use crate::generated::v1::listenersets::*;
    pub use crate::generated::v1::referencegrants::*;
    pub use crate::generated::v1::tcproutes::*;
    pub use crate::generated::v1::tlsroutes::*;
    pub use crate::generated::v1::udproutes::*;
}

/// Core Kubernetes kinds.
pub mod core {
    pub use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Secret, Service};
    pub use k8s_openapi::api::discovery::v1::EndpointSlice;
    pub use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta, Time};
    /// The timestamp library behind [`Time`].
    pub use k8s_openapi::jiff;
}
