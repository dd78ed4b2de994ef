//! Pod and service filters: `namespace/name-prefix`, `name-prefix` (any
//! namespace) or `namespace/` (everything in a namespace).

use super::{Predicate, Side, invalid, when};
use crate::Error;

/// A parsed `namespace/prefix` selector.
#[derive(Debug, Clone, PartialEq, Eq)]
struct NamespacedPrefix {
    namespace: Option<String>,
    prefix: String,
}

impl NamespacedPrefix {
    fn parse(field: &'static str, value: &str) -> Result<Self, Error> {
        let v = value.trim();
        if v.is_empty() {
            return Err(invalid(field, value, "empty selector"));
        }
        let (namespace, prefix) = match v.split_once('/') {
            Some((ns, rest)) => {
                if ns.is_empty() {
                    return Err(invalid(field, value, "empty namespace before '/'"));
                }
                if rest.contains('/') {
                    return Err(invalid(field, value, "expected namespace/name"));
                }
                (Some(ns.to_owned()), rest.to_owned())
            }
            None => (None, v.to_owned()),
        };
        Ok(NamespacedPrefix { namespace, prefix })
    }

    fn matches(&self, namespace: Option<&str>, name: Option<&str>) -> bool {
        if let Some(want) = &self.namespace
            && namespace != Some(want.as_str())
        {
            return false;
        }
        if self.prefix.is_empty() {
            return true;
        }
        name.is_some_and(|n| n.starts_with(&self.prefix))
    }
}

fn parse_all(field: &'static str, values: &[String]) -> Result<Vec<NamespacedPrefix>, Error> {
    values
        .iter()
        .map(|v| NamespacedPrefix::parse(field, v))
        .collect()
}

pub(super) fn pod(side: Side, values: &[String]) -> Result<Option<Predicate>, Error> {
    let field = match side {
        Side::Source => "source_pod",
        Side::Destination => "destination_pod",
    };
    let sels = parse_all(field, values)?;
    Ok(when(!sels.is_empty(), move |r| {
        let ep = match side {
            Side::Source => r.flow.source.as_deref(),
            Side::Destination => r.flow.destination.as_deref(),
        };
        let Some(ep) = ep else {
            return false;
        };
        sels.iter()
            .any(|s| s.matches(ep.namespace.as_deref(), ep.pod_name.as_deref()))
    }))
}

pub(super) fn service(side: Side, values: &[String]) -> Result<Option<Predicate>, Error> {
    let field = match side {
        Side::Source => "source_service",
        Side::Destination => "destination_service",
    };
    let sels = parse_all(field, values)?;
    Ok(when(!sels.is_empty(), move |r| {
        let svc = match side {
            Side::Source => r.flow.source_service.as_ref(),
            Side::Destination => r.flow.destination_service.as_ref(),
        };
        let Some(svc) = svc else {
            return false;
        };
        sels.iter()
            .any(|s| s.matches(Some(&svc.namespace), Some(&svc.name)))
    }))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::flow::filter::test_support::recorded;
    use crate::flow::record::{Endpoint, Flow, ServiceRef};

    fn flow(ns: &str, pod: &str) -> Flow {
        Flow {
            source: Some(Arc::new(Endpoint {
                namespace: Some(ns.into()),
                pod_name: Some(pod.into()),
                ..Endpoint::default()
            })),
            destination_service: Some(ServiceRef {
                namespace: ns.into(),
                name: format!("svc-{pod}").into(),
            }),
            ..Flow::default()
        }
    }

    #[test]
    fn pod_prefix_namespace_and_namespace_only() {
        let f = recorded(flow("kube-system", "coredns-abc"));
        let m = |v: &str| {
            pod(Side::Source, &[v.to_string()])
                .expect("valid")
                .expect("set")(&f)
        };
        assert!(m("kube-system/coredns-"));
        assert!(m("kube-system/"));
        assert!(m("coredns"));
        assert!(!m("default/coredns"));
        assert!(!m("kube-system/etcd"));
        let dst = pod(Side::Destination, &["kube-system/".into()])
            .expect("valid")
            .expect("set");
        assert!(!dst(&f), "flow has no destination endpoint");
    }

    #[test]
    fn service_selectors() {
        let f = recorded(flow("shop", "web"));
        let m = |v: &str| {
            service(Side::Destination, &[v.to_string()])
                .expect("valid")
                .expect("set")(&f)
        };
        assert!(m("shop/svc-web"));
        assert!(m("shop/"));
        assert!(m("svc-"));
        assert!(!m("other/svc-web"));
        let src = service(Side::Source, &["shop/".into()])
            .expect("valid")
            .expect("set");
        assert!(!src(&f));
    }

    #[test]
    fn malformed_selectors_are_rejected() {
        for bad in ["", "/pod", "a/b/c"] {
            assert!(pod(Side::Source, &[bad.into()]).is_err(), "{bad:?}");
        }
    }
}
