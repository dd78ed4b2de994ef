//! Kernel map layouts: `repr(C)` mirrors of `bpf/lb.h` (same field order and
//! sizes; the tests pin the sizes). Addresses and ports are stored in network
//! byte order, exactly as the programs compare them with socket fields.

use std::net::{Ipv4Addr, SocketAddrV4};

/// Slots of a per-service Maglev table in the kernel (`LB_MAGLEV_SIZE`).
pub const MAGLEV_SIZE: usize = 16381;

pub const MAP_SERVICES: &str = "portico_lb4_services";
pub const MAP_BACKENDS: &str = "portico_lb4_backends";
pub const MAP_REVERSE_NAT: &str = "portico_lb4_reverse_nat";
pub const MAP_MAGLEV: &str = "portico_lb4_maglev";
pub const MAP_REVERSE_SK: &str = "portico_lb4_reverse_sk";
pub const MAP_AFFINITY: &str = "portico_lb_affinity";
/// Every map the programs pin (by name) under the agent's pin directory.
pub const ALL_MAPS: [&str; 6] = [
    MAP_SERVICES,
    MAP_BACKENDS,
    MAP_REVERSE_NAT,
    MAP_MAGLEV,
    MAP_REVERSE_SK,
    MAP_AFFINITY,
];

pub const ALG_RANDOM: u8 = 0;
pub const ALG_MAGLEV: u8 = 1;

pub const FLAG_AFFINITY: u8 = 0x01;
pub const FLAG_NODEPORT: u8 = 0x02;
pub const FLAG_LOADBALANCER: u8 = 0x04;
pub const FLAG_EXTERNAL_IP: u8 = 0x08;

pub const BACKEND_ACTIVE: u8 = 0;
pub const BACKEND_TERMINATING: u8 = 1;

pub const PROTO_TCP: u8 = 6;
pub const PROTO_UDP: u8 = 17;
pub const PROTO_SCTP: u8 = 132;

/// `struct lb4_key`: a frontend (VIP, port, protocol) and a slot.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Lb4Key {
    pub address: u32,
    pub dport: u16,
    pub slot: u16,
    pub proto: u8,
    pub pad: [u8; 3],
}

impl Lb4Key {
    pub fn new(addr: SocketAddrV4, proto: u8, slot: u16) -> Lb4Key {
        Lb4Key {
            address: ip_to_net(*addr.ip()),
            dport: addr.port().to_be(),
            slot,
            proto,
            pad: [0; 3],
        }
    }

    pub fn frontend(&self) -> SocketAddrV4 {
        SocketAddrV4::new(ip_from_net(self.address), u16::from_be(self.dport))
    }

    pub fn with_slot(self, slot: u16) -> Lb4Key {
        Lb4Key { slot, ..self }
    }
}

/// `struct lb4_service`: slot 0 is the master entry, slots > 0 name a backend.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Lb4Service {
    pub backend_id: u32,
    pub count: u16,
    pub rev_nat_id: u16,
    pub flags: u8,
    pub algorithm: u8,
    pub pad: u16,
    pub affinity_timeout: u32,
}

/// `struct lb4_backend`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Lb4Backend {
    pub address: u32,
    pub port: u16,
    pub proto: u8,
    pub state: u8,
}

impl Lb4Backend {
    pub fn new(addr: SocketAddrV4, proto: u8, state: u8) -> Lb4Backend {
        Lb4Backend {
            address: ip_to_net(*addr.ip()),
            port: addr.port().to_be(),
            proto,
            state,
        }
    }

    pub fn addr(&self) -> SocketAddrV4 {
        SocketAddrV4::new(ip_from_net(self.address), u16::from_be(self.port))
    }
}

/// `struct lb4_reverse_nat`: rev-NAT id → the service VIP and port.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Lb4ReverseNat {
    pub address: u32,
    pub port: u16,
    pub pad: u16,
}

impl Lb4ReverseNat {
    pub fn new(addr: SocketAddrV4) -> Lb4ReverseNat {
        Lb4ReverseNat {
            address: ip_to_net(*addr.ip()),
            port: addr.port().to_be(),
            pad: 0,
        }
    }
}

/// `struct lb_maglev`: slot → backend id.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct LbMaglev {
    pub backend_ids: [u32; MAGLEV_SIZE],
}

/// An IPv4 address as the kernel holds it in a `__be32`, read as a native u32.
pub fn ip_to_net(ip: Ipv4Addr) -> u32 {
    u32::from_ne_bytes(ip.octets())
}

pub fn ip_from_net(raw: u32) -> Ipv4Addr {
    Ipv4Addr::from(raw.to_ne_bytes())
}

// SAFETY: every type below is `repr(C)`, `Copy`, made only of integers with
// explicit padding fields, so any bit pattern is valid and no byte is
// uninitialised: exactly what aya's `Pod` requires for map keys and values.
#[allow(unsafe_code)]
mod pod {
    use super::*;
    unsafe impl aya::Pod for Lb4Key {}
    unsafe impl aya::Pod for Lb4Service {}
    unsafe impl aya::Pod for Lb4Backend {}
    unsafe impl aya::Pod for Lb4ReverseNat {}
    unsafe impl aya::Pod for LbMaglev {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layouts_match_lb_h() {
        assert_eq!(std::mem::size_of::<Lb4Key>(), 12);
        assert_eq!(std::mem::size_of::<Lb4Service>(), 16);
        assert_eq!(std::mem::size_of::<Lb4Backend>(), 8);
        assert_eq!(std::mem::size_of::<Lb4ReverseNat>(), 8);
        assert_eq!(std::mem::size_of::<LbMaglev>(), 4 * 16381);
        assert_eq!(MAGLEV_SIZE as u32, portico_maglev::TableSize::DEFAULT.get());
    }

    #[test]
    fn network_byte_order_round_trips() {
        let a: SocketAddrV4 = "10.96.0.10:53".parse().unwrap();
        let k = Lb4Key::new(a, PROTO_UDP, 0);
        // The first byte in memory is the first octet, as in a __be32.
        let bytes = k.address.to_ne_bytes();
        assert_eq!(bytes, [10, 96, 0, 10]);
        assert_eq!(k.dport.to_ne_bytes(), [0, 53]);
        assert_eq!(k.frontend(), a);
        let b = Lb4Backend::new(a, PROTO_TCP, BACKEND_ACTIVE);
        assert_eq!(b.addr(), a);
    }
}
