//! Retry policy: which outcomes are retried, how often, with what pause.

use std::time::Duration;

use http::StatusCode;
use portico_ir::RetryPolicy;

#[derive(Clone, Debug)]
pub struct Retry {
    codes: Vec<u16>,
    /// Retries after the first attempt.
    pub attempts: u32,
    backoff: Duration,
}

impl Retry {
    pub fn compile(p: &RetryPolicy) -> Retry {
        Retry {
            codes: p.codes.clone(),
            attempts: p.attempts,
            backoff: p.backoff.unwrap_or(Duration::from_millis(25)),
        }
    }

    pub fn retries_status(&self, status: StatusCode) -> bool {
        self.codes.contains(&status.as_u16())
    }

    /// Pause before retry number `n` (1-based): the configured backoff,
    /// doubling, capped at 10x.
    pub fn backoff(&self, n: u32) -> Duration {
        let factor = 1u32 << n.saturating_sub(1).min(3);
        (self.backoff * factor).min(self.backoff * 10)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_and_backoff() {
        let r = Retry::compile(&RetryPolicy {
            codes: vec![500, 503],
            attempts: 2,
            backoff: Some(Duration::from_millis(10)),
        });
        assert!(r.retries_status(StatusCode::SERVICE_UNAVAILABLE));
        assert!(!r.retries_status(StatusCode::NOT_FOUND));
        assert_eq!(r.backoff(1), Duration::from_millis(10));
        assert_eq!(r.backoff(2), Duration::from_millis(20));
        assert_eq!(r.backoff(9), Duration::from_millis(80));
    }
}
