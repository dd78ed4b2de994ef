//! Least request by the power of two choices: sample two distinct endpoints
//! at random, send to the one with fewer requests in flight.

use rand::Rng;

#[derive(Debug, Default)]
pub struct LeastRequest;

impl LeastRequest {
    /// `len` > 1 (the caller answers 0 and 1 itself).
    pub fn pick(&self, len: usize, load: impl Fn(usize) -> u64) -> usize {
        let mut rng = rand::rng();
        let a = rng.random_range(0..len);
        // A second, distinct index.
        let b = (a + 1 + rng.random_range(0..len - 1)) % len;
        if load(b) < load(a) { b } else { a }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn avoids_the_busy_endpoint() {
        // Endpoint 0 is swamped: with two choices among two endpoints it is
        // never picked.
        for _ in 0..100 {
            assert_eq!(LeastRequest.pick(2, |i| if i == 0 { 100 } else { 0 }), 1);
        }
    }

    #[test]
    fn busiest_of_many_is_never_chosen() {
        // The busiest endpoint loses every comparison.
        for _ in 0..500 {
            let i = LeastRequest.pick(5, |i| if i == 3 { 50 } else { i as u64 });
            assert_ne!(i, 3);
        }
    }
}
