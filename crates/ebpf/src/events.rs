//! Trace and drop events of the socket load balancer (`struct lb_event` in
//! `bpf/lb.h`, 96 bytes through the `portico_lb_events` ring buffer), turned
//! into flow records for the observer.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};
use std::time::{Duration, SystemTime};

use aya::maps::{MapData, RingBuf};
use serde::Serialize;

use crate::view::proto_name;

pub const MAP_EVENTS: &str = "portico_lb_events";
/// `sizeof(struct lb_event)`.
pub const EVENT_SIZE: usize = 96;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum Verdict {
    /// The VIP was rewritten to a backend.
    Translated,
    /// The call was refused (see the drop reason).
    Dropped,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum DropReason {
    /// The service has no usable backend.
    NoBackends,
    /// A slot named a backend the backend map does not hold.
    BackendMissing,
    Unknown(u8),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum Hook {
    Connect4,
    Sendmsg4,
    Connect6,
    Sendmsg6,
    /// North-south: tc ingress of an external interface.
    TcIngress,
    /// North-south: XDP on an external interface.
    Xdp,
    Unknown(u8),
}

/// One service translation as a flow record.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct FlowRecord {
    /// `CLOCK_MONOTONIC` nanoseconds (bpf_ktime_get_ns).
    pub monotonic_ns: u64,
    /// The socket (stable for its lifetime) and its network namespace.
    pub socket_cookie: u64,
    pub netns_cookie: u64,
    pub hook: Hook,
    /// The client (north-south flows; the socket hooks run before the
    /// source address exists).
    pub source: Option<SocketAddr>,
    pub protocol: &'static str,
    pub verdict: Verdict,
    pub drop_reason: Option<DropReason>,
    /// The service frontend the socket asked for.
    pub service: SocketAddr,
    /// The service's rev-NAT id (the `ID` column of `portico bpf services`).
    pub service_id: u16,
    /// The backend chosen, for translated flows.
    pub backend: Option<SocketAddr>,
    pub backend_id: u32,
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[at..at + 8]);
    u64::from_ne_bytes(a)
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    let mut a = [0u8; 4];
    a.copy_from_slice(&b[at..at + 4]);
    u32::from_ne_bytes(a)
}

fn u16_at(b: &[u8], at: usize) -> u16 {
    u16::from_ne_bytes([b[at], b[at + 1]])
}

/// Network-order address bytes as the kernel stored them (IPv4 in the
/// first four bytes of the 16).
fn addr_at(b: &[u8], v6: bool, ip_at: usize, port_at: usize) -> SocketAddr {
    let ip = if v6 {
        let mut a = [0u8; 16];
        a.copy_from_slice(&b[ip_at..ip_at + 16]);
        IpAddr::V6(Ipv6Addr::from(a))
    } else {
        IpAddr::V4(Ipv4Addr::new(
            b[ip_at],
            b[ip_at + 1],
            b[ip_at + 2],
            b[ip_at + 3],
        ))
    };
    SocketAddr::new(ip, u16::from_be_bytes([b[port_at], b[port_at + 1]]))
}

impl FlowRecord {
    /// Parses one ring-buffer record; `None` if it is too short.
    pub fn parse(b: &[u8]) -> Option<FlowRecord> {
        if b.len() < EVENT_SIZE {
            return None;
        }
        let v6 = b[70] == crate::maps::FAMILY_V6;
        let verdict = if b[68] == 0 {
            Verdict::Translated
        } else {
            Verdict::Dropped
        };
        let drop_reason = match (verdict, b[69]) {
            (Verdict::Translated, _) => None,
            (_, 1) => Some(DropReason::NoBackends),
            (_, 2) => Some(DropReason::BackendMissing),
            (_, r) => Some(DropReason::Unknown(r)),
        };
        Some(FlowRecord {
            monotonic_ns: u64_at(b, 0),
            socket_cookie: u64_at(b, 8),
            netns_cookie: u64_at(b, 16),
            service: addr_at(b, v6, 24, 56),
            backend: (verdict == Verdict::Translated).then(|| addr_at(b, v6, 40, 58)),
            backend_id: u32_at(b, 60),
            service_id: u16_at(b, 64),
            protocol: proto_name(b[66]),
            hook: match b[67] {
                1 => Hook::Connect4,
                2 => Hook::Sendmsg4,
                3 => Hook::Connect6,
                4 => Hook::Sendmsg6,
                5 => Hook::TcIngress,
                6 => Hook::Xdp,
                h => Hook::Unknown(h),
            },
            source: Some(addr_at(b, v6, 72, 88)).filter(|a| a.port() != 0),
            verdict,
            drop_reason,
        })
    }
}

/// `CLOCK_MONOTONIC` now, in nanoseconds (the clock of `bpf_ktime_get_ns`).
fn monotonic_now_ns() -> Option<u64> {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes one timespec into the valid, exclusively
    // borrowed `ts` and reads nothing else.
    #[allow(unsafe_code)]
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    if rc != 0 {
        return None;
    }
    let secs = u64::try_from(ts.tv_sec).ok()?;
    let nanos = u64::try_from(ts.tv_nsec).ok()?;
    secs.checked_mul(1_000_000_000)?.checked_add(nanos)
}

impl FlowRecord {
    /// When the program saw the flow, on the wall clock (now, if the
    /// monotonic stamp is unusable).
    pub fn wall_time(&self) -> SystemTime {
        let now = SystemTime::now();
        match monotonic_now_ns().and_then(|m| m.checked_sub(self.monotonic_ns)) {
            Some(ago) => now.checked_sub(Duration::from_nanos(ago)).unwrap_or(now),
            None => now,
        }
    }
}

/// Reads flow records from the programs' ring buffer. Non-blocking: poll
/// [`EventReader::as_fd`] for readability (e.g. tokio's `AsyncFd`), then
/// [`EventReader::drain`].
pub struct EventReader {
    ring: RingBuf<MapData>,
    malformed: u64,
}

impl EventReader {
    pub(crate) fn new(ring: RingBuf<MapData>) -> EventReader {
        EventReader { ring, malformed: 0 }
    }

    /// Up to `max` pending records.
    pub fn drain(&mut self, max: usize) -> Vec<FlowRecord> {
        let mut out = Vec::new();
        while out.len() < max {
            let Some(item) = self.ring.next() else { break };
            match FlowRecord::parse(&item) {
                Some(r) => out.push(r),
                None => self.malformed += 1,
            }
        }
        out
    }

    /// Records too short to parse (a layout mismatch between C and Rust).
    pub fn malformed(&self) -> u64 {
        self.malformed
    }
}

impl AsFd for EventReader {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.ring.as_fd()
    }
}

/// For readiness APIs that take a raw descriptor (tokio's `AsyncFd`).
impl AsRawFd for EventReader {
    fn as_raw_fd(&self) -> RawFd {
        self.ring.as_fd().as_raw_fd()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw_family(verdict: u8, reason: u8, family: u8) -> Vec<u8> {
        let mut b = Vec::new();
        b.extend_from_slice(&7u64.to_ne_bytes());
        b.extend_from_slice(&42u64.to_ne_bytes());
        b.extend_from_slice(&4096u64.to_ne_bytes());
        let (vip, backend): ([u8; 16], [u8; 16]) = if family == 6 {
            let vip = "fd00::1".parse::<Ipv6Addr>().unwrap().octets();
            let be = "fd00::2".parse::<Ipv6Addr>().unwrap().octets();
            (vip, be)
        } else {
            let mut vip = [0u8; 16];
            vip[..4].copy_from_slice(&[127, 200, 0, 1]);
            let mut be = [0u8; 16];
            be[..4].copy_from_slice(&[127, 0, 0, 1]);
            (vip, be)
        };
        b.extend_from_slice(&vip);
        b.extend_from_slice(&backend);
        b.extend_from_slice(&80u16.to_be_bytes());
        b.extend_from_slice(&8080u16.to_be_bytes());
        b.extend_from_slice(&3u32.to_ne_bytes());
        b.extend_from_slice(&9u16.to_ne_bytes());
        let hook = if family == 6 { 3 } else { 5 };
        b.extend_from_slice(&[6, hook, verdict, reason, family, 0]);
        let mut client = [0u8; 16];
        client[..4].copy_from_slice(&[10, 214, 0, 2]);
        b.extend_from_slice(&client);
        b.extend_from_slice(&(if family == 6 { 0u16 } else { 40000 }).to_be_bytes());
        b.extend_from_slice(&[0; 6]);
        assert_eq!(b.len(), EVENT_SIZE);
        b
    }

    fn raw(verdict: u8, reason: u8) -> Vec<u8> {
        raw_family(verdict, reason, 4)
    }

    #[test]
    fn parses_ipv6() {
        let t = FlowRecord::parse(&raw_family(0, 0, 6)).unwrap();
        assert_eq!(t.service.to_string(), "[fd00::1]:80");
        assert_eq!(t.backend.unwrap().to_string(), "[fd00::2]:8080");
        assert_eq!(t.hook, Hook::Connect6);
        assert_eq!(t.source, None, "socket hooks know no source");
    }

    #[test]
    fn parses_translated_and_dropped() {
        let t = FlowRecord::parse(&raw(0, 0)).unwrap();
        assert_eq!(t.verdict, Verdict::Translated);
        assert_eq!(t.drop_reason, None);
        assert_eq!(t.service.to_string(), "127.200.0.1:80");
        assert_eq!(t.backend.unwrap().to_string(), "127.0.0.1:8080");
        assert_eq!((t.backend_id, t.service_id), (3, 9));
        assert_eq!((t.protocol, t.hook), ("TCP", Hook::TcIngress));
        assert_eq!(t.source.unwrap().to_string(), "10.214.0.2:40000");
        assert_eq!(
            (t.monotonic_ns, t.socket_cookie, t.netns_cookie),
            (7, 42, 4096)
        );

        let d = FlowRecord::parse(&raw(1, 1)).unwrap();
        assert_eq!(d.verdict, Verdict::Dropped);
        assert_eq!(d.drop_reason, Some(DropReason::NoBackends));
        assert_eq!(d.backend, None);
        assert_eq!(
            FlowRecord::parse(&raw(1, 9)).unwrap().drop_reason,
            Some(DropReason::Unknown(9))
        );
    }

    #[test]
    fn wall_time_is_in_the_past_by_the_monotonic_age() {
        let mut r = FlowRecord::parse(&raw(0, 0)).unwrap();
        r.monotonic_ns = monotonic_now_ns().unwrap() - 5_000_000_000;
        let age = SystemTime::now().duration_since(r.wall_time()).unwrap();
        assert!(
            age >= Duration::from_secs(5) && age < Duration::from_secs(60),
            "{age:?}"
        );
        r.monotonic_ns = u64::MAX; // from the future: now
        let before = SystemTime::now();
        assert!(r.wall_time() >= before);
    }

    #[test]
    fn short_records_are_rejected() {
        assert_eq!(FlowRecord::parse(&raw(0, 0)[..EVENT_SIZE - 1]), None);
        assert_eq!(FlowRecord::parse(&[]), None);
    }
}
