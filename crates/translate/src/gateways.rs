//! Gateways and ListenerSets. (Skeleton: filled in by the gateway-side work.)

use portico_ir::Bind;
use portico_model::Snapshot;

use crate::context::GatewayCtx;
use crate::gateway_class::AcceptedClasses;
use crate::{Options, Statuses};

pub fn build(
    _snapshot: &Snapshot,
    _options: &Options,
    _classes: &AcceptedClasses,
    _statuses: &mut Statuses,
) -> Vec<GatewayCtx> {
    Vec::new()
}

pub fn finish(_gateways: Vec<GatewayCtx>, _statuses: &mut Statuses) -> Vec<Bind> {
    Vec::new()
}
