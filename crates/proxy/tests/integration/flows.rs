use http::StatusCode;
use portico_observe::flow::{DropReason, FlowRing, RingConfig, Verdict};
use portico_proxy::ProxyConfig;

use crate::common::*;

#[tokio::test]
async fn every_request_produces_a_flow_record() {
    let a = Echo::start("a").await;
    let ring = FlowRing::new(RingConfig::default()).unwrap();
    let config = ProxyConfig {
        flows: ring.sink(),
        ..ProxyConfig::default()
    };
    let gw = Gateway::start_with(
        config,
        simple(
            vec![route(prefix("/ok"), vec![backend("a", 1)])],
            vec![a.cluster()],
        ),
    )
    .await;
    assert_eq!(
        get(gw.addr(), "app.example.com", "/ok/x?q=1").await.status,
        StatusCode::OK
    );
    assert_eq!(
        get(gw.addr(), "app.example.com", "/missing").await.status,
        StatusCode::NOT_FOUND
    );

    let flows = ring.snapshot();
    assert_eq!(flows.len(), 2);
    let ok = &flows[0].flow;
    assert_eq!(ok.verdict, Verdict::Forwarded);
    let http = ok.http().unwrap();
    assert_eq!((http.code, &*http.method), (200, "GET"));
    assert_eq!(http.url, "http://app.example.com/ok/x?q=1");
    assert_eq!(ok.route.as_ref().unwrap().name.as_ref(), "r");
    assert_eq!(ok.gateway.as_ref().unwrap().name.as_ref(), "gw");
    assert_eq!(ok.destination_service.as_ref().unwrap().name.as_ref(), "a");
    assert_eq!(ok.ip.unwrap().destination, a.addr.ip());
    assert_eq!(ok.l4.unwrap().ports().unwrap().1, a.addr.port());
    assert_eq!(ok.proxy_port, gw.addr().port());
    assert!(ok.l7.as_ref().unwrap().latency.is_some());

    let missing = &flows[1].flow;
    assert_eq!(missing.verdict, Verdict::Dropped);
    assert_eq!(missing.drop_reason, Some(DropReason::NO_CONFIGURATION));
    assert_eq!(missing.http().unwrap().code, 404);
}
