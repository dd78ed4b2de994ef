//! TLS passthrough/terminate routes and raw TCP/UDP routes.

use serde::{Deserialize, Serialize};

use crate::{HostMatch, ObjectRef, WeightedBackend};

/// A TLSRoute attached to a TLS listener: connections whose SNI matches one of
/// `hostnames` go to `backends`. Sorted most specific hostname first.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SniRoute {
    pub route: ObjectRef,
    pub hostnames: Vec<HostMatch>,
    pub backends: Vec<WeightedBackend>,
}

/// A TCPRoute or UDPRoute serving a listener.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct L4Route {
    pub route: ObjectRef,
    pub backends: Vec<WeightedBackend>,
}
