//! Per-request endpoint selection. One load balancer per file; each picks an
//! index into the cluster's usable endpoints, given a way to read an
//! endpoint's in-flight request count.

mod least_request;
mod maglev;
mod random;
mod round_robin;

pub use least_request::LeastRequest;
pub use maglev::{MaglevTable, client_hash};
pub use random::Random;
pub use round_robin::RoundRobin;

use portico_ir::LbAlgorithm;

#[derive(Debug)]
pub enum Balancer {
    RoundRobin(RoundRobin),
    Random(Random),
    LeastRequest(LeastRequest),
}

impl Balancer {
    pub fn new(algorithm: LbAlgorithm) -> Balancer {
        match algorithm {
            LbAlgorithm::RoundRobin => Balancer::RoundRobin(RoundRobin::default()),
            LbAlgorithm::Random => Balancer::Random(Random),
            LbAlgorithm::LeastRequest => Balancer::LeastRequest(LeastRequest),
            // Maglev picks from a per-endpoint-set table (see
            // `cluster.rs`); round robin covers the moments without one.
            LbAlgorithm::Maglev => Balancer::RoundRobin(RoundRobin::default()),
        }
    }

    /// Index of the endpoint for the next request, `None` when `len` is 0.
    /// `load(i)` is endpoint `i`'s in-flight request count.
    pub fn pick(&self, len: usize, load: impl Fn(usize) -> u64) -> Option<usize> {
        if len == 0 {
            return None;
        }
        if len == 1 {
            return Some(0);
        }
        Some(match self {
            Balancer::RoundRobin(rr) => rr.pick(len),
            Balancer::Random(r) => r.pick(len),
            Balancer::LeastRequest(lr) => lr.pick(len, load),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_and_single() {
        for alg in [
            LbAlgorithm::RoundRobin,
            LbAlgorithm::Random,
            LbAlgorithm::LeastRequest,
            LbAlgorithm::Maglev,
        ] {
            let b = Balancer::new(alg);
            assert_eq!(b.pick(0, |_| 0), None);
            assert_eq!(b.pick(1, |_| 0), Some(0));
            assert!(b.pick(5, |_| 0).is_some_and(|i| i < 5));
        }
    }
}
