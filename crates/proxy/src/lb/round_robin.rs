//! Round robin: a shared atomic counter, no locks.

use std::sync::atomic::{AtomicUsize, Ordering};

#[derive(Debug, Default)]
pub struct RoundRobin {
    next: AtomicUsize,
}

impl RoundRobin {
    /// `len` > 0.
    pub fn pick(&self, len: usize) -> usize {
        self.next.fetch_add(1, Ordering::Relaxed) % len
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cycles_evenly() {
        let rr = RoundRobin::default();
        let picks: Vec<usize> = (0..6).map(|_| rr.pick(3)).collect();
        assert_eq!(picks, [0, 1, 2, 0, 1, 2]);
    }

    #[test]
    fn survives_endpoint_count_changes() {
        let rr = RoundRobin::default();
        for _ in 0..10 {
            assert!(rr.pick(4) < 4);
        }
        for _ in 0..10 {
            assert!(rr.pick(2) < 2);
        }
    }
}
