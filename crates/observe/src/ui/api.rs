//! The UI's JSON endpoints: filtered flows and the service map.

use serde_json::{Value, json};

use crate::Error;
use crate::accesslog::{ALL_FIELDS, object};
use crate::admin::percent_decode;
use crate::flow::{FilterSet, FlowRing, servicemap};
use crate::hubble::flags::{self, FlagUse};

/// Flows returned when no `limit` is given (and the most ever returned).
const DEFAULT_LIMIT: usize = 200;
const MAX_LIMIT: usize = 1000;
/// Distinct client nodes on the map before the rest are merged.
const MAP_CLIENTS: usize = 8;

/// A parsed `/api/flows` or `/api/servicemap` query.
pub struct FlowsQuery {
    /// Only flows with a sequence number above this.
    pub after: Option<u64>,
    pub limit: usize,
    pub filters: FilterSet,
}

impl FlowsQuery {
    /// Parses `after`, `limit` and filter parameters (named like
    /// `portico observe`'s long flags, `not-` negates). Empty values are
    /// ignored so a form can submit every field.
    pub fn parse(query: &str) -> Result<FlowsQuery, Error> {
        let mut after = None;
        let mut limit = DEFAULT_LIMIT;
        let mut uses = Vec::new();
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            let key = percent_decode(key);
            let value = percent_decode(value).trim().to_owned();
            if value.is_empty() {
                continue;
            }
            match key.as_str() {
                "after" => {
                    after = Some(value.parse().map_err(|_| invalid("after", &value))?);
                }
                "limit" => {
                    let n: usize = value.parse().map_err(|_| invalid("limit", &value))?;
                    limit = n.clamp(1, MAX_LIMIT);
                }
                name => {
                    let (name, negated) = match name.strip_prefix("not-") {
                        Some(rest) => (rest, true),
                        None => (name, false),
                    };
                    if !flags::filter_flag_names().any(|n| n == name) {
                        return Err(Error::InvalidFilter {
                            field: "parameter",
                            value: key.clone(),
                            reason: "not a flow filter (use portico observe's long flag names)"
                                .into(),
                        });
                    }
                    uses.push(FlagUse {
                        name: name.to_owned(),
                        value,
                        negated,
                    });
                }
            }
        }
        let (white, black) = flags::build(&uses, None)?;
        let filters = FilterSet::compile(&white, &black)?;
        Ok(FlowsQuery {
            after,
            limit,
            filters,
        })
    }
}

fn invalid(field: &'static str, value: &str) -> Error {
    Error::InvalidFilter {
        field,
        value: value.to_owned(),
        reason: "not a non-negative integer".into(),
    }
}

/// `{"flows": [...], "last_seq", "seen", "lost", "max"}`: the newest
/// `limit` matching flows after `after`, oldest first, each with the
/// access log fields plus `seq`. `last_seq` is the newest sequence number
/// the ring holds (matching or not), for the next poll's `after`.
pub fn flows_json(ring: &FlowRing, query: &FlowsQuery) -> Value {
    let snapshot = ring.snapshot();
    let last_seq = snapshot.last().map(|r| r.seq);
    let matching: Vec<_> = snapshot
        .iter()
        .filter(|r| query.after.is_none_or(|a| r.seq > a))
        .filter(|r| query.filters.matches(r))
        .collect();
    let skip = matching.len().saturating_sub(query.limit);
    let flows: Vec<Value> = matching[skip..]
        .iter()
        .map(|r| {
            let mut o = object(&r.flow, ALL_FIELDS);
            o.insert("seq".into(), Value::from(r.seq));
            Value::Object(o)
        })
        .collect();
    let status = ring.status();
    json!({
        "flows": flows,
        "last_seq": last_seq,
        "seen": status.seen_flows,
        "lost": status.lost_flows,
        "max": status.max_flows,
    })
}

/// The service map over the ring's flows that match the query's filters.
pub fn servicemap_json(ring: &FlowRing, query: &FlowsQuery) -> Value {
    let snapshot = ring.snapshot();
    let map = servicemap::build(
        snapshot
            .iter()
            .filter(|r| query.after.is_none_or(|a| r.seq > a))
            .filter(|r| query.filters.matches(r))
            .map(|r| &r.flow),
        MAP_CLIENTS,
    );
    serde_json::to_value(&map).unwrap_or_else(|e| json!({ "error": e.to_string() }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::accesslog::tests_support::http_flow;
    use crate::flow::{RingConfig, Verdict};

    fn ring_with(codes: &[(u16, Verdict)]) -> FlowRing {
        let ring = FlowRing::new(RingConfig::default()).expect("ring");
        let sink = ring.sink();
        for (code, verdict) in codes {
            let mut flow = http_flow(*code, *verdict);
            if *code == 404 {
                flow.route = None;
                flow.destination_service = None;
            }
            sink.emit(flow);
        }
        ring
    }

    fn codes(v: &Value) -> Vec<u64> {
        v["flows"]
            .as_array()
            .expect("flows")
            .iter()
            .filter_map(|f| f["status"].as_u64())
            .collect()
    }

    #[test]
    fn filters_follow_the_observe_flags() {
        let ring = ring_with(&[
            (200, Verdict::Forwarded),
            (404, Verdict::Dropped),
            (500, Verdict::Error),
        ]);
        let all = flows_json(&ring, &FlowsQuery::parse("").expect("query"));
        assert_eq!(codes(&all), vec![200, 404, 500]);
        assert_eq!(all["last_seq"], 2);
        assert_eq!(all["flows"][1]["seq"], 1);
        let q = FlowsQuery::parse("http-status=4%2B").expect("query");
        assert_eq!(codes(&flows_json(&ring, &q)), vec![404]);
        let q = FlowsQuery::parse("verdict=FORWARDED&verdict=ERROR").expect("query");
        assert_eq!(codes(&flows_json(&ring, &q)), vec![200, 500]);
        let q = FlowsQuery::parse("not-verdict=DROPPED&http-method=GET").expect("query");
        assert_eq!(codes(&flows_json(&ring, &q)), vec![200, 500]);
        let q = FlowsQuery::parse("from-ip=127.0.0.0%2F8&to-service=shop%2Fcart").expect("query");
        assert_eq!(codes(&flows_json(&ring, &q)), vec![200, 500]);
        let q = FlowsQuery::parse("http-path=%5E%2Fcart%24&namespace=&to-ip=").expect("query");
        assert_eq!(codes(&flows_json(&ring, &q)).len(), 3);
        let q = FlowsQuery::parse("from-ip=192.0.2.0%2F24").expect("query");
        assert!(codes(&flows_json(&ring, &q)).is_empty());
    }

    #[test]
    fn after_and_limit_page_through_new_flows() {
        let ring = ring_with(&[
            (200, Verdict::Forwarded),
            (201, Verdict::Forwarded),
            (202, Verdict::Forwarded),
        ]);
        let q = FlowsQuery::parse("after=0").expect("query");
        assert_eq!(codes(&flows_json(&ring, &q)), vec![201, 202]);
        let q = FlowsQuery::parse("limit=1").expect("query");
        assert_eq!(codes(&flows_json(&ring, &q)), vec![202]);
        let q = FlowsQuery::parse("after=2").expect("query");
        let v = flows_json(&ring, &q);
        assert!(codes(&v).is_empty());
        assert_eq!(v["last_seq"], 2);
    }

    #[test]
    fn bad_parameters_are_rejected_with_the_reason() {
        for (query, needle) in [
            ("from-ip=10.0.0.0%2F40", "10.0.0.0/40"),
            ("http-path=(", "("),
            ("verdict=SOMETIMES", "SOMETIMES"),
            ("colour=blue", "colour"),
            ("after=-1", "after"),
        ] {
            let err = FlowsQuery::parse(query).err().expect(query).to_string();
            assert!(err.contains(needle), "{query}: {err}");
        }
    }

    #[test]
    fn the_map_draws_only_matching_flows() {
        let ring = ring_with(&[(200, Verdict::Forwarded), (404, Verdict::Dropped)]);
        let map = servicemap_json(&ring, &FlowsQuery::parse("").expect("query"));
        let ids: Vec<&str> = map["nodes"]
            .as_array()
            .expect("nodes")
            .iter()
            .filter_map(|n| n["id"].as_str())
            .collect();
        assert!(ids.contains(&"route:HTTPRoute shop/cart"), "{ids:?}");
        let dropped = servicemap_json(&ring, &FlowsQuery::parse("verdict=DROPPED").expect("q"));
        let ids: Vec<&str> = dropped["nodes"]
            .as_array()
            .expect("nodes")
            .iter()
            .filter_map(|n| n["id"].as_str())
            .collect();
        assert!(!ids.iter().any(|i| i.starts_with("route:")), "{ids:?}");
    }
}
