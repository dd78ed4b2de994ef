//! The Hubble `observer.Observer` gRPC service over a [`FlowRing`].

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::SystemTime;

use futures::{Stream, StreamExt};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tonic::{Request, Response, Status};

use super::convert::{flow_to_proto, timestamp};
use super::events::{self, EventQuery};
use super::proto::flow::{LostEvent, LostEventSource};
use super::proto::observer::observer_server::{Observer, ObserverServer};
use super::proto::observer::{
    GetAgentEventsRequest, GetAgentEventsResponse, GetDebugEventsRequest, GetDebugEventsResponse,
    GetFlowsRequest, GetFlowsResponse, GetNamespacesRequest, GetNamespacesResponse,
    GetNodesRequest, GetNodesResponse, Node, ServerStatusRequest, ServerStatusResponse, Tls,
    get_flows_response::ResponseTypes,
};
use super::proto::relay::NodeState;
use super::query::FlowQuery;
use crate::Error;
use crate::flow::{FlowRing, Recorded, Subscription, SubscriptionEvent};

/// The default listen address (Hubble's port, loopback).
pub const DEFAULT_ADDR: &str = "127.0.0.1:4244";

/// What the server reports about itself.
#[derive(Debug, Clone)]
pub struct ServerOptions {
    /// Version string for ServerStatus and GetNodes.
    pub version: String,
}

impl Default for ServerOptions {
    fn default() -> Self {
        ServerOptions {
            version: format!("portico/{}", env!("CARGO_PKG_VERSION")),
        }
    }
}

type FlowStream = Pin<Box<dyn Stream<Item = Result<GetFlowsResponse, Status>> + Send>>;
type EventStream<T> = Pin<Box<dyn Stream<Item = Result<T, Status>> + Send>>;

/// The Observer service implementation.
#[derive(Debug, Clone)]
pub struct ObserverService {
    ring: FlowRing,
    options: ServerOptions,
    address: String,
    shutdown: watch::Receiver<bool>,
    /// When this service started (its AGENT_STARTED event).
    started: SystemTime,
}

impl ObserverService {
    /// A service over `ring`; `address` is what GetNodes reports, and
    /// follow streams end when `shutdown` turns true.
    pub fn new(
        ring: FlowRing,
        options: ServerOptions,
        address: String,
        shutdown: watch::Receiver<bool>,
    ) -> ObserverService {
        ObserverService {
            ring,
            options,
            address,
            shutdown,
            started: SystemTime::now(),
        }
    }

    /// `history` as a stream, then, when following, nothing more until the
    /// server shuts down or the client goes away (no producer of further
    /// events exists yet).
    fn event_stream<T: Send + 'static>(&self, history: Vec<T>, follow: bool) -> EventStream<T> {
        let history = futures::stream::iter(history.into_iter().map(Ok));
        if !follow {
            return Box::pin(history);
        }
        let mut shutdown = self.shutdown.clone();
        let wait = futures::stream::once(async move {
            while !*shutdown.borrow_and_update() {
                if shutdown.changed().await.is_err() {
                    break;
                }
            }
        })
        .filter_map(|()| async { None });
        Box::pin(history.chain(wait))
    }
}

fn flow_response(r: &Recorded) -> GetFlowsResponse {
    GetFlowsResponse {
        node_name: r.node_name().to_owned(),
        time: Some(timestamp(r.flow.time)),
        response_types: Some(ResponseTypes::Flow(flow_to_proto(r))),
    }
}

fn lost_response(node: &str, lost: u64) -> GetFlowsResponse {
    GetFlowsResponse {
        node_name: node.to_owned(),
        time: Some(timestamp(SystemTime::now())),
        response_types: Some(ResponseTypes::LostEvents(LostEvent {
            source: LostEventSource::HubbleRingBuffer as i32,
            num_events_lost: lost,
            cpu: None,
        })),
    }
}

struct Follow {
    sub: Subscription,
    query: Arc<FlowQuery>,
    node: Arc<str>,
    shutdown: watch::Receiver<bool>,
}

/// New flows matching the query until the ring closes, `until` passes, the
/// server shuts down or the client goes away (the stream is dropped).
fn follow_stream(follow: Follow) -> FlowStream {
    Box::pin(futures::stream::unfold(follow, |mut st| async move {
        loop {
            if *st.shutdown.borrow() {
                return None;
            }
            let event = tokio::select! {
                ev = st.sub.recv() => ev?,
                changed = st.shutdown.changed() => {
                    if changed.is_err() || *st.shutdown.borrow() {
                        return None;
                    }
                    continue;
                }
            };
            match event {
                SubscriptionEvent::Lost(n) => {
                    tracing::debug!(lost = n, "GetFlows follower lagged");
                    return Some((Ok(lost_response(&st.node, n)), st));
                }
                SubscriptionEvent::Flow(r) => {
                    if st.query.until.is_some_and(|u| r.flow.time > u) {
                        return None;
                    }
                    if st.query.in_window(&r) && st.query.filters.matches(&r) {
                        return Some((Ok(flow_response(&r)), st));
                    }
                }
            }
        }
    }))
}

#[tonic::async_trait]
impl Observer for ObserverService {
    type GetFlowsStream = FlowStream;
    type GetAgentEventsStream = EventStream<GetAgentEventsResponse>;
    type GetDebugEventsStream = EventStream<GetDebugEventsResponse>;

    async fn get_agent_events(
        &self,
        request: Request<GetAgentEventsRequest>,
    ) -> Result<Response<Self::GetAgentEventsStream>, Status> {
        let query = EventQuery::from_agent_request(request.get_ref())
            .map_err(|e| Status::invalid_argument(e.to_string()))?;
        let node = self.ring.node_name();
        let history = vec![(self.started, events::agent_started(node, self.started))];
        let selected = query.select(history);
        let follow = query.follow && query.until.is_none_or(|u| u > SystemTime::now());
        Ok(Response::new(self.event_stream(selected, follow)))
    }

    async fn get_debug_events(
        &self,
        request: Request<GetDebugEventsRequest>,
    ) -> Result<Response<Self::GetDebugEventsStream>, Status> {
        let r = request.get_ref();
        let query = EventQuery::new(
            r.number,
            r.first,
            r.follow,
            r.since.as_ref(),
            r.until.as_ref(),
        )
        .map_err(|e| Status::invalid_argument(e.to_string()))?;
        let follow = query.follow && query.until.is_none_or(|u| u > SystemTime::now());
        Ok(Response::new(self.event_stream(Vec::new(), follow)))
    }

    async fn get_namespaces(
        &self,
        _request: Request<GetNamespacesRequest>,
    ) -> Result<Response<GetNamespacesResponse>, Status> {
        Ok(Response::new(GetNamespacesResponse {
            namespaces: events::namespaces(&self.ring.snapshot(), SystemTime::now()),
        }))
    }

    async fn get_flows(
        &self,
        request: Request<GetFlowsRequest>,
    ) -> Result<Response<FlowStream>, Status> {
        let query = FlowQuery::from_request(request.get_ref())
            .map_err(|e| Status::invalid_argument(e.to_string()))?;
        let query = Arc::new(query);
        tracing::debug!(
            number = query.number,
            first = query.first,
            follow = query.follow,
            "GetFlows"
        );
        let follow = query.should_follow(SystemTime::now());
        let (history, sub) = if follow {
            let (h, s) = self.ring.subscribe();
            (h, Some(s))
        } else {
            (self.ring.snapshot(), None)
        };
        let selected = query.select_history(history);
        let history_stream = futures::stream::iter(selected).map(|r| Ok(flow_response(&r)));
        let stream: FlowStream = match sub {
            Some(sub) => Box::pin(history_stream.chain(follow_stream(Follow {
                sub,
                query,
                node: Arc::clone(self.ring.node_name()),
                shutdown: self.shutdown.clone(),
            }))),
            None => Box::pin(history_stream),
        };
        Ok(Response::new(stream))
    }

    async fn get_nodes(
        &self,
        _request: Request<GetNodesRequest>,
    ) -> Result<Response<GetNodesResponse>, Status> {
        let st = self.ring.status();
        let node = Node {
            name: self.ring.node_name().to_string(),
            version: self.options.version.clone(),
            address: self.address.clone(),
            state: NodeState::NodeConnected as i32,
            tls: Some(Tls {
                enabled: false,
                server_name: String::new(),
            }),
            uptime_ns: u64::try_from(st.uptime.as_nanos()).unwrap_or(u64::MAX),
            num_flows: st.num_flows,
            max_flows: st.max_flows,
            seen_flows: st.seen_flows,
        };
        Ok(Response::new(GetNodesResponse { nodes: vec![node] }))
    }

    async fn server_status(
        &self,
        _request: Request<ServerStatusRequest>,
    ) -> Result<Response<ServerStatusResponse>, Status> {
        let st = self.ring.status();
        Ok(Response::new(ServerStatusResponse {
            num_flows: st.num_flows,
            max_flows: st.max_flows,
            seen_flows: st.seen_flows,
            uptime_ns: u64::try_from(st.uptime.as_nanos()).unwrap_or(u64::MAX),
            num_connected_nodes: Some(1),
            num_unavailable_nodes: Some(0),
            unavailable_nodes: Vec::new(),
            version: self.options.version.clone(),
        }))
    }
}

/// A running Hubble server. Dropping it stops the server in the
/// background; [`HubbleServer::shutdown`] also waits for it.
#[derive(Debug)]
pub struct HubbleServer {
    local_addr: SocketAddr,
    shutdown: watch::Sender<bool>,
    task: Option<JoinHandle<Result<(), Error>>>,
}

impl Drop for HubbleServer {
    fn drop(&mut self) {
        let _ = self.shutdown.send(true);
    }
}

impl HubbleServer {
    /// The address the server listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Ends follow streams, stops accepting and waits for the server task.
    pub async fn shutdown(mut self) -> Result<(), Error> {
        let _ = self.shutdown.send(true);
        let Some(task) = self.task.take() else {
            return Ok(());
        };
        match task.await {
            Ok(result) => result,
            Err(join) => {
                tracing::warn!(error = %join, "Hubble server task failed");
                Ok(())
            }
        }
    }
}

/// Binds `addr` and serves the Observer API for `ring` (what `portico run`
/// does with `--hubble-addr`, default [`DEFAULT_ADDR`]).
pub async fn bind(
    addr: SocketAddr,
    ring: FlowRing,
    options: ServerOptions,
) -> Result<HubbleServer, Error> {
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|source| Error::HubbleBind { addr, source })?;
    serve(listener, ring, options)
}

/// Serves the Observer API for `ring` on an already bound listener (bind
/// [`DEFAULT_ADDR`] unless configured otherwise; port 0 in tests).
pub fn serve(
    listener: TcpListener,
    ring: FlowRing,
    options: ServerOptions,
) -> Result<HubbleServer, Error> {
    let local_addr = listener.local_addr().map_err(Error::HubbleAddr)?;
    let (tx, rx) = watch::channel(false);
    let service = ObserverService::new(ring, options, local_addr.to_string(), rx.clone());
    let mut stop = rx;
    let task = tokio::spawn(async move {
        tracing::info!(addr = %local_addr, "Hubble observer API listening");
        tonic::transport::Server::builder()
            .add_service(ObserverServer::new(service))
            .serve_with_incoming_shutdown(
                tonic::transport::server::TcpIncoming::from(listener),
                async move {
                    while !*stop.borrow() {
                        if stop.changed().await.is_err() {
                            break;
                        }
                    }
                },
            )
            .await
            .map_err(Error::Grpc)
    });
    Ok(HubbleServer {
        local_addr,
        shutdown: tx,
        task: Some(task),
    })
}
