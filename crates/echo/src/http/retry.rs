//! `/retry/?uuid=U&succeedAfter=N[&responseCode=C][&delayRetry=D]`: the first
//! N attempts for a uuid fail (with status C, or a connection reset without
//! it), later ones are echoed. Counters live per server.

use std::collections::HashMap;
use std::time::Duration;

use parking_lot::Mutex;

use crate::duration::parse_go_duration;

/// Upper bound on remembered uuids; the table is cleared when it is reached,
/// so a long-running backend cannot grow without bound.
const MAX_TRACKED: usize = 10_000;

/// Per-uuid attempt counters.
#[derive(Debug, Default)]
pub(crate) struct RetryCounters {
    attempts: Mutex<HashMap<String, u64>>,
}

impl RetryCounters {
    /// Counts one attempt for `uuid` and returns its 1-based number.
    pub(crate) fn attempt(&self, uuid: &str) -> u64 {
        let mut map = self.attempts.lock();
        if map.len() >= MAX_TRACKED && !map.contains_key(uuid) {
            map.clear();
        }
        let n = map.entry(uuid.to_owned()).or_insert(0);
        *n += 1;
        *n
    }
}

/// What the query asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RetryParams {
    pub(crate) uuid: String,
    pub(crate) succeed_after: u64,
    pub(crate) response_code: Option<u16>,
    pub(crate) delay: Option<Duration>,
}

/// How a failing attempt fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Failure {
    Status(u16),
    Reset,
}

impl RetryParams {
    /// Parses the query string; `None` without a `uuid` (then the request is
    /// an ordinary echo).
    pub(crate) fn from_query(query: Option<&str>) -> Option<Self> {
        let mut uuid = None;
        let mut succeed_after = 0;
        let mut response_code = None;
        let mut delay = None;
        for (key, value) in super::query_pairs(query.unwrap_or("")) {
            match key.as_str() {
                "uuid" if !value.is_empty() => uuid = Some(value),
                "succeedAfter" => succeed_after = value.parse().unwrap_or(0),
                "responseCode" => response_code = value.parse().ok(),
                "delayRetry" => delay = parse_go_duration(&value).ok(),
                _ => {}
            }
        }
        Some(Self {
            uuid: uuid?,
            succeed_after,
            response_code,
            delay,
        })
    }

    /// The failure for attempt number `attempt`, or `None` when it succeeds.
    pub(crate) fn failure_for(&self, attempt: u64) -> Option<Failure> {
        (attempt <= self.succeed_after).then(|| {
            self.response_code
                .filter(|c| (100..=999).contains(c))
                .map_or(Failure::Reset, Failure::Status)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_query() {
        let p = RetryParams::from_query(Some(
            "uuid=abc&succeedAfter=2&responseCode=503&delayRetry=10ms",
        ))
        .expect("params");
        assert_eq!(p.uuid, "abc");
        assert_eq!(p.succeed_after, 2);
        assert_eq!(p.response_code, Some(503));
        assert_eq!(p.delay, Some(Duration::from_millis(10)));
        assert!(RetryParams::from_query(Some("succeedAfter=2")).is_none());
        assert!(RetryParams::from_query(None).is_none());
    }

    #[test]
    fn first_n_attempts_fail() {
        let p = RetryParams::from_query(Some("uuid=u&succeedAfter=2&responseCode=500"))
            .expect("params");
        let c = RetryCounters::default();
        let results: Vec<_> = (0..3).map(|_| p.failure_for(c.attempt(&p.uuid))).collect();
        assert_eq!(
            results,
            vec![Some(Failure::Status(500)), Some(Failure::Status(500)), None]
        );
        // Another uuid has its own counter.
        assert_eq!(c.attempt("other"), 1);
    }

    #[test]
    fn without_code_the_connection_is_reset() {
        let p = RetryParams::from_query(Some("uuid=u&succeedAfter=1")).expect("params");
        assert_eq!(p.failure_for(1), Some(Failure::Reset));
        assert_eq!(p.failure_for(2), None);
    }
}
