//! Route attachment. (Skeleton: filled in by the route-side work.)

use std::collections::BTreeMap;

use portico_ir::{Cluster, ClusterId, L4Route, ServiceFrontend, SniRoute, VirtualHost};
use portico_model::Snapshot;

use crate::context::GatewayCtx;
use crate::{Options, Statuses};

/// Routes attached to one listener, in the shape the IR needs.
#[derive(Clone, Debug, Default)]
pub struct ListenerRoutes {
    pub http: Vec<VirtualHost>,
    pub tls: Vec<SniRoute>,
    pub l4: Option<L4Route>,
}

pub fn attach_all(
    _snapshot: &Snapshot,
    _options: &Options,
    _gateways: &mut [GatewayCtx],
    _clusters: &mut BTreeMap<ClusterId, Cluster>,
    _statuses: &mut Statuses,
) {
}

pub fn service_frontends(_snapshot: &Snapshot) -> Vec<ServiceFrontend> {
    Vec::new()
}
