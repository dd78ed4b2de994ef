//! Uniform random choice.

use rand::Rng;

#[derive(Debug, Default)]
pub struct Random;

impl Random {
    /// `len` > 0.
    pub fn pick(&self, len: usize) -> usize {
        rand::rng().random_range(0..len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn covers_every_endpoint() {
        let mut seen = [0u32; 4];
        for _ in 0..4000 {
            seen[Random.pick(4)] += 1;
        }
        // Expected 1000 each; generous bounds, never flaky in practice.
        assert!(seen.iter().all(|&n| n > 700), "{seen:?}");
    }
}
