//! Look-up tables over the snapshot, built once per translation so that
//! resolving thousands of backendRefs stays linear.

use std::collections::{HashMap, HashSet};

use portico_model::core::{EndpointSlice, Service};
use portico_model::gateway::GatewayDefaultScope;
use portico_model::{GATEWAY_GROUP, Snapshot};

use super::view::ParentTarget;
use crate::status::ParentReference;

use crate::Options;
use crate::reference_grant::GrantIndex;

/// Label that ties an EndpointSlice to its Service.
pub const SERVICE_NAME_LABEL: &str = "kubernetes.io/service-name";

pub struct Index<'s> {
    /// namespace → name → Service.
    services: HashMap<&'s str, HashMap<&'s str, &'s Service>>,
    /// namespace → Service name → its EndpointSlices.
    slices: HashMap<&'s str, HashMap<&'s str, Vec<&'s EndpointSlice>>>,
    pub grants: GrantIndex<'s>,
    /// Gateways whose GatewayClass names this controller (accepted or not).
    our_gateways: HashSet<(&'s str, &'s str)>,
    /// ListenerSets whose parent Gateway is one of ours.
    our_listener_sets: HashSet<(&'s str, &'s str)>,
    /// Our Gateways with `spec.defaultScope: All`, sorted (experimental).
    default_gateways: Vec<(&'s str, &'s str)>,
}

fn ns(meta: &portico_model::core::ObjectMeta) -> &str {
    meta.namespace.as_deref().unwrap_or("default")
}

impl<'s> Index<'s> {
    pub fn new(snapshot: &'s Snapshot, options: &Options) -> Index<'s> {
        let mut services: HashMap<&str, HashMap<&str, &Service>> = HashMap::new();
        for s in &snapshot.services {
            if let Some(name) = s.metadata.name.as_deref() {
                services.entry(ns(&s.metadata)).or_default().insert(name, s);
            }
        }
        let mut slices: HashMap<&str, HashMap<&str, Vec<&EndpointSlice>>> = HashMap::new();
        for slice in &snapshot.endpoint_slices {
            let Some(service) = slice
                .metadata
                .labels
                .as_ref()
                .and_then(|l| l.get(SERVICE_NAME_LABEL))
            else {
                continue;
            };
            slices
                .entry(ns(&slice.metadata))
                .or_default()
                .entry(service.as_str())
                .or_default()
                .push(slice);
        }
        let our_classes: HashSet<&str> = snapshot
            .gateway_classes
            .iter()
            .filter(|c| c.spec.controller_name == options.controller_name)
            .filter_map(|c| c.metadata.name.as_deref())
            .collect();
        let our_gateways: HashSet<(&str, &str)> = snapshot
            .gateways
            .iter()
            .filter(|g| our_classes.contains(g.spec.gateway_class_name.as_str()))
            .filter_map(|g| Some((ns(&g.metadata), g.metadata.name.as_deref()?)))
            .collect();
        let mut default_gateways: Vec<(&str, &str)> = snapshot
            .gateways
            .iter()
            .filter(|g| matches!(g.spec.default_scope, Some(GatewayDefaultScope::All)))
            .filter_map(|g| Some((ns(&g.metadata), g.metadata.name.as_deref()?)))
            .filter(|key| our_gateways.contains(key))
            .collect();
        default_gateways.sort_unstable();
        let our_listener_sets = snapshot
            .listener_sets
            .iter()
            .filter(|ls| {
                let parent = &ls.spec.parent_ref;
                let parent_ns = parent
                    .namespace
                    .as_deref()
                    .unwrap_or_else(|| ns(&ls.metadata));
                our_gateways.contains(&(parent_ns, parent.name.as_str()))
            })
            .filter_map(|ls| Some((ns(&ls.metadata), ls.metadata.name.as_deref()?)))
            .collect();
        Index {
            services,
            slices,
            grants: GrantIndex::new(snapshot),
            our_gateways,
            our_listener_sets,
            default_gateways,
        }
    }

    /// Adds a parentRef for every default Gateway (`defaultScope: All`) that
    /// the route does not already name as a whole (used for routes with
    /// `useDefaultGateways: All`).
    pub fn add_default_gateways(&self, route_namespace: &str, refs: &mut Vec<ParentReference>) {
        for (namespace, name) in &self.default_gateways {
            let named = refs.iter().any(|p| {
                let t = ParentTarget::new(p, route_namespace);
                t.group == GATEWAY_GROUP
                    && t.kind == "Gateway"
                    && t.namespace == *namespace
                    && t.name == *name
                    && t.section_name.is_none()
                    && t.port.is_none()
            });
            if !named {
                refs.push(ParentReference {
                    group: Some(GATEWAY_GROUP.to_string()),
                    kind: Some("Gateway".to_string()),
                    namespace: Some((*namespace).to_string()),
                    name: (*name).to_string(),
                    section_name: None,
                    port: None,
                });
            }
        }
    }

    pub fn service(&self, namespace: &str, name: &str) -> Option<&'s Service> {
        self.services.get(namespace)?.get(name).copied()
    }

    /// EndpointSlices labelled for the Service, in snapshot order.
    pub fn slices(&self, namespace: &str, service: &str) -> &[&'s EndpointSlice] {
        self.slices
            .get(namespace)
            .and_then(|m| m.get(service))
            .map(Vec::as_slice)
            .unwrap_or(&[])
    }

    pub fn is_our_gateway(&self, namespace: &str, name: &str) -> bool {
        self.our_gateways.contains(&(namespace, name))
    }

    pub fn is_our_listener_set(&self, namespace: &str, name: &str) -> bool {
        self.our_listener_sets.contains(&(namespace, name))
    }
}
