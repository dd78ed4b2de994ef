//! The Gateway API features the data plane really implements, reported in
//! `GatewayClass.status.supportedFeatures`. Add a name here only together with
//! the data-plane code and the test that proves it.

/// Sorted feature names.
pub const SUPPORTED: &[&str] = &["Gateway", "HTTPRoute", "ReferenceGrant"];
