//! Pure translation from a [`Snapshot`] of resources to the data-plane [`Ir`]
//! and the [`Statuses`] the spec requires.
//!
//! No I/O, no clock, no randomness: the same snapshot always gives the same
//! output, and no input makes it panic.
//!
//! The pipeline, one module per step:
//! 1. [`gateway_class`]: which GatewayClasses this controller accepts.
//! 2. [`gateways`]: Gateways and ListenerSets → validated listeners
//!    ([`context::GatewayCtx`]), conflicts, certificates, addresses (IPAM).
//! 3. [`routes`]: every route kind attached to those listeners; backendRefs
//!    resolved to clusters; rules ordered by precedence.
//! 4. [`gateways::finish`]: listener statuses (attachedRoutes) and IR binds.
//!
//! After the proxy applied the IR, the binary calls
//! [`apply_data_plane_report`] with the listeners the data plane could not
//! serve (bind failed, certificate rejected), so their statuses stop claiming
//! `Programmed=True`: status must never lie.

#![forbid(unsafe_code)]

pub mod context;
pub mod features;
pub mod gateway_class;
pub mod gateways;
pub mod proxy_protocol;
pub mod reference_grant;
pub mod routes;
pub mod status;

use std::net::IpAddr;

use ipnet::IpNet;
use portico_ir::Ir;
use portico_model::Snapshot;

pub use gateways::{ListenerFailure, apply_data_plane_report};
pub use status::*;

/// Controller name Portico answers to.
pub const CONTROLLER_NAME: &str = "portico.dev/gateway-controller";

/// Settings that are not part of the snapshot.
#[derive(Clone, Debug)]
pub struct Options {
    /// `spec.controllerName` of the GatewayClasses to accept.
    pub controller_name: String,
    /// Address pool used when no pool object selects a Gateway. In standalone
    /// mode this is a loopback range, so every Gateway can own port 80.
    pub default_pool: Vec<IpNet>,
    /// Addresses the data plane can actually use for `spec.addresses` of type
    /// IPAddress (standalone: loopback). `None` accepts any address in a pool.
    pub usable_address: Option<fn(&IpAddr) -> bool>,
    /// The current time (seconds since the Unix epoch) as the caller reads
    /// it: listener certificates that expired before it are
    /// `InvalidCertificateRef`. `None` skips the expiry check (tests, golden
    /// files), which keeps translation a pure function of its inputs.
    pub now: Option<u64>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            controller_name: CONTROLLER_NAME.to_string(),
            default_pool: vec![IpNet::V4(
                ipnet::Ipv4Net::new(std::net::Ipv4Addr::new(127, 10, 0, 0), 24).unwrap_or_default(),
            )],
            usable_address: Some(|ip| ip.is_loopback()),
            now: None,
        }
    }
}

/// What one translation produces.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Output {
    pub ir: Ir,
    pub statuses: Statuses,
}

/// Translates a snapshot. Pure and deterministic.
pub fn translate(snapshot: &Snapshot, options: &Options) -> Output {
    let mut statuses = Statuses::default();
    let classes = gateway_class::evaluate(snapshot, options, &mut statuses);
    let mut gateways = gateways::build(snapshot, options, &classes, &mut statuses);
    let mut clusters = std::collections::BTreeMap::new();
    routes::attach_all(
        snapshot,
        options,
        &mut gateways,
        &mut clusters,
        &mut statuses,
    );
    let binds = gateways::finish(gateways, &mut statuses);
    let services = routes::service_frontends(snapshot);
    Output {
        ir: Ir {
            binds,
            clusters,
            services,
        },
        statuses,
    }
}
