//! Flows of the eBPF programs for Hubble: ring-buffer records become
//! [`Flow`]s (named after the Services of the last sync), pumped into a flow
//! ring by one task per reader; and the agent's own Hubble API.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

use anyhow::Context;
use portico_ebpf::events::Hook;
use portico_ebpf::{EventReader, FlowRecord};
use portico_ir::{L4Protocol, ObjectRef, ServiceFrontend};
use portico_observe::flow::{
    DropReason, EventType, Flow, FlowRing, FlowSink, IpInfo, Layer4, RingConfig, ServiceRef,
    TcpFlags, TracePoint, TrafficDirection, Verdict,
};
use portico_observe::hubble::{HubbleServer, ServerOptions};
use tokio::io::Interest;
use tokio::io::unix::AsyncFd;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// Frontend (address, port) and protocol name → the Service, for flows.
type ServiceNames = BTreeMap<(SocketAddr, &'static str), ObjectRef>;

fn protocol_name(p: L4Protocol) -> &'static str {
    match p {
        L4Protocol::Tcp => "TCP",
        L4Protocol::Udp => "UDP",
        L4Protocol::Sctp => "SCTP",
    }
}

fn unspecified(like: IpAddr) -> IpAddr {
    match like {
        IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
    }
}

/// A service translation (or refusal) of the eBPF programs as a Hubble flow:
/// verdict TRANSLATED (socket LB: TraceSock; north-south: trace
/// from-network) or DROPPED (SERVICE_BACKEND_NOT_FOUND); destination the
/// chosen backend (the VIP when dropped), destination service from
/// `names`. The socket hooks run before the socket has a source address,
/// so their source is the unspecified address, port 0.
pub fn flow_of(r: &FlowRecord, names: &ServiceNames) -> Flow {
    let north_south = matches!(r.hook, Hook::TcIngress | Hook::Xdp);
    let translated = r.verdict == portico_ebpf::Verdict::Translated;
    let destination = r.backend.unwrap_or(r.service);
    let source = r
        .source
        .unwrap_or_else(|| SocketAddr::new(unspecified(r.service.ip()), 0));
    let l4 = match r.protocol {
        "TCP" => Some(Layer4::Tcp {
            source_port: source.port(),
            destination_port: destination.port(),
            flags: TcpFlags::SYN,
        }),
        "UDP" => Some(Layer4::Udp {
            source_port: source.port(),
            destination_port: destination.port(),
        }),
        _ => None,
    };
    // NodePort frontends are keyed by the unspecified address.
    let service = names
        .get(&(r.service, r.protocol))
        .or_else(|| {
            let any = SocketAddr::new(unspecified(r.service.ip()), r.service.port());
            names.get(&(any, r.protocol))
        })
        .map(|o| ServiceRef {
            namespace: Arc::from(o.namespace.as_str()),
            name: Arc::from(o.name.as_str()),
        });
    Flow {
        time: r.wall_time(),
        verdict: if translated {
            Verdict::Translated
        } else {
            Verdict::Dropped
        },
        drop_reason: (!translated).then_some(DropReason::SERVICE_BACKEND_NOT_FOUND),
        ip: Some(IpInfo {
            source: source.ip(),
            destination: destination.ip(),
        }),
        l4,
        destination_service: service,
        destination_names: vec![Arc::from(r.service.to_string().as_str())],
        is_reply: Some(false),
        event_type: match (translated, north_south) {
            (false, _) => EventType::drop(DropReason::SERVICE_BACKEND_NOT_FOUND),
            (true, true) => EventType::trace(TracePoint::FromNetwork),
            (true, false) => EventType {
                kind: EventType::TRACE_SOCK,
                sub_type: 0,
            },
        },
        traffic_direction: if north_south {
            TrafficDirection::Ingress
        } else {
            TrafficDirection::Egress
        },
        ..Flow::default()
    }
}

/// The agent's own Hubble observer API and its flow ring.
pub struct AgentFlows {
    ring: FlowRing,
    server: HubbleServer,
}

impl AgentFlows {
    /// Binds the Hubble API on `addr` (port 0 picks one).
    pub async fn start(addr: SocketAddr) -> anyhow::Result<AgentFlows> {
        let ring = FlowRing::new(RingConfig::default()).context("creating the flow ring")?;
        let server = portico_observe::hubble::bind(addr, ring.clone(), ServerOptions::default())
            .await
            .with_context(|| format!("starting the Hubble observer API on {addr}"))?;
        Ok(AgentFlows { ring, server })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.server.local_addr()
    }

    pub fn sink(&self) -> FlowSink {
        self.ring.sink()
    }

    pub async fn shutdown(self) {
        if let Err(e) = self.server.shutdown().await {
            tracing::warn!(error = %e, "Hubble observer API shutdown");
        }
    }
}

/// Ring-buffer readers pumped into a flow sink (one task per reader, woken
/// by the kernel through epoll); the tasks end when it drops.
pub(super) struct FlowForwarder {
    sink: FlowSink,
    names: watch::Sender<Arc<ServiceNames>>,
    tasks: Vec<JoinHandle<()>>,
}

impl FlowForwarder {
    pub(super) fn new(sink: FlowSink) -> FlowForwarder {
        FlowForwarder {
            sink,
            names: watch::Sender::new(Arc::new(ServiceNames::new())),
            tasks: Vec::new(),
        }
    }

    pub(super) fn add_reader(&mut self, reader: EventReader) -> anyhow::Result<()> {
        // `with_interest` is deprecated for types that do not own their
        // descriptor; the EventReader owns the ring buffer's, and the AsyncFd
        // owns the reader, so it stays open while registered.
        #[allow(deprecated)]
        let reader = AsyncFd::with_interest(reader, Interest::READABLE)
            .context("registering the eBPF event ring buffer with the runtime")?;
        let task = tokio::spawn(pump(reader, self.sink.clone(), self.names.subscribe()));
        self.tasks.push(task);
        Ok(())
    }

    /// The Services behind the frontends, for the flows' destination service.
    pub(super) fn set_services(&self, services: &[ServiceFrontend]) {
        let names: ServiceNames = services
            .iter()
            .map(|f| {
                let frontend = SocketAddr::new(f.address, f.port);
                ((frontend, protocol_name(f.protocol)), f.service.clone())
            })
            .collect();
        self.names.send_replace(Arc::new(names));
    }
}

impl Drop for FlowForwarder {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// Records per wake-up; more wait for the next turn of the loop.
const DRAIN_BATCH: usize = 256;

async fn pump(
    mut reader: AsyncFd<EventReader>,
    sink: FlowSink,
    names: watch::Receiver<Arc<ServiceNames>>,
) {
    loop {
        let mut ready = match reader.readable_mut().await {
            Ok(r) => r,
            Err(e) => {
                tracing::error!(error = %e, "eBPF event ring buffer: no more flows");
                return;
            }
        };
        let records = ready.get_inner_mut().drain(DRAIN_BATCH);
        if records.len() < DRAIN_BATCH {
            // Drained: the kernel wakes the descriptor for the next record.
            ready.clear_ready();
        }
        let names = names.borrow().clone();
        for r in &records {
            sink.emit(flow_of(r, &names));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(hook: Hook, verdict: portico_ebpf::Verdict) -> FlowRecord {
        let translated = verdict == portico_ebpf::Verdict::Translated;
        FlowRecord {
            monotonic_ns: 0,
            socket_cookie: 1,
            netns_cookie: 2,
            hook,
            source: matches!(hook, Hook::TcIngress | Hook::Xdp)
                .then(|| "192.0.2.9:40000".parse().unwrap()),
            protocol: "TCP",
            verdict,
            drop_reason: (!translated).then_some(portico_ebpf::events::DropReason::NoBackends),
            service: "10.96.0.10:80".parse().unwrap(),
            service_id: 3,
            backend: translated.then(|| "10.0.0.1:8080".parse().unwrap()),
            backend_id: 7,
        }
    }

    fn names() -> ServiceNames {
        let web = ObjectRef {
            kind: "Service".into(),
            namespace: "shop".into(),
            name: "web".into(),
        };
        BTreeMap::from([
            (("10.96.0.10:80".parse().unwrap(), "TCP"), web.clone()),
            (("0.0.0.0:30080".parse().unwrap(), "TCP"), web),
        ])
    }

    #[test]
    fn flow_records_become_hubble_flows() {
        let names = names();
        let sock = flow_of(
            &record(Hook::Connect4, portico_ebpf::Verdict::Translated),
            &names,
        );
        assert_eq!(sock.verdict, Verdict::Translated);
        assert_eq!(sock.event_type.kind, EventType::TRACE_SOCK);
        assert_eq!(sock.traffic_direction, TrafficDirection::Egress);
        let ip = sock.ip.expect("ip");
        assert_eq!(ip.destination.to_string(), "10.0.0.1");
        assert!(ip.source.is_unspecified());
        assert_eq!(sock.l4.and_then(|l| l.ports()), Some((0, 8080)));
        let svc = sock.destination_service.expect("service");
        assert_eq!((&*svc.namespace, &*svc.name), ("shop", "web"));

        let ns = flow_of(
            &record(Hook::Xdp, portico_ebpf::Verdict::Translated),
            &names,
        );
        assert_eq!(ns.event_type, EventType::trace(TracePoint::FromNetwork));
        assert_eq!(ns.traffic_direction, TrafficDirection::Ingress);
        assert_eq!(ns.ip.expect("ip").source.to_string(), "192.0.2.9");

        let dropped = flow_of(
            &record(Hook::TcIngress, portico_ebpf::Verdict::Dropped),
            &names,
        );
        assert_eq!(dropped.verdict, Verdict::Dropped);
        assert_eq!(
            dropped.drop_reason,
            Some(DropReason::SERVICE_BACKEND_NOT_FOUND)
        );
        assert_eq!(
            dropped.ip.expect("ip").destination.to_string(),
            "10.96.0.10"
        );

        // A NodePort frontend is named by its unspecified-address entry.
        let mut np = record(Hook::TcIngress, portico_ebpf::Verdict::Translated);
        np.service = "192.0.2.1:30080".parse().unwrap();
        assert!(flow_of(&np, &names).destination_service.is_some());
        np.service = "192.0.2.1:30081".parse().unwrap();
        assert!(flow_of(&np, &names).destination_service.is_none());
    }
}
