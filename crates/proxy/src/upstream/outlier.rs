//! Passive outlier detection: an endpoint that fails several requests in a
//! row (5xx, connect errors, broken exchanges) is ejected for a while; each
//! further ejection lasts longer. Lock-free: a few atomics per endpoint.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::Duration;

use tokio::time::Instant;

/// Thresholds, from [`crate::ProxyConfig`].
#[derive(Clone, Copy, Debug)]
pub struct OutlierPolicy {
    /// Consecutive failures that eject an endpoint; 0 disables detection.
    pub consecutive_failures: u32,
    /// First ejection length; the n-th ejection lasts n times as long (max 10x).
    pub base_ejection: Duration,
}

#[derive(Debug, Default)]
pub struct OutlierState {
    failures: AtomicU32,
    ejections: AtomicU32,
    /// Milliseconds since [`epoch`] until which the endpoint is ejected.
    ejected_until: AtomicU64,
}

fn epoch() -> Instant {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

fn now_ms() -> u64 {
    u64::try_from(epoch().elapsed().as_millis()).unwrap_or(u64::MAX)
}

impl OutlierState {
    pub fn is_ejected(&self) -> bool {
        let until = self.ejected_until.load(Ordering::Relaxed);
        until != 0 && now_ms() < until
    }

    pub fn success(&self) {
        if self.failures.load(Ordering::Relaxed) != 0 {
            self.failures.store(0, Ordering::Relaxed);
        }
    }

    /// Records a failure; returns true when it ejected the endpoint.
    pub fn failure(&self, policy: &OutlierPolicy) -> bool {
        if policy.consecutive_failures == 0 {
            return false;
        }
        let n = self.failures.fetch_add(1, Ordering::Relaxed) + 1;
        if n < policy.consecutive_failures {
            return false;
        }
        self.failures.store(0, Ordering::Relaxed);
        let times = (self.ejections.fetch_add(1, Ordering::Relaxed) + 1).min(10);
        let length = u64::try_from((policy.base_ejection * times).as_millis()).unwrap_or(u64::MAX);
        self.ejected_until
            .store(now_ms().saturating_add(length.max(1)), Ordering::Relaxed);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const POLICY: OutlierPolicy = OutlierPolicy {
        consecutive_failures: 3,
        base_ejection: Duration::from_secs(60),
    };

    #[test]
    fn ejects_after_consecutive_failures_only() {
        let s = OutlierState::default();
        assert!(!s.failure(&POLICY));
        assert!(!s.failure(&POLICY));
        s.success();
        assert!(!s.failure(&POLICY));
        assert!(!s.failure(&POLICY));
        assert!(!s.is_ejected());
        assert!(s.failure(&POLICY));
        assert!(s.is_ejected());
    }

    #[test]
    fn disabled_policy_never_ejects() {
        let s = OutlierState::default();
        let off = OutlierPolicy {
            consecutive_failures: 0,
            ..POLICY
        };
        for _ in 0..100 {
            assert!(!s.failure(&off));
        }
        assert!(!s.is_ejected());
    }

    #[tokio::test(start_paused = true)]
    async fn ejection_expires() {
        let s = OutlierState::default();
        for _ in 0..3 {
            s.failure(&POLICY);
        }
        assert!(s.is_ejected());
        tokio::time::advance(Duration::from_secs(61)).await;
        assert!(!s.is_ejected());
    }
}
