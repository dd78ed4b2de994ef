//! The Hubble observer API over a real socket (port 0) with the generated
//! tonic client: history, filters, follow, lost-event notices, status,
//! nodes and invalid-filter errors.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use portico_observe::flow::{
    Endpoint, Flow, FlowRing, FlowSink, HttpInfo, IpInfo, L7Record, L7Type, Layer4, Layer7,
    RingConfig, ServiceRef, TcpFlags, Verdict,
};
use portico_observe::hubble::proto::flow::{FlowFilter, Verdict as PbVerdict};
use portico_observe::hubble::proto::observer::get_flows_response::ResponseTypes;
use portico_observe::hubble::proto::observer::{
    GetFlowsRequest, GetFlowsResponse, GetNodesRequest, ServerStatusRequest,
};
use portico_observe::hubble::{HubbleServer, ObserverClient, ServerOptions, serve};
use tokio::net::TcpListener;
use tonic::transport::Channel;

const DEADLINE: Duration = Duration::from_secs(10);

async fn start(ring: &FlowRing) -> HubbleServer {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    serve(listener, ring.clone(), ServerOptions::default()).expect("serve")
}

async fn client(addr: SocketAddr) -> ObserverClient<Channel> {
    tokio::time::timeout(DEADLINE, ObserverClient::connect(format!("http://{addr}")))
        .await
        .expect("connect in time")
        .expect("connect")
}

fn http_flow(code: u16, path: &str, verdict: Verdict) -> Flow {
    Flow {
        verdict,
        ip: Some(IpInfo {
            source: "192.0.2.10".parse().expect("ip"),
            destination: "10.1.0.5".parse().expect("ip"),
        }),
        l4: Some(Layer4::Tcp {
            source_port: 50000,
            destination_port: 8080,
            flags: TcpFlags::default(),
        }),
        l7: Some(Layer7 {
            kind: L7Type::Response,
            latency: Some(Duration::from_millis(3)),
            record: L7Record::Http(HttpInfo {
                code,
                method: "GET".into(),
                url: format!("http://shop.example{path}"),
                protocol: "HTTP/1.1",
                ..HttpInfo::default()
            }),
        }),
        destination: Some(Arc::new(Endpoint {
            namespace: Some("shop".into()),
            pod_name: Some("web-7d9".into()),
            labels: vec!["k8s:app=web".into()],
            ..Endpoint::default()
        })),
        destination_service: Some(ServiceRef {
            namespace: "shop".into(),
            name: "web".into(),
        }),
        ..Flow::default()
    }
}

fn fill(sink: &FlowSink) {
    sink.emit(http_flow(200, "/", Verdict::Forwarded));
    sink.emit(http_flow(404, "/missing", Verdict::Forwarded));
    sink.emit(http_flow(503, "/api/cart", Verdict::Error));
    sink.emit(http_flow(200, "/api/items", Verdict::Forwarded));
}

async fn collect(
    client: &mut ObserverClient<Channel>,
    req: GetFlowsRequest,
) -> Vec<GetFlowsResponse> {
    let mut stream = client.get_flows(req).await.expect("GetFlows").into_inner();
    let mut out = Vec::new();
    loop {
        match tokio::time::timeout(DEADLINE, stream.message()).await {
            Ok(Ok(Some(msg))) => out.push(msg),
            Ok(Ok(None)) => return out,
            Ok(Err(status)) => panic!("stream error: {status}"),
            Err(_) => panic!("stream did not end before the deadline"),
        }
    }
}

fn codes(responses: &[GetFlowsResponse]) -> Vec<u32> {
    responses
        .iter()
        .filter_map(|r| match &r.response_types {
            Some(ResponseTypes::Flow(f)) => match f.l7.as_ref()?.record.as_ref()? {
                portico_observe::hubble::proto::flow::layer7::Record::Http(h) => Some(h.code),
            },
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn history_last_first_and_filters() {
    let ring = FlowRing::new(RingConfig::default()).expect("ring");
    fill(&ring.sink());
    let server = start(&ring).await;
    let mut c = client(server.local_addr()).await;

    let all = collect(&mut c, GetFlowsRequest::default()).await;
    assert_eq!(codes(&all), vec![200, 404, 503, 200]);
    assert!(
        all.iter()
            .all(|r| r.node_name == "portico" && r.time.is_some())
    );

    let last2 = collect(
        &mut c,
        GetFlowsRequest {
            number: 2,
            ..GetFlowsRequest::default()
        },
    )
    .await;
    assert_eq!(codes(&last2), vec![503, 200]);

    let first1 = collect(
        &mut c,
        GetFlowsRequest {
            number: 1,
            first: true,
            ..GetFlowsRequest::default()
        },
    )
    .await;
    assert_eq!(codes(&first1), vec![200]);

    // Whitelist: errors OR 4xx; blacklist: the 404 path.
    let filtered = collect(
        &mut c,
        GetFlowsRequest {
            whitelist: vec![
                FlowFilter {
                    verdict: vec![PbVerdict::Error as i32],
                    ..FlowFilter::default()
                },
                FlowFilter {
                    http_status_code: vec!["4+".into()],
                    destination_pod: vec!["shop/web-".into()],
                    ..FlowFilter::default()
                },
            ],
            blacklist: vec![FlowFilter {
                http_path: vec!["^/missing$".into()],
                ..FlowFilter::default()
            }],
            ..GetFlowsRequest::default()
        },
    )
    .await;
    assert_eq!(codes(&filtered), vec![503]);

    let by_label_and_service = collect(
        &mut c,
        GetFlowsRequest {
            whitelist: vec![FlowFilter {
                destination_label: vec!["app=web".into()],
                destination_service: vec!["shop/web".into()],
                source_ip: vec!["192.0.2.0/24".into()],
                destination_port: vec!["8080".into()],
                protocol: vec!["http".into()],
                http_method: vec!["get".into()],
                ..FlowFilter::default()
            }],
            ..GetFlowsRequest::default()
        },
    )
    .await;
    assert_eq!(by_label_and_service.len(), 4);

    server.shutdown().await.expect("clean shutdown");
}

#[tokio::test]
async fn invalid_filters_are_invalid_argument() {
    let ring = FlowRing::new(RingConfig::default()).expect("ring");
    let server = start(&ring).await;
    let mut c = client(server.local_addr()).await;
    let cases = [
        FlowFilter {
            source_ip: vec!["10.0.0.0/40".into()],
            ..FlowFilter::default()
        },
        FlowFilter {
            http_path: vec!["(".into()],
            ..FlowFilter::default()
        },
        FlowFilter {
            verdict: vec![42],
            ..FlowFilter::default()
        },
        FlowFilter {
            http_status_code: vec!["9+".into()],
            ..FlowFilter::default()
        },
    ];
    for filter in cases {
        let err = c
            .get_flows(GetFlowsRequest {
                whitelist: vec![filter.clone()],
                ..GetFlowsRequest::default()
            })
            .await
            .expect_err("invalid filter");
        assert_eq!(
            err.code(),
            tonic::Code::InvalidArgument,
            "{filter:?}: {err}"
        );
        assert!(
            err.message().contains("invalid flow filter"),
            "{}",
            err.message()
        );
    }
    let err = c
        .get_flows(GetFlowsRequest {
            first: true,
            follow: true,
            ..GetFlowsRequest::default()
        })
        .await
        .expect_err("first+follow");
    assert_eq!(err.code(), tonic::Code::InvalidArgument);
    server.shutdown().await.expect("clean shutdown");
}

#[tokio::test]
async fn follow_streams_new_matching_flows() {
    let ring = FlowRing::new(RingConfig::default()).expect("ring");
    let sink = ring.sink();
    sink.emit(http_flow(200, "/old", Verdict::Forwarded));
    let server = start(&ring).await;
    let mut c = client(server.local_addr()).await;
    let mut stream = c
        .get_flows(GetFlowsRequest {
            number: 1,
            follow: true,
            whitelist: vec![FlowFilter {
                http_status_code: vec!["200".into()],
                ..FlowFilter::default()
            }],
            ..GetFlowsRequest::default()
        })
        .await
        .expect("GetFlows")
        .into_inner();
    let first = tokio::time::timeout(DEADLINE, stream.message())
        .await
        .expect("history in time")
        .expect("ok")
        .expect("one message");
    assert_eq!(codes(&[first]), vec![200]);
    // The subscription exists once the history arrived; new flows follow.
    sink.emit(http_flow(500, "/skip", Verdict::Error));
    sink.emit(http_flow(200, "/new", Verdict::Forwarded));
    let next = tokio::time::timeout(DEADLINE, stream.message())
        .await
        .expect("follow in time")
        .expect("ok")
        .expect("one message");
    match &next.response_types {
        Some(ResponseTypes::Flow(f)) => {
            let Some(portico_observe::hubble::proto::flow::layer7::Record::Http(h)) =
                f.l7.as_ref().and_then(|l| l.record.as_ref())
            else {
                panic!("http flow expected");
            };
            assert_eq!(h.url, "http://shop.example/new");
        }
        other => panic!("flow expected, got {other:?}"),
    }
    drop(stream);
    server
        .shutdown()
        .await
        .expect("shutdown ends follow streams");
}

#[tokio::test]
async fn stuck_follower_gets_lost_events_and_never_blocks_the_producer() {
    let ring = FlowRing::new(RingConfig {
        capacity: 63,
        subscriber_buffer: 8,
        ..RingConfig::default()
    })
    .expect("ring");
    let sink = ring.sink();
    let server = start(&ring).await;
    let mut c = client(server.local_addr()).await;
    let mut stream = c
        .get_flows(GetFlowsRequest {
            follow: true,
            ..GetFlowsRequest::default()
        })
        .await
        .expect("GetFlows")
        .into_inner();
    // Make sure the follower is subscribed before flooding: one flow through.
    sink.emit(http_flow(200, "/warmup", Verdict::Forwarded));
    tokio::time::timeout(DEADLINE, stream.message())
        .await
        .expect("warm-up in time")
        .expect("ok")
        .expect("message");
    // The client reads nothing while the producer emits far more than the
    // subscriber buffer; emit must return immediately every time.
    let produce = tokio::task::spawn_blocking(move || {
        for _ in 0..50_000 {
            sink.emit(http_flow(200, "/flood", Verdict::Forwarded));
        }
    });
    tokio::time::timeout(DEADLINE, produce)
        .await
        .expect("producer never blocks on a stuck subscriber")
        .expect("producer task");
    let mut lost = 0u64;
    let mut flows = 0u64;
    while lost == 0 {
        let msg = tokio::time::timeout(DEADLINE, stream.message())
            .await
            .expect("message in time")
            .expect("ok")
            .expect("stream open");
        match msg.response_types {
            Some(ResponseTypes::LostEvents(l)) => lost = l.num_events_lost,
            Some(ResponseTypes::Flow(_)) => flows += 1,
            other => panic!("unexpected {other:?}"),
        }
    }
    assert!(lost > 0);
    assert!(flows < 50_000);
    let status = ring.status();
    assert_eq!(status.seen_flows, 50_001);
    assert!(status.lost_flows >= lost);
    drop(stream);
    server.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn server_status_and_nodes() {
    let ring = FlowRing::new(RingConfig {
        capacity: 3,
        node_name: "node-a".into(),
        ..RingConfig::default()
    })
    .expect("ring");
    let sink = ring.sink();
    for _ in 0..5 {
        sink.emit(http_flow(200, "/", Verdict::Forwarded));
    }
    let server = start(&ring).await;
    let mut c = client(server.local_addr()).await;
    let st = c
        .server_status(ServerStatusRequest {})
        .await
        .expect("status")
        .into_inner();
    assert_eq!((st.num_flows, st.max_flows, st.seen_flows), (3, 3, 5));
    assert!(st.uptime_ns > 0);
    assert_eq!(st.num_connected_nodes, Some(1));
    assert!(st.version.starts_with("portico/"));
    let nodes = c
        .get_nodes(GetNodesRequest {})
        .await
        .expect("nodes")
        .into_inner()
        .nodes;
    assert_eq!(nodes.len(), 1);
    assert_eq!(nodes[0].name, "node-a");
    assert_eq!(nodes[0].address, server.local_addr().to_string());
    assert_eq!(nodes[0].seen_flows, 5);
    server.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn dropping_the_server_stops_it() {
    let ring = FlowRing::new(RingConfig::default()).expect("ring");
    let server = start(&ring).await;
    let addr = server.local_addr();
    let mut c = client(addr).await;
    c.server_status(ServerStatusRequest {})
        .await
        .expect("status while running");
    drop(server);
    // The listener closes once the server task has stopped.
    let closed = tokio::time::timeout(DEADLINE, async {
        let mut poll = tokio::time::interval(Duration::from_millis(10));
        loop {
            poll.tick().await;
            if tokio::net::TcpStream::connect(addr).await.is_err() {
                return;
            }
        }
    })
    .await;
    assert!(closed.is_ok(), "listener still accepting after drop");
}

#[tokio::test]
async fn bind_reports_an_address_in_use() {
    let ring = FlowRing::new(RingConfig::default()).expect("ring");
    let taken = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = taken.local_addr().expect("addr");
    let err = portico_observe::hubble::bind(addr, ring.clone(), ServerOptions::default())
        .await
        .expect_err("address in use");
    assert!(err.to_string().contains(&addr.to_string()), "{err}");
    let free = portico_observe::hubble::bind(
        "127.0.0.1:0".parse().expect("addr"),
        ring,
        ServerOptions::default(),
    )
    .await
    .expect("bind port 0");
    assert_ne!(free.local_addr().port(), 0);
    free.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn namespaces_agent_and_debug_events() {
    use portico_observe::hubble::proto::flow::{AgentEventType, agent_event};
    use portico_observe::hubble::proto::observer::{
        GetAgentEventsRequest, GetDebugEventsRequest, GetNamespacesRequest,
    };

    let ring = FlowRing::new(RingConfig::default()).expect("ring");
    fill(&ring.sink());
    let server = start(&ring).await;
    let mut c = client(server.local_addr()).await;

    let names: Vec<String> = c
        .get_namespaces(GetNamespacesRequest {})
        .await
        .expect("GetNamespaces")
        .into_inner()
        .namespaces
        .into_iter()
        .map(|n| n.namespace)
        .collect();
    assert_eq!(names, ["shop"]);

    // History: the AGENT_STARTED event, then the stream ends.
    let mut events = c
        .get_agent_events(GetAgentEventsRequest {
            number: 10,
            ..Default::default()
        })
        .await
        .expect("GetAgentEvents")
        .into_inner();
    let first = tokio::time::timeout(DEADLINE, events.message())
        .await
        .expect("in time")
        .expect("ok")
        .expect("one event");
    let ev = first.agent_event.expect("agent event");
    assert_eq!(ev.r#type, AgentEventType::AgentStarted as i32);
    assert!(matches!(
        ev.notification,
        Some(agent_event::Notification::AgentStart(_))
    ));
    let end = tokio::time::timeout(DEADLINE, events.message())
        .await
        .expect("in time");
    assert!(matches!(end, Ok(None)), "{end:?}");

    // Debug events: a valid empty stream that ends without following.
    let mut debug = c
        .get_debug_events(GetDebugEventsRequest::default())
        .await
        .expect("GetDebugEvents")
        .into_inner();
    let end = tokio::time::timeout(DEADLINE, debug.message())
        .await
        .expect("in time");
    assert!(matches!(end, Ok(None)), "{end:?}");

    // first + follow is refused, as for flows.
    let err = c
        .get_debug_events(GetDebugEventsRequest {
            first: true,
            follow: true,
            ..Default::default()
        })
        .await
        .expect_err("first+follow");
    assert_eq!(err.code(), tonic::Code::InvalidArgument);

    // Following stays open until the server shuts down.
    let mut follow = c
        .get_agent_events(GetAgentEventsRequest {
            follow: true,
            ..Default::default()
        })
        .await
        .expect("follow")
        .into_inner();
    server.shutdown().await.expect("shutdown");
    let end = tokio::time::timeout(DEADLINE, follow.message())
        .await
        .expect("follow ends with the server");
    assert!(!matches!(end, Ok(Some(_))), "{end:?}");
}
