//! The Observer's non-flow answers: namespaces seen in flows, agent events
//! (Portico records one, AGENT_STARTED, when its server starts) and debug
//! events (none: Portico's datapath does not emit them).

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use super::convert::{system_time, timestamp};
use super::proto::flow::{AgentEvent, AgentEventType, TimeNotification, agent_event};
use super::proto::observer::{GetAgentEventsRequest, GetAgentEventsResponse, Namespace};
use crate::Error;
use crate::flow::Recorded;
use crate::flow::filter::invalid;

/// Hubble lists the namespaces that had flows within the last hour.
pub const NAMESPACE_WINDOW: Duration = Duration::from_secs(3600);

/// Namespaces named by the flows in `flows` no older than
/// [`NAMESPACE_WINDOW`] before `now` (source and destination endpoints
/// and services, the Gateway and the route), sorted, without duplicates.
/// Portico has no cluster name: `cluster` is empty.
pub fn namespaces(flows: &[Arc<Recorded>], now: SystemTime) -> Vec<Namespace> {
    let oldest = now.checked_sub(NAMESPACE_WINDOW);
    let mut seen = BTreeSet::new();
    for r in flows {
        let f = &r.flow;
        if oldest.is_some_and(|o| f.time < o) {
            continue;
        }
        let names = [
            f.source.as_ref().and_then(|e| e.namespace.as_ref()),
            f.destination.as_ref().and_then(|e| e.namespace.as_ref()),
            f.source_service.as_ref().map(|s| &s.namespace),
            f.destination_service.as_ref().map(|s| &s.namespace),
            f.gateway.as_ref().map(|g| &g.namespace),
            f.route.as_ref().map(|r| &r.namespace),
        ];
        for ns in names.into_iter().flatten() {
            if !ns.is_empty() && !seen.contains(ns.as_ref()) {
                seen.insert(ns.to_string());
            }
        }
    }
    seen.into_iter()
        .map(|namespace| Namespace {
            cluster: String::new(),
            namespace,
        })
        .collect()
}

/// A validated GetAgentEvents / GetDebugEvents request (the two share
/// their fields).
#[derive(Debug, Clone, Copy)]
pub struct EventQuery {
    /// 0 = no limit.
    pub number: u64,
    pub first: bool,
    pub follow: bool,
    pub since: Option<SystemTime>,
    pub until: Option<SystemTime>,
}

impl EventQuery {
    pub fn new(
        number: u64,
        first: bool,
        follow: bool,
        since: Option<&prost_types::Timestamp>,
        until: Option<&prost_types::Timestamp>,
    ) -> Result<EventQuery, Error> {
        if first && follow {
            return Err(invalid(
                "first",
                "true",
                "first cannot be combined with follow",
            ));
        }
        let since = since.map(|t| system_time("since", t)).transpose()?;
        let until = until.map(|t| system_time("until", t)).transpose()?;
        if let (Some(s), Some(u)) = (since, until)
            && s > u
        {
            return Err(invalid("since", "", "since is after until"));
        }
        Ok(EventQuery {
            number,
            first,
            follow,
            since,
            until,
        })
    }

    pub fn from_agent_request(req: &GetAgentEventsRequest) -> Result<EventQuery, Error> {
        EventQuery::new(
            req.number,
            req.first,
            req.follow,
            req.since.as_ref(),
            req.until.as_ref(),
        )
    }

    /// The events of `history` (oldest first, with their times) to send.
    pub fn select<T>(&self, history: Vec<(SystemTime, T)>) -> Vec<T> {
        if self.follow && self.number == 0 && self.since.is_none() {
            return Vec::new();
        }
        let picked: Vec<T> = history
            .into_iter()
            .filter(|(t, _)| {
                self.since.is_none_or(|s| *t >= s) && self.until.is_none_or(|u| *t <= u)
            })
            .map(|(_, e)| e)
            .collect();
        keep_number(picked, self.number, self.first)
    }
}

/// The first (`first`) or last `number` of `items`; all when `number` is 0.
pub fn keep_number<T>(mut items: Vec<T>, number: u64, first: bool) -> Vec<T> {
    if number > 0 {
        let n = usize::try_from(number).unwrap_or(usize::MAX);
        if first {
            items.truncate(n);
        } else if items.len() > n {
            items.drain(..items.len() - n);
        }
    }
    items
}

/// The AGENT_STARTED event of a server started at `at` on `node`.
pub fn agent_started(node: &str, at: SystemTime) -> GetAgentEventsResponse {
    GetAgentEventsResponse {
        agent_event: Some(AgentEvent {
            r#type: AgentEventType::AgentStarted as i32,
            notification: Some(agent_event::Notification::AgentStart(TimeNotification {
                time: Some(timestamp(at)),
            })),
        }),
        node_name: node.to_owned(),
        time: Some(timestamp(at)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flow::{Endpoint, Flow, FlowRing, GatewayRef, RingConfig, ServiceRef};

    #[test]
    fn namespaces_come_from_recent_flows_sorted_and_unique() {
        let ring = FlowRing::new(RingConfig::default()).expect("ring");
        let sink = ring.sink();
        let now = SystemTime::now();
        sink.emit(Flow {
            destination_service: Some(ServiceRef {
                namespace: "shop".into(),
                name: "cart".into(),
            }),
            gateway: Some(GatewayRef {
                namespace: "infra".into(),
                name: "gw".into(),
                listener: None,
            }),
            ..Flow::default()
        });
        sink.emit(Flow {
            source: Some(Arc::new(Endpoint {
                namespace: Some("apps".into()),
                ..Endpoint::default()
            })),
            destination_service: Some(ServiceRef {
                namespace: "shop".into(),
                name: "pay".into(),
            }),
            ..Flow::default()
        });
        // Older than an hour: not listed.
        sink.emit(Flow {
            time: now - Duration::from_secs(7200),
            gateway: Some(GatewayRef {
                namespace: "stale".into(),
                name: "gw".into(),
                listener: None,
            }),
            ..Flow::default()
        });
        let names: Vec<String> = namespaces(&ring.snapshot(), now + Duration::from_secs(1))
            .into_iter()
            .map(|n| n.namespace)
            .collect();
        assert_eq!(names, ["apps", "infra", "shop"]);
    }

    #[test]
    fn event_selection_follows_number_first_and_window() {
        let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(100);
        let history = || {
            (0..5u64)
                .map(|i| (t0 + Duration::from_secs(i), i))
                .collect()
        };
        let q = |number, first, follow| EventQuery {
            number,
            first,
            follow,
            since: None,
            until: None,
        };
        assert_eq!(q(2, false, false).select(history()), [3, 4]);
        assert_eq!(q(2, true, false).select(history()), [0, 1]);
        assert_eq!(q(0, false, false).select(history()), [0, 1, 2, 3, 4]);
        assert!(q(0, false, true).select(history()).is_empty());
        let windowed = EventQuery {
            since: Some(t0 + Duration::from_secs(1)),
            until: Some(t0 + Duration::from_secs(2)),
            ..q(0, false, false)
        };
        assert_eq!(windowed.select(history()), [1, 2]);
        assert!(EventQuery::new(1, true, true, None, None).is_err());
    }
}
