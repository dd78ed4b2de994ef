//! gRPC expectations, compared the way the upstream gRPC helper compares
//! them: the status code; for OK, the answering pod's namespace and name
//! prefix. Requests go over h2c with an explicit `:authority`.

use std::time::Duration;

use portico_echo::proto::EchoRequest;
use portico_echo::proto::grpc_echo_client::GrpcEchoClient;
use tonic::Code;
use tonic::transport::Endpoint;

use crate::env::Env;
use crate::error::Failure;

/// The three methods of the echo service.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    Echo,
    EchoTwo,
    EchoThree,
}

/// One gRPC expectation.
#[derive(Clone, Debug)]
pub struct GrpcExpect {
    pub method: Method,
    /// `:authority` (default: the Gateway address).
    pub authority: String,
    pub metadata: Vec<(String, String)>,
    /// Default `Ok`.
    pub code: Code,
    /// Pod name prefix (the Deployment) that must answer.
    pub backend: String,
    pub namespace: String,
}

impl GrpcExpect {
    /// `method` answered OK by `backend` in `namespace`.
    pub fn ok(method: Method, backend: &str, namespace: &str) -> GrpcExpect {
        GrpcExpect {
            method,
            authority: String::new(),
            metadata: Vec::new(),
            code: Code::Ok,
            backend: backend.to_string(),
            namespace: namespace.to_string(),
        }
    }

    /// `method` answered with `code` by the gateway.
    pub fn code(method: Method, code: Code) -> GrpcExpect {
        GrpcExpect {
            code,
            ..GrpcExpect::ok(method, "", "")
        }
    }

    pub fn authority(mut self, authority: &str) -> GrpcExpect {
        self.authority = authority.to_string();
        self
    }

    pub fn metadata(mut self, pairs: &[(&str, &str)]) -> GrpcExpect {
        self.metadata
            .extend(pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        self
    }

    fn describe(&self) -> String {
        format!(
            "gRPC {:?} authority={:?} metadata={:?}",
            self.method, self.authority, self.metadata
        )
    }
}

/// What one call returned: the status code and, on OK, namespace and pod.
#[derive(Debug)]
pub struct GrpcAnswer {
    pub code: Code,
    pub namespace: String,
    pub pod: String,
}

/// One call through `gw_addr` (`ip:port`) on a fresh h2c connection.
pub async fn call(gw_addr: &str, want: &GrpcExpect) -> Result<GrpcAnswer, String> {
    let authority = if want.authority.is_empty() {
        gw_addr
    } else {
        want.authority.as_str()
    };
    let origin: http::Uri = format!("http://{authority}")
        .parse()
        .map_err(|e| format!("bad authority {authority}: {e}"))?;
    let endpoint = Endpoint::from_shared(format!("http://{gw_addr}"))
        .map_err(|e| format!("bad address {gw_addr}: {e}"))?
        .origin(origin)
        .connect_timeout(Duration::from_secs(5))
        .timeout(Duration::from_secs(10));
    let channel = endpoint
        .connect()
        .await
        .map_err(|e| format!("connect: {e}"))?;
    let mut client = GrpcEchoClient::new(channel);
    let mut request = tonic::Request::new(EchoRequest {});
    for (key, value) in &want.metadata {
        let key = tonic::metadata::MetadataKey::from_bytes(key.to_ascii_lowercase().as_bytes())
            .map_err(|e| format!("metadata key {key}: {e}"))?;
        let value = value
            .parse()
            .map_err(|e| format!("metadata value {value}: {e}"))?;
        request.metadata_mut().insert(key, value);
    }
    let result = match want.method {
        Method::Echo => client.echo(request).await,
        Method::EchoTwo => client.echo_two(request).await,
        Method::EchoThree => client.echo_three(request).await,
    };
    match result {
        Ok(response) => {
            let context = response
                .into_inner()
                .assertions
                .and_then(|a| a.context)
                .unwrap_or_default();
            Ok(GrpcAnswer {
                code: Code::Ok,
                namespace: context.namespace,
                pod: context.pod,
            })
        }
        Err(status) => Ok(GrpcAnswer {
            code: status.code(),
            namespace: String::new(),
            pod: String::new(),
        }),
    }
}

/// Compares one answer with an expectation.
pub fn compare(want: &GrpcExpect, got: &GrpcAnswer) -> Result<(), String> {
    if got.code != want.code {
        return Err(format!("expected code {:?}, got {:?}", want.code, got.code));
    }
    if want.code != Code::Ok {
        return Ok(());
    }
    if got.namespace != want.namespace {
        return Err(format!(
            "expected namespace {}, got {}",
            want.namespace, got.namespace
        ));
    }
    if !got.pod.starts_with(&want.backend) {
        return Err(format!(
            "expected pod name to start with {}, got {}",
            want.backend, got.pod
        ));
    }
    Ok(())
}

/// Calls until the expectation passes N times in a row.
pub async fn expect_grpc(env: &Env, gw_addr: &str, want: &GrpcExpect) -> Result<(), Failure> {
    let deadline = tokio::time::Instant::now() + env.config.max_time_to_consistency;
    let mut successes = 0;
    loop {
        let last = match call(gw_addr, want).await {
            Ok(got) => match compare(want, &got) {
                Ok(()) => {
                    successes += 1;
                    if successes >= env.config.required_consecutive_successes {
                        return Ok(());
                    }
                    continue;
                }
                Err(why) => why,
            },
            Err(why) => why,
        };
        successes = 0;
        if tokio::time::Instant::now() > deadline {
            return Err(Failure(format!("{}: {last}", want.describe())));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Checks every expectation in turn.
pub async fn expect_all_grpc(
    env: &Env,
    gw_addr: &str,
    wants: &[GrpcExpect],
) -> Result<(), Failure> {
    for want in wants {
        expect_grpc(env, gw_addr, want).await?;
    }
    Ok(())
}

/// The Deployment of a pod name (`<deploy>-<rs-hash>-<pod-hash>`).
fn deployment(pod: &str) -> String {
    let parts: Vec<&str> = pod.split('-').collect();
    parts[..parts.len().saturating_sub(2)].join("-")
}

/// Upstream gRPC weight check: 500 calls must split as `weights` (share
/// per Deployment, 0.0 meaning none) within 0.05, retried up to 10 times
/// because it is statistical. Any non-OK answer is an error.
pub async fn expect_grpc_weights(
    gw_addr: &str,
    want: &GrpcExpect,
    weights: &[(&str, f64)],
) -> Result<(), Failure> {
    use futures::StreamExt as _;
    const TOTAL: usize = 500;
    const TOLERANCE: f64 = 0.05;
    let mut last = String::new();
    for _ in 0..10 {
        let answers: Vec<Result<GrpcAnswer, String>> = futures::stream::iter(0..TOTAL)
            .map(|_| call(gw_addr, want))
            .buffer_unordered(10)
            .collect()
            .await;
        let mut seen: std::collections::BTreeMap<String, usize> = Default::default();
        let mut problems = Vec::new();
        for answer in answers {
            match answer {
                Ok(a) if a.code == Code::Ok => *seen.entry(deployment(&a.pod)).or_insert(0) += 1,
                Ok(a) => problems.push(format!("code {:?}", a.code)),
                Err(e) => problems.push(e),
            }
        }
        problems.truncate(3);
        for name in seen.keys() {
            if !weights.iter().any(|(w, _)| w == name) {
                problems.push(format!("unexpected backend {name}"));
            }
        }
        for (name, share) in weights {
            let got = *seen.get(*name).unwrap_or(&0) as f64 / TOTAL as f64;
            if (got - share).abs() > TOLERANCE {
                problems.push(format!(
                    "{name}: {got:.3} of calls, want {share} ±{TOLERANCE}"
                ));
            }
        }
        if problems.is_empty() {
            return Ok(());
        }
        last = format!("{} (seen {seen:?})", problems.join("; "));
    }
    Err(Failure(format!("weighted gRPC distribution: {last}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(code: Code, namespace: &str, pod: &str) -> GrpcAnswer {
        GrpcAnswer {
            code,
            namespace: namespace.into(),
            pod: pod.into(),
        }
    }

    #[test]
    fn ok_needs_namespace_and_pod_prefix() {
        let want = GrpcExpect::ok(Method::Echo, "grpc-infra-backend-v1", "ns");
        assert!(
            compare(
                &want,
                &answer(Code::Ok, "ns", "grpc-infra-backend-v1-ab-cd")
            )
            .is_ok()
        );
        assert!(
            compare(
                &want,
                &answer(Code::Ok, "other", "grpc-infra-backend-v1-ab")
            )
            .is_err()
        );
        assert!(compare(&want, &answer(Code::Ok, "ns", "grpc-infra-backend-v2-ab")).is_err());
        assert!(compare(&want, &answer(Code::Unimplemented, "", "")).is_err());
    }

    #[test]
    fn deployment_strips_two_suffixes() {
        assert_eq!(
            deployment("grpc-infra-backend-v1-abc12-xyz34"),
            "grpc-infra-backend-v1"
        );
        assert_eq!(deployment("x"), "");
    }

    #[test]
    fn error_codes_compare_only_the_code() {
        let want = GrpcExpect::code(Method::EchoThree, Code::Unimplemented);
        assert!(compare(&want, &answer(Code::Unimplemented, "", "")).is_ok());
        assert!(compare(&want, &answer(Code::Ok, "ns", "pod")).is_err());
    }
}
