//! BackendTLSPolicy: TLS from the Gateway to the backend with the policy's
//! hostname as SNI, trust from its CA ConfigMap, subjectAltNames, conflict
//! resolution, invalid references, and generation bumps; the Gateway's
//! client certificate towards backends.

use std::time::Duration;

use serde_json::Value;

use crate::expect::{Expect, Request, round_trip};
use crate::status::{self, Cond, route_accepted, route_resolved};
use crate::tls::{client_config, tls_round_trip};
use crate::{
    CONTROLLER_NAME, ConformanceTest, Env, Failure, INFRA_NS, conformance_test, fail, manifests,
};

pub fn tests() -> Vec<ConformanceTest> {
    vec![
        conformance_test!(
            "BackendTLSPolicy",
            manifests: ["tests/backendtlspolicy.yaml"],
            features: ["Gateway", "HTTPRoute", "BackendTLSPolicy"],
            normative
        ),
        conformance_test!(
            "BackendTLSPolicyConflictResolution",
            manifests: ["tests/backendtlspolicy-conflict-resolution.yaml"],
            features: ["Gateway", "HTTPRoute", "BackendTLSPolicy"],
            conflict_resolution
        ),
        conformance_test!(
            "BackendTLSPolicyInvalidCACertificateRef",
            manifests: ["tests/backendtlspolicy-invalid-ca-certificate-ref.yaml"],
            features: ["Gateway", "HTTPRoute", "BackendTLSPolicy"],
            invalid_ca_certificate_ref
        ),
        conformance_test!(
            "BackendTLSPolicyInvalidKind",
            manifests: ["tests/backendtlspolicy-invalid-kind.yaml"],
            features: ["Gateway", "HTTPRoute", "BackendTLSPolicy"],
            invalid_kind
        ),
        conformance_test!(
            "BackendTLSPolicyObservedGenerationBump",
            manifests: ["tests/backendtlspolicy-observed-generation-bump.yaml"],
            features: ["Gateway", "HTTPRoute", "BackendTLSPolicy"],
            observed_generation_bump
        ),
        conformance_test!(
            "BackendTLSPolicySANValidation",
            manifests: ["tests/backendtlspolicy-san.yaml"],
            features: ["Gateway", "HTTPRoute", "BackendTLSPolicy", "BackendTLSPolicySANValidation"],
            san_validation
        ),
        conformance_test!(
            "GatewayInvalidTLSBackendConfiguration",
            manifests: ["tests/gateway-invalid-tls-backend-configuration.yaml"],
            features: ["Gateway", "GatewayBackendClientCertificate", "HTTPRoute", "BackendTLSPolicy"],
            invalid_tls_backend_configuration
        ),
        conformance_test!(
            "GatewayTLSBackendClientCertificate",
            manifests: ["tests/gateway-tls-backend-client-certificate.yaml"],
            features: ["Gateway", "GatewayBackendClientCertificate", "HTTPRoute", "BackendTLSPolicy"],
            backend_client_certificate
        ),
    ]
}

const GW: &str = "same-namespace";
const HOST: &str = "abc.example.com";
const ACCEPTED: &[Cond] = &[Cond("Accepted", "True", "Accepted")];
const RESOLVED: &[Cond] = &[Cond("ResolvedRefs", "True", "ResolvedRefs")];

/// Upstream `BackendTLSPolicyMustHaveCondition`: the policy's ancestor
/// entry for `gateway` (written by Portico) has `conds`, observed at the
/// policy's generation.
pub(crate) async fn policy_condition(
    env: &Env,
    policy: &str,
    gateway: &str,
    conds: &'static [Cond],
) -> Result<Value, Failure> {
    status::eventually(env, "BackendTLSPolicy", INFRA_NS, policy, |p| {
        let generation = p
            .pointer("/metadata/generation")
            .and_then(Value::as_i64)
            .unwrap_or(1);
        let ancestors = p
            .pointer("/status/ancestors")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let Some(mine) = ancestors.iter().find(|a| {
            a.get("controllerName").and_then(Value::as_str) == Some(CONTROLLER_NAME)
                && a.pointer("/ancestorRef/name").and_then(Value::as_str) == Some(gateway)
                && a.pointer("/ancestorRef/namespace")
                    .and_then(Value::as_str)
                    .unwrap_or(INFRA_NS)
                    == INFRA_NS
        }) else {
            return Err(format!(
                "no ancestor status for Gateway {gateway}: {ancestors:?}"
            ));
        };
        status::conditions_match(
            mine.get("conditions").unwrap_or(&Value::Null),
            conds,
            generation,
        )
    })
    .await
}

fn request(path: &str, host: &str) -> Request {
    Request {
        host: host.to_string(),
        path: path.to_string(),
        headers: vec![("X-Echo-Set-Header".to_string(), String::new())],
        ..Request::default()
    }
}

/// The TLS server name the backend saw, from the echo answer.
fn backend_sni(body: &[u8]) -> Result<String, String> {
    let echo: Value = serde_json::from_slice(body).map_err(|e| format!("echo body: {e}"))?;
    echo.pointer("/tls/serverName")
        .and_then(Value::as_str)
        .map(String::from)
        .ok_or_else(|| format!("the backend saw no TLS: {echo}"))
}

/// Upstream `MakeRequestAndExpectEventuallyConsistentResponse` with an
/// `SNI` expectation: 200 from a backend in the infra namespace that was
/// reached over TLS with server name `sni`.
async fn expect_tls_backend(
    env: &Env,
    gw: &str,
    path: &str,
    host: &str,
    sni: &str,
) -> Result<(), Failure> {
    let want = Expect::get(path, "", INFRA_NS).host(host);
    let req = request(path, host);
    consistently(env, || async {
        let got = round_trip(gw, &req, &[]).await?;
        crate::expect::compare(gw, &want, &got)?;
        let seen = backend_sni(&got.body)?;
        if seen != sni {
            return Err(format!("backend saw SNI {seen:?}, want {sni:?}"));
        }
        Ok(())
    })
    .await
    .map_err(|e| Failure(format!("{path}: {e}")))
}

/// Upstream `MakeRequestAndExpectFailure`: the request must not succeed
/// (any status but 200, answered, not a timeout).
async fn expect_fails(env: &Env, gw: &str, path: &str, host: &str) -> Result<(), Failure> {
    let req = request(path, host);
    consistently(env, || async {
        let got = round_trip(gw, &req, &[]).await?;
        if got.status == 200 {
            return Err(format!(
                "status 200 from {}",
                String::from_utf8_lossy(&got.body)
            ));
        }
        Ok(())
    })
    .await
    .map_err(|e| Failure(format!("{path} must fail: {e}")))
}

/// An expectation on one status code list (e.g. 5xx).
async fn expect_statuses(env: &Env, gw: &str, path: &str, statuses: &[u16]) -> Result<(), Failure> {
    let req = request(path, HOST);
    consistently(env, || async {
        let got = round_trip(gw, &req, &[]).await?;
        if statuses.contains(&got.status) {
            Ok(())
        } else {
            Err(format!("status {}, want one of {statuses:?}", got.status))
        }
    })
    .await
    .map_err(|e| Failure(format!("{path}: {e}")))
}

/// The upstream consistency rule: `check` must pass the required number
/// of consecutive times within the consistency deadline.
async fn consistently<F, Fut>(env: &Env, check: F) -> Result<(), String>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Result<(), String>>,
{
    let deadline = tokio::time::Instant::now() + env.config.max_time_to_consistency;
    let mut passes = 0;
    loop {
        match check().await {
            Ok(()) => {
                passes += 1;
                if passes >= env.config.required_consecutive_successes {
                    return Ok(());
                }
                continue;
            }
            Err(why) => {
                passes = 0;
                if tokio::time::Instant::now() > deadline {
                    return Err(why);
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn gateway_and_route(env: &Env, gateway: &str, route: &str) -> Result<String, Failure> {
    route_accepted(env, "HTTPRoute", INFRA_NS, route, &[(INFRA_NS, gateway)]).await?;
    env.gateway_address(INFRA_NS, gateway).await
}

async fn normative(env: &Env) -> Result<(), Failure> {
    // Re-encrypt: HTTPS listener in front, TLS again to the backend.
    const HTTPS_GW: &str = "same-namespace-with-https-listener";
    let https = gateway_and_route(env, HTTPS_GW, "backendtlspolicy-reencrypt").await?;
    route_resolved(
        env,
        "HTTPRoute",
        INFRA_NS,
        "backendtlspolicy-reencrypt",
        &[(INFRA_NS, HTTPS_GW)],
    )
    .await?;
    policy_condition(env, "normative-test", HTTPS_GW, ACCEPTED).await?;
    policy_condition(env, "normative-test", HTTPS_GW, RESOLVED).await?;
    let pinned = client_config(&env.config.certs.validity.cert_pem).map_err(Failure)?;
    let want = Expect::get("/backendtlspolicy", "", INFRA_NS).host("https-listener.org");
    consistently(env, || async {
        let got = tls_round_trip(&https, "https-listener.org", pinned.clone(), &want).await?;
        crate::expect::compare(&https, &want, &got)?;
        let seen = backend_sni(&got.body)?;
        if seen != HOST {
            return Err(format!("backend saw SNI {seen:?}, want {HOST}"));
        }
        Ok(())
    })
    .await
    .map_err(|e| Failure(format!("re-encrypt: {e}")))?;

    let gw = gateway_and_route(env, GW, "backendtlspolicy").await?;
    route_resolved(
        env,
        "HTTPRoute",
        INFRA_NS,
        "backendtlspolicy",
        &[(INFRA_NS, GW)],
    )
    .await?;
    policy_condition(env, "normative-test", GW, ACCEPTED).await?;
    policy_condition(env, "normative-test", GW, RESOLVED).await?;
    expect_tls_backend(env, &gw, "/backendtlspolicy", HOST, HOST).await?;
    for policy in ["host-mismatch", "cert-mismatch"] {
        policy_condition(env, policy, GW, ACCEPTED).await?;
        policy_condition(env, policy, GW, RESOLVED).await?;
    }
    expect_fails(
        env,
        &gw,
        "/backendtlspolicy-host-mismatch",
        "abc.example.org",
    )
    .await?;
    expect_fails(env, &gw, "/backendtlspolicy-cert-mismatch", HOST).await
}

async fn conflict_resolution(env: &Env) -> Result<(), Failure> {
    const CONFLICTED: &[Cond] = &[Cond("Accepted", "False", "Conflicted")];
    let gw = gateway_and_route(env, GW, "backendtlspolicy-conflict-resolution").await?;
    route_resolved(
        env,
        "HTTPRoute",
        INFRA_NS,
        "backendtlspolicy-conflict-resolution",
        &[(INFRA_NS, GW)],
    )
    .await?;
    for (winner, loser, path) in [
        (
            "conflicted-without-section-name-1",
            "conflicted-without-section-name-2",
            "/backendtlspolicy-conflicted-without-section-name",
        ),
        (
            "conflicted-with-section-name-1",
            "conflicted-with-section-name-2",
            "/backendtlspolicy-conflicted-with-section-name",
        ),
    ] {
        policy_condition(env, winner, GW, ACCEPTED).await?;
        policy_condition(env, loser, GW, CONFLICTED).await?;
        expect_tls_backend(env, &gw, path, HOST, "other.example.com").await?;
    }
    for policy in [
        "not-conflicted-with-section-name",
        "not-conflicted-without-section-name",
    ] {
        policy_condition(env, policy, GW, ACCEPTED).await?;
    }
    expect_tls_backend(
        env,
        &gw,
        "/backendtlspolicy-not-conflicted-with-section-name",
        HOST,
        "other.example.com",
    )
    .await?;
    expect_tls_backend(
        env,
        &gw,
        "/backendtlspolicy-not-conflicted-without-section-name",
        HOST,
        HOST,
    )
    .await
}

async fn invalid_ca_certificate_ref(env: &Env) -> Result<(), Failure> {
    let gw = gateway_and_route(env, GW, "backendtlspolicy-invalid-ca-certificate-ref").await?;
    for policy in [
        "nonexistent-ca-certificate-ref",
        "malformed-ca-certificate-ref",
    ] {
        policy_condition(
            env,
            policy,
            GW,
            &[Cond("Accepted", "False", "NoValidCACertificate")],
        )
        .await?;
        policy_condition(
            env,
            policy,
            GW,
            &[Cond("ResolvedRefs", "False", "InvalidCACertificateRef")],
        )
        .await?;
        expect_statuses(
            env,
            &gw,
            &format!("/backendtlspolicy-{policy}"),
            &[500, 502, 503],
        )
        .await?;
    }
    Ok(())
}

async fn invalid_kind(env: &Env) -> Result<(), Failure> {
    let gw = gateway_and_route(env, GW, "backendtlspolicy-invalid-kind-test").await?;
    policy_condition(
        env,
        "invalid-kind",
        GW,
        &[Cond("Accepted", "False", "NoValidCACertificate")],
    )
    .await?;
    policy_condition(
        env,
        "invalid-kind",
        GW,
        &[Cond("ResolvedRefs", "False", "InvalidKind")],
    )
    .await?;
    expect_statuses(env, &gw, "/backendtlspolicy-invalid-kind", &[500, 502, 503]).await
}

async fn observed_generation_bump(env: &Env) -> Result<(), Failure> {
    const POLICY: &str = "observed-generation-bump";
    const ANY_ACCEPTED: &[Cond] = &[Cond("Accepted", "True", "")];
    let before = policy_condition(env, POLICY, GW, ANY_ACCEPTED).await?;
    let generation = |p: &Value| p.pointer("/metadata/generation").and_then(Value::as_i64);
    let original = generation(&before);
    let mut mutated = env
        .documents()
        .iter()
        .find(|d| manifests::kind(d) == "BackendTLSPolicy" && manifests::name(d) == POLICY)
        .cloned()
        .ok_or_else(|| Failure::new("the policy is not in the manifests"))?;
    mutated["spec"]["validation"]["hostname"] = Value::String("foo.example.com".into());
    env.replace_object("BackendTLSPolicy", INFRA_NS, POLICY, &mutated)?;
    let after = status::eventually(env, "BackendTLSPolicy", INFRA_NS, POLICY, |p| {
        if generation(p) == original {
            return Err("generation unchanged after the update".into());
        }
        Ok(())
    })
    .await?;
    if generation(&after) == original {
        fail!("generation should change after an update");
    }
    policy_condition(env, POLICY, GW, ANY_ACCEPTED).await?;
    Ok(())
}

async fn san_validation(env: &Env) -> Result<(), Failure> {
    let gw = gateway_and_route(env, GW, "backendtlspolicy-san-test").await?;
    route_resolved(
        env,
        "HTTPRoute",
        INFRA_NS,
        "backendtlspolicy-san-test",
        &[(INFRA_NS, GW)],
    )
    .await?;
    for (policy, good) in [
        ("san-dns", true),
        ("san-dns-mismatch", false),
        ("san-uri", true),
        ("san-uri-mismatch", false),
        ("multiple-sans", true),
        ("multiple-mismatch-sans", false),
    ] {
        policy_condition(env, policy, GW, ACCEPTED).await?;
        let path = format!("/backendtlspolicy-{policy}");
        if good {
            expect_tls_backend(env, &gw, &path, HOST, HOST).await?;
        } else {
            expect_fails(env, &gw, &path, HOST).await?;
        }
    }
    Ok(())
}

async fn invalid_tls_backend_configuration(env: &Env) -> Result<(), Failure> {
    for (gateway, reason) in [
        (
            "gateway-client-certificate-nonexistent-secret",
            "InvalidClientCertificateRef",
        ),
        (
            "gateway-client-certificate-unsupported-group",
            "InvalidClientCertificateRef",
        ),
        (
            "gateway-client-certificate-unsupported-kind",
            "InvalidClientCertificateRef",
        ),
        (
            "gateway-client-certificate-malformed-secret",
            "InvalidClientCertificateRef",
        ),
        (
            "gateway-client-certificate-missing-reference-grant",
            "RefNotPermitted",
        ),
    ] {
        let conds = [
            Cond("ResolvedRefs", "False", reason),
            Cond("Accepted", "True", "Accepted"),
        ];
        status::eventually(env, "Gateway", INFRA_NS, gateway, |gw| {
            let generation = gw
                .pointer("/metadata/generation")
                .and_then(Value::as_i64)
                .unwrap_or(1);
            status::conditions_match(
                gw.pointer("/status/conditions").unwrap_or(&Value::Null),
                &conds,
                generation,
            )
        })
        .await?;
    }
    Ok(())
}

async fn backend_client_certificate(env: &Env) -> Result<(), Failure> {
    const GW: &str = "gateway-tls-backend-client-certificate";
    let gw = gateway_and_route(env, GW, GW).await?;
    route_resolved(env, "HTTPRoute", INFRA_NS, GW, &[(INFRA_NS, GW)]).await?;
    policy_condition(
        env,
        "gateway-tls-backend-client-certificate-test",
        GW,
        &[Cond("Accepted", "True", "")],
    )
    .await?;
    status::gateway_conditions(
        env,
        INFRA_NS,
        GW,
        &[Cond("ResolvedRefs", "True", "ResolvedRefs")],
    )
    .await?;
    let client = env
        .config
        .certs
        .clients
        .get("tls-checks-client-certificate")
        .ok_or_else(|| Failure::new("no generated tls-checks-client-certificate"))?
        .cert_pem
        .clone();
    let want = Expect::get("/", "", INFRA_NS).host(HOST);
    let req = request("/", HOST);
    consistently(env, || async {
        let got = round_trip(&gw, &req, &[]).await?;
        crate::expect::compare(&gw, &want, &got)?;
        let seen = backend_sni(&got.body)?;
        if seen != HOST {
            return Err(format!("backend saw SNI {seen:?}, want {HOST}"));
        }
        let echo: Value = serde_json::from_slice(&got.body).map_err(|e| e.to_string())?;
        let presented = echo
            .pointer("/tls/peerCertificates/0")
            .and_then(Value::as_str)
            .unwrap_or_default();
        if presented.trim() != client.trim() {
            return Err(format!("the backend saw client certificate {presented:?}"));
        }
        Ok(())
    })
    .await
    .map_err(|e| Failure(format!("backend client certificate: {e}")))
}
