//! Gateways and ListenerSets: listener validation, conflicts, certificates,
//! addresses (LB IPAM) and their statuses; [`finish`] then counts attached
//! routes and builds the IR binds.
//!
//! One file per concern: [`spec`] (one listener shape for Gateways and
//! ListenerSets), [`listeners`] (one listener on its own), [`certificates`],
//! [`frontend_tls`], [`conflicts`], [`listener_sets`], [`ipam`] and
//! [`addresses`], [`report`] (status objects), [`finish`].

pub mod addresses;
pub mod certificates;
pub mod conflicts;
pub mod der;
pub mod finish;
pub mod frontend_tls;
pub mod hostname;
pub mod ipam;
pub mod key_match;
pub mod listener_sets;
pub mod listeners;
pub mod problem;
pub mod report;
pub mod selector;
pub mod spec;

use portico_ir::ObjectRef;
use portico_model::Snapshot;
use portico_model::gateway::Gateway;

use self::addresses::AddressOutcome;
use self::listener_sets::Attached;
use self::listeners::ListenerEval;
use self::problem::Problem;
use self::report::{cond, listener_status, listeners_accepted};
use self::selector::NamespaceIndex;
use self::spec::ListenerSpec;
use crate::context::{GatewayCtx, ListenerCtx};
use crate::gateway_class::AcceptedClasses;
use crate::{Condition, GatewayStatus, ListenerSetStatus, ObjectStatus, Options, Statuses};

pub use finish::{ListenerFailure, apply_data_plane_report, finish};

/// Evaluates every Gateway of an accepted class (oldest first) and the
/// ListenerSets attached to them, writing their statuses.
pub fn build(
    snapshot: &Snapshot,
    options: &Options,
    classes: &AcceptedClasses,
    statuses: &mut Statuses,
) -> Vec<GatewayCtx> {
    let namespaces = NamespaceIndex::new(snapshot);
    let mut gateways: Vec<&Gateway> = snapshot
        .gateways
        .iter()
        .filter(|g| classes.contains(&g.spec.gateway_class_name))
        .collect();
    gateways.sort_by(|a, b| age_key(&a.metadata).cmp(&age_key(&b.metadata)));
    let pools: Vec<ipam::Pool> = snapshot
        .address_pools
        .iter()
        .map(ipam::Pool::from_object)
        .collect();
    let outcomes = addresses::assign(&gateways, &pools, options);
    let mixed_tls = crate::features::supports("TLSRouteModeMixed");
    gateways
        .into_iter()
        .zip(outcomes)
        .map(|(gw, addr)| {
            build_one(
                snapshot,
                &namespaces,
                gw,
                addr,
                mixed_tls,
                options.now,
                statuses,
            )
        })
        .collect()
}

/// Precedence and allocation order: oldest first (objects without a
/// creationTimestamp, as in standalone files, after dated ones), then
/// namespace/name.
pub fn age_key(
    meta: &portico_model::core::ObjectMeta,
) -> (
    bool,
    Option<&portico_model::core::Time>,
    Option<&str>,
    Option<&str>,
) {
    (
        meta.creation_timestamp.is_none(),
        meta.creation_timestamp.as_ref(),
        meta.namespace.as_deref(),
        meta.name.as_deref(),
    )
}

fn build_one(
    snapshot: &Snapshot,
    namespaces: &NamespaceIndex,
    gw: &Gateway,
    addr: AddressOutcome,
    mixed_tls: bool,
    now: Option<u64>,
    statuses: &mut Statuses,
) -> GatewayCtx {
    let namespace = gw.metadata.namespace.clone().unwrap_or_default();
    let name = gw.metadata.name.clone().unwrap_or_default();
    let generation = gw.metadata.generation.unwrap_or(0);
    let key = ObjectRef {
        kind: "Gateway".to_string(),
        namespace: namespace.clone(),
        name: name.clone(),
    };

    let not_accepted = gw
        .spec
        .infrastructure
        .as_ref()
        .and_then(|i| i.parameters_ref.as_ref())
        .map(|p| {
            Problem::new(
                "InvalidParameters",
                format!(
                    "infrastructure.parametersRef {}/{} {} is not supported",
                    p.group, p.kind, p.name
                ),
            )
        })
        .or(addr.not_accepted.clone())
        .or_else(|| {
            crate::proxy_protocol::gateway_accepts(gw.metadata.annotations.as_ref())
                .err()
                .map(|message| Problem::new("Invalid", message))
        });

    let sets = listener_sets::attached(snapshot, gw, namespaces);
    let mut evals: Vec<ListenerEval> = gw
        .spec
        .listeners
        .iter()
        .map(|l| {
            listeners::evaluate(
                snapshot,
                namespaces,
                ListenerSpec::from_gateway(key.clone(), generation, l),
                now,
            )
        })
        .collect();
    let own = evals.len();
    if not_accepted.is_none() {
        for set in sets.iter().filter(|s| s.not_allowed.is_none()) {
            evals.extend(set.set.spec.listeners.iter().map(|l| {
                listeners::evaluate(
                    snapshot,
                    namespaces,
                    ListenerSpec::from_listener_set(set.key.clone(), set.generation, l),
                    now,
                )
            }));
        }
    }
    frontend_tls::apply_frontend(snapshot, gw, &mut evals);
    conflicts::detect(&mut evals, mixed_tls);

    // The Gateway's own listeners decide whether it is accepted; an
    // unaccepted Gateway programs nothing, its ListenerSets included.
    let accepted = match &not_accepted {
        Some(p) => cond("Accepted", Some(p), "", "", generation),
        None => listeners_accepted(
            &evals[..own].iter().collect::<Vec<_>>(),
            ListenerEval::attachable,
            generation,
        ),
    };
    let gateway_accepted = accepted.is_true();
    let gateway_blocker = if !gateway_accepted {
        Some(Problem::new(
            "Invalid",
            format!("the Gateway is not accepted: {}", accepted.message),
        ))
    } else if let Some(p) = &addr.not_programmed {
        Some(Problem::new(
            "Invalid",
            format!("the Gateway has no usable address: {}", p.message),
        ))
    } else if addr.addresses.is_empty() {
        Some(Problem::new("Invalid", "the Gateway has no address"))
    } else {
        None
    };
    if let Some(blocker) = &gateway_blocker {
        for l in &mut evals {
            l.not_programmed.get_or_insert(blocker.clone());
        }
    }

    // ListenerSet statuses.
    let mut attached_sets = 0;
    for set in &sets {
        let status = listener_set_status(set, &evals, !gateway_accepted, gateway_blocker.is_some());
        if status.conditions.first().is_some_and(Condition::is_true) {
            attached_sets += 1;
        }
        statuses.insert(
            "ListenerSet",
            &set.key.namespace,
            &set.key.name,
            ObjectStatus::ListenerSet(status),
        );
    }

    // Gateway status.
    let programmed = if !accepted.is_true() {
        Condition::new(
            "Programmed",
            false,
            "Invalid",
            "the Gateway is not accepted",
            generation,
        )
    } else if let Some(p) = &addr.not_programmed {
        cond("Programmed", Some(p), "", "", generation)
    } else if !evals.iter().any(ListenerEval::programmed) {
        Condition::new(
            "Programmed",
            false,
            "Invalid",
            "no listener is programmed",
            generation,
        )
    } else {
        Condition::new("Programmed", true, "Programmed", "programmed", generation)
    };
    let mut conditions = vec![accepted, programmed];
    let backend_client = frontend_tls::backend_client_certificate(snapshot, gw, &key);
    if let Some(result) = &backend_client {
        conditions.push(cond(
            "ResolvedRefs",
            result.as_ref().err(),
            "ResolvedRefs",
            "all references are resolved",
            generation,
        ));
    }
    if frontend_tls::insecure_fallback(gw) {
        conditions.push(Condition::new(
            "InsecureFrontendValidationMode",
            true,
            "ConfigurationChanged",
            "client certificate validation allows insecure fallback",
            generation,
        ));
    }
    let status = GatewayStatus {
        // An unaccepted Gateway serves nothing, so it claims no address.
        addresses: if gateway_accepted {
            report::addresses(&addr.addresses)
        } else {
            Vec::new()
        },
        conditions,
        listeners: evals[..own].iter().map(listener_status).collect(),
        attached_listener_sets: (listener_sets::gateway_allows_any(gw) || !sets.is_empty())
            .then_some(attached_sets),
    };
    statuses.insert("Gateway", &namespace, &name, ObjectStatus::Gateway(status));

    GatewayCtx {
        namespace,
        name,
        generation,
        addresses: if gateway_accepted {
            addr.addresses
        } else {
            Vec::new()
        },
        proxy_protocol: crate::proxy_protocol::gateway_accepts(gw.metadata.annotations.as_ref())
            .unwrap_or(false),
        backend_client_certificate: backend_client.and_then(Result::ok),
        listeners: evals
            .into_iter()
            .map(|l| ListenerCtx {
                attachable: gateway_accepted && l.attachable(),
                programmed: l.programmed(),
                owner: l.spec.owner,
                owner_generation: l.spec.owner_generation,
                name: l.spec.name,
                port: u16::try_from(l.spec.port).unwrap_or(0),
                protocol: l.spec.protocol,
                bind_protocol: l.bind_protocol,
                hostname: l.spec.hostname,
                host_match: l.host_match,
                tls: l.tls,
                supported_kinds: l.supported_kinds,
                allowed_namespaces: l.allowed_namespaces,
                attached_routes: 0,
                routes: Default::default(),
            })
            .collect(),
    }
}

fn listener_set_status(
    set: &Attached<'_>,
    evals: &[ListenerEval],
    parent_not_accepted: bool,
    parent_not_programmed: bool,
) -> ListenerSetStatus {
    let g = set.generation;
    if let Some(p) = &set.not_allowed {
        return ListenerSetStatus {
            conditions: vec![
                cond("Accepted", Some(p), "", "", g),
                cond("Programmed", Some(p), "", "", g),
            ],
            listeners: Vec::new(),
        };
    }
    if parent_not_accepted {
        return ListenerSetStatus {
            conditions: vec![
                Condition::new(
                    "Accepted",
                    false,
                    "ParentNotAccepted",
                    "the parent Gateway is not accepted",
                    g,
                ),
                Condition::new(
                    "Programmed",
                    false,
                    "ParentNotProgrammed",
                    "the parent Gateway is not accepted",
                    g,
                ),
            ],
            listeners: Vec::new(),
        };
    }
    let mine: Vec<&ListenerEval> = evals.iter().filter(|l| l.spec.owner == set.key).collect();
    // A ListenerSet needs a listener that can serve: one whose only
    // listener lacks its certificate (e.g. no ReferenceGrant) is not
    // accepted, unlike a Gateway.
    let accepted = listeners_accepted(&mine, ListenerEval::usable, g);
    let programmed = if !accepted.is_true() {
        Condition::new(
            "Programmed",
            false,
            "ListenersNotValid",
            "no listener is valid",
            g,
        )
    } else if parent_not_programmed {
        Condition::new(
            "Programmed",
            false,
            "ParentNotProgrammed",
            "the parent Gateway is not programmed",
            g,
        )
    } else if mine.iter().any(|l| l.programmed()) {
        Condition::new("Programmed", true, "Programmed", "programmed", g)
    } else {
        Condition::new(
            "Programmed",
            false,
            "Invalid",
            "no listener is programmed",
            g,
        )
    };
    ListenerSetStatus {
        conditions: vec![accepted, programmed],
        listeners: mine.iter().map(|l| listener_status(l)).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gateway_class;

    const INPUT: &str = r#"
apiVersion: gateway.networking.k8s.io/v1
kind: GatewayClass
metadata: {name: portico}
spec: {controllerName: portico.dev/gateway-controller}
---
apiVersion: v1
kind: Namespace
metadata: {name: web, labels: {expose: "yes"}}
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: gw, namespace: infra}
spec:
  gatewayClassName: portico
  allowedListeners: {namespaces: {from: Same}}
  listeners:
  - {name: http, port: 80, protocol: HTTP, allowedRoutes: {namespaces: {from: Selector, selector: {matchLabels: {expose: "yes"}}}}}
  - {name: https, port: 443, protocol: HTTPS, tls: {certificateRefs: [{name: missing}]}}
  - {name: tcp, port: 9000, protocol: TCP}
  - {name: tcp2, port: 9000, protocol: TCP}
---
apiVersion: gateway.networking.k8s.io/v1
kind: ListenerSet
metadata: {name: extra, namespace: infra}
spec:
  parentRef: {name: gw}
  listeners:
  - {name: alt, port: 8080, protocol: HTTP}
---
apiVersion: gateway.networking.k8s.io/v1
kind: ListenerSet
metadata: {name: foreign, namespace: web}
spec:
  parentRef: {name: gw, namespace: infra}
  listeners:
  - {name: alt2, port: 8081, protocol: HTTP}
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: broken, namespace: infra}
spec:
  gatewayClassName: portico
  infrastructure: {parametersRef: {group: x.io, kind: X, name: x}}
  listeners:
  - {name: http, port: 80, protocol: HTTP}
"#;

    #[test]
    fn listener_contexts_carry_what_route_attachment_needs() {
        let loaded = portico_model::load_str(std::path::Path::new("test.yaml"), INPUT);
        assert!(loaded.errors.is_empty(), "{:?}", loaded.errors);
        let snapshot = Snapshot::from_objects(loaded.documents.into_iter().map(|d| d.object));
        let options = Options::default();
        let mut statuses = Statuses::default();
        let classes = gateway_class::evaluate(&snapshot, &options, &mut statuses);
        let gateways = build(&snapshot, &options, &classes, &mut statuses);
        let names: Vec<&str> = gateways.iter().map(|g| g.name.as_str()).collect();
        assert_eq!(names, ["broken", "gw"]);

        let broken = &gateways[0];
        assert!(broken.addresses.is_empty());
        assert!(
            broken
                .listeners
                .iter()
                .all(|l| !l.attachable && !l.programmed)
        );

        let gw = &gateways[1];
        assert_eq!(gw.addresses.len(), 1);
        let by_name = |n: &str| {
            gw.listeners
                .iter()
                .find(|l| l.name == n)
                .unwrap_or_else(|| panic!("no listener {n}"))
        };
        let http = by_name("http");
        assert!(http.attachable && http.programmed);
        assert!(http.allowed_namespaces.allows("web"));
        assert!(!http.allowed_namespaces.allows("infra"));
        assert!(http.allows_kind(portico_model::GATEWAY_GROUP, "HTTPRoute"));
        // A bad certificate keeps routes attached but the listener unprogrammed.
        let https = by_name("https");
        assert!(https.attachable && !https.programmed);
        // Two TCP listeners on one port of one Gateway: both conflicted.
        for n in ["tcp", "tcp2"] {
            assert!(!by_name(n).attachable, "{n}");
        }
        // The same-namespace ListenerSet joins; the foreign one is not allowed.
        let alt = by_name("alt");
        assert_eq!(alt.owner.kind, "ListenerSet");
        assert!(alt.programmed);
        assert!(gw.listeners.iter().all(|l| l.name != "alt2"));
    }
}
