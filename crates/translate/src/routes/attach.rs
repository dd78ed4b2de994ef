//! The attachment engine shared by the five route kinds: parent statuses,
//! attachedRoutes counts, clusters, and each listener's route tables.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use portico_ir::{Cluster, ClusterId, HostMatch, HttpRoute, VirtualHost};
use portico_model::Snapshot;
use portico_model::gateway::{
    GrpcRouteUseDefaultGateways, HttpRouteUseDefaultGateways, TcpRouteUseDefaultGateways,
    TlsRouteUseDefaultGateways, UdpRouteUseDefaultGateways,
};

use super::backend_tls::{self, ServiceAncestors};
use super::backends::{backend_ref, build_cluster};
use super::compiled::Compiled;
use super::index::Index;
use super::parent_ref::{self, ParentResult, Parents};
use super::precedence::RuleKey;
use super::view::{AgeKey, ParentTarget, RouteKind, RouteMeta, parent_refs};
use super::{ListenerRoutes, grpc, hostnames, http, kind_conflicts, l4, tls};
use crate::context::GatewayCtx;
use crate::status::{Condition, ObjectStatus, RouteParentStatus, RouteStatus};
use crate::{Options, Statuses};

/// Per (gateway, listener): the routes attached, each as (entry index, effective hostnames).
type AttachedByListener = HashMap<(usize, usize), Vec<(usize, Vec<HostMatch>)>>;

struct Entry<'s> {
    meta: RouteMeta,
    age: AgeKey,
    compiled: Compiled<'s>,
}

pub fn attach_all(
    snapshot: &Snapshot,
    options: &Options,
    gateways: &mut [GatewayCtx],
    clusters: &mut BTreeMap<ClusterId, Cluster>,
    statuses: &mut Statuses,
) {
    let index = Index::new(snapshot, options);
    let entries = compile_all(snapshot, &index);
    let parents = Parents::new(gateways);
    // attached[(gateway, listener)] = (entry index, effective hostnames)
    let mut attached: AttachedByListener = HashMap::new();
    let mut service_ancestors = ServiceAncestors::new();

    // Phase 1: where would each parentRef attach?
    let results: Vec<Vec<ParentResult>> = entries
        .iter()
        .map(|entry| {
            entry
                .meta
                .parent_refs
                .iter()
                .map(|parent| {
                    let target = ParentTarget::new(parent, &entry.meta.namespace);
                    parent_ref::evaluate(&entry.meta, &target, gateways, &parents, &index)
                })
                .collect()
        })
        .collect();
    // Phase 2: HTTPRoute/GRPCRoute hostname conflicts per listener.
    let conflicts = kind_conflicts::rejected(
        entries
            .iter()
            .enumerate()
            .filter(|(_, e)| {
                matches!(e.meta.kind, RouteKind::Http | RouteKind::Grpc)
                    && !e.compiled.all_rules_invalid()
            })
            .flat_map(|(ei, e)| {
                results[ei].iter().flat_map(move |r| match r {
                    ParentResult::Attached(list) => list
                        .iter()
                        .map(|a| kind_conflicts::Candidate {
                            entry: ei,
                            grpc: e.meta.kind == RouteKind::Grpc,
                            age: &e.age,
                            listener: (a.gateway, a.listener),
                            hostnames: &a.hostnames,
                        })
                        .collect::<Vec<_>>(),
                    _ => Vec::new(),
                })
            })
            .collect(),
    );

    // Phase 3: statuses, attachedRoutes, clusters.
    for (ei, entry) in entries.iter().enumerate() {
        let meta = &entry.meta;
        let compiled = &entry.compiled;
        let mut parent_statuses = Vec::new();
        let mut seen: HashSet<(usize, usize)> = HashSet::new();
        for (parent, result) in meta.parent_refs.iter().zip(&results[ei]) {
            let result = without_conflicts(result, ei, &conflicts, entries.as_slice());
            let accepted = match result {
                ParentResult::NotOurs => continue,
                ParentResult::Rejected { reason, message } => {
                    tracing::debug!(
                        route = %meta.object_ref(),
                        parent = %parent.name,
                        reason,
                        %message,
                        "route not accepted by parent"
                    );
                    Condition::new("Accepted", false, reason, message, meta.generation)
                }
                ParentResult::Attached(_) if compiled.all_rules_invalid() => Condition::new(
                    "Accepted",
                    false,
                    "UnsupportedValue",
                    format!("no valid rule: {}", rule_messages(compiled)),
                    meta.generation,
                ),
                ParentResult::Attached(list) => {
                    let names: Vec<String> = list
                        .iter()
                        .map(|a| gateways[a.gateway].listeners[a.listener].name.clone())
                        .collect();
                    for a in list {
                        if seen.insert((a.gateway, a.listener)) {
                            gateways[a.gateway].listeners[a.listener].attached_routes += 1;
                            attached
                                .entry((a.gateway, a.listener))
                                .or_default()
                                .push((ei, a.hostnames));
                        }
                    }
                    Condition::new(
                        "Accepted",
                        true,
                        "Accepted",
                        format!("Accepted by listener(s) {}", names.join(", ")),
                        meta.generation,
                    )
                }
            };
            let mut conditions = vec![accepted.clone(), resolved_refs(compiled, meta.generation)];
            if accepted.is_true() && !compiled.invalid_rules.is_empty() {
                conditions.push(Condition::new(
                    "PartiallyInvalid",
                    true,
                    "UnsupportedValue",
                    format!("invalid rules: {}", rule_messages(compiled)),
                    meta.generation,
                ));
            }
            parent_statuses.push(RouteParentStatus {
                parent_ref: parent.clone(),
                controller_name: options.controller_name.clone(),
                conditions,
            });
        }
        if let Some(problem) = &compiled.refs_problem {
            tracing::debug!(
                route = %meta.object_ref(),
                reason = problem.reason,
                message = %problem.message,
                "route reference not resolved"
            );
        }
        if !seen.is_empty() {
            let via: BTreeSet<usize> = seen.iter().map(|(g, _)| *g).collect();
            for need in &compiled.needs {
                let svc = &need.service.metadata;
                service_ancestors
                    .entry((
                        svc.namespace
                            .clone()
                            .unwrap_or_else(|| "default".to_string()),
                        svc.name.clone().unwrap_or_default(),
                    ))
                    .or_default()
                    .extend(via.iter().copied());
                match clusters.get_mut(&need.id) {
                    None => {
                        clusters.insert(need.id.clone(), build_cluster(&index, need));
                    }
                    Some(existing) if need.grpc => {
                        // A GRPCRoute needs HTTP/2 where the Service port does not say otherwise.
                        let c = build_cluster(&index, need);
                        existing.protocol = c.protocol;
                    }
                    Some(_) => {}
                }
            }
        }
        if !parent_statuses.is_empty() {
            statuses.insert(
                meta.kind.as_str(),
                &meta.namespace,
                &meta.name,
                ObjectStatus::Route(RouteStatus {
                    parents: parent_statuses,
                }),
            );
        }
    }

    backend_tls::apply(
        snapshot,
        &index,
        options,
        &service_ancestors,
        gateways,
        clusters,
        statuses,
    );

    for ((gi, li), list) in attached {
        let listener = &mut gateways[gi].listeners[li];
        listener.routes = listener_routes(&entries, &list);
    }
}

/// A parent result with the listeners lost to an HTTPRoute/GRPCRoute
/// hostname conflict removed; none left means not accepted.
fn without_conflicts(
    result: &ParentResult,
    ei: usize,
    conflicts: &HashSet<(usize, usize, usize)>,
    entries: &[Entry<'_>],
) -> ParentResult {
    let ParentResult::Attached(list) = result else {
        return result.clone();
    };
    let kept: Vec<_> = list
        .iter()
        .filter(|a| !conflicts.contains(&(ei, a.gateway, a.listener)))
        .cloned()
        .collect();
    if kept.is_empty() {
        let other = match entries[ei].meta.kind {
            RouteKind::Grpc => "an older HTTPRoute",
            _ => "an older GRPCRoute",
        };
        return ParentResult::Rejected {
            reason: "NotAllowedByListeners",
            message: format!("hostnames conflict with {other} on the same listener"),
        };
    }
    ParentResult::Attached(kept)
}

fn compile_all<'s>(snapshot: &'s Snapshot, index: &Index<'s>) -> Vec<Entry<'s>> {
    let mut entries = Vec::new();
    let mut push = |meta: RouteMeta, compiled: Compiled<'s>| {
        entries.push(Entry {
            age: meta.age_key(),
            meta,
            compiled,
        });
    };
    for r in &snapshot.http_routes {
        let meta = RouteMeta::new(
            RouteKind::Http,
            &r.metadata,
            r.spec.hostnames.clone().unwrap_or_default(),
            parents(
                index,
                &r.metadata,
                parent_refs!(r.spec.parent_refs),
                matches!(
                    r.spec.use_default_gateways,
                    Some(HttpRouteUseDefaultGateways::All)
                ),
            ),
        );
        let compiled = http::compile(index, &meta, r);
        push(meta, compiled);
    }
    for r in &snapshot.grpc_routes {
        let meta = RouteMeta::new(
            RouteKind::Grpc,
            &r.metadata,
            r.spec.hostnames.clone().unwrap_or_default(),
            parents(
                index,
                &r.metadata,
                parent_refs!(r.spec.parent_refs),
                matches!(
                    r.spec.use_default_gateways,
                    Some(GrpcRouteUseDefaultGateways::All)
                ),
            ),
        );
        let compiled = grpc::compile(index, &meta, r);
        push(meta, compiled);
    }
    // TLSRoute, TCPRoute and UDPRoute share one shape (generated types differ
    // per kind, hence a macro): rules of weighted backendRefs, no matches.
    macro_rules! l4_routes {
        ($routes:expr, $kind:expr, $default_all:pat, $hostnames:expr) => {
            for r in $routes {
                let meta = RouteMeta::new(
                    $kind,
                    &r.metadata,
                    $hostnames(r),
                    parents(
                        index,
                        &r.metadata,
                        parent_refs!(r.spec.parent_refs),
                        matches!(r.spec.use_default_gateways, Some($default_all)),
                    ),
                );
                let refs = r.spec.rules.iter().flat_map(|rule| {
                    rule.backend_refs
                        .iter()
                        .map(|b| (backend_ref!(b), b.weight))
                });
                let compiled = l4::compile(index, &meta, r.spec.rules.len(), refs);
                push(meta, compiled);
            }
        };
    }
    l4_routes!(
        &snapshot.tls_routes,
        RouteKind::Tls,
        TlsRouteUseDefaultGateways::All,
        |r: &portico_model::gateway::TlsRoute| r.spec.hostnames.clone()
    );
    l4_routes!(
        &snapshot.tcp_routes,
        RouteKind::Tcp,
        TcpRouteUseDefaultGateways::All,
        |_: &portico_model::gateway::TcpRoute| Vec::new()
    );
    l4_routes!(
        &snapshot.udp_routes,
        RouteKind::Udp,
        UdpRouteUseDefaultGateways::All,
        |_: &portico_model::gateway::UdpRoute| Vec::new()
    );
    entries
}

/// The route's parentRefs, plus the default Gateways when it asks for them.
fn parents(
    index: &Index<'_>,
    meta: &portico_model::core::ObjectMeta,
    mut refs: Vec<crate::status::ParentReference>,
    use_default_gateways: bool,
) -> Vec<crate::status::ParentReference> {
    if use_default_gateways {
        let ns = meta.namespace.as_deref().unwrap_or("default");
        index.add_default_gateways(ns, &mut refs);
    }
    refs
}

fn resolved_refs(compiled: &Compiled<'_>, generation: i64) -> Condition {
    match &compiled.refs_problem {
        Some(p) => Condition::new(
            "ResolvedRefs",
            false,
            p.reason,
            p.message.clone(),
            generation,
        ),
        None => Condition::new(
            "ResolvedRefs",
            true,
            "ResolvedRefs",
            "All references resolved",
            generation,
        ),
    }
}

fn rule_messages(compiled: &Compiled<'_>) -> String {
    compiled
        .invalid_rules
        .iter()
        .map(|(i, m)| format!("rule {i}: {m}"))
        .collect::<Vec<_>>()
        .join("; ")
}

/// Builds one listener's tables from the routes attached to it.
fn listener_routes(entries: &[Entry<'_>], attached: &[(usize, Vec<HostMatch>)]) -> ListenerRoutes {
    let mut vhosts: HashMap<&HostMatch, Vec<(&RuleKey, &HttpRoute)>> = HashMap::new();
    let mut sni = Vec::new();
    let mut l4_candidates = Vec::new();
    for (ei, hosts) in attached {
        let entry = &entries[*ei];
        match entry.meta.kind {
            RouteKind::Http | RouteKind::Grpc => {
                for host in hosts {
                    vhosts
                        .entry(host)
                        .or_default()
                        .extend(entry.compiled.http.iter().map(|(k, r)| (k, r)));
                }
            }
            RouteKind::Tls => sni.push((
                &entry.age,
                &entry.meta,
                hosts.as_slice(),
                entry.compiled.backends.as_slice(),
            )),
            RouteKind::Tcp | RouteKind::Udp => {
                l4_candidates.push((&entry.age, &entry.meta, entry.compiled.backends.as_slice()));
            }
        }
    }
    let mut hosts: Vec<HostMatch> = vhosts.keys().map(|h| (*h).clone()).collect();
    hostnames::sort_most_specific_first(&mut hosts);
    let http = hosts
        .into_iter()
        .map(|host| {
            let mut rules = vhosts.remove(&host).unwrap_or_default();
            rules.sort_by(|a, b| a.0.cmp(b.0));
            VirtualHost {
                routes: rules.into_iter().map(|(_, r)| r.clone()).collect(),
                hostname: host,
            }
        })
        .collect();
    ListenerRoutes {
        http,
        tls: tls::sni_routes(sni.into_iter()),
        l4: l4::oldest(l4_candidates.into_iter()),
    }
}
