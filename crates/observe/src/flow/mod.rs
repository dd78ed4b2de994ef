//! Flow records, the in-memory flow ring and Hubble-style filters.
//!
//! - [`record`]: the [`Flow`] type producers fill (no protobuf in sight).
//! - [`ring`]: the bounded [`FlowRing`], the producer handle [`FlowSink`]
//!   and live [`Subscription`]s.
//! - [`filter`]: [`FilterSpec`] → [`FlowFilter`] / [`FilterSet`] with
//!   Hubble's whitelist/blacklist semantics.
//! - [`metrics`]: Hubble's Prometheus families fed by the ring.
//! - [`servicemap`]: clients → gateways → routes → services from flows.

pub mod filter;
pub mod metrics;
pub mod record;
pub mod ring;
pub mod servicemap;

pub use filter::{EventTypeSpec, FilterSet, FilterSpec, FlowFilter, IpVersion, Side, WorkloadSpec};
pub use metrics::HubbleMetrics;
pub use record::{
    DropReason, Endpoint, EventType, Flow, GatewayRef, GrpcInfo, HttpInfo, IpInfo, L7Record,
    L7Type, Layer4, Layer7, RouteRef, ServiceRef, TcpFlags, TlsInfo, TracePoint, TrafficDirection,
    Verdict, Workload,
};
pub use ring::{
    DEFAULT_CAPACITY, FlowRing, FlowSink, Recorded, RingConfig, RingStatus, Subscription,
    SubscriptionEvent,
};
