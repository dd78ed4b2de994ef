//! Kernel map layouts: `repr(C)` mirrors of `bpf/lb.h` (same field order and
//! sizes; the tests pin the sizes). Addresses and ports are stored in network
//! byte order, exactly as the programs compare them with socket fields.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};

/// Slots of a per-service Maglev table in the kernel (`LB_MAGLEV_SIZE`).
pub const MAGLEV_SIZE: usize = 16381;

pub const MAP_SERVICES4: &str = "portico_lb4_services";
pub const MAP_SERVICES6: &str = "portico_lb6_services";
pub const MAP_BACKENDS4: &str = "portico_lb4_backends";
pub const MAP_BACKENDS6: &str = "portico_lb6_backends";
pub const MAP_REVERSE_NAT: &str = "portico_lb_reverse_nat";
pub const MAP_MAGLEV: &str = "portico_lb_maglev";
pub const MAP_REVERSE_SK4: &str = "portico_lb4_reverse_sk";
pub const MAP_REVERSE_SK6: &str = "portico_lb6_reverse_sk";
pub const MAP_AFFINITY: &str = "portico_lb_affinity";
/// Every map the programs pin (by name) under the agent's pin directory.
pub const ALL_MAPS: [&str; 9] = [
    MAP_SERVICES4,
    MAP_SERVICES6,
    MAP_BACKENDS4,
    MAP_BACKENDS6,
    MAP_REVERSE_NAT,
    MAP_MAGLEV,
    MAP_REVERSE_SK4,
    MAP_REVERSE_SK6,
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

pub const FAMILY_V4: u8 = 4;
pub const FAMILY_V6: u8 = 6;

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
}

/// `struct lb6_key`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Lb6Key {
    pub address: [u8; 16],
    pub dport: u16,
    pub slot: u16,
    pub proto: u8,
    pub pad: [u8; 3],
}

impl Lb6Key {
    pub fn new(addr: SocketAddrV6, proto: u8, slot: u16) -> Lb6Key {
        Lb6Key {
            address: addr.ip().octets(),
            dport: addr.port().to_be(),
            slot,
            proto,
            pad: [0; 3],
        }
    }

    pub fn frontend(&self) -> SocketAddrV6 {
        SocketAddrV6::new(Ipv6Addr::from(self.address), u16::from_be(self.dport), 0, 0)
    }
}

/// `struct lb_service`: slot 0 is the master entry, slots > 0 name a backend.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LbService {
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

/// `struct lb6_backend`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Lb6Backend {
    pub address: [u8; 16],
    pub port: u16,
    pub proto: u8,
    pub state: u8,
}

impl Lb6Backend {
    pub fn new(addr: SocketAddrV6, proto: u8, state: u8) -> Lb6Backend {
        Lb6Backend {
            address: addr.ip().octets(),
            port: addr.port().to_be(),
            proto,
            state,
        }
    }

    pub fn addr(&self) -> SocketAddrV6 {
        SocketAddrV6::new(Ipv6Addr::from(self.address), u16::from_be(self.port), 0, 0)
    }
}

/// `struct lb_reverse_nat`: rev-NAT id → the service frontend.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LbReverseNat {
    pub address: [u8; 16],
    pub port: u16,
    pub family: u8,
    pub pad: u8,
}

impl LbReverseNat {
    pub fn new(addr: SocketAddr) -> LbReverseNat {
        let mut address = [0u8; 16];
        let family = match addr.ip() {
            IpAddr::V4(ip) => {
                address[..4].copy_from_slice(&ip.octets());
                FAMILY_V4
            }
            IpAddr::V6(ip) => {
                address = ip.octets();
                FAMILY_V6
            }
        };
        LbReverseNat {
            address,
            port: addr.port().to_be(),
            family,
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
    unsafe impl aya::Pod for Lb6Key {}
    unsafe impl aya::Pod for LbService {}
    unsafe impl aya::Pod for Lb4Backend {}
    unsafe impl aya::Pod for Lb6Backend {}
    unsafe impl aya::Pod for LbReverseNat {}
    unsafe impl aya::Pod for LbMaglev {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layouts_match_lb_h() {
        assert_eq!(std::mem::size_of::<Lb4Key>(), 12);
        assert_eq!(std::mem::size_of::<Lb6Key>(), 24);
        assert_eq!(std::mem::size_of::<LbService>(), 16);
        assert_eq!(std::mem::size_of::<Lb4Backend>(), 8);
        assert_eq!(std::mem::size_of::<Lb6Backend>(), 20);
        assert_eq!(std::mem::size_of::<LbReverseNat>(), 20);
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

        let a6: SocketAddrV6 = "[fd00::10]:53".parse().unwrap();
        let k6 = Lb6Key::new(a6, PROTO_UDP, 2);
        assert_eq!(k6.address[0], 0xfd);
        assert_eq!(k6.dport.to_ne_bytes(), [0, 53]);
        assert_eq!(k6.frontend(), a6);
        assert_eq!(Lb6Backend::new(a6, PROTO_UDP, 0).addr(), a6);
        let r = LbReverseNat::new("10.96.0.10:53".parse().unwrap());
        assert_eq!(
            (r.family, &r.address[..4]),
            (FAMILY_V4, &[10, 96, 0, 10][..])
        );
    }
}
