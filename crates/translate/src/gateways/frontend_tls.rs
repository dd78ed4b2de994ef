//! Gateway `spec.tls`: client-certificate validation for HTTPS/TLS-terminate
//! listeners (`frontend`, default and per port) and the client certificate
//! presented to backends (`backend.clientCertificateRef`). Pure status and
//! IR logic; the data plane enforces it.

use portico_ir::{CertifiedKeyPem, ClientValidation, ObjectRef, TlsMode};
use portico_model::gateway::{
    Gateway, GatewayTlsFrontendDefaultValidationMode as DefaultMode,
    GatewayTlsFrontendPerPortTlsValidationMode as PortMode,
};
use portico_model::{GATEWAY_GROUP, Snapshot};

use super::certificates::{self, validate_chain};
use super::listeners::ListenerEval;
use super::problem::Problem;
use super::spec::SecretRefSpec;
use crate::reference_grant::{self, From, To};

/// A validation block, whichever of default / per-port it came from.
struct Validation {
    refs: Vec<(String, String, String, Option<String>)>,
    insecure_fallback: bool,
}

fn validation_for(gateway: &Gateway, port: i32) -> Option<Validation> {
    let frontend = gateway.spec.tls.as_ref()?.frontend.as_ref()?;
    if let Some(per_port) = frontend.per_port.iter().flatten().find(|p| p.port == port) {
        let v = per_port.tls.validation.as_ref()?;
        return Some(Validation {
            refs: v
                .ca_certificate_refs
                .iter()
                .map(|r| {
                    (
                        r.group.clone(),
                        r.kind.clone(),
                        r.name.clone(),
                        r.namespace.clone(),
                    )
                })
                .collect(),
            insecure_fallback: matches!(v.mode, Some(PortMode::AllowInsecureFallback)),
        });
    }
    let v = frontend.default.validation.as_ref()?;
    Some(Validation {
        refs: v
            .ca_certificate_refs
            .iter()
            .map(|r| {
                (
                    r.group.clone(),
                    r.kind.clone(),
                    r.name.clone(),
                    r.namespace.clone(),
                )
            })
            .collect(),
        insecure_fallback: matches!(v.mode, Some(DefaultMode::AllowInsecureFallback)),
    })
}

/// Whether any validation block asks for `AllowInsecureFallback`.
pub fn insecure_fallback(gateway: &Gateway) -> bool {
    let Some(frontend) = gateway.spec.tls.as_ref().and_then(|t| t.frontend.as_ref()) else {
        return false;
    };
    let default = frontend
        .default
        .validation
        .as_ref()
        .is_some_and(|v| matches!(v.mode, Some(DefaultMode::AllowInsecureFallback)));
    default
        || frontend.per_port.iter().flatten().any(|p| {
            p.tls
                .validation
                .as_ref()
                .is_some_and(|v| matches!(v.mode, Some(PortMode::AllowInsecureFallback)))
        })
}

/// Applies frontend validation to every terminating listener.
pub fn apply_frontend(snapshot: &Snapshot, gateway: &Gateway, listeners: &mut [ListenerEval]) {
    let gw_ns = gateway.metadata.namespace.clone().unwrap_or_default();
    for l in listeners.iter_mut() {
        let terminates = l.tls.as_ref().is_some_and(|t| t.mode == TlsMode::Terminate);
        if !terminates || l.accepted.is_some() {
            continue;
        }
        let Some(validation) = validation_for(gateway, l.spec.port) else {
            continue;
        };
        match resolve_cas(snapshot, &gw_ns, &validation) {
            Ok(ca_pem) => {
                if let Some(tls) = l.tls.as_mut() {
                    tls.client_validation = Some(ClientValidation {
                        ca_pem,
                        allow_insecure_fallback: validation.insecure_fallback,
                    });
                }
            }
            Err(problem) => {
                l.accepted = Some(Problem::new(
                    "NoValidCACertificate",
                    format!(
                        "client certificate validation has no valid CA certificate: {}",
                        problem.message
                    ),
                ));
                l.resolved = Some(problem);
            }
        }
    }
}

fn resolve_cas(snapshot: &Snapshot, gw_ns: &str, v: &Validation) -> Result<String, Problem> {
    let mut bundle = String::new();
    for (group, kind, name, namespace) in &v.refs {
        let namespace = namespace.as_deref().unwrap_or(gw_ns);
        let display = format!("{namespace}/{name}");
        if !group.is_empty() || kind != "ConfigMap" {
            return Err(Problem::new(
                "InvalidCACertificateKind",
                format!(
                    "caCertificateRef {display} has unsupported group/kind {group:?}/{kind:?}; only core ConfigMaps are supported"
                ),
            ));
        }
        let permitted = reference_grant::permitted(
            snapshot,
            From {
                group: GATEWAY_GROUP,
                kind: "Gateway",
                namespace: gw_ns,
            },
            To {
                group: "",
                kind: "ConfigMap",
                namespace,
                name,
            },
        );
        if !permitted {
            return Err(Problem::new(
                "RefNotPermitted",
                format!(
                    "caCertificateRef to ConfigMap {display} is not permitted by any ReferenceGrant"
                ),
            ));
        }
        let cm = snapshot.config_maps.iter().find(|c| {
            c.metadata.namespace.as_deref() == Some(namespace)
                && c.metadata.name.as_deref() == Some(name.as_str())
        });
        let Some(pem) = cm
            .and_then(|c| c.data.as_ref())
            .and_then(|d| d.get("ca.crt"))
        else {
            return Err(Problem::new(
                "InvalidCACertificateRef",
                format!("ConfigMap {display} does not exist or has no ca.crt"),
            ));
        };
        validate_chain(pem.as_bytes()).map_err(|why| {
            Problem::new(
                "InvalidCACertificateRef",
                format!("ConfigMap {display}: {why}"),
            )
        })?;
        bundle.push_str(pem);
        if !bundle.ends_with('\n') {
            bundle.push('\n');
        }
    }
    if bundle.is_empty() {
        return Err(Problem::new(
            "InvalidCACertificateRef",
            "no caCertificateRefs",
        ));
    }
    Ok(bundle)
}

/// `spec.tls.backend.clientCertificateRef`: `None` when unset, else the
/// certificate or the Gateway-level ResolvedRefs problem.
pub fn backend_client_certificate(
    snapshot: &Snapshot,
    gateway: &Gateway,
    owner: &ObjectRef,
) -> Option<Result<CertifiedKeyPem, Problem>> {
    let r = gateway
        .spec
        .tls
        .as_ref()?
        .backend
        .as_ref()?
        .client_certificate_ref
        .as_ref()?;
    let spec = SecretRefSpec {
        group: r.group.clone(),
        kind: r.kind.clone(),
        name: r.name.clone(),
        namespace: r.namespace.clone(),
    };
    Some(
        certificates::resolve(snapshot, owner, std::slice::from_ref(&spec), None)
            .and_then(|certs| {
                certs.into_iter().next().ok_or_else(|| {
                    Problem::new("InvalidClientCertificateRef", "no client certificate")
                })
            })
            .map_err(|p| match p.reason {
                "RefNotPermitted" => p,
                _ => Problem::new(
                    "InvalidClientCertificateRef",
                    p.message.replace("certificateRef", "clientCertificateRef"),
                ),
            }),
    )
}
