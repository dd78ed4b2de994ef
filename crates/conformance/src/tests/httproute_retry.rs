//! HTTPRoute `retry`: the echo backend fails the first N attempts of a
//! request id with a given status; the gateway must retry only the listed
//! codes, at most `attempts` times, and otherwise surface the failure.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::expect::{Expect, compare, round_trip};
use crate::status::{route_accepted, route_resolved};
use crate::{ConformanceTest, Env, Failure, INFRA_NS, conformance_test};

pub fn tests() -> Vec<ConformanceTest> {
    vec![conformance_test!(
        "HTTPRouteRetry",
        manifests: ["tests/httproute-retry.yaml"],
        features: ["Gateway", "HTTPRoute", "HTTPRouteRetry"],
        retry
    )]
}

const SAME: [(&str, &str); 1] = [(INFRA_NS, "same-namespace")];
const ONLY_500: &str = "/retry/code-500-attempts-3";
const ALL_5XX: &str = "/retry/code-all-attempts-2";

/// A request id no earlier probe used (the backend counts per id).
fn fresh_id() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!("{nanos:x}-{}", NEXT.fetch_add(1, Ordering::Relaxed))
}

/// N consecutive probes, each with a new id, must answer `status`
/// (200 from infra-backend-v3 when the retries succeed).
async fn converges(
    env: &Env,
    gw: &str,
    path: &str,
    code: u16,
    succeed_after: u32,
    status: u16,
) -> Result<(), Failure> {
    let deadline = tokio::time::Instant::now() + env.config.max_time_to_consistency;
    let mut successes = 0;
    loop {
        // Query keys in the order Go's url.Values.Encode sorts them.
        let target = format!(
            "{path}?responseCode={code}&succeedAfter={succeed_after}&uuid={}",
            fresh_id()
        );
        let mut want = Expect::get(&target, "infra-backend-v3", INFRA_NS);
        want.status = status;
        let outcome = match round_trip(gw, &want.request, &[]).await {
            Ok(got) => compare(gw, &want, &got),
            Err(e) => Err(e),
        };
        match outcome {
            Ok(()) => {
                successes += 1;
                if successes >= env.config.required_consecutive_successes {
                    return Ok(());
                }
                continue;
            }
            Err(why) => {
                successes = 0;
                if tokio::time::Instant::now() > deadline {
                    return Err(Failure(format!(
                        "{path} failing {code} {succeed_after} times: {why}"
                    )));
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn retry(env: &Env) -> Result<(), Failure> {
    route_accepted(env, "HTTPRoute", INFRA_NS, "retries", &SAME).await?;
    route_resolved(env, "HTTPRoute", INFRA_NS, "retries", &SAME).await?;
    let gw = env.gateway_address(INFRA_NS, "same-namespace").await?;
    // (path, failing status, failures before success, expected status)
    let cases: [(&str, u16, u32, u16); 11] = [
        (ONLY_500, 500, 2, 200),
        (ONLY_500, 500, 4, 500),
        (ONLY_500, 503, 2, 503),
        (ALL_5XX, 500, 1, 200),
        (ALL_5XX, 500, 3, 500),
        (ALL_5XX, 502, 1, 200),
        (ALL_5XX, 502, 3, 502),
        (ALL_5XX, 503, 1, 200),
        (ALL_5XX, 503, 3, 503),
        (ALL_5XX, 504, 1, 200),
        (ALL_5XX, 504, 3, 504),
    ];
    for (path, code, succeed_after, status) in cases {
        converges(env, &gw, path, code, succeed_after, status).await?;
    }
    Ok(())
}
