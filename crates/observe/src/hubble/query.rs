//! A validated `GetFlowsRequest`: which flows of the ring's history to
//! send, and whether and how long to follow.

use std::sync::Arc;
use std::time::SystemTime;

use super::convert::{filter_from_proto, system_time};
use super::proto::observer::GetFlowsRequest;
use crate::Error;
use crate::flow::filter::invalid;
use crate::flow::{FilterSet, FilterSpec, Recorded};

/// What a GetFlows call asked for.
#[derive(Debug)]
pub struct FlowQuery {
    pub filters: Arc<FilterSet>,
    /// 0 = no limit.
    pub number: u64,
    pub first: bool,
    pub follow: bool,
    pub since: Option<SystemTime>,
    pub until: Option<SystemTime>,
}

impl FlowQuery {
    /// Validates a request (filters, timestamps, incompatible options).
    pub fn from_request(req: &GetFlowsRequest) -> Result<FlowQuery, Error> {
        if req.first && req.follow {
            return Err(invalid(
                "first",
                "true",
                "first cannot be combined with follow",
            ));
        }
        let white = req
            .whitelist
            .iter()
            .map(filter_from_proto)
            .collect::<Result<Vec<FilterSpec>, _>>()?;
        let black = req
            .blacklist
            .iter()
            .map(filter_from_proto)
            .collect::<Result<Vec<FilterSpec>, _>>()?;
        let since = req
            .since
            .as_ref()
            .map(|t| system_time("since", t))
            .transpose()?;
        let until = req
            .until
            .as_ref()
            .map(|t| system_time("until", t))
            .transpose()?;
        if let (Some(s), Some(u)) = (since, until)
            && s > u
        {
            return Err(invalid("since", "", "since is after until"));
        }
        Ok(FlowQuery {
            filters: Arc::new(FilterSet::compile(&white, &black)?),
            number: req.number,
            first: req.first,
            follow: req.follow,
            since,
            until,
        })
    }

    /// True when the flow's time is inside `since..=until`.
    pub fn in_window(&self, r: &Recorded) -> bool {
        self.since.is_none_or(|s| r.flow.time >= s) && self.until.is_none_or(|u| r.flow.time <= u)
    }

    /// The part of the ring's history (oldest first) to send.
    pub fn select_history(&self, history: Vec<Arc<Recorded>>) -> Vec<Arc<Recorded>> {
        // Following with neither a count nor a start time: only new flows.
        if self.follow && self.number == 0 && self.since.is_none() {
            return Vec::new();
        }
        let matching: Vec<Arc<Recorded>> = history
            .into_iter()
            .filter(|r| self.in_window(r) && self.filters.matches(r))
            .collect();
        super::events::keep_number(matching, self.number, self.first)
    }

    /// True when following can still produce flows (until not past).
    pub fn should_follow(&self, now: SystemTime) -> bool {
        self.follow && self.until.is_none_or(|u| u > now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flow::{Flow, FlowRing, RingConfig};
    use crate::hubble::convert::{filter_to_proto, timestamp};
    use crate::hubble::proto::flow::FlowFilter as PbFilter;

    fn history(n: u16) -> Vec<Arc<Recorded>> {
        let ring = FlowRing::new(RingConfig::default()).expect("ring");
        let sink = ring.sink();
        for p in 0..n {
            sink.emit(Flow {
                proxy_port: p,
                ..Flow::default()
            });
        }
        ring.snapshot()
    }

    fn ports(v: &[Arc<Recorded>]) -> Vec<u16> {
        v.iter().map(|r| r.flow.proxy_port).collect()
    }

    #[test]
    fn last_and_first_n() {
        let q = FlowQuery::from_request(&GetFlowsRequest {
            number: 3,
            ..GetFlowsRequest::default()
        })
        .expect("valid");
        assert_eq!(ports(&q.select_history(history(10))), vec![7, 8, 9]);
        let q = FlowQuery::from_request(&GetFlowsRequest {
            number: 3,
            first: true,
            ..GetFlowsRequest::default()
        })
        .expect("valid");
        assert_eq!(ports(&q.select_history(history(10))), vec![0, 1, 2]);
        let all = FlowQuery::from_request(&GetFlowsRequest::default()).expect("valid");
        assert_eq!(all.select_history(history(10)).len(), 10);
    }

    #[test]
    fn follow_without_number_sends_no_history() {
        let q = FlowQuery::from_request(&GetFlowsRequest {
            follow: true,
            ..GetFlowsRequest::default()
        })
        .expect("valid");
        assert!(q.select_history(history(5)).is_empty());
        assert!(q.should_follow(SystemTime::now()));
    }

    #[test]
    fn since_and_until_window() {
        let h = history(3);
        let t1 = h[1].flow.time;
        let q = FlowQuery::from_request(&GetFlowsRequest {
            since: Some(timestamp(t1)),
            until: Some(timestamp(t1)),
            ..GetFlowsRequest::default()
        })
        .expect("valid");
        let got = q.select_history(h);
        assert!(got.iter().all(|r| r.flow.time == t1));
        assert!(ports(&got).contains(&1));
        assert!(!q.should_follow(SystemTime::now()));
    }

    #[test]
    fn invalid_requests_are_rejected() {
        let both = GetFlowsRequest {
            first: true,
            follow: true,
            ..GetFlowsRequest::default()
        };
        assert!(FlowQuery::from_request(&both).is_err());
        let bad_filter = GetFlowsRequest {
            whitelist: vec![PbFilter {
                source_ip: vec!["300.1.1.1".into()],
                ..PbFilter::default()
            }],
            ..GetFlowsRequest::default()
        };
        let err = FlowQuery::from_request(&bad_filter).expect_err("bad ip");
        assert!(err.to_string().contains("source_ip"));
        let spec = FilterSpec {
            http_path: vec!["[".into()],
            ..FilterSpec::default()
        };
        let bad_black = GetFlowsRequest {
            blacklist: vec![filter_to_proto(&spec)],
            ..GetFlowsRequest::default()
        };
        assert!(FlowQuery::from_request(&bad_black).is_err());
    }
}
