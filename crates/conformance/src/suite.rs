//! The registry of ported upstream tests and the sequential runner.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use futures::future::BoxFuture;
use serde_json::Value;

use crate::env::{Env, EnvConfig};
use crate::error::Failure;

/// One upstream conformance test, ported.
pub struct ConformanceTest {
    /// The upstream `ShortName`.
    pub name: &'static str,
    /// Manifests (relative to the conformance dir) applied after the base.
    pub manifests: &'static [&'static str],
    /// Features the test needs; it is skipped unless all are supported.
    pub features: &'static [&'static str],
    /// Extra placeholder substitutions in the manifests (upstream suite
    /// parameters such as `PLACEHOLDER_USABLE_ADDRS`).
    pub substitutions: &'static [(&'static str, &'static str)],
    pub run: for<'a> fn(&'a Env) -> BoxFuture<'a, Result<(), Failure>>,
}

/// Declares a [`ConformanceTest`] from an `async fn(&Env) -> Result<(), Failure>`.
#[macro_export]
macro_rules! conformance_test {
    ($name:expr, manifests: [$($m:expr),* $(,)?], features: [$($f:expr),* $(,)?], $func:path) => {
        $crate::ConformanceTest {
            name: $name,
            manifests: &[$($m),*],
            features: &[$($f),*],
            substitutions: &[],
            run: |env| Box::pin($func(env)),
        }
    };
    ($name:expr, manifests: [$($m:expr),* $(,)?], features: [$($f:expr),* $(,)?],
     substitutions: [$(($from:expr, $to:expr)),* $(,)?], $func:path) => {
        $crate::ConformanceTest {
            name: $name,
            manifests: &[$($m),*],
            features: &[$($f),*],
            substitutions: &[$(($from, $to)),*],
            run: |env| Box::pin($func(env)),
        }
    };
}

/// The result of one test.
#[derive(Debug)]
pub enum Outcome {
    Passed(Duration),
    Failed(String),
    Skipped(String),
    /// Run although its features are not claimed (`PORTICO_CONFORMANCE_ALL=1`).
    UnclaimedPassed,
    UnclaimedFailed(String),
}

/// Every test's outcome, in order.
#[derive(Debug, Default)]
pub struct Summary {
    pub results: Vec<(&'static str, Outcome)>,
    pub supported_features: BTreeSet<String>,
}

impl Summary {
    pub fn passed(&self) -> usize {
        self.count(|o| matches!(o, Outcome::Passed(_)))
    }
    pub fn failed(&self) -> usize {
        self.count(|o| matches!(o, Outcome::Failed(_)))
    }
    pub fn skipped(&self) -> usize {
        self.count(|o| {
            matches!(
                o,
                Outcome::Skipped(_) | Outcome::UnclaimedPassed | Outcome::UnclaimedFailed(_)
            )
        })
    }
    fn count(&self, f: impl Fn(&Outcome) -> bool) -> usize {
        self.results.iter().filter(|(_, o)| f(o)).count()
    }
    /// `N passed, N failed, N skipped`.
    pub fn line(&self) -> String {
        format!(
            "{} passed, {} failed, {} skipped",
            self.passed(),
            self.failed(),
            self.skipped()
        )
    }
}

/// What the GatewayClass advertises in `status.supportedFeatures`.
async fn supported_features(config: &EnvConfig) -> Result<BTreeSet<String>, Failure> {
    let env = Env::start(config, &[], &[]).await?;
    let class = crate::status::eventually(&env, "GatewayClass", "", crate::GATEWAY_CLASS, |gc| {
        crate::status::conditions_match(
            gc.pointer("/status/conditions").unwrap_or(&Value::Null),
            &[crate::status::Cond("Accepted", "True", "")],
            gc.pointer("/metadata/generation")
                .and_then(Value::as_i64)
                .unwrap_or(1),
        )
    })
    .await;
    env.stop().await;
    let class = class?;
    Ok(class
        .pointer("/status/supportedFeatures")
        .and_then(Value::as_array)
        .map(|f| {
            f.iter()
                .filter_map(|x| {
                    x.get("name")
                        .and_then(Value::as_str)
                        .or_else(|| x.as_str())
                        .map(String::from)
                })
                .collect()
        })
        .unwrap_or_default())
}

/// Runs `tests` one after another (they share port 80 on the loopback
/// pool), printing a line per test and the summary line.
/// `PORTICO_CONFORMANCE_RUN=substring` selects tests by name;
/// `PORTICO_CONFORMANCE_ALL=1` also runs tests of unclaimed features
/// (reported, never counted as failures).
pub async fn run_suite(tests: &[ConformanceTest]) -> Result<Summary, Failure> {
    let config = EnvConfig::from_environment()?;
    let features = supported_features(&config).await?;
    println!(
        "conformance: GatewayClass supportedFeatures = [{}]",
        features.iter().cloned().collect::<Vec<_>>().join(", ")
    );
    let only = std::env::var("PORTICO_CONFORMANCE_RUN").ok();
    let all = std::env::var("PORTICO_CONFORMANCE_ALL").is_ok_and(|v| v == "1");
    let mut summary = Summary {
        supported_features: features.clone(),
        ..Summary::default()
    };
    for test in tests {
        if only.as_deref().is_some_and(|o| !test.name.contains(o)) {
            continue;
        }
        let missing: Vec<&str> = test
            .features
            .iter()
            .copied()
            .filter(|f| !features.contains(*f))
            .collect();
        if !missing.is_empty() && !all {
            println!("SKIP {} (unsupported: {})", test.name, missing.join(", "));
            summary
                .results
                .push((test.name, Outcome::Skipped(missing.join(", "))));
            continue;
        }
        let started = Instant::now();
        let result = run_one(&config, test).await;
        let outcome = match (result, missing.is_empty()) {
            (Ok(()), true) => Outcome::Passed(started.elapsed()),
            (Err(e), true) => Outcome::Failed(e.to_string()),
            (Ok(()), false) => Outcome::UnclaimedPassed,
            (Err(e), false) => Outcome::UnclaimedFailed(e.to_string()),
        };
        match &outcome {
            Outcome::Passed(d) => println!("PASS {} ({:.1}s)", test.name, d.as_secs_f64()),
            Outcome::Failed(why) => println!("FAIL {}: {why}", test.name),
            Outcome::UnclaimedPassed => println!("XPASS {} (features not claimed)", test.name),
            Outcome::UnclaimedFailed(why) => {
                println!("XFAIL {} (features not claimed): {why}", test.name)
            }
            Outcome::Skipped(_) => {}
        }
        summary.results.push((test.name, outcome));
    }
    println!("conformance: {}", summary.line());
    Ok(summary)
}

async fn run_one(config: &EnvConfig, test: &ConformanceTest) -> Result<(), Failure> {
    let env = Env::start(config, test.manifests, test.substitutions).await?;
    let result = match tokio::time::timeout(Duration::from_secs(90), (test.run)(&env)).await {
        Ok(r) => r,
        Err(_) => Err(Failure::new("test timed out after 90s")),
    };
    let result = result.map_err(|e| {
        let log = env.portico_log();
        let tail: Vec<&str> = log.lines().rev().take(15).collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        Failure(format!(
            "{e}\n  portico log (tail):\n    {}",
            tail.join("\n    ")
        ))
    });
    env.stop().await;
    result
}
