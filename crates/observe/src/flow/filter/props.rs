//! Property tests: filter values come from the network (gRPC) and the
//! command line, so compiling and matching must never panic, and the
//! whitelist/blacklist combination must follow Hubble's set semantics.

use std::sync::Arc;

use proptest::prelude::*;

use super::test_support::recorded;
use super::{FilterSet, FilterSpec, FlowFilter};
use crate::flow::record::{
    Endpoint, Flow, HttpInfo, IpInfo, L7Record, L7Type, Layer4, Layer7, ServiceRef, TcpFlags,
    Verdict,
};

fn sample_flow(port: u16, verdict: Verdict) -> Flow {
    Flow {
        verdict,
        ip: Some(IpInfo {
            source: "10.1.2.3".parse().expect("ip"),
            destination: "fd00::5".parse().expect("ip"),
        }),
        l4: Some(Layer4::Tcp {
            source_port: 40000,
            destination_port: port,
            flags: TcpFlags::SYN,
        }),
        l7: Some(Layer7 {
            kind: L7Type::Response,
            latency: None,
            record: L7Record::Http(HttpInfo {
                code: 503,
                method: "GET".into(),
                url: "http://h.example/a/b?c".into(),
                protocol: "HTTP/1.1",
                ..HttpInfo::default()
            }),
        }),
        source: Some(Arc::new(Endpoint {
            namespace: Some("ns".into()),
            pod_name: Some("pod-1".into()),
            labels: vec!["k8s:app=web".into(), "tier".into()],
            ..Endpoint::default()
        })),
        destination_service: Some(ServiceRef {
            namespace: "ns".into(),
            name: "svc".into(),
        }),
        destination_names: vec!["h.example".into()],
        ..Flow::default()
    }
}

proptest! {
    #[test]
    fn arbitrary_string_values_never_panic(value in ".{0,40}") {
        let flow = recorded(sample_flow(80, Verdict::Forwarded));
        let v = vec![value];
        let specs = [
            FilterSpec { source_ip: v.clone(), ..FilterSpec::default() },
            FilterSpec { destination_pod: v.clone(), ..FilterSpec::default() },
            FilterSpec { source_label: v.clone(), ..FilterSpec::default() },
            FilterSpec { destination_service: v.clone(), ..FilterSpec::default() },
            FilterSpec { destination_fqdn: v.clone(), ..FilterSpec::default() },
            FilterSpec { http_status_code: v.clone(), ..FilterSpec::default() },
            FilterSpec { protocol: v.clone(), ..FilterSpec::default() },
            FilterSpec { destination_port: v.clone(), ..FilterSpec::default() },
            FilterSpec { http_method: v.clone(), ..FilterSpec::default() },
            FilterSpec { http_path: v.clone(), ..FilterSpec::default() },
            FilterSpec { dns_query: v.clone(), ..FilterSpec::default() },
            FilterSpec { node_name: v.clone(), ..FilterSpec::default() },
            FilterSpec { uuid: v.clone(), ..FilterSpec::default() },
            FilterSpec { trace_id: v, ..FilterSpec::default() },
        ];
        for spec in &specs {
            if let Ok(filter) = FlowFilter::compile(spec) {
                let _ = filter.matches(&flow);
            }
        }
    }

    #[test]
    fn label_selector_grammar_never_panics(value in "[a-z!=,() :/.-]{0,30}") {
        let flow = recorded(sample_flow(80, Verdict::Forwarded));
        let spec = FilterSpec { source_label: vec![value], ..FilterSpec::default() };
        if let Ok(filter) = FlowFilter::compile(&spec) {
            let _ = filter.matches(&flow);
        }
    }

    #[test]
    fn set_is_whitelist_minus_blacklist(
        white in proptest::collection::vec((proptest::option::of(0u16..4), proptest::option::of(0usize..3)), 0..4),
        black in proptest::collection::vec((proptest::option::of(0u16..4), proptest::option::of(0usize..3)), 0..4),
        port in 0u16..4,
        verdict_ix in 0usize..3,
    ) {
        const VERDICTS: [Verdict; 3] = [Verdict::Forwarded, Verdict::Dropped, Verdict::Error];
        let to_spec = |(p, v): &(Option<u16>, Option<usize>)| FilterSpec {
            destination_port: p.iter().map(|p| p.to_string()).collect(),
            verdict: v.iter().map(|i| VERDICTS[*i]).collect(),
            ..FilterSpec::default()
        };
        // The oracle: a filter matches when each set field matches.
        let oracle = |(p, v): &(Option<u16>, Option<usize>)| {
            p.is_none_or(|p| p == port) && v.is_none_or(|i| i == verdict_ix)
        };
        let w: Vec<FilterSpec> = white.iter().map(to_spec).collect();
        let b: Vec<FilterSpec> = black.iter().map(to_spec).collect();
        let set = FilterSet::compile(&w, &b).expect("valid");
        let flow = recorded(sample_flow(port, VERDICTS[verdict_ix]));
        let expected = (white.is_empty() || white.iter().any(oracle)) && !black.iter().any(oracle);
        prop_assert_eq!(set.matches(&flow), expected);
    }
}
