//! GatewayClass acceptance. (Skeleton: filled in by the gateway-side work.)

use std::collections::BTreeSet;

use portico_model::Snapshot;

use crate::{Options, Statuses};

/// Names of the GatewayClasses this controller owns and accepted.
#[derive(Clone, Debug, Default)]
pub struct AcceptedClasses {
    pub names: BTreeSet<String>,
}

pub fn evaluate(
    _snapshot: &Snapshot,
    _options: &Options,
    _statuses: &mut Statuses,
) -> AcceptedClasses {
    AcceptedClasses::default()
}
