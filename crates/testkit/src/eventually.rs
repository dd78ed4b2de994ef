//! `eventually`: poll a condition until it holds or a deadline passes —
//! the replacement for fixed sleeps in tests.

use std::fmt::Debug;
use std::future::Future;
use std::time::Duration;

use tokio::time::Instant;

/// First pause between attempts; doubles up to [`MAX_PAUSE`].
const FIRST_PAUSE: Duration = Duration::from_millis(5);
/// Longest pause between attempts.
const MAX_PAUSE: Duration = Duration::from_millis(200);

/// The condition did not hold before the deadline.
#[derive(Debug, thiserror::Error)]
#[error("condition not met within {waited:?} after {attempts} attempts; last error: {last:?}")]
pub struct Timeout<E: Debug> {
    /// How long it waited.
    pub waited: Duration,
    /// How many attempts finished or were cut off.
    pub attempts: u32,
    /// The error of the last attempt that finished (`None` if every attempt
    /// was still running when the deadline hit).
    pub last: Option<E>,
}

/// Runs `check` until it returns `Ok`, pausing a little longer after each
/// failure (5 ms doubling to 200 ms), and gives up at `deadline` from now. An
/// attempt still running at the deadline is cancelled.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// use std::time::Duration;
/// let mut n = 0;
/// let value = portico_testkit::eventually(Duration::from_secs(5), || {
///     n += 1;
///     let ready = n >= 3;
///     async move { if ready { Ok(n) } else { Err("not yet") } }
/// })
/// .await
/// .expect("became ready");
/// assert_eq!(value, 3);
/// # }
/// ```
pub async fn eventually<T, E, F, Fut>(deadline: Duration, mut check: F) -> Result<T, Timeout<E>>
where
    E: Debug,
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    let start = Instant::now();
    let end = start + deadline;
    let mut pause = FIRST_PAUSE;
    let mut attempts = 0;
    let mut last = None;
    loop {
        attempts += 1;
        match tokio::time::timeout_at(end, check()).await {
            Ok(Ok(value)) => return Ok(value),
            Ok(Err(error)) => last = Some(error),
            Err(_) => break,
        }
        let now = Instant::now();
        if now >= end {
            break;
        }
        tokio::time::sleep_until((now + pause).min(end)).await;
        pause = (pause * 2).min(MAX_PAUSE);
    }
    Err(Timeout {
        waited: start.elapsed(),
        attempts,
        last,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn returns_first_success() {
        let mut calls = 0;
        let got = eventually(Duration::from_secs(1), || {
            calls += 1;
            let c = calls;
            async move { if c == 4 { Ok(c) } else { Err(c) } }
        })
        .await
        .expect("success");
        assert_eq!(got, 4);
    }

    #[tokio::test(start_paused = true)]
    async fn times_out_with_last_error() {
        let err = eventually(Duration::from_millis(100), || async {
            Err::<(), _>("nope")
        })
        .await
        .expect_err("timeout");
        assert_eq!(err.last, Some("nope"));
        assert!(err.attempts > 1);
        assert!(err.waited >= Duration::from_millis(100));
        assert!(err.to_string().contains("nope"));
    }

    #[tokio::test(start_paused = true)]
    async fn cuts_off_a_hanging_attempt() {
        let err = eventually(Duration::from_millis(50), || {
            futures_pending::<Result<(), &str>>()
        })
        .await
        .expect_err("timeout");
        assert_eq!(err.attempts, 1);
        assert!(err.last.is_none());
    }

    async fn futures_pending<T>() -> T {
        std::future::pending().await
    }
}
