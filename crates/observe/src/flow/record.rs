//! The flow record: one observed connection, request or packet verdict, in
//! the vocabulary of Hubble's `flow.Flow` but independent of protobuf (the
//! conversion lives in [`crate::hubble`]).
//!
//! The proxy and the eBPF agent fill a [`Flow`] and hand it to a
//! [`super::FlowSink`]. Names that repeat across flows (namespaces, gateway
//! and route names, labels) are `Arc<str>` so a producer clones a pointer
//! instead of copying text on the data path.

use std::borrow::Cow;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

/// What happened to the flow (Hubble's `flow.Verdict`, same codes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Verdict {
    #[default]
    Unknown,
    Forwarded,
    Dropped,
    Error,
    Audit,
    Redirected,
    Traced,
    Translated,
}

impl Verdict {
    /// Every verdict, in code order.
    pub const ALL: [Verdict; 8] = [
        Verdict::Unknown,
        Verdict::Forwarded,
        Verdict::Dropped,
        Verdict::Error,
        Verdict::Audit,
        Verdict::Redirected,
        Verdict::Traced,
        Verdict::Translated,
    ];

    /// The upstream enum name (`FORWARDED`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Unknown => "VERDICT_UNKNOWN",
            Verdict::Forwarded => "FORWARDED",
            Verdict::Dropped => "DROPPED",
            Verdict::Error => "ERROR",
            Verdict::Audit => "AUDIT",
            Verdict::Redirected => "REDIRECTED",
            Verdict::Traced => "TRACED",
            Verdict::Translated => "TRANSLATED",
        }
    }

    /// The protobuf enum number.
    pub fn code(self) -> i32 {
        match self {
            Verdict::Unknown => 0,
            Verdict::Forwarded => 1,
            Verdict::Dropped => 2,
            Verdict::Error => 3,
            Verdict::Audit => 4,
            Verdict::Redirected => 5,
            Verdict::Traced => 6,
            Verdict::Translated => 7,
        }
    }

    /// The verdict for a protobuf enum number, `None` when unknown.
    pub fn from_code(code: i32) -> Option<Verdict> {
        Verdict::ALL.into_iter().find(|v| v.code() == code)
    }

    /// Parses an upstream name, case-insensitively (`dropped`, `FORWARDED`).
    pub fn parse(name: &str) -> Option<Verdict> {
        Verdict::ALL
            .into_iter()
            .find(|v| v.as_str().eq_ignore_ascii_case(name.trim()))
    }
}

/// A drop reason code (Hubble's `flow.DropReason`; the code space is open,
/// so this is a number with named constants for the reasons Portico uses).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DropReason(pub u16);

impl DropReason {
    pub const INVALID_SOURCE_IP: DropReason = DropReason(132);
    pub const POLICY_DENIED: DropReason = DropReason(133);
    pub const INVALID_PACKET: DropReason = DropReason(134);
    pub const UNKNOWN_L4_PROTOCOL: DropReason = DropReason(142);
    pub const SERVICE_BACKEND_NOT_FOUND: DropReason = DropReason(158);
    pub const NO_CONFIGURATION: DropReason = DropReason(165);
    pub const DENIED_BY_LB_SRC_RANGE_CHECK: DropReason = DropReason(177);
    pub const POLICY_DENY: DropReason = DropReason(181);
    pub const AUTH_REQUIRED: DropReason = DropReason(189);

    /// The upstream enum name, or `DROP_REASON_<code>` for codes Portico
    /// does not name.
    pub fn name(self) -> std::borrow::Cow<'static, str> {
        let name = match self.0 {
            130 => "INVALID_SOURCE_MAC",
            131 => "INVALID_DESTINATION_MAC",
            132 => "INVALID_SOURCE_IP",
            133 => "POLICY_DENIED",
            134 => "INVALID_PACKET_DROPPED",
            135 => "CT_TRUNCATED_OR_INVALID_HEADER",
            142 => "UNKNOWN_L4_PROTOCOL",
            151 => "STALE_OR_UNROUTABLE_IP",
            158 => "SERVICE_BACKEND_NOT_FOUND",
            164 => "LOCAL_HOST_IS_UNREACHABLE",
            165 => "NO_CONFIGURATION_AVAILABLE_TO_PERFORM_POLICY_DECISION",
            177 => "DENIED_BY_LB_SRC_RANGE_CHECK",
            181 => "POLICY_DENY",
            189 => "AUTH_REQUIRED",
            other => return format!("DROP_REASON_{other}").into(),
        };
        name.into()
    }
}

/// The Cilium monitor event a flow came from (`flow.CiliumEventType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct EventType {
    pub kind: i32,
    pub sub_type: i32,
}

impl EventType {
    pub const DROP: i32 = 1;
    pub const DEBUG: i32 = 2;
    pub const CAPTURE: i32 = 3;
    pub const TRACE: i32 = 4;
    pub const POLICY_VERDICT: i32 = 5;
    pub const TRACE_SOCK: i32 = 7;
    pub const ACCESS_LOG: i32 = 129;
    pub const AGENT: i32 = 130;

    /// An L7 record from the proxy (Cilium's access-log event).
    pub const fn l7() -> EventType {
        EventType {
            kind: EventType::ACCESS_LOG,
            sub_type: 0,
        }
    }

    /// A drop; the sub-type is the drop reason code, as in Cilium.
    pub const fn drop(reason: DropReason) -> EventType {
        EventType {
            kind: EventType::DROP,
            sub_type: reason.0 as i32,
        }
    }

    /// A trace event at an observation point.
    pub const fn trace(point: TracePoint) -> EventType {
        EventType {
            kind: EventType::TRACE,
            sub_type: point as i32,
        }
    }

    /// A policy verdict.
    pub const fn policy_verdict() -> EventType {
        EventType {
            kind: EventType::POLICY_VERDICT,
            sub_type: 0,
        }
    }
}

impl Default for EventType {
    fn default() -> Self {
        EventType::l7()
    }
}

/// Cilium trace observation points, numbered as the monitor's trace
/// sub-types (`TraceToLxc` = 0, ...).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(i32)]
pub enum TracePoint {
    ToEndpoint = 0,
    ToProxy = 1,
    ToHost = 2,
    ToStack = 3,
    ToOverlay = 4,
    FromEndpoint = 5,
    FromProxy = 6,
    FromHost = 7,
    FromStack = 8,
    FromOverlay = 9,
    FromNetwork = 10,
    ToNetwork = 11,
}

impl TracePoint {
    /// Every point, in sub-type order.
    pub const ALL: [TracePoint; 12] = [
        TracePoint::ToEndpoint,
        TracePoint::ToProxy,
        TracePoint::ToHost,
        TracePoint::ToStack,
        TracePoint::ToOverlay,
        TracePoint::FromEndpoint,
        TracePoint::FromProxy,
        TracePoint::FromHost,
        TracePoint::FromStack,
        TracePoint::FromOverlay,
        TracePoint::FromNetwork,
        TracePoint::ToNetwork,
    ];

    /// The point for a trace sub-type.
    pub fn from_sub_type(sub_type: i32) -> Option<TracePoint> {
        TracePoint::ALL.into_iter().find(|p| *p as i32 == sub_type)
    }

    /// The `hubble observe -t trace:<name>` spelling.
    pub fn cli_name(self) -> &'static str {
        match self {
            TracePoint::ToEndpoint => "to-endpoint",
            TracePoint::ToProxy => "to-proxy",
            TracePoint::ToHost => "to-host",
            TracePoint::ToStack => "to-stack",
            TracePoint::ToOverlay => "to-overlay",
            TracePoint::FromEndpoint => "from-endpoint",
            TracePoint::FromProxy => "from-proxy",
            TracePoint::FromHost => "from-host",
            TracePoint::FromStack => "from-stack",
            TracePoint::FromOverlay => "from-overlay",
            TracePoint::FromNetwork => "from-network",
            TracePoint::ToNetwork => "to-network",
        }
    }
}

/// Direction of the connection relative to the observed endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum TrafficDirection {
    #[default]
    Unknown,
    Ingress,
    Egress,
}

/// TCP header flags as a bit set (FIN = bit 0 ... NS = bit 8).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct TcpFlags(pub u16);

impl TcpFlags {
    pub const FIN: TcpFlags = TcpFlags(1);
    pub const SYN: TcpFlags = TcpFlags(1 << 1);
    pub const RST: TcpFlags = TcpFlags(1 << 2);
    pub const PSH: TcpFlags = TcpFlags(1 << 3);
    pub const ACK: TcpFlags = TcpFlags(1 << 4);
    pub const URG: TcpFlags = TcpFlags(1 << 5);
    pub const ECE: TcpFlags = TcpFlags(1 << 6);
    pub const CWR: TcpFlags = TcpFlags(1 << 7);
    pub const NS: TcpFlags = TcpFlags(1 << 8);

    /// Flag names in bit order, as `hubble observe --tcp-flags` spells them.
    pub const NAMES: [(&'static str, TcpFlags); 9] = [
        ("FIN", TcpFlags::FIN),
        ("SYN", TcpFlags::SYN),
        ("RST", TcpFlags::RST),
        ("PSH", TcpFlags::PSH),
        ("ACK", TcpFlags::ACK),
        ("URG", TcpFlags::URG),
        ("ECE", TcpFlags::ECE),
        ("CWR", TcpFlags::CWR),
        ("NS", TcpFlags::NS),
    ];

    /// True when every flag of `other` is set here.
    pub fn contains(self, other: TcpFlags) -> bool {
        self.0 & other.0 == other.0
    }

    /// The union of two sets.
    #[must_use]
    pub fn with(self, other: TcpFlags) -> TcpFlags {
        TcpFlags(self.0 | other.0)
    }
}

/// Source and destination address of the flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpInfo {
    pub source: IpAddr,
    pub destination: IpAddr,
}

/// The transport layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layer4 {
    Tcp {
        source_port: u16,
        destination_port: u16,
        flags: TcpFlags,
    },
    Udp {
        source_port: u16,
        destination_port: u16,
    },
    Icmpv4 {
        kind: u8,
        code: u8,
    },
    Icmpv6 {
        kind: u8,
        code: u8,
    },
}

impl Layer4 {
    /// `(source, destination)` ports, `None` for ICMP.
    pub fn ports(&self) -> Option<(u16, u16)> {
        match *self {
            Layer4::Tcp {
                source_port,
                destination_port,
                ..
            }
            | Layer4::Udp {
                source_port,
                destination_port,
            } => Some((source_port, destination_port)),
            Layer4::Icmpv4 { .. } | Layer4::Icmpv6 { .. } => None,
        }
    }

    /// Lower-case protocol name (`tcp`, `udp`, `icmpv4`, `icmpv6`).
    pub fn protocol(&self) -> &'static str {
        match self {
            Layer4::Tcp { .. } => "tcp",
            Layer4::Udp { .. } => "udp",
            Layer4::Icmpv4 { .. } => "icmpv4",
            Layer4::Icmpv6 { .. } => "icmpv6",
        }
    }
}

/// Whether an L7 record describes a request, a response or a sample.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum L7Type {
    #[default]
    Unknown,
    Request,
    Response,
    Sample,
}

/// The application layer.
#[derive(Debug, Clone, PartialEq)]
pub struct Layer7 {
    pub kind: L7Type,
    /// Time from request to response (responses only).
    pub latency: Option<Duration>,
    pub record: L7Record,
}

/// The protocol-specific part of an L7 record.
#[derive(Debug, Clone, PartialEq)]
pub enum L7Record {
    Http(HttpInfo),
}

/// An HTTP (or gRPC over HTTP/2) exchange.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct HttpInfo {
    /// Response status code; 0 on a request record.
    pub code: u16,
    /// Borrowed for the standard methods: no allocation per request.
    pub method: Cow<'static, str>,
    /// Full URL as Hubble shows it: `http://host/path?query`.
    pub url: String,
    /// `HTTP/1.1`, `HTTP/2`, ...
    pub protocol: &'static str,
    /// A chosen subset of headers (never credentials).
    pub headers: Vec<(String, String)>,
    /// Set when the exchange is gRPC.
    pub grpc: Option<GrpcInfo>,
}

impl HttpInfo {
    /// The path of [`Self::url`]: after the authority, before `?` or `#`.
    pub fn path(&self) -> &str {
        let rest = match self.url.find("://") {
            Some(scheme_end) => {
                let after = &self.url[scheme_end + 3..];
                match after.find('/') {
                    Some(slash) => &after[slash..],
                    None => "/",
                }
            }
            None => self.url.as_str(),
        };
        let end = rest.find(['?', '#']).unwrap_or(rest.len());
        &rest[..end]
    }

    /// True for gRPC: marked by the producer or by a gRPC content type.
    pub fn is_grpc(&self) -> bool {
        self.grpc.is_some()
            || self.headers.iter().any(|(k, v)| {
                k.eq_ignore_ascii_case("content-type") && v.starts_with("application/grpc")
            })
    }
}

/// gRPC details of an HTTP/2 exchange.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct GrpcInfo {
    /// `package.Service`.
    pub service: String,
    pub method: String,
    /// `grpc-status` of the response, when known.
    pub status: Option<i32>,
}

/// TLS details seen by the proxy (terminated or passed through).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TlsInfo {
    /// The server name the client asked for.
    pub sni: Option<Arc<str>>,
}

/// A workload owning an endpoint (`Deployment`, ...).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Workload {
    pub name: Arc<str>,
    pub kind: Arc<str>,
}

/// One side of a flow: a pod, a gateway, or an address outside the cluster.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Endpoint {
    /// Security identity (0 when unknown).
    pub identity: u32,
    pub namespace: Option<Arc<str>>,
    pub pod_name: Option<Arc<str>>,
    /// Labels in `key=value` form (an optional `source:` prefix on the key,
    /// e.g. `k8s:app=web`, is ignored by selectors that do not name it).
    pub labels: Vec<Arc<str>>,
    pub workloads: Vec<Workload>,
}

/// A Kubernetes Service.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ServiceRef {
    pub namespace: Arc<str>,
    pub name: Arc<str>,
}

/// The Gateway (and listener) that handled a flow.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct GatewayRef {
    pub namespace: Arc<str>,
    pub name: Arc<str>,
    pub listener: Option<Arc<str>>,
}

/// The route that matched a flow.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RouteRef {
    /// `HTTPRoute`, `GRPCRoute`, `TLSRoute`, `TCPRoute`, `UDPRoute`.
    pub kind: &'static str,
    pub namespace: Arc<str>,
    pub name: Arc<str>,
}

/// One observed flow. Build it with struct-update syntax from
/// [`Flow::default`] (which stamps the current time) and fill what is known.
#[derive(Debug, Clone, PartialEq)]
pub struct Flow {
    pub time: SystemTime,
    pub verdict: Verdict,
    /// Set when `verdict` is [`Verdict::Dropped`].
    pub drop_reason: Option<DropReason>,
    pub ip: Option<IpInfo>,
    pub l4: Option<Layer4>,
    pub l7: Option<Layer7>,
    pub tls: Option<TlsInfo>,
    pub source: Option<Arc<Endpoint>>,
    pub destination: Option<Arc<Endpoint>>,
    pub source_service: Option<ServiceRef>,
    pub destination_service: Option<ServiceRef>,
    /// DNS names of the destination (for the proxy: the request's host or
    /// the TLS server name).
    pub destination_names: Vec<Arc<str>>,
    pub gateway: Option<GatewayRef>,
    pub route: Option<RouteRef>,
    /// Node that observed the flow; `None` means the ring's own node.
    pub node_name: Option<Arc<str>>,
    pub is_reply: Option<bool>,
    pub event_type: EventType,
    pub traffic_direction: TrafficDirection,
    /// Port of the proxy listener that handled the flow (0 if none).
    pub proxy_port: u16,
    /// W3C trace id (32 hex digits) when the request carried one.
    pub trace_id: Option<Arc<str>>,
}

impl Default for Flow {
    /// An empty flow stamped with the current wall-clock time.
    fn default() -> Self {
        Flow {
            time: SystemTime::now(),
            verdict: Verdict::Unknown,
            drop_reason: None,
            ip: None,
            l4: None,
            l7: None,
            tls: None,
            source: None,
            destination: None,
            source_service: None,
            destination_service: None,
            destination_names: Vec::new(),
            gateway: None,
            route: None,
            node_name: None,
            is_reply: None,
            event_type: EventType::default(),
            traffic_direction: TrafficDirection::Unknown,
            proxy_port: 0,
            trace_id: None,
        }
    }
}

impl Flow {
    /// The HTTP record, if this is an HTTP flow.
    pub fn http(&self) -> Option<&HttpInfo> {
        match &self.l7 {
            Some(Layer7 {
                record: L7Record::Http(http),
                ..
            }) => Some(http),
            None => None,
        }
    }

    /// True when this is an L7 flow (Hubble's `Type == L7`).
    pub fn is_l7(&self) -> bool {
        self.l7.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verdict_round_trips_codes_and_names() {
        for v in Verdict::ALL {
            assert_eq!(Verdict::from_code(v.code()), Some(v));
            assert_eq!(Verdict::parse(&v.as_str().to_lowercase()), Some(v));
        }
        assert_eq!(Verdict::from_code(42), None);
        assert_eq!(Verdict::parse("ALLOWED"), None);
    }

    #[test]
    fn http_path_strips_scheme_authority_and_query() {
        let mut h = HttpInfo {
            url: "http://example.com/a/b?x=1#f".into(),
            ..HttpInfo::default()
        };
        assert_eq!(h.path(), "/a/b");
        h.url = "https://example.com".into();
        assert_eq!(h.path(), "/");
        h.url = "/only/path?q".into();
        assert_eq!(h.path(), "/only/path");
    }

    #[test]
    fn grpc_detected_from_content_type() {
        let h = HttpInfo {
            headers: vec![("Content-Type".into(), "application/grpc+proto".into())],
            ..HttpInfo::default()
        };
        assert!(h.is_grpc());
        assert!(!HttpInfo::default().is_grpc());
    }

    #[test]
    fn drop_reason_names() {
        assert_eq!(DropReason::POLICY_DENIED.name(), "POLICY_DENIED");
        assert_eq!(DropReason(250).name(), "DROP_REASON_250");
    }

    #[test]
    fn tcp_flags_contains() {
        let f = TcpFlags::SYN.with(TcpFlags::ACK);
        assert!(f.contains(TcpFlags::SYN));
        assert!(f.contains(TcpFlags::SYN.with(TcpFlags::ACK)));
        assert!(!f.contains(TcpFlags::FIN));
    }
}
