//! BackendTLSPolicy: TLS from the gateway to a Service, attached to the
//! clusters built for that Service, with the policy statuses.
//!
//! - Targets are Services (core group), optionally one port by `sectionName`
//!   (the Service port name). A port-specific policy beats a whole-Service
//!   one for that port; two policies for the same target: the older one
//!   (creation time, then namespace/name) wins, the other is
//!   `Accepted=False/Conflicted`.
//! - `caCertificateRefs` must be ConfigMaps (else `ResolvedRefs=False/
//!   InvalidKind`) in the policy's namespace holding PEM certificates under
//!   `ca.crt` (else `InvalidCACertificateRef`); with no usable CA the policy
//!   is `Accepted=False/NoValidCACertificate` and the cluster trusts nothing,
//!   so requests fail instead of going out in plain text or unverified.
//!   `wellKnownCACertificates: System` uses the platform roots.
//! - Ancestors are the Gateways through which routes reach the Service; the
//!   policy gets one status entry per such Gateway.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use portico_ir::{BackendTls, CertifiedKeyPem, Cluster, ClusterId, SubjectAltName};
use portico_model::core::ConfigMap;
use portico_model::gateway::{
    BackendTlsPolicy, BackendTlsPolicyValidationSubjectAltNamesType as SanType,
};
use portico_model::{GATEWAY_GROUP, Snapshot};
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;

use super::index::Index;
use super::view::AgeKey;
use crate::context::GatewayCtx;
use crate::status::{Condition, ObjectStatus, ParentReference, PolicyAncestorStatus, PolicyStatus};
use crate::{Options, Statuses};

/// Gateways (indices into the translation's Gateway list) through which
/// attached routes reach each Service `(namespace, name)`.
pub type ServiceAncestors = HashMap<(String, String), BTreeSet<usize>>;

/// The client certificate the Gateways reaching `ns/svc` present to it:
/// clusters are shared by every Gateway whose routes use the Service, so a
/// certificate is set only when all of those Gateways configure the same
/// one (a Gateway without `spec.tls.backend` never presents another
/// Gateway's certificate).
fn gateway_client_certificate(
    ancestors: &ServiceAncestors,
    gateways: &[GatewayCtx],
    ns: &str,
    svc: &str,
) -> Option<CertifiedKeyPem> {
    let set = ancestors.get(&(ns.to_string(), svc.to_string()))?;
    let mut certs = set.iter().map(|&gi| {
        gateways
            .get(gi)
            .and_then(|g| g.backend_client_certificate.as_ref())
    });
    let first = certs.next()??;
    certs.all(|c| c == Some(first)).then(|| first.clone())
}

/// A policy after validation.
struct Evaluated<'s> {
    policy: &'s BackendTlsPolicy,
    namespace: &'s str,
    name: &'s str,
    generation: i64,
    tls: BackendTls,
    /// `Some((reason, message))` when a CA reference is unusable.
    refs_problem: Option<(&'static str, String)>,
    /// No usable CA at all.
    no_valid_ca: bool,
    /// Targets this policy won: (service, section).
    won: Vec<(String, Option<String>)>,
    /// Targets an older policy holds.
    lost: usize,
}

pub fn apply(
    snapshot: &Snapshot,
    index: &Index<'_>,
    options: &Options,
    ancestors: &ServiceAncestors,
    gateways: &[GatewayCtx],
    clusters: &mut BTreeMap<ClusterId, Cluster>,
    statuses: &mut Statuses,
) {
    if snapshot.backend_tls_policies.is_empty() {
        return;
    }
    let config_maps: HashMap<(&str, &str), &ConfigMap> = snapshot
        .config_maps
        .iter()
        .filter_map(|c| {
            Some((
                (
                    c.metadata.namespace.as_deref().unwrap_or("default"),
                    c.metadata.name.as_deref()?,
                ),
                c,
            ))
        })
        .collect();

    let mut policies: Vec<(AgeKey, Evaluated<'_>)> = snapshot
        .backend_tls_policies
        .iter()
        .map(|p| {
            let e = evaluate(p, &config_maps);
            let age = AgeKey {
                undated: p.metadata.creation_timestamp.is_none(),
                created: p.metadata.creation_timestamp.clone(),
                namespace: e.namespace.to_string(),
                name: e.name.to_string(),
            };
            (age, e)
        })
        .collect();
    policies.sort_by(|a, b| a.0.cmp(&b.0));

    // (namespace, service, section) → index of the winning policy.
    let mut owners: HashMap<(String, String, Option<String>), usize> = HashMap::new();
    for (i, (_, e)) in policies.iter_mut().enumerate() {
        for target in &e.policy.spec.target_refs {
            if !(target.group.is_empty() && target.kind == "Service") {
                continue;
            }
            let section = target.section_name.clone().filter(|s| !s.is_empty());
            let key = (
                e.namespace.to_string(),
                target.name.clone(),
                section.clone(),
            );
            match owners.entry(key) {
                std::collections::hash_map::Entry::Occupied(_) => e.lost += 1,
                std::collections::hash_map::Entry::Vacant(slot) => {
                    slot.insert(i);
                    e.won.push((target.name.clone(), section));
                }
            }
        }
    }

    for cluster in clusters.values_mut() {
        let ns = cluster.service.namespace.clone();
        let svc = cluster.service.name.clone();
        let port_name = port_name(index, &ns, &svc, cluster.port);
        let owner = port_name
            .and_then(|p| owners.get(&(ns.clone(), svc.clone(), Some(p))))
            .or_else(|| owners.get(&(ns.clone(), svc.clone(), None)));
        if let Some(&i) = owner {
            let mut tls = policies[i].1.tls.clone();
            tls.client_certificate = gateway_client_certificate(ancestors, gateways, &ns, &svc);
            cluster.tls = Some(tls);
        }
    }

    for (_, e) in &policies {
        let mut ancestor_gateways: BTreeSet<usize> = BTreeSet::new();
        for (service, _) in &e.won {
            if let Some(set) = ancestors.get(&(e.namespace.to_string(), service.clone())) {
                ancestor_gateways.extend(set.iter().copied());
            }
        }
        if e.won.is_empty() && e.lost > 0 {
            // Conflicted: report it against the Gateways of the contested Services.
            for target in &e.policy.spec.target_refs {
                if let Some(set) = ancestors.get(&(e.namespace.to_string(), target.name.clone())) {
                    ancestor_gateways.extend(set.iter().copied());
                }
            }
        }
        if ancestor_gateways.is_empty() {
            continue; // No Gateway of ours reaches the targets: nothing to report.
        }
        let conditions = conditions(e);
        let entries = ancestor_gateways
            .into_iter()
            .filter_map(|gi| gateways.get(gi))
            .map(|gw| PolicyAncestorStatus {
                ancestor_ref: ParentReference {
                    group: Some(GATEWAY_GROUP.to_string()),
                    kind: Some("Gateway".to_string()),
                    namespace: Some(gw.namespace.clone()),
                    name: gw.name.clone(),
                    section_name: None,
                    port: None,
                },
                controller_name: options.controller_name.clone(),
                conditions: conditions.clone(),
            })
            .collect();
        statuses.insert(
            "BackendTLSPolicy",
            e.namespace,
            e.name,
            ObjectStatus::Policy(PolicyStatus { ancestors: entries }),
        );
    }
}

fn conditions(e: &Evaluated<'_>) -> Vec<Condition> {
    let g = e.generation;
    let accepted = if e.won.is_empty() && e.lost > 0 {
        Condition::new(
            "Accepted",
            false,
            "Conflicted",
            "an older BackendTLSPolicy targets the same Service (and sectionName)",
            g,
        )
    } else if e.no_valid_ca {
        Condition::new(
            "Accepted",
            false,
            "NoValidCACertificate",
            "no usable CA certificate: TLS to the backend cannot be verified, requests fail",
            g,
        )
    } else {
        Condition::new("Accepted", true, "Accepted", "Policy is accepted", g)
    };
    let resolved = match &e.refs_problem {
        Some((reason, message)) => {
            Condition::new("ResolvedRefs", false, reason, message.clone(), g)
        }
        None => Condition::new(
            "ResolvedRefs",
            true,
            "ResolvedRefs",
            "All references resolved",
            g,
        ),
    };
    vec![accepted, resolved]
}

fn evaluate<'s>(
    policy: &'s BackendTlsPolicy,
    config_maps: &HashMap<(&str, &str), &ConfigMap>,
) -> Evaluated<'s> {
    let namespace = policy.metadata.namespace.as_deref().unwrap_or("default");
    let name = policy.metadata.name.as_deref().unwrap_or_default();
    let validation = &policy.spec.validation;
    let mut refs_problem = None;
    let mut ca_pem = String::new();
    for r in validation.ca_certificate_refs.iter().flatten() {
        let problem = if !(r.group.is_empty() && r.kind == "ConfigMap") {
            Some((
                "InvalidKind",
                format!(
                    "caCertificateRef {}: kind {:?} in group {:?} is not supported (ConfigMap only)",
                    r.name, r.kind, r.group
                ),
            ))
        } else {
            match config_maps.get(&(namespace, r.name.as_str())) {
                None => Some((
                    "InvalidCACertificateRef",
                    format!("ConfigMap {namespace}/{} not found", r.name),
                )),
                Some(cm) => match ca_bundle(cm) {
                    Ok(pem) => {
                        ca_pem.push_str(pem.trim_end());
                        ca_pem.push('\n');
                        None
                    }
                    Err(msg) => Some((
                        "InvalidCACertificateRef",
                        format!("ConfigMap {namespace}/{}: {msg}", r.name),
                    )),
                },
            }
        };
        if refs_problem.is_none() {
            refs_problem = problem;
        }
    }
    let system_roots = validation
        .well_known_ca_certificates
        .as_deref()
        .is_some_and(|w| w == "System");
    let no_valid_ca = ca_pem.is_empty() && !system_roots;
    let subject_alt_names = validation
        .subject_alt_names
        .iter()
        .flatten()
        .filter_map(|san| match san.r#type {
            SanType::Hostname => san.hostname.clone().map(SubjectAltName::Hostname),
            SanType::Uri => san.uri.clone().map(SubjectAltName::Uri),
        })
        .collect();
    Evaluated {
        policy,
        namespace,
        name,
        generation: policy.metadata.generation.unwrap_or(0),
        tls: BackendTls {
            hostname: validation.hostname.clone(),
            ca_pem: (!ca_pem.is_empty()).then_some(ca_pem),
            system_roots,
            subject_alt_names,
            client_certificate: None,
        },
        refs_problem,
        no_valid_ca,
        won: Vec::new(),
        lost: 0,
    }
}

/// The PEM certificates under `ca.crt` (in `data` or `binaryData`): at
/// least one, each parseable.
fn ca_bundle(cm: &ConfigMap) -> Result<String, String> {
    let pem = match cm.data.as_ref().and_then(|d| d.get("ca.crt")) {
        Some(text) => text.clone(),
        None => match cm.binary_data.as_ref().and_then(|d| d.get("ca.crt")) {
            Some(bytes) => {
                String::from_utf8(bytes.0.clone()).map_err(|_| "ca.crt is not text".to_string())?
            }
            None => return Err("no ca.crt key".to_string()),
        },
    };
    let mut count = 0;
    for cert in CertificateDer::pem_slice_iter(pem.as_bytes()) {
        cert.map_err(|e| format!("ca.crt is not PEM: {e}"))?;
        count += 1;
    }
    if count == 0 {
        return Err("ca.crt holds no PEM CERTIFICATE block".to_string());
    }
    Ok(pem)
}

fn port_name(index: &Index<'_>, namespace: &str, service: &str, port: u16) -> Option<String> {
    index
        .service(namespace, service)
        .and_then(|s| {
            s.spec
                .as_ref()?
                .ports
                .as_ref()?
                .iter()
                .find(|p| p.port == i32::from(port))
        })
        .and_then(|p| p.name.clone())
        .filter(|n| !n.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config_map(data: serde_json::Value) -> ConfigMap {
        serde_json::from_value(
            serde_json::json!({"metadata": {"name": "ca", "namespace": "ns"}, "data": data}),
        )
        .unwrap()
    }

    const PEM: &str = "-----BEGIN CERTIFICATE-----\nMAMCAQA=\n-----END CERTIFICATE-----\n";

    fn gateway(name: &str, cert: Option<&str>) -> GatewayCtx {
        GatewayCtx {
            namespace: "ns".into(),
            name: name.into(),
            generation: 1,
            addresses: vec![],
            proxy_protocol: false,
            backend_client_certificate: cert.map(|c| CertifiedKeyPem {
                source: format!("ns/{c}"),
                cert_chain_pem: c.into(),
                key_pem: "key".into(),
            }),
            listeners: vec![],
        }
    }

    #[test]
    fn a_backend_gets_the_client_certificate_only_when_all_its_gateways_agree() {
        let gateways = vec![
            gateway("a", Some("cert-1")),
            gateway("b", Some("cert-1")),
            gateway("c", Some("cert-2")),
            gateway("d", None),
        ];
        let reached_by = |gis: &[usize]| {
            let mut ancestors = ServiceAncestors::new();
            ancestors.insert(("ns".into(), "svc".into()), gis.iter().copied().collect());
            gateway_client_certificate(&ancestors, &gateways, "ns", "svc").map(|c| c.cert_chain_pem)
        };
        assert_eq!(reached_by(&[0]), Some("cert-1".to_string()));
        assert_eq!(reached_by(&[0, 1]), Some("cert-1".to_string()));
        assert_eq!(reached_by(&[0, 2]), None, "different certificates");
        assert_eq!(reached_by(&[0, 3]), None, "a Gateway without one");
        assert_eq!(reached_by(&[3]), None);
        assert_eq!(reached_by(&[]), None);
    }

    #[test]
    fn ca_bundle_needs_pem_certificates() {
        assert!(ca_bundle(&config_map(serde_json::json!({}))).is_err());
        assert!(ca_bundle(&config_map(serde_json::json!({"ca.crt": "not pem"}))).is_err());
        assert!(ca_bundle(&config_map(serde_json::json!({"ca.crt": "-----BEGIN CERTIFICATE-----\n!!!\n-----END CERTIFICATE-----\n"}))).is_err());
        assert_eq!(
            ca_bundle(&config_map(serde_json::json!({"ca.crt": PEM}))).as_deref(),
            Ok(PEM)
        );
    }

    #[test]
    fn ca_refs_are_checked_in_order() {
        let policy: BackendTlsPolicy = serde_json::from_value(serde_json::json!({
            "apiVersion": "gateway.networking.k8s.io/v1", "kind": "BackendTLSPolicy",
            "metadata": {"name": "p", "namespace": "ns", "generation": 4},
            "spec": {"targetRefs": [{"group": "", "kind": "Service", "name": "s"}],
                     "validation": {"hostname": "h", "caCertificateRefs": [
                         {"group": "", "kind": "Secret", "name": "x"},
                         {"group": "", "kind": "ConfigMap", "name": "ca"}]}}
        }))
        .unwrap();
        let cm = config_map(serde_json::json!({"ca.crt": PEM}));
        let maps: HashMap<(&str, &str), &ConfigMap> = [(("ns", "ca"), &cm)].into();
        let e = evaluate(&policy, &maps);
        // One usable CA: accepted, but the bad reference is reported.
        assert!(!e.no_valid_ca);
        assert_eq!(e.refs_problem.as_ref().map(|p| p.0), Some("InvalidKind"));
        assert_eq!(e.tls.ca_pem.as_deref(), Some(PEM));
        let c = conditions(&e);
        assert_eq!(
            (c[0].status.as_str(), c[0].observed_generation),
            ("True", 4)
        );
        assert_eq!(c[1].reason, "InvalidKind");
    }
}
