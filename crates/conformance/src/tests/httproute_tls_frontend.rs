//! HTTPS listeners, client side: 421 for requests whose Host selects
//! another HTTPS listener than the SNI did, and frontend client-certificate
//! validation (default and per-port CAs, AllowInsecureFallback, invalid
//! CA references).

use crate::expect::{Expect, expect};
use crate::status::{self, Cond, gateway_conditions, route_accepted, route_resolved};
use crate::tests::l4_probe::listener_addr;
use crate::tls::{expect_tls_request_fails, expect_tls_with, pinned_client_config};
use crate::{ConformanceTest, Env, Failure, INFRA_NS, conformance_test};

pub fn tests() -> Vec<ConformanceTest> {
    vec![
        conformance_test!(
            "HTTPRouteHTTPSListenerDetectMisdirectedRequests",
            manifests: ["tests/httproute-https-listener-detect-misdirected-requests.yaml"],
            features: ["Gateway", "GatewayHTTPSListenerDetectMisdirectedRequests", "HTTPRoute"],
            misdirected_requests
        ),
        conformance_test!(
            "GatewayFrontendClientCertificateValidation",
            manifests: ["tests/gateway-with-clientcertificate-validation.yaml"],
            features: ["Gateway", "HTTPRoute", "GatewayFrontendClientCertificateValidation"],
            client_certificate_validation
        ),
        conformance_test!(
            "GatewayFrontendClientCertificateValidationInsecureFallback",
            manifests: ["tests/gateway-with-clientcertificate-validation-insecure-fallback.yaml"],
            features: [
                "Gateway",
                "HTTPRoute",
                "GatewayFrontendClientCertificateValidation",
                "GatewayFrontendClientCertificateValidationInsecureFallback",
            ],
            insecure_fallback
        ),
        conformance_test!(
            "GatewayFrontendInvalidDefaultClientCertificateValidation",
            manifests: ["tests/gateway-invalid-default-frontend-client-certificate-validation.yaml"],
            features: ["Gateway", "HTTPRoute", "GatewayFrontendClientCertificateValidation"],
            invalid_default_validation
        ),
        conformance_test!(
            "GatewayInvalidFrontendClientCertificateValidation",
            manifests: ["tests/gateway-with-invalid-clientcertificate-validation.yaml"],
            features: [
                "Gateway",
                "HTTPRoute",
                "ReferenceGrant",
                "GatewayFrontendClientCertificateValidation",
            ],
            invalid_validation
        ),
    ]
}

/// The listener certificate of every HTTPS listener in these tests.
fn server_pem(env: &Env) -> String {
    env.config.certs.validity.cert_pem.clone()
}

/// A client pinning the listener certificate, presenting `client` (a
/// generated client Secret's name) or nothing.
fn client(
    env: &Env,
    client: Option<&str>,
) -> Result<std::sync::Arc<rustls::ClientConfig>, Failure> {
    let cert = match client {
        Some(name) => Some(
            env.config
                .certs
                .clients
                .get(name)
                .ok_or_else(|| Failure(format!("no generated client certificate {name}")))?,
        ),
        None => None,
    };
    pinned_client_config(&server_pem(env), cert).map_err(Failure)
}

async fn routes_ready(env: &Env, gateway: &str, routes: &[&str]) -> Result<(), Failure> {
    for route in routes {
        route_accepted(env, "HTTPRoute", INFRA_NS, route, &[(INFRA_NS, gateway)]).await?;
        route_resolved(env, "HTTPRoute", INFRA_NS, route, &[(INFRA_NS, gateway)]).await?;
    }
    Ok(())
}

async fn misdirected_requests(env: &Env) -> Result<(), Failure> {
    const GW: &str = "same-namespace-with-https-listener";
    routes_ready(
        env,
        GW,
        &[
            "https-listener-detect-misdirected-requests-test-1",
            "https-listener-detect-misdirected-requests-test-2",
            "https-listener-detect-misdirected-requests-test-3",
            "https-listener-detect-misdirected-requests-test-4",
        ],
    )
    .await?;
    let gw = env.gateway_address(INFRA_NS, GW).await?;
    let config = client(env, None)?;
    // (SNI, Host, status, backend)
    let cases: &[(&str, &str, u16, &str)] = &[
        ("example.org", "example.org", 200, "infra-backend-v1"),
        ("example.org", "second-example.org", 421, ""),
        ("example.org", "unknown-example.org", 404, ""),
        (
            "second-example.org",
            "second-example.org",
            200,
            "infra-backend-v2",
        ),
        ("second-example.org", "example.org", 421, ""),
        ("second-example.org", "unknown-example.org", 421, ""),
        (
            "third-example.wildcard.org",
            "third-example.wildcard.org",
            200,
            "infra-backend-v3",
        ),
        (
            "third-example.wildcard.org",
            "fith-example.wildcard.org",
            200,
            "infra-backend-v3",
        ),
        (
            "third-example.wildcard.org",
            "fourth-example.wildcard.org",
            421,
            "",
        ),
        ("third-example.wildcard.org", "second-example.org", 421, ""),
        ("third-example.wildcard.org", "unknown-example.org", 421, ""),
        (
            "fourth-example.wildcard.org",
            "fourth-example.wildcard.org",
            200,
            "infra-backend-v1",
        ),
        (
            "fourth-example.wildcard.org",
            "fith-example.wildcard.org",
            421,
            "",
        ),
        (
            "unknown-example.org",
            "example.org",
            200,
            "infra-backend-v1",
        ),
        ("unknown-example.org", "unknown-example.org", 404, ""),
    ];
    for (sni, host, status, backend) in cases {
        let path = "/detect-misdirected-requests";
        let want = if *status == 200 {
            Expect::get(path, backend, INFRA_NS)
        } else {
            Expect::status(path, *status)
        }
        .host(host);
        expect_tls_with(env, &gw, sni, config.clone(), &want)
            .await
            .map_err(|e| Failure(format!("SNI {sni}, Host {host}: {e}")))?;
    }
    Ok(())
}

async fn client_certificate_validation(env: &Env) -> Result<(), Failure> {
    const GW: &str = "client-validation-default";
    routes_ready(
        env,
        GW,
        &[
            "client-certificate-validation-https-test",
            "client-certificate-validation-https-test-no-hostname",
        ],
    )
    .await?;
    let default = listener_addr(env, INFRA_NS, GW, "https").await?;
    let per_port = listener_addr(env, INFRA_NS, GW, "https-with-hostname").await?;
    let default_client = client(env, Some("tls-validity-checks-client-certificate"))?;
    let per_port_client = client(env, Some("tls-validity-checks-per-port-client-certificate"))?;

    let ok = Expect::get("/", "infra-backend-v1", INFRA_NS).host("example.org");
    expect_tls_with(env, &default, "example.org", default_client.clone(), &ok).await?;
    expect_tls_request_fails(env, &default, "example.org", per_port_client.clone(), &ok).await?;

    let ok = Expect::get("/", "infra-backend-v2", INFRA_NS).host("second-example.org");
    expect_tls_with(env, &per_port, "second-example.org", per_port_client, &ok).await?;
    expect_tls_request_fails(env, &per_port, "second-example.org", default_client, &ok).await
}

async fn insecure_fallback(env: &Env) -> Result<(), Failure> {
    const GW: &str = "client-validation-insecure-fallback";
    routes_ready(
        env,
        GW,
        &[
            "client-cert-validation-insecure-fallback-test",
            "client-cert-validation-insecure-fallback-test-no-hostname",
        ],
    )
    .await?;
    gateway_conditions(
        env,
        INFRA_NS,
        GW,
        &[Cond(
            "InsecureFrontendValidationMode",
            "True",
            "ConfigurationChanged",
        )],
    )
    .await?;
    let default = listener_addr(env, INFRA_NS, GW, "https").await?;
    let per_port = listener_addr(env, INFRA_NS, GW, "https-with-hostname").await?;
    let clients = [
        Some("tls-validity-checks-client-certificate"),
        Some("tls-validity-checks-per-port-client-certificate"),
        None,
    ];
    for (addr, host, backend) in [
        (&default, "example.org", "infra-backend-v1"),
        (&per_port, "second-example.org", "infra-backend-v2"),
    ] {
        let ok = Expect::get("/", backend, INFRA_NS).host(host);
        for c in clients {
            expect_tls_with(env, addr, host, client(env, c)?, &ok)
                .await
                .map_err(|e| Failure(format!("client {c:?}: {e}")))?;
        }
    }
    Ok(())
}

const READY: &[Cond] = &[
    Cond("ResolvedRefs", "True", ""),
    Cond("Accepted", "True", ""),
    Cond("Programmed", "True", ""),
];

/// Upstream `GatewayListenerMustHaveConditions`.
async fn listener_conditions(
    env: &Env,
    gateway: &str,
    listener: &str,
    conds: &[Cond],
) -> Result<(), Failure> {
    status::eventually(env, "Gateway", INFRA_NS, gateway, |gw| {
        let generation = gw
            .pointer("/metadata/generation")
            .and_then(serde_json::Value::as_i64)
            .unwrap_or(1);
        let l = gw
            .pointer("/status/listeners")
            .and_then(serde_json::Value::as_array)
            .and_then(|ls| {
                ls.iter()
                    .find(|l| l.get("name").and_then(serde_json::Value::as_str) == Some(listener))
            })
            .ok_or_else(|| format!("listener {listener} has no status"))?;
        status::conditions_match(
            l.get("conditions").unwrap_or(&serde_json::Value::Null),
            conds,
            generation,
        )
        .map_err(|why| format!("listener {listener}: {why}"))
    })
    .await
    .map(|_| ())
}

fn refused(reason: &'static str) -> [Cond; 3] {
    [
        Cond("ResolvedRefs", "False", reason),
        Cond("Accepted", "False", "NoValidCACertificate"),
        Cond("Programmed", "False", ""),
    ]
}

async fn invalid_default_validation(env: &Env) -> Result<(), Failure> {
    const GW: &str = "invalid-default-client-validation-config";
    listener_conditions(env, GW, "http", READY).await?;
    let http = listener_addr(env, INFRA_NS, GW, "http").await?;
    expect(
        env,
        &http,
        &Expect::get("/", "infra-backend-v1", INFRA_NS).host("example.org"),
    )
    .await?;
    listener_conditions(env, GW, "https", &refused("InvalidCACertificateRef")).await?;
    let https = listener_addr(env, INFRA_NS, GW, "https").await?;
    let want = Expect::get("/", "", INFRA_NS).host("example.org");
    expect_tls_request_fails(env, &https, "example.org", client(env, None)?, &want).await
}

async fn invalid_validation(env: &Env) -> Result<(), Failure> {
    const GW: &str = "gateway-with-invalid-client-cert-validation";
    listener_conditions(env, GW, "https", READY).await?;
    listener_conditions(
        env,
        GW,
        "https-unresolved",
        &refused("InvalidCACertificateRef"),
    )
    .await?;
    listener_conditions(
        env,
        GW,
        "https-invalid-kind",
        &refused("InvalidCACertificateKind"),
    )
    .await?;
    listener_conditions(env, GW, "https-grant-missing", &refused("RefNotPermitted")).await
}
