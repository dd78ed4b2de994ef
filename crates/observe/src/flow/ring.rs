//! The bounded flow ring and its producer/subscriber API.
//!
//! - Producers hold a [`FlowSink`] (cheap to clone) and call
//!   [`FlowSink::emit`]: the flow is wrapped in an `Arc` outside any lock,
//!   then pushed under a `parking_lot` mutex held for O(1) work (pop the
//!   oldest entry when full, push, hand a pointer to the broadcast channel).
//!   Emitting never waits for a subscriber.
//! - Subscribers get the history and then new flows through a bounded
//!   `tokio::sync::broadcast` receiver. A subscriber that falls behind is
//!   lagged: it skips what it missed and receives a
//!   [`SubscriptionEvent::Lost`] notice with the count, which is also added
//!   to the ring's `lost` counter.

use std::collections::VecDeque;
use std::hash::{BuildHasher, Hasher};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use parking_lot::Mutex;
use tokio::sync::broadcast;

use super::metrics::HubbleMetrics;
use super::record::Flow;
use crate::Error;

/// Hubble's default ring size.
pub const DEFAULT_CAPACITY: usize = 4095;
/// Default number of flows a subscriber may fall behind before it is lagged.
pub const DEFAULT_SUBSCRIBER_BUFFER: usize = 1024;

/// Ring settings.
#[derive(Debug, Clone)]
pub struct RingConfig {
    /// Flows kept; must be a power of two minus one (1, 3, 7, ..., 4095).
    pub capacity: usize,
    /// Per-subscriber queue length before the subscriber is lagged.
    pub subscriber_buffer: usize,
    /// Name reported for flows that carry no node name.
    pub node_name: Arc<str>,
    /// Hubble metrics updated by every emitted flow and every subscriber
    /// lag (see [`HubbleMetrics::register`]).
    pub metrics: Option<HubbleMetrics>,
}

impl Default for RingConfig {
    fn default() -> Self {
        RingConfig {
            capacity: DEFAULT_CAPACITY,
            subscriber_buffer: DEFAULT_SUBSCRIBER_BUFFER,
            node_name: Arc::from("portico"),
            metrics: None,
        }
    }
}

/// A flow as stored in the ring: the flow plus its sequence number.
#[derive(Debug)]
pub struct Recorded {
    /// Position in the stream of all flows this ring has seen (0-based).
    pub seq: u64,
    boot: u64,
    node: Arc<str>,
    pub flow: Flow,
}

impl Recorded {
    /// The node that observed the flow: the flow's own node name, else the
    /// ring's.
    pub fn node_name(&self) -> &str {
        self.flow.node_name.as_deref().unwrap_or(&self.node)
    }

    /// A UUID (version-4 layout) unique to this ring instance and flow.
    pub fn uuid(&self) -> String {
        let b = self.boot;
        let s = self.seq;
        format!(
            "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
            b >> 32,
            (b >> 16) & 0xffff,
            b & 0xfff,
            0x8000 | ((s >> 48) & 0x3fff),
            s & 0xffff_ffff_ffff
        )
    }
}

/// Counters and occupancy of a ring.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RingStatus {
    /// Flows currently held.
    pub num_flows: u64,
    /// Capacity.
    pub max_flows: u64,
    /// Flows emitted since the ring was created.
    pub seen_flows: u64,
    /// Flows subscribers missed because they fell behind.
    pub lost_flows: u64,
    /// Time since the ring was created.
    pub uptime: Duration,
}

struct State {
    buf: VecDeque<Arc<Recorded>>,
}

struct Shared {
    state: Mutex<State>,
    tx: broadcast::Sender<Arc<Recorded>>,
    capacity: usize,
    seen: AtomicU64,
    lost: AtomicU64,
    boot: u64,
    started: SystemTime,
    node_name: Arc<str>,
    metrics: Option<HubbleMetrics>,
}

impl Shared {
    fn count_lost(&self, n: u64) {
        self.lost.fetch_add(n, Ordering::Relaxed);
        if let Some(m) = &self.metrics {
            m.lost(n);
        }
    }
}

/// The flow ring. Cloning shares the same ring.
#[derive(Clone)]
pub struct FlowRing {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for FlowRing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FlowRing")
            .field("capacity", &self.shared.capacity)
            .field("seen", &self.shared.seen.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

impl FlowRing {
    /// A ring with the given settings; the capacity must be 2^n - 1.
    pub fn new(config: RingConfig) -> Result<FlowRing, Error> {
        let cap = config.capacity;
        if cap == 0 || !(cap + 1).is_power_of_two() {
            return Err(Error::InvalidRingCapacity(cap));
        }
        let (tx, _) = broadcast::channel(config.subscriber_buffer.max(1));
        let boot = std::collections::hash_map::RandomState::new()
            .build_hasher()
            .finish();
        Ok(FlowRing {
            shared: Arc::new(Shared {
                state: Mutex::new(State {
                    buf: VecDeque::with_capacity(cap),
                }),
                tx,
                capacity: cap,
                seen: AtomicU64::new(0),
                lost: AtomicU64::new(0),
                boot,
                started: SystemTime::now(),
                node_name: config.node_name,
                metrics: config.metrics,
            }),
        })
    }

    /// A producer handle feeding this ring.
    pub fn sink(&self) -> FlowSink {
        FlowSink {
            shared: Some(Arc::clone(&self.shared)),
        }
    }

    /// The ring's node name.
    pub fn node_name(&self) -> &Arc<str> {
        &self.shared.node_name
    }

    /// Counters and occupancy.
    pub fn status(&self) -> RingStatus {
        let num = self.shared.state.lock().buf.len() as u64;
        RingStatus {
            num_flows: num,
            max_flows: self.shared.capacity as u64,
            seen_flows: self.shared.seen.load(Ordering::Relaxed),
            lost_flows: self.shared.lost.load(Ordering::Relaxed),
            uptime: SystemTime::now()
                .duration_since(self.shared.started)
                .unwrap_or_default(),
        }
    }

    /// The flows currently held, oldest first.
    pub fn snapshot(&self) -> Vec<Arc<Recorded>> {
        self.shared.state.lock().buf.iter().cloned().collect()
    }

    /// The flows currently held (oldest first) and a subscription to every
    /// flow emitted after them: no flow is missed or delivered twice
    /// between the two.
    pub fn subscribe(&self) -> (Vec<Arc<Recorded>>, Subscription) {
        let state = self.shared.state.lock();
        let rx = self.shared.tx.subscribe();
        let history = state.buf.iter().cloned().collect();
        drop(state);
        (
            history,
            Subscription {
                rx,
                shared: Arc::clone(&self.shared),
            },
        )
    }
}

/// The producer handle. Clone it freely; a default (or
/// [`FlowSink::disabled`]) sink drops every flow without cost.
#[derive(Clone, Default)]
pub struct FlowSink {
    shared: Option<Arc<Shared>>,
}

impl std::fmt::Debug for FlowSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FlowSink")
            .field("enabled", &self.shared.is_some())
            .finish()
    }
}

impl FlowSink {
    /// A sink that records nothing.
    pub fn disabled() -> FlowSink {
        FlowSink { shared: None }
    }

    /// False for a disabled sink: producers can skip building the flow.
    pub fn is_enabled(&self) -> bool {
        self.shared.is_some()
    }

    /// Records a flow. Never waits for subscribers; the ring lock is held
    /// only to swap pointers.
    pub fn emit(&self, flow: Flow) {
        let Some(shared) = &self.shared else {
            return;
        };
        if let Some(m) = &shared.metrics {
            m.observe(&flow);
        }
        let seq = shared.seen.fetch_add(1, Ordering::Relaxed);
        let entry = Arc::new(Recorded {
            seq,
            boot: shared.boot,
            node: Arc::clone(&shared.node_name),
            flow,
        });
        let (evicted, unsent) = {
            let mut state = shared.state.lock();
            let evicted = if state.buf.len() >= shared.capacity {
                state.buf.pop_front()
            } else {
                None
            };
            state.buf.push_back(Arc::clone(&entry));
            // With no subscriber the value comes back; drop it after unlock.
            let unsent = shared.tx.send(entry).err();
            (evicted, unsent)
        };
        drop(evicted);
        drop(unsent);
    }
}

/// What a subscriber receives.
#[derive(Debug, Clone)]
pub enum SubscriptionEvent {
    Flow(Arc<Recorded>),
    /// The subscriber fell behind and missed this many flows.
    Lost(u64),
}

/// A live feed of new flows (see [`FlowRing::subscribe`]).
pub struct Subscription {
    rx: broadcast::Receiver<Arc<Recorded>>,
    shared: Arc<Shared>,
}

impl std::fmt::Debug for Subscription {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Subscription").finish_non_exhaustive()
    }
}

impl Subscription {
    /// The next event; `None` once the ring is gone.
    pub async fn recv(&mut self) -> Option<SubscriptionEvent> {
        match self.rx.recv().await {
            Ok(entry) => Some(SubscriptionEvent::Flow(entry)),
            Err(broadcast::error::RecvError::Lagged(n)) => {
                self.shared.count_lost(n);
                tracing::debug!(lost = n, "flow subscriber fell behind");
                Some(SubscriptionEvent::Lost(n))
            }
            Err(broadcast::error::RecvError::Closed) => None,
        }
    }

    /// The next event if one is ready, without waiting.
    pub fn try_recv(&mut self) -> Option<SubscriptionEvent> {
        match self.rx.try_recv() {
            Ok(entry) => Some(SubscriptionEvent::Flow(entry)),
            Err(broadcast::error::TryRecvError::Lagged(n)) => {
                self.shared.count_lost(n);
                Some(SubscriptionEvent::Lost(n))
            }
            Err(_) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flow::record::Verdict;

    fn ring(capacity: usize, buffer: usize) -> FlowRing {
        FlowRing::new(RingConfig {
            capacity,
            subscriber_buffer: buffer,
            ..RingConfig::default()
        })
        .expect("valid ring")
    }

    fn flow(port: u16) -> Flow {
        Flow {
            verdict: Verdict::Forwarded,
            proxy_port: port,
            ..Flow::default()
        }
    }

    #[test]
    fn capacity_must_be_power_of_two_minus_one() {
        for bad in [0, 2, 4, 100, 4096] {
            let err = FlowRing::new(RingConfig {
                capacity: bad,
                ..RingConfig::default()
            })
            .expect_err("invalid capacity");
            assert!(err.to_string().contains(&bad.to_string()));
        }
        for good in [1, 3, 7, 4095] {
            assert!(
                FlowRing::new(RingConfig {
                    capacity: good,
                    ..RingConfig::default()
                })
                .is_ok()
            );
        }
    }

    #[test]
    fn ring_keeps_the_newest_and_counts_seen() {
        let r = ring(7, 16);
        let sink = r.sink();
        for p in 0..20 {
            sink.emit(flow(p));
        }
        let snap = r.snapshot();
        let ports: Vec<u16> = snap.iter().map(|e| e.flow.proxy_port).collect();
        assert_eq!(ports, (13..20).collect::<Vec<_>>());
        let st = r.status();
        assert_eq!(st.num_flows, 7);
        assert_eq!(st.max_flows, 7);
        assert_eq!(st.seen_flows, 20);
        assert_eq!(st.lost_flows, 0);
    }

    #[test]
    fn disabled_sink_records_nothing() {
        let sink = FlowSink::disabled();
        assert!(!sink.is_enabled());
        sink.emit(flow(1));
        assert!(!FlowSink::default().is_enabled());
    }

    #[test]
    fn subscription_sees_history_then_new_flows_without_gap() {
        let r = ring(15, 16);
        let sink = r.sink();
        sink.emit(flow(1));
        sink.emit(flow(2));
        let (history, mut sub) = r.subscribe();
        sink.emit(flow(3));
        let ports: Vec<u16> = history.iter().map(|e| e.flow.proxy_port).collect();
        assert_eq!(ports, vec![1, 2]);
        match sub.try_recv() {
            Some(SubscriptionEvent::Flow(e)) => assert_eq!(e.flow.proxy_port, 3),
            other => panic!("expected flow 3, got {other:?}"),
        }
        assert!(sub.try_recv().is_none());
    }

    #[test]
    fn slow_subscriber_is_lagged_and_loss_counted() {
        let r = ring(1023, 4);
        let sink = r.sink();
        let (_, mut sub) = r.subscribe();
        // The producer never waits even though nobody reads.
        for p in 0..100 {
            sink.emit(flow(p));
        }
        match sub.try_recv() {
            Some(SubscriptionEvent::Lost(n)) => assert_eq!(n, 96),
            other => panic!("expected a lost notice, got {other:?}"),
        }
        assert_eq!(r.status().lost_flows, 96);
        // After the notice the subscriber resumes at the oldest kept flow.
        match sub.try_recv() {
            Some(SubscriptionEvent::Flow(e)) => assert_eq!(e.flow.proxy_port, 96),
            other => panic!("expected flow 96, got {other:?}"),
        }
    }

    #[test]
    fn ring_feeds_hubble_metrics_on_emit_and_lag() {
        let mut registry = prometheus_client::registry::Registry::default();
        let metrics = HubbleMetrics::register(&mut registry);
        let r = FlowRing::new(RingConfig {
            capacity: 7,
            subscriber_buffer: 2,
            metrics: Some(metrics),
            ..RingConfig::default()
        })
        .expect("ring");
        let (_, mut sub) = r.subscribe();
        let sink = r.sink();
        for p in 0..5 {
            sink.emit(flow(p));
        }
        assert!(matches!(sub.try_recv(), Some(SubscriptionEvent::Lost(3))));
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &registry).expect("encode");
        assert!(
            text.contains(
                r#"hubble_flows_processed_total{type="L7",subtype="",verdict="FORWARDED"} 5"#
            ),
            "{text}"
        );
        assert!(
            text.contains(r#"hubble_lost_events_total{source="HUBBLE_RING_BUFFER"} 3"#),
            "{text}"
        );
    }

    #[test]
    fn concurrent_producers_lose_nothing_with_a_large_enough_buffer() {
        const THREADS: u16 = 4;
        const PER_THREAD: u16 = 500;
        let total = usize::from(THREADS) * usize::from(PER_THREAD);
        let r = ring(4095, total);
        let (_, mut sub) = r.subscribe();
        let handles: Vec<_> = (0..THREADS)
            .map(|_| {
                let sink = r.sink();
                std::thread::spawn(move || {
                    for p in 0..PER_THREAD {
                        sink.emit(flow(p));
                    }
                })
            })
            .collect();
        for h in handles {
            h.join().expect("producer thread");
        }
        let mut seqs = Vec::with_capacity(total);
        while let Some(ev) = sub.try_recv() {
            match ev {
                SubscriptionEvent::Flow(e) => seqs.push(e.seq),
                SubscriptionEvent::Lost(n) => panic!("lost {n} with a large buffer"),
            }
        }
        assert_eq!(seqs.len(), total);
        seqs.sort_unstable();
        seqs.dedup();
        assert_eq!(seqs.len(), total, "every sequence number exactly once");
        assert_eq!(r.status().seen_flows, total as u64);
        assert_eq!(r.snapshot().len(), total);
    }

    #[test]
    fn uuids_are_unique_and_well_formed() {
        let r = ring(3, 4);
        let sink = r.sink();
        sink.emit(flow(1));
        sink.emit(flow(2));
        let snap = r.snapshot();
        let a = snap[0].uuid();
        let b = snap[1].uuid();
        assert_ne!(a, b);
        assert_eq!(a.len(), 36);
        assert_eq!(a.as_bytes()[14], b'4');
    }
}
