//! Route side of translation: HTTPRoute, GRPCRoute, TLSRoute, TCPRoute and
//! UDPRoute attached to the listeners the gateway side validated.
//!
//! - [`attach_all`]: parent statuses (Accepted / ResolvedRefs /
//!   PartiallyInvalid), `attachedRoutes` counts, clusters for every resolved
//!   backend (with BackendTLSPolicy settings and policy statuses), and each
//!   listener's tables: virtual hosts with rules in precedence order
//!   ([`precedence`]), SNI routes, the serving L4 route.
//! - [`service_frontends`]: Service frontends for the eBPF load balancer.
//!
//! How [`attach_all`] proceeds:
//! 1. compile every route once, independent of its parents (`http`, `grpc`,
//!    `l4`: matchers, filters, backends, rule problems);
//! 2. evaluate every parentRef (`parent_ref`: sectionName/port, allowed
//!    kinds and namespaces, hostname intersection);
//! 3. drop HTTPRoute/GRPCRoute attachments that lose a hostname conflict
//!    (`kind_conflicts`);
//! 4. write statuses, count attachedRoutes, build clusters, apply
//!    BackendTLSPolicies (`backend_tls`), then fill each listener's tables.
//!
//! Virtual hosts do not fall through: a request is matched against the most
//! specific virtual host for its Host only (as Envoy-based implementations
//! do); rules of a less specific hostname are not tried when none matches.
//!
//! Pure and deterministic; no input makes it panic. Invalid input becomes a
//! condition with the upstream reason and, in the data plane, an explicit
//! error target, while valid siblings keep serving.

mod attach;
mod backend_tls;
pub mod backends;
mod compiled;
pub mod duration;
pub mod endpoints;
mod filters;
mod grpc;
pub mod hostnames;
mod http;
mod index;
mod kind_conflicts;
mod l4;
mod matches;
mod parent_ref;
pub mod precedence;
mod problem;
mod rule_backends;
mod services;
mod tls;
pub mod view;

use portico_ir::{L4Route, SniRoute, VirtualHost};

pub use attach::attach_all;
pub use services::service_frontends;

/// Routes attached to one listener, in the shape the IR needs.
#[derive(Clone, Debug, Default)]
pub struct ListenerRoutes {
    /// Virtual hosts, most specific hostname first; rules in precedence order.
    pub http: Vec<VirtualHost>,
    /// SNI routes, most specific hostname first.
    pub tls: Vec<SniRoute>,
    /// The oldest TCPRoute/UDPRoute attached: the one that serves.
    pub l4: Option<L4Route>,
}
