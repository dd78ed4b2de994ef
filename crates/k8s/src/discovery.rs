//! Which kinds the API server serves, and in which version.
//!
//! Built-in kinds are always there. Gateway API and Portico kinds are CRDs:
//! a missing CRD (or one serving only versions Portico does not know)
//! disables just that kind, with a warning; discovery is re-run periodically
//! so a CRD installed later is picked up.

use std::collections::BTreeMap;

use kube::Client;

use crate::error::Result;
use crate::kinds::{KINDS, KindSpec};

/// Result of one discovery round.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Discovered {
    /// Kind → version to watch.
    pub served: BTreeMap<&'static str, &'static str>,
    /// Kind → why it is not watched.
    pub missing: BTreeMap<&'static str, String>,
}

impl Discovered {
    pub fn spec_version(&self, kind: &str) -> Option<(&'static KindSpec, &'static str)> {
        let version = self.served.get(kind)?;
        KINDS.iter().find(|k| k.kind == kind).map(|k| (k, *version))
    }
}

/// Decides, for every kind, the version to watch from what the groups serve
/// (`group → [(version, [kinds])]`; a group absent from the map is not served).
pub fn resolve(groups: &BTreeMap<String, Vec<(String, Vec<String>)>>) -> Discovered {
    let mut out = Discovered::default();
    for spec in KINDS {
        if !spec.discovered() {
            out.served.insert(spec.kind, spec.versions[0]);
            continue;
        }
        let Some(versions) = groups.get(spec.group) else {
            out.missing
                .insert(spec.kind, format!("API group {} is not served", spec.group));
            continue;
        };
        let served: Vec<&str> = versions
            .iter()
            .filter(|(_, kinds)| kinds.iter().any(|k| k == spec.kind))
            .map(|(v, _)| v.as_str())
            .collect();
        match spec.choose(served.iter().copied()) {
            Some(v) => {
                out.served.insert(spec.kind, v);
            }
            None if served.is_empty() => {
                out.missing.insert(
                    spec.kind,
                    format!("the {} CRD is not installed", spec.plural),
                );
            }
            None => {
                out.missing.insert(
                    spec.kind,
                    format!(
                        "{} served only in versions Portico does not read: {}",
                        spec.kind,
                        served.join(", ")
                    ),
                );
            }
        }
    }
    out
}

/// Asks the API server which versions of Portico's CRD groups it serves.
pub async fn discover(client: &Client) -> Result<Discovered> {
    let wanted = [portico_model::GATEWAY_GROUP, portico_model::PORTICO_GROUP];
    let list = client.list_api_groups().await?;
    let mut groups = BTreeMap::new();
    for group in list
        .groups
        .iter()
        .filter(|g| wanted.contains(&g.name.as_str()))
    {
        let mut versions = Vec::new();
        for gv in &group.versions {
            let resources = client.list_api_group_resources(&gv.group_version).await?;
            let kinds = resources
                .resources
                .iter()
                .filter(|r| !r.name.contains('/'))
                .map(|r| r.kind.clone())
                .collect();
            versions.push((gv.version.clone(), kinds));
        }
        groups.insert(group.name.clone(), versions);
    }
    Ok(resolve(&groups))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn groups(entries: &[(&str, &str, &[&str])]) -> BTreeMap<String, Vec<(String, Vec<String>)>> {
        let mut out: BTreeMap<String, Vec<(String, Vec<String>)>> = BTreeMap::new();
        for (g, v, kinds) in entries {
            out.entry(g.to_string())
                .or_default()
                .push((v.to_string(), kinds.iter().map(|k| k.to_string()).collect()));
        }
        out
    }

    #[test]
    fn missing_crd_disables_only_its_kind() {
        let d = resolve(&groups(&[(
            "gateway.networking.k8s.io",
            "v1",
            &["Gateway", "GatewayClass", "HTTPRoute"],
        )]));
        assert_eq!(d.served.get("Gateway"), Some(&"v1"));
        assert_eq!(d.served.get("Service"), Some(&"v1"));
        assert!(d.missing.contains_key("GRPCRoute"));
        assert!(d.missing["LoadBalancerIPPool"].contains("portico.dev"));
    }

    #[test]
    fn unknown_versions_are_never_watched() {
        let d = resolve(&groups(&[
            ("gateway.networking.k8s.io", "v1alpha9", &["TCPRoute"]),
            ("gateway.networking.k8s.io", "v1alpha2", &["UDPRoute"]),
        ]));
        assert!(d.missing["TCPRoute"].contains("v1alpha9"));
        assert_eq!(d.served.get("UDPRoute"), Some(&"v1alpha2"));
    }
}
