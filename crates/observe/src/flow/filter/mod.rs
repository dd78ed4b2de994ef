//! Flow filters with Hubble's `FlowFilter` semantics.
//!
//! A [`FilterSpec`] holds what a user asked for (strings as typed, like the
//! protobuf message). [`FlowFilter::compile`] validates it (bad CIDR, bad
//! regex, bad status pattern, ... become [`crate::Error::InvalidFilter`])
//! and turns every set field into a predicate:
//!
//! - within a field, the listed values are ORed;
//! - within a filter, the set fields are ANDed (an empty filter matches all);
//! - a [`FilterSet`] keeps a whitelist (ORed; empty means everything) and a
//!   blacklist (ORed); the result is whitelist minus blacklist.

mod event;
mod glob;
mod http;
mod identity;
mod ip;
mod label;
mod name;
mod port;
#[cfg(test)]
mod props;
mod protocol;

pub use label::LabelSelector;

use crate::Error;
use crate::flow::record::{TcpFlags, TrafficDirection, Verdict};
use crate::flow::ring::Recorded;

/// Which end of the flow a field looks at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    Source,
    Destination,
}

/// An IP version, for [`FilterSpec::ip_version`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IpVersion {
    V4,
    V6,
}

/// A workload to match (empty parts match anything).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct WorkloadSpec {
    pub name: String,
    pub kind: String,
}

/// An event type to match; `sub_type: None` matches every sub-type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventTypeSpec {
    pub kind: i32,
    pub sub_type: Option<i32>,
}

/// One filter as requested: every non-empty field must match.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct FilterSpec {
    pub uuid: Vec<String>,
    /// Exact addresses or CIDRs (`10.0.0.1`, `10.0.0.0/8`).
    pub source_ip: Vec<String>,
    pub destination_ip: Vec<String>,
    /// `namespace/pod-name-prefix`, `pod-name-prefix` or `namespace/`.
    pub source_pod: Vec<String>,
    pub destination_pod: Vec<String>,
    /// DNS names, `*` wildcards allowed.
    pub source_fqdn: Vec<String>,
    pub destination_fqdn: Vec<String>,
    /// Kubernetes label selectors (`app=web,tier!=db`, `env in (a,b)`).
    pub source_label: Vec<String>,
    pub destination_label: Vec<String>,
    /// Same syntax as the pod fields, against the flow's services.
    pub source_service: Vec<String>,
    pub destination_service: Vec<String>,
    pub source_workload: Vec<WorkloadSpec>,
    pub destination_workload: Vec<WorkloadSpec>,
    pub source_identity: Vec<u32>,
    pub destination_identity: Vec<u32>,
    pub traffic_direction: Vec<TrafficDirection>,
    pub verdict: Vec<Verdict>,
    pub event_type: Vec<EventTypeSpec>,
    /// `404`, `4+`, `40+`.
    pub http_status_code: Vec<String>,
    /// `tcp`, `udp`, `icmp`, `icmpv4`, `icmpv6`, `sctp`, `http`, `grpc`,
    /// `tls`, `dns`, `kafka`.
    pub protocol: Vec<String>,
    pub source_port: Vec<String>,
    pub destination_port: Vec<String>,
    pub reply: Vec<bool>,
    /// Regular expressions on DNS queries (Portico records no DNS flows, so
    /// a valid pattern matches nothing).
    pub dns_query: Vec<String>,
    pub http_method: Vec<String>,
    /// Regular expressions on the HTTP path (unanchored, like Hubble).
    pub http_path: Vec<String>,
    /// A flow matches an entry when it carries all of the entry's flags.
    pub tcp_flags: Vec<TcpFlags>,
    /// Glob patterns on the node name (`node-*`, `cluster/node-*`).
    pub node_name: Vec<String>,
    pub ip_version: Vec<IpVersion>,
    pub trace_id: Vec<String>,
}

type Predicate = Box<dyn Fn(&Recorded) -> bool + Send + Sync>;

/// A compiled filter: every predicate must hold.
pub struct FlowFilter {
    predicates: Vec<Predicate>,
}

impl std::fmt::Debug for FlowFilter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FlowFilter")
            .field("predicates", &self.predicates.len())
            .finish()
    }
}

impl FlowFilter {
    /// Validates and compiles a filter.
    pub fn compile(spec: &FilterSpec) -> Result<FlowFilter, Error> {
        let mut p: Vec<Predicate> = Vec::new();
        let mut add = |pred: Option<Predicate>| {
            if let Some(pred) = pred {
                p.push(pred);
            }
        };
        add(identity::uuid(&spec.uuid)?);
        add(ip::compile(Side::Source, &spec.source_ip)?);
        add(ip::compile(Side::Destination, &spec.destination_ip)?);
        add(name::pod(Side::Source, &spec.source_pod)?);
        add(name::pod(Side::Destination, &spec.destination_pod)?);
        add(glob::fqdn(Side::Source, &spec.source_fqdn)?);
        add(glob::fqdn(Side::Destination, &spec.destination_fqdn)?);
        add(label::compile(Side::Source, &spec.source_label)?);
        add(label::compile(Side::Destination, &spec.destination_label)?);
        add(name::service(Side::Source, &spec.source_service)?);
        add(name::service(Side::Destination, &spec.destination_service)?);
        add(identity::workload(Side::Source, &spec.source_workload));
        add(identity::workload(
            Side::Destination,
            &spec.destination_workload,
        ));
        add(identity::identity(Side::Source, &spec.source_identity));
        add(identity::identity(
            Side::Destination,
            &spec.destination_identity,
        ));
        add(event::direction(&spec.traffic_direction));
        add(event::verdict(&spec.verdict));
        add(event::event_type(&spec.event_type));
        add(http::status_code(&spec.http_status_code)?);
        add(protocol::compile(&spec.protocol)?);
        add(port::compile(Side::Source, &spec.source_port)?);
        add(port::compile(Side::Destination, &spec.destination_port)?);
        add(event::reply(&spec.reply));
        add(http::dns_query(&spec.dns_query)?);
        add(http::method(&spec.http_method)?);
        add(http::path(&spec.http_path)?);
        add(event::tcp_flags(&spec.tcp_flags));
        add(glob::node_name(&spec.node_name)?);
        add(event::ip_version(&spec.ip_version));
        add(identity::trace_id(&spec.trace_id));
        Ok(FlowFilter { predicates: p })
    }

    /// True when every set field matches.
    pub fn matches(&self, flow: &Recorded) -> bool {
        self.predicates.iter().all(|p| p(flow))
    }
}

/// Whitelist minus blacklist.
#[derive(Debug, Default)]
pub struct FilterSet {
    whitelist: Vec<FlowFilter>,
    blacklist: Vec<FlowFilter>,
}

impl FilterSet {
    /// Compiles both lists; the first invalid filter is the error.
    pub fn compile(whitelist: &[FilterSpec], blacklist: &[FilterSpec]) -> Result<FilterSet, Error> {
        Ok(FilterSet {
            whitelist: whitelist
                .iter()
                .map(FlowFilter::compile)
                .collect::<Result<_, _>>()?,
            blacklist: blacklist
                .iter()
                .map(FlowFilter::compile)
                .collect::<Result<_, _>>()?,
        })
    }

    /// A set that lets every flow through.
    pub fn all() -> FilterSet {
        FilterSet::default()
    }

    /// True when the flow is whitelisted (or there is no whitelist) and not
    /// blacklisted.
    pub fn matches(&self, flow: &Recorded) -> bool {
        (self.whitelist.is_empty() || self.whitelist.iter().any(|f| f.matches(flow)))
            && !self.blacklist.iter().any(|f| f.matches(flow))
    }
}

/// The error for an invalid filter value.
pub(crate) fn invalid(field: &'static str, value: &str, reason: impl Into<String>) -> Error {
    Error::InvalidFilter {
        field,
        value: value.to_owned(),
        reason: reason.into(),
    }
}

/// Boxes a predicate when the field has values.
pub(crate) fn when<F>(has_values: bool, f: F) -> Option<Predicate>
where
    F: Fn(&Recorded) -> bool + Send + Sync + 'static,
{
    has_values.then(|| Box::new(f) as Predicate)
}

#[cfg(test)]
pub(crate) mod test_support {
    use std::sync::Arc;

    use crate::flow::record::Flow;
    use crate::flow::ring::{FlowRing, Recorded, RingConfig};

    /// Records one flow in a fresh ring and returns the stored entry.
    pub fn recorded(flow: Flow) -> Arc<Recorded> {
        let ring = FlowRing::new(RingConfig::default()).expect("ring");
        ring.sink().emit(flow);
        ring.snapshot().pop().expect("one flow")
    }
}

#[cfg(test)]
mod tests {
    use super::test_support::recorded;
    use super::*;
    use crate::flow::record::{Flow, IpInfo};

    fn flow(src: &str, verdict: Verdict) -> Flow {
        Flow {
            verdict,
            ip: Some(IpInfo {
                source: src.parse().expect("ip"),
                destination: "10.0.0.9".parse().expect("ip"),
            }),
            ..Flow::default()
        }
    }

    #[test]
    fn empty_filter_and_empty_set_match_everything() {
        let f = recorded(flow("1.2.3.4", Verdict::Forwarded));
        assert!(
            FlowFilter::compile(&FilterSpec::default())
                .expect("ok")
                .matches(&f)
        );
        assert!(FilterSet::all().matches(&f));
    }

    #[test]
    fn fields_are_anded_values_ored() {
        let spec = FilterSpec {
            source_ip: vec!["9.9.9.9".into(), "1.2.3.0/24".into()],
            verdict: vec![Verdict::Dropped],
            ..FilterSpec::default()
        };
        let filter = FlowFilter::compile(&spec).expect("valid");
        assert!(filter.matches(&recorded(flow("1.2.3.4", Verdict::Dropped))));
        assert!(!filter.matches(&recorded(flow("1.2.3.4", Verdict::Forwarded))));
        assert!(!filter.matches(&recorded(flow("5.5.5.5", Verdict::Dropped))));
    }

    #[test]
    fn set_is_whitelist_minus_blacklist() {
        let white = vec![
            FilterSpec {
                verdict: vec![Verdict::Dropped],
                ..FilterSpec::default()
            },
            FilterSpec {
                source_ip: vec!["1.2.3.4".into()],
                ..FilterSpec::default()
            },
        ];
        let black = vec![FilterSpec {
            source_ip: vec!["7.7.7.7".into()],
            ..FilterSpec::default()
        }];
        let set = FilterSet::compile(&white, &black).expect("valid");
        assert!(set.matches(&recorded(flow("1.2.3.4", Verdict::Forwarded))));
        assert!(set.matches(&recorded(flow("8.8.8.8", Verdict::Dropped))));
        assert!(!set.matches(&recorded(flow("7.7.7.7", Verdict::Dropped))));
        assert!(!set.matches(&recorded(flow("8.8.8.8", Verdict::Forwarded))));

        let only_black = FilterSet::compile(&[], &black).expect("valid");
        assert!(only_black.matches(&recorded(flow("8.8.8.8", Verdict::Forwarded))));
        assert!(!only_black.matches(&recorded(flow("7.7.7.7", Verdict::Forwarded))));
    }

    #[test]
    fn set_reports_the_invalid_filter() {
        let err = FilterSet::compile(
            &[],
            &[FilterSpec {
                http_path: vec!["(".into()],
                ..FilterSpec::default()
            }],
        )
        .expect_err("bad regex");
        let msg = err.to_string();
        assert!(msg.contains("http_path"), "{msg}");
    }
}
