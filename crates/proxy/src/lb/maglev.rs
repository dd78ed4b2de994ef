//! Maglev consistent hashing over a cluster's usable endpoints, using the
//! shared table from `portico-maglev` (the same one the eBPF load balancer
//! writes into kernel maps). Requests are keyed by a hash of the client IP,
//! so a client keeps its endpoint while the endpoint set barely changes.

use std::net::{IpAddr, SocketAddr};

use portico_maglev::{Backend, Table, TableSize};

#[derive(Debug)]
pub struct MaglevTable(Table);

impl MaglevTable {
    /// A table over `addresses` (equal weights); `None` when empty or when
    /// the table cannot be built (then round robin serves).
    pub fn build(addresses: &[SocketAddr]) -> Option<MaglevTable> {
        if addresses.is_empty() {
            return None;
        }
        let keys: Vec<String> = addresses.iter().map(ToString::to_string).collect();
        let backends: Vec<Backend<'_>> = keys.iter().map(|k| Backend::new(k, 1)).collect();
        match Table::build(&backends, TableSize::DEFAULT) {
            Ok(t) if !t.is_empty() => Some(MaglevTable(t)),
            Ok(_) => None,
            Err(error) => {
                tracing::warn!(%error, "maglev table not built; falling back to round robin");
                None
            }
        }
    }

    /// Index of the endpoint for `hash`.
    pub fn pick(&self, hash: u64) -> Option<usize> {
        self.0.lookup(hash).map(|i| i as usize)
    }
}

/// The request key Maglev hashes: the client IP.
pub fn client_hash(ip: IpAddr) -> u64 {
    match ip {
        IpAddr::V4(v4) => portico_maglev::flow_hash(&v4.octets()),
        IpAddr::V6(v6) => portico_maglev::flow_hash(&v6.octets()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addrs(n: usize) -> Vec<SocketAddr> {
        (0..n)
            .map(|i| SocketAddr::from(([10, 0, 0, i as u8 + 1], 80)))
            .collect()
    }

    #[test]
    fn same_client_same_endpoint() {
        let t = MaglevTable::build(&addrs(5)).unwrap();
        let h = client_hash("192.0.2.7".parse().unwrap());
        let first = t.pick(h).unwrap();
        assert!(first < 5);
        for _ in 0..10 {
            assert_eq!(t.pick(h), Some(first));
        }
        assert!(MaglevTable::build(&[]).is_none());
    }

    #[test]
    fn removing_one_endpoint_moves_few_clients() {
        let before = addrs(10);
        let after: Vec<SocketAddr> = before[1..].to_vec();
        let (tb, ta) = (
            MaglevTable::build(&before).unwrap(),
            MaglevTable::build(&after).unwrap(),
        );
        let mut moved = 0;
        for c in 0..2000u32 {
            let h = client_hash(IpAddr::from(c.to_be_bytes()));
            let b = before[tb.pick(h).unwrap()];
            let a = after[ta.pick(h).unwrap()];
            if b != before[0] && a != b {
                moved += 1;
            }
        }
        // Clients of surviving endpoints should almost all stay put.
        assert!(moved < 100, "{moved} of 2000 clients moved");
    }
}
