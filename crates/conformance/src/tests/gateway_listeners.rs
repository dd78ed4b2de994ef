//! Gateway listener statuses: invalid route kinds, invalid TLS certificate
//! references (missing, wrong group/kind, malformed, not granted), granted
//! cross-namespace certificates, attached route counts.

use crate::status::{
    Cond, ListenerExpect, gateway_conditions, gateway_listeners, route_parent_conditions,
};
use crate::{ConformanceTest, Env, Failure, INFRA_NS, conformance_test};

pub fn tests() -> Vec<ConformanceTest> {
    vec![
        conformance_test!(
            "GatewayInvalidRouteKind",
            manifests: ["tests/gateway-invalid-route-kind.yaml"],
            features: ["Gateway"],
            invalid_route_kind
        ),
        conformance_test!(
            "GatewayInvalidTLSConfiguration",
            manifests: ["tests/gateway-invalid-tls-configuration.yaml"],
            features: ["Gateway"],
            invalid_tls_configuration
        ),
        conformance_test!(
            "GatewaySecretInvalidReferenceGrant",
            manifests: ["tests/gateway-secret-invalid-reference-grant.yaml"],
            features: ["Gateway", "ReferenceGrant"],
            secret_invalid_reference_grant
        ),
        conformance_test!(
            "GatewaySecretMissingReferenceGrant",
            manifests: ["tests/gateway-secret-missing-reference-grant.yaml"],
            features: ["Gateway", "ReferenceGrant"],
            secret_missing_reference_grant
        ),
        conformance_test!(
            "GatewaySecretReferenceGrantAllInNamespace",
            manifests: ["tests/gateway-secret-reference-grant-all-in-namespace.yaml"],
            features: ["Gateway", "ReferenceGrant"],
            secret_reference_grant_all_in_namespace
        ),
        conformance_test!(
            "GatewaySecretReferenceGrantSpecific",
            manifests: ["tests/gateway-secret-reference-grant-specific.yaml"],
            features: ["Gateway", "ReferenceGrant"],
            secret_reference_grant_specific
        ),
        conformance_test!(
            "GatewayWithAttachedRoutes",
            manifests: ["tests/gateway-with-attached-routes.yaml"],
            features: ["Gateway", "HTTPRoute"],
            with_attached_routes
        ),
        conformance_test!(
            "GatewayWithAttachedRoutesWithPort8080",
            manifests: ["tests/gateway-with-attached-routes-with-port-8080.yaml"],
            features: ["Gateway", "GatewayPort8080", "HTTPRoute"],
            with_attached_routes_port_8080
        ),
        conformance_test!(
            "GatewayListenerUnsupportedProtocol",
            manifests: ["tests/gateway-invalid-listeners-unsupported-protocol.yaml"],
            features: ["Gateway"],
            unsupported_protocol
        ),
    ]
}

const HTTP_ROUTE: &[&str] = &["HTTPRoute"];

/// One listener named `name` with kinds, attached routes and conditions.
fn listener(
    name: &'static str,
    kinds: &'static [&'static str],
    attached: i64,
    conditions: &'static [Cond],
) -> ListenerExpect {
    ListenerExpect {
        name,
        supported_kinds: kinds,
        attached_routes: attached,
        conditions,
    }
}

const INVALID_KINDS: &[Cond] = &[Cond("ResolvedRefs", "False", "InvalidRouteKinds")];

async fn invalid_route_kind(env: &Env) -> Result<(), Failure> {
    gateway_listeners(
        env,
        INFRA_NS,
        "gateway-only-invalid-route-kind",
        &[listener("http", &[], 0, INVALID_KINDS)],
    )
    .await?;
    gateway_listeners(
        env,
        INFRA_NS,
        "gateway-supported-and-invalid-route-kind",
        &[listener("http", HTTP_ROUTE, 0, INVALID_KINDS)],
    )
    .await?;
    Ok(())
}

async fn invalid_tls_configuration(env: &Env) -> Result<(), Failure> {
    const CONDS: &[Cond] = &[Cond("ResolvedRefs", "False", "InvalidCertificateRef")];
    for gateway in [
        "gateway-certificate-nonexistent-secret",
        "gateway-certificate-unsupported-group",
        "gateway-certificate-unsupported-kind",
        "gateway-certificate-malformed-secret",
    ] {
        gateway_listeners(
            env,
            INFRA_NS,
            gateway,
            &[listener("https", HTTP_ROUTE, 0, CONDS)],
        )
        .await?;
    }
    Ok(())
}

const NOT_PERMITTED: &[Cond] = &[Cond("ResolvedRefs", "False", "RefNotPermitted")];

async fn secret_invalid_reference_grant(env: &Env) -> Result<(), Failure> {
    gateway_listeners(
        env,
        INFRA_NS,
        "gateway-secret-invalid-reference-grant",
        &[listener("https", HTTP_ROUTE, 0, NOT_PERMITTED)],
    )
    .await?;
    Ok(())
}

async fn secret_missing_reference_grant(env: &Env) -> Result<(), Failure> {
    gateway_listeners(
        env,
        INFRA_NS,
        "gateway-secret-missing-reference-grant",
        &[listener("https", HTTP_ROUTE, 0, NOT_PERMITTED)],
    )
    .await?;
    Ok(())
}

const GRANTED: &[Cond] = &[
    Cond("ResolvedRefs", "True", "ResolvedRefs"),
    Cond("Programmed", "True", "Programmed"),
    Cond("Accepted", "True", "Accepted"),
];

async fn secret_reference_grant_all_in_namespace(env: &Env) -> Result<(), Failure> {
    gateway_listeners(
        env,
        INFRA_NS,
        "gateway-secret-reference-grant-all-in-namespace",
        &[listener("https", HTTP_ROUTE, 0, GRANTED)],
    )
    .await?;
    Ok(())
}

async fn secret_reference_grant_specific(env: &Env) -> Result<(), Failure> {
    gateway_listeners(
        env,
        INFRA_NS,
        "gateway-secret-reference-grant-specific",
        &[listener("https", HTTP_ROUTE, 0, GRANTED)],
    )
    .await?;
    Ok(())
}

const HEALTHY: &[Cond] = &[
    Cond("Accepted", "True", ""),
    Cond("ResolvedRefs", "True", ""),
];

async fn with_attached_routes(env: &Env) -> Result<(), Failure> {
    gateway_listeners(
        env,
        INFRA_NS,
        "gateway-with-one-attached-route",
        &[listener("http", HTTP_ROUTE, 1, HEALTHY)],
    )
    .await?;
    // http-route-not-accepted does not count: its hostname matches no listener.
    gateway_listeners(
        env,
        INFRA_NS,
        "gateway-with-two-attached-routes",
        &[listener("http", HTTP_ROUTE, 2, HEALTHY)],
    )
    .await?;
    // A listener whose certificate is missing still counts its routes.
    const UNRESOLVED: &str = "unresolved-gateway-with-one-attached-unresolved-route";
    gateway_listeners(
        env,
        INFRA_NS,
        UNRESOLVED,
        &[listener(
            "tls",
            HTTP_ROUTE,
            1,
            &[
                Cond("Programmed", "False", ""),
                Cond("ResolvedRefs", "False", ""),
            ],
        )],
    )
    .await?;
    route_parent_conditions(
        env,
        "HTTPRoute",
        INFRA_NS,
        "http-route-4",
        &[(INFRA_NS, UNRESOLVED)],
        &[Cond("ResolvedRefs", "False", "")],
    )
    .await?;
    Ok(())
}

async fn with_attached_routes_port_8080(env: &Env) -> Result<(), Failure> {
    gateway_listeners(
        env,
        INFRA_NS,
        "gateway-with-two-listeners-and-one-attached-route",
        &[
            listener("http-unattached", HTTP_ROUTE, 0, HEALTHY),
            listener("http", HTTP_ROUTE, 1, HEALTHY),
        ],
    )
    .await?;
    Ok(())
}

async fn unsupported_protocol(env: &Env) -> Result<(), Failure> {
    const UNSUPPORTED: &[Cond] = &[Cond("Accepted", "False", "UnsupportedProtocol")];
    const ONLY: &str = "gateway-only-unsupported-protocols";
    gateway_conditions(
        env,
        INFRA_NS,
        ONLY,
        &[Cond("Accepted", "False", "ListenersNotValid")],
    )
    .await?;
    gateway_listeners(
        env,
        INFRA_NS,
        ONLY,
        &[listener("invalid", &[], 0, UNSUPPORTED)],
    )
    .await?;
    // One good listener is enough for the Gateway to be accepted.
    const MIXED: &str = "gateway-supported-and-unsupported-protocols";
    gateway_conditions(
        env,
        INFRA_NS,
        MIXED,
        &[Cond("Accepted", "True", "ListenersNotValid")],
    )
    .await?;
    gateway_listeners(
        env,
        INFRA_NS,
        MIXED,
        &[
            listener(
                "http",
                HTTP_ROUTE,
                0,
                &[Cond("Accepted", "True", "Accepted")],
            ),
            listener("invalid", &[], 0, UNSUPPORTED),
        ],
    )
    .await?;
    Ok(())
}
